/**
 * The scalar abstract domain of the verifier: what it knows about a register holding a number.
 * Like the kernel's bpf_reg_state it is a product of five views of the same 64-bit value, each a
 * superset of the possible values:
 *  - a tnum (known bits);
 *  - unsigned and signed 64-bit intervals [umin, umax], [smin, smax];
 *  - unsigned and signed intervals of the low 32 bits [u32min, u32max], [s32min, s32max].
 * The value set is the intersection of all five. Every Scalar is kept reduced (the idea of the
 * kernel's reg_bounds_sync): each view is tightened by the others until nothing changes, so a
 * fact learned in one view (a 32-bit bound, a signed comparison) shows in all of them.
 *
 * Reduction works on exact sets of residues. Each interval, signed or unsigned, is an arc of
 * the ring of 2^64 (or 2^32) values; arcs are intersected as sorted lists of unsigned pieces,
 * the pieces are trimmed to members of the tnum, the 64-bit pieces bound the low 32 bits and
 * the 32-bit pieces move 64-bit ends to the next value with an allowed low half. Only at the
 * end are the pieces summarised by their unsigned and signed hulls, so no step loses more than
 * that final summary does. Operations produce such arcs too (an add that wraps is still an arc),
 * which is why signed and unsigned overflow need no case analysis.
 *
 * BigInt throughout: this is load-time analysis, not a hot path.
 */
import {
  ALU_ADD,
  ALU_AND,
  ALU_ARSH,
  ALU_DIV,
  ALU_END,
  ALU_LSH,
  ALU_MOD,
  ALU_MOV,
  ALU_MUL,
  ALU_NEG,
  ALU_OR,
  ALU_RSH,
  ALU_SUB,
  ALU_XOR,
  CLS_ALU,
  CLS_ALU64,
  JMP_JEQ,
  JMP_JGE,
  JMP_JGT,
  JMP_JLE,
  JMP_JLT,
  JMP_JNE,
  JMP_JSET,
  JMP_JSGE,
  JMP_JSGT,
  JMP_JSLE,
  JMP_JSLT,
  SRC_X,
} from '../isa.ts';
import { Tnum } from './tnum.ts';

const M64 = (1n << 64n) - 1n;
const M32 = 0xffff_ffffn;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const s32 = (x: bigint): bigint => BigInt.asIntN(32, x);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** Inclusive integer interval [lo, hi]. */
type Iv = readonly [bigint, bigint];

// -------------------------------------------------------------------------------------------
// Residue sets: sorted, disjoint unsigned pieces of the ring of 2^n values.
// -------------------------------------------------------------------------------------------

const full = (n: number): Iv[] => [[0n, (1n << BigInt(n)) - 1n]];

/**
 * The residues modulo 2^n of the integers lo..hi (any sign), or null when that is every residue.
 * An empty interval (hi < lo) gives no residues.
 */
function arc(iv: Iv, n: number): Iv[] | null {
  const [lo, hi] = iv;
  if (hi < lo) return [];
  const w = 1n << BigInt(n);
  if (hi - lo >= w - 1n) return null;
  const a = ((lo % w) + w) % w;
  const b = a + (hi - lo);
  return b < w ? [[a, b]] : [[0n, b - w], [a, w - 1n]];
}

function intersect(a: readonly Iv[], b: readonly Iv[]): Iv[] {
  const out: Iv[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = max(a[i][0], b[j][0]);
    const hi = min(a[i][1], b[j][1]);
    if (lo <= hi) out.push([lo, hi]);
    if (a[i][1] < b[j][1]) i++;
    else j++;
  }
  return out;
}

function union(parts: readonly Iv[]): Iv[] {
  const sorted = [...parts].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) last[1] = max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** Pieces narrowed to members of the low-n-bit truncation of `t`; pieces with none are dropped. */
function trimToTnum(pieces: readonly Iv[], t: Tnum, n: number): Iv[] {
  const out: Iv[] = [];
  for (const [lo, hi] of pieces) {
    const a = t.minAtLeast(lo, n);
    if (a === null || a > hi) continue;
    out.push([a, t.maxAtMost(hi, n)!]);
  }
  return out;
}

