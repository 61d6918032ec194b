import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AsmError, assemble, disassemble, formatInsn, type AsmOptions } from '../../src/bpf/asm.ts';
import { caseProgram, parseConformance } from '../../src/bpf/conformance.ts';
import { checkInsn, decode, encode, type Insn } from '../../src/bpf/isa.ts';

const SUITE = resolve(__dirname, '../../../shared/bpf-conformance');

const I = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ opcode, dst, src, off, imm });
const hex = (u: Uint8Array): string => [...u].map((b) => b.toString(16).padStart(2, '0')).join(' ');
const bytes = (text: string): Uint8Array => Uint8Array.from(text.trim().split(/\s+/).map((b) => parseInt(b, 16)));

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Disassemble, re-assemble and compare the bytes with the original. Returns null when they are
 * identical, else a description of the difference (for a readable failure).
 */
function roundTripProblem(insns: readonly Insn[], labels: boolean): string | null {
  const want = encode(insns);
  const text = disassemble(insns, { labels });
  let got: Uint8Array;
  try {
    got = encode(assemble(text, { file: 'disasm' }));
  } catch (e) {
    return `re-assembly failed: ${(e as Error).message}\n--- text (labels: ${labels}) ---\n${text}`;
  }
  if (sameBytes(want, got)) return null;
  return `bytes differ (labels: ${labels})\n--- text ---\n${text}--- want ---\n${hex(want)}\n--- got ---\n${hex(got)}`;
}

// ---------------------------------------------------------------------------------------------
// Round trip of every conformance data file that has a program.

function dataFiles(dir: string): string[] {
  return readdirSync(join(SUITE, dir))
    .filter((f) => f.endsWith('.data'))
    .sort();
}

/** The program of a data file, or null when the format skips it or it does not assemble. */
function programOf(dir: string, file: string): Insn[] | null {
  const c = parseConformance(readFileSync(join(SUITE, dir, file), 'utf8'), file);
  if (c.skip) return null;
  try {
    return caseProgram(c);
  } catch {
    return null;
  }
}

describe('conformance data files round-trip through the disassembler', () => {
  for (const [dir, expected] of [
    ['tests', 313],
    ['negative', 47],
  ] as const) {
    const programs = dataFiles(dir)
      .map((file) => [file, programOf(dir, file)] as const)
      .filter((e): e is readonly [string, Insn[]] => e[1] !== null);

    it(`${dir}/ has ${expected} files with a program`, () => {
      expect(programs).toHaveLength(expected);
    });

    for (const [file, insns] of programs) {
      it(`${dir}/${file}`, () => {
        for (const labels of [false, true]) {
          expect(roundTripProblem(insns, labels)).toBeNull();
          // Printing the re-assembled program gives the same text again.
          const text = disassemble(insns, { labels });
          expect(disassemble(assemble(text), { labels })).toBe(text);
        }
      });
    }
  }

  it('prints the unused-field files as .insn and keeps their bytes', () => {
    const insns = programOf('negative', 'unused-call-dst.data')!;
    expect(disassemble(insns)).toBe('.insn opcode=0x85 dst=1 src=0 off=0 imm=0\nexit\n');
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests.

const reg = fc.integer({ min: 0, max: 10 });
const imm32 = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.constantFrom(0, 1, -1, 16, 32, 64, 65535, 65536, 65537, -65536, -65537, 2 ** 31 - 1, -(2 ** 31)),
);
const off16 = fc.oneof(fc.integer({ min: -32768, max: 32767 }), fc.integer({ min: -4, max: 4 }), fc.constantFrom(-32768, 32767));
const one = (a: fc.Arbitrary<Insn>): fc.Arbitrary<Insn[]> => a.map((i) => [i]);

const CLS_ALU = 0x04;
const CLS_ALU64 = 0x07;
const aluClass = fc.constantFrom(CLS_ALU, CLS_ALU64);
// add sub mul div or and lsh rsh mod xor mov arsh
const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0];
const SIZES = [0x00, 0x08, 0x10, 0x18]; // W H B DW
const ATOMIC_IMMS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1];
const JCC_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];

