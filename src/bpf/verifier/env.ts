/**
 * What the parts of the verifier share: its options and the environment one analysis carries
 * across paths, the limits, the rejection, and the frame and call plumbing that analyze.ts (control
 * flow), memory.ts (loads, stores, buffers) and calls.ts (helpers, kfuncs) all use.
 */
import { type Insn } from '../isa.ts';
import { layout, unwrap, type CType, type FuncProtoType, type RecordType } from '../ctypes.ts';
import { Scalar } from './scalar.ts';
import {
  UNINIT,
  describe,
  newFrame,
  type CallbackInfo,
  type CtxArg,
  type MapDesc,
  type Reg,
  type State,
} from './state.ts';
import type { StructureOptions } from './structure.ts';

/** What a register holds at entry of a plain program, for r1, r2, ... in order. */
export type EntryArg = { kind: 'ctx'; size: number; writable?: boolean } | { kind: 'scalar'; value?: bigint };

/** Maps a loaded program refers to, by the addresses the loader put into its `lddw`s. */
export interface VerifierMaps {
  /** The map whose `struct bpf_map` stand-in is at `addr` (`lddw map_fd`). */
  mapAt(addr: number): MapDesc | undefined;
  /** The map value holding `addr` (`lddw map_value`: global data, kconfig). */
  valueAt(addr: number): { map: MapDesc; offset: number } | undefined;
}

export interface KfuncDesc {
  readonly name: string;
  readonly proto: FuncProtoType;
  /** KF_* bits. */
  readonly flags: number;
}

/** A non-static function (BTF linkage global): verified on its own, called as a black box. */
export interface GlobalFunc {
  readonly name: string;
  readonly params: readonly CType[];
}

/** The program's attachment: a struct_ops callback, with its arguments and its kernel's rules. */
export interface ProgramContext {
  /** The callback's name (`enqueue`, ...); kfunc context checks use it. */
  readonly name: string;
  /** r1 is the trampoline's u64 array holding these arguments. */
  readonly args: readonly CtxArg[];
  readonly sleepable: boolean;
  /**
   * Why `kfunc` may not be called from `context` (the callback's name, or `timer` inside a BPF
   * timer callback), or null when it may.
   */
  kfuncProblem?(kfunc: string, context: string): string | null;
  /** May the program write these bytes of a kernel struct? Nothing is writable when absent. */
  fieldWritable?(rec: RecordType, offset: number, size: number): boolean;
  /** Kernel struct by name, for kptr fields of map values. */
  kernelType?(name: string): RecordType | undefined;
}

export interface AnalyzeOptions extends Omit<StructureOptions, 'entryArgs'> {
  /** r1, r2, ... at entry of a plain program; default: r1 is a read-only context of `ctxSize` bytes. */
  args?: readonly EntryArg[];
  /** Size of the context r1 points to when neither `args` nor `program` is given (default 0). */
  ctxSize?: number;
  /** A struct_ops program: r1 and the kfunc rules come from here. */
  program?: ProgramContext;
  maps?: VerifierMaps;
  /** Kfuncs by kernel BTF id. */
  kfunc?(id: number): KfuncDesc | undefined;
  /**
   * nr_cpu_ids, the bound of bpf_get_smp_processor_id. Default NR_CPUS (1024): a program that
   * verifies then verifies on every machine size, where Linux checks against the machine it runs on.
   */
  nrCpuIds?: number;
  /** Global functions by first instruction. */
  globalFuncs?: ReadonlyMap<number, GlobalFunc>;
  /** Processed-instruction budget (the kernel's BPF_COMPLEXITY_LIMIT_INSNS). */
  maxInsns?: number;
  /** Budget of branches waiting to be explored (the kernel's BPF_COMPLEXITY_LIMIT_JMP_SEQ). */
  maxPendingBranches?: number;
  /** Called before each processed instruction with the state it runs in (`verify --log`). */
  log?(pc: number, state: string): void;
}

export type AnalyzeResult =
  | {
      ok: true;
      insnsProcessed: number;
      /**
       * Loads through kernel-struct pointers, by slot (1 = yes): Linux turns them into
       * BPF_PROBE_MEM, which read 0 instead of faulting; the engines take this as ExecOptions.probeLoads.
       */
      probeLoads: Uint8Array;
    }
  | { ok: false; pc: number; message: string };

export const COMPLEXITY_LIMIT = 1_000_000;
/** Linux applies this limit to loaders without CAP_PERFMON, which is the strict mode's model. */
export const JMP_SEQ_LIMIT = 8192;
/** The kernel's BPF_MAX_VAR_OFF: a pointer's offset must stay within +-2^29. */
export const MAX_VAR_OFF = 1n << 29n;
/** The kernel's BPF_MAX_VAR_SIZ: a helper's memory size must be below this. */
export const MAX_VAR_SIZE = 1n << 29n;
/** Linux's MAX_CALL_FRAMES: the program and at most seven nested bpf-to-bpf calls. */
export const MAX_CALL_FRAMES = 8;

/** task_struct pointer fields the kernel trusts under RCU (BTF_TYPE_SAFE_RCU). */
export const RCU_SAFE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  task_struct: ['cpus_ptr', 'real_parent', 'group_leader'],
};