const uHull = (p: readonly Iv[]): Iv => [p[0][0], p[p.length - 1][1]];

/** The signed hull of non-empty pieces of the 2^n ring. */
function sHull(p: readonly Iv[], n: number): Iv {
  const half = 1n << BigInt(n - 1);
  const w = half << 1n;
  const neg = p.find((iv) => iv[1] >= half);
  const nonneg = [...p].reverse().find((iv) => iv[0] < half);
  const lo = neg ? max(neg[0], half) - w : p[0][0];
  const hi = nonneg ? min(nonneg[1], half - 1n) : p[p.length - 1][1] - w;
  return [lo, hi];
}

const samePieces = (a: readonly Iv[], b: readonly Iv[]): boolean =>
  a.length === b.length && a.every((iv, i) => iv[0] === b[i][0] && iv[1] === b[i][1]);

/** The smallest y >= x whose low 32 bits lie in `low` (non-empty). */
function nextWithLow(x: bigint, low: readonly Iv[]): bigint {
  const h = x >> 32n;
  const l = x & M32;
  const p = low.find((iv) => iv[1] >= l);
  return p ? (h << 32n) | max(l, p[0]) : ((h + 1n) << 32n) | low[0][0];
}

/** The largest y <= x whose low 32 bits lie in `low` (non-empty); may be negative (none). */
function prevWithLow(x: bigint, low: readonly Iv[]): bigint {
  const h = x >> 32n;
  const l = x & M32;
  const p = [...low].reverse().find((iv) => iv[0] <= l);
  return p ? (h << 32n) | min(l, p[1]) : ((h - 1n) << 32n) | low[low.length - 1][1];
}

/** Reductions before giving up on a fixpoint; every step is sound on its own, so stopping early only costs precision. */
const MAX_ROUNDS = 8;

/**
 * The reduced Scalar of the values in tnum `t` whose 64-bit residues lie in every arc of `c64`
 * and whose low 32 bits lie in every arc of `c32`; null when provably none.
 */
function reduce(t: Tnum, c64: readonly Iv[], c32: readonly Iv[]): Scalar | null {
  let p64 = full(64);
  for (const iv of c64) {
    const a = arc(iv, 64);
    if (a) p64 = intersect(p64, a);
  }
  let p32 = full(32);
  for (const iv of c32) {
    const a = arc(iv, 32);
    if (a) p32 = intersect(p32, a);
  }
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const was = { t, p64, p32 };
    p64 = trimToTnum(p64, t, 64);
    p32 = trimToTnum(p32, t, 32);
    if (p64.length === 0 || p32.length === 0) return null;
    // Each 64-bit piece narrower than 2^32 is an arc of low halves.
    const lows: Iv[] = [];
    for (const iv of p64) {
      const a = arc(iv, 32);
      if (!a) {
        lows.length = 0;
        break;
      }
      lows.push(...a);
    }
    if (lows.length) p32 = intersect(p32, union(lows));
    if (p32.length === 0) return null;
    const moved: Iv[] = [];
    for (const [lo, hi] of p64) {
      const a = nextWithLow(lo, p32);
      const b = prevWithLow(hi, p32);
      if (a <= b) moved.push([a, b]);
    }
    p64 = moved;
    if (p64.length === 0) return null;
    const [ulo, uhi] = uHull(p64);
    const [lo32, hi32] = uHull(p32);
    const t64 = t.intersect(Tnum.range(ulo, uhi));
    const tlow = t64?.subreg().intersect(Tnum.range(lo32, hi32));
    if (!t64 || !tlow) return null;
    t = t64.withSubreg(tlow);
    if (t.equals(was.t) && samePieces(p64, was.p64) && samePieces(p32, was.p32)) break;
  }
  const [umin, umax] = uHull(p64);
  const [smin, smax] = sHull(p64, 64);
  const [u32min, u32max] = uHull(p32);
  const [s32min, s32max] = sHull(p32, 32);
  return new Scalar(t, umin, umax, smin, smax, u32min, u32max, s32min, s32max);
}

