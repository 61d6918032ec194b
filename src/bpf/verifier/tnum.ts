/**
 * Tristate numbers ("tnums"), the known-bits half of the verifier's scalar domain: a 64-bit
 * `value` and `mask` where a mask bit of 1 means "this bit is unknown" and otherwise the bit is
 * the one in `value`. The set a tnum stands for is { x : (x & ~mask) === value }.
 *
 * The arithmetic follows the Linux verifier's kernel/bpf/tnum.c, whose add, sub and mul are
 * proven sound (and add/sub optimal) in Vishwanathan et al., "Sound, Precise, and Fast Abstract
 * Interpretation with Tristate Numbers" (CGO 2022). Values are canonical unsigned 64-bit BigInts:
 * this runs at load time, where exactness matters more than speed.
 */

const M64 = (1n << 64n) - 1n;
const M32 = 0xffff_ffffn;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const ones = (bits: number): bigint => (1n << BigInt(bits)) - 1n;

export class Tnum {
  private constructor(
    /** The known bits (0 wherever `mask` is 1). */
    readonly value: bigint,
    /** The unknown bits. */
    readonly mask: bigint,
  ) {}

  /** Any value/mask pair: both taken modulo 2^64, and `value` cleared where `mask` is set. */
  static of(value: bigint, mask: bigint): Tnum {
    const m = u64(mask);
    return new Tnum(u64(value) & ~m, m);
  }

  static const(v: bigint): Tnum {
    return new Tnum(u64(v), 0n);
  }

  static unknown(): Tnum {
    return UNKNOWN;
  }

  /**
   * The smallest tnum holding every x with min <= x <= max (unsigned): the common high bits are
   * known, everything from the highest differing bit down is unknown.
   */
  static range(min: bigint, max: bigint): Tnum {
    min = u64(min);
    max = u64(max);
    const chi = min ^ max;
    if (chi === 0n) return new Tnum(min, 0n);
    const delta = ones(chi.toString(2).length);
    return new Tnum(min & ~delta, delta);
  }

  isConst(): boolean {
    return this.mask === 0n;
  }

  isUnknown(): boolean {
    return this.mask === M64;
  }

  /** Whether x (taken modulo 2^64) is a member. */
  contains(x: bigint): boolean {
    return (u64(x) & ~this.mask) === this.value;
  }

  /** Whether every member of this tnum is a member of `other` (the kernel's tnum_in). */
  isSubsetOf(other: Tnum): boolean {
    if ((this.mask & ~other.mask) !== 0n) return false;
    return (this.value & ~other.mask) === other.value;
  }

  equals(other: Tnum): boolean {
    return this.value === other.value && this.mask === other.mask;
  }

  add(b: Tnum): Tnum {
    const sm = this.mask + b.mask;
    const sv = this.value + b.value;
    // chi: every bit a carry could reach, found by comparing the all-unknown-set sum with the
    // all-unknown-clear sum.
    const chi = u64(sm + sv) ^ u64(sv);
    const mu = chi | this.mask | b.mask;
    return new Tnum(u64(sv) & ~mu, mu);
  }

  sub(b: Tnum): Tnum {
    const dv = this.value - b.value;
    // The largest and smallest possible differences bound which bits a borrow can reach.
    const alpha = u64(dv + this.mask);
    const beta = u64(dv - b.mask);
    const mu = (alpha ^ beta) | this.mask | b.mask;
    return new Tnum(u64(dv) & ~mu, mu);
  }

  /**
   * Multiplication as a sum of shifted partial products (the paper's our_mul): the known
   * product of the values, plus, per bit of `this`, the unknown contribution of `b`.
   */
  mul(b: Tnum): Tnum {
    const accV = u64(this.value * b.value);
    let accM = ZERO;
    let a: Tnum = this;
    while (a.value !== 0n || a.mask !== 0n) {
      if (a.value & 1n) accM = accM.add(new Tnum(0n, b.mask));
      else if (a.mask & 1n) accM = accM.add(new Tnum(0n, b.value | b.mask));
      a = a.rshift(1);
      b = b.lshift(1);
    }
    return new Tnum(accV, 0n).add(accM);
  }

  and(b: Tnum): Tnum {
    const alpha = this.value | this.mask;
    const beta = b.value | b.mask;
    const v = this.value & b.value;
    return new Tnum(v, alpha & beta & ~v);
  }

  or(b: Tnum): Tnum {
    const v = this.value | b.value;
    return new Tnum(v, (this.mask | b.mask) & ~v);
  }

  xor(b: Tnum): Tnum {
    const mu = this.mask | b.mask;
    return new Tnum((this.value ^ b.value) & ~mu, mu);
  }

  /** Shift left by a known amount (0..63); bits shifted in are known zeros. */
  lshift(k: number): Tnum {
    const s = BigInt(k);
    return new Tnum(u64(this.value << s), u64(this.mask << s));
  }

