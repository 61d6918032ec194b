/**
 * Generic BPF kfuncs a scheduler leans on, with the kernel's semantics:
 *  - the numeric iterator behind bpf_for()/bpf_repeat() (kernel/bpf/bpf_iter.c: at most
 *    BPF_MAX_LOOPS iterations, state {int cur, end} in the program's stack);
 *  - the cpumask family (kernel/bpf/cpumask.c): reference-counted `struct bpf_cpumask` objects
 *    allocated in the object's memory, and operations on any `struct cpumask` (a bpf_cpumask,
 *    p->cpus_ptr, the idle masks), limited to nr_cpu_ids bits;
 *  - RCU read-side markers, which a simulator that runs one program at a time need not act on.
 */
import { C, VOID, funcProto, ptr, type CType } from '../ctypes.ts';
import { HelperError, type HelperCall } from '../helpers.ts';
import { BPF_MAX_LOOPS } from '../isa.ts';
import type { AddressSpace } from '../memory.ts';
import { ElementPool } from '../maps/pool.ts';
import { KF, type KfuncDef } from './kfunc.ts';
import { CPUMASK_BYTES, boolT, bpfCpumask, bpfIterNum, cpumask, u32T } from './types.ts';

const EINVAL = 22;
const E2BIG = 7;

const proto = (ret: CType, ...params: [string, CType][]) => funcProto(ret, params.map(([name, type]) => ({ name, type })));
/** Flags per kfunc as kernel/bpf registers them (the cpumask operations take RCU pointers). */
const FLAGS: Record<string, number> = {
  bpf_iter_num_new: KF.ITER_NEW,
  bpf_iter_num_next: KF.ITER_NEXT | KF.RET_NULL,
  bpf_iter_num_destroy: KF.ITER_DESTROY,
  bpf_cpumask_create: KF.ACQUIRE | KF.RET_NULL,
  bpf_cpumask_acquire: KF.ACQUIRE | KF.TRUSTED_ARGS,
  bpf_cpumask_release: KF.RELEASE,
  bpf_rcu_read_lock: 0,
  bpf_rcu_read_unlock: 0,
};
const k = (name: string, p: ReturnType<typeof proto>, fn: KfuncDef['fn']): KfuncDef => ({ name, proto: p, fn, flags: FLAGS[name] ?? KF.RCU });

export function iterNumKfuncs(mem: AddressSpace): KfuncDef[] {
  const it = ptr(bpfIterNum);
  return [
    k('bpf_iter_num_new', proto(C.s32, ['it', it], ['start', C.s32], ['end', C.s32]), (c) => {
      const at = c.ptr(1);
      const start = c.i32(2);
      const end = c.i32(3);
      // An iterator that failed to start yields nothing; `next` must still be safe to call.
      if (start > end) {
        setIter(mem, at, 0, 0);
        return -EINVAL;
      }
      if (end - start > BPF_MAX_LOOPS) {
        setIter(mem, at, 0, 0);
        return -E2BIG;
      }
      setIter(mem, at, start - 1, end);
      return 0;
    }),
    k('bpf_iter_num_next', proto(ptr(C.s32), ['it', it]), (c) => {
      const at = c.ptr(1);
      const cur = mem.view.getInt32(at, true);
      const end = mem.view.getInt32(at + 4, true);
      if (cur + 1 >= end) return 0;
      mem.view.setInt32(at, cur + 1, true);
      return at;
    }),
    k('bpf_iter_num_destroy', proto(VOID, ['it', it]), (c) => {
      setIter(mem, c.ptr(1), 0, 0);
      return 0;
    }),
  ];
}

function setIter(mem: AddressSpace, at: number, cur: number, end: number): void {
  mem.view.setInt32(at, cur, true);
  mem.view.setInt32(at + 4, end, true);
}

export interface CpumaskEnv {
  mem: AddressSpace;
  /** nr_cpu_ids: CPUs of the simulated machine. */
  nrCpuIds: number;
  /** The CPU running the program (any_distribute keeps its round-robin position per CPU). */
  currentCpu(): number;
}

/** Offset of the reference count inside struct bpf_cpumask. */
const USAGE = CPUMASK_BYTES;

