/**
 * Unit tests for the reference interpreter, one describe block per instruction class.
 *
 * Every expected value below was worked out by hand from RFC 9669 (and, for may_goto and the
 * legacy packet loads the RFC leaves open, from the kernel's behaviour) — never copied from a run.
 * Hex constants are written in full so a reader can check them; a comment says how a value was
 * derived when that is not obvious. Notation in comments: sext = sign-extend, zext = zero-extend,
 * lo32 = low 32 bits.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/bpf/asm.ts';
import { helperTable, type HelperResult } from '../../src/bpf/helpers.ts';
import { BpfRuntimeError, Interpreter, type InterpOptions, type RunResult } from '../../src/bpf/interp.ts';
import { AddressSpace } from '../../src/bpf/memory.ts';

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

interface RunOpts extends InterpOptions {
  /** r1..r5 at entry. */
  args?: readonly bigint[];
  mem?: AddressSpace;
}

/** Assemble `src` and run it; returns r0 and the instruction count. */
function exec(src: string, opts: RunOpts = {}): RunResult {
  const { args = [], mem = new AddressSpace(), ...options } = opts;
  return new Interpreter(assemble(src), mem, options).run(args);
}

/** Assemble and run; returns r0 (an unsigned 64-bit bigint). */
function run(src: string, opts: RunOpts = {}): bigint {
  return exec(src, opts).r0;
}

/** A compact program: `;` separates instructions and `exit` is appended. */
function prog(body: string): string {
  return `${body.split(';').map((s) => s.trim()).join('\n')}\nexit\n`;
}

