/**
 * Tnums: every operation must be sound (the result holds the concrete result of any members of
 * the operands), checked against BigInt arithmetic on random members; a few exact results are
 * worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tnum } from '../../../src/bpf/verifier/tnum.ts';

const M64 = (1n << 64n) - 1n;
const M32 = 0xffff_ffffn;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);

const word = fc.oneof(
  fc.bigInt({ min: 0n, max: M64 }),
  fc.bigInt({ min: 0n, max: 300n }),
  fc.constantFrom(0n, 1n, M64, 1n << 63n, (1n << 63n) - 1n, M32, 1n << 32n, 1n << 31n),
);
// Masks shaped like the ones the verifier meets: low bits unknown (ranges), high bits unknown
// (sign extension), sparse, none, all.
const mask = fc.oneof(
  fc.bigInt({ min: 0n, max: M64 }),
  fc.integer({ min: 0, max: 64 }).map((k) => (1n << BigInt(k)) - 1n),
  fc.integer({ min: 0, max: 64 }).map((k) => M64 & ~((1n << BigInt(k)) - 1n)),
  fc.tuple(fc.bigInt({ min: 0n, max: M64 }), fc.bigInt({ min: 0n, max: M64 })).map(([a, b]) => a & b),
  fc.constant(0n),
);
/** A tnum with one of its members (chosen by `pick` over the unknown bits). */
const withMember = fc.tuple(word, mask, fc.bigInt({ min: 0n, max: M64 })).map(([v, m, pick]) => {
  const t = Tnum.of(v, m);
  return { t, x: t.value | (pick & t.mask) };
});
const runs = { numRuns: 2000 };

