import { describe, expect, it } from 'vitest';
import { assemble } from '../../../src/bpf/asm.ts';
import { constHelper, helperTable, wordHelper } from '../../../src/bpf/helpers.ts';
import { Interpreter } from '../../../src/bpf/interp.ts';
import { JitError } from '../../../src/bpf/jit/compile.ts';
import { JitProgram, type JitOptions } from '../../../src/bpf/jit/runtime.ts';
import { AddressSpace, slotOfCodeAddress } from '../../../src/bpf/memory.ts';

const jit = (src: string, options: JitOptions = {}, mem = new AddressSpace()) => new JitProgram(assemble(src), mem, options);

/** Both engines must fail the same way on the same program. */
function sameFault(src: string, options: JitOptions = {}): string {
  let interpError = '';
  let jitError = '';
  try {
    new Interpreter(assemble(src), new AddressSpace(), options).run();
  } catch (e) {
    interpError = (e as Error).message;
  }
  try {
    jit(src, options).run();
  } catch (e) {
    jitError = (e as Error).message;
  }
  expect(jitError).toBe(interpError);
  expect(jitError).not.toBe('');
  return jitError;
}

describe('JIT faults match the interpreter', () => {
  it('NULL and out-of-memory accesses in checked mode', () => {
    expect(sameFault('mov %r1, 0\nldxw %r0, [%r1+16]\nexit\n')).toBe(
      'instruction 1 (ldxw %r0, [%r1+16]): read of 4 bytes at 0x10: NULL pointer dereference',
    );
    expect(sameFault('lddw %r1, 0x100000000\nmov %r0, 0\nstxb [%r1], %r0\nexit\n')).toContain(
      'write of 1 byte at 0x100000000: address outside the 32-bit address space',
    );
  });

  it('call depth beyond eight frames', () => {
    const src = 'mov %r0, 0\ncall local f\nexit\nf:\ncall local f\nexit\n';
    expect(sameFault(src)).toBe('instruction 3 (call local -1): call depth exceeds the limit of 8 frames');
  });

  it('misaligned atomics', () => {
    expect(sameFault('mov %r1, 1\nlock add [%r10-12], %r1\nmov %r0, 0\nexit\n')).toContain('misaligned atomic access');
  });

  it('addr_space_cast without an arena', () => {
    expect(sameFault('mov %r1, 0\naddr_space_cast %r0, %r1, 0, 1\nexit\n')).toContain('addr_space_cast needs an arena map');
  });

  it('errors raised by helpers name the helper and the call', () => {
    const helpers = helperTable([{ id: 9, name: 'deref', fn: (c) => c.ptr(1) }]);
    expect(sameFault('lddw %r1, 0x100000000\ncall 9\nexit\n', { helpers })).toBe(
      'instruction 2 (call 9): deref: argument r1 is not a pointer (0x100000000)',
    );
  });
});