// -------------------------------------------------------------------------------------------
// Operations at one width
// -------------------------------------------------------------------------------------------

/** A scalar as seen by a 32- or 64-bit operation: tnum truncated to the width, and the two intervals. */
interface View {
  t: Tnum;
  u: Iv;
  s: Iv;
}

/**
 * A result before reduction: its known bits, and integer intervals (any sign, possibly beyond
 * the width) whose residues hold it.
 */
interface Parts {
  t: Tnum;
  arcs: Iv[];
}

type Width = 32 | 64;

const ringSize = (w: Width): bigint => 1n << BigInt(w);

/** The extreme values among `xs`, as an interval. */
const hullOf = (xs: readonly bigint[]): Iv => [xs.reduce(min), xs.reduce(max)];

/** Split [lo, hi] at zero into its negative and non-negative parts (each possibly empty). */
const splitAtZero = ([lo, hi]: Iv): Iv[] =>
  [[lo, min(hi, -1n)] as Iv, [max(lo, 0n), hi] as Iv].filter(([a, b]) => a <= b);

function divParts(a: View, b: View, signed: boolean): Parts {
  const unknown = Tnum.unknown();
  if (!signed) {
    // x / 0 = 0 and x / y <= x otherwise, so a possible zero divisor only lowers the bound to 0.
    if (b.u[1] === 0n) return { t: Tnum.const(0n), arcs: [] };
    const lo = b.u[0] === 0n ? 0n : a.u[0] / b.u[1];
    return { t: unknown, arcs: [[lo, a.u[1] / max(b.u[0], 1n)]] };
  }
  // On each sign quadrant the quotient is monotone in each operand, so its extremes are at
  // corners. BigInt division truncates towards zero as sdiv does, and INT_MIN / -1 gives
  // 2^(w-1), whose residue is INT_MIN, just as the machine wraps.
  const qs: bigint[] = [];
  for (const [x1, x2] of splitAtZero(a.s)) {
    for (const part of splitAtZero(b.s)) {
      const y1 = part[0] === 0n ? 1n : part[0];
      const y2 = part[1];
      if (y1 > y2) continue;
      for (const x of [x1, x2]) for (const y of [y1, y2]) qs.push(x / y);
    }
  }
  if (b.s[0] <= 0n && b.s[1] >= 0n) qs.push(0n);
  return { t: unknown, arcs: [hullOf(qs)] };
}

function modParts(a: View, b: View, signed: boolean): Parts | 'dst' {
  if (!signed) {
    // x % 0 = x, and x % y = x whenever x < y.
    if (b.u[1] === 0n || a.u[1] < b.u[0]) return 'dst';
    if (b.u[0] === 0n) return { t: Tnum.unknown(), arcs: [[0n, a.u[1]]] };
    // A constant divisor and a dividend within one multiple of it: the remainders are in order.
    if (b.u[0] === b.u[1] && a.u[0] / b.u[0] === a.u[1] / b.u[0]) {
      return { t: Tnum.unknown(), arcs: [[a.u[0] % b.u[0], a.u[1] % b.u[0]]] };
    }
    return { t: Tnum.unknown(), arcs: [[0n, min(a.u[1], b.u[1] - 1n)]] };
  }
  const [x1, x2] = a.s;
  const [y1, y2] = b.s;
  if (y1 === 0n && y2 === 0n) return 'dst';
  const abs = (x: bigint): bigint => (x < 0n ? -x : x);
  // The remainder takes the dividend's sign and is smaller in magnitude than both operands;
  // a zero divisor leaves the dividend.
  const zeroDivisor = y1 <= 0n && y2 >= 0n;
  const minAbsY = y1 > 0n ? y1 : -y2;
  if (!zeroDivisor && max(abs(x1), abs(x2)) < minAbsY) return 'dst';
  if (zeroDivisor) return { t: Tnum.unknown(), arcs: [[min(x1, 0n), max(x2, 0n)]] };
  if (y1 === y2 && (x1 >= 0n || x2 <= 0n) && x1 / y1 === x2 / y1) return { t: Tnum.unknown(), arcs: [[x1 % y1, x2 % y1]] };
  const lim = max(-y1, y2) - 1n;
  const lo = x1 >= 0n ? 0n : max(x1, -lim);
  const hi = x2 <= 0n ? 0n : min(x2, lim);
  return { t: Tnum.unknown(), arcs: [[lo, hi]] };
}

