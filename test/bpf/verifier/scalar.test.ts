/**
 * The scalar domain. The core truth is soundness against the reference interpreter: for random
 * abstract values and random concrete members of them, the interpreter's result of an ALU
 * instruction is a member of the abstract result, and the interpreter's choice at a conditional
 * jump lands in a refined state that holds the pair (so a branch called impossible never
 * happens). Hand-worked cases then pin down the precision the verifier relies on.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
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
  CLS_JMP,
  CLS_JMP32,
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
  OP_EXIT,
  SRC_K,
  SRC_X,
  type Insn,
} from '../../../src/bpf/isa.ts';
import { Interpreter } from '../../../src/bpf/interp.ts';
import { AddressSpace } from '../../../src/bpf/memory.ts';
import { Scalar } from '../../../src/bpf/verifier/scalar.ts';
import { Tnum } from '../../../src/bpf/verifier/tnum.ts';

const M64 = (1n << 64n) - 1n;
const M32 = 0xffff_ffffn;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const clamp = (x: bigint, lo: bigint, hi: bigint): bigint => (x < lo ? lo : x > hi ? hi : x);

// ---------------------------------------------------------------------------------------------
// The oracle: two-register programs run by the reference interpreter.
// ---------------------------------------------------------------------------------------------

const mem = new AddressSpace();
const insn = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ opcode, dst, src, off, imm });
const MOV_R0_R1 = insn(CLS_ALU64 | ALU_MOV | SRC_X, 0, 1);
const EXIT = insn(OP_EXIT);
const programs = new Map<string, Interpreter>();
const cached = (key: string, make: () => Insn[]): Interpreter => {
  let p = programs.get(key);
  if (!p) programs.set(key, (p = new Interpreter(make(), mem)));
  return p;
};

/** r1 = x, r2 = y; `opcode r1, r2` (or its one-operand form); return r1. */
function runAlu(v: AluVariant, x: bigint, y: bigint): bigint {
  const p = cached(`alu ${v.opcode} ${v.off} ${v.imm}`, () => [insn(v.opcode, 1, v.usesSrc ? 2 : 0, v.off, v.imm), MOV_R0_R1, EXIT]);
  return p.run([x, y]).r0;
}

/** Whether `cond r1, r2` (JMP or JMP32) jumps with r1 = x, r2 = y. */
function runJump(cond: number, is32: boolean, x: bigint, y: bigint): boolean {
  const opcode = (is32 ? CLS_JMP32 : CLS_JMP) | cond | SRC_X;
  const p = cached(`jmp ${opcode}`, () => [
    insn(opcode, 1, 2, 2),
    insn(CLS_ALU64 | ALU_MOV | SRC_K, 0, 0, 0, 0),
    EXIT,
    insn(CLS_ALU64 | ALU_MOV | SRC_K, 0, 0, 0, 1),
    EXIT,
  ]);
  return p.run([x, y]).r0 === 1n;
}

interface AluVariant {
  name: string;
  opcode: number;
  off: number;
  imm: number;
  usesSrc: boolean;
}