/** One valid instruction (one slot, or two for lddw) of every class and form. */
const validInsn: fc.Arbitrary<Insn[]> = fc.oneof(
  // ALU / ALU64, immediate and register
  one(fc.tuple(aluClass, fc.constantFrom(...ALU_OPS), reg, imm32).map(([c, op, d, k]) => I(c | op, d, 0, 0, k))),
  one(fc.tuple(aluClass, fc.constantFrom(...ALU_OPS), reg, reg).map(([c, op, d, s]) => I(c | op | 0x08, d, s))),
  // sdiv / smod
  one(fc.tuple(aluClass, fc.constantFrom(0x30, 0x90), reg, imm32).map(([c, op, d, k]) => I(c | op, d, 0, 1, k))),
  one(fc.tuple(aluClass, fc.constantFrom(0x30, 0x90), reg, reg).map(([c, op, d, s]) => I(c | op | 0x08, d, s, 1))),
  // movsx
  one(fc.tuple(reg, reg, fc.constantFrom(8, 16)).map(([d, s, w]) => I(CLS_ALU | 0xb8, d, s, w))),
  one(fc.tuple(reg, reg, fc.constantFrom(8, 16, 32)).map(([d, s, w]) => I(CLS_ALU64 | 0xb8, d, s, w))),
  // neg, byte order
  one(fc.tuple(aluClass, reg).map(([c, d]) => I(c | 0x80, d))),
  one(fc.tuple(fc.constantFrom(0xd4, 0xdc, 0xd7), reg, fc.constantFrom(16, 32, 64)).map(([op, d, w]) => I(op, d, 0, 0, w))),
  // addr_space_cast
  one(fc.tuple(reg, reg, fc.constantFrom(1, 0x10000)).map(([d, s, k]) => I(0xbf, d, s, 1, k))),
  // loads, sign-extending loads, stores
  one(fc.tuple(fc.constantFrom(...SIZES), reg, reg, off16).map(([sz, d, s, o]) => I(0x61 | sz, d, s, o))),
  one(fc.tuple(fc.constantFrom(0x00, 0x08, 0x10), reg, reg, off16).map(([sz, d, s, o]) => I(0x81 | sz, d, s, o))),
  one(fc.tuple(fc.constantFrom(...SIZES), reg, off16, imm32).map(([sz, d, o, k]) => I(0x62 | sz, d, 0, o, k))),
  one(fc.tuple(fc.constantFrom(...SIZES), reg, reg, off16).map(([sz, d, s, o]) => I(0x63 | sz, d, s, o))),
  // atomics
  one(fc.tuple(fc.constantFrom(0xc3, 0xdb), reg, reg, off16, fc.constantFrom(...ATOMIC_IMMS)).map(([op, d, s, o, k]) => I(op, d, s, o, k))),
  // conditional jumps, JMP and JMP32, immediate and register
  one(fc.tuple(fc.constantFrom(0x05, 0x06), fc.constantFrom(...JCC_OPS), reg, off16, imm32).map(([c, op, d, o, k]) => I(c | op, d, 0, o, k))),
  one(fc.tuple(fc.constantFrom(0x05, 0x06), fc.constantFrom(...JCC_OPS), reg, reg, off16).map(([c, op, d, s, o]) => I(c | op | 0x08, d, s, o))),
  // ja, ja32, may_goto
  one(off16.map((o) => I(0x05, 0, 0, o))),
  one(imm32.map((k) => I(0x06, 0, 0, 0, k))),
  one(off16.map((o) => I(0xe5, 0, 0, o))),
  // calls and exit
  one(imm32.map((k) => I(0x85, 0, 0, 0, k))),
  one(imm32.map((k) => I(0x85, 0, 1, 0, k))),
  one(fc.tuple(imm32, off16).map(([k, o]) => I(0x85, 0, 2, o, k))),
  one(reg.map((d) => I(0x8d, d))),
  one(fc.constant(I(0x95))),
  // lddw with every pseudo source. The kernel requires the second immediate to be 0 for map_fd,
  // map_idx and func; it is the map value offset for map_value / map_idx_value and the module
  // BTF fd for btf_id (0 for vmlinux).
  fc.tuple(reg, fc.constantFrom(0, 1, 2, 3, 4, 5, 6), imm32, imm32).map(([d, src, lo, hi]) => [
    I(0x18, d, src, 0, lo),
    I(0, 0, 0, 0, src === 1 || src === 4 || src === 5 ? 0 : hi),
  ]),
  // legacy packet loads
  one(fc.tuple(fc.constantFrom(0x00, 0x08, 0x10), imm32).map(([sz, k]) => I(0x20 | sz, 0, 0, 0, k))),
  one(fc.tuple(fc.constantFrom(0x00, 0x08, 0x10), reg, imm32).map(([sz, s, k]) => I(0x40 | sz, 0, s, 0, k))),
);
const validProgram = fc.array(validInsn, { minLength: 1, maxLength: 16 }).map((parts) => parts.flat());