/** Kernel objects freed only after an RCU grace period, so an RCU reader may use a kptr to one. */
export const RCU_KPTR_TYPES: ReadonlySet<string> = new Set(['bpf_cpumask', 'task_struct']);

export const sizedUnknown = (size: number, signed: boolean): Scalar => {
  if (size === 8) return Scalar.unknown();
  const bits = BigInt(size * 8);
  return signed
    ? Scalar.from({ smin: -(1n << (bits - 1n)), smax: (1n << (bits - 1n)) - 1n })!
    : Scalar.range(0n, (1n << bits) - 1n);
};

export const MIN_S64 = -(1n << 63n);
export const MAX_S64 = (1n << 63n) - 1n;

export class Reject extends Error {
  constructor(
    readonly pc: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Everything one analysis shares across paths. */
export interface Env {
  readonly insns: readonly Insn[];
  readonly options: AnalyzeOptions;
  readonly kernelMode: boolean;
  /** Deepest stack use (bytes below the frame pointer) per subprogram start. */
  readonly depth: Map<number, number>;
  /** Each call chain seen, by its call sites: the subprograms with the calls that entered them. */
  readonly chains: Map<string, { subprog: number; callsite: number }[]>;
  /** Roots verified on their own (timer callbacks, global functions), queued once each. */
  readonly roots: Map<string, State>;
  /** Where states are compared (jump targets, after conditional jumps, loop heads). */
  readonly prunePoint: Uint8Array;
  /**
   * Loop heads whose loops end by themselves (iterator `next` calls, the entry of a callback a
   * helper calls repeatedly): a state included in one still being explored there has converged.
   */
  readonly converging: Uint8Array;
  /** Loads through kernel-struct pointers (BPF_PROBE_MEM in Linux). */
  readonly probeLoads: Uint8Array;
  nextId: number;
}

export function emptyState(subprog: number, callback: CallbackInfo | null): State {
  return { ...newFrame(subprog, -1, 0, callback), callers: [], refs: [], lock: null, rcuDepth: 0, rcuPc: -1, repeats: 0 };
}

export const CONVERGE_CALLBACK = 1;
export const CONVERGE_ITER_NEXT = 2;

/**
 * Push a frame for a subprogram (a `call local`, or a callback a helper calls): the callee's
 * r1..r5 are `args`, its r0 and r6..r9 start uninitialised, and it gets its own 512-byte stack.
 * Returns the callee's first instruction.
 */
export function pushFrame(env: Env, pc: number, st: State, target: number, args: readonly Reg[], callback: CallbackInfo | null): number {
  if (target === st.subprog || st.callers.some((f) => f.subprog === target)) {
    throw new Reject(pc, `recursive call: the subprogram at ${target} is already on the call stack; BPF functions may not recurse, turn the recursion into a bounded loop`);
  }
  const frames = st.callers.length + 2;
  if (frames > MAX_CALL_FRAMES) {
    throw new Reject(pc, `the call stack of ${frames} frames is too deep (the limit is ${MAX_CALL_FRAMES} frames); inline some functions or flatten the call chain`);
  }
  const saved = st.regs.slice();
  for (let r = 0; r <= 5; r++) saved[r] = UNINIT;
  st.callers.push({ regs: saved, bytes: st.bytes, spills: st.spills, subprog: st.subprog, callsite: st.callsite, callback: st.callback });
  const fresh = newFrame(target, pc, st.callers.length, callback);
  for (let r = 1; r <= 5; r++) fresh.regs[r] = args[r - 1] ?? UNINIT;
  Object.assign(st, fresh);
  const chain = [...st.callers.map((f) => ({ subprog: f.subprog, callsite: f.callsite })), { subprog: target, callsite: pc }];
  const key = chain.map((c) => c.callsite).join(',');
  if (!env.chains.has(key)) env.chains.set(key, chain);
  return target;
}

export const pointeeSize = (t: CType): number => {
  const u = unwrap(t);
  return u.kind === 'void' || u.kind === 'func_proto' ? 0 : (u.kind === 'struct' || u.kind === 'union') && !u.complete ? 0 : layout(u).size;
};

/** The kfunc context of the path: a timer callback's own, else the program's. */
export function rootContext(st: State): string | undefined {
  const outer = st.callers.length ? st.callers[0] : st;
  return outer.callback?.context;
}

/** Check that register r holds a value. */
export function need(st: State, pc: number, r: number): Exclude<Reg, { k: 'uninit' }> {
  const v = st.regs[r];
  if (v.k === 'uninit') {
    if (v.voidExit !== undefined) {
      throw new Reject(v.voidExit, `r0 is not set at exit of this subprogram, and its caller reads the result at instruction ${pc}; return a value on every path`);
    }
    throw new Reject(pc, `r${r} is read before it is written`);
  }
  if (v.k === 'released') throw new Reject(pc, `r${r} is ${describe(v)}: a use after release; do not use a pointer once its reference is released`);
  return v;
}

export type Fork = { continue: State | null; continuePc: number; other: { pc: number; state: State | null } };

/** After a helper or kfunc call: r1..r5 are gone, r0 holds the result. */
export function clobberCall(st: State, r0: Reg): void {
  const regs = st.regs;
  for (let r = 1; r <= 5; r++) regs[r] = UNINIT;
  regs[0] = r0;
}