/** Every ALU and ALU64 operation of the ISA, in every form that changes its meaning. */
const ALU_VARIANTS: AluVariant[] = (() => {
  const out: AluVariant[] = [];
  const names: Record<number, string> = {
    [ALU_ADD]: 'add',
    [ALU_SUB]: 'sub',
    [ALU_MUL]: 'mul',
    [ALU_DIV]: 'div',
    [ALU_OR]: 'or',
    [ALU_AND]: 'and',
    [ALU_LSH]: 'lsh',
    [ALU_RSH]: 'rsh',
    [ALU_MOD]: 'mod',
    [ALU_XOR]: 'xor',
    [ALU_MOV]: 'mov',
    [ALU_ARSH]: 'arsh',
  };
  for (const cls of [CLS_ALU64, CLS_ALU]) {
    const w = cls === CLS_ALU64 ? '64' : '32';
    for (const [op, name] of Object.entries(names)) {
      out.push({ name: name + w, opcode: cls | Number(op) | SRC_X, off: 0, imm: 0, usesSrc: true });
    }
    out.push({ name: 'sdiv' + w, opcode: cls | ALU_DIV | SRC_X, off: 1, imm: 0, usesSrc: true });
    out.push({ name: 'smod' + w, opcode: cls | ALU_MOD | SRC_X, off: 1, imm: 0, usesSrc: true });
    for (const bits of cls === CLS_ALU64 ? [8, 16, 32] : [8, 16]) {
      out.push({ name: `movsx${w}_${bits}`, opcode: cls | ALU_MOV | SRC_X, off: bits, imm: 0, usesSrc: true });
    }
    out.push({ name: 'neg' + w, opcode: cls | ALU_NEG, off: 0, imm: 0, usesSrc: false });
  }
  for (const bits of [16, 32, 64]) {
    out.push({ name: `le${bits}`, opcode: CLS_ALU | ALU_END | SRC_K, off: 0, imm: bits, usesSrc: false });
    out.push({ name: `be${bits}`, opcode: CLS_ALU | ALU_END | SRC_X, off: 0, imm: bits, usesSrc: false });
    out.push({ name: `bswap${bits}`, opcode: CLS_ALU64 | ALU_END | SRC_K, off: 0, imm: bits, usesSrc: false });
  }
  return out;
})();

const CONDS: Array<[string, number]> = [
  ['jeq', JMP_JEQ],
  ['jne', JMP_JNE],
  ['jgt', JMP_JGT],
  ['jge', JMP_JGE],
  ['jlt', JMP_JLT],
  ['jle', JMP_JLE],
  ['jsgt', JMP_JSGT],
  ['jsge', JMP_JSGE],
  ['jslt', JMP_JSLT],
  ['jsle', JMP_JSLE],
  ['jset', JMP_JSET],
];

// ---------------------------------------------------------------------------------------------
// Random abstract values, each built around a concrete seed it must contain.
// ---------------------------------------------------------------------------------------------

const word = fc.oneof(
  fc.bigInt({ min: 0n, max: M64 }),
  fc.bigInt({ min: 0n, max: 300n }),
  fc.bigInt({ min: -300n, max: -1n }).map(u64),
  fc.bigInt({ min: -300n, max: 300n }).map((d) => u64((1n << 32n) + d)),
  fc.bigInt({ min: -300n, max: 300n }).map((d) => u64((1n << 63n) + d)),
  fc.bigInt({ min: -300n, max: 300n }).map((d) => u64((1n << 31n) + d)),
  fc.constantFrom(0n, 1n, M64, 1n << 63n, (1n << 63n) - 1n, M32, 1n << 32n, 1n << 31n, 63n, 64n, 31n, 32n),
);
const distance = fc.oneof(
  fc.bigInt({ min: 0n, max: 4n }),
  fc.bigInt({ min: 0n, max: 1000n }),
  fc.bigInt({ min: 0n, max: 1n << 33n }),
  fc.bigInt({ min: 0n, max: M64 }),
);
const mask = fc.oneof(
  fc.bigInt({ min: 0n, max: M64 }),
  fc.integer({ min: 0, max: 64 }).map((k) => (1n << BigInt(k)) - 1n),
  fc.integer({ min: 0, max: 64 }).map((k) => M64 & ~((1n << BigInt(k)) - 1n)),
  fc.tuple(fc.bigInt({ min: 0n, max: M64 }), fc.bigInt({ min: 0n, max: M64 })).map(([a, b]) => a & b),
);

const KINDS = ['const', 'urange', 'srange', 'tnum', 'u32', 's32', 'mixed', 'joined', 'unknown'] as const;

interface Abstract {
  kind: string;
  abs: Scalar;
  members: bigint[];
}