/** Any 8-byte slot, either uniformly random or built from fields biased toward near-valid values. */
const INTERESTING_OPCODES = [
  0x04, 0x07, 0x0c, 0x0f, 0x84, 0x87, 0x8c, 0x8f, 0x34, 0x3f, 0x94, 0x9f, 0xb4, 0xb7, 0xbc, 0xbf, 0xd4, 0xd7, 0xdc, 0xdf,
  0x18, 0x20, 0x28, 0x30, 0x38, 0x40, 0x50, 0x61, 0x79, 0x81, 0x99, 0x62, 0x7a, 0x63, 0x7b, 0xc3, 0xd3, 0xdb,
  0x05, 0x06, 0x0d, 0x15, 0x1d, 0x16, 0x1e, 0x85, 0x86, 0x8d, 0x95, 0x96, 0xe5, 0xe6, 0xf5, 0x00,
];
const fieldSlot: fc.Arbitrary<Insn> = fc.record({
  opcode: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...INTERESTING_OPCODES)),
  dst: fc.oneof(fc.integer({ min: 0, max: 15 }), fc.constant(0)),
  src: fc.oneof(fc.integer({ min: 0, max: 15 }), fc.constant(0), fc.integer({ min: 0, max: 6 })),
  off: fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 }), fc.constantFrom(1, 8, 16, 32, 64), off16),
  imm: fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 }), fc.constantFrom(16, 32, 64, 0x10000, ...ATOMIC_IMMS), imm32),
});
const rawSlot: fc.Arbitrary<Insn> = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => decode(b)[0]);
const anyProgram = fc
  .array(fc.oneof({ weight: 2, arbitrary: one(rawSlot) }, { weight: 3, arbitrary: one(fieldSlot) }, { weight: 1, arbitrary: validInsn }), {
    minLength: 1,
    maxLength: 16,
  })
  .map((parts) => parts.flat());

