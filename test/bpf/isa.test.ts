import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assemble } from '../../src/bpf/asm.ts';
import { caseProgram, parseConformance } from '../../src/bpf/conformance.ts';
import {
  DecodeError,
  INSN_SIZE,
  OP_CALL,
  OP_EXIT,
  OP_JA,
  OP_JA32,
  OP_LDDW,
  OP_MAY_GOTO,
  branchTarget,
  checkInsn,
  decode,
  encode,
  lddwImm,
  splitImm64,
  type Insn,
} from '../../src/bpf/isa.ts';

const NEGATIVE = resolve(__dirname, '../../../shared/bpf-conformance/negative');

const bytes = (text: string): Uint8Array => Uint8Array.from(text.trim().split(/\s+/).map((b) => parseInt(b, 16)));
const hex = (u: Uint8Array): string => [...u].map((b) => b.toString(16).padStart(2, '0')).join(' ');
const I = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ opcode, dst, src, off, imm });

/**
 * Encodings worked out by hand from RFC 9669 (opcode = class | op | source/size/mode, regs byte =
 * src << 4 | dst, off little-endian int16, imm little-endian int32) and the kernel extensions.
 */
const ENCODINGS: { asm: string; bytes: string; insns: Insn[] }[] = [
  { asm: 'mov %r0, 1', bytes: 'b7 00 00 00 01 00 00 00', insns: [I(0xb7, 0, 0, 0, 1)] },
  { asm: 'add32 %r1, %r2', bytes: '0c 21 00 00 00 00 00 00', insns: [I(0x0c, 1, 2)] },
  { asm: 'sub %r3, -1', bytes: '17 03 00 00 ff ff ff ff', insns: [I(0x17, 3, 0, 0, -1)] },
  { asm: 'neg32 %r5', bytes: '84 05 00 00 00 00 00 00', insns: [I(0x84, 5)] },
  { asm: 'neg %r5', bytes: '87 05 00 00 00 00 00 00', insns: [I(0x87, 5)] },
  { asm: 'sdiv %r0, %r1', bytes: '3f 10 01 00 00 00 00 00', insns: [I(0x3f, 0, 1, 1)] },
  { asm: 'smod32 %r2, 7', bytes: '94 02 01 00 07 00 00 00', insns: [I(0x94, 2, 0, 1, 7)] },
  { asm: 'movsx864 %r0, %r1', bytes: 'bf 10 08 00 00 00 00 00', insns: [I(0xbf, 0, 1, 8)] },
  { asm: 'movsx1632 %r3, %r4', bytes: 'bc 43 10 00 00 00 00 00', insns: [I(0xbc, 3, 4, 16)] },
  { asm: 'bswap16 %r0', bytes: 'd7 00 00 00 10 00 00 00', insns: [I(0xd7, 0, 0, 0, 16)] },
  { asm: 'be32 %r0', bytes: 'dc 00 00 00 20 00 00 00', insns: [I(0xdc, 0, 0, 0, 32)] },
  { asm: 'le16 %r2', bytes: 'd4 02 00 00 10 00 00 00', insns: [I(0xd4, 2, 0, 0, 16)] },
  { asm: 'addr_space_cast %r1, %r2, 1, 0', bytes: 'bf 21 01 00 00 00 01 00', insns: [I(0xbf, 1, 2, 1, 0x10000)] },
  { asm: 'ldxw %r0, [%r1+4]', bytes: '61 10 04 00 00 00 00 00', insns: [I(0x61, 0, 1, 4)] },
  { asm: 'ldxsb %r2, [%r3-1]', bytes: '91 32 ff ff 00 00 00 00', insns: [I(0x91, 2, 3, -1)] },
  { asm: 'ldxsh %r2, [%r3]', bytes: '89 32 00 00 00 00 00 00', insns: [I(0x89, 2, 3)] },
  { asm: 'ldxsw %r0, [%r1+2]', bytes: '81 10 02 00 00 00 00 00', insns: [I(0x81, 0, 1, 2)] },
  { asm: 'stw [%r1+2], 0x12345678', bytes: '62 01 02 00 78 56 34 12', insns: [I(0x62, 1, 0, 2, 0x12345678)] },
  { asm: 'stb [%r10-1], 1', bytes: '72 0a ff ff 01 00 00 00', insns: [I(0x72, 10, 0, -1, 1)] },
  { asm: 'stxdw [%r10-8], %r1', bytes: '7b 1a f8 ff 00 00 00 00', insns: [I(0x7b, 10, 1, -8)] },
  { asm: 'stxh [%r1+6], %r2', bytes: '6b 21 06 00 00 00 00 00', insns: [I(0x6b, 1, 2, 6)] },
  { asm: 'ldabsw 4', bytes: '20 00 00 00 04 00 00 00', insns: [I(0x20, 0, 0, 0, 4)] },
  { asm: 'ldindb %r1, 2', bytes: '50 10 00 00 02 00 00 00', insns: [I(0x50, 0, 1, 0, 2)] },
  {
    asm: 'lddw %r0, 0x1122334455667788',
    bytes: '18 00 00 00 88 77 66 55  00 00 00 00 44 33 22 11',
    insns: [I(0x18, 0, 0, 0, 0x55667788), I(0, 0, 0, 0, 0x11223344)],
  },
  { asm: 'lddw %r1, map_fd 3', bytes: '18 11 00 00 03 00 00 00  00 00 00 00 00 00 00 00', insns: [I(0x18, 1, 1, 0, 3), I(0)] },
  {
    asm: 'lddw %r2, map_value 3 16',
    bytes: '18 22 00 00 03 00 00 00  00 00 00 00 10 00 00 00',
    insns: [I(0x18, 2, 2, 0, 3), I(0, 0, 0, 0, 16)],
  },
  { asm: 'lock fetch add [%r10-8], %r1', bytes: 'db 1a f8 ff 01 00 00 00', insns: [I(0xdb, 10, 1, -8, 1)] },
  { asm: 'lock add32 [%r1+4], %r2', bytes: 'c3 21 04 00 00 00 00 00', insns: [I(0xc3, 1, 2, 4, 0)] },
  { asm: 'lock cmpxchg32 [%r10-8], %r1', bytes: 'c3 1a f8 ff f1 00 00 00', insns: [I(0xc3, 10, 1, -8, 0xf1)] },
  { asm: 'lock xchg [%r1], %r2', bytes: 'db 21 00 00 e1 00 00 00', insns: [I(0xdb, 1, 2, 0, 0xe1)] },
  { asm: 'jeq %r1, 5, +3', bytes: '15 01 03 00 05 00 00 00', insns: [I(0x15, 1, 0, 3, 5)] },
  { asm: 'jne32 %r1, %r2, -1', bytes: '5e 21 ff ff 00 00 00 00', insns: [I(0x5e, 1, 2, -1)] },
  { asm: 'jsle %r9, -2, +0', bytes: 'd5 09 00 00 fe ff ff ff', insns: [I(0xd5, 9, 0, 0, -2)] },
  { asm: 'ja +2', bytes: '05 00 02 00 00 00 00 00', insns: [I(0x05, 0, 0, 2)] },
  { asm: 'ja32 +1', bytes: '06 00 00 00 01 00 00 00', insns: [I(0x06, 0, 0, 0, 1)] },
  { asm: 'may_goto +3', bytes: 'e5 00 03 00 00 00 00 00', insns: [I(0xe5, 0, 0, 3)] },
  { asm: 'call 5', bytes: '85 00 00 00 05 00 00 00', insns: [I(0x85, 0, 0, 0, 5)] },
  { asm: 'call local +2', bytes: '85 10 00 00 02 00 00 00', insns: [I(0x85, 0, 1, 0, 2)] },
  { asm: 'call kfunc 1234', bytes: '85 20 00 00 d2 04 00 00', insns: [I(0x85, 0, 2, 0, 1234)] },
  { asm: 'callx %r2', bytes: '8d 02 00 00 00 00 00 00', insns: [I(0x8d, 2)] },
  { asm: 'exit', bytes: '95 00 00 00 00 00 00 00', insns: [I(0x95)] },
];

