import { describe, expect, it } from 'vitest';
import { assemble } from '../../../src/bpf/asm.ts';
import { helperTable } from '../../../src/bpf/helpers.ts';
import { Interpreter } from '../../../src/bpf/interp.ts';
import { JitProgram } from '../../../src/bpf/jit/runtime.ts';
import { AddressSpace } from '../../../src/bpf/memory.ts';
import { cpumaskKfuncs, iterNumKfuncs, rcuKfuncs } from '../../../src/bpf/kfuncs/generic.ts';
import type { KfuncDef } from '../../../src/bpf/kfuncs/kfunc.ts';

/** Give each kfunc an id (its position + 1) and a `call kfunc N` spelling. */
function table(defs: KfuncDef[]) {
  const ids = new Map(defs.map((d, i) => [d.name, i + 1]));
  const kfuncs = helperTable(defs.map((d, i) => ({ id: i + 1, name: d.name, fn: d.fn })));
  const call = (name: string) => `call kfunc ${ids.get(name)}`;
  return { kfuncs, call };
}

function runBoth(src: (call: (n: string) => string) => string, make: (mem: AddressSpace) => KfuncDef[]) {
  return (['interp', 'jit'] as const).map((engine) => {
    const mem = new AddressSpace();
    const { kfuncs, call } = table(make(mem));
    const insns = assemble(src(call));
    const exe = engine === 'jit' ? new JitProgram(insns, mem, { kfuncs }) : new Interpreter(insns, mem, { kfuncs });
    return exe.run().r0;
  });
}

describe('bpf_iter_num (bpf_for)', () => {
  // sum of i for i in [start, end): the shape clang gives bpf_for(i, start, end).
  const loop = (start: number, end: number) => (call: (n: string) => string) => `
    mov %r6, 0
    mov %r1, %r10
    add %r1, -8
    mov %r2, ${start}
    mov %r3, ${end}
    ${call('bpf_iter_num_new')}
    mov %r7, %r0
  next:
    mov %r1, %r10
    add %r1, -8
    ${call('bpf_iter_num_next')}
    jeq %r0, 0, done
    ldxw %r1, [%r0]
    add %r6, %r1
    ja next
  done:
    mov %r1, %r10
    add %r1, -8
    ${call('bpf_iter_num_destroy')}
    lsh %r7, 32
    or %r6, %r7
    mov %r0, %r6
    exit`;

  it('iterates [start, end) and reports bad ranges like the kernel', () => {
    expect(runBoth(loop(3, 7), iterNumKfuncs)).toEqual([3n + 4n + 5n + 6n, 3n + 4n + 5n + 6n]);
    // start > end: -EINVAL (0xffffffea in the high half) and no iterations.
    expect(runBoth(loop(5, 2), iterNumKfuncs)[0]).toBe(0xffffffean << 32n);
    // More than BPF_MAX_LOOPS: -E2BIG.
    expect(runBoth(loop(0, 8 * 1024 * 1024 + 1), iterNumKfuncs)[1]).toBe(0xfffffff9n << 32n);
  });
});

describe('cpumask kfuncs', () => {
  const env = (mem: AddressSpace) => cpumaskKfuncs({ mem, nrCpuIds: 8, currentCpu: () => 0 });
  const k = (mem: AddressSpace) => {
    const defs = new Map(env(mem).map((d) => [d.name, d]));
    // Call a kfunc directly with up to three arguments through a tiny program.
    return (name: string, ...args: number[]) => {
      const { kfuncs, call } = table([defs.get(name)!]);
      const setup = args.map((a, i) => `lddw %r${i + 1}, ${a}`).join('\n');
      return Number(new Interpreter(assemble(`${setup}\n${call(name)}\nexit\n`), mem, { kfuncs }).run().r0);
    };
  };

  it('creates, edits, combines and releases masks over nr_cpu_ids CPUs', () => {
    const mem = new AddressSpace();
    const kf = k(mem);
    const a = kf('bpf_cpumask_create');
    const b = kf('bpf_cpumask_create');
    expect(a).toBeGreaterThan(0);
    expect(kf('bpf_cpumask_empty', a)).toBe(1);
    expect(kf('bpf_cpumask_first', a)).toBe(8);
    kf('bpf_cpumask_set_cpu', 1, a);
    kf('bpf_cpumask_set_cpu', 5, a);
    kf('bpf_cpumask_set_cpu', 9, a); // beyond nr_cpu_ids: ignored
    expect(kf('bpf_cpumask_weight', a)).toBe(2);
    expect(kf('bpf_cpumask_first', a)).toBe(1);
    expect(kf('bpf_cpumask_first_zero', a)).toBe(0);
    expect(kf('bpf_cpumask_test_and_set_cpu', 3, a)).toBe(0);
    expect(kf('bpf_cpumask_test_and_clear_cpu', 3, a)).toBe(1);
    kf('bpf_cpumask_setall', b);
    expect(kf('bpf_cpumask_full', b)).toBe(1);
    expect(kf('bpf_cpumask_subset', a, b)).toBe(1);
    expect(kf('bpf_cpumask_subset', b, a)).toBe(0);
    kf('bpf_cpumask_clear_cpu', 1, b);
    expect(kf('bpf_cpumask_and', b, a, b)).toBe(1); // b = {5}
    expect(kf('bpf_cpumask_weight', b)).toBe(1);
    expect(kf('bpf_cpumask_first_and', a, b)).toBe(5);
    kf('bpf_cpumask_xor', b, a, b); // {1,5} ^ {5} = {1}
    expect(kf('bpf_cpumask_first', b)).toBe(1);
    expect(kf('bpf_cpumask_intersects', a, b)).toBe(1);
    kf('bpf_cpumask_copy', b, a);
    expect(kf('bpf_cpumask_equal', a, b)).toBe(1);
    // Round robin over {1, 5} for the calling CPU.
    expect([1, 2, 3].map(() => kf('bpf_cpumask_any_distribute', a))).toEqual([1, 5, 1]);
    expect(kf('bpf_cpumask_acquire', a)).toBe(a);
    kf('bpf_cpumask_release', a);
    kf('bpf_cpumask_release', a);
    expect(() => kf('bpf_cpumask_release', a)).toThrow('is not a live bpf_cpumask');
    // The freed object is reused by the next create.
    expect(kf('bpf_cpumask_create')).toBe(a);
  });

  it('declares every kfunc with a prototype for the kernel BTF', () => {
    const defs = [...iterNumKfuncs(new AddressSpace()), ...env(new AddressSpace()), ...rcuKfuncs()];
    expect(new Set(defs.map((d) => d.name)).size).toBe(defs.length);
    for (const d of defs) expect(d.proto.kind).toBe('func_proto');
    expect(defs.find((d) => d.name === 'bpf_cpumask_and')!.proto.params.map((p) => p.name)).toEqual(['dst', 'src1', 'src2']);
  });
});