describe('assemble(disassemble(insns)) gives back the same bytes', () => {
  // Focused cases for the lddw pair: the second slot must come back exactly, whatever it holds.
  const exit = I(0x95);
  it('for lddw btf_id with a module BTF fd in the second immediate', () => {
    const insns = [I(0x18, 1, 3, 0, 42), I(0, 0, 0, 0, 7), exit];
    expect(roundTripProblem(insns, false)).toBeNull();
  });

  it('for pseudo lddw forms whose second immediate the text does not show', () => {
    for (const src of [1, 4, 5]) {
      expect(roundTripProblem([I(0x18, 1, src, 0, 2), I(0, 0, 0, 0, 9), exit], false), `src ${src}`).toBeNull();
    }
  });

  it('for an lddw whose second slot has a non-zero opcode, register or offset', () => {
    expect(roundTripProblem([I(0x18, 0, 0, 0, 0), I(0, 0, 0, 256, 0)], false)).toBeNull();
    expect(roundTripProblem([I(0x18, 0, 0, 0, 1), I(0x07, 1, 2, 0, 5), exit], false)).toBeNull();
    expect(roundTripProblem([I(0x18, 2, 0, 0, 1), I(0, 3, 0, 0, 5), exit], true)).toBeNull();
  });

  it('for random valid instructions of every class', () => {
    fc.assert(
      fc.property(validProgram, (insns) => {
        for (const insn of insns) {
          // Every generated first slot is valid, so nothing prints as a raw .insn.
          if (insn.opcode !== 0) expect(checkInsn(insn), JSON.stringify(insn)).toBeNull();
        }
        expect(disassemble(insns)).not.toContain('.insn');
        expect(roundTripProblem(insns, false)).toBeNull();
        expect(roundTripProblem(insns, true)).toBeNull();
      }),
      { numRuns: 5000 },
    );
  });

  it('for arbitrary 8-byte slots, valid or not', () => {
    fc.assert(
      fc.property(anyProgram, (insns) => {
        expect(roundTripProblem(insns, false)).toBeNull();
        expect(roundTripProblem(insns, true)).toBeNull();
      }),
      { numRuns: 5000 },
    );
  });

  it('with annotations (slot numbers and bytes as comments)', () => {
    fc.assert(
      fc.property(validProgram, (insns) => {
        const text = disassemble(insns, { annotate: true, labels: true });
        expect(hex(encode(assemble(text)))).toBe(hex(encode(insns)));
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Syntax.

describe('assembler syntax', () => {
  it('resolves labels on their own line and before an instruction on the same line', () => {
    const insns = assemble('mov %r0, 0\nloop: add %r0, 1\njlt %r0, 3, loop\nja done\nmov %r0, 9\ndone:\nexit\n');
    expect(insns[2]).toEqual(I(0xa5, 0, 0, -2, 3)); // loop is slot 1; 1 - (2 + 1)
    expect(insns[3]).toEqual(I(0x05, 0, 0, 1)); // done is slot 5; 5 - (3 + 1)
    expect(insns).toHaveLength(6);
  });

  it('allows several labels on one slot, indentation, and a label at the end of the program', () => {
    const insns = assemble('  a:\nb: c: mov %r0, 0\n\tja a\nja end\nexit\nend:\n');
    expect(insns[1]).toEqual(I(0x05, 0, 0, -2));
    expect(insns[2]).toEqual(I(0x05, 0, 0, 1)); // end = slot 4 (one past the last)
  });

  it('counts lddw as two slots when resolving labels', () => {
    const insns = assemble('ja over\nlddw %r1, 5\nover:\nexit\n');
    expect(insns[0]).toEqual(I(0x05, 0, 0, 2));
    expect(insns).toHaveLength(4);
  });

  it('makes the first exit the implicit label exit', () => {
    const insns = assemble('jne %r1, %r0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit\n');
    expect(insns[0]).toEqual(I(0x5d, 1, 0, 1)); // slot 2, not slot 4
    // Backward references work too.
    expect(assemble('mov %r0, 0\nexit\nja exit\n')[2]).toEqual(I(0x05, 0, 0, -2));
  });

  it('resolves call local and lddw func to labels in imm', () => {
    const insns = assemble('call local f\nlddw %r1, func f\nexit\nf:\nmov %r0, 1\nexit\n');
    expect(insns[0]).toEqual(I(0x85, 0, 1, 0, 3)); // f = slot 4
    expect(insns[1]).toEqual(I(0x18, 1, 4, 0, 2));
    expect(insns[2]).toEqual(I(0, 0, 0, 0, 0));
  });

  it('reads +N / -N offsets, including the 16-bit limits and hex', () => {
    expect(assemble('ja +0')[0].off).toBe(0);
    expect(assemble('ja -1')[0].off).toBe(-1);
    expect(assemble('ja +32767')[0].off).toBe(32767);
    expect(assemble('jeq %r1, 0, -32768')[0].off).toBe(-32768);
    expect(assemble('ja +0x10')[0].off).toBe(16);
    expect(assemble('ja32 -2147483648')[0].imm).toBe(-(2 ** 31));
    expect(assemble('call local -3')[0].imm).toBe(-3);
    expect(assemble('may_goto -2')[0]).toEqual(I(0xe5, 0, 0, -2));
  });

  it('drops # comments anywhere on a line', () => {
    const insns = assemble('# header\nmov %r0, 1 # set r0\n   # indented comment\nl: # label comment\nexit#no space\n');
    expect(insns).toEqual([I(0xb7, 0, 0, 0, 1), I(0x95)]);
  });

  it('accepts CRLF line endings, with the same bytes and error positions', () => {
    const lf = 'mov %r0, 1\nja l\nl:\nexit\n';
    expect(assemble(lf.replace(/\n/g, '\r\n'))).toEqual(assemble(lf));
    expect(() => assemble('mov %r0, 1\r\nfoo %r1\r\n')).toThrow("<asm>:2:1: expected an instruction mnemonic, found 'foo'");
    expect(() => assemble('mov %r0, 1\r\nja nowhere\r\n')).toThrow("<asm>:2:4: expected a defined label, found 'nowhere'");
  });

  it('reads hex immediates as 32-bit patterns and decimal ones as signed values', () => {
    expect(assemble('mov32 %r0, 0xffffffff')[0].imm).toBe(-1);
    expect(assemble('mov %r0, 0x80000000')[0].imm).toBe(-(2 ** 31));
    expect(assemble('mov %r0, 0x7fffffff')[0].imm).toBe(2 ** 31 - 1);
    expect(assemble('jeq %r1, 0xfffffffe, +0')[0].imm).toBe(-2);
    expect(assemble('stw [%r1], 0xffffffff')[0].imm).toBe(-1);
    expect(assemble('mov %r0, 2147483647')[0].imm).toBe(2147483647);
    expect(assemble('mov %r0, -2147483648')[0].imm).toBe(-2147483648);
    expect(assemble('add32 %r0, -3')[0].imm).toBe(-3);
    expect(assemble('mov %r0, +5')[0].imm).toBe(5);
  });

  it('reads lddw values as decimal, negative, or hex, unsigned up to 2^64 - 1', () => {
    const lddw = (v: string) => {
      const [a, b] = assemble(`lddw %r0, ${v}`);
      return [a.imm, b.imm];
    };
    expect(lddw('1')).toEqual([1, 0]);
    expect(lddw('4294967296')).toEqual([0, 1]);
    expect(lddw('-1')).toEqual([-1, -1]);
    expect(lddw('-2')).toEqual([-2, -1]);
    expect(lddw('18446744073709551615')).toEqual([-1, -1]);
    expect(lddw('-9223372036854775808')).toEqual([0, -(2 ** 31)]);
    expect(lddw('0x8000000000000000')).toEqual([0, -(2 ** 31)]);
    expect(lddw('0xffffffff')).toEqual([-1, 0]);
  });

  it('reads pseudo lddw sources', () => {
    expect(assemble('lddw %r1, map_fd 7')).toEqual([I(0x18, 1, 1, 0, 7), I(0)]);
    expect(assemble('lddw %r1, map_value 7 -8')).toEqual([I(0x18, 1, 2, 0, 7), I(0, 0, 0, 0, -8)]);
    expect(assemble('lddw %r1, btf_id 99')).toEqual([I(0x18, 1, 3, 0, 99), I(0)]);
    expect(assemble('lddw %r1, map_idx 0')).toEqual([I(0x18, 1, 5, 0, 0), I(0)]);
    expect(assemble('lddw %r1, map_idx_value 2 16')).toEqual([I(0x18, 1, 6, 0, 2), I(0, 0, 0, 0, 16)]);
  });

  it('reads the call forms: helper, local, kfunc / runtime, register', () => {
    expect(assemble('call 5')).toEqual([I(0x85, 0, 0, 0, 5)]);
    expect(assemble('call helper 5')).toEqual([I(0x85, 0, 0, 0, 5)]);
    expect(assemble('call runtime 7')).toEqual([I(0x85, 0, 2, 0, 7)]);
    expect(assemble('call kfunc 7')).toEqual(assemble('call runtime 7'));
    expect(assemble('call kfunc 7 3')).toEqual([I(0x85, 0, 2, 3, 7)]);
    expect(assemble('call %r3')).toEqual([I(0x8d, 3)]);
    expect(assemble('callx %r3')).toEqual([I(0x8d, 3)]);
  });

  it('accepts width suffixes and aliases', () => {
    expect(assemble('add64 %r1, 2')).toEqual(assemble('add %r1, 2'));
    expect(assemble('jeq64 %r1, 2, +1')).toEqual(assemble('jeq %r1, 2, +1'));
    expect(assemble('ja64 +1')).toEqual(assemble('ja +1'));
    expect(assemble('gotol +1')).toEqual(assemble('ja32 +1'));
    expect(assemble('neg64 %r1')).toEqual(assemble('neg %r1'));
    expect(assemble('lock add64 [%r1], %r2')).toEqual(assemble('lock add [%r1], %r2'));
    for (const w of [16, 32, 64]) expect(assemble(`swap${w} %r1`)).toEqual(assemble(`bswap${w} %r1`));
  });

  it('sets FETCH for xchg and cmpxchg with or without the fetch keyword', () => {
    expect(assemble('lock xchg [%r1], %r2')[0].imm).toBe(0xe1);
    expect(assemble('lock fetch xchg [%r1], %r2')[0].imm).toBe(0xe1);
    expect(assemble('lock cmpxchg [%r1], %r2')[0].imm).toBe(0xf1);
    expect(assemble('lock fetch or32 [%r1+2], %r2')[0]).toEqual(I(0xc3, 1, 2, 2, 0x41));
    expect(assemble('lock xor [%r1], %r2')[0].imm).toBe(0xa0);
  });

  it('reads memory operands with or without an offset, spaces and hex offsets', () => {
    expect(assemble('ldxdw %r0, [%r1]')[0].off).toBe(0);
    expect(assemble('ldxdw %r0, [%r1 + 8]')[0].off).toBe(8);
    expect(assemble('ldxdw %r0, [%r1-0x10]')[0].off).toBe(-16);
    expect(assemble('ldxdw %r0, [%r1+32767]')[0].off).toBe(32767);
    expect(assemble('ldxdw %r0, [%r1-32768]')[0].off).toBe(-32768);
  });

  it('encodes %r11..%r15 so that bad-register programs can be written', () => {
    expect(assemble('mov %r11, 1')).toEqual([I(0xb7, 11, 0, 0, 1)]);
    expect(assemble('mov %r0, %r15')).toEqual([I(0xbf, 0, 15)]);
  });

  it('reads addr_space_cast, packet loads and the raw .insn escape', () => {
    expect(assemble('addr_space_cast %r1, %r2, 0, 1')).toEqual([I(0xbf, 1, 2, 1, 1)]);
    expect(assemble('ldabsb 3\nldindh %r2, -1')).toEqual([I(0x30, 0, 0, 0, 3), I(0x48, 0, 2, 0, -1)]);
    expect(assemble('.insn opcode=0xff dst=15 src=1 off=-1 imm=0xffffffff')).toEqual([I(0xff, 15, 1, -1, -1)]);
    expect(assemble('.insn opcode=0x95')).toEqual([I(0x95)]);
  });

  it('assembles nothing from an empty or comment-only source', () => {
    expect(assemble('')).toEqual([]);
    expect(assemble('\n# only a comment\n\n')).toEqual([]);
  });
});

describe('disassembler output', () => {
  it('prints instructions in assembler syntax, one per line', () => {
    const text = 'mov %r0, 1\nadd32 %r1, %r2\nldxw %r0, [%r1+4]\nstxdw [%r10-8], %r1\nlock fetch add [%r10-8], %r1\nlddw %r0, 0x1122334455667788\njeq %r1, 5, +3\ncall local +2\ncall kfunc 1234\ncallx %r2\nexit\n';
    expect(disassemble(assemble(text))).toBe(text);
  });

  it('prints small immediates in decimal and large ones as hex bit patterns', () => {
    expect(disassemble(assemble('mov32 %r0, 0xffffffff\nmov %r0, 65536\nmov %r0, 65537\nmov %r0, -65537\n'))).toBe(
      'mov32 %r0, -1\nmov %r0, 65536\nmov %r0, 0x10001\nmov %r0, 0xfffeffff\n',
    );
  });

  it('turns jump targets into labels L<slot> when asked', () => {
    const insns = assemble('jeq %r1, 0, +1\nmov %r0, 1\nexit\n');
    expect(disassemble(insns, { labels: true })).toBe('jeq %r1, 0, L2\nmov %r0, 1\nL2:\nexit\n');
    expect(disassemble(insns)).toBe('jeq %r1, 0, +1\nmov %r0, 1\nexit\n');
  });

  it('keeps targets outside the program or inside an lddw relative', () => {
    const insns = assemble('ja +10\nja +1\nlddw %r0, 1\nexit\n');
    expect(disassemble(insns, { labels: true })).toBe('ja +10\nja +1\nlddw %r0, 0x1\nexit\n');
  });

  it('prints invalid encodings as .insn and an lddw missing its second slot too', () => {
    expect(disassemble([I(0xff, 1, 2, -3, 4)])).toBe('.insn opcode=0xff dst=1 src=2 off=-3 imm=4\n');
    expect(disassemble([I(0x18, 0, 0, 0, 1)])).toBe('.insn opcode=0x18 dst=0 src=0 off=0 imm=1\n');
  });

  it('annotates with the slot index and bytes', () => {
    expect(disassemble(assemble('mov %r0, 1\nexit'), { annotate: true })).toBe(
      `${'mov %r0, 1'.padEnd(40)} #    0: b7 00 00 00 01 00 00 00\n${'exit'.padEnd(40)} #    1: 95 00 00 00 00 00 00 00\n`,
    );
  });

  it('disassembles hand-written bytes', () => {
    expect(disassemble(decode(bytes('db 1a f8 ff 01 00 00 00 c3 1a f8 ff f1 00 00 00 95 00 00 00 00 00 00 00')))).toBe(
      'lock fetch add [%r10-8], %r1\nlock cmpxchg32 [%r10-8], %r1\nexit\n',
    );
  });

  it('formatInsn prints one instruction with an optional label lookup', () => {
    const insns = assemble('ja +1\nexit\nexit\n');
    expect(formatInsn(insns, 0)).toBe('ja +1');
    expect(formatInsn(insns, 0, (slot) => (slot === 2 ? 'out' : undefined))).toBe('ja out');
  });
});

// ---------------------------------------------------------------------------------------------
// Errors: FILE:LINE:COL: expected ..., found ... (columns are 1-based, counted by hand).

function asmError(source: string, options: AsmOptions = { file: 'p.s' }): AsmError {
  try {
    assemble(source, options);
  } catch (e) {
    if (e instanceof AsmError) return e;
    throw e;
  }
  throw new Error(`expected an AsmError for ${JSON.stringify(source)}, but it assembled`);
}
const msg = (source: string, options?: AsmOptions): string => asmError(source, options).message;

describe('assembler errors', () => {
  it('unknown mnemonic', () => {
    expect(msg('mov %r0, 1\nldxq %r0, %r1')).toBe("p.s:2:1: expected an instruction mnemonic, found 'ldxq'");
    expect(msg('   frob')).toBe("p.s:1:4: expected an instruction mnemonic, found 'frob'");
    expect(msg('ldxsdw %r0, [%r1]')).toBe("p.s:1:1: expected an instruction mnemonic, found 'ldxsdw'");
    const e = asmError('x');
    expect([e.file, e.line, e.col, e.expected, e.found]).toEqual(['p.s', 1, 1, 'an instruction mnemonic', "'x'"]);
  });

  // `constructor` is all lower-case and the `in` operator finds it on every plain object, so the
  // mnemonic and keyword tables must not answer for it (nor for toString & co).
  it('does not take Object.prototype names for mnemonics', () => {
    expect(msg('constructor %r0, 1')).toBe("p.s:1:1: expected an instruction mnemonic, found 'constructor'");
    expect(msg('constructor32 %r0, 1')).toBe("p.s:1:1: expected an instruction mnemonic, found 'constructor32'");
  });

  it('does not take Object.prototype names for call kinds', () => {
    // Same answer as for any other unknown word.
    expect(msg('call foo 5')).toBe("p.s:1:6: expected a helper id, found 'foo 5'");
    expect(msg('call constructor 5')).toBe("p.s:1:6: expected a helper id, found 'constructor 5'");
    expect(msg('call toString 5')).toBe("p.s:1:6: expected a helper id, found 'toString 5'");
  });

  it('does not take Object.prototype names for lddw kinds', () => {
    expect(msg('lddw %r0, foo 5')).toBe("p.s:1:11: expected a 64-bit immediate, found 'foo 5'");
    expect(msg('lddw %r0, constructor 5')).toBe("p.s:1:11: expected a 64-bit immediate, found 'constructor 5'");
  });

  it('bad register', () => {
    // o r _ % r 0 , _ %  -> '%r50' starts at column 9
    expect(msg('or %r0, %r50')).toBe("p.s:1:9: expected a register %r0..%r10, found '%r50'");
    expect(msg('mov %r16, 1')).toBe("p.s:1:5: expected a register %r0..%r10, found '%r16'");
    expect(msg('mov r1, 1')).toBe("p.s:1:5: expected a register %r0..%r10, found 'r1'");
    expect(msg('ldxw %r0, [%r99+4]')).toBe("p.s:1:12: expected a register %r0..%r10, found '%r99'");
  });

  it('missing operand', () => {
    expect(msg('mov %r0')).toBe('p.s:1:4: expected 2 operands for mov, found 1');
    expect(msg('jeq %r1, 5')).toBe('p.s:1:4: expected 3 operands for jeq, found 2');
    expect(msg('lddw %r0')).toBe('p.s:1:5: expected 2 operands for lddw, found 1');
    expect(msg('neg')).toBe('p.s:1:4: expected 1 operand for neg, found 0');
    expect(msg('ja')).toBe('p.s:1:3: expected 1 operand for ja, found 0');
  });

  it('too many operands, pointing at the first extra one', () => {
    expect(msg('mov %r0, 1, 2')).toBe('p.s:1:13: expected 2 operands for mov, found 3');
    expect(msg('exit %r0')).toBe('p.s:1:6: expected 0 operands for exit, found 1');
    expect(msg('neg32 %r1, %r2')).toBe('p.s:1:12: expected 1 operand for neg32, found 2');
  });

  it('32-bit immediate out of range, decimal and hex', () => {
    expect(msg('mov32 %r0, 2147483648')).toBe("p.s:1:12: expected an immediate within 32-bit range, found '2147483648'");
    expect(msg('mov32 %r0, 0x100000000')).toBe("p.s:1:12: expected an immediate within 32-bit range, found '0x100000000'");
    expect(msg('mov %r0, -2147483649')).toBe("p.s:1:10: expected an immediate within 32-bit range, found '-2147483649'");
    expect(msg('stw [%r1], 4294967296')).toBe("p.s:1:12: expected an immediate within 32-bit range, found '4294967296'");
    expect(msg('mov %r0, five')).toBe("p.s:1:10: expected an immediate, found 'five'");
  });

  it('64-bit immediate out of range', () => {
    expect(msg('lddw %r0, 18446744073709551616')).toBe("p.s:1:11: expected a 64-bit immediate within 64-bit range, found '18446744073709551616'");
    expect(msg('lddw %r0, -9223372036854775809')).toBe("p.s:1:11: expected a 64-bit immediate within 64-bit range, found '-9223372036854775809'");
  });

  it('offset out of range', () => {
    expect(msg('ldxb %r0, [%r1+0x10000]')).toBe("p.s:1:11: expected an offset within 16-bit signed range, found '[%r1+0x10000]'");
    expect(msg('stxw [%r1-32769], %r2')).toBe("p.s:1:6: expected an offset within 16-bit signed range, found '[%r1-32769]'");
    expect(msg('ja +32768')).toBe("p.s:1:4: expected a jump offset within 16-bit range, found '+32768'");
    expect(msg('jeq %r1, 1, -32769')).toBe("p.s:1:13: expected a jump offset within 16-bit range, found '-32769'");
  });

  it('memory operand without brackets', () => {
    expect(msg('ldxb %r0, %r1')).toBe("p.s:1:11: expected a memory operand [%rN+offset], found '%r1'");
    expect(msg('stw %r1, 1')).toBe("p.s:1:5: expected a memory operand [%rN+offset], found '%r1'");
  });

  it('undefined label, reported where it is used', () => {
    expect(msg('ja NOT_A_LABEL\nexit')).toBe("p.s:1:4: expected a defined label, found 'NOT_A_LABEL'");
    expect(msg('mov %r0, 0\njeq %r0, 0, nowhere\nexit')).toBe("p.s:2:13: expected a defined label, found 'nowhere'");
    expect(msg('call local f\nexit')).toBe("p.s:1:12: expected a defined label, found 'f'");
  });

  it('duplicate label', () => {
    expect(msg('foo:\nmov %r0, 0\n  foo: exit')).toBe("p.s:3:3: expected a label not defined before, found 'foo'");
    expect(msg('a: a: exit')).toBe("p.s:1:4: expected a label not defined before, found 'a'");
  });

  it('lock without an operation, and with a missing operand', () => {
    expect(msg('lock')).toBe('p.s:1:5: expected an atomic operation (add, and, or, xor, xchg, cmpxchg), found end of line');
    expect(msg('lock sub [%r1], %r2')).toBe("p.s:1:6: expected an atomic operation (add, and, or, xor, xchg, cmpxchg), found 'sub'");
    // l o c k _ o r _ [  -> the memory operand starts at column 9
    expect(msg('lock or [%r10-8]')).toBe('p.s:1:9: expected 2 operands for lock or, found 1');
  });

  it('offsets the reported line by firstLine', () => {
    expect(msg('mov %r0, 0\n\nfoo %r1', { file: 'x.data', firstLine: 10 })).toBe("x.data:12:1: expected an instruction mnemonic, found 'foo'");
    expect(msg('ja +1\nja nowhere\nexit', { file: 'x.data', firstLine: 4 })).toBe("x.data:5:4: expected a defined label, found 'nowhere'");
    expect(msg('foo')).toMatch(/^p\.s:1:1: /);
    expect(msg('foo', {})).toBe("<asm>:1:1: expected an instruction mnemonic, found 'foo'");
  });

  it('points the column at the offending operand', () => {
    expect(msg('  jeq %r1, %r77, +1')).toBe("p.s:1:12: expected a register %r0..%r10, found '%r77'");
    expect(msg('\tmov %r0, %r99')).toBe("p.s:1:11: expected a register %r0..%r10, found '%r99'");
    expect(msg('start: mov %r0, %r99')).toBe("p.s:1:17: expected a register %r0..%r10, found '%r99'");
    expect(msg('jeq %r1,%r2,bad-label')).toBe("p.s:1:13: expected a jump target (label or +N/-N), found 'bad-label'");
  });

  it('reports the conformance suite’s assembler-error files at their line and column', () => {
    const expected: Record<string, string> = {
      'invalid_imm32_dec_range.data': "invalid_imm32_dec_range.data:5:12: expected an immediate within 32-bit range, found '2147483648'",
      'invalid_imm32_hex_range.data': "invalid_imm32_hex_range.data:5:12: expected an immediate within 32-bit range, found '0x100000000'",
      'invalid_label.data': "invalid_label.data:4:4: expected a defined label, found 'NOT_A_LABEL'",
      'invalid_lock.data': 'invalid_lock.data:4:9: expected 2 operands for lock or, found 1',
      'invalid_lock2.data': 'invalid_lock2.data:4:5: expected an atomic operation (add, and, or, xor, xchg, cmpxchg), found end of line',
      'invalid_mnemonic.data': "invalid_mnemonic.data:5:1: expected an instruction mnemonic, found 'ldxq'",
      'invalid_offset.data': "invalid_offset.data:4:11: expected a memory operand [%rN+offset], found '%r1'",
      'invalid_offset_range.data': "invalid_offset_range.data:5:11: expected an offset within 16-bit signed range, found '[%r1+0x10000]'",
      'invalid_operand_count.data': 'invalid_operand_count.data:4:5: expected 2 operands for lddw, found 1',
      'invalid_register.data': "invalid_register.data:4:9: expected a register %r0..%r10, found '%r50'",
    };
    for (const [file, message] of Object.entries(expected)) {
      const c = parseConformance(readFileSync(join(SUITE, 'negative', file), 'utf8'), file);
      expect(() => caseProgram(c), file).toThrow(message);
    }
  });
});
