/**
 * Latency distributions in bounded memory: count, sum, min and max exactly, and a log-linear
 * histogram (the HdrHistogram layout) for percentiles. Values below 64 ns have a bucket each;
 * above, every power-of-two range is split into 32 buckets, so a percentile is off by at most
 * 1/32 (about 3%) of its value. A run can be as long as it likes: a task's record does not grow
 * with the number of wake-ups (raw samples would, by 8 bytes each).
 */

const SUB = 32;
const EXACT = 2 * SUB;

/** Bucket index of a non-negative integer value. */
function bucketOf(v: number): number {
  if (v < EXACT) return v;
  if (v < 0x1_0000_0000) {
    const k = 31 - Math.clz32(v);
    return EXACT + (k - 6) * SUB + ((v >>> (k - 5)) - SUB);
  }
  let k = v < 0x1_0000_0000 ? 31 - Math.clz32(v) : Math.floor(Math.log2(v));
  // Math.log2 can be off by one for huge values; settle k with 2^k <= v < 2^(k+1).
  while (2 ** k > v) k--;
  while (2 ** (k + 1) <= v) k++;
  const shift = k - 5;
  const m = Math.floor(v / 2 ** shift); // in [32, 64)
  return EXACT + (k - 6) * SUB + (m - SUB);
}

/** The range [low, high) of values a bucket holds. */
function bucketRange(i: number): [number, number] {
  if (i < EXACT) return [i, i + 1];
  const k = Math.floor((i - EXACT) / SUB) + 6;
  const m = ((i - EXACT) % SUB) + SUB;
  const width = 2 ** (k - 5);
  return [m * width, (m + 1) * width];
}

export interface LatencySummary {
  count: number;
  mean: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
}

export class LatencyStats {
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;
  private buckets = new Uint32Array(EXACT);

  add(ns: number): void {
    if (!Number.isSafeInteger(ns) || ns < 0) throw new RangeError(`latency ${ns} ns: expected a non-negative integer`);
    this.count++;
    this.sum += ns;
    if (ns < this.min) this.min = ns;
    if (ns > this.max) this.max = ns;
    const b = bucketOf(ns);
    if (b >= this.buckets.length) {
      const grown = new Uint32Array(b + SUB);
      grown.set(this.buckets);
      this.buckets = grown;
    }
    this.buckets[b]++;
  }

  /** Add every value of another distribution (merging tasks into a machine-wide one). */
  merge(other: LatencyStats): void {
    if (other.count === 0) return;
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    if (other.buckets.length > this.buckets.length) {
      const grown = new Uint32Array(other.buckets.length);
      grown.set(this.buckets);
      this.buckets = grown;
    }
    for (let i = 0; i < other.buckets.length; i++) this.buckets[i] += other.buckets[i];
  }

  get mean(): number {
    return this.count ? this.sum / this.count : 0;
  }

  /**
   * The value at quantile q (0..1): exact below 64 ns, else the middle of its bucket, clamped
   * to the exact min and max. 0 for an empty distribution.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= rank) {
        const [low, high] = bucketRange(i);
        const mid = high - low === 1 ? low : Math.floor((low + high) / 2);
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  /** The non-empty buckets, as [low, high, count] with values in [low, high) ns. */
  histogram(): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (let i = 0; i < this.buckets.length; i++) if (this.buckets[i]) out.push([...bucketRange(i), this.buckets[i]]);
    return out;
  }

  summary(): LatencySummary {
    return { count: this.count, mean: this.mean, min: this.count ? this.min : 0, max: this.max, p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99) };
  }

  toJSON(): LatencySummary {
    return this.summary();
  }
}