function mulParts(a: View, b: View, w: Width): Parts {
  const [x1, x2] = a.s;
  const [y1, y2] = b.s;
  return {
    t: a.t.mul(b.t).truncate(w),
    arcs: [[a.u[0] * b.u[0], a.u[1] * b.u[1]], hullOf([x1 * y1, x1 * y2, x2 * y1, x2 * y2])],
  };
}

/** The residues of `v`'s low n bits (n <= 64) as pieces: every view that is narrow enough says something. */
function lowPieces(v: Scalar, n: number): Iv[] {
  let p = full(n);
  const ivs: Iv[] = [
    [v.umin, v.umax],
    [v.smin, v.smax],
  ];
  if (n <= 32) ivs.push([v.u32min, v.u32max], [v.s32min, v.s32max]);
  for (const iv of ivs) {
    const a = arc(iv, n);
    if (a) p = intersect(p, a);
  }
  return trimToTnum(p, v.tnum, n);
}

/**
 * A shift by a possibly unknown amount: the join of the shift by every amount the (masked)
 * source allows. The kernel gives up unless the amount is a constant; enumerating at most 64
 * amounts costs little at load time and keeps e.g. `x << (y & 3)` bounded.
 */
function shiftParts(op: number, a: View, src: Scalar, w: Width): Parts {
  const n = w === 64 ? 6 : 5;
  const amounts: number[] = [];
  const srcLow = src.tnum.truncate(n);
  for (const [lo, hi] of lowPieces(src, n)) {
    for (let k = lo; k <= hi; k++) if (srcLow.contains(k)) amounts.push(Number(k));
  }
  const ring = ringSize(w);
  const half = ring >> 1n;
  let t: Tnum | null = null;
  let u: Iv | null = null;
  let s: Iv | null = null;
  let uOk = true;
  let sOk = true;
  for (const k of amounts) {
    const K = BigInt(k);
    let tk: Tnum;
    let uk: Iv | null = null;
    let sk: Iv | null = null;
    if (op === ALU_LSH) {
      tk = a.t.lshift(k).truncate(w);
      uk = [a.u[0] << K, a.u[1] << K];
      sk = [a.s[0] << K, a.s[1] << K];
    } else if (op === ALU_RSH) {
      tk = a.t.rshift(k);
      uk = [a.u[0] >> K, a.u[1] >> K];
    } else {
      tk = a.t.arshift(k, w);
      sk = [a.s[0] >> K, a.s[1] >> K];
    }
    // Only intervals that did not wrap can be joined by their hull.
    if (!uk || uk[1] >= ring) uOk = false;
    if (!sk || sk[0] < -half || sk[1] >= half) sOk = false;
    t = t ? t.union(tk) : tk;
    if (uOk && uk) u = u ? [min(u[0], uk[0]), max(u[1], uk[1])] : uk;
    if (sOk && sk) s = s ? [min(s[0], sk[0]), max(s[1], sk[1])] : sk;
  }
  const arcs: Iv[] = [];
  if (uOk && u) arcs.push(u);
  if (sOk && s) arcs.push(s);
  // No amount at all means the source was an (undetected) empty set; anything is sound then.
  return { t: t ?? Tnum.unknown(), arcs };
}

/** mov with sign extension of the source's low n bits (movsx): exact in the tnum, hull in the bounds. */
function movsxParts(src: Scalar, n: number, w: Width): Parts {
  const p = lowPieces(src, n);
  return { t: src.tnum.signExtend(n).truncate(w), arcs: p.length ? [sHull(p, n)] : [] };
}