  rshift(k: number): Tnum {
    const s = BigInt(k);
    return new Tnum(this.value >> s, this.mask >> s);
  }

  /**
   * Arithmetic shift right of a `width`-bit value by a known amount: the sign bit, known or not,
   * is copied into the vacated bits. For width 32 the result is zero-extended, as a 32-bit ALU
   * result is.
   */
  arshift(k: number, width: 32 | 64 = 64): Tnum {
    const s = BigInt(k);
    const v = (BigInt.asIntN(width, this.value) >> s) & ones(width);
    const m = (BigInt.asIntN(width, this.mask) >> s) & ones(width);
    return new Tnum(v, m);
  }

  /** The members common to both, or null when there are none (a known bit disagrees). */
  intersect(b: Tnum): Tnum | null {
    if ((this.value ^ b.value) & ~this.mask & ~b.mask) return null;
    const mu = this.mask & b.mask;
    return new Tnum((this.value | b.value) & ~mu, mu);
  }

  /** The smallest tnum holding the members of both (the join). */
  union(b: Tnum): Tnum {
    const mu = this.mask | b.mask | (this.value ^ b.value);
    return new Tnum(this.value & b.value & ~mu, mu);
  }

  /** The low `bits` bits, zero-extended (the kernel's tnum_cast takes bytes: cast(a, n) = truncate(8n)). */
  truncate(bits: number): Tnum {
    if (bits >= 64) return this;
    const keep = ones(bits);
    return new Tnum(this.value & keep, this.mask & keep);
  }

  /** The low 32 bits, zero-extended. */
  subreg(): Tnum {
    return new Tnum(this.value & M32, this.mask & M32);
  }

  /** The high 32 bits of this with the low 32 bits of `low`. */
  withSubreg(low: Tnum): Tnum {
    return new Tnum((this.value & ~M32) | (low.value & M32), (this.mask & ~M32) | (low.mask & M32));
  }

  /** Sign-extend the low `bits` bits to 64; an unknown sign bit makes every upper bit unknown. */
  signExtend(bits: number): Tnum {
    const low = this.truncate(bits);
    const sign = 1n << BigInt(bits - 1);
    const upper = M64 & ~ones(bits);
    if (low.mask & sign) return new Tnum(low.value, low.mask | upper);
    return new Tnum(low.value & sign ? low.value | upper : low.value, low.mask);
  }

  /** Reverse the bytes of the low `bits` bits (16, 32 or 64); the rest become zero. Exact. */
  bswap(bits: number): Tnum {
    const rev = (x: bigint): bigint => {
      let out = 0n;
      for (let i = 0n; i < BigInt(bits); i += 8n) out = (out << 8n) | ((x >> i) & 0xffn);
      return out;
    };
    return new Tnum(rev(this.value), rev(this.mask));
  }

  /** Smallest and largest members, unsigned. */
  umin(): bigint {
    return this.value;
  }

  umax(): bigint {
    return this.value | this.mask;
  }

  /**
   * The smallest member of the low-`bits` truncation that is >= lo (0 <= lo < 2^bits), or null.
   * Lets bounds skip values the known bits rule out (an even tnum moves umin 3 to 4), which the
   * kernel's plain "umin = max(umin, value)" cannot.
   */
  minAtLeast(lo: bigint, bits = 64): bigint | null {
    const t = this.truncate(bits);
    const v = t.value;
    const m = t.mask;
    if ((lo & ~m) === v) return lo;
    // Walk down from the top bit following lo while the known bits allow. The answer is lo's
    // prefix with one bit raised from 0 to 1 (the lowest place where that is possible above the
    // point where following lo fails), then the smallest completion below.
    let best: bigint | null = null;
    for (let i = BigInt(bits - 1); i >= 0n; i--) {
      const bit = 1n << i;
      const above = lo & ~((bit << 1n) - 1n);
      const below = v & (bit - 1n);
      if (m & bit) {
        if (!(lo & bit)) best = above | bit | below;
      } else if (v & bit) {
        if (!(lo & bit)) return above | bit | below;
      } else if (lo & bit) {
        return best;
      }
    }
    return lo;
  }

  /** The largest member of the low-`bits` truncation that is <= hi (0 <= hi < 2^bits), or null. */
  maxAtMost(hi: bigint, bits = 64): bigint | null {
    const t = this.truncate(bits);
    if ((hi & ~t.mask) === t.value) return hi; // hi is a member: the usual case, and cheap
    // x <= hi exactly when ~x >= ~hi, and ~x ranges over the tnum with every known bit flipped.
    const all = ones(bits);
    const flipped = new Tnum(~t.value & ~t.mask & all, t.mask);
    const r = flipped.minAtLeast(~hi & all, bits);
    return r === null ? null : ~r & all;
  }

  toString(): string {
    return `(0x${this.value.toString(16)}; 0x${this.mask.toString(16)})`;
  }
}

const UNKNOWN = Tnum.of(0n, M64);
const ZERO = Tnum.const(0n);