describe('hand-checked encodings (RFC 9669 and kernel extensions)', () => {
  for (const e of ENCODINGS) {
    it(`${e.asm} = ${e.bytes.replace(/\s+/g, ' ')}`, () => {
      expect(decode(bytes(e.bytes))).toEqual(e.insns);
      expect(hex(encode(e.insns))).toBe(hex(bytes(e.bytes)));
      // The assembler agrees with the hand encoding.
      expect(assemble(e.asm)).toEqual(e.insns);
      for (const insn of e.insns.slice(0, 1)) expect(checkInsn(insn), e.asm).toBeNull();
    });
  }

  it('uses the opcode constants the RFC names', () => {
    expect([OP_LDDW, OP_CALL, OP_EXIT, OP_JA, OP_JA32, OP_MAY_GOTO]).toEqual([0x18, 0x85, 0x95, 0x05, 0x06, 0xe5]);
  });
});

describe('decode and encode', () => {
  it('round-trip any byte string of whole slots exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 32 }).chain((n) => fc.uint8Array({ minLength: n * 8, maxLength: n * 8 })), (raw) => {
        const insns = decode(raw);
        expect(insns).toHaveLength(raw.length / INSN_SIZE);
        expect(encode(insns)).toEqual(raw);
      }),
      { numRuns: 2000 },
    );
  });

  it('produce fields in range: 8-bit opcode, 4-bit registers, signed off and imm', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (raw) => {
        const [insn] = decode(raw);
        expect(insn.opcode).toBe(raw[0]);
        expect(insn.dst).toBe(raw[1] & 0x0f);
        expect(insn.src).toBe(raw[1] >> 4);
        expect(insn.off).toBe(((raw[2] | (raw[3] << 8)) << 16) >> 16);
        expect(insn.imm).toBe(raw[4] | (raw[5] << 8) | (raw[6] << 16) | (raw[7] << 24));
      }),
      { numRuns: 500 },
    );
  });

  it('reads a view at a non-zero byte offset of a larger buffer', () => {
    const buf = new Uint8Array(3 + 16);
    buf.set(bytes('b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00'), 3);
    expect(decode(buf.subarray(3))).toEqual([I(0xb7, 0, 0, 0, 42), I(0x95)]);
  });

  it('decodes an empty program to no slots', () => {
    expect(decode(new Uint8Array(0))).toEqual([]);
    expect(encode([])).toEqual(new Uint8Array(0));
  });

  it('encodes negative off and imm as two’s complement', () => {
    expect(hex(encode([I(0x07, 0, 0, -32768, -(2 ** 31))]))).toBe('07 00 00 80 00 00 00 80');
  });

  it('rejects a byte length that is not a multiple of 8 with DecodeError', () => {
    for (const n of [1, 7, 9, 13, 15]) {
      let err: unknown;
      try {
        decode(new Uint8Array(n));
      } catch (e) {
        err = e;
      }
      expect(err, `${n} bytes`).toBeInstanceOf(DecodeError);
      expect((err as DecodeError).message).toBe(`program is ${n} bytes, expected a multiple of 8`);
      expect((err as DecodeError).offset).toBe(n - (n % 8));
    }
  });
});