// -------------------------------------------------------------------------------------------
// Scalar
// -------------------------------------------------------------------------------------------

/** A bound of Scalar.from left out means "no constraint". */
export interface ScalarBounds {
  tnum?: Tnum;
  umin?: bigint;
  umax?: bigint;
  smin?: bigint;
  smax?: bigint;
  u32min?: bigint;
  u32max?: bigint;
  s32min?: bigint;
  s32max?: bigint;
}

export class Scalar {
  /** Use the static constructors; this one trusts its arguments to be reduced. */
  constructor(
    readonly tnum: Tnum,
    readonly umin: bigint,
    readonly umax: bigint,
    readonly smin: bigint,
    readonly smax: bigint,
    readonly u32min: bigint,
    readonly u32max: bigint,
    readonly s32min: bigint,
    readonly s32max: bigint,
  ) {}

  /** Exactly v (taken modulo 2^64). */
  static const(v: bigint): Scalar {
    return reduce(Tnum.const(v), [], [])!;
  }

  static unknown(): Scalar {
    return UNKNOWN;
  }

  /** Every value in [lo, hi], unsigned 64-bit (lo <= hi). */
  static range(lo: bigint, hi: bigint): Scalar {
    if (lo < 0n || hi > M64 || lo > hi) throw new RangeError(`not an unsigned 64-bit range: [${lo}, ${hi}]`);
    return reduce(Tnum.unknown(), [[lo, hi]], [])!;
  }

  /** The values satisfying every given bound (signed ones as signed integers), or null if none. */
  static from(b: ScalarBounds): Scalar | null {
    const c64: Iv[] = [
      [b.umin ?? 0n, b.umax ?? M64],
      [b.smin ?? -(1n << 63n), b.smax ?? (1n << 63n) - 1n],
    ];
    const c32: Iv[] = [
      [b.u32min ?? 0n, b.u32max ?? M32],
      [b.s32min ?? -(1n << 31n), b.s32max ?? (1n << 31n) - 1n],
    ];
    return reduce(b.tnum ?? Tnum.unknown(), c64, c32);
  }

  isConst(): boolean {
    return this.umin === this.umax;
  }

  /** Whether x (taken modulo 2^64) is a possible value. */
  contains(x: bigint): boolean {
    const v = u64(x);
    const lo = v & M32;
    return (
      this.tnum.contains(v) &&
      v >= this.umin &&
      v <= this.umax &&
      s64(v) >= this.smin &&
      s64(v) <= this.smax &&
      lo >= this.u32min &&
      lo <= this.u32max &&
      s32(lo) >= this.s32min &&
      s32(lo) <= this.s32max
    );
  }

  equals(o: Scalar): boolean {
    return (
      this.tnum.equals(o.tnum) &&
      this.umin === o.umin &&
      this.umax === o.umax &&
      this.smin === o.smin &&
      this.smax === o.smax &&
      this.u32min === o.u32min &&
      this.u32max === o.u32max &&
      this.s32min === o.s32min &&
      this.s32max === o.s32max
    );
  }

  /**
   * Whether every value of this is a value of `o`, judged view by view: true is always right,
   * false may be too cautious (the views of `o` may exclude nothing this holds in a way no single
   * view shows). That is the direction state pruning needs.
   */
  isSubsetOf(o: Scalar): boolean {
    return (
      this.tnum.isSubsetOf(o.tnum) &&
      o.umin <= this.umin &&
      this.umax <= o.umax &&
      o.smin <= this.smin &&
      this.smax <= o.smax &&
      o.u32min <= this.u32min &&
      this.u32max <= o.u32max &&
      o.s32min <= this.s32min &&
      this.s32max <= o.s32max
    );
  }

  /** The least upper bound: each view joined, then reduced. */
  join(o: Scalar): Scalar {
    return reduce(
      this.tnum.union(o.tnum),
      [
        [min(this.umin, o.umin), max(this.umax, o.umax)],
        [min(this.smin, o.smin), max(this.smax, o.smax)],
      ],
      [
        [min(this.u32min, o.u32min), max(this.u32max, o.u32max)],
        [min(this.s32min, o.s32min), max(this.s32max, o.s32max)],
      ],
    )!;
  }