/** Runs the program, expecting it to fault, and returns the error. */
function fault(src: string, opts: RunOpts = {}): BpfRuntimeError {
  try {
    exec(src, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(BpfRuntimeError);
    return e as BpfRuntimeError;
  }
  throw new Error('expected a BpfRuntimeError, but the program ran to completion');
}

/** One `it` per [program body, expected r0] row. */
function cases(rows: ReadonlyArray<readonly [string, bigint]>): void {
  for (const [body, want] of rows) {
    it(`${body}  =>  0x${want.toString(16)}`, () => {
      expect(run(prog(body))).toBe(want);
    });
  }
}

/** Sign-extend a 32-bit immediate to the unsigned 64-bit register value it stands for. */
const sext = (imm: number): bigint => BigInt.asUintN(64, BigInt(imm));

/** A helper (id 1) that records its r1 and returns 0, to observe registers mid-program. */
function recorder(): { seen: bigint[]; helpers: ReturnType<typeof helperTable> } {
  const seen: bigint[] = [];
  const helpers = helperTable([
    {
      id: 1,
      name: 'record',
      fn: (c) => {
        seen.push(c.u64(1));
        return 0;
      },
    },
  ]);
  return { seen, helpers };
}

// ---------------------------------------------------------------------------------------------
// ALU64 and ALU32
// ---------------------------------------------------------------------------------------------

describe('ALU64 / ALU32 arithmetic', () => {
  describe('add', () => {
    cases([
      ['mov %r0, 3; add %r0, 4', 7n],
      ['mov %r0, 3; add %r0, -4', 0xffffffffffffffffn], // 3 + sext(-4) = -1 mod 2^64
      ['lddw %r0, 0x7fffffffffffffff; add %r0, 1', 0x8000000000000000n],
      ['lddw %r0, 0xffffffffffffffff; mov %r1, 2; add %r0, %r1', 1n], // 2^64 - 1 + 2 wraps to 1
      ['lddw %r0, 0x00000000ffffffff; mov %r1, 1; add %r0, %r1', 0x100000000n], // carries into the upper half
    ]);
  });
  describe('add32', () => {
    cases([
      ['mov %r0, 3; add32 %r0, 4', 7n],
      ['mov %r0, 3; add32 %r0, -4', 0xffffffffn], // -1 as 32 bits, zext
      ['lddw %r0, 0x00000001ffffffff; add32 %r0, 1', 0n], // lo32 0xffffffff + 1 wraps at 2^32; upper cleared
      ['lddw %r0, 0xaaaaaaaa00000005; lddw %r1, 0x5555555500000007; add32 %r0, %r1', 12n], // 5 + 7
      ['mov32 %r0, -1; mov %r1, 1; add32 %r0, %r1', 0n],
    ]);
  });

  describe('sub', () => {
    cases([
      ['mov %r0, 3; sub %r0, 5', 0xfffffffffffffffen], // -2
      ['mov %r0, 3; sub %r0, -5', 8n],
      ['mov %r0, 0; mov %r1, 1; sub %r0, %r1', 0xffffffffffffffffn],
      ['lddw %r0, 0x100000000; mov %r1, 1; sub %r0, %r1', 0xffffffffn], // borrows from the upper half
    ]);
  });
  describe('sub32', () => {
    cases([
      ['mov %r0, 3; sub32 %r0, 5', 0xfffffffen], // -2 as 32 bits
      ['mov %r0, 3; sub32 %r0, -5', 8n],
      ['lddw %r0, 0x100000000; sub32 %r0, 1', 0xffffffffn], // lo32 0 - 1; no borrow from the upper half
      ['lddw %r0, 0x100000005; mov %r1, 7; sub32 %r0, %r1', 0xfffffffen], // 5 - 7
    ]);
  });

  describe('mul', () => {
    cases([
      ['mov %r0, 6; mul %r0, 7', 42n],
      ['mov %r0, 6; mul %r0, -7', 0xffffffffffffffd6n], // -42 = 2^64 - 0x2a
      ['lddw %r0, 0x100000001; mov %r1, %r0; mul %r0, %r1', 0x200000001n], // (2^32+1)^2 = 2^64 + 2^33 + 1
      ['lddw %r0, 0x8000000000000000; mul %r0, -1', 0x8000000000000000n], // -2^63 * -1 = 2^63 wraps to itself
      ['mov %r0, -1; mov %r1, -1; mul %r0, %r1', 1n],
    ]);
  });
  describe('mul32', () => {
    cases([
      ['mov %r0, 0x10000; mul32 %r0, 0x10000', 0n], // 2^32 wraps to 0
      ['lddw %r0, 0xffffffff00000003; mul32 %r0, -2', 0xfffffffan], // 3 * 0xfffffffe = 0x2_fffffffa
      ['lddw %r0, 0x123456789; mov %r1, 16; mul32 %r0, %r1', 0x34567890n], // 0x23456789 * 16 = 0x2_34567890
      ['mov32 %r0, 0x80000000; mov %r1, -1; mul32 %r0, %r1', 0x80000000n], // INT_MIN32 * -1 wraps to INT_MIN32
    ]);
  });

  describe('div (unsigned)', () => {
    cases([
      ['mov %r0, 13; div %r0, 4', 3n],
      ['mov %r0, 13; div %r0, 0', 0n], // x / 0 = 0
      ['mov %r0, 13; mov %r1, 0; div %r0, %r1', 0n],
      ['lddw %r0, 0xffffffffffffffff; mov %r1, 2; div %r0, %r1', 0x7fffffffffffffffn],
      ['mov %r0, -8; mov %r1, 2; div %r0, %r1', 0x7ffffffffffffffcn], // (2^64 - 8) / 2 = 2^63 - 4
      // The imm is sign-extended to 2^64-1 first, then the division is unsigned; dividend < divisor.
      // (A zero-extended imm would give 0xffffffff00000000 / 0xffffffff = 2^32.)
      ['lddw %r0, 0xffffffff00000000; div %r0, -1', 0n],
      ['mov %r0, -1; div %r0, -1', 1n], // (2^64-1) / (2^64-1)
      ['mov %r0, -1; div %r0, -2', 1n], // (2^64-1) / (2^64-2)
      ['mov %r0, 10; div %r0, -2', 0n],
    ]);
  });
  describe('div32 (unsigned)', () => {
    cases([
      ['lddw %r0, 0x100000010; div32 %r0, 4', 4n], // lo32 0x10 / 4
      ['mov32 %r0, -1; div32 %r0, -1', 1n], // 0xffffffff / 0xffffffff
      ['mov %r0, 7; div32 %r0, -1', 0n], // 7 / 0xffffffff
      ['mov %r0, -8; div32 %r0, 2', 0x7ffffffcn], // 0xfffffff8 / 2, unsigned
      ['lddw %r0, 0x100000007; div32 %r0, 0', 0n],
      ['mov %r0, 7; mov %r1, 0; div32 %r0, %r1', 0n],
      ['mov %r0, 12; lddw %r1, 0x100000003; div32 %r0, %r1', 4n], // divisor truncated to 3
      ['mov %r0, 12; lddw %r1, 0x100000000; div32 %r0, %r1', 0n], // divisor truncates to 0 => 0
    ]);
  });

  describe('sdiv (truncates toward zero)', () => {
    cases([
      ['mov %r0, 7; sdiv %r0, 2', 3n],
      ['mov %r0, -7; sdiv %r0, 2', 0xfffffffffffffffdn], // -3
      ['mov %r0, 7; sdiv %r0, -2', 0xfffffffffffffffdn], // -3
      ['mov %r0, -7; sdiv %r0, -2', 3n],
      ['mov %r0, -7; mov %r1, 2; sdiv %r0, %r1', 0xfffffffffffffffdn],
      ['mov %r0, 7; mov %r1, -2; sdiv %r0, %r1', 0xfffffffffffffffdn],
      ['mov %r0, -7; mov %r1, -2; sdiv %r0, %r1', 3n],
      ['lddw %r0, 0x8000000000000000; sdiv %r0, -1', 0x8000000000000000n], // INT_MIN / -1 = INT_MIN
      ['lddw %r0, 0x8000000000000000; mov %r1, -1; sdiv %r0, %r1', 0x8000000000000000n],
      ['mov %r0, -7; sdiv %r0, 0', 0n],
      ['mov %r0, -7; mov %r1, 0; sdiv %r0, %r1', 0n],
      ['mov32 %r0, -8; sdiv %r0, 2', 0x7ffffffcn], // r0 = 0x00000000fffffff8 is positive in 64 bits
    ]);
  });
  describe('sdiv32', () => {
    cases([
      ['mov32 %r0, -7; sdiv32 %r0, 2', 0xfffffffdn], // -3 as 32 bits
      ['mov %r0, 7; sdiv32 %r0, -2', 0xfffffffdn],
      ['mov32 %r0, -7; sdiv32 %r0, -2', 3n],
      ['mov %r0, -7; mov %r1, 2; sdiv32 %r0, %r1', 0xfffffffdn],
      ['mov %r0, 7; mov %r1, -2; sdiv32 %r0, %r1', 0xfffffffdn],
      ['mov %r0, -7; mov %r1, -2; sdiv32 %r0, %r1', 3n],
      ['lddw %r0, 0x00000001fffffff9; sdiv32 %r0, 2', 0xfffffffdn], // lo32 0xfffffff9 = -7
      ['mov %r0, 7; lddw %r1, 0xffffffff00000002; sdiv32 %r0, %r1', 3n], // divisor lo32 = 2
      ['mov32 %r0, 0x80000000; sdiv32 %r0, -1', 0x80000000n], // INT_MIN32 / -1 = INT_MIN32
      ['mov32 %r0, 0x80000000; mov %r1, -1; sdiv32 %r0, %r1', 0x80000000n],
      ['mov %r0, -7; sdiv32 %r0, 0', 0n],
      ['mov %r0, -7; mov %r1, 0; sdiv32 %r0, %r1', 0n],
    ]);
  });

  describe('mod (unsigned)', () => {
    cases([
      ['mov %r0, 13; mod %r0, 4', 1n],
      ['mov %r0, 13; mod %r0, 0', 13n], // x % 0 = x
      ['lddw %r0, 0x123456789abcdef0; mov %r1, 0; mod %r0, %r1', 0x123456789abcdef0n],
      ['lddw %r0, 0xffffffffffffffff; mov %r1, 10; mod %r0, %r1', 5n], // 18446744073709551615 % 10
      ['mov %r0, -1; mod %r0, -2', 1n], // (2^64-1) % (2^64-2)
      // sext(-1) = 2^64-1 exceeds the dividend, so it is unchanged (zext would give 0).
      ['lddw %r0, 0xffffffff00000000; mod %r0, -1', 0xffffffff00000000n],
    ]);
  });
  describe('mod32 (unsigned)', () => {
    cases([
      ['mov %r0, 13; mod32 %r0, 4', 1n],
      ['lddw %r0, 0x100000007; mod32 %r0, 0', 7n], // unchanged but truncated to 32 bits
      ['lddw %r0, 0xffffffffffffffff; mov %r1, 0; mod32 %r0, %r1', 0xffffffffn],
      ['mov %r0, 13; lddw %r1, 0x100000000; mod32 %r0, %r1', 13n], // divisor lo32 = 0
      ['mov %r0, -1; mod32 %r0, -2', 1n], // 0xffffffff % 0xfffffffe
      ['lddw %r0, 0x50000000d; lddw %r1, 0x300000004; mod32 %r0, %r1', 1n], // 13 % 4
    ]);
  });

  describe('smod (result takes the sign of the dividend)', () => {
    cases([
      ['mov %r0, 7; smod %r0, 2', 1n],
      ['mov %r0, -7; smod %r0, 2', 0xffffffffffffffffn], // -7 - (-3)*2 = -1
      ['mov %r0, 7; smod %r0, -2', 1n], // 7 - (-3)(-2) = 1
      ['mov %r0, -7; smod %r0, -2', 0xffffffffffffffffn], // -7 - 3*(-2) = -1
      ['mov %r0, -7; mov %r1, 2; smod %r0, %r1', 0xffffffffffffffffn],
      ['mov %r0, 7; mov %r1, -2; smod %r0, %r1', 1n],
      ['mov %r0, -7; mov %r1, -2; smod %r0, %r1', 0xffffffffffffffffn],
      ['lddw %r0, 0x8000000000000000; smod %r0, -1', 0n], // INT_MIN % -1 = 0
      ['lddw %r0, 0x8000000000000000; mov %r1, -1; smod %r0, %r1', 0n],
      ['mov %r0, -7; smod %r0, 0', 0xfffffffffffffff9n], // unchanged
      ['mov %r0, -7; mov %r1, 0; smod %r0, %r1', 0xfffffffffffffff9n],
    ]);
  });
  describe('smod32', () => {
    cases([
      ['mov32 %r0, -7; smod32 %r0, 2', 0xffffffffn], // -1 as 32 bits
      ['mov %r0, 7; smod32 %r0, -2', 1n],
      ['mov32 %r0, -7; smod32 %r0, -2', 0xffffffffn],
      ['mov32 %r0, 10; smod32 %r0, -3', 1n], // 10 - (-3)(-3)
      ['mov32 %r0, -10; smod32 %r0, -3', 0xffffffffn], // -10 - 3*(-3) = -1
      ['mov %r0, -7; mov %r1, 2; smod32 %r0, %r1', 0xffffffffn],
      ['mov %r0, 7; mov %r1, -2; smod32 %r0, %r1', 1n],
      ['mov %r0, -7; mov %r1, -2; smod32 %r0, %r1', 0xffffffffn],
      ['mov32 %r0, 0x80000000; smod32 %r0, -1', 0n], // INT_MIN32 % -1 = 0
      ['mov32 %r0, 0x80000000; mov %r1, -1; smod32 %r0, %r1', 0n],
      ['mov %r0, -7; smod32 %r0, 0', 0xfffffff9n], // unchanged, truncated to 32 bits
      ['mov %r0, -7; mov %r1, 0; smod32 %r0, %r1', 0xfffffff9n],
    ]);
  });

  describe('neg (no register form exists)', () => {
    cases([
      ['mov %r0, 5; neg %r0', 0xfffffffffffffffbn], // -5
      ['mov %r0, -5; neg %r0', 5n],
      ['mov %r0, 0; neg %r0', 0n],
      ['lddw %r0, 0x8000000000000000; neg %r0', 0x8000000000000000n],
      ['mov32 %r0, -1; neg %r0', 0xffffffff00000001n], // -(2^32-1) = 2^64 - 2^32 + 1
      ['mov %r0, 5; neg32 %r0', 0xfffffffbn],
      ['lddw %r0, 0x100000000; neg32 %r0', 0n], // lo32 = 0
      ['mov32 %r0, 0x80000000; neg32 %r0', 0x80000000n],
      ['lddw %r0, 0xffffffff00000001; neg32 %r0', 0xffffffffn],
    ]);
  });
});

describe('ALU64 / ALU32 bitwise and shifts', () => {
  describe('or', () => {
    cases([
      ['lddw %r0, 0xff00ff00ff00ff00; or %r0, 0x0f', 0xff00ff00ff00ff0fn],
      ['mov %r0, 0; or %r0, -16', 0xfffffffffffffff0n], // sext(-16)
      ['lddw %r0, 0x1200000000000034; lddw %r1, 0x0056000000007800; or %r0, %r1', 0x1256000000007834n],
      ['lddw %r0, 0xffffffff00000001; or32 %r0, 0x10', 0x11n],
      ['mov %r0, 0; or32 %r0, -16', 0xfffffff0n],
      ['lddw %r0, 0x1200000000000034; lddw %r1, 0x0056000000007800; or32 %r0, %r1', 0x7834n],
    ]);
  });
  describe('and', () => {
    cases([
      ['lddw %r0, 0x123456789abcdef0; and %r0, -256', 0x123456789abcde00n], // sext(-256) = ...ffffff00
      ['lddw %r0, 0x123456789abcdef0; and %r0, 0xff', 0xf0n],
      ['lddw %r0, 0xf0f0f0f0f0f0f0f0; lddw %r1, 0x0ff00ff00ff00ff0; and %r0, %r1', 0x00f000f000f000f0n],
      ['lddw %r0, 0x123456789abcdef0; and32 %r0, -1', 0x9abcdef0n], // upper half cleared
      ['lddw %r0, 0x123456789abcdef0; and32 %r0, 0xff00', 0xde00n],
      ['lddw %r0, 0xf0f0f0f0f0f0f0f0; lddw %r1, 0x0ff00ff00ff00ff0; and32 %r0, %r1', 0x00f000f0n],
    ]);
  });
  describe('xor', () => {
    cases([
      ['lddw %r0, 0x123456789abcdef0; xor %r0, -1', 0xedcba9876543210fn], // bitwise not
      ['mov %r0, 0x55; xor %r0, 0xff', 0xaan],
      ['mov %r0, 0x55; mov %r1, -1; xor %r0, %r1', 0xffffffffffffffaan],
      ['lddw %r0, 0x123456789abcdef0; mov %r1, %r0; xor %r0, %r1', 0n],
      ['lddw %r0, 0x123456789abcdef0; xor32 %r0, -1', 0x6543210fn],
      ['mov %r0, 0x55; mov %r1, -1; xor32 %r0, %r1', 0xffffffaan],
    ]);
  });

  describe('lsh (count masked to 6 bits; 5 bits for lsh32)', () => {
    cases([
      ['mov %r0, 1; lsh %r0, 63', 0x8000000000000000n],
      ['mov %r0, 1; lsh %r0, 65', 2n], // 65 & 63 = 1
      ['mov %r0, 0xff; lsh %r0, 28', 0xff0000000n], // no 32-bit wrap in the 64-bit form
      ['lddw %r0, 0x8000000000000001; lsh %r0, 1', 2n], // the top bit falls off
      ['mov %r0, 3; mov %r1, -252; lsh %r0, %r1', 48n], // r1 = 0xffffffffffffff04; & 63 = 4
      ['mov %r0, 1; lddw %r1, 0x100000020; lsh %r0, %r1', 0x100000000n], // & 63 = 32
      ['mov %r0, 1; lsh32 %r0, 31', 0x80000000n],
      ['mov %r0, 1; lsh32 %r0, 33', 2n], // 33 & 31 = 1
      ['mov %r0, 0xff; lsh32 %r0, 28', 0xf0000000n], // 0xff0000000 truncated to 32 bits
      ['lddw %r0, 0x180000001; lsh32 %r0, 1', 2n], // lo32 0x80000001 << 1 = 0x1_00000002
      ['mov %r0, 1; lddw %r1, 0x100000024; lsh32 %r0, %r1', 16n], // lo32 = 36; & 31 = 4
      ['mov %r0, 1; mov %r1, 32; lsh32 %r0, %r1', 1n], // 32 & 31 = 0
    ]);
  });
  describe('rsh (logical)', () => {
    cases([
      ['mov %r0, -1; rsh %r0, 60', 0xfn],
      ['mov %r0, -16; rsh %r0, 68', 0x0fffffffffffffffn], // 68 & 63 = 4
      ['lddw %r0, 0x8000000000000000; mov %r1, 127; rsh %r0, %r1', 1n], // 127 & 63 = 63
      ['lddw %r0, 0x8000000000000000; mov %r1, 64; rsh %r0, %r1', 0x8000000000000000n], // 64 & 63 = 0
      ['mov %r0, -1; rsh32 %r0, 28', 0xfn], // only lo32 = 0xffffffff is shifted
      ['mov %r0, -1; rsh32 %r0, 36', 0x0fffffffn], // 36 & 31 = 4
      ['mov %r0, -1; mov %r1, -4; rsh32 %r0, %r1', 0xfn], // lo32(r1) = 0xfffffffc; & 31 = 28
      ['lddw %r0, 0xffffffff00000000; rsh32 %r0, 0', 0n],
    ]);
  });
  describe('arsh (arithmetic)', () => {
    cases([
      ['mov %r0, -16; arsh %r0, 2', 0xfffffffffffffffcn], // -4
      ['mov %r0, 16; arsh %r0, 2', 4n],
      ['lddw %r0, 0x8000000000000000; arsh %r0, 63', 0xffffffffffffffffn],
      ['mov %r0, -16; arsh %r0, 66', 0xfffffffffffffffcn], // 66 & 63 = 2
      ['mov %r0, -256; mov %r1, 68; arsh %r0, %r1', 0xfffffffffffffff0n], // -256 >> 4 = -16
      ['mov32 %r0, 0x80000000; arsh %r0, 4', 0x08000000n], // 0x0000000080000000 is positive in 64 bits
      ['mov32 %r0, 0x80000000; arsh32 %r0, 4', 0xf8000000n],
      ['mov %r0, -16; arsh32 %r0, 2', 0xfffffffcn],
      ['lddw %r0, 0xffffffff00000010; arsh32 %r0, 2', 4n], // lo32 = 16 is positive
      ['mov %r0, -16; arsh32 %r0, 34', 0xfffffffcn], // 34 & 31 = 2
      ['mov32 %r0, 0x80000000; mov %r1, 63; arsh32 %r0, %r1', 0xffffffffn], // 63 & 31 = 31
    ]);
  });
});

describe('ALU64 / ALU32 mov and sign extension', () => {
  describe('mov', () => {
    cases([
      ['mov %r0, -1', 0xffffffffffffffffn], // imm sign-extended
      ['mov %r0, 0x7fffffff', 0x7fffffffn],
      ['mov %r0, 0x80000000', 0xffffffff80000000n], // the imm is the bit pattern -2^31
      ['lddw %r1, 0x123456789abcdef0; mov %r0, %r1', 0x123456789abcdef0n],
      ['mov32 %r0, -1', 0xffffffffn], // zero-extended
      ['lddw %r0, 0x123456789abcdef0; mov32 %r0, 5', 5n],
      ['lddw %r1, 0x123456789abcdef0; mov32 %r0, %r1', 0x9abcdef0n],
      ['lddw %r0, 0xffffffffffffffff; mov32 %r0, %r0', 0xffffffffn],
    ]);
  });

  describe('32-bit results are zero-extended for every op, even when dst had upper bits set', () => {
    // dst = 0xffffffff_00000006, operand 3 (as imm, and as a register whose upper half is also set).
    const ops: ReadonlyArray<readonly [string, bigint]> = [
      ['add32', 9n],
      ['sub32', 3n],
      ['mul32', 18n],
      ['div32', 2n],
      ['sdiv32', 2n],
      ['mod32', 0n],
      ['smod32', 0n],
      ['or32', 7n],
      ['and32', 2n],
      ['xor32', 5n],
      ['lsh32', 48n],
      ['rsh32', 0n],
      ['arsh32', 0n],
      ['mov32', 3n],
    ];
    for (const [op, want] of ops) {
      it(`${op} imm and reg`, () => {
        expect(run(prog(`lddw %r0, 0xffffffff00000006; ${op} %r0, 3`))).toBe(want);
        expect(run(prog(`lddw %r0, 0xffffffff00000006; lddw %r1, 0xffffffff00000003; ${op} %r0, %r1`))).toBe(want);
      });
    }
    it('neg32', () => {
      expect(run(prog('lddw %r0, 0xffffffff00000006; neg32 %r0'))).toBe(0xfffffffan); // -6 as 32 bits
    });
  });

  describe('movsx', () => {
    cases([
      ['mov %r1, 0x80; movsx864 %r0, %r1', 0xffffffffffffff80n],
      ['mov %r1, 0x7f; movsx864 %r0, %r1', 0x7fn],
      ['mov %r1, 0x12345680; movsx864 %r0, %r1', 0xffffffffffffff80n], // only the low byte counts
      ['mov %r1, 0x8000; movsx1664 %r0, %r1', 0xffffffffffff8000n],
      ['mov32 %r1, 0xabcd7fff; movsx1664 %r0, %r1', 0x7fffn],
      ['mov32 %r1, 0x80000000; movsx3264 %r0, %r1', 0xffffffff80000000n],
      ['lddw %r1, 0xffffffff7fffffff; movsx3264 %r0, %r1', 0x7fffffffn],
      // To 32 bits: sign-extend into the low word, then zero the upper half.
      ['lddw %r0, 0xffffffffffffffff; mov %r1, 0x80; movsx832 %r0, %r1', 0xffffff80n],
      ['mov %r1, 0x1ff; movsx832 %r0, %r1', 0xffffffffn], // low byte 0xff = -1
      ['mov %r1, 0x7f; movsx832 %r0, %r1', 0x7fn],
      ['mov %r1, 0x8001; movsx1632 %r0, %r1', 0xffff8001n],
      ['mov32 %r1, 0xffff7fff; movsx1632 %r0, %r1', 0x7fffn],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Byte order
// ---------------------------------------------------------------------------------------------

describe('byte order (le / be / bswap)', () => {
  // The BPF machine is little-endian: le truncates (zero-extends), be swaps, bswap always swaps.
  describe('value 0x0123456789abcdef', () => {
    const v = 'lddw %r0, 0x0123456789abcdef';
    cases([
      [`${v}; le16 %r0`, 0xcdefn],
      [`${v}; le32 %r0`, 0x89abcdefn],
      [`${v}; le64 %r0`, 0x0123456789abcdefn],
      [`${v}; be16 %r0`, 0xefcdn],
      [`${v}; be32 %r0`, 0xefcdab89n],
      [`${v}; be64 %r0`, 0xefcdab8967452301n],
      [`${v}; bswap16 %r0`, 0xefcdn],
      [`${v}; bswap32 %r0`, 0xefcdab89n],
      [`${v}; bswap64 %r0`, 0xefcdab8967452301n],
    ]);
  });
  describe('value 0x1122334455667788', () => {
    const v = 'lddw %r0, 0x1122334455667788';
    cases([
      [`${v}; le16 %r0`, 0x7788n],
      [`${v}; le32 %r0`, 0x55667788n],
      [`${v}; be16 %r0`, 0x8877n],
      [`${v}; be32 %r0`, 0x88776655n],
      [`${v}; be64 %r0`, 0x8877665544332211n],
      [`${v}; bswap16 %r0`, 0x8877n],
      [`${v}; bswap32 %r0`, 0x88776655n],
      [`${v}; bswap64 %r0`, 0x8877665544332211n],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Loads and stores
// ---------------------------------------------------------------------------------------------

describe('loads (LDX)', () => {
  const DATA = Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88);
  const load = (body: string): bigint => {
    const mem = new AddressSpace();
    const region = mem.place('data', DATA);
    return run(prog(body), { mem, args: [BigInt(region.start)] });
  };
  const rows: ReadonlyArray<readonly [string, bigint]> = [
    ['ldxb %r0, [%r1]', 0x11n],
    ['ldxb %r0, [%r1+7]', 0x88n],
    ['ldxh %r0, [%r1]', 0x2211n], // little-endian
    ['ldxh %r0, [%r1+6]', 0x8877n],
    ['ldxw %r0, [%r1]', 0x44332211n],
    ['ldxw %r0, [%r1+4]', 0x88776655n],
    ['ldxdw %r0, [%r1]', 0x8877665544332211n],
    ['add %r1, 8; ldxb %r0, [%r1-8]', 0x11n], // negative offset
    ['mov %r0, -1; ldxb %r0, [%r1]', 0x11n], // the whole register is replaced (zero-extended)
    ['ldxsb %r0, [%r1]', 0x11n],
    ['ldxsb %r0, [%r1+7]', 0xffffffffffffff88n],
    ['ldxsh %r0, [%r1]', 0x2211n],
    ['ldxsh %r0, [%r1+6]', 0xffffffffffff8877n],
    ['ldxsw %r0, [%r1]', 0x44332211n],
    ['ldxsw %r0, [%r1+4]', 0xffffffff88776655n],
  ];
  for (const [body, want] of rows) {
    it(`${body}  =>  0x${want.toString(16)}`, () => expect(load(body)).toBe(want));
  }

  it('ldxsb from the stack sign-extends', () => {
    expect(run(prog('mov %r1, 0x80; stxb [%r10-1], %r1; ldxsb %r0, [%r10-1]'))).toBe(0xffffffffffffff80n);
  });

  it('reads the whole 512-byte stack frame', () => {
    expect(run(prog('stdw [%r10-512], 77; stdw [%r10-8], 1; ldxdw %r0, [%r10-512]'))).toBe(77n);
  });
});

describe('stores (ST and STX)', () => {
  /** Runs `body` with r1 = a 16-byte region pre-filled with 0xaa and r2 = 0x0123456789abcdef. */
  const store = (body: string): { bytes: number[]; mem: AddressSpace; start: number } => {
    const mem = new AddressSpace();
    const region = mem.alloc('out', 16);
    mem.bytes.fill(0xaa, region.start, region.end);
    run(prog(body), { mem, args: [BigInt(region.start), 0x0123456789abcdefn] });
    return { bytes: Array.from(mem.bytes.subarray(region.start, region.end)), mem, start: region.start };
  };
  const A = 0xaa;
  const rows: ReadonlyArray<readonly [string, number[]]> = [
    ['stb [%r1+1], -2', [A, 0xfe, A, A, A, A, A, A, A, A, A, A, A, A, A, A]],
    ['sth [%r1+2], 0x1234', [A, A, 0x34, 0x12, A, A, A, A, A, A, A, A, A, A, A, A]],
    ['sth [%r1], 0x12345', [0x45, 0x23, A, A, A, A, A, A, A, A, A, A, A, A, A, A]], // imm truncated to 16 bits
    ['stw [%r1+4], 0x89abcdef', [A, A, A, A, 0xef, 0xcd, 0xab, 0x89, A, A, A, A, A, A, A, A]],
    // stdw sign-extends the 32-bit imm.
    ['stdw [%r1+8], -2', [A, A, A, A, A, A, A, A, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ['stdw [%r1], 0x80000000', [0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff, A, A, A, A, A, A, A, A]],
    ['stdw [%r1], 0x7fffffff', [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, A, A, A, A, A, A, A, A]],
    ['stxb [%r1+3], %r2', [A, A, A, 0xef, A, A, A, A, A, A, A, A, A, A, A, A]],
    ['stxh [%r1+2], %r2', [A, A, 0xef, 0xcd, A, A, A, A, A, A, A, A, A, A, A, A]],
    ['stxw [%r1+4], %r2', [A, A, A, A, 0xef, 0xcd, 0xab, 0x89, A, A, A, A, A, A, A, A]],
    ['stxdw [%r1+8], %r2', [A, A, A, A, A, A, A, A, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01]],
    ['add %r1, 16; stxb [%r1-16], %r2', [0xef, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A]],
  ];
  for (const [body, want] of rows) {
    it(body, () => expect(store(body).bytes).toEqual(want));
  }

  it('little-endian layout agrees with mem.view', () => {
    const { mem, start } = store('stxdw [%r1], %r2; stw [%r1+8], -3');
    expect(mem.view.getBigUint64(start, true)).toBe(0x0123456789abcdefn);
    expect(mem.view.getUint32(start + 8, true)).toBe(0xfffffffd);
    expect(mem.view.getUint32(start + 12, true)).toBe(0xaaaaaaaa); // untouched
  });

  it('a stored value reads back through the stack', () => {
    expect(run(prog('lddw %r1, 0xfedcba9876543210; stxdw [%r10-8], %r1; ldxdw %r0, [%r10-8]'))).toBe(0xfedcba9876543210n);
    // stw then ldxw from the same address zero-extends; ldxsw sign-extends.
    expect(run(prog('stw [%r10-4], -5; ldxw %r0, [%r10-4]'))).toBe(0xfffffffbn);
    expect(run(prog('stw [%r10-4], -5; ldxsw %r0, [%r10-4]'))).toBe(0xfffffffffffffffbn);
  });
});

// ---------------------------------------------------------------------------------------------
// Atomics
// ---------------------------------------------------------------------------------------------

describe('atomics (STX | ATOMIC)', () => {
  /**
   * Runs `mov %r0, %r3; <op> [%r1], %r2` with r1 = an 8-aligned word holding `init`, and reports
   * the word afterwards, the src register (r2) afterwards and r0.
   */
  const atomic = (op: string, init: bigint, src: bigint, r0: bigint) => {
    const mem = new AddressSpace();
    const region = mem.alloc('target', 16);
    mem.view.setBigUint64(region.start, init, true);
    const got = run(`mov %r0, %r3\n${op} [%r1], %r2\nstxdw [%r1+8], %r2\nexit\n`, {
      mem,
      args: [BigInt(region.start), src, r0],
    });
    return { mem: mem.view.getBigUint64(region.start, true), src: mem.view.getBigUint64(region.start + 8, true), r0: got };
  };

  const M = 0xff00ff00ff00ff00n;
  const S = 0x0ff00ff00ff00ff0n;
  const R0 = 0x5a5a5a5an; // r0 must be left alone by everything except cmpxchg
  // [op, memory before, src before, r0 before, memory after, src after, r0 after]
  type Row = readonly [string, bigint, bigint, bigint, bigint, bigint, bigint];
  const rows64: Row[] = [
    ['lock add', 0xfffffffffffffff0n, 0x20n, R0, 0x10n, 0x20n, R0], // wraps at 2^64
    ['lock fetch add', 0xfffffffffffffff0n, 0x20n, R0, 0x10n, 0xfffffffffffffff0n, R0],
    ['lock or', M, S, R0, 0xfff0fff0fff0fff0n, S, R0], // ff00 | 0ff0 = fff0
    ['lock fetch or', M, S, R0, 0xfff0fff0fff0fff0n, M, R0],
    ['lock and', M, S, R0, 0x0f000f000f000f00n, S, R0], // ff00 & 0ff0 = 0f00
    ['lock fetch and', M, S, R0, 0x0f000f000f000f00n, M, R0],
    ['lock xor', M, S, R0, 0xf0f0f0f0f0f0f0f0n, S, R0], // ff00 ^ 0ff0 = f0f0
    ['lock fetch xor', M, S, R0, 0xf0f0f0f0f0f0f0f0n, M, R0],
    ['lock xchg', 0x1111111111111111n, 0x2222222222222222n, R0, 0x2222222222222222n, 0x1111111111111111n, R0],
    // cmpxchg: r0 = old value always; memory = src only if old == r0.
    ['lock cmpxchg', 5n, 9n, 5n, 9n, 9n, 5n],
    ['lock cmpxchg', 5n, 9n, 6n, 5n, 9n, 5n],
    ['lock cmpxchg', 0x100000005n, 9n, 5n, 0x100000005n, 9n, 0x100000005n], // upper halves differ: no match
  ];
  // 32-bit forms touch only the low word (the 4 bytes at the address); the high word 0x11111111
  // must survive, the src register's upper half must be ignored, fetched values are zero-extended.
  const H = 0x1111111100000000n;
  const M32 = 0xff00ff00n;
  const S32 = 0xaaaaaaaa0ff00ff0n;
  const rows32: Row[] = [
    ['lock add32', H | 0xfffffff0n, 0xaaaaaaaa00000020n, R0, H | 0x10n, 0xaaaaaaaa00000020n, R0], // no carry out
    ['lock fetch add32', H | 0xfffffff0n, 0xaaaaaaaa00000020n, R0, H | 0x10n, 0xfffffff0n, R0],
    ['lock or32', H | M32, S32, R0, H | 0xfff0fff0n, S32, R0],
    ['lock fetch or32', H | M32, S32, R0, H | 0xfff0fff0n, M32, R0],
    ['lock and32', H | M32, S32, R0, H | 0x0f000f00n, S32, R0],
    ['lock fetch and32', H | M32, S32, R0, H | 0x0f000f00n, M32, R0],
    ['lock xor32', H | M32, S32, R0, H | 0xf0f0f0f0n, S32, R0],
    ['lock fetch xor32', H | M32, S32, R0, H | 0xf0f0f0f0n, M32, R0],
    ['lock xchg32', 0x3333333311111111n, 0xaaaaaaaa22222222n, R0, 0x3333333322222222n, 0x11111111n, R0],
    // cmpxchg32 compares the low 32 bits of r0 (upper half ignored) and returns the old word zero-extended.
    ['lock cmpxchg32', 0x7777777700000005n, 0xaaaaaaaa00000009n, 0xffffffff00000005n, 0x7777777700000009n, 0xaaaaaaaa00000009n, 5n],
    ['lock cmpxchg32', 0x7777777700000005n, 0xaaaaaaaa00000009n, 6n, 0x7777777700000005n, 0xaaaaaaaa00000009n, 5n],
  ];
  for (const [title, rows] of [
    ['64-bit', rows64],
    ['32-bit', rows32],
  ] as const) {
    describe(title, () => {
      for (const [op, init, src, r0, wantMem, wantSrc, wantR0] of rows) {
        it(`${op}: mem 0x${init.toString(16)}, src 0x${src.toString(16)}, r0 0x${r0.toString(16)}`, () => {
          expect(atomic(op, init, src, r0)).toEqual({ mem: wantMem, src: wantSrc, r0: wantR0 });
        });
      }
    });
  }

  it('works on the stack with an offset', () => {
    // [r10-8] = 10; fetch add 5 leaves 15 in memory and 10 in r1.
    expect(run(prog('stdw [%r10-8], 10; mov %r1, 5; lock fetch add [%r10-8], %r1; ldxdw %r0, [%r10-8]; lsh %r0, 8; or %r0, %r1'))).toBe(
      0x0f0an,
    );
    expect(run(prog('stdw [%r10-8], 3; mov %r0, 3; mov %r1, 4; lock cmpxchg32 [%r10-8], %r1; ldxdw %r0, [%r10-8]'))).toBe(4n);
  });
});

// ---------------------------------------------------------------------------------------------
// Jumps
// ---------------------------------------------------------------------------------------------

describe('conditional jumps (JMP and JMP32)', () => {
  /** True when `jump` (e.g. `jgt %r1, 1`) is taken, with r1 and r2 as given. */
  const taken = (jump: string, r1: bigint, r2 = 0n): boolean => {
    const r0 = run(`mov %r0, 1\n${jump}, yes\nmov %r0, 0\nyes:\nexit\n`, { args: [r1, r2] });
    expect(r0 === 0n || r0 === 1n).toBe(true);
    return r0 === 1n;
  };

  // [op, r1, imm, taken in JMP (64-bit), taken in JMP32]. The register form uses r2 = sext(imm),
  // which is what the 64-bit imm form compares against.
  type Row = readonly [string, bigint, number, boolean, boolean];
  const T = true;
  const F = false;
  const rows: Row[] = [
    ['jeq', 5n, 5, T, T],
    ['jeq', 5n, 6, F, F],
    ['jeq', 0xffffffffffffffffn, -1, T, T],
    ['jeq', 0x00000000ffffffffn, -1, F, T], // 64: sext(-1) != 0xffffffff; 32: both 0xffffffff
    ['jeq', 0x0000000100000005n, 5, F, T], // JMP32 ignores the upper half
    ['jne', 5n, 5, F, F],
    ['jne', 5n, 6, T, T],
    ['jne', 0x0000000100000005n, 5, T, F],
    ['jgt', 0xffffffffffffffffn, 1, T, T], // unsigned: -1 is the largest value
    ['jgt', 2n, 1, T, T],
    ['jgt', 1n, 1, F, F],
    ['jgt', 2n, -1, F, F], // 2 > 2^64-1 (32: 2 > 0xffffffff) is false
    ['jgt', 0xffffffff00000001n, 1, T, F],
    ['jge', 1n, 1, T, T],
    ['jge', 0n, 1, F, F],
    ['jge', 0xffffffffffffffffn, -1, T, T],
    ['jge', 0x100000000n, 1, T, F], // 32: 0 >= 1 is false
    ['jlt', 1n, -1, T, T],
    ['jlt', 0xffffffffffffffffn, 1, F, F],
    ['jlt', 1n, 1, F, F],
    ['jlt', 0x100000000n, 1, F, T], // 32: 0 < 1
    ['jle', 1n, 1, T, T],
    ['jle', 2n, 1, F, F],
    ['jle', 0x100000001n, 1, F, T],
    ['jset', 10n, 4, F, F], // 0b1010 & 0b0100
    ['jset', 10n, 2, T, T],
    ['jset', 0x100000000n, -1, T, F], // 64: bit 32 & sext(-1); 32: lo32 = 0
    ['jsgt', 0xffffffffffffffffn, 1, F, F], // signed: -1 > 1 is false
    ['jsgt', 1n, -1, T, T],
    ['jsgt', 2n, 2, F, F],
    ['jsgt', 0x80000000n, 1, T, F], // 64: 2^31 > 1; 32: INT_MIN32 > 1 is false
    ['jsge', 0xffffffffffffffffn, -1, T, T],
    ['jsge', 0xfffffffffffffffen, -1, F, F], // -2 >= -1 is false
    ['jsge', 0n, -1, T, T],
    ['jsge', 0x80000000n, 0, T, F],
    ['jslt', 0xffffffffffffffffn, 1, T, T],
    ['jslt', 1n, -1, F, F],
    ['jslt', 1n, 1, F, F],
    ['jslt', 0x00000001ffffffffn, 0, F, T], // 64: positive; 32: lo32 = -1 < 0
    ['jsle', 0xffffffffffffffffn, -1, T, T],
    ['jsle', 0xfffffffffffffffen, -1, T, T],
    ['jsle', 0n, -1, F, F],
    ['jsle', 0x00000000ffffffffn, 0, F, T], // 64: 2^32-1 <= 0 is false; 32: -1 <= 0
  ];
  for (const [op, r1, imm, t64, t32] of rows) {
    it(`${op} 0x${r1.toString(16)}, ${imm}: JMP ${t64 ? 'taken' : 'not taken'}, JMP32 ${t32 ? 'taken' : 'not taken'}`, () => {
      expect(taken(`${op} %r1, ${imm}`, r1)).toBe(t64);
      expect(taken(`${op} %r1, %r2`, r1, sext(imm))).toBe(t64);
      expect(taken(`${op}32 %r1, ${imm}`, r1)).toBe(t32);
      expect(taken(`${op}32 %r1, %r2`, r1, sext(imm))).toBe(t32);
    });
  }

  it('every conditional op is covered taken and not taken in both widths', () => {
    const ops = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jset', 'jsgt', 'jsge', 'jslt', 'jsle'];
    for (const op of ops) {
      const mine = rows.filter((r) => r[0] === op);
      for (const col of [3, 4] as const) {
        expect(mine.some((r) => r[col])).toBe(true);
        expect(mine.some((r) => !r[col])).toBe(true);
      }
    }
  });

  it('-1 jgt 1 is taken but -1 jsgt 1 is not', () => {
    expect(run(prog('mov %r0, 0; mov %r1, -1; jgt %r1, 1, +1; exit; mov %r0, 1'))).toBe(1n);
    expect(run(prog('mov %r0, 0; mov %r1, -1; jsgt %r1, 1, +1; exit; mov %r0, 1'))).toBe(0n);
  });

  it('JMP32 register forms ignore the upper half of src as well as dst', () => {
    expect(taken('jeq %r1, %r2', 5n, 0xffffffff00000005n)).toBe(false);
    expect(taken('jeq32 %r1, %r2', 5n, 0xffffffff00000005n)).toBe(true);
    // 1 > 0x7fffffff_ffffffff is false in 64 bits; in 32 bits src is lo32 = -1 and 1 > -1.
    expect(taken('jsgt %r1, %r2', 1n, 0x7fffffffffffffffn)).toBe(false);
    expect(taken('jsgt32 %r1, %r2', 1n, 0x7fffffffffffffffn)).toBe(true);
    expect(taken('jset32 %r1, %r2', 0xff00000000n, 0xff00000000n)).toBe(false);
    expect(taken('jset %r1, %r2', 0xff00000000n, 0xff00000000n)).toBe(true);
  });
});

describe('unconditional jumps and loops', () => {
  it('ja skips forward by off', () => {
    expect(run(prog('mov %r0, 1; ja +1; mov %r0, 2'))).toBe(1n);
    expect(run('mov %r0, 1\nja over\nmov %r0, 2\nmov %r0, 3\nover:\nexit\n')).toBe(1n);
  });

  it('ja32 jumps by its 32-bit imm, forward and backward', () => {
    expect(run(prog('mov %r0, 1; ja32 +1; mov %r0, 2'))).toBe(1n);
    // Counts to 5 through a backward ja32.
    const src = 'mov %r0, 0\nloop:\nadd %r0, 1\njge %r0, 5, done\nja32 loop\ndone:\nexit\n';
    expect(run(src)).toBe(5n);
  });

  it('a counting loop with a backward conditional jump', () => {
    // 10 iterations of r0 += 3.
    const src = 'mov %r0, 0\nmov %r1, 10\nloop:\nadd %r0, 3\nsub %r1, 1\njne %r1, 0, loop\nexit\n';
    const r = exec(src);
    expect(r.r0).toBe(30n);
    expect(r.insns).toBe(33); // 2 movs + 10 * 3 loop instructions + exit
  });

  it('a loop with a negative relative offset', () => {
    // r0 = 1 + 2 + ... + 4 with r1 counting down from 4: body is 3 instructions, so the jump is -3.
    expect(run(prog('mov %r0, 0; mov %r1, 4; add %r0, %r1; sub %r1, 1; jne %r1, 0, -3'))).toBe(10n);
  });
});

// ---------------------------------------------------------------------------------------------
// lddw
// ---------------------------------------------------------------------------------------------

describe('lddw', () => {
  cases([
    ['lddw %r0, 0x1122334455667788', 0x1122334455667788n],
    ['lddw %r0, 0xffffffff80000000', 0xffffffff80000000n],
    ['lddw %r0, 0x80000000', 0x80000000n], // the low immediate is not sign-extended into the high half
    ['lddw %r0, 0x8000000000000001', 0x8000000000000001n],
    ['mov %r0, -1; lddw %r0, 0', 0n],
  ]);

  it('occupies two slots but counts as one instruction', () => {
    expect(assemble('lddw %r0, 1\nexit\n')).toHaveLength(3);
    expect(exec('lddw %r0, 1\nexit\n').insns).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

describe('calls', () => {
  it('call local preserves r6-r9 and r10, gives the callee a fresh 512-byte frame, and returns r0', () => {
    const { seen, helpers } = recorder();
    const src = `
      mov %r6, 6
      mov %r7, 7
      mov %r8, 8
      mov %r9, 9
      stdw [%r10-8], 111
      mov %r1, %r10
      call 1                # caller's r10
      call local fn
      mov %r1, %r0
      call 1                # callee's return value
      mov %r1, %r6
      call 1
      mov %r1, %r7
      call 1
      mov %r1, %r8
      call 1
      mov %r1, %r9
      call 1
      mov %r1, %r10
      call 1                # caller's r10 again
      ldxdw %r1, [%r10-8]
      call 1                # caller's stack slot, untouched by the callee
      mov %r0, 0
      exit
    fn:
      mov %r1, %r10
      call 1                # callee's r10
      stdw [%r10-8], 222
      stdw [%r10-512], 333  # the whole 512-byte frame is usable
      mov %r6, 60
      mov %r7, 70
      mov %r8, 80
      mov %r9, 90
      mov %r0, 42
      exit
    `;
    const mem = new AddressSpace();
    run(src, { helpers, mem });
    const [fp0, fp1, ret, r6, r7, r8, r9, fpAfter, slot] = seen;
    expect(seen).toHaveLength(9);
    expect(fp0).toBe(BigInt(mem.framePointer(0)));
    expect(fp1).toBe(BigInt(mem.framePointer(1)));
    expect(fp1 > fp0 ? fp1 - fp0 : fp0 - fp1).toBeGreaterThanOrEqual(512n);
    expect([ret, r6, r7, r8, r9, fpAfter, slot]).toEqual([42n, 6n, 7n, 8n, 9n, fp0, 111n]);
  });

  it('passes r1-r5 to a local function', () => {
    const src = 'mov %r1, 5\nmov %r5, 100\ncall local f\nexit\nf:\nmov %r0, %r1\nadd %r0, %r5\nexit\n';
    expect(run(src)).toBe(105n);
  });

  /** main calls f, which calls itself until r1 (decremented each time) reaches 0: r1 frames of f. */
  const nested = `
      mov %r0, 0
      call local f
      exit
    f:
      add %r0, 1
      mov %r6, %r1
      mov %r1, %r10
      call 2          # record this frame's r10
      mov %r1, %r6
      sub %r1, 1
      jeq %r1, 0, ret
      call local f    # slot 10
    ret:
      exit
  `;

  it('allows eight frames in total (the entry frame and seven nested calls)', () => {
    const r10s: bigint[] = [];
    const helpers = helperTable([{ id: 2, name: 'r10', fn: (c) => (r10s.push(c.u64(1)), 0) }]);
    const mem = new AddressSpace();
    // `call 2` overwrites r0, so count frames by the recorded r10 values instead of r0.
    run(nested, { helpers, mem, args: [7n] });
    expect(r10s).toHaveLength(7);
    expect(new Set(r10s).size).toBe(7);
    expect(r10s).toEqual([1, 2, 3, 4, 5, 6, 7].map((d) => BigInt(mem.framePointer(d))));
  });

  it('refuses a ninth frame with a BpfRuntimeError naming the depth limit', () => {
    const helpers = helperTable([{ id: 2, name: 'r10', fn: () => 0 }]);
    const e = fault(nested, { helpers, args: [8n] });
    expect(e.pc).toBe(10);
    expect(e.reason).toMatch(/call depth/);
    expect(e.message).toMatch(/8 frames/);
  });

  describe('helpers', () => {
    it('receive r1-r5 and return a bigint in r0', () => {
      let got: unknown[] = [];
      const helpers = helperTable([
        {
          id: 7,
          name: 'probe',
          fn: (c) => {
            got = [c.u64(1), c.u64(2), c.u64(3), c.u64(4), c.u64(5), c.lo(2), c.num(2), c.lo(3), c.num(4)];
            return 0x123456789abcdef0n;
          },
        },
      ]);
      const src = 'mov %r1, 1\nlddw %r2, 0x100000000\nmov %r3, -1\nmov %r4, 4\nmov %r5, 5\ncall 7\nexit\n';
      expect(run(src, { helpers })).toBe(0x123456789abcdef0n);
      expect(got).toEqual([1n, 0x100000000n, 0xffffffffffffffffn, 4n, 5n, 0, 2 ** 32, 0xffffffff, 4]);
    });

    const returning = (value: HelperResult): bigint =>
      run('call 3\nexit\n', { helpers: helperTable([{ id: 3, name: 'ret', fn: () => value }]) });

    it('return numbers as signed integers (two’s complement in r0)', () => {
      expect(returning(12345)).toBe(12345n);
      expect(returning(0)).toBe(0n);
      expect(returning(-1)).toBe(0xffffffffffffffffn);
      expect(returning(-2)).toBe(0xfffffffffffffffen);
      expect(returning(-(2 ** 40))).toBe(0xffffff0000000000n); // 2^64 - 2^40
      expect(returning(2 ** 40 + 1)).toBe(0x10000000001n);
    });

    it('return bigints reduced modulo 2^64', () => {
      expect(returning(-1n)).toBe(0xffffffffffffffffn);
      expect(returning(0xfedcba9876543210n)).toBe(0xfedcba9876543210n);
    });

    it('can be called through callx with a helper id in a register', () => {
      const helpers = helperTable([{ id: 5, name: 'five', fn: (c) => c.u64(1) + 1n }]);
      expect(run('mov %r1, 41\nmov %r2, 5\ncallx %r2\nexit\n', { helpers })).toBe(42n);
      // The conformance syntax `call %rN` is the same instruction.
      expect(run('mov %r1, 9\nmov %r2, 5\ncall %r2\nexit\n', { helpers })).toBe(10n);
    });

    it('kfuncs are called by BTF id from their own table', () => {
      const kfuncs = helperTable([{ id: 1234, name: 'kf', fn: (c) => c.u64(1) * 3n }]);
      expect(run('mov %r1, 14\ncall kfunc 1234\nexit\n', { kfuncs })).toBe(42n);
    });
  });

  it('lddw func + callx calls a local function (with its own frame, r6 preserved)', () => {
    const src = `
      mov %r6, 1000
      lddw %r2, func fn
      mov %r1, 20
      callx %r2
      add %r0, %r6      # 41 + 1000
      exit
    fn:
      mov %r6, 0
      mov %r0, %r1
      mul %r0, 2
      add %r0, 1
      exit
    `;
    expect(run(src)).toBe(1041n);
  });
});

// ---------------------------------------------------------------------------------------------
// may_goto
// ---------------------------------------------------------------------------------------------

describe('may_goto', () => {
  it('falls through while the budget lasts', () => {
    expect(run(prog('mov %r0, 0; may_goto +1; add %r0, 1'))).toBe(1n);
    expect(run(prog('mov %r0, 0; may_goto +2; add %r0, 1; may_goto +1; add %r0, 1'))).toBe(2n);
  });

  it('bounds a loop to 8 * 1024 * 1024 iterations (the kernel’s BPF_MAX_LOOPS)', () => {
    // Runs in a few seconds on the BigInt interpreter, so the full budget is checked.
    const src = 'mov %r0, 0\nloop:\nmay_goto done\nadd %r0, 1\nja loop\ndone:\nexit\n';
    expect(run(src)).toBe(8388608n);
  });
});

// ---------------------------------------------------------------------------------------------
// Legacy packet loads (LD | ABS / IND)
// ---------------------------------------------------------------------------------------------

describe('legacy packet loads', () => {
  const PACKET = Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0);
  const pkt = (body: string, args: readonly bigint[] = []): bigint => {
    const mem = new AddressSpace();
    const region = mem.place('packet', PACKET);
    return run(prog(body), { mem, args, packet: { addr: region.start, len: PACKET.length } });
  };

  it('ldabs reads big-endian at a fixed offset', () => {
    expect(pkt('ldabsb 1')).toBe(0x34n);
    expect(pkt('ldabsh 2')).toBe(0x5678n);
    expect(pkt('ldabsw 4')).toBe(0x9abcdef0n);
    expect(pkt('ldabsb 7')).toBe(0xf0n); // last byte
    expect(pkt('ldabsw 0')).toBe(0x12345678n);
    expect(pkt('mov %r0, -1; ldabsb 0')).toBe(0x12n); // r0 is replaced, not merged
  });

  it('ldind adds the (32-bit) source register to the offset', () => {
    expect(pkt('ldindb %r1, 2', [3n])).toBe(0xbcn); // offset 5
    expect(pkt('ldindh %r1, -1', [3n])).toBe(0x5678n); // offset 2
    expect(pkt('ldindw %r1, 0', [4n])).toBe(0x9abcdef0n);
    expect(pkt('ldindb %r1, 4', [0xfffffffffffffffen])).toBe(0x56n); // -2 + 4 = 2
  });

  it('an out-of-bounds load ends the program with r0 = 0', () => {
    expect(pkt('mov %r0, 99; ldabsw 6; mov %r0, 1')).toBe(0n); // bytes 6..9 of 8
    expect(pkt('mov %r0, 99; ldabsh 7; mov %r0, 1')).toBe(0n);
    expect(pkt('mov %r0, 99; ldabsb 8; mov %r0, 1')).toBe(0n);
    expect(pkt('mov %r0, 99; ldindb %r1, 0; mov %r0, 1', [0xffffffffffffffffn])).toBe(0n); // offset -1
    expect(pkt('mov %r0, 99; ldindw %r1, 2; mov %r0, 1', [3n])).toBe(0n); // offset 5, needs 5..8
  });
});

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

describe('faults', () => {
  it('NULL dereference names the instruction', () => {
    const e = fault('mov %r1, 0\nldxw %r0, [%r1+16]\nexit\n');
    expect(e.pc).toBe(1);
    expect(e.reason).toContain('NULL pointer dereference');
    expect(e.message).toContain('instruction 1');
    // The whole first 64 KiB is a guard, for writes too.
    const w = fault('mov %r1, 0xffff\nmov %r0, 0\nstb [%r1], 1\nexit\n');
    expect(w.pc).toBe(2);
    expect(w.reason).toContain('NULL pointer dereference');
  });

  it('an access crossing the end of a region', () => {
    const mem = new AddressSpace();
    const region = mem.alloc('small', 8);
    const args = [BigInt(region.start)];
    expect(run(prog('ldxw %r0, [%r1+4]'), { mem, args })).toBe(0n); // the last 4 bytes are fine
    const e = fault(prog('mov %r0, 0; ldxdw %r0, [%r1+4]'), { mem, args });
    expect(e.pc).toBe(1);
    expect(e.reason).toContain('crosses the end of small');
  });

  it('a write to a read-only region (reads are allowed)', () => {
    const mem = new AddressSpace();
    const ro = mem.alloc('rodata', 8, { writable: false });
    const args = [BigInt(ro.start)];
    expect(run(prog('ldxdw %r0, [%r1]'), { mem, args })).toBe(0n);
    for (const body of ['stb [%r1], 1', 'mov %r2, 1; stxdw [%r1], %r2', 'mov %r2, 1; lock add [%r1], %r2']) {
      const e = fault(prog(body), { mem, args });
      expect(e.reason).toContain('read-only');
    }
  });

  it('an access below the bottom of the stack frame', () => {
    const e = fault('ldxdw %r0, [%r10-520]\nexit\n');
    expect(e.pc).toBe(0);
    expect(e.reason).toMatch(/read of 8 bytes/);
    expect(() => exec('stdw [%r10-520], 1\nexit\n')).toThrow(BpfRuntimeError);
  });

  it('a misaligned atomic', () => {
    const e = fault('mov %r1, 1\nlock add [%r10-12], %r1\nmov %r0, 0\nexit\n');
    expect(e.pc).toBe(1);
    expect(e.reason).toContain('misaligned atomic');
    expect(fault('mov %r1, 1\nlock add32 [%r10-6], %r1\nexit\n').reason).toContain('misaligned atomic');
    // 4-byte aligned is enough for the 32-bit form.
    expect(run(prog('stdw [%r10-16], 0; mov %r1, 1; lock add32 [%r10-12], %r1; ldxw %r0, [%r10-12]'))).toBe(1n);
  });

  it('the instruction limit stops an infinite loop', () => {
    const e = fault('mov %r0, 0\nloop:\nadd %r0, 1\nja loop\n', { maxInsns: 1000 });
    expect(e.reason).toContain('instruction limit of 1000');
    // A program needing exactly the limit completes.
    expect(exec('mov %r0, 1\nexit\n', { maxInsns: 2 })).toEqual({ r0: 1n, insns: 2 });
    expect(fault('mov %r0, 1\nexit\n', { maxInsns: 1 }).pc).toBe(1);
  });

  it('an unknown helper id', () => {
    const e = fault('mov %r0, 0\ncall 99\nexit\n');
    expect(e.pc).toBe(1);
    expect(e.reason).toContain('unknown helper id 99');
    const helpers = helperTable([{ id: 5, name: 'five', fn: () => 5 }]);
    expect(fault('mov %r2, 99\ncallx %r2\nexit\n', { helpers }).reason).toMatch(/unknown callx target 0x63/);
  });

  it('running off the end of the program', () => {
    expect(fault('mov %r0, 0\n').reason).toContain('left the program');
  });
});
