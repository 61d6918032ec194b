/**
 * The second stage of verification: a path-sensitive abstract interpreter. It walks every path of
 * a program with a per-path state (state.ts): each register uninitialised, a Scalar, or a typed
 * pointer (stack, context, map, map value, kernel object, memory, function) with a Scalar offset;
 * each stack byte uninitialised, data, part of a spilled register or of an iterator; the
 * references the path holds, and the spin lock / RCU section it is in.
 *
 * Both sides of a conditional jump are explored, narrowed by Scalar.refine (a side it proves dead
 * is skipped); testing a possibly-NULL pointer against 0 settles every copy of it. Loops are
 * handled the kernel's way, by exploration with pruning: at every jump target the states seen are
 * kept, and a new state included in a completely verified one stops there; one equal to a state
 * still being verified on the same path (its loop came back to it unchanged) is an infinite loop;
 * and a budget of processed instructions stops the rest. At an open-coded iterator's `next` call
 * a state included in one still being verified has converged (the iterator ends the loop), and one
 * differing only in scalars is widened, as the kernel does.
 *
 * Calls: helpers are checked against their prototypes (kernel-helpers.ts HELPER_PROTOS), kfuncs
 * against their C prototypes and KF_* flags, and each kfunc against the calling context (which
 * sched_ext callback may call it). bpf-to-bpf calls push a frame (see callLocal); callbacks of
 * bpf_loop / bpf_for_each_map_elem run as a frame above the caller, zero or more times (each call
 * starts from what the previous one left; the callback's entry converges like an iterator loop); BPF timer
 * callbacks and global functions are verified on their own, from the state the kernel gives them.
 */
import { jumpTaken } from '../interp.ts';
import {
  ALU_ADD,
  ALU_AND,
  ALU_END,
  ALU_MOV,
  ALU_NEG,
  ALU_OR,
  ALU_XOR,
  ALU_OP_NAMES,
  ALU_SUB,
  CALL_HELPER,
  CALL_KFUNC,
  CALL_LOCAL,
  CLS_ALU,
  CLS_ALU64,
  CLS_JMP,
  CLS_JMP32,
  CLS_LD,
  CLS_LDX,
  CLS_ST,
  CLS_STX,
  JMP_JA,
  JMP_JEQ,
  JMP_JNE,
  MODE_ATOMIC,
  MODE_MEMSX,
  OP_CALL,
  OP_CALLX,
  OP_EXIT,
  OP_JA32,
  OP_LDDW,
  OP_MAY_GOTO,
  PSEUDO_BTF_ID,
  PSEUDO_FUNC,
  PSEUDO_MAP_FD,
  PSEUDO_MAP_VALUE,
  PSEUDO_NONE,
  SRC_X,
  STACK_SIZE,
  ATOMIC_CMPXCHG,
  ATOMIC_FETCH,
  ATOMIC_XCHG,
  accessSize,
  branchTarget,
  lddwImm,
  type Insn,
} from '../isa.ts';
import { formatInsn } from '../asm.ts';
import { layout, unwrap, type CType, type FuncProtoType, type RecordType } from '../ctypes.ts';
import { HELPER_PROTOS, HelperId, type HelperArg, type HelperProto } from '../kernel-helpers.ts';
import { KF } from '../kfuncs/kfunc.ts';
import { Scalar } from './scalar.ts';
import {
  B_DATA,
  B_ITER,
  B_SPILL,
  B_UNINIT,
  UNINIT,
  UNKNOWN,
  cloneState,
  constant,
  describe,
  isPtr,
  iterationsDiffer,
  mapRegs,
  newFrame,
  pointer,
  sameShape,
  scalar,
  stateIncluded,
  widenScalars,
  type CallbackInfo,
  type CtxArg,
  type Frame,
  type IterReg,
  type MapDesc,
  type PtrReg,
  type Reg,
  type State,
} from './state.ts';
import { VerifierError, checkStructure, type StructureOptions } from './structure.ts';

export type { CtxArg, MapDesc } from './state.ts';
export { constant as fastConst } from './state.ts';

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
const MAX_VAR_OFF = 1n << 29n;
/** The kernel's BPF_MAX_VAR_SIZ: a helper's memory size must be below this. */
const MAX_VAR_SIZE = 1n << 29n;
/** Stored states per jump target; older ones are dropped (the kernel evicts by miss count). */
const MAX_STATES_PER_PC = 64;
/**
 * Pending states (still being verified) a new state is compared with for equality, newest first:
 * a loop that comes back unchanged within this many passes through its head is caught here, any
 * other by the instruction budget.
 */
const LOOP_WINDOW = 8;
/** Linux's MAX_CALL_FRAMES: the program and at most seven nested bpf-to-bpf calls. */
export const MAX_CALL_FRAMES = 8;

/** task_struct pointer fields the kernel trusts under RCU (BTF_TYPE_SAFE_RCU). */
const RCU_SAFE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  task_struct: ['cpus_ptr', 'real_parent', 'group_leader'],
};

/** Kernel objects freed only after an RCU grace period, so an RCU reader may use a kptr to one. */
const RCU_KPTR_TYPES: ReadonlySet<string> = new Set(['bpf_cpumask', 'task_struct']);

const sizedUnknown = (size: number, signed: boolean): Scalar => {
  if (size === 8) return Scalar.unknown();
  const bits = BigInt(size * 8);
  return signed
    ? Scalar.from({ smin: -(1n << (bits - 1n)), smax: (1n << (bits - 1n)) - 1n })!
    : Scalar.range(0n, (1n << bits) - 1n);
};

const MIN_S64 = -(1n << 63n);
const MAX_S64 = (1n << 63n) - 1n;

