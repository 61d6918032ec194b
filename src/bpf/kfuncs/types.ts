/**
 * Kernel C types that the generic BPF kfuncs (iterators, cpumasks) work on. The scheduler's own
 * kernel structures (src/sched/kernel-types.ts) build on these.
 */
import { C, array, struct, typedef } from '../ctypes.ts';

/** CPUs a cpumask can describe: the simulated kernel's NR_CPUS. */
export const NR_CPUS = 1024;
/** Bytes of a `struct cpumask`. */
export const CPUMASK_BYTES = NR_CPUS / 8;

export const u32T = typedef('u32', C.u32);
export const s32T = typedef('s32', C.s32);
export const u64T = typedef('u64', C.u64);
export const boolT = typedef('bool', C.bool);

export const cpumask = struct('cpumask', [['bits', array(C.ulong, NR_CPUS / 64)]]);
export const cpumaskT = typedef('cpumask_t', cpumask);
const atomicT = typedef('atomic_t', struct('', [['counter', C.s32]]));
const refcount = struct('refcount_struct', [['refs', atomicT]]);
/** A BPF-owned, reference-counted cpumask: the mask first, so it converts to `struct cpumask *`. */
export const bpfCpumask = struct('bpf_cpumask', [
  ['cpumask', cpumaskT],
  ['usage', typedef('refcount_t', refcount)],
]);

/** Open-coded numeric iterator state (bpf_for / bpf_repeat): the kernel keeps {int cur, end}. */
export const bpfIterNum = struct('bpf_iter_num', [['__opaque', array(u64T, 1)]]);