describe('tnum soundness', () => {
  const binary: Array<[string, (a: Tnum, b: Tnum) => Tnum, (x: bigint, y: bigint) => bigint]> = [
    ['add', (a, b) => a.add(b), (x, y) => u64(x + y)],
    ['sub', (a, b) => a.sub(b), (x, y) => u64(x - y)],
    ['mul', (a, b) => a.mul(b), (x, y) => u64(x * y)],
    ['and', (a, b) => a.and(b), (x, y) => x & y],
    ['or', (a, b) => a.or(b), (x, y) => x | y],
    ['xor', (a, b) => a.xor(b), (x, y) => x ^ y],
  ];
  for (const [name, abs, conc] of binary) {
    it(`${name} holds the concrete result`, () => {
      fc.assert(
        fc.property(withMember, withMember, (a, b) => {
          expect(abs(a.t, b.t).contains(conc(a.x, b.x))).toBe(true);
        }),
        runs,
      );
    });
  }

  it('shifts by a known amount hold the concrete result', () => {
    fc.assert(
      fc.property(withMember, fc.integer({ min: 0, max: 63 }), ({ t, x }, k) => {
        const K = BigInt(k);
        expect(t.lshift(k).contains(u64(x << K))).toBe(true);
        expect(t.rshift(k).contains(x >> K)).toBe(true);
        expect(t.arshift(k).contains(u64(BigInt.asIntN(64, x) >> K))).toBe(true);
        const k32 = k & 31;
        const low = t.subreg();
        expect(low.arshift(k32, 32).contains((BigInt.asIntN(32, x & M32) >> BigInt(k32)) & M32)).toBe(true);
      }),
      runs,
    );
  });

  it('casts, sign extension and byte swaps hold the concrete result', () => {
    fc.assert(
      fc.property(withMember, fc.constantFrom(8, 16, 32), fc.constantFrom(16, 32, 64), ({ t, x }, bits, width) => {
        expect(t.truncate(bits).contains(BigInt.asUintN(bits, x))).toBe(true);
        expect(t.subreg().contains(x & M32)).toBe(true);
        expect(t.signExtend(bits).contains(u64(BigInt.asIntN(bits, x)))).toBe(true);
        let swapped = 0n;
        for (let i = 0n; i < BigInt(width); i += 8n) swapped = (swapped << 8n) | ((x >> i) & 0xffn);
        expect(t.bswap(width).contains(swapped)).toBe(true);
      }),
      runs,
    );
  });

  it('range holds every value between its ends', () => {
    fc.assert(
      fc.property(word, word, fc.bigInt({ min: 0n, max: M64 }), (a, b, r) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const t = Tnum.range(lo, hi);
        expect(t.contains(lo) && t.contains(hi) && t.contains(lo + (r % (hi - lo + 1n)))).toBe(true);
      }),
      runs,
    );
  });

  it('intersect keeps common members, union keeps both, and subsets agree with membership', () => {
    fc.assert(
      fc.property(withMember, withMember, (a, b) => {
        const u = a.t.union(b.t);
        expect(u.contains(a.x) && u.contains(b.x)).toBe(true);
        expect(a.t.isSubsetOf(u) && b.t.isSubsetOf(u)).toBe(true);
        const i = a.t.intersect(b.t);
        if (b.t.contains(a.x)) expect(i?.contains(a.x)).toBe(true);
        if (i === null) expect(b.t.contains(a.x) || a.t.contains(b.x)).toBe(false);
        if (a.t.isSubsetOf(b.t)) expect(b.t.contains(a.x)).toBe(true);
        // The intersection of a with a superset of itself is a.
        expect(a.t.intersect(u)?.equals(a.t)).toBe(true);
      }),
      runs,
    );
  });

  it('minAtLeast and maxAtMost find the nearest member (exhaustive over 8 bits)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (v, m) => {
        const t = Tnum.of(BigInt(v), BigInt(m) | 0xffff_ff00n);
        const members = Array.from({ length: 256 }, (_, i) => BigInt(i)).filter((x) => t.contains(x));
        for (let lo = 0n; lo < 256n; lo++) {
          expect(t.minAtLeast(lo, 8)).toBe(members.find((x) => x >= lo) ?? null);
          expect(t.maxAtMost(lo, 8)).toBe([...members].reverse().find((x) => x <= lo) ?? null);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('minAtLeast over 64 bits returns a member no smaller than the bound', () => {
    fc.assert(
      fc.property(withMember, word, ({ t }, lo) => {
        const r = t.minAtLeast(lo);
        if (r === null) expect(t.umax() < lo).toBe(true);
        else expect(t.contains(r) && r >= lo).toBe(true);
        const s = t.maxAtMost(lo);
        if (s === null) expect(t.umin() > lo).toBe(true);
        else expect(t.contains(s) && s <= lo).toBe(true);
      }),
      runs,
    );
  });
});

describe('tnum precision', () => {
  it('is exact on constants', () => {
    fc.assert(
      fc.property(word, word, fc.integer({ min: 0, max: 63 }), (x, y, k) => {
        const a = Tnum.const(x);
        const b = Tnum.const(y);
        expect(a.add(b).equals(Tnum.const(x + y))).toBe(true);
        expect(a.sub(b).equals(Tnum.const(x - y))).toBe(true);
        expect(a.mul(b).equals(Tnum.const(x * y))).toBe(true);
        expect(a.and(b).equals(Tnum.const(x & y))).toBe(true);
        expect(a.xor(b).equals(Tnum.const(x ^ y))).toBe(true);
        expect(a.lshift(k).equals(Tnum.const(x << BigInt(k)))).toBe(true);
      }),
      runs,
    );
  });

  it('matches hand-worked examples', () => {
    // {0, 1} + 1 = {1, 2} = 0b01, 0b10: both low bits unknown.
    expect(Tnum.of(0n, 1n).add(Tnum.const(1n))).toEqual(Tnum.of(0n, 3n));
    // 16..31 share 0b1xxxx.
    expect(Tnum.range(16n, 31n)).toEqual(Tnum.of(16n, 15n));
    expect(Tnum.range(0n, M64).isUnknown()).toBe(true);
    // Anything & 0xff keeps only the low byte, all unknown.
    expect(Tnum.unknown().and(Tnum.const(0xffn))).toEqual(Tnum.of(0n, 0xffn));
    // x | 1 has bit 0 known set.
    expect(Tnum.unknown().or(Tnum.const(1n))).toEqual(Tnum.of(1n, M64 - 1n));
    // 4 and 5 differ only in bit 0.
    expect(Tnum.const(4n).union(Tnum.const(5n))).toEqual(Tnum.of(4n, 1n));
    expect(Tnum.const(4n).intersect(Tnum.const(5n))).toBeNull();
    // x * 4 (x in 0..3) = 0, 4, 8, 12: bits 2 and 3 unknown, the rest known zero.
    expect(Tnum.of(0n, 3n).mul(Tnum.const(4n))).toEqual(Tnum.of(0n, 12n));
    // A 32-bit arithmetic shift copies an unknown bit 31 down and leaves the upper half zero.
    expect(Tnum.of(0n, 1n << 31n).arshift(4, 32)).toEqual(Tnum.of(0n, 0xf800_0000n));
    expect(Tnum.const(0x80n).signExtend(8)).toEqual(Tnum.const(M64 - 0x7fn));
    expect(Tnum.of(0x01n, 0xff00n).bswap(16)).toEqual(Tnum.of(0x0100n, 0xffn));
    // Even numbers: the first at or above 3 is 4, the last at or below 255 is 254.
    expect(Tnum.of(0n, 0xfen).minAtLeast(3n)).toBe(4n);
    expect(Tnum.of(0n, 0xfen).maxAtMost(255n)).toBe(254n);
    expect(Tnum.of(0n, 0xfen).minAtLeast(255n)).toBeNull();
  });
});