describe('64-bit immediates and branch targets', () => {
  it('splitImm64 and lddwImm are inverse', () => {
    expect(splitImm64(0x1122334455667788n)).toEqual([0x55667788, 0x11223344]);
    expect(splitImm64(-1n)).toEqual([-1, -1]);
    expect(splitImm64(1n << 63n)).toEqual([0, -(2 ** 31)]);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const [lo, hi] = splitImm64(v);
        expect(lddwImm([I(OP_LDDW, 0, 0, 0, lo), I(0, 0, 0, 0, hi)], 0)).toBe(v);
        // Negative values name the same 64-bit pattern.
        expect(splitImm64(v - (1n << 64n))).toEqual([lo, hi]);
      }),
      { numRuns: 300 },
    );
  });

  it('branchTarget follows jumps, ja32, may_goto, call local and lddw func', () => {
    expect(branchTarget(I(0x15, 1, 0, 3, 5), 10)).toBe(14);
    expect(branchTarget(I(0x5e, 1, 2, -1), 10)).toBe(10);
    expect(branchTarget(I(OP_JA, 0, 0, -11), 10)).toBe(0);
    expect(branchTarget(I(OP_JA32, 0, 0, 0, 100), 10)).toBe(111);
    expect(branchTarget(I(OP_MAY_GOTO, 0, 0, 2), 0)).toBe(3);
    expect(branchTarget(I(OP_CALL, 0, 1, 0, -3), 5)).toBe(3);
    expect(branchTarget(I(OP_LDDW, 1, 4, 0, 7), 2)).toBe(10);
    expect(branchTarget(I(OP_CALL, 0, 0, 0, 5), 5)).toBeNull();
    expect(branchTarget(I(OP_CALL, 0, 2, 0, 5), 5)).toBeNull();
    expect(branchTarget(I(0x8d, 2), 5)).toBeNull();
    expect(branchTarget(I(OP_EXIT), 5)).toBeNull();
    expect(branchTarget(I(OP_LDDW, 1, 1, 0, 7), 2)).toBeNull();
    expect(branchTarget(I(0xb7, 0, 0, 0, 1), 0)).toBeNull();
  });
});