const abstract: fc.Arbitrary<Abstract> = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    x: word,
    d: fc.array(distance, { minLength: 4, maxLength: 4 }),
    m: mask,
    other: word,
    picks: fc.array(fc.bigInt({ min: 0n, max: M64 }), { minLength: 4, maxLength: 4 }),
  })
  .map(({ kind, x, d, m, other, picks }) => {
    const sx = s64(x);
    const lo32 = x & M32;
    const slo32 = BigInt.asIntN(32, lo32);
    const urange = { umin: clamp(x - d[0], 0n, M64), umax: clamp(x + d[1], 0n, M64) };
    const srange = { smin: clamp(sx - d[2], -(1n << 63n), (1n << 63n) - 1n), smax: clamp(sx + d[3], -(1n << 63n), (1n << 63n) - 1n) };
    const u32 = { u32min: clamp(lo32 - d[0], 0n, M32), u32max: clamp(lo32 + d[1], 0n, M32) };
    const s32 = { s32min: clamp(slo32 - d[2], -(1n << 31n), (1n << 31n) - 1n), s32max: clamp(slo32 + d[3], -(1n << 31n), (1n << 31n) - 1n) };
    const tnum = Tnum.of(x & ~m, m);
    let abs: Scalar | null;
    switch (kind) {
      case 'const':
        abs = Scalar.const(x);
        break;
      case 'urange':
        abs = Scalar.range(urange.umin, urange.umax);
        break;
      case 'srange':
        abs = Scalar.from(srange);
        break;
      case 'tnum':
        abs = Scalar.from({ tnum });
        break;
      case 'u32':
        abs = Scalar.from({ ...u32, tnum: Tnum.of(x, m & ~M32) });
        break;
      case 's32':
        abs = Scalar.from({ ...s32, ...urange });
        break;
      case 'mixed':
        abs = Scalar.from({ tnum, ...urange, ...srange, ...u32, ...s32 });
        break;
      case 'joined':
        abs = Scalar.from({ tnum, ...urange })!.join(Scalar.const(other));
        break;
      default:
        abs = Scalar.unknown();
    }
    if (abs === null) throw new Error(`${kind} around ${x} came out empty`);
    // Other members: random completions of the known bits, the interval ends, the seed's
    // neighbours; whatever the abstract value holds.
    const candidates = [
      ...picks.map((p) => abs.tnum.value | (p & abs.tnum.mask)),
      abs.umin,
      abs.umax,
      u64(abs.smin),
      u64(abs.smax),
      u64(x + 1n),
      u64(x - 1n),
      other,
      ...picks,
    ];
    const members = [x, ...new Set(candidates.filter((c) => c !== x && abs.contains(c)))].slice(0, 5);
    return { kind, abs, members };
  });

const RUNS = 1500;

// ---------------------------------------------------------------------------------------------
// Soundness
// ---------------------------------------------------------------------------------------------