  private view(w: Width): View {
    return w === 64
      ? { t: this.tnum, u: [this.umin, this.umax], s: [this.smin, this.smax] }
      : { t: this.tnum.subreg(), u: [this.u32min, this.u32max], s: [this.s32min, this.s32max] };
  }

  /** This, further constrained at width w by a tnum on those w bits and by arcs of that ring. */
  private constrain(w: Width, arcs: readonly Iv[], t?: Tnum): Scalar | null {
    let tn: Tnum | null = this.tnum;
    if (t) tn = tn.intersect(w === 64 ? t : Tnum.of(t.value & M32, (t.mask & M32) | (M64 & ~M32)));
    if (!tn) return null;
    const own64: Iv[] = [
      [this.umin, this.umax],
      [this.smin, this.smax],
    ];
    const own32: Iv[] = [
      [this.u32min, this.u32max],
      [this.s32min, this.s32max],
    ];
    return w === 64 ? reduce(tn, [...own64, ...arcs], own32) : reduce(tn, own64, [...own32, ...arcs]);
  }

  /**
   * The abstract result of the ALU or ALU64 instruction `opcode` with this as dst and `src` as
   * the source operand: the source register's scalar, or Scalar.const of the sign-extended
   * immediate for the K form (neg and end ignore it). `off` and `imm` are the instruction's:
   * off 1 makes div/mod signed, off 8/16/32 makes mov a movsx, imm is the width of end.
   * 32-bit operations read the low halves and zero-extend their result.
   */
  alu(opcode: number, src: Scalar, off = 0, imm = 0): Scalar {
    const op = opcode & 0xf0;
    const cls = opcode & 0x07;
    if (cls !== CLS_ALU && cls !== CLS_ALU64) throw new RangeError(`not an ALU opcode: 0x${opcode.toString(16)}`);
    if (op === ALU_END) return this.byteOrder(cls === CLS_ALU64 || (opcode & SRC_X) !== 0, imm);
    const w: Width = cls === CLS_ALU64 ? 64 : 32;
    // addr_space_cast converts arena pointers, not numbers: nothing is known of the result.
    if (op === ALU_MOV && w === 64 && (opcode & SRC_X) !== 0 && off === 1) return UNKNOWN;
    if (op === ALU_MOV && w === 64 && off === 0) return src;
    const parts = this.parts(op, src, w, off);
    if (parts === 'dst') return w === 64 ? this : this.low32();
    const result =
      w === 64
        ? reduce(parts.t.truncate(64), parts.arcs, [])
        : reduce(parts.t.truncate(32), [[0n, M32]], parts.arcs);
    // Null only when an operand was an empty set the reduction had not detected; any value is
    // then a sound answer.
    return result ?? (w === 64 ? UNKNOWN : UNKNOWN32);
  }