describe('checkInsn', () => {
  const VALID: [string, Insn][] = [
    ['mov %r0, 1', I(0xb7, 0, 0, 0, 1)],
    ['add32 %r1, %r2', I(0x0c, 1, 2)],
    ['mov %r10, %r0 (the ISA does not know r10 is read-only)', I(0xbf, 10, 0)],
    ['div %r1, 0 (division by an immediate zero is an encoding)', I(0x37, 1, 0, 0, 0)],
    ['sdiv32 %r1, -3', I(0x34, 1, 0, 1, -3)],
    ['smod %r1, %r2', I(0x9f, 1, 2, 1)],
    ['neg %r3', I(0x87, 3)],
    ['movsx832 %r1, %r2', I(0xbc, 1, 2, 8)],
    ['movsx3264 %r1, %r2', I(0xbf, 1, 2, 32)],
    ['addr_space_cast %r1, %r2, 0, 1', I(0xbf, 1, 2, 1, 1)],
    ['addr_space_cast %r1, %r2, 1, 0', I(0xbf, 1, 2, 1, 0x10000)],
    ['le64 %r1', I(0xd4, 1, 0, 0, 64)],
    ['be16 %r1', I(0xdc, 1, 0, 0, 16)],
    ['bswap32 %r1', I(0xd7, 1, 0, 0, 32)],
    ['ldxdw %r1, [%r10-8]', I(0x79, 1, 10, -8)],
    ['ldxsh %r1, [%r2+2]', I(0x89, 1, 2, 2)],
    ['stdw [%r10-8], -1', I(0x7a, 10, 0, -8, -1)],
    ['stxb [%r1], %r2', I(0x73, 1, 2)],
    ['lock fetch or32 [%r1], %r2', I(0xc3, 1, 2, 0, 0x41)],
    ['lock and [%r1], %r2', I(0xdb, 1, 2, 0, 0x50)],
    ['lock fetch xor [%r1], %r2', I(0xdb, 1, 2, 0, 0xa1)],
    ['lock xchg32 [%r1], %r2', I(0xc3, 1, 2, 0, 0xe1)],
    ['lock cmpxchg [%r1], %r2', I(0xdb, 1, 2, 0, 0xf1)],
    ['lddw %r1, 0 (first slot)', I(0x18, 1, 0, 0, 0)],
    ['lddw %r1, map_idx_value (first slot)', I(0x18, 1, 6, 0, 0)],
    ['ldabsh 12', I(0x28, 0, 0, 0, 12)],
    ['ldindw %r3, -4', I(0x40, 0, 3, 0, -4)],
    ['jset %r1, 0xff, +1', I(0x45, 1, 0, 1, 0xff)],
    ['jslt32 %r1, %r2, -4', I(0xce, 1, 2, -4)],
    ['ja -1', I(0x05, 0, 0, -1)],
    ['ja32 -100000', I(0x06, 0, 0, 0, -100000)],
    ['may_goto +1', I(0xe5, 0, 0, 1)],
    ['call 1', I(0x85, 0, 0, 0, 1)],
    ['call local -5', I(0x85, 0, 1, 0, -5)],
    ['call kfunc 1234 2 (off names the BTF object)', I(0x85, 0, 2, 2, 1234)],
    ['callx %r2', I(0x8d, 2)],
    ['exit', I(0x95)],
  ];
  for (const [what, insn] of VALID) {
    it(`accepts ${what}`, () => expect(checkInsn(insn)).toBeNull());
  }

  const INVALID: [string, Insn][] = [
    ['unknown opcode 0xff', I(0xff)],
    ['unknown ALU op 0xe7', I(0xe7)],
    ['neg with a register source (0x8c)', I(0x8c, 1, 2)],
    ['neg64 with a register source (0x8f)', I(0x8f, 1, 2)],
    ['exit in the JMP32 class (0x96)', I(0x96)],
    ['exit with a register source (0x9d)', I(0x9d)],
    ['destination register r11', I(0xb7, 11, 0, 0, 1)],
    ['destination register r15', I(0xb7, 15)],
    ['source register r11', I(0xbf, 0, 11)],
    ['lddw with src 7', I(0x18, 0, 7, 0, 0)],
    ['lddw with off 1', I(0x18, 0, 0, 1, 0)],
    ['lddw with r11', I(0x18, 11, 0, 0, 0)],
    ['atomic with imm 0x02', I(0xdb, 1, 2, 0, 0x02)],
    ['xchg without FETCH (0xe0)', I(0xdb, 1, 2, 0, 0xe0)],
    ['cmpxchg without FETCH (0xf0)', I(0xc3, 1, 2, 0, 0xf0)],
    ['atomic on a byte (0xd3)', I(0xd3, 1, 2, 0, 0)],
    ['atomic on a half word (0xcb)', I(0xcb, 1, 2, 0, 0)],
    ['byte swap width 8', I(0xd4, 0, 0, 0, 8)],
    ['byte swap width 0', I(0xd7, 0, 0, 0, 0)],
    ['ALU64 END with a register source (0xdf)', I(0xdf, 0, 0, 0, 16)],
    ['byte swap with off set', I(0xdc, 0, 0, 1, 16)],
    ['movsx with off 32 in the 32-bit class', I(0xbc, 0, 1, 32)],
    ['movsx with off 64', I(0xbf, 0, 1, 64)],
    ['mov32 with off 1 (addr_space_cast is 64-bit only)', I(0xbc, 0, 1, 1, 1)],
    ['addr_space_cast with imm 2', I(0xbf, 0, 1, 1, 2)],
    ['mov imm with off set', I(0xb7, 0, 0, 8, 1)],
    ['div with off 2', I(0x3f, 0, 1, 2)],
    ['add with off set', I(0x07, 0, 0, 1, 1)],
    ['add reg with imm set', I(0x0f, 0, 1, 0, 1)],
    ['add imm with src set', I(0x07, 0, 1, 0, 1)],
    ['ldxsdw (MEMSX with DW size, 0x99)', I(0x99, 0, 1)],
    ['ldx in ABS mode (0x21)', I(0x21, 0, 1)],
    ['ldxw with imm set', I(0x61, 0, 1, 0, 1)],
    ['st with src set', I(0x62, 1, 2, 0, 1)],
    ['st in ATOMIC mode (0xc2)', I(0xc2, 1, 0, 0, 0)],
    ['stx with imm set', I(0x63, 1, 2, 0, 1)],
    ['ldabsdw (0x38)', I(0x38, 0, 0, 0, 1)],
    ['ldabs with dst set', I(0x20, 1, 0, 0, 1)],
    ['ldind with off set', I(0x40, 0, 1, 1, 1)],
    ['LD in MEM mode (0x60)', I(0x60)],
    ['ja with a register source (0x0d)', I(0x0d)],
    ['ja with imm set', I(0x05, 0, 0, 1, 1)],
    ['ja32 with off set', I(0x06, 0, 0, 1, 1)],
    ['jeq imm with src set', I(0x15, 1, 2, 0, 1)],
    ['jeq reg with imm set', I(0x1d, 1, 2, 0, 1)],
    ['jump op 0xf0', I(0xf5, 1, 0, 0, 1)],
    ['call in the JMP32 class (0x86)', I(0x86, 0, 0, 0, 1)],
    ['call with src 3', I(0x85, 0, 3, 0, 1)],
    ['call helper with dst set', I(0x85, 1, 0, 0, 1)],
    ['call local with off set', I(0x85, 0, 1, 1, 1)],
    ['callx with imm set', I(0x8d, 1, 0, 0, 1)],
    ['may_goto in the JMP32 class (0xe6)', I(0xe6)],
    ['may_goto with imm set', I(0xe5, 0, 0, 1, 1)],
    ['exit with imm set', I(0x95, 0, 0, 0, 1)],
  ];
  for (const [what, insn] of INVALID) {
    it(`rejects ${what}`, () => {
      const reason = checkInsn(insn);
      expect(reason).toBeTypeOf('string');
      expect(reason).not.toBe('');
    });
  }

  it('gives reasons that name the problem', () => {
    expect(checkInsn(I(0xff))).toBe('unknown opcode 0xff');
    expect(checkInsn(I(0xb7, 11, 0, 0, 1))).toBe('invalid destination register r11');
    expect(checkInsn(I(0xbf, 0, 11))).toBe('invalid source register r11');
    expect(checkInsn(I(0x18, 0, 7))).toBe('lddw source must be 0..6, found 7');
    expect(checkInsn(I(0xd4, 0, 0, 0, 8))).toBe('byte swap width must be 16, 32 or 64, found 8');
    expect(checkInsn(I(0xdb, 1, 2, 0, 2))).toBe('unknown atomic operation 0x2');
    expect(checkInsn(I(0x95, 1))).toBe('dst must be 0 for opcode 0x95, found 1');
  });

  const unused = readdirSync(NEGATIVE)
    .filter((f) => f.startsWith('unused-') && f.endsWith('.data'))
    .sort();

  it('finds the 45 negative/unused-*.data files', () => {
    expect(unused).toHaveLength(45);
  });

  for (const file of unused) {
    it(`rejects the first instruction of negative/${file}`, () => {
      const c = parseConformance(readFileSync(join(NEGATIVE, file), 'utf8'), file);
      const program = caseProgram(c);
      // One instruction with a stray non-zero field, then exit.
      expect(program).toHaveLength(2);
      expect(program[1]).toEqual(I(OP_EXIT));
      expect(checkInsn(program[1])).toBeNull();
      expect(checkInsn(program[0])).toMatch(/\S/);
      // The file names the offending field; clearing it leaves a valid instruction.
      const field = { offset: 'off', src: 'src', dst: 'dst', imm: 'imm' }[file.replace(/\.data$/, '').split('-').pop()!] as keyof Insn;
      expect(field, file).toBeDefined();
      expect(program[0][field]).not.toBe(0);
      expect(checkInsn({ ...program[0], [field]: 0 })).toBeNull();
    });
  }
});