class Reject extends Error {
  constructor(
    readonly pc: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Everything one analysis shares across paths. */
interface Env {
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

/** A stored state at a jump target, with the number of paths still being verified below it. */
interface Checkpoint {
  /** Dropped (null) once evicted from its list: only the pending count is still needed. */
  state: State | null;
  parent: Checkpoint | null;
  pending: number;
}

/**
 * Verify a program path by path. Runs the structural stage first, whose rejections are returned
 * the same way. Messages start with the instruction index and text.
 */
export function analyze(insns: readonly Insn[], options: AnalyzeOptions = {}): AnalyzeResult {
  const message = (pc: number, reason: string): string =>
    new VerifierError(pc, pc >= 0 && pc < insns.length ? formatInsn(insns, pc) : '', reason).message;
  const entryArgs = options.program ? 1 : (options.args ?? [{ kind: 'ctx', size: 0 }]).length;
  try {
    checkStructure(insns, { ...options, entryArgs });
  } catch (e) {
    if (e instanceof VerifierError) return { ok: false, pc: e.pc, message: e.message };
    throw e;
  }
  const env: Env = {
    insns,
    options,
    kernelMode: (options.mode ?? 'kernel') === 'kernel',
    depth: new Map(),
    chains: new Map(),
    roots: new Map(),
    prunePoint: new Uint8Array(insns.length),
    converging: new Uint8Array(insns.length),
    probeLoads: new Uint8Array(insns.length),
    nextId: 1,
  };
  try {
    const insnsProcessed = explore(env, entryState(env));
    return { ok: true, insnsProcessed, probeLoads: env.probeLoads };
  } catch (e) {
    if (e instanceof Reject) return { ok: false, pc: e.pc, message: message(e.pc, e.reason) };
    throw e;
  }
}

function emptyState(subprog: number, callback: CallbackInfo | null): State {
  return { ...newFrame(subprog, -1, 0, callback), callers: [], refs: [], lock: null, rcuDepth: 0, rcuPc: -1, repeats: 0 };
}

function entryState(env: Env): State {
  const st = emptyState(0, null);
  const { program, args, ctxSize } = env.options;
  if (program) {
    st.regs[1] = pointer('ctx', { size: 8 * program.args.length, args: program.args });
    return st;
  }
  (args ?? [{ kind: 'ctx', size: ctxSize ?? 0 }]).forEach((a, i) => {
    st.regs[i + 1] =
      a.kind === 'ctx'
        ? pointer('ctx', { size: a.size, writable: a.writable ?? false })
        : scalar(a.value === undefined ? Scalar.unknown() : constant(a.value));
  });
  return st;
}

/** A short text of the state: registers that hold something, stack slots in use, what is held. */
export function formatState(st: State): string {
  const parts: string[] = [];
  const reg = (r: Reg | IterReg): string => {
    switch (r.k) {
      case 'scalar':
        return r.v.isConst() ? String(BigInt.asIntN(64, r.v.umin)) : `scalar${r.v.brief() === 'unknown' ? '' : r.v.brief().replace(/ and .*/, '')}${r.id ? `#${r.id}` : ''}`;
      case 'released':
        return 'released';
      case 'iter':
        return `iter:${r.type}#${r.refId}`;
      case 'uninit':
        return '?';
      default: {
        const off = r.off.isConst() ? (r.off.smin === 0n ? '' : `${r.off.smin >= 0n ? '+' : ''}${r.off.smin}`) : `+${r.off.brief()}`;
        const name =
          r.k === 'stack'
            ? `fp${r.frame}`
            : r.k === 'map' || r.k === 'mapval'
              ? `${r.k}:${r.map!.name}`
              : r.k === 'btf'
                ? `${r.trusted ? '' : 'untrusted '}${r.rec!.name}`
                : r.k === 'func'
                  ? `func@${r.target}`
                  : r.k;
        return `${name}${off}${r.nullId ? '|null' : ''}${r.refId ? `#ref${r.refId}` : ''}`;
      }
    }
  };
  st.regs.forEach((r, i) => {
    if (r.k !== 'uninit') parts.push(`r${i}=${reg(r)}`);
  });
  for (let s = 0; s < STACK_SIZE / 8; s++) {
    const b = st.bytes.subarray(s * 8, s * 8 + 8);
    if (b.every((x) => x === B_UNINIT)) continue;
    const sp = st.spills[s];
    const at = s * 8 - STACK_SIZE;
    if (b[0] === B_SPILL && sp) parts.push(`fp${at}=${reg(sp)}`);
    else if (b[0] === B_ITER && sp) parts.push(`fp${at}=${reg(sp)}`);
    else if (b[0] !== B_ITER) parts.push(`fp${at}=${[...b].map((x) => (x === B_DATA || x === B_SPILL ? 'm' : '?')).join('')}`);
  }
  if (st.refs.length) parts.push(`refs=${st.refs.map((r) => `#${r.id}@${r.pc}`).join(',')}`);
  if (st.lock) parts.push(`lock@${st.lock.pc}`);
  if (st.rcuDepth) parts.push(`rcu@${st.rcuPc}`);
  if (st.callers.length) parts.push(`frame ${st.callers.length}`);
  return parts.join(' ');
}

function explore(env: Env, entry: State): number {
  const { insns, options } = env;
  const n = insns.length;
  const limit = options.maxInsns ?? COMPLEXITY_LIMIT;
  const maxPending = options.maxPendingBranches ?? JMP_SEQ_LIMIT;
  // Prune points: jump targets and the instruction after a conditional jump.
  const prunePoint = env.prunePoint;
  for (let pc = 0; pc < n; pc++) {
    const t = branchTarget(insns[pc], pc);
    if (t !== null && t >= 0 && t < n && insns[pc].opcode !== OP_CALL && insns[pc].opcode !== OP_LDDW) {
      prunePoint[t] = 1;
      if (pc + 1 < n) prunePoint[pc + 1] = 1;
    }
    // Iterator `next` calls are loop heads of open-coded iterator loops.
    const insn = insns[pc];
    if (insn.opcode === OP_CALL && insn.src === CALL_KFUNC) {
      const k = options.kfunc?.(insn.imm);
      if (k && k.flags & KF.ITER_NEXT) {
        env.converging[pc] = CONVERGE_ITER_NEXT;
        prunePoint[pc] = 1;
      }
    }
  }
  const stored: Checkpoint[][] = Array.from({ length: n }, () => []);
  const visits = new Uint32Array(n);
  const work: { pc: number; state: State; cp: Checkpoint | null }[] = [{ pc: entry.subprog, state: entry, cp: null }];
  let processed = 0;
  const queuedRoots = new Set<string>();

  const endPath = (cp: Checkpoint | null): void => {
    for (let c = cp; c && --c.pending === 0; c = c.parent);
  };

  for (;;) {
    if (!work.length) {
      // Roots found along the way (timer callbacks, global functions), each verified once.
      const next = [...env.roots].find(([key]) => !queuedRoots.has(key));
      if (!next) break;
      queuedRoots.add(next[0]);
      work.push({ pc: next[1].subprog, state: next[1], cp: null });
    }
    const path = work.pop()!;
    let { pc, cp } = path;
    const st = path.state;
    for (;;) {
      if (prunePoint[pc]) {
        visits[pc]++;
        let pruned = false;
        let recentPending = 0;
        const list = stored[pc];
        // An iterator's loop converges only while the iterator still yields (Linux: ACTIVE).
        const converging = env.converging[pc] === CONVERGE_CALLBACK || (env.converging[pc] === CONVERGE_ITER_NEXT && iteratorActive(st));
        for (let i = list.length - 1; i >= 0; i--) {
          const old = list[i];
          if (old.pending === 0) {
            if (stateIncluded(st, old.state!, false)) {
              pruned = true;
              break;
            }
          } else if (converging) {
            if (!old.state) continue;
            if (stateIncluded(st, old.state, false)) {
              pruned = true;
              break;
            }
            if (sameShape(st, old.state)) {
              widenScalars(st, old.state);
              if (stateIncluded(st, old.state, false)) {
                pruned = true;
                break;
              }
            }
          } else if (++recentPending <= LOOP_WINDOW && stateIncluded(st, old.state!, true) && !iterationsDiffer(st, old.state!)) {
            throw new Reject(pc, 'infinite loop: execution comes back here in the same state, so nothing bounds the loop; make a counter or a bounded value change on every iteration and exit on it');
          }
        }
        if (pruned) break;
        if (list.length >= MAX_STATES_PER_PC) list.shift()!.state = null;
        cp = { state: cloneState(st), parent: cp, pending: 1 };
        list.push(cp);
      }
      if (++processed > limit) {
        // Blame the loop: the prune point visited most often is its head.
        let hot = pc;
        for (let i = 0; i < n; i++) if (visits[i] > visits[hot]) hot = i;
        throw new Reject(hot, `the program is too complex to verify: more than ${limit} instructions processed (the limit is ${limit}), ${visits[hot]} of the paths through the loop here; bound loops by small constants or split the work`);
      }
      options.log?.(pc, formatState(st));
      const next = step(env, pc, st);
      if (next === null) break;
      if (typeof next === 'number') {
        pc = next;
        continue;
      }
      // A fork: [fall-through state | null, taken state | null], or an explicit list of paths.
      let fall: State | null;
      let taken: State | null;
      let target: number;
      if (Array.isArray(next)) {
        [fall, taken] = next;
        target = branchTarget(insns[pc], pc)!;
      } else {
        fall = next.continue;
        taken = next.other.state;
        target = next.other.pc;
      }
      if (fall && taken) {
        if (cp) cp.pending++;
        if (work.length >= maxPending) {
          throw new Reject(pc, `the program is too complex to verify: more than ${maxPending} branches wait to be explored (the limit is ${maxPending}); bound loops by small constants or reduce branching`);
        }
        work.push({ pc: target, state: taken, cp });
        Object.assign(st, fall);
        pc = Array.isArray(next) ? pc + 1 : next.continuePc;
      } else if (fall) {
        Object.assign(st, fall);
        pc = Array.isArray(next) ? pc + 1 : next.continuePc;
      } else if (taken) {
        Object.assign(st, taken);
        pc = target;
      } else break;
    }
    endPath(cp);
  }
  checkCombinedStack(env);
  return processed;
}

const CONVERGE_CALLBACK = 1;
const CONVERGE_ITER_NEXT = 2;

/** Before an iterator's `next` call: does the iterator r1 points at still yield? */
function iteratorActive(st: State): boolean {
  const r1 = st.regs[1];
  if (r1.k !== 'stack' || !r1.off.isConst()) return false;
  const fr = r1.frame === st.callers.length ? st : st.callers[r1.frame];
  const it = fr.spills[(Number(r1.off.smin) + STACK_SIZE) >> 3];
  return it !== undefined && it.k === 'iter' && !it.ended;
}

/** Reject a call chain whose subprograms' stack depths add up to more than one frame's 512 bytes. */
function checkCombinedStack(env: Env): void {
  const name = (start: number): string => (start === 0 ? 'the program' : `the subprogram at ${start}`);
  for (const chain of env.chains.values()) {
    let total = 0;
    const parts: string[] = [];
    for (const { subprog, callsite } of chain) {
      const d = env.depth.get(subprog) ?? 0;
      total += d;
      parts.push(`${d} (${name(subprog)})`);
      if (total > STACK_SIZE && callsite >= 0) {
        throw new Reject(
          callsite,
          `combined stack size of ${total} bytes on this call chain (${parts.join(' + ')}) exceeds the ${STACK_SIZE}-byte limit; shrink a frame (a per-CPU array map can hold big scratch space) or inline less`,
        );
      }
    }
  }
}

/**
 * Push a frame for a subprogram (a `call local`, or a callback a helper calls): the callee's
 * r1..r5 are `args`, its r0 and r6..r9 start uninitialised, and it gets its own 512-byte stack.
 * Returns the callee's first instruction.
 */
function pushFrame(env: Env, pc: number, st: State, target: number, args: readonly Reg[], callback: CallbackInfo | null): number {
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

/** A `call local`: push a frame, or for a global function, check its arguments and go on. */
function callLocal(env: Env, insn: Insn, pc: number, st: State): number {
  const target = branchTarget(insn, pc)!;
  if (st.lock) throw new Reject(pc, `function calls are not allowed while holding a lock (taken at instruction ${st.lock.pc}); call bpf_spin_unlock first`);
  const global = env.options.globalFuncs?.get(target);
  if (global) return callGlobal(env, pc, st, target, global);
  return pushFrame(env, pc, st, target, st.regs.slice(1, 6), null);
}

/** Global functions are verified once, on their own; a call checks the arguments against the types. */
function callGlobal(env: Env, pc: number, st: State, target: number, fn: GlobalFunc): number {
  const params: Reg[] = [];
  fn.params.forEach((t, i) => {
    const r = i + 1;
    const v = need(st, pc, r);
    const type = unwrap(t);
    if (type.kind === 'ptr') {
      const size = pointeeSize(type.to);
      if (v.k === 'scalar' && v.v.isConst() && v.v.umin === 0n) return;
      if (v.k === 'scalar') throw new Reject(pc, `argument type mismatch: ${fn.name}'s argument ${i + 1} (r${r}) is a pointer, but r${r} is ${describe(v)}`);
      // The callee may read and write the whole buffer (Linux checks both).
      checkMemArg(env, st, pc, r, v, size, 'read', true);
      checkMemArg(env, st, pc, r, v, size, 'write', true);
      params.push(pointer('mem', { size, writable: true, nullId: env.nextId++ }));
    } else if (v.k !== 'scalar') {
      if (env.kernelMode) throw new Reject(pc, `argument type mismatch: ${fn.name}'s argument ${i + 1} (r${r}) is a scalar, but r${r} is ${describe(v)}, which would leak the address`);
    }
  });
  const key = `global:${target}`;
  if (!env.roots.has(key)) {
    const root = emptyState(target, { what: `global function ${fn.name}`, min: -(1n << 63n), max: (1n << 63n) - 1n, context: rootContext(st) });
    fn.params.forEach((t, i) => {
      const type = unwrap(t);
      root.regs[i + 1] = type.kind === 'ptr' ? pointer('mem', { size: pointeeSize(type.to), writable: true, nullId: env.nextId++ }) : UNKNOWN;
    });
    env.roots.set(key, root);
  }
  for (let r = 1; r <= 5; r++) st.regs[r] = UNINIT;
  st.regs[0] = UNKNOWN;
  return pc + 1;
}

const pointeeSize = (t: CType): number => {
  const u = unwrap(t);
  return u.kind === 'void' || u.kind === 'func_proto' ? 0 : (u.kind === 'struct' || u.kind === 'union') && !u.complete ? 0 : layout(u).size;
};

/** The kfunc context of the path: a timer callback's own, else the program's. */
function rootContext(st: State): string | undefined {
  const outer = st.callers.length ? st.callers[0] : st;
  return outer.callback?.context;
}

/**
 * A subprogram's exit: return r0 to the caller, restoring its frame. Returns the caller's next
 * pc; for a callback a helper may call again, also the state of calling it once more.
 */
function returnLocal(env: Env, pc: number, st: State): number | Fork {
  const r0 = st.regs[0];
  if (r0.k === 'stack' && r0.frame === st.callers.length) {
    throw new Reject(pc, `the return value in r0 is a pointer to the callee's own stack frame: the callee returns a pointer to its stack, which dies when it returns (a dangling pointer leak); let the caller pass a pointer to its own stack for the callee to fill`);
  }
  let result: Reg = r0.k === 'uninit' ? { k: 'uninit', voidExit: pc } : r0;
  if (st.callback) {
    checkCallbackReturn(pc, st.callback, r0);
    result = UNKNOWN; // what the helper that ran the callback returns
  }
  const repeat = st.callback?.repeat;
  const callback = st.callback;
  const callsite = st.callsite;
  const caller = st.callers.pop()!;
  const ret = st.callsite + 1;
  const regs = caller.regs.slice();
  regs[0] = result;
  st.regs = regs;
  st.bytes = caller.bytes;
  st.spills = caller.spills;
  st.subprog = caller.subprog;
  st.callsite = caller.callsite;
  st.callback = caller.callback;
  if (!repeat) return ret;
  // Called again with what this call left behind; the callback's entry converges like a loop head.
  const again = cloneState(st);
  again.repeats++;
  const entry = pushFrame(env, callsite, again, repeat.target, repeat.args, callback);
  return { continue: st, continuePc: ret, other: { pc: entry, state: again } };
}

function checkCallbackReturn(pc: number, cb: CallbackInfo, r0: Reg): void {
  if (r0.k !== 'scalar') throw new Reject(pc, `the return value in r0 is ${describe(r0)}; ${cb.what} must return a scalar`);
  if (r0.v.smin < cb.min || r0.v.smax > cb.max) {
    const range = r0.v.isConst() ? String(r0.v.smin) : `${r0.v.smin}..${r0.v.smax}`;
    throw new Reject(pc, `the return value in r0 is ${range}, but ${cb.what} must return a value in [${cb.min}, ${cb.max}]; return only values in that range`);
  }
}

/** The outermost exit of a path: nothing may still be held. */
function checkFinalExit(env: Env, pc: number, st: State): void {
  const r0 = st.regs[0];
  if (st.callback) checkCallbackReturn(pc, st.callback, r0);
  else if (r0.k !== 'scalar' && env.kernelMode) {
    throw new Reject(pc, `the return value in r0 is ${describe(r0)}, which leaks a kernel address; return a scalar`);
  }
  if (st.lock) {
    throw new Reject(st.lock.pc, `bpf_spin_unlock is missing: the lock taken here is still held at the exit at instruction ${pc}; unlock it on every path`);
  }
  if (st.rcuDepth) {
    throw new Reject(st.rcuPc, `bpf_rcu_read_unlock is missing: the RCU read section opened here is still open at the exit at instruction ${pc}; unlock it on every path`);
  }
  if (st.refs.length) {
    const ref = st.refs[0];
    throw new Reject(ref.pc, `unreleased reference: ${ref.what} acquired here is still held at the exit at instruction ${pc}; release it on every path`);
  }
}

/** Check that register r holds a value. */
function need(st: State, pc: number, r: number): Exclude<Reg, { k: 'uninit' }> {
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

type Fork = { continue: State | null; continuePc: number; other: { pc: number; state: State | null } };

/**
 * Execute one instruction on `st` in place. Returns the next pc, null at exit, for a conditional
 * jump the fall-through and taken states (null where a branch is dead), or another fork.
 */
function step(env: Env, pc: number, st: State): number | null | [State | null, State | null] | Fork {
  const insns = env.insns;
  const insn = insns[pc];
  const op = insn.opcode;
  const c = op & 0x07;
  const x = (op & SRC_X) !== 0;
  const regs = st.regs;
  switch (c) {
    case CLS_ALU:
    case CLS_ALU64: {
      regs[insn.dst] = alu(env, insn, pc, st);
      return pc + 1;
    }
    case CLS_JMP:
    case CLS_JMP32: {
      if (op === OP_EXIT) {
        // A subprogram may return nothing (a void function): its caller then has no r0 either.
        if (st.callers.length && !st.callback) return returnLocal(env, pc, st);
        if (st.regs[0].k === 'uninit') {
          need(st, pc, 0); // a subprogram's missing result is reported at its exit
          throw new Reject(pc, 'r0 is not set at exit');
        }
        if (st.callers.length) return returnLocal(env, pc, st);
        checkFinalExit(env, pc, st);
        return null;
      }
      if (op === OP_CALL || op === OP_CALLX) {
        if (op === OP_CALL && insn.src === CALL_LOCAL) return callLocal(env, insn, pc, st);
        if (op === OP_CALL && insn.src === CALL_HELPER) return callHelper(env, pc, st, insn.imm);
        if (op === OP_CALL && insn.src === CALL_KFUNC) return callKfunc(env, pc, st, insn.imm);
        // callx: the target must be known, and is then checked like a direct call.
        const t = need(st, pc, insn.dst);
        if (t.k === 'scalar' && t.v.isConst()) return callHelper(env, pc, st, Number(t.v.umin));
        if (t.k === 'func') {
          if (st.lock) throw new Reject(pc, `function calls are not allowed while holding a lock (taken at instruction ${st.lock.pc})`);
          return pushFrame(env, pc, st, t.target, st.regs.slice(1, 6), null);
        }
        throw new Reject(pc, `callx through r${insn.dst}, which holds ${describe(t)}: the call's target must be a known helper id or function`);
      }
      if (op === OP_JA32 || ((op & 0xf0) === JMP_JA && c === CLS_JMP)) return branchTarget(insn, pc)!;
      if (op === OP_MAY_GOTO) return [cloneState(st), cloneState(st)];
      return condJump(env, insn, pc, st, c === CLS_JMP32);
    }
    case CLS_LD: {
      if (op === OP_LDDW) {
        regs[insn.dst] = lddw(env, pc, insn);
        return pc + 2;
      }
      // Legacy packet loads (permissive mode only): like a helper call.
      if (x || (op & 0xe0) === 0x40) need(st, pc, insn.src);
      clobberCall(st, UNKNOWN);
      return pc + 1;
    }
    case CLS_LDX: {
      const size = accessSize(op);
      const base = need(st, pc, insn.src);
      regs[insn.dst] = load(env, st, pc, insn.src, base, insn.off, size, (op & 0xe0) === MODE_MEMSX);
      return pc + 1;
    }
    case CLS_ST:
    case CLS_STX: {
      const size = accessSize(op);
      const base = need(st, pc, insn.dst);
      const value = c === CLS_ST ? scalar(constant(BigInt(insn.imm))) : need(st, pc, insn.src);
      if (c === CLS_STX && (op & 0xe0) === MODE_ATOMIC) {
        if (value.k !== 'scalar') throw new Reject(pc, `r${insn.src} is ${describe(value)}; atomic operations take a scalar operand, which would otherwise leak the address`);
        if (insn.imm === ATOMIC_CMPXCHG) {
          const r0 = need(st, pc, 0);
          if (r0.k !== 'scalar') throw new Reject(pc, `r0 is ${describe(r0)}; cmpxchg compares with a scalar in r0`);
        }
        if (base.k === 'btf' || base.k === 'ctx') throw new Reject(pc, `r${insn.dst} is ${describe(base)}: atomic operations work on the stack and map values only`);
        // Read, then write, the same bytes. The old value may be a spilled pointer, which an
        // atomic would turn into a number (a leak); what the slot holds afterwards is the
        // operand only for xchg, otherwise some combination of old and operand.
        const old = load(env, st, pc, insn.dst, base, insn.off, size, false);
        if (old.k !== 'scalar') throw new Reject(pc, `r${insn.dst} points at ${describe(old)} spilled on the stack: an atomic operation on it would leak the address`);
        store(env, st, pc, insn.dst, base, insn.off, size, insn.imm === ATOMIC_XCHG ? value : scalar(sizedUnknown(size, false)));
        if (insn.imm === ATOMIC_CMPXCHG) regs[0] = scalar(sizedUnknown(size, false));
        else if (insn.imm & ATOMIC_FETCH) regs[insn.src] = scalar(sizedUnknown(size, false));
        return pc + 1;
      }
      store(env, st, pc, insn.dst, base, insn.off, size, value);
      return pc + 1;
    }
  }
  throw new Reject(pc, 'unknown instruction class');
}

/** After a helper or kfunc call: r1..r5 are gone, r0 holds the result. */
function clobberCall(st: State, r0: Reg): void {
  const regs = st.regs;
  for (let r = 1; r <= 5; r++) regs[r] = UNINIT;
  regs[0] = r0;
}

function lddw(env: Env, pc: number, insn: Insn): Reg {
  const imm = lddwImm(env.insns, pc);
  switch (insn.src) {
    case PSEUDO_NONE:
      return scalar(constant(imm));
    case PSEUDO_FUNC:
      return pointer('func', { target: branchTarget(insn, pc)! });
    case PSEUDO_BTF_ID:
      // bpf_ksym_exists(): the loader put an opaque non-zero value for a present symbol, 0 for an absent weak one.
      return scalar(constant(imm));
    case PSEUDO_MAP_FD: {
      const map = env.options.maps?.mapAt(Number(imm));
      if (!map) throw new Reject(pc, `lddw of a map the loader did not resolve (0x${imm.toString(16)})`);
      return pointer('map', { map });
    }
    case PSEUDO_MAP_VALUE: {
      const at = env.options.maps?.valueAt(Number(imm));
      if (!at) throw new Reject(pc, `lddw of a map value the loader did not resolve (0x${imm.toString(16)})`);
      return pointer('mapval', { map: at.map, off: constant(BigInt(at.offset)), size: at.map.valueSize, writable: !at.map.readonly });
    }
  }
  throw new Reject(pc, `lddw with src ${insn.src} is not supported`);
}

function alu(env: Env, insn: Insn, pc: number, st: State): Reg {
  const op = insn.opcode;
  const aop = op & 0xf0;
  const is64 = (op & 0x07) === CLS_ALU64;
  const x = (op & SRC_X) !== 0;
  const name = ALU_OP_NAMES[aop] ?? 'this operation';
  // neg and end have one operand (end's source bit picks the byte order, not a register).
  const unary = aop === ALU_NEG || aop === ALU_END;
  const src: Reg = x && !unary ? need(st, pc, insn.src) : scalar(constant(BigInt(insn.imm)));
  if (aop === ALU_MOV) {
    if (src.k === 'scalar' && x && insn.off === 0 && !src.v.isConst() && (is64 || src.v.umax <= 0xffff_ffffn)) {
      // A copy: link it to its source, so a bound learnt on either applies to both.
      let id = src.id;
      if (!id) {
        id = env.nextId++;
        st.regs[insn.src] = scalar(src.v, id);
      }
      return scalar(src.v, id);
    }
    if (src.k === 'scalar' && is64 && insn.off === 0) return scalar(src.v);
    if (src.k === 'scalar') return scalar(Scalar.unknown().alu(op, src.v, insn.off, insn.imm));
    if (is64 && insn.off === 0) return src;
    throw new Reject(pc, `r${insn.src} is ${describe(src)}: pointer arithmetic by a ${is64 ? 'sign-extending' : '32-bit'} move is prohibited; copy pointers with a 64-bit mov`);
  }
  const dst = need(st, pc, insn.dst);
  if (dst.k === 'scalar' && src.k === 'scalar') {
    const folded = dst.v.isConst() && src.v.isConst() ? foldConst(aop, dst.v.umin, src.v.umin, is64) : null;
    return scalar(folded ?? dst.v.alu(op, src.v, insn.off, insn.imm));
  }
  const ptrReg = dst.k !== 'scalar' ? insn.dst : insn.src;
  const ptr = (dst.k !== 'scalar' ? dst : src) as PtrReg;
  const what = `r${ptrReg} is ${describe(ptr)}`;
  if (dst.k !== 'scalar' && src.k !== 'scalar') {
    throw new Reject(pc, `${what}: pointer arithmetic between two pointers (${name}) is prohibited; add or subtract a bounded scalar instead`);
  }
  if (aop !== ALU_ADD && (aop !== ALU_SUB || dst.k === 'scalar')) {
    throw new Reject(pc, `${what}: pointer arithmetic with ${name} is prohibited; only adding or subtracting a bounded scalar is allowed`);
  }
  if (!is64) throw new Reject(pc, `${what}: 32-bit pointer arithmetic is prohibited; use the 64-bit add or sub`);
  if (ptr.nullId) throw new Reject(pc, `${what}: pointer arithmetic on a possibly NULL pointer is prohibited; test it against NULL first`);
  if (ptr.k === 'map' || ptr.k === 'func') throw new Reject(pc, `${what}: pointer arithmetic on it is prohibited`);
  if (ptr.refId && ptr.k === 'btf') throw new Reject(pc, `${what}: pointer arithmetic on a referenced kernel object is prohibited; the release needs the pointer as acquired`);
  const s = (dst.k === 'scalar' ? dst : src) as { k: 'scalar'; v: Scalar };
  // The kernel's check_reg_sane_offset: the low end must be bounded now; a high end too large to
  // access is reported where the pointer is used.
  const low = aop === ALU_SUB ? -s.v.smax : s.v.smin;
  if (s.v.smin === MIN_S64 || s.v.smax === MAX_S64) {
    throw new Reject(pc, `${what}: pointer arithmetic with a scalar that is unbounded (${s.v.brief()}) is prohibited; bound it first with 'if (i < N)' or '& (N - 1)'`);
  }
  if (low < -MAX_VAR_OFF) {
    throw new Reject(pc, `${what}: adding a scalar as low as ${low} makes the pointer go out of bounds; check the lower end too (i >= 0), or use an unsigned index`);
  }
  const off = ptr.off.alu(CLS_ALU64 | aop | SRC_X, s.v);
  if (off.smin < -MAX_VAR_OFF) throw new Reject(pc, `${what}: the offset can reach ${off.smin}, which is out of bounds; keep offsets small`);
  return { ...ptr, off };
}

/** Give every copy of the linked scalar `id` the value learnt for one of them. */
function syncLinked(st: State, id: number, v: Scalar): void {
  mapRegs(st, (r) => (r.k === 'scalar' && r.id === id ? scalar(v, id) : r));
}

/** Mark every copy of the possibly-NULL pointer `id` as NULL (a scalar 0) or as not NULL. */
function settleNull(st: State, id: number, isNull: boolean): void {
  let dropRef = 0;
  mapRegs(st, (r) => {
    if (!isPtr(r) || r.nullId !== id) return r;
    if (isNull) {
      if (r.refId) dropRef = r.refId;
      return scalar(constant(0n));
    }
    return { ...r, nullId: 0 };
  });
  // A NULL result holds nothing to release.
  if (dropRef) st.refs = st.refs.filter((x) => x.id !== dropRef);
}

/** The next pc when the outcome is decided, else the fall-through and taken states (null if dead). */
function condJump(env: Env, insn: Insn, pc: number, st: State, is32: boolean): number | [State | null, State | null] {
  const op = insn.opcode;
  const cond = op & 0xf0;
  const x = (op & SRC_X) !== 0;
  const a = need(st, pc, insn.dst);
  const b: Reg = x ? need(st, pc, insn.src) : scalar(constant(BigInt(insn.imm)));
  if (a.k !== 'scalar' || b.k !== 'scalar') {
    const other = a.k === 'scalar' ? a : b.k === 'scalar' ? b : null;
    if (!is32 && other && other.v.isConst() && other.v.umin === 0n && (cond === JMP_JEQ || cond === JMP_JNE)) {
      const p = (a.k !== 'scalar' ? a : b) as PtrReg;
      if (!p.nullId) return cond === JMP_JEQ ? pc + 1 : branchTarget(insn, pc)!; // never NULL
      // Equal-to-NULL on one side, not NULL on the other.
      const isNull = cloneState(st);
      settleNull(isNull, p.nullId, true);
      const notNull = cloneState(st);
      settleNull(notNull, p.nullId, false);
      return cond === JMP_JEQ ? [notNull, isNull] : [isNull, notNull];
    }
    if (!env.kernelMode) return [cloneState(st), cloneState(st)];
    const r = a.k !== 'scalar' ? insn.dst : insn.src;
    throw new Reject(pc, `r${r} is ${describe(a.k !== 'scalar' ? a : b)}: pointer comparison is prohibited (it would leak the address); compare scalars loaded through it instead`);
  }
  if (a.v.isConst() && b.v.isConst()) {
    // Both known: the outcome is decided (and much cheaper than refining).
    const w = is32 ? 32 : 64;
    const taken = jumpTaken(cond, BigInt.asUintN(w, a.v.umin), BigInt.asUintN(w, b.v.umin), w);
    return taken ? branchTarget(insn, pc)! : pc + 1;
  }
  const branch = (taken: boolean): State | null => {
    const refined = a.v.refine(cond, b.v, is32, taken);
    if (!refined) return null;
    const s = cloneState(st);
    s.regs[insn.dst] = scalar(refined[0], a.id);
    if (a.id) syncLinked(s, a.id, refined[0]);
    if (x) {
      const bid = (b as { id: number }).id;
      s.regs[insn.src] = scalar(refined[1], bid);
      if (bid) syncLinked(s, bid, refined[1]);
    }
    return s;
  };
  return [branch(false), branch(true)];
}

/**
 * The exact result of the cheap operations on two constants (the Scalar domain gives the same
 * answer, slower); null for the others. 32-bit results are zero-extended.
 */
function foldConst(aop: number, a: bigint, b: bigint, is64: boolean): Scalar | null {
  let v: bigint;
  switch (aop) {
    case ALU_ADD:
      v = a + b;
      break;
    case ALU_SUB:
      v = a - b;
      break;
    case ALU_AND:
      v = a & b;
      break;
    case ALU_OR:
      v = a | b;
      break;
    case ALU_XOR:
      v = a ^ b;
      break;
    default:
      return null;
  }
  return constant(is64 ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v));
}

// ---------------------------------------------------------------------------------------------
// Memory

/** The accessed offsets [lo, hi] (first byte) of an access through a pointer. */
function range(p: { off: Scalar }, off: number): [number, number] {
  return [Number(p.off.smin) + off, Number(p.off.smax) + off];
}

const at = (lo: number, hi: number): string => (lo === hi ? `offset ${lo}` : `offsets ${lo}..${hi}`);

function checkStack(pc: number, r: number, p: { off: Scalar }, off: number, size: number, verb: string): [number, number] {
  if (p.off.smax > MAX_VAR_OFF) {
    throw new Reject(pc, `unbounded memory access: the ${verb} through r${r} (a pointer to the stack) has an offset up to ${p.off.smax}; bound the index with 'if (i < N)' or '& (N - 1)' before using it`);
  }
  const [lo, hi] = range(p, off);
  if (lo < -STACK_SIZE || hi + size > 0) {
    throw new Reject(pc, `invalid stack access: ${verb} of ${size} bytes at ${at(lo, hi)} from r${r} is out of bounds of the ${STACK_SIZE}-byte frame [-${STACK_SIZE}, 0); keep it within the frame`);
  }
  if (lo === hi && ((lo % size) + size) % size !== 0) {
    throw new Reject(pc, `misaligned stack access: ${verb} of ${size} bytes at ${at(lo, hi)} is not a multiple of ${size}; align the slot to its size`);
  }
  return [lo, hi];
}

/** Bounds of an access into an object of `size` bytes (map value, memory, kernel struct, context). */
function checkObject(pc: number, r: number, p: PtrReg, off: number, size: number, verb: string, what: string): [number, number] {
  if (p.off.smax > MAX_VAR_OFF) {
    throw new Reject(pc, `unbounded memory access: the ${verb} through r${r} (${describe(p)}) has an offset the verifier cannot bound (${p.off.brief()}); bound the index with 'if (i < N)' or '& (N - 1)' before using it`);
  }
  const [lo, hi] = range(p, off);
  if (lo < 0 || hi + size > p.size) {
    throw new Reject(pc, `invalid access: ${verb} of ${size} bytes at ${at(lo, hi)} from r${r} is out of bounds of ${what} (${p.size} bytes); check the index against the size first`);
  }
  return [lo, hi];
}

/** The frame a stack pointer points into, recording the deepest access `lo` of its subprogram. */
function stackFrame(env: Env, st: State, frame: number, lo: number): Frame {
  const fr = frame === st.callers.length ? st : st.callers[frame];
  if (-lo > (env.depth.get(fr.subprog) ?? 0)) env.depth.set(fr.subprog, -lo);
  return fr;
}

const mapValueWhat = (p: PtrReg): string => `the value of map '${p.map!.name}'`;

/** A special field (spin lock, timer, kptr) of a map value that [lo, hi + size) touches. */
function specialField(p: PtrReg, lo: number, hi: number, size: number) {
  for (const f of p.map?.fields ?? []) if (lo < f.offset + f.size && hi + size > f.offset) return f;
  return undefined;
}

/** Dereferencing a scalar: NULL from a failed lookup or an ended iterator deserves its own words. */
function notAPointer(pc: number, r: number, base: { v: Scalar }): never {
  if (base.v.isConst() && base.v.umin === 0n) {
    throw new Reject(pc, `r${r} is NULL on this path (a possibly NULL pointer that was not tested, or tested and found NULL): dereferencing a possibly NULL pointer; test it against NULL first`);
  }
  throw new Reject(pc, `r${r} is not a pointer (it holds ${describe({ k: 'scalar', v: base.v, id: 0 })}), so it cannot be dereferenced`);
}

function load(env: Env, st: State, pc: number, r: number, base: Reg, off: number, size: number, signed: boolean): Reg {
  if (base.k === 'scalar') notAPointer(pc, r, base);
  if (base.k === 'uninit') throw new Reject(pc, `r${r} is read before it is written`);
  if (base.k === 'released') throw new Reject(pc, `r${r} is ${describe(base)}: a use after release`);
  if (base.nullId) throw new Reject(pc, `r${r} is ${describe(base)}: dereferencing a possibly NULL pointer; test it against NULL first`);
  switch (base.k) {
    case 'stack':
      return loadStack(env, st, pc, r, base, off, size, signed);
    case 'ctx':
      return loadCtx(env, pc, r, base, off, size, signed);
    case 'mapval': {
      const [lo, hi] = checkObject(pc, r, base, off, size, 'read', mapValueWhat(base));
      const f = specialField(base, lo, hi, size);
      if (f && f.kind !== 'kptr') throw new Reject(pc, `the ${f.kind} at offset ${f.offset} of ${mapValueWhat(base)} cannot be read directly; use its helpers`);
      if (f && f.kind === 'kptr') return kptrLoad(env, st, pc, base, f.offset, lo, hi, size);
      return scalar(sizedUnknown(size, signed));
    }
    case 'mem':
      checkObject(pc, r, base, off, size, 'read', `the ${base.ringbuf ? 'ring buffer record' : 'memory'}`);
      return scalar(sizedUnknown(size, signed));
    case 'btf':
      env.probeLoads[pc] = 1;
      return loadBtf(pc, r, base, off, size, signed);
    default:
      throw new Reject(pc, `r${r} is ${describe(base)}, which cannot be dereferenced`);
  }
}

/** Reading a kptr field gives an untrusted pointer that may be NULL (bpf_kptr_xchg takes it out owned). */
function kptrLoad(env: Env, st: State, pc: number, base: PtrReg, fieldOff: number, lo: number, hi: number, size: number): Reg {
  if (lo !== hi || lo !== fieldOff || size !== 8) throw new Reject(pc, `the kptr at offset ${fieldOff} of ${mapValueWhat(base)} must be read whole (8 bytes)`);
  const rec = kptrType(env, base.map!, fieldOff);
  if (!rec) return UNKNOWN;
  // RCU-protected kptrs (bpf_cpumask) read inside an RCU section (every non-sleepable program is one) may be passed to KF_RCU kfuncs.
  const rcu = RCU_KPTR_TYPES.has(rec.name) && (!env.options.program?.sleepable || st.rcuDepth > 0);
  return pointer('btf', { rec, size: rec.size, trusted: rcu, nullId: env.nextId++ });
}

function kptrType(env: Env, map: MapDesc, offset: number): RecordType | undefined {
  const f = map.fields.find((x) => x.kind === 'kptr' && x.offset === offset);
  return f?.typeName ? env.options.program?.kernelType?.(f.typeName) : undefined;
}

function loadStack(env: Env, st: State, pc: number, r: number, base: PtrReg, off: number, size: number, signed: boolean): Reg {
  const [lo, hi] = checkStack(pc, r, base, off, size, 'read');
  const fr = stackFrame(env, st, base.frame, lo);
  const first = lo + STACK_SIZE;
  if (lo === hi && size === 8 && fr.bytes[first] === B_SPILL && fr.spills[first >> 3]) return fr.spills[first >> 3] as Reg;
  for (let i = first; i < hi + STACK_SIZE + size; i++) {
    const b = fr.bytes[i];
    if (b === B_UNINIT) {
      throw new Reject(pc, `invalid read from stack: byte ${i - STACK_SIZE} of the ${size}-byte read at ${lo === hi ? lo : `${lo}..${hi}`} is uninitialized; write the whole slot before reading it`);
    }
    if (b === B_ITER) throw new Reject(pc, `invalid read from stack: offset ${(i & ~7) - STACK_SIZE} holds an iterator, which only its kfuncs may touch`);
    if (b === B_SPILL && fr.spills[i >> 3]!.k !== 'scalar') {
      throw new Reject(pc, `invalid read from stack: a partial read of a spilled pointer at ${(i & ~7) - STACK_SIZE}; read the whole 8-byte slot`);
    }
  }
  return scalar(sizedUnknown(size, signed));
}

function loadCtx(env: Env, pc: number, r: number, base: PtrReg, off: number, size: number, signed: boolean): Reg {
  const what = base.args ? `the context (${base.args.length} callback argument${base.args.length === 1 ? '' : 's'}, ${base.size} bytes)` : 'the context';
  const [lo, hi] = checkObject(pc, r, base, off, size, 'read', what);
  if (!base.args) return scalar(sizedUnknown(size, signed));
  if (lo !== hi) throw new Reject(pc, `r${r}: a variable-offset read of the callback's arguments is not allowed; read each argument at its constant offset`);
  const arg = base.args[lo >> 3];
  const t = unwrap(arg.type);
  if (t.kind !== 'ptr') return scalar(sizedUnknown(size, signed));
  if (size !== 8 || lo % 8 !== 0) throw new Reject(pc, `r${r}: a partial read of pointer argument ${lo >> 3} of the callback; read all 8 bytes`);
  const to = unwrap(t.to);
  if (to.kind !== 'struct' && to.kind !== 'union') return UNKNOWN;
  return pointer('btf', { rec: to, size: to.complete ? to.size : 0, trusted: true, nullId: arg.nullable ? env.nextId++ : 0 });
}

/** The member of `rec` holding bytes [off, off + size), descending into nested structs and arrays. */
function memberAt(rec: RecordType, off: number, size: number): { type: CType; offset: number; name: string } | null {
  for (const m of rec.members) {
    const t = unwrap(m.type);
    let msize: number;
    try {
      msize = layout(t).size;
    } catch {
      continue;
    }
    if (off < m.offset || off + size > m.offset + Math.max(msize, 0)) continue;
    if ((t.kind === 'struct' || t.kind === 'union') && !(off === m.offset && size === msize)) {
      const inner = memberAt(t, off - m.offset, size);
      return inner ? { ...inner, offset: inner.offset + m.offset } : null;
    }
    return { type: t, offset: m.offset, name: m.name };
  }
  return null;
}

function loadBtf(pc: number, r: number, base: PtrReg, off: number, size: number, signed: boolean): Reg {
  if (!base.off.isConst()) {
    throw new Reject(pc, `r${r} is ${describe(base)} with a variable offset (${base.off.brief()}): kernel structs are read at constant offsets only; copy the field with bpf_probe_read_kernel`);
  }
  const rec = base.rec!;
  const [lo] = checkObject(pc, r, base, off, size, 'read', `struct ${rec.name}`);
  const m = memberAt(rec, lo, size);
  if (m && m.type.kind === 'ptr' && m.offset === lo && size === 8) {
    const to = unwrap(m.type.to);
    if ((to.kind === 'struct' || to.kind === 'union') && to.complete) {
      const safe = base.trusted && (RCU_SAFE_FIELDS[rec.name] ?? []).includes(m.name);
      return pointer('btf', { rec: to, size: to.size, trusted: safe });
    }
    return UNKNOWN;
  }
  return scalar(sizedUnknown(size, signed));
}

function store(env: Env, st: State, pc: number, r: number, base: Reg, off: number, size: number, value: Reg): void {
  if (base.k === 'scalar') notAPointer(pc, r, base);
  if (base.k === 'uninit') throw new Reject(pc, `r${r} is read before it is written`);
  if (base.k === 'released') throw new Reject(pc, `r${r} is ${describe(base)}: a use after release`);
  if (base.nullId) throw new Reject(pc, `r${r} is ${describe(base)}: dereferencing a possibly NULL pointer; test it against NULL first`);
  const leak = (where: string): never => {
    throw new Reject(pc, `storing ${describe(value)} into ${where} leaks a kernel address; store scalars only`);
  };
  switch (base.k) {
    case 'stack':
      return storeStack(env, st, pc, r, base, off, size, value);
    case 'ctx':
      if (!base.writable) throw new Reject(pc, `r${r} is the context pointer, which is read-only here; write to the stack instead`);
      if (value.k !== 'scalar') leak('the context');
      checkObject(pc, r, base, off, size, 'write', 'the context');
      return;
    case 'mapval': {
      if (base.map!.readonly) throw new Reject(pc, `${mapValueWhat(base)} is read-only (frozen for programs, like .rodata); write to .data or .bss, or to a map`);
      const [lo, hi] = checkObject(pc, r, base, off, size, 'write', mapValueWhat(base));
      const f = specialField(base, lo, hi, size);
      if (f) throw new Reject(pc, `the ${f.kind} at offset ${f.offset} of ${mapValueWhat(base)} cannot be written directly; use its helpers${f.kind === 'kptr' ? ' (bpf_kptr_xchg)' : ''}`);
      if (value.k !== 'scalar' && env.kernelMode) leak(mapValueWhat(base));
      return;
    }
    case 'mem':
      if (!base.writable) throw new Reject(pc, `r${r} is ${describe(base)}, which is read-only`);
      if (value.k !== 'scalar' && env.kernelMode) leak('this memory');
      checkObject(pc, r, base, off, size, 'write', `the ${base.ringbuf ? 'ring buffer record' : 'memory'}`);
      return;
    case 'btf': {
      const rec = base.rec!;
      if (!base.off.isConst()) throw new Reject(pc, `r${r} is ${describe(base)} with a variable offset: kernel structs are written at constant offsets only`);
      const [lo] = checkObject(pc, r, base, off, size, 'write', `struct ${rec.name}`);
      const m = memberAt(rec, lo, size);
      const field = m ? `${rec.name}.${m.name}` : `struct ${rec.name} at offset ${lo}`;
      if (!base.trusted || !env.options.program?.fieldWritable?.(rec, lo, size)) {
        throw new Reject(pc, `${field} is read-only: a scheduler may write only the fields the kernel allows (p->scx.slice, p->scx.dsq_vtime); keep other state in a map or task storage`);
      }
      if (value.k !== 'scalar') leak(field);
      return;
    }
    default:
      throw new Reject(pc, `r${r} is ${describe(base)}, which cannot be written through`);
  }
}

function storeStack(env: Env, st: State, pc: number, r: number, base: PtrReg, off: number, size: number, value: Reg): void {
  const [lo, hi] = checkStack(pc, r, base, off, size, 'write');
  const fr = stackFrame(env, st, base.frame, lo);
  if (value.k === 'stack' && value.frame > base.frame) {
    throw new Reject(pc, `storing a pointer to a callee's stack into a caller's frame is prohibited: it would dangle once the callee returns; store scalars or the caller's own pointers`);
  }
  const first = lo + STACK_SIZE;
  if (value.k !== 'scalar' && (size !== 8 || lo !== hi)) {
    throw new Reject(pc, `storing part of ${describe(value)} (${size} bytes${lo === hi ? '' : ' at a variable offset'}) is prohibited; spill pointers as whole 8-byte slots`);
  }
  for (let i = first; i < hi + STACK_SIZE + size; i++) {
    if (fr.bytes[i] === B_ITER) throw new Reject(pc, `invalid write to stack: offset ${(i & ~7) - STACK_SIZE} holds an iterator, which only its kfuncs may touch`);
  }
  // Overwriting part of a spilled pointer would leave the rest readable as data (a leak).
  if (env.kernelMode && (size !== 8 || lo !== hi || (first & 7) !== 0)) {
    for (let i = first; i < hi + STACK_SIZE + size; i++) {
      const sp = fr.spills[i >> 3];
      if (fr.bytes[i] === B_SPILL && sp && sp.k !== 'scalar') {
        throw new Reject(pc, `attempt to corrupt a spilled pointer on the stack at ${(i & ~7) - STACK_SIZE}: a ${size}-byte write over part of it would leave the rest readable; overwrite the whole 8-byte slot`);
      }
    }
  }
  // Bytes of partly overwritten spill slots turn into plain data.
  const unspill = (slot: number): void => {
    if (!fr.spills[slot]) return;
    fr.spills[slot] = undefined;
    for (let i = slot * 8; i < slot * 8 + 8; i++) if (fr.bytes[i] === B_SPILL) fr.bytes[i] = B_DATA;
  };
  if (lo !== hi) {
    // Any of these bytes may be written: written ones stay data, unwritten ones stay unknown.
    for (let i = first; i < hi + STACK_SIZE + size; i++) {
      unspill(i >> 3);
      if (fr.bytes[i] !== B_UNINIT) fr.bytes[i] = B_DATA;
    }
    return;
  }
  if (size === 8 && (first & 7) === 0) {
    fr.spills[first >> 3] = value;
    fr.bytes.fill(B_SPILL, first, first + 8);
    return;
  }
  for (let i = first; i < first + size; i++) {
    unspill(i >> 3);
    fr.bytes[i] = B_DATA;
  }
}

/**
 * A helper or kfunc memory argument: `size` bytes (or up to `size`, a Scalar, for variable sizes)
 * at the pointer must be inside its object; for reads, initialised; for writes, writable (stack
 * bytes written become data).
 */
function checkMemArg(env: Env, st: State, pc: number, r: number, p: Reg, size: number | Scalar, mode: 'read' | 'write', nullOk = false, sizeReg = r + 1): void {
  if (p.k === 'scalar' && nullOk && p.v.isConst() && p.v.umin === 0n) return;
  if (p.k === 'released') throw new Reject(pc, `r${r} is ${describe(p)}: a use after release`);
  if (!isPtr(p)) throw new Reject(pc, `argument type mismatch: r${r} must point to memory, but it is ${describe(p)}`);
  if (p.nullId && !nullOk) throw new Reject(pc, `r${r} is ${describe(p)}: passing a possibly NULL pointer where memory is required; test it against NULL first`);
  let max: number;
  if (typeof size === 'number') max = size;
  else {
    if (size.umax >= MAX_VAR_SIZE) {
      throw new Reject(pc, `the size in r${sizeReg} for the buffer in r${r} is unbounded (${size.brief()}): the verifier cannot tell how many bytes are accessed; bound it with 'if (n <= sizeof(buf))' or '& (N - 1)'`);
    }
    max = Number(size.umax);
  }
  if (max === 0) return;
  switch (p.k) {
    case 'stack': {
      const [lo, hi] = range(p, 0);
      if (lo < -STACK_SIZE || hi + max > 0) {
        throw new Reject(pc, `invalid stack access: ${max} bytes at ${at(lo, hi)} from r${r} are out of bounds of the ${STACK_SIZE}-byte frame; pass a buffer at least as large as the size`);
      }
      const fr = stackFrame(env, st, p.frame, lo);
      // Which bytes a write at a variable offset fills is unknown, so, as Linux does, such a
      // buffer must be initialised already.
      const variable = lo !== hi;
      for (let i = lo + STACK_SIZE; i < hi + STACK_SIZE + max; i++) {
        const b = fr.bytes[i];
        if (b === B_ITER) throw new Reject(pc, `r${r}: offset ${(i & ~7) - STACK_SIZE} of the stack holds an iterator, which only its kfuncs may touch`);
        if (mode === 'read' || variable) {
          if (b === B_UNINIT) {
            throw new Reject(pc, `invalid read from stack: byte ${i - STACK_SIZE} of the ${max}-byte buffer passed in r${r} (at ${at(lo, hi)}) is uninitialized; initialise the whole buffer (padding too) first${variable && mode === 'write' ? ', since a buffer at a variable offset is not known to be filled' : ''}`);
          }
          if (b === B_SPILL && fr.spills[i >> 3]!.k !== 'scalar' && env.kernelMode) {
            throw new Reject(pc, `r${r}: the buffer holds a spilled pointer at ${(i & ~7) - STACK_SIZE}, which would leak its address`);
          }
        }
      }
      if (mode === 'write' && env.kernelMode) {
        // A write covering only part of a spilled pointer's slot would leave the rest readable.
        for (let slot = (lo + STACK_SIZE) >> 3; slot <= (hi + STACK_SIZE + max - 1) >> 3; slot++) {
          const sp = fr.spills[slot];
          const start = slot * 8;
          const covered = start >= lo + STACK_SIZE && start + 8 <= hi + STACK_SIZE + max && !variable;
          if (sp && sp.k !== 'scalar' && fr.bytes[start] === B_SPILL && !covered) {
            throw new Reject(pc, `attempt to corrupt a spilled pointer on the stack at ${start - STACK_SIZE}: the buffer in r${r} covers only part of it`);
          }
        }
      }
      // Checked first, then written: a slot's spill must still be there while its bytes are checked.
      if (mode === 'write') {
        for (let i = lo + STACK_SIZE; i < hi + STACK_SIZE + max; i++) {
          if (fr.spills[i >> 3]) fr.spills[i >> 3] = undefined;
          fr.bytes[i] = B_DATA;
        }
      }
      if (mode === 'write') {
        // Slots whose spilled register was overwritten keep their other bytes as plain data.
        for (let i = (lo + STACK_SIZE) & ~7; i < hi + STACK_SIZE + max; i++) if (fr.bytes[i] === B_SPILL && !fr.spills[i >> 3]) fr.bytes[i] = B_DATA;
      }
      return;
    }
    case 'mapval': {
      if (mode === 'write' && p.map!.readonly) throw new Reject(pc, `r${r} points into ${mapValueWhat(p)}, which is read-only (frozen for programs, like .rodata); pass a writable buffer`);
      const [lo, hi] = checkObject(pc, r, p, 0, max, mode, mapValueWhat(p));
      const f = specialField(p, lo, hi, max);
      if (f) throw new Reject(pc, `the ${max}-byte buffer in r${r} covers the ${f.kind} at offset ${f.offset} of ${mapValueWhat(p)}, which helpers may not read or write; pass a buffer that leaves it out`);
      return;
    }
    case 'mem':
      if (mode === 'write' && !p.writable) throw new Reject(pc, `r${r} is ${describe(p)}, which is read-only`);
      checkObject(pc, r, p, 0, max, mode, 'the memory');
      return;
    case 'ctx':
      if (mode === 'write' && !p.writable) throw new Reject(pc, `r${r} is the context pointer, which is read-only here`);
      checkObject(pc, r, p, 0, max, mode, 'the context');
      return;
    default:
      throw new Reject(pc, `argument type mismatch: r${r} must point to memory (stack, map value), but it is ${describe(p)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function acquire(env: Env, st: State, pc: number, what: string): number {
  const id = env.nextId++;
  st.refs = [...st.refs, { id, pc, what }];
  return id;
}

/** Release reference `id`: every copy of its pointer becomes unusable. */
function release(st: State, pc: number, id: number, what: string): void {
  st.refs = st.refs.filter((x) => x.id !== id);
  mapRegs(st, (r) => (isPtr(r) && r.refId === id ? { k: 'released', what, pc } : r));
}

const mapTypeOk = (proto: HelperProto, map: MapDesc): boolean => !proto.mapTypes || proto.mapTypes.includes(map.type);

/** A map value pointer exactly at a special field of kind `kind`; returns the field's offset. */
function fieldArg(pc: number, r: number, v: Reg, kind: 'spin_lock' | 'timer' | 'kptr', name: string): { p: PtrReg; offset: number } {
  if (v.k !== 'mapval') throw new Reject(pc, `argument type mismatch: ${name} expects a pointer to a struct bpf_${kind} inside a map value in r${r}, but r${r} is ${describe(v)}`);
  if (v.nullId) throw new Reject(pc, `r${r} is ${describe(v)}: passing a possibly NULL pointer to ${name}; test it against NULL first`);
  if (!v.off.isConst()) throw new Reject(pc, `r${r}: ${name} needs the ${kind} at a constant offset of the map value`);
  const offset = Number(v.off.smin);
  if (!v.map!.fields.some((f) => f.kind === kind && f.offset === offset)) {
    throw new Reject(pc, `argument type mismatch: r${r} points at offset ${offset} of ${mapValueWhat(v)}, where there is no ${kind === 'kptr' ? 'kptr' : `struct bpf_${kind}`}`);
  }
  return { p: v, offset };
}

function callHelper(env: Env, pc: number, st: State, id: number): number | Fork {
  const proto = HELPER_PROTOS[id];
  const name = Object.entries(HelperId).find(([, v]) => v === id)?.[0];
  const fname = name ? `bpf_${name}` : `helper ${id}`;
  if (!proto) {
    if (env.kernelMode) throw new Reject(pc, `unknown helper id ${id}: the simulated kernel has no prototype for it`);
    clobberCall(st, UNKNOWN);
    return pc + 1;
  }
  if (st.lock && id !== HelperId.spin_unlock) {
    throw new Reject(pc, `function calls are not allowed while holding a lock (taken at instruction ${st.lock.pc}): ${fname} would run under bpf_spin_lock; call bpf_spin_unlock first`);
  }
  const meta: HelperMeta = { map: null, mem: null, func: null, ctx: null, recordSize: 0, timerMap: null, kptr: null, release: null };
  for (let i = 0; i < proto.args.length; i++) helperArg(env, st, pc, id, fname, proto, proto.args[i], i + 1, meta);
  const { map, func, ctx, timerMap, kptr } = meta;
  if (timerMap && id === HelperId.timer_init && map && map !== timerMap) {
    throw new Reject(pc, `argument type mismatch: bpf_timer_init's map must be the map holding the timer ('${timerMap.name}')`);
  }
  if (meta.release && meta.release.id) release(st, pc, meta.release.id, meta.release.what);

  // The result.
  let r0: Reg = id === HelperId.get_smp_processor_id ? scalar(Scalar.range(0n, BigInt((env.options.nrCpuIds ?? 1024) - 1))) : UNKNOWN;
  switch (proto.ret) {
    case 'void':
      r0 = UNINIT;
      break;
    case 'mapValueOrNull':
      if (!map) throw new Reject(pc, `${fname} returns a map value but has no map argument`);
      r0 = pointer('mapval', { map, size: map.valueSize, writable: !map.readonly, nullId: env.nextId++ });
      break;
    case 'ringbufRecordOrNull': {
      const nullId = env.nextId++;
      const refId = acquire(env, st, pc, `the ring buffer record reserved by ${fname}`);
      r0 = pointer('mem', { size: meta.recordSize, writable: true, ringbuf: true, nullId, refId });
      break;
    }
    case 'task': {
      const rec = env.options.program?.kernelType?.('task_struct');
      r0 = rec ? pointer('btf', { rec, size: rec.size, trusted: true }) : UNKNOWN;
      break;
    }
    case 'kptrOrNull': {
      const rec = kptr ? kptrType(env, kptr.map, kptr.offset) : undefined;
      if (rec) {
        const nullId = env.nextId++;
        const refId = acquire(env, st, pc, `the struct ${rec.name} taken out by ${fname}`);
        r0 = pointer('btf', { rec, size: rec.size, trusted: true, nullId, refId });
      }
      break;
    }
  }
  clobberCall(st, r0);

  // Callbacks.
  if (func && proto.callback === 'timer') {
    if (timerMap) queueTimerCallback(env, func.target, timerMap);
    return pc + 1;
  }
  if (func && (proto.callback === 'loop' || proto.callback === 'forEachMapElem')) {
    // Zero calls: go on with the state as it is; one call: run the callback above this frame.
    const after = cloneState(st);
    let args: Reg[];
    if (proto.callback === 'loop') args = [scalar(Scalar.range(0n, 0xffff_ffffn)), ctx ?? UNINIT];
    else {
      if (!map) throw new Reject(pc, `${fname}: a callback over a map needs the map`);
      args = [
        pointer('map', { map }),
        pointer('mem', { size: map.keySize, writable: false }),
        pointer('mapval', { map, size: map.valueSize, writable: !map.readonly }),
        ctx ?? UNINIT,
      ];
    }
    env.prunePoint[func.target] = 1;
    env.converging[func.target] = CONVERGE_CALLBACK;
    const entry = pushFrame(env, pc, st, func.target, args, { what: `the ${fname} callback`, min: 0n, max: 1n, repeat: { target: func.target, args } });
    return { continue: st, continuePc: entry, other: { pc: pc + 1, state: after } };
  }
  return pc + 1;
}

/** What a helper call's arguments told, for checking later arguments and typing the result. */
interface HelperMeta {
  map: MapDesc | null;
  /** A buffer waiting for its size argument. */
  mem: { r: number; v: Reg; mode: 'read' | 'write'; nullOk: boolean } | null;
  func: PtrReg | null;
  ctx: Reg | null;
  recordSize: number;
  timerMap: MapDesc | null;
  kptr: { map: MapDesc; offset: number } | null;
  release: { id: number; what: string } | null;
}

const isNull = (v: Reg): boolean => v.k === 'scalar' && v.v.isConst() && v.v.umin === 0n;

/** Check one helper argument (register r) against its prototype kind, noting what it tells. */
function helperArg(env: Env, st: State, pc: number, id: number, fname: string, proto: HelperProto, kind: HelperArg, r: number, meta: HelperMeta): void {
  const v = need(st, pc, r);
  function mismatch(wanted: string): never {
    if (isPtr(v) && v.nullId) throw new Reject(pc, `r${r} is ${describe(v)}: passing a possibly NULL pointer to ${fname}; test it against NULL first`);
    throw new Reject(pc, `argument type mismatch: ${fname} expects ${wanted} in r${r}, but r${r} is ${describe(v)}`);
  }
  switch (kind) {
    case 'anything':
      return;
    case 'map':
      if (v.k !== 'map') mismatch('a map (lddw of a map)');
      meta.map = v.map!;
      if (!mapTypeOk(proto, meta.map)) throw new Reject(pc, `argument type mismatch: ${fname} cannot be used with map '${meta.map.name}' of this type`);
      return;
    case 'key':
      if (!meta.map) throw new Reject(pc, `${fname}: the key comes before its map`);
      return checkMemArg(env, st, pc, r, v, meta.map.keySize, 'read');
    case 'value':
    case 'valueOut':
    case 'valueOrNull':
      if (!meta.map) throw new Reject(pc, `${fname}: the value comes before its map`);
      return checkMemArg(env, st, pc, r, v, meta.map.valueSize, kind === 'valueOut' ? 'write' : 'read', kind === 'valueOrNull');
    case 'mem':
    case 'memOut':
    case 'memOrNull':
      meta.mem = { r, v, mode: kind === 'memOut' ? 'write' : 'read', nullOk: kind === 'memOrNull' };
      return;
    case 'size':
    case 'sizeOrZero': {
      if (v.k !== 'scalar') mismatch('a size (a scalar)');
      if (kind === 'size' && v.v.umin === 0n && v.v.umax < MAX_VAR_SIZE) throw new Reject(pc, `the size in r${r} may be 0 (${v.v.brief()}); ${fname} needs at least one byte`);
      const m = meta.mem;
      if (!m) throw new Reject(pc, `${fname}: a size without a buffer`);
      checkMemArg(env, st, pc, m.r, m.v, v.v, m.mode, m.nullOk, r);
      meta.mem = null;
      return;
    }
    case 'constSize':
      if (v.k !== 'scalar' || !v.v.isConst()) mismatch('a constant size');
      meta.recordSize = Number(v.v.umin);
      return;
    case 'spinLock': {
      const { p, offset } = fieldArg(pc, r, v, 'spin_lock', fname);
      const key = `${p.map!.name}@${offset}`;
      if (id === HelperId.spin_lock) {
        if (st.lock) throw new Reject(pc, `a lock is already held (taken at instruction ${st.lock.pc}); only one bpf_spin_lock may be held at a time`);
        st.lock = { pc, key };
      } else {
        if (!st.lock) throw new Reject(pc, `bpf_spin_unlock without taking a lock: no bpf_spin_lock is held on this path; lock before unlocking`);
        if (st.lock.key !== key) throw new Reject(pc, `bpf_spin_unlock of a different lock than the one taken at instruction ${st.lock.pc}`);
        st.lock = null;
      }
      return;
    }
    case 'timer':
      meta.timerMap = fieldArg(pc, r, v, 'timer', fname).p.map!;
      if (id === HelperId.timer_init) meta.map = null; // the next argument names the map
      return;
    case 'kptr': {
      const { p, offset } = fieldArg(pc, r, v, 'kptr', fname);
      meta.kptr = { map: p.map!, offset };
      return;
    }
    case 'ringbufRecord':
      if (v.k !== 'mem' || !v.ringbuf) mismatch('a ring buffer record from bpf_ringbuf_reserve');
      if (v.nullId) throw new Reject(pc, `r${r} is ${describe(v)}: test the reservation against NULL before submitting it`);
      if (!v.off.isConst() || v.off.smin !== 0n) throw new Reject(pc, `r${r}: ${fname} needs the record pointer as reserved, not an offset into it`);
      meta.release = { id: v.refId, what: 'the ring buffer record' };
      return;
    case 'task':
    case 'taskOrNull':
      if (kind === 'taskOrNull' && isNull(v)) return;
      if (v.k !== 'btf' || v.rec!.name !== 'task_struct') mismatch('a struct task_struct pointer');
      if (v.nullId && kind === 'task') mismatch('a task_struct pointer that is not NULL');
      if (!v.trusted) throw new Reject(pc, `argument type mismatch: r${r} is ${describe(v)}; ${fname} needs a trusted task (a callback argument or bpf_get_current_task_btf)`);
      return;
    case 'btfOrNull':
      if (isNull(v)) return;
      if (v.k !== 'btf') mismatch('a referenced kernel object or NULL');
      if (v.nullId) mismatch('an object that is not NULL');
      if (!v.refId) throw new Reject(pc, `r${r} is ${describe(v)}, which was not acquired: only a referenced object can be stored with ${fname}`);
      meta.release = { id: v.refId, what: `the struct ${v.rec!.name} reference` };
      return;
    case 'func':
      if (v.k !== 'func') mismatch('a callback function (lddw func)');
      meta.func = v;
      return;
    case 'stackOrNull':
      if (!isNull(v) && v.k !== 'stack') mismatch('a pointer to the stack or NULL');
      meta.ctx = v;
      return;
  }
}

/** A BPF timer callback runs on its own, from a timer, with (map, key, value) in r1..r3. */
function queueTimerCallback(env: Env, target: number, map: MapDesc): void {
  const key = `timer:${target}:${map.name}`;
  if (env.roots.has(key)) return;
  const root = emptyState(target, { what: 'a BPF timer callback', min: 0n, max: 0n, context: 'timer' });
  root.regs[1] = pointer('map', { map });
  root.regs[2] = pointer('mem', { size: map.keySize, writable: false });
  root.regs[3] = pointer('mapval', { map, size: map.valueSize, writable: !map.readonly });
  env.roots.set(key, root);
}

// ---------------------------------------------------------------------------------------------
// Kfuncs

const isScalarType = (t: CType): boolean => {
  const u = unwrap(t);
  return u.kind === 'int' || u.kind === 'enum';
};

/** Does a pointer to `have` (at byte `off`) point at a `want`: itself, or a member nested at that offset? */
function structMatches(have: RecordType, off: number, want: RecordType): boolean {
  if (off === 0 && have === want) return true;
  for (const m of have.members) {
    const t = unwrap(m.type);
    if ((t.kind === 'struct' || t.kind === 'union') && t.complete && off >= m.offset && off < m.offset + t.size) {
      if (structMatches(t, off - m.offset, want)) return true;
    }
  }
  return false;
}

function callKfunc(env: Env, pc: number, st: State, id: number): number | Fork {
  const k = env.options.kfunc?.(id);
  if (!k) {
    if (env.kernelMode && env.options.kfunc) throw new Reject(pc, `unknown kfunc BTF id ${id}`);
    clobberCall(st, UNKNOWN);
    return pc + 1;
  }
  const { name, proto, flags } = k;
  if (name === 'bpf_rcu_read_lock' || name === 'bpf_rcu_read_unlock') {
    if (st.lock) throw new Reject(pc, `function calls are not allowed while holding a lock (taken at instruction ${st.lock.pc}); call bpf_spin_unlock first`);
    if (name === 'bpf_rcu_read_lock') {
      if (st.rcuDepth++ === 0) st.rcuPc = pc;
    } else {
      if (st.rcuDepth === 0) throw new Reject(pc, 'bpf_rcu_read_unlock without taking a lock: no bpf_rcu_read_lock is open on this path');
      if (--st.rcuDepth === 0) st.rcuPc = -1;
    }
    clobberCall(st, UNINIT);
    return pc + 1;
  }
  if (st.lock) throw new Reject(pc, `function calls are not allowed while holding a lock (taken at instruction ${st.lock.pc}): ${name} would run under bpf_spin_lock; call bpf_spin_unlock first`);
  const program = env.options.program;
  if (program && env.kernelMode) {
    const context = rootContext(st) ?? program.name;
    const problem = program.kfuncProblem?.(name, context);
    if (problem) throw new Reject(pc, `${name} is not allowed from ${context === 'timer' ? 'a BPF timer callback' : `ops.${context}`}: ${problem}`);
    if (flags & KF.SLEEPABLE && (!program.sleepable || context === 'timer')) {
      throw new Reject(pc, `${name} is not allowed from ${context === 'timer' ? 'a BPF timer callback' : `ops.${context}`}: it may sleep, and this program is not sleepable`);
    }
  }
  let releaseRef: { id: number; what: string } | null = null;
  let iterLoc: IterLoc | null = null;
  const params = proto.params;
  for (let i = 0; i < params.length; i++) {
    const r = i + 1;
    const param = params[i];
    if (/__szk?$/.test(param.name)) continue; // the size of the previous buffer, checked with it
    const v = need(st, pc, r);
    const t = unwrap(param.type);
    const argName = `${name}'s argument '${param.name}' (r${r})`;
    if (isScalarType(t)) {
      if (v.k !== 'scalar') throw new Reject(pc, `argument type mismatch: ${argName} is a scalar, but r${r} is ${describe(v)}`);
      continue;
    }
    if (t.kind !== 'ptr') throw new Reject(pc, `${argName}: arguments of this type are not supported`);
    const to = unwrap(t.to);
    if ((to.kind === 'struct' || to.kind === 'union') && to.name.startsWith('bpf_iter_')) {
      iterLoc = iterArg(env, st, pc, r, v, to, name, flags);
      continue;
    }
    if (to.kind === 'struct' || to.kind === 'union') {
      const nullable = param.name.endsWith('__nullable');
      if (nullable && v.k === 'scalar' && v.v.isConst() && v.v.umin === 0n) continue;
      if (v.k !== 'btf') throw new Reject(pc, `argument type mismatch: ${argName} must be a pointer to struct ${to.name}, but r${r} is ${describe(v)}`);
      if (v.nullId && !nullable) throw new Reject(pc, `r${r} is ${describe(v)}: passing a possibly NULL pointer as ${argName}; test it against NULL first`);
      if (!v.off.isConst() || !structMatches(v.rec!, Number(v.off.smin), to)) {
        throw new Reject(pc, `argument type mismatch: ${argName} must be a pointer to struct ${to.name}, but r${r} is ${describe(v)}${v.off.isConst() && v.off.smin !== 0n ? ` at offset ${v.off.smin}` : ''}`);
      }
      if (!v.trusted) throw new Reject(pc, `argument type mismatch: ${argName} must be trusted (an argument of the callback or an acquired reference), but r${r} is ${describe(v)}`);
      if (flags & KF.RELEASE) {
        if (!v.refId) throw new Reject(pc, `r${r} is ${describe(v)}, which was not acquired: ${name} releases a reference, and this pointer holds none; release only what you acquired`);
        releaseRef = { id: v.refId, what: `the struct ${v.rec!.name} reference` };
      }
      continue;
    }
    // A pointer to plain memory; its size is the next parameter when that is named `*__sz`.
    const next = params[i + 1];
    if (next && /__szk?$/.test(next.name)) {
      const sz = need(st, pc, r + 1);
      if (sz.k !== 'scalar') throw new Reject(pc, `argument type mismatch: ${name}'s argument '${next.name}' (r${r + 1}) is a size, but r${r + 1} is ${describe(sz)}`);
      checkMemArg(env, st, pc, r, v, sz.v, 'read', param.name.endsWith('__nullable'));
    } else {
      checkMemArg(env, st, pc, r, v, pointeeSize(to), 'read', param.name.endsWith('__nullable'));
    }
  }
  if (releaseRef) {
    const { id: refId, what } = releaseRef as { id: number; what: string };
    release(st, pc, refId, what);
  }

  // The result.
  const ret = unwrap(proto.ret);
  let r0: Reg;
  if (ret.kind === 'void') r0 = UNINIT;
  else if (ret.kind !== 'ptr') r0 = UNKNOWN;
  else {
    const to = unwrap(ret.to);
    const nullId = flags & KF.RET_NULL ? env.nextId++ : 0;
    if ((to.kind === 'struct' || to.kind === 'union') && to.complete) {
      const refId = flags & KF.ACQUIRE ? acquire(env, st, pc, `the struct ${to.name} reference from ${name}`) : 0;
      r0 = pointer('btf', { rec: to, size: to.size, trusted: true, nullId, refId });
    } else {
      r0 = pointer('mem', { size: pointeeSize(to), writable: !(ret.const ?? false) && !(flags & KF.ITER_NEXT), nullId });
    }
  }
  const loc = iterLoc as IterLoc | null;
  if (flags & KF.ITER_NEXT && isPtr(r0) && loc) {
    const at = (s: State) => (loc.frame === s.callers.length ? s : s.callers[loc.frame]);
    const it = at(st).spills[loc.slot] as IterReg;
    if (it.ended) {
      // An ended iterator only yields NULL.
      clobberCall(st, scalar(constant(0n)));
      return pc + 1;
    }
    // The iterator ends (NULL) or yields one more element, one iteration deeper.
    const ended = cloneState(st);
    clobberCall(ended, scalar(constant(0n)));
    at(ended).spills[loc.slot] = { ...it, ended: true };
    clobberCall(st, { ...r0, nullId: 0 });
    at(st).spills[loc.slot] = { ...it, depth: it.depth + 1 };
    return { continue: st, continuePc: pc + 1, other: { pc: pc + 1, state: ended } };
  }
  clobberCall(st, r0);
  return pc + 1;
}

/** Where an iterator lives: the frame index and its first stack slot. */
interface IterLoc {
  frame: number;
  slot: number;
}

/** An open-coded iterator argument: created by ITER_NEW in uninitialised stack, used, destroyed. */
function iterArg(env: Env, st: State, pc: number, r: number, v: Reg, to: RecordType, name: string, flags: number): IterLoc | null {
  if (v.k !== 'stack' || !v.off.isConst()) {
    throw new Reject(pc, `argument type mismatch: ${name} expects a struct ${to.name} on the stack at a constant offset in r${r}, but r${r} is ${describe(v)}`);
  }
  const size = to.size;
  const [lo] = checkStack(pc, r, v, 0, 8, 'use');
  if (lo + size > 0) throw new Reject(pc, `invalid stack access: the ${size}-byte struct ${to.name} at offset ${lo} is out of bounds of the frame`);
  const fr = stackFrame(env, st, v.frame, lo);
  const first = lo + STACK_SIZE;
  const slot = first >> 3;
  const existing = fr.bytes[first] === B_ITER ? (fr.spills[slot] as IterReg | undefined) : undefined;
  if (flags & KF.ITER_NEW) {
    for (let i = first; i < first + size; i++) {
      if (fr.bytes[i] === B_ITER) throw new Reject(pc, `${name}: the stack at offset ${lo} already holds a live iterator; destroy it before creating another there`);
    }
    const refId = acquire(env, st, pc, `the ${to.name} iterator created by ${name}`);
    for (let i = first; i < first + size; i++) fr.bytes[i] = B_ITER;
    for (let s = slot; s < slot + size / 8; s++) fr.spills[s] = undefined;
    fr.spills[slot] = { k: 'iter', type: to.name, size, refId, depth: 0, ended: false };
    return null;
  }
  if (!existing || existing.type !== to.name) {
    throw new Reject(pc, `${name} expects an initialized struct ${to.name} at offset ${lo} (r${r}), created by its _new kfunc${existing ? `, but it holds a ${existing.type}` : ''}`);
  }
  if (flags & KF.ITER_DESTROY) {
    st.refs = st.refs.filter((x) => x.id !== existing.refId);
    fr.bytes.fill(B_UNINIT, first, first + size);
    fr.spills[slot] = undefined;
  }
  return { frame: v.frame, slot };
}
