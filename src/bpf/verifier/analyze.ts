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
import { unwrap } from '../ctypes.ts';
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
  frameAt,
  isNull,
  isPtr,
  iterationsDiffer,
  mapRegs,
  pointer,
  sameShape,
  scalar,
  stateIncluded,
  widenScalars,
  type CallbackInfo,
  type IterReg,
  type PtrReg,
  type Reg,
  type State,
} from './state.ts';
import { VerifierError, checkStructure } from './structure.ts';
import {
  type AnalyzeOptions,
  type AnalyzeResult,
  COMPLEXITY_LIMIT,
  CONVERGE_CALLBACK,
  CONVERGE_ITER_NEXT,
  type Env,
  type Fork,
  type GlobalFunc,
  JMP_SEQ_LIMIT,
  MAX_S64,
  MAX_VAR_OFF,
  MIN_S64,
  Reject,
  clobberCall,
  emptyState,
  need,
  pointeeSize,
  pushFrame,
  rootContext,
  sizedUnknown,
} from './env.ts';
import { callHelper, callKfunc } from './calls.ts';
import { checkMemArg, load, store } from './memory.ts';

export type { CtxArg, MapDesc } from './state.ts';
export { constant as fastConst } from './state.ts';
export type { AnalyzeOptions, AnalyzeResult, EntryArg, GlobalFunc, KfuncDesc, ProgramContext, VerifierMaps } from './env.ts';
export { COMPLEXITY_LIMIT, JMP_SEQ_LIMIT, MAX_CALL_FRAMES } from './env.ts';

/** Stored states per jump target; older ones are dropped (the kernel evicts by miss count). */
const MAX_STATES_PER_PC = 64;
/**
 * Pending states (still being verified) a new state is compared with for equality, newest first:
 * a loop that comes back unchanged within this many passes through its head is caught here, any
 * other by the instruction budget.
 */
const LOOP_WINDOW = 8;

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

/** Before an iterator's `next` call: does the iterator r1 points at still yield? */
function iteratorActive(st: State): boolean {
  const r1 = st.regs[1];
  if (r1.k !== 'stack' || !r1.off.isConst()) return false;
  const it = frameAt(st, r1.frame).spills[(Number(r1.off.smin) + STACK_SIZE) >> 3];
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
      if (isNull(v)) return;
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
    if (!is32 && other && isNull(other) && (cond === JMP_JEQ || cond === JMP_JNE)) {
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
  const onTaken = a.v.refine(cond, b.v, is32, true);
  const onFall = a.v.refine(cond, b.v, is32, false);
  // The taken side gets a copy; the fall-through side is the state itself (no second copy).
  const narrow = (s: State, refined: [Scalar, Scalar]): State => {
    s.regs[insn.dst] = scalar(refined[0], a.id);
    if (a.id) syncLinked(s, a.id, refined[0]);
    if (x) {
      const bid = (b as { id: number }).id;
      s.regs[insn.src] = scalar(refined[1], bid);
      if (bid) syncLinked(s, bid, refined[1]);
    }
    return s;
  };
  const taken = onTaken ? narrow(cloneState(st), onTaken) : null;
  const fall = onFall ? narrow(st, onFall) : null;
  return [fall, taken];
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