  /** The result before reduction, or 'dst' when it is exactly dst's value at that width. */
  private parts(op: number, src: Scalar, w: Width, off: number): Parts | 'dst' {
    const a = this.view(w);
    const b = src.view(w);
    switch (op) {
      case ALU_ADD:
        return {
          t: a.t.add(b.t),
          arcs: [
            [a.u[0] + b.u[0], a.u[1] + b.u[1]],
            [a.s[0] + b.s[0], a.s[1] + b.s[1]],
          ],
        };
      case ALU_SUB:
        return {
          t: a.t.sub(b.t),
          arcs: [
            [a.u[0] - b.u[1], a.u[1] - b.u[0]],
            [a.s[0] - b.s[1], a.s[1] - b.s[0]],
          ],
        };
      case ALU_MUL:
        return mulParts(a, b, w);
      case ALU_DIV:
        return divParts(a, b, off === 1);
      case ALU_MOD:
        return modParts(a, b, off === 1);
      case ALU_OR:
        // x | y >= max(x, y) unsigned; the known bits do the rest.
        return { t: a.t.or(b.t), arcs: [[max(a.u[0], b.u[0]), ringSize(w) - 1n]] };
      case ALU_AND:
        return { t: a.t.and(b.t), arcs: [[0n, min(a.u[1], b.u[1])]] };
      case ALU_XOR:
        return { t: a.t.xor(b.t), arcs: [] };
      case ALU_LSH:
      case ALU_RSH:
      case ALU_ARSH:
        return shiftParts(op, a, src, w);
      case ALU_NEG:
        return {
          t: Tnum.const(0n).sub(a.t),
          arcs: [
            [-a.u[1], -a.u[0]],
            [-a.s[1], -a.s[0]],
          ],
        };
      case ALU_MOV:
        if (off === 0 || off >= w) return { t: b.t, arcs: [b.u, b.s] };
        return movsxParts(src, off, w);
    }
    throw new RangeError(`unknown ALU operation 0x${op.toString(16)}`);
  }

  /**
   * end/bswap on the whole register: `swap` reverses the bytes of the low `bits` bits (to-be and
   * bswap on a little-endian machine), otherwise they are only kept (to-le); either way the rest
   * is cleared.
   */
  private byteOrder(swap: boolean, bits: number): Scalar {
    if (bits !== 16 && bits !== 32 && bits !== 64) throw new RangeError(`byte swap width must be 16, 32 or 64, found ${bits}`);
    const top = (1n << BigInt(bits)) - 1n;
    // A byte permutation is exact on known bits; the bounds come back from them.
    if (swap) return reduce(this.tnum.bswap(bits), [[0n, top]], [])!;
    if (bits === 64) return this;
    if (bits === 32) return this.low32();
    const p = lowPieces(this, bits);
    return reduce(this.tnum.truncate(bits), p.length ? [[0n, top], uHull(p)] : [[0n, top]], []) ?? UNKNOWN;
  }

  /** The low 32 bits, zero-extended (what a 32-bit mov of this leaves). */
  private low32(): Scalar {
    return (
      reduce(
        this.tnum.subreg(),
        [[0n, M32]],
        [
          [this.u32min, this.u32max],
          [this.s32min, this.s32max],
        ],
      ) ?? UNKNOWN32
    );
  }

  /**
   * The states of this (dst) and `other` (src, or Scalar.const of the immediate) after the
   * conditional jump `cond` (a JMP_* operation; the class and source bits are ignored) on the
   * `taken` or fall-through branch; `is32` for JMP32, which compares the low halves. Null when
   * that branch cannot be reached from these states.
   */
  refine(cond: number, other: Scalar, is32: boolean, taken: boolean): [Scalar, Scalar] | null {
    const w: Width = is32 ? 32 : 64;
    const ring = ringSize(w);
    const half = ring >> 1n;
    const a = this.view(w);
    const b = other.view(w);
    const both = (x: Scalar | null, y: Scalar | null): [Scalar, Scalar] | null => (x && y ? [x, y] : null);
    const bound = (ax: Iv, by: Iv) => both(this.constrain(w, [ax]), other.constrain(w, [by]));
    const op = cond & 0xf0;
    const jset = op === JMP_JSET;
    switch (taken || jset ? op : NEGATED[op]) {
      case JMP_JEQ:
        return both(this.meet(other, w), other.meet(this, w));
      case JMP_JNE: {
        // x != c removes c, which tightens the bounds when c is at one end of them.
        const ax = b.u[0] === b.u[1] ? [[b.u[0] + 1n, b.u[0] + ring - 1n] as Iv] : [];
        const by = a.u[0] === a.u[1] ? [[a.u[0] + 1n, a.u[0] + ring - 1n] as Iv] : [];
        return both(this.constrain(w, ax), other.constrain(w, by));
      }
      case JMP_JGT:
        return bound([b.u[0] + 1n, ring - 1n], [0n, a.u[1] - 1n]);
      case JMP_JGE:
        return bound([b.u[0], ring - 1n], [0n, a.u[1]]);
      case JMP_JLT:
        return bound([0n, b.u[1] - 1n], [a.u[0] + 1n, ring - 1n]);
      case JMP_JLE:
        return bound([0n, b.u[1]], [a.u[0], ring - 1n]);
      case JMP_JSGT:
        return bound([b.s[0] + 1n, half - 1n], [-half, a.s[1] - 1n]);
      case JMP_JSGE:
        return bound([b.s[0], half - 1n], [-half, a.s[1]]);
      case JMP_JSLT:
        return bound([-half, b.s[1] - 1n], [a.s[0] + 1n, half - 1n]);
      case JMP_JSLE:
        return bound([-half, b.s[1]], [a.s[0], half - 1n]);
      case JMP_JSET: {
        const all = ring - 1n;
        if (taken) {
          // Some bit is set in both: neither is zero, and if only one bit can be common, it is.
          const common = (a.t.value | a.t.mask) & (b.t.value | b.t.mask) & all;
          if (common === 0n) return null;
          const single = (common & (common - 1n)) === 0n ? Tnum.const(common).or(Tnum.of(0n, all & ~common)) : undefined;
          return both(this.constrain(w, [[1n, all]], single), other.constrain(w, [[1n, all]], single));
        }
        // No bit is set in both: a bit known set in one is clear in the other.
        return both(this.constrain(w, [], Tnum.of(0n, all & ~b.t.value)), other.constrain(w, [], Tnum.of(0n, all & ~a.t.value)));
      }
    }
    throw new RangeError(`not a conditional jump: 0x${cond.toString(16)}`);
  }