describe('scalar soundness', () => {
  it('every abstract value holds the seed it was built around', () => {
    // The generator throws otherwise; this only makes the check a test of its own.
    fc.assert(
      fc.property(abstract, ({ abs, members }) => {
        expect(abs.contains(members[0])).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  for (const v of ALU_VARIANTS) {
    it(`alu ${v.name}: the interpreter's result is a member`, () => {
      fc.assert(
        fc.property(abstract, abstract, (a, b) => {
          const r = a.abs.alu(v.opcode, b.abs, v.off, v.imm);
          for (const x of a.members) {
            for (const y of v.usesSrc ? b.members : [0n]) {
              const got = runAlu(v, x, y);
              if (!r.contains(got)) {
                throw new Error(`${v.name}: ${x} op ${y} = ${got} not in ${r}\n  dst ${a.abs}\n  src ${b.abs}`);
              }
            }
          }
        }),
        { numRuns: RUNS },
      );
    });
  }

  for (const [name, cond] of CONDS) {
    for (const is32 of [false, true]) {
      it(`refine ${name}${is32 ? '32' : ''}: the branch the interpreter takes holds the pair`, () => {
        fc.assert(
          fc.property(abstract, abstract, (a, b) => {
            const branches = [false, true].map((taken) => a.abs.refine(cond, b.abs, is32, taken));
            for (const branch of branches) {
              // Refining only ever removes values.
              if (branch) expect(branch[0].isSubsetOf(a.abs) && branch[1].isSubsetOf(b.abs)).toBe(true);
            }
            for (const x of a.members) {
              for (const y of b.members) {
                const taken = runJump(cond, is32, x, y);
                const st = branches[taken ? 1 : 0];
                if (!st || !st[0].contains(x) || !st[1].contains(y)) {
                  throw new Error(
                    `${name}${is32 ? '32' : ''} ${x}, ${y} ${taken ? 'jumps' : 'falls through'} but the state is ` +
                      `${st ? `[${st[0]}] / [${st[1]}]` : 'dead'}\n  dst ${a.abs}\n  src ${b.abs}`,
                  );
                }
              }
            }
          }),
          { numRuns: RUNS / 3 },
        );
      });
    }
  }

  it('join holds both, and isSubsetOf agrees with membership', () => {
    fc.assert(
      fc.property(abstract, abstract, (a, b) => {
        const j = a.abs.join(b.abs);
        for (const x of [...a.members, ...b.members]) expect(j.contains(x)).toBe(true);
        expect(a.abs.isSubsetOf(j) && b.abs.isSubsetOf(j) && a.abs.isSubsetOf(a.abs)).toBe(true);
        expect(j.join(a.abs).equals(j)).toBe(true);
        if (a.abs.isSubsetOf(b.abs)) for (const x of a.members) expect(b.abs.contains(x)).toBe(true);
        // Members of a that b lacks disprove a subset of b.
        if (a.members.some((x) => !b.abs.contains(x))) expect(a.abs.isSubsetOf(b.abs)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Precision
// ---------------------------------------------------------------------------------------------

const alu64 = (op: number) => CLS_ALU64 | op | SRC_X;
const alu32 = (op: number) => CLS_ALU | op | SRC_X;
const K = Scalar.const;
const bounds = (s: Scalar) => [s.umin, s.umax, s.smin, s.smax, s.u32min, s.u32max, s.s32min, s.s32max];
const TOP = Scalar.unknown();

describe('scalar precision', () => {
  it('an operation on constants gives the exact constant, for every operation', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ALU_VARIANTS), word, word, (v, x, y) => {
        const r = K(x).alu(v.opcode, K(y), v.off, v.imm);
        expect(r.isConst()).toBe(true);
        expect(r.umin).toBe(runAlu(v, x, y));
        expect(r.tnum.isConst()).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('a comparison of constants leaves exactly one branch alive', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CONDS), fc.boolean(), word, word, ([, cond], is32, x, y) => {
        const taken = runJump(cond, is32, x, y);
        expect(K(x).refine(cond, K(y), is32, taken)).not.toBeNull();
        expect(K(x).refine(cond, K(y), is32, !taken)).toBeNull();
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps the facts the verifier needs from ALU operations', () => {
    expect(TOP.alu(alu64(ALU_AND), K(0xffn)).umax).toBe(255n);
    expect(TOP.alu(alu64(ALU_RSH), K(60n)).umax).toBe(15n);
    expect(TOP.alu(CLS_ALU64 | ALU_ARSH | SRC_K, K(60n)).smin).toBe(-8n);
    // A 32-bit operation clears the upper half whatever the inputs.
    const add32 = TOP.alu(alu32(ALU_ADD), K(1n));
    expect([add32.umax, add32.tnum.mask]).toEqual([M32, M32]);
    expect(K(u64(-1n)).alu(alu32(ALU_MOV), K(u64(-5n)))).toEqual(K(0xffff_fffbn));
    // A 32-bit add that cannot wrap keeps its range.
    expect(bounds(Scalar.range(10n, 20n).alu(alu32(ALU_ADD), Scalar.range(1n, 2n)))).toEqual([11n, 22n, 11n, 22n, 11n, 22n, 11n, 22n]);
    // Signed arithmetic: [-5, 5] - 10 = [-15, -5]; unsigned it wraps to the top.
    const neg = Scalar.from({ smin: -5n, smax: 5n })!.alu(alu64(ALU_SUB), K(10n));
    expect([neg.smin, neg.smax]).toEqual([-15n, -5n]);
    expect([neg.umin, neg.umax]).toEqual([u64(-15n), u64(-5n)]);
    // A shift by an amount known to be 0..3 is bounded by the largest shift.
    expect(Scalar.range(3n, 100n).alu(alu64(ALU_LSH), Scalar.range(0n, 3n)).umax).toBe(800n);
    expect(TOP.alu(alu64(ALU_LSH), TOP).isConst()).toBe(false);
    expect(Scalar.range(100n, 200n).alu(alu64(ALU_DIV), Scalar.range(2n, 4n))).toSatisfy((s: Scalar) => s.umin === 25n && s.umax === 100n);
    expect(TOP.alu(alu64(ALU_MOD), K(10n)).umax).toBe(9n);
    // Division by zero gives 0; modulo by zero leaves dst (as 32 bits for mod32).
    expect(TOP.alu(alu64(ALU_DIV), K(0n))).toEqual(K(0n));
    expect(TOP.alu(alu64(ALU_MOD), K(0n))).toEqual(TOP);
    expect(TOP.alu(alu32(ALU_MOD), K(0n)).umax).toBe(M32);
    // INT_MIN / -1 wraps back to INT_MIN.
    expect(K(1n << 63n).alu(alu64(ALU_DIV), K(M64), 1)).toEqual(K(1n << 63n));
    // Signed modulo takes the dividend's sign: [-100, -1] smod 7 is in [-6, 0].
    const smod = Scalar.from({ smin: -100n, smax: -1n })!.alu(alu64(ALU_MOD), K(7n), 1);
    expect([smod.smin, smod.smax]).toEqual([-6n, 0n]);
    // movsx: the sign of the low byte decides the upper bits.
    expect(K(0x80n).alu(alu64(ALU_MOV), K(0x80n), 8)).toEqual(K(u64(-128n)));
    const sx = TOP.alu(alu64(ALU_MOV), TOP, 8);
    expect([sx.smin, sx.smax]).toEqual([-128n, 127n]);
    expect(TOP.alu(alu64(ALU_MOV), Scalar.range(0n, 0x7fn), 16).umax).toBe(0x7fn);
    // Byte order: to-le truncates, to-be of a constant is exact, any 16-bit swap fits 16 bits.
    expect(K(0x1234_5678n).alu(CLS_ALU | ALU_END | SRC_K, TOP, 0, 16)).toEqual(K(0x5678n));
    expect(K(0x1234_5678n).alu(CLS_ALU | ALU_END | SRC_X, TOP, 0, 32)).toEqual(K(0x7856_3412n));
    expect(TOP.alu(CLS_ALU64 | ALU_END | SRC_K, TOP, 0, 16).umax).toBe(0xffffn);
    // neg of [1, 10] is [-10, -1].
    const n = Scalar.range(1n, 10n).alu(CLS_ALU64 | ALU_NEG, TOP);
    expect([n.smin, n.smax]).toEqual([-10n, -1n]);
  });

  it('keeps the views consistent with each other', () => {
    // Unsigned below the sign bit is the same signed; crossing it, signed knows nothing.
    expect(bounds(Scalar.range(0n, 100n)).slice(0, 4)).toEqual([0n, 100n, 0n, 100n]);
    const cross = Scalar.range((1n << 63n) - 1n, 1n << 63n);
    expect([cross.smin, cross.smax]).toEqual([-(1n << 63n), (1n << 63n) - 1n]);
    // The range's known high bits become known bits, and the known bits bound the range.
    expect(Scalar.range(16n, 31n).tnum).toEqual(Tnum.of(16n, 15n));
    expect(Scalar.from({ tnum: Tnum.of(0n, 0xfen), umin: 3n })!.umin).toBe(4n);
    // The low half's bound narrows the 64-bit range when the high half is fixed.
    expect(Scalar.from({ umin: 1n << 32n, umax: (2n << 32n) - 1n, u32max: 10n })!.umax).toBe((1n << 32n) + 10n);
    // A 64-bit range crossing 2^32 by a little gives a small signed low half.
    const lows = Scalar.range((1n << 32n) - 5n, (1n << 32n) + 5n);
    expect([lows.s32min, lows.s32max]).toEqual([-5n, 5n]);
    // Contradictory bounds are empty.
    expect(Scalar.from({ umin: 10n, umax: 5n })).toBeNull();
    expect(Scalar.from({ tnum: Tnum.const(4n), umin: 5n })).toBeNull();
  });

  it('refines branches the way the verifier needs', () => {
    const gt = TOP.refine(JMP_JGT, K(10n), false, true)!;
    expect(gt[0].umin).toBe(11n);
    expect(TOP.refine(JMP_JGT, K(10n), false, false)![0].umax).toBe(10n);
    expect(Scalar.range(0n, 5n).refine(JMP_JGT, K(10n), false, true)).toBeNull();
    // Both operands learn from a register comparison: x < y with y <= 100 gives x <= 99.
    const [x, y] = TOP.refine(JMP_JLT, Scalar.range(0n, 100n), false, true)!;
    expect([x.umax, y.umin]).toEqual([99n, 1n]);
    // Signed: x s> -1 means x is non-negative, so unsigned it is below 2^63.
    expect(TOP.refine(JMP_JSGT, K(M64), false, true)![0].umax).toBe((1n << 63n) - 1n);
    // 32-bit comparisons bound the low half only; the 64-bit view follows as far as it can.
    const j32 = TOP.refine(JMP_JGT, K(10n), true, true)![0];
    expect([j32.u32min, j32.umin, j32.umax]).toEqual([11n, 11n, M64]);
    const s32 = TOP.refine(JMP_JSLT, K(0n), true, true)![0];
    expect([s32.s32max, s32.u32min, s32.tnum.mask & (1n << 31n)]).toEqual([-1n, 1n << 31n, 0n]);
    // Equality makes both sides the meet; inequality with a bound's end trims it.
    expect(TOP.refine(JMP_JEQ, K(42n), false, true)![0]).toEqual(K(42n));
    expect(Scalar.range(0n, 10n).refine(JMP_JNE, K(10n), false, true)![0].umax).toBe(9n);
    expect(Scalar.range(0n, 10n).refine(JMP_JEQ, K(10n), false, false)![0].umax).toBe(9n);
    expect(K(7n).refine(JMP_JNE, K(7n), false, true)).toBeNull();
    // jset: not taken clears the tested bits; taken with one bit sets it.
    expect(TOP.refine(JMP_JSET, K(4n), false, false)![0].tnum.mask & 4n).toBe(0n);
    expect(TOP.refine(JMP_JSET, K(4n), false, true)![0].tnum.value & 4n).toBe(4n);
    expect(Scalar.range(0n, 3n).refine(JMP_JSET, K(4n), false, true)).toBeNull();
    // A JMP32 equality fixes the low half and leaves the high half alone.
    const eq32 = TOP.refine(JMP_JEQ, K(5n), true, true)![0];
    expect([eq32.u32min, eq32.u32max, eq32.tnum.mask]).toEqual([5n, 5n, M64 & ~M32]);
  });

  it('joins and compares states for pruning', () => {
    const j = K(4n).join(K(6n));
    expect([j.umin, j.umax, j.tnum]).toEqual([4n, 6n, Tnum.of(4n, 2n)]);
    expect(K(5n).isSubsetOf(Scalar.range(0n, 10n))).toBe(true);
    expect(Scalar.range(0n, 10n).isSubsetOf(K(5n))).toBe(false);
    expect(Scalar.range(0n, 10n).isSubsetOf(TOP)).toBe(true);
    expect(TOP.join(K(1n))).toEqual(TOP);
  });
});