export function cpumaskKfuncs(env: CpumaskEnv): KfuncDef[] {
  const { mem, nrCpuIds } = env;
  const pool = new ElementPool(mem, 'bpf_cpumask objects', bpfCpumask.size, 0, false);
  const slotOf = new Map<number, number>();
  const distributePrev = new Int32Array(nrCpuIds).fill(-1);
  const bmask = ptr(bpfCpumask);
  const cmask = ptr(cpumask, true);

  const test = (m: number, cpu: number): boolean => ((mem.bytes[m + (cpu >> 3)] >> (cpu & 7)) & 1) === 1;
  const set = (m: number, cpu: number, on: boolean): void => {
    const at = m + (cpu >> 3);
    if (on) mem.bytes[at] |= 1 << (cpu & 7);
    else mem.bytes[at] &= ~(1 << (cpu & 7));
  };
  /** First CPU >= from (below nr_cpu_ids) whose bit satisfies `want`, else nr_cpu_ids. */
  const find = (from: number, want: (cpu: number) => boolean): number => {
    for (let cpu = from; cpu < nrCpuIds; cpu++) if (want(cpu)) return cpu;
    return nrCpuIds;
  };
  const every = (pred: (cpu: number) => boolean): boolean => {
    for (let cpu = 0; cpu < nrCpuIds; cpu++) if (!pred(cpu)) return false;
    return true;
  };
  const cpuArg = (c: HelperCall, i: number): number => c.lo(i);
  const valid = (cpu: number): boolean => cpu < nrCpuIds;
  const ref = (c: HelperCall, i: number): number => {
    const at = c.ptr(i);
    if (!slotOf.has(at)) throw new HelperError(`argument r${i} (0x${at.toString(16)}) is not a live bpf_cpumask`);
    return at;
  };
  const distribute = (pred: (cpu: number) => boolean): number => {
    // The kernel's cpumask_any_distribute: the next set bit after this CPU's previous answer, wrapping.
    const me = env.currentCpu();
    const prev = distributePrev[me] ?? -1;
    let next = find(prev + 1, pred);
    if (next >= nrCpuIds) next = find(0, pred);
    if (next < nrCpuIds) distributePrev[me] = next;
    return next;
  };

  return [
    k('bpf_cpumask_create', proto(bmask), () => {
      const slot = pool.alloc();
      if (slot < 0) return 0;
      const at = pool.addr[slot];
      mem.bytes.fill(0, at, at + bpfCpumask.size);
      mem.view.setInt32(at + USAGE, 1, true);
      slotOf.set(at, slot);
      return at;
    }),
    k('bpf_cpumask_acquire', proto(bmask, ['cpumask', bmask]), (c) => {
      const at = ref(c, 1);
      mem.view.setInt32(at + USAGE, mem.view.getInt32(at + USAGE, true) + 1, true);
      return at;
    }),
    k('bpf_cpumask_release', proto(VOID, ['cpumask', bmask]), (c) => {
      const at = ref(c, 1);
      const refs = mem.view.getInt32(at + USAGE, true) - 1;
      mem.view.setInt32(at + USAGE, refs, true);
      if (refs === 0) {
        pool.release(slotOf.get(at)!);
        slotOf.delete(at);
      }
      return 0;
    }),
    k('bpf_cpumask_first', proto(u32T, ['cpumask', cmask]), (c) => {
      const m = c.ptr(1);
      return find(0, (cpu) => test(m, cpu));
    }),
    k('bpf_cpumask_first_zero', proto(u32T, ['cpumask', cmask]), (c) => {
      const m = c.ptr(1);
      return find(0, (cpu) => !test(m, cpu));
    }),
    k('bpf_cpumask_first_and', proto(u32T, ['src1', cmask], ['src2', cmask]), (c) => {
      const a = c.ptr(1);
      const b = c.ptr(2);
      return find(0, (cpu) => test(a, cpu) && test(b, cpu));
    }),
    k('bpf_cpumask_set_cpu', proto(VOID, ['cpu', u32T], ['cpumask', bmask]), (c) => {
      const cpu = cpuArg(c, 1);
      if (valid(cpu)) set(ref(c, 2), cpu, true);
      return 0;
    }),
    k('bpf_cpumask_clear_cpu', proto(VOID, ['cpu', u32T], ['cpumask', bmask]), (c) => {
      const cpu = cpuArg(c, 1);
      if (valid(cpu)) set(ref(c, 2), cpu, false);
      return 0;
    }),
    k('bpf_cpumask_test_cpu', proto(boolT, ['cpu', u32T], ['cpumask', cmask]), (c) => {
      const cpu = cpuArg(c, 1);
      return valid(cpu) && test(c.ptr(2), cpu) ? 1 : 0;
    }),
    k('bpf_cpumask_test_and_set_cpu', proto(boolT, ['cpu', u32T], ['cpumask', bmask]), (c) => {
      const cpu = cpuArg(c, 1);
      if (!valid(cpu)) return 0;
      const m = ref(c, 2);
      const was = test(m, cpu);
      set(m, cpu, true);
      return was ? 1 : 0;
    }),
    k('bpf_cpumask_test_and_clear_cpu', proto(boolT, ['cpu', u32T], ['cpumask', bmask]), (c) => {
      const cpu = cpuArg(c, 1);
      if (!valid(cpu)) return 0;
      const m = ref(c, 2);
      const was = test(m, cpu);
      set(m, cpu, false);
      return was ? 1 : 0;
    }),
    k('bpf_cpumask_setall', proto(VOID, ['cpumask', bmask]), (c) => {
      const m = ref(c, 1);
      for (let cpu = 0; cpu < nrCpuIds; cpu++) set(m, cpu, true);
      return 0;
    }),
    k('bpf_cpumask_clear', proto(VOID, ['cpumask', bmask]), (c) => {
      const m = ref(c, 1);
      mem.bytes.fill(0, m, m + CPUMASK_BYTES);
      return 0;
    }),
    k('bpf_cpumask_and', proto(boolT, ['dst', bmask], ['src1', cmask], ['src2', cmask]), (c) => {
      const d = ref(c, 1);
      const a = c.ptr(2);
      const b = c.ptr(3);
      let any = false;
      for (let cpu = 0; cpu < nrCpuIds; cpu++) {
        const on = test(a, cpu) && test(b, cpu);
        set(d, cpu, on);
        any ||= on;
      }
      return any ? 1 : 0;
    }),
    k('bpf_cpumask_or', proto(VOID, ['dst', bmask], ['src1', cmask], ['src2', cmask]), (c) => {
      const d = ref(c, 1);
      const a = c.ptr(2);
      const b = c.ptr(3);
      for (let cpu = 0; cpu < nrCpuIds; cpu++) set(d, cpu, test(a, cpu) || test(b, cpu));
      return 0;
    }),
    k('bpf_cpumask_xor', proto(VOID, ['dst', bmask], ['src1', cmask], ['src2', cmask]), (c) => {
      const d = ref(c, 1);
      const a = c.ptr(2);
      const b = c.ptr(3);
      for (let cpu = 0; cpu < nrCpuIds; cpu++) set(d, cpu, test(a, cpu) !== test(b, cpu));
      return 0;
    }),
    k('bpf_cpumask_equal', proto(boolT, ['src1', cmask], ['src2', cmask]), (c) => {
      const a = c.ptr(1);
      const b = c.ptr(2);
      return every((cpu) => test(a, cpu) === test(b, cpu)) ? 1 : 0;
    }),
    k('bpf_cpumask_intersects', proto(boolT, ['src1', cmask], ['src2', cmask]), (c) => {
      const a = c.ptr(1);
      const b = c.ptr(2);
      return every((cpu) => !(test(a, cpu) && test(b, cpu))) ? 0 : 1;
    }),
    k('bpf_cpumask_subset', proto(boolT, ['src1', cmask], ['src2', cmask]), (c) => {
      const a = c.ptr(1);
      const b = c.ptr(2);
      return every((cpu) => !test(a, cpu) || test(b, cpu)) ? 1 : 0;
    }),
    k('bpf_cpumask_empty', proto(boolT, ['cpumask', cmask]), (c) => {
      const m = c.ptr(1);
      return every((cpu) => !test(m, cpu)) ? 1 : 0;
    }),
    k('bpf_cpumask_full', proto(boolT, ['cpumask', cmask]), (c) => {
      const m = c.ptr(1);
      return every((cpu) => test(m, cpu)) ? 1 : 0;
    }),
    k('bpf_cpumask_copy', proto(VOID, ['dst', bmask], ['src', cmask]), (c) => {
      const d = ref(c, 1);
      const s = c.ptr(2);
      mem.bytes.copyWithin(d, s, s + CPUMASK_BYTES);
      return 0;
    }),
    k('bpf_cpumask_any_distribute', proto(u32T, ['src', cmask]), (c) => {
      const m = c.ptr(1);
      return distribute((cpu) => test(m, cpu));
    }),
    k('bpf_cpumask_any_and_distribute', proto(u32T, ['src1', cmask], ['src2', cmask]), (c) => {
      const a = c.ptr(1);
      const b = c.ptr(2);
      return distribute((cpu) => test(a, cpu) && test(b, cpu));
    }),
    k('bpf_cpumask_weight', proto(u32T, ['cpumask', cmask]), (c) => {
      const m = c.ptr(1);
      let n = 0;
      for (let cpu = 0; cpu < nrCpuIds; cpu++) if (test(m, cpu)) n++;
      return n;
    }),
  ];
}

/** RCU read-side critical sections: nothing is freed under a running program here. */
export function rcuKfuncs(): KfuncDef[] {
  return [k('bpf_rcu_read_lock', proto(VOID), () => 0), k('bpf_rcu_read_unlock', proto(VOID), () => 0)];
}