describe('JIT behaviour', () => {
  it('refuses, naming the instruction, a program calling a helper it was not given', () => {
    expect(() => jit('mov %r0, 0\ncall 77\nexit\n')).toThrow(JitError);
    const helpers = helperTable([{ id: 5, name: 'ktime_get_ns', fn: () => 0 }]);
    expect(() => jit('mov %r0, 0\ncall 77\nexit\n', { helpers })).toThrow('instruction 1 (call 77): unknown helper id 77');
  });

  it('stops a runaway loop at the instruction limit when counting', () => {
    expect(() => jit('mov %r0, 0\nl:\nadd %r0, 1\nja l\n', { maxInsns: 1_000_000 }).run()).toThrow(
      'instruction limit of 1000000 reached',
    );
  });

  it('gives may_goto a budget of 8M iterations per frame', () => {
    // Counts iterations of a loop bounded only by may_goto.
    const r = jit('mov %r0, 0\nl:\nmay_goto done\nadd %r0, 1\nja l\ndone:\nexit\n').run();
    expect(r.r0).toBe(8n * 1024n * 1024n);
  });

  it('counts instructions exactly as the interpreter does, lddw once', () => {
    const src = 'lddw %r0, 5\nmov %r1, 3\nl:\nsub %r1, 1\njne %r1, 0, l\nexit\n';
    expect(jit(src).run().insns).toBe(new Interpreter(assemble(src), new AddressSpace()).run().insns);
    expect(jit(src).run().insns).toBe(1 + 1 + 3 * 2 + 1);
    expect(jit(src, { countInsns: false }).run().insns).toBe(0);
  });

  it('inlines constant and memory-word helpers instead of importing them', () => {
    const mem = new AddressSpace();
    const clock = mem.alloc('clock', 8);
    mem.view.setBigUint64(clock.start, 123_456_789_000n, true);
    const helpers = helperTable([wordHelper(5, 'ktime_get_ns', mem, clock.start, 8), constHelper(8, 'nr_cpus', 64n)]);
    const p = jit('call 5\nmov %r6, %r0\ncall 8\nadd %r0, %r6\nexit\n', { helpers }, mem);
    expect(p.compiled.helperImports).toEqual([]);
    expect(p.run().r0).toBe(123_456_789_064n);
    mem.view.setBigUint64(clock.start, 1n, true);
    expect(p.run().r0).toBe(65n);
  });

  it('returns r0 through runCtx with r1 = ctx', () => {
    const mem = new AddressSpace();
    const ctx = mem.alloc('ctx', 16);
    mem.view.setBigUint64(ctx.start, 0xffff_ffff_8000_0001n, true);
    const p = jit('ldxdw %r0, [%r1]\nexit\n', {}, mem);
    expect(p.runCtx(ctx.start)).toBe(0x8000_0001 | 0);
    expect(mem.view.getBigUint64(mem.callArea, true)).toBe(0xffff_ffff_8000_0001n);
  });

  it('calls local functions and helpers through callx', () => {
    const helpers = helperTable([{ id: 5, name: 'five', fn: () => 5 }]);
    const src = 'lddw %r6, func f\ncallx %r6\nmov %r7, %r0\nmov %r1, 5\ncallx %r1\nadd %r0, %r7\nexit\nf:\nmov %r0, 40\nexit\n';
    expect(jit(src, { helpers }).run().r0).toBe(45n);
  });

  it('runs irreducible control flow through the dispatch loop', () => {
    // Two entries into the loop {a, b}: neither dominates the other.
    const src = `
      mov %r0, 0
      mov %r6, 3
      jeq %r1, 0, b
    a:
      add %r0, 10
    b:
      add %r0, 1
      sub %r6, 1
      jne %r6, 0, a
      exit`;
    const p = jit(src);
    expect(p.run([0n]).r0).toBe(1n + 2n * 11n);
    expect(p.run([1n]).r0).toBe(3n * 11n);
  });

  it('loads legacy packet data big-endian and returns 0 when out of bounds', () => {
    const mem = new AddressSpace();
    const pkt = mem.place('packet', Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0x9a));
    const packet = { addr: pkt.start, len: 5 };
    expect(jit('ldabsw 1\nexit\n', { packet }, mem).run().r0).toBe(0x3456789an);
    expect(jit('mov %r6, 3\nldindh %r6, 0\nexit\n', { packet }, mem).run().r0).toBe(0x789an);
    expect(jit('ldabsh 4\nexit\n', { packet }, mem).run().r0).toBe(0n);
  });

  it('adds the ldind register and immediate as wrapping 32-bit ints, like the kernel', () => {
    // 0x80000000 + (-2^31 + 1) wraps to offset 1.
    const src = 'lddw %r6, 0x80000000\nldindb %r6, -2147483647\nexit\n';
    for (const engine of ['jit', 'interp'] as const) {
      const mem = new AddressSpace();
      const pkt = mem.place('packet', Uint8Array.of(0x12, 0x34));
      const packet = { addr: pkt.start, len: 2 };
      const exe = engine === 'jit' ? jit(src, { packet }, mem) : new Interpreter(assemble(src), mem, { packet });
      expect(exe.run().r0, engine).toBe(0x34n);
    }
  });
});

describe('helpers that call back into the program', () => {
  // A bpf_loop-like helper: calls the function at r2 r1 times with (i, r3); stops on non-zero.
  const loopHelper = helperTable([
    {
      id: 181,
      name: 'loop',
      fn: (c) => {
        const n = c.num(1);
        const slot = slotOfCodeAddress(c.u64(2));
        const ctx = c.u64(3);
        let i = 0;
        for (; i < n; i++) if (c.invoke(slot, [BigInt(i), ctx]) !== 0n) return i + 1;
        return i;
      },
    },
  ]);
  const src = `
    mov %r6, 0
    stxdw [%r10-8], %r6
    mov %r1, 10
    lddw %r2, func body
    mov %r3, %r10
    add %r3, -8
    call 181
    ldxdw %r0, [%r10-8]
    exit
  body:
    ldxdw %r4, [%r2]
    add %r4, %r1
    stxdw [%r2], %r4
    mov %r0, 0
    jne %r1, 6, done
    mov %r0, 1
  done:
    exit`;

  it('runs callbacks in a nested frame on both engines, with the same instruction count', () => {
    const results = (['jit', 'interp'] as const).map((engine) => {
      const mem = new AddressSpace();
      const exe = engine === 'jit' ? jit(src, { helpers: loopHelper }, mem) : new Interpreter(assemble(src), mem, { helpers: loopHelper });
      return exe.run();
    });
    // Sum of 0..6 written through a pointer into the caller's frame; stops after i = 6.
    expect(results[0].r0).toBe(21n);
    expect(results[1]).toEqual(results[0]);
  });

  it('runs a function as a top-level invocation, as timers will', () => {
    // The function must be a known subprogram: referenced by lddw func here.
    const p = jit('lddw %r1, func f\nmov %r0, 1\nexit\nf:\nmov %r0, %r1\nadd %r0, 100\nexit\n');
    expect(p.runFunction(4, [5n])).toEqual({ r0: 105n, insns: 3 });
    expect(() => p.runFunction(5)).toThrow('instruction 5 (add %r0, 100): not the start of a function');
  });
});