  /** This, knowing its low w bits equal those of `o`. */
  private meet(o: Scalar, w: Width): Scalar | null {
    const v = o.view(w);
    return this.constrain(w, [v.u, v.s], v.t);
  }

  /**
   * The few facts that say most, for messages and logs: the value's ranges where they are not
   * the full ones, e.g. `[0, 63]`, `[-2147483648, 15] (signed)`, `unknown`.
   */
  brief(): string {
    if (this.isConst()) return `${BigInt.asIntN(64, this.umin)}`;
    const parts: string[] = [];
    if (this.umin !== 0n || this.umax !== M64) parts.push(`[${this.umin}, ${this.umax}]`);
    if ((this.smin !== -(1n << 63n) || this.smax !== (1n << 63n) - 1n) && (this.smin < 0n || parts.length === 0)) parts.push(`[${this.smin}, ${this.smax}] (signed)`);
    if (parts.length === 0 && (this.u32min !== 0n || this.u32max !== M32)) parts.push(`low 32 bits in [${this.u32min}, ${this.u32max}]`);
    return parts.length ? parts.join(' and ') : 'unknown';
  }

  toString(): string {
    if (this.isConst()) return `${this.umin}`;
    return (
      `var_off=${this.tnum} umin=${this.umin} umax=${this.umax} smin=${this.smin} smax=${this.smax} ` +
      `u32min=${this.u32min} u32max=${this.u32max} s32min=${this.s32min} s32max=${this.s32max}`
    );
  }
}

/** The condition that holds on the fall-through branch of each jump (JSET is handled apart). */
const NEGATED: Readonly<Record<number, number>> = {
  [JMP_JEQ]: JMP_JNE,
  [JMP_JNE]: JMP_JEQ,
  [JMP_JGT]: JMP_JLE,
  [JMP_JLE]: JMP_JGT,
  [JMP_JGE]: JMP_JLT,
  [JMP_JLT]: JMP_JGE,
  [JMP_JSGT]: JMP_JSLE,
  [JMP_JSLE]: JMP_JSGT,
  [JMP_JSGE]: JMP_JSLT,
  [JMP_JSLT]: JMP_JSGE,
};

const UNKNOWN = reduce(Tnum.unknown(), [], [])!;
/** Any zero-extended 32-bit value. */
const UNKNOWN32 = reduce(Tnum.of(0n, M32), [[0n, M32]], [])!;
