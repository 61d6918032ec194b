/**
 * The second stage of verification: a path-sensitive abstract interpreter (issue 8, first
 * increment). It walks every path of a plain program (no maps or BTF yet) with a
 * per-path state: each register uninitialised, a Scalar, or a pointer (to the stack frame or to
 * the context) with a Scalar offset; each of the frame's 512 stack bytes uninitialised, scalar
 * data or part of a spilled 8-byte register.
 *
 * Both sides of a conditional jump are explored, narrowed by Scalar.refine (a side it proves dead
 * is skipped). Loops are handled the kernel's way, by exploration with pruning: at every jump
 * target the states seen are kept, and a new state included in a completely verified one stops
 * there; one equal to a state still being verified on the same path (its loop came back to it
 * unchanged) is an infinite loop; and a budget of processed instructions stops the rest.
 *
 * Temporary rule until helpers are modelled: any helper or kfunc call clobbers r1..r5 and leaves
 * an unknown scalar in r0; its arguments are not checked.
 *
 * bpf-to-bpf calls (`call local`) push a frame: the callee's r1..r5 take the caller's values, its
 * r0 and r6..r9 start uninitialised, and it gets its own 512-byte stack. Stack pointers carry the
 * index of the frame they point into, so a caller's stack stays addressable through pointers
 * passed in registers. The callee's exit returns r0 to the caller, with r1..r5 clobbered and
 * r6..r9 (and r10) restored. Rejected: more than MAX_CALL_FRAMES frames, a call to a subprogram
 * already on the call stack, a callee returning a pointer to its own stack (or storing one into a
 * caller's frame), and a call chain whose subprograms' deepest stack uses add up to more than
 * 512 bytes (each subprogram's depth is measured from the accesses into its frames, and checked
 * once every path is explored). States compare only with the same call stack.
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
  NUM_REGS,
  OP_CALL,
  OP_CALLX,
  OP_EXIT,
  OP_JA32,
  OP_LDDW,
  OP_MAY_GOTO,
  PSEUDO_NONE,
  REG_FP,
  SRC_X,
  STACK_SIZE,
  ATOMIC_CMPXCHG,
  ATOMIC_FETCH,
  accessSize,
  branchTarget,
  lddwImm,
  type Insn,
} from '../isa.ts';
import { formatInsn } from '../asm.ts';
import { Scalar } from './scalar.ts';
import { Tnum } from './tnum.ts';
import { VerifierError, checkStructure, type StructureOptions } from './structure.ts';

/** What a register holds at entry, for r1, r2, ... in order. */
export type EntryArg = { kind: 'ctx'; size: number; writable?: boolean } | { kind: 'scalar'; value?: bigint };

export interface AnalyzeOptions extends Omit<StructureOptions, 'entryArgs'> {
  /** r1, r2, ... at entry; default: r1 is a read-only context of `ctxSize` bytes. */
  args?: readonly EntryArg[];
  /** Size of the context r1 points to when `args` is not given (default 0). */
  ctxSize?: number;
  /** Processed-instruction budget (the kernel's BPF_COMPLEXITY_LIMIT_INSNS). */
  maxInsns?: number;
  /** Budget of branches waiting to be explored (the kernel's BPF_COMPLEXITY_LIMIT_JMP_SEQ). */
  maxPendingBranches?: number;
}

export type AnalyzeResult = { ok: true; insnsProcessed: number } | { ok: false; pc: number; message: string };

export const COMPLEXITY_LIMIT = 1_000_000;
/** Linux applies this limit to loaders without CAP_PERFMON, which is the strict mode's model. */
export const JMP_SEQ_LIMIT = 8192;
/** The kernel's BPF_MAX_VAR_OFF: a pointer's offset must stay within +-2^29. */
const MAX_VAR_OFF = 1n << 29n;
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

type Reg =
  | { k: 'uninit' }
  | { k: 'scalar'; v: Scalar }
  | { k: 'stack'; off: Scalar; frame: number }
  | { k: 'ctx'; off: Scalar; size: number; writable: boolean };

const UNINIT: Reg = { k: 'uninit' };
const scalar = (v: Scalar): Reg => ({ k: 'scalar', v });
const UNKNOWN: Reg = scalar(Scalar.unknown());

// Stack byte kinds.
const B_UNINIT = 0;
const B_DATA = 1;
const B_SPILL = 2;

interface Frame {
  regs: Reg[];
  /** Byte i is frame offset i - 512. */
  bytes: Uint8Array;
  /** The register spilled in each 8-byte slot whose bytes are all B_SPILL. */
  spills: (Reg | undefined)[];
  /** First instruction of the subprogram running in this frame. */
  subprog: number;
  /** The `call local` that made this frame (-1 for the program's own frame). */
  callsite: number;
}

/** The current frame, and the frames of its callers (outermost first; their r0..r5 are unset). */
interface State extends Frame {
  callers: Frame[];
}

const cloneFrame = (f: Frame): Frame => ({ regs: f.regs, bytes: f.bytes.slice(), spills: f.spills.slice(), subprog: f.subprog, callsite: f.callsite });
const cloneState = (s: State): State => ({
  regs: s.regs.slice(),
  bytes: s.bytes.slice(),
  spills: s.spills.slice(),
  subprog: s.subprog,
  callsite: s.callsite,
  callers: s.callers.length ? s.callers.map(cloneFrame) : [],
});

/** What the whole exploration learns: stack depths per subprogram and the call chains seen. */
interface Env {
  /** Deepest stack use (bytes below the frame pointer) per subprogram start. */
  depth: Map<number, number>;
  /** Each call chain seen, by its call sites: the subprograms with the calls that entered them. */
  chains: Map<string, { subprog: number; callsite: number }[]>;
}

/** A stored state at a jump target, with the number of paths still being verified below it. */
interface Checkpoint {
  /** Dropped (null) once evicted from its list: only the pending count is still needed. */
  state: State | null;
  parent: Checkpoint | null;
  pending: number;
}

function regSubset(n: Reg, o: Reg): boolean {
  if (o.k === 'uninit') return true; // the old path never read it, or it would have failed
  if (n.k !== o.k) return false;
  if (n.k === 'scalar') return n.v.isSubsetOf((o as { v: Scalar }).v);
  if (n.k === 'ctx' && (o as { size: number }).size !== n.size) return false;
  if (n.k === 'stack' && (o as { frame: number }).frame !== n.frame) return false;
  return n.off.isSubsetOf((o as { off: Scalar }).off);
}

function regEqual(n: Reg, o: Reg): boolean {
  if (n.k !== o.k) return false;
  if (n.k === 'uninit') return true;
  if (n.k === 'scalar') return n.v.equals((o as { v: Scalar }).v);
  if (n.k === 'ctx' && (o as { size: number }).size !== n.size) return false;
  if (n.k === 'stack' && (o as { frame: number }).frame !== n.frame) return false;
  return n.off.equals((o as { off: Scalar }).off);
}

function stateSubset(n: State, o: State, exact: boolean): boolean {
  // States in different call contexts never prune each other.
  if (n.subprog !== o.subprog || n.callsite !== o.callsite || n.callers.length !== o.callers.length) return false;
  for (let f = 0; f < n.callers.length; f++) {
    if (n.callers[f].callsite !== o.callers[f].callsite || n.callers[f].subprog !== o.callers[f].subprog) return false;
  }
  if (!frameSubset(n, o, exact)) return false;
  for (let f = 0; f < n.callers.length; f++) if (!frameSubset(n.callers[f], o.callers[f], exact)) return false;
  return true;
}

function frameSubset(n: Frame, o: Frame, exact: boolean): boolean {
  const same = exact ? regEqual : regSubset;
  for (let r = 0; r < NUM_REGS; r++) if (!same(n.regs[r], o.regs[r])) return false;
  for (let i = 0; i < STACK_SIZE; i++) {
    const ob = o.bytes[i];
    const nb = n.bytes[i];
    if (exact) {
      if (nb !== ob) return false;
      continue;
    }
    if (ob === B_UNINIT) continue;
    if (ob === B_DATA) {
      if (nb === B_DATA) continue;
      if (nb === B_SPILL && n.spills[i >> 3]!.k === 'scalar') continue;
      return false;
    }
    if (nb !== B_SPILL) return false;
  }
  for (let s = 0; s < STACK_SIZE / 8; s++) {
    const os = o.spills[s];
    if (!os) continue;
    const ns = n.spills[s];
    if (!ns || !same(ns, os)) return false;
  }
  return true;
}

const describe = (r: Reg): string =>
  r.k === 'uninit' ? 'nothing' : r.k === 'scalar' ? 'a scalar' : r.k === 'stack' ? 'a pointer to the stack' : 'the context pointer';

const sizedUnknown = (size: number, signed: boolean): Scalar => {
  if (size === 8) return Scalar.unknown();
  const bits = BigInt(size * 8);
  return signed
    ? Scalar.from({ smin: -(1n << (bits - 1n)), smax: (1n << (bits - 1n)) - 1n })!
    : Scalar.range(0n, (1n << bits) - 1n);
};

/**
 * Scalar.const without its general reduction (a constant is already reduced in every view);
 * the constructor trusts its caller, and test/bpf/verifier/analyze.test.ts checks that the two
 * agree. Constants are on the hot path of every counted loop.
 */
function constant(v: bigint): Scalar {
  const u = BigInt.asUintN(64, v);
  const lo = u & 0xffff_ffffn;
  return new Scalar(Tnum.const(u), u, u, BigInt.asIntN(64, u), BigInt.asIntN(64, u), lo, lo, BigInt.asIntN(32, lo), BigInt.asIntN(32, lo));
}
export { constant as fastConst };

const bounded = (s: Scalar): boolean => s.smin >= -MAX_VAR_OFF && s.smax <= MAX_VAR_OFF;

class Reject extends Error {
  constructor(readonly pc: number, readonly reason: string) {
    super(reason);
  }
}

/**
 * Verify a plain program path by path. Runs the structural stage first, whose rejections are
 * returned the same way. Messages start with the instruction index and text.
 */
export function analyze(insns: readonly Insn[], options: AnalyzeOptions = {}): AnalyzeResult {
  const args = options.args ?? [{ kind: 'ctx', size: options.ctxSize ?? 0 }];
  const message = (pc: number, reason: string): string =>
    new VerifierError(pc, pc >= 0 && pc < insns.length ? formatInsn(insns, pc) : '', reason).message;
  try {
    checkStructure(insns, { ...options, entryArgs: args.length });
  } catch (e) {
    if (e instanceof VerifierError) return { ok: false, pc: e.pc, message: e.message };
    throw e;
  }
  try {
    return { ok: true, insnsProcessed: explore(insns, args, options.maxInsns ?? COMPLEXITY_LIMIT, options.maxPendingBranches ?? JMP_SEQ_LIMIT) };
  } catch (e) {
    if (e instanceof Reject) return { ok: false, pc: e.pc, message: message(e.pc, e.reason) };
    throw e;
  }
}

function entryState(args: readonly EntryArg[]): State {
  const regs: Reg[] = new Array(NUM_REGS).fill(UNINIT);
  args.forEach((a, i) => {
    regs[i + 1] =
      a.kind === 'ctx'
        ? { k: 'ctx', off: constant(0n), size: a.size, writable: a.writable ?? false }
        : scalar(a.value === undefined ? Scalar.unknown() : constant(a.value));
  });
  regs[REG_FP] = { k: 'stack', off: constant(0n), frame: 0 };
  return { regs, bytes: new Uint8Array(STACK_SIZE), spills: new Array(STACK_SIZE / 8).fill(undefined), subprog: 0, callsite: -1, callers: [] };
}

function explore(insns: readonly Insn[], args: readonly EntryArg[], limit: number, maxPending: number): number {
  const n = insns.length;
  // Prune points: jump targets and the instruction after a conditional jump.
  const prunePoint = new Uint8Array(n);
  for (let pc = 0; pc < n; pc++) {
    const t = branchTarget(insns[pc], pc);
    if (t !== null && t >= 0 && t < n && insns[pc].opcode !== OP_CALL && insns[pc].opcode !== OP_LDDW) {
      prunePoint[t] = 1;
      if (pc + 1 < n) prunePoint[pc + 1] = 1;
    }
  }
  const stored: Checkpoint[][] = Array.from({ length: n }, () => []);
  const work: { pc: number; state: State; cp: Checkpoint | null }[] = [{ pc: 0, state: entryState(args), cp: null }];
  let processed = 0;
  const env: Env = { depth: new Map(), chains: new Map() };

  const endPath = (cp: Checkpoint | null): void => {
    for (let c = cp; c && --c.pending === 0; c = c.parent);
  };

  while (work.length) {
    const path = work.pop()!;
    let { pc, cp } = path;
    const st = path.state;
    for (;;) {
      if (prunePoint[pc]) {
        let pruned = false;
        let recentPending = 0;
        const list = stored[pc];
        for (let i = list.length - 1; i >= 0; i--) {
          const old = list[i];
          if (old.pending === 0) {
            if (stateSubset(st, old.state!, false)) {
              pruned = true;
              break;
            }
          } else if (++recentPending <= LOOP_WINDOW && stateSubset(st, old.state!, true)) {
            throw new Reject(pc, 'infinite loop: execution comes back here in the same state, so nothing bounds the loop; make a counter or a bounded value change on every iteration and exit on it');
          }
        }
        if (pruned) break;
        if (list.length >= MAX_STATES_PER_PC) list.shift()!.state = null;
        cp = { state: cloneState(st), parent: cp, pending: 1 };
        list.push(cp);
      }
      if (++processed > limit) {
        throw new Reject(pc, `the program is too complex to verify: more than ${limit} instructions processed (the limit is ${limit}); bound loops by small constants or split the work`);
      }
      const next = step(env, insns, pc, st);
      if (next === null) break;
      if (typeof next === 'number') {
        pc = next;
        continue;
      }
      // A conditional jump: [fall-through state | null, taken state | null].
      const [fall, taken] = next;
      const target = branchTarget(insns[pc], pc)!;
      if (fall && taken) {
        if (cp) cp.pending++;
        if (work.length >= maxPending) {
          throw new Reject(pc, `the program is too complex to verify: more than ${maxPending} branches wait to be explored (the limit is ${maxPending}); bound loops by small constants or reduce branching`);
        }
        work.push({ pc: target, state: taken, cp });
        Object.assign(st, fall);
        pc++;
      } else if (fall) {
        Object.assign(st, fall);
        pc++;
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

/** A `call local`: push a frame for the callee. Returns the callee's first instruction. */
function callLocal(env: Env, insn: Insn, pc: number, st: State): number {
  const target = branchTarget(insn, pc)!;
  if (target === st.subprog || st.callers.some((f) => f.subprog === target)) {
    throw new Reject(pc, `recursive call: the subprogram at ${target} is already on the call stack; BPF functions may not recurse, turn the recursion into a bounded loop`);
  }
  const frames = st.callers.length + 2;
  if (frames > MAX_CALL_FRAMES) {
    throw new Reject(pc, `the call stack of ${frames} frames is too deep (the limit is ${MAX_CALL_FRAMES} frames); inline some functions or flatten the call chain`);
  }
  const saved = st.regs.slice();
  for (let r = 0; r <= 5; r++) saved[r] = UNINIT;
  st.callers.push({ regs: saved, bytes: st.bytes, spills: st.spills, subprog: st.subprog, callsite: st.callsite });
  const regs: Reg[] = new Array(NUM_REGS).fill(UNINIT);
  for (let r = 1; r <= 5; r++) regs[r] = st.regs[r];
  regs[REG_FP] = { k: 'stack', off: constant(0n), frame: st.callers.length };
  st.regs = regs;
  st.bytes = new Uint8Array(STACK_SIZE);
  st.spills = new Array(STACK_SIZE / 8).fill(undefined);
  st.subprog = target;
  st.callsite = pc;
  const chain = [...st.callers.map((f) => ({ subprog: f.subprog, callsite: f.callsite })), { subprog: target, callsite: pc }];
  const key = chain.map((c) => c.callsite).join(',');
  if (!env.chains.has(key)) env.chains.set(key, chain);
  return target;
}

/** A callee's exit: return r0 to the caller, restoring its frame. Returns the caller's next pc. */
function returnLocal(pc: number, st: State): number {
  const r0 = st.regs[0];
  if (r0.k === 'stack' && r0.frame === st.callers.length) {
    throw new Reject(pc, `the return value in r0 is a pointer to the callee's own stack frame: the callee returns a pointer to its stack, which dies when it returns (a dangling pointer leak); let the caller pass a pointer to its own stack for the callee to fill`);
  }
  const caller = st.callers.pop()!;
  const ret = st.callsite + 1;
  const regs = caller.regs.slice();
  regs[0] = r0;
  st.regs = regs;
  st.bytes = caller.bytes;
  st.spills = caller.spills;
  st.subprog = caller.subprog;
  st.callsite = caller.callsite;
  return ret;
}

/** Check that register r holds a value. */
function need(st: State, pc: number, r: number): Reg {
  const v = st.regs[r];
  if (v.k === 'uninit') throw new Reject(pc, `r${r} is read before it is written`);
  return v;
}

/**
 * Execute one instruction on `st` in place. Returns the next pc, null at exit, or for a
 * conditional jump the fall-through and taken states (null where a branch is dead).
 */
function step(env: Env, insns: readonly Insn[], pc: number, st: State): number | null | [State | null, State | null] {
  const insn = insns[pc];
  const op = insn.opcode;
  const c = op & 0x07;
  const x = (op & SRC_X) !== 0;
  const regs = st.regs;
  switch (c) {
    case CLS_ALU:
    case CLS_ALU64: {
      regs[insn.dst] = alu(insn, pc, st);
      return pc + 1;
    }
    case CLS_JMP:
    case CLS_JMP32: {
      if (op === OP_EXIT) {
        const r0 = st.regs[0];
        if (r0.k === 'uninit') throw new Reject(pc, 'r0 is not set at exit');
        if (st.callers.length) return returnLocal(pc, st);
        if (r0.k !== 'scalar') {
          throw new Reject(pc, `the return value in r0 is ${describe(r0)}, which leaks a kernel address; return a scalar`);
        }
        return null;
      }
      if (op === OP_CALL || op === OP_CALLX) {
        if (op === OP_CALL && insn.src === CALL_LOCAL) return callLocal(env, insn, pc, st);
        if (op === OP_CALLX) need(st, pc, insn.dst);
        // Temporary rule: helpers are not modelled yet.
        for (let r = 1; r <= 5; r++) regs[r] = UNINIT;
        regs[0] = UNKNOWN;
        return pc + 1;
      }
      if (op === OP_JA32 || (op & 0xf0) === JMP_JA && c === CLS_JMP) return branchTarget(insn, pc)!;
      if (op === OP_MAY_GOTO) return [cloneState(st), cloneState(st)];
      return condJump(insn, pc, st, c === CLS_JMP32);
    }
    case CLS_LD: {
      if (op === OP_LDDW) {
        if (insn.src !== PSEUDO_NONE) throw new Reject(pc, 'lddw of a map, BTF object or function is not analysed yet');
        regs[insn.dst] = scalar(constant(lddwImm(insns, pc)));
        return pc + 2;
      }
      // Legacy packet loads (permissive mode only): like a helper call.
      if (x || (op & 0xe0) === 0x40) need(st, pc, insn.src);
      for (let r = 1; r <= 5; r++) regs[r] = UNINIT;
      regs[0] = UNKNOWN;
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
        // Read, then write, the same bytes.
        load(env, st, pc, insn.dst, base, insn.off, size, false);
        store(env, st, pc, insn.dst, base, insn.off, size, value);
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

function alu(insn: Insn, pc: number, st: State): Reg {
  const op = insn.opcode;
  const aop = op & 0xf0;
  const is64 = (op & 0x07) === CLS_ALU64;
  const x = (op & SRC_X) !== 0;
  const name = ALU_OP_NAMES[aop] ?? 'this operation';
  // neg and end have one operand (end's source bit picks the byte order, not a register).
  const unary = aop === ALU_NEG || aop === ALU_END;
  const src: Reg = x && !unary ? need(st, pc, insn.src) : scalar(constant(BigInt(insn.imm)));
  if (aop === ALU_MOV) {
    if (src.k === 'scalar' && is64 && insn.off === 0) return src;
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
  const ptr = dst.k !== 'scalar' ? dst : src;
  const what = `r${ptrReg} is ${describe(ptr)}`;
  if (dst.k !== 'scalar' && src.k !== 'scalar') {
    throw new Reject(pc, `${what}: pointer arithmetic between two pointers (${name}) is prohibited; add or subtract a bounded scalar instead`);
  }
  if (aop !== ALU_ADD && (aop !== ALU_SUB || dst.k === 'scalar')) {
    throw new Reject(pc, `${what}: pointer arithmetic with ${name} is prohibited; only adding or subtracting a bounded scalar is allowed`);
  }
  if (!is64) throw new Reject(pc, `${what}: 32-bit pointer arithmetic is prohibited; use the 64-bit add or sub`);
  const p = ptr as Exclude<Reg, { k: 'uninit' } | { k: 'scalar' }>;
  const s = (dst.k === 'scalar' ? dst : src) as { k: 'scalar'; v: Scalar };
  if (!bounded(s.v)) {
    throw new Reject(pc, `${what}: pointer arithmetic with an unbounded scalar (${s.v}) is prohibited; bound it first with 'and' or a comparison`);
  }
  const off = p.off.alu(CLS_ALU64 | aop | SRC_X, s.v);
  if (!bounded(off)) throw new Reject(pc, `${what}: pointer arithmetic gives an offset beyond +-2^29 (${off}); keep offsets small`);
  return { ...p, off };
}

/** The next pc when the outcome is decided, else the fall-through and taken states (null if dead). */
function condJump(insn: Insn, pc: number, st: State, is32: boolean): number | [State | null, State | null] {
  const op = insn.opcode;
  const cond = op & 0xf0;
  const x = (op & SRC_X) !== 0;
  const a = need(st, pc, insn.dst);
  const b: Reg = x ? need(st, pc, insn.src) : scalar(constant(BigInt(insn.imm)));
  if (a.k !== 'scalar' || b.k !== 'scalar') {
    // A pointer is never NULL: a test against constant 0 has a known outcome.
    const other = a.k === 'scalar' ? a : b.k === 'scalar' ? b : null;
    if (!is32 && other && other.v.isConst() && other.v.umin === 0n && (cond === JMP_JEQ || cond === JMP_JNE)) {
      return cond === JMP_JEQ ? pc + 1 : branchTarget(insn, pc)!;
    }
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
    s.regs[insn.dst] = scalar(refined[0]);
    if (x) s.regs[insn.src] = scalar(refined[1]);
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

/** The accessed offsets [lo, hi] (first byte) of an access through a pointer. */
function range(p: { off: Scalar }, off: number): [number, number] {
  return [Number(p.off.smin) + off, Number(p.off.smax) + off];
}

function checkStack(pc: number, r: number, p: { off: Scalar }, off: number, size: number, verb: string): [number, number] {
  const [lo, hi] = range(p, off);
  const where = lo === hi ? `offset ${lo}` : `offsets ${lo}..${hi}`;
  if (lo < -STACK_SIZE || hi + size > 0) {
    throw new Reject(pc, `invalid stack access: ${verb} of ${size} bytes at ${where} from r${r} is out of bounds of the ${STACK_SIZE}-byte frame [-${STACK_SIZE}, 0); keep it within the frame`);
  }
  if (lo === hi && ((lo % size) + size) % size !== 0) {
    throw new Reject(pc, `misaligned stack access: ${verb} of ${size} bytes at ${where} is not a multiple of ${size}; align the slot to its size`);
  }
  return [lo, hi];
}

function checkCtx(pc: number, r: number, p: { off: Scalar; size: number }, off: number, size: number, verb: string): void {
  const [lo, hi] = range(p, off);
  if (lo < 0 || hi + size > p.size) {
    throw new Reject(pc, `invalid context access: ${verb} of ${size} bytes at offset ${lo === hi ? lo : `${lo}..${hi}`} from r${r} is out of bounds of the ${p.size}-byte context; stay within it`);
  }
}

/** The frame a stack pointer points into, recording the deepest access `lo` of its subprogram. */
function stackFrame(env: Env, st: State, frame: number, lo: number): Frame {
  const fr = frame === st.callers.length ? st : st.callers[frame];
  if (-lo > (env.depth.get(fr.subprog) ?? 0)) env.depth.set(fr.subprog, -lo);
  return fr;
}

function load(env: Env, st: State, pc: number, r: number, base: Reg, off: number, size: number, signed: boolean): Reg {
  if (base.k === 'scalar') throw new Reject(pc, `r${r} is not a pointer (it holds a scalar), so it cannot be dereferenced; load only through the stack or the context`);
  if (base.k === 'uninit') throw new Reject(pc, `r${r} is read before it is written`);
  if (base.k === 'ctx') {
    checkCtx(pc, r, base, off, size, 'read');
    return scalar(sizedUnknown(size, signed));
  }
  const [lo, hi] = checkStack(pc, r, base, off, size, 'read');
  const fr = stackFrame(env, st, base.frame, lo);
  const first = lo + STACK_SIZE;
  if (lo === hi && size === 8 && fr.bytes[first] === B_SPILL && fr.spills[first >> 3]) return fr.spills[first >> 3]!;
  for (let i = first; i < hi + STACK_SIZE + size; i++) {
    const b = fr.bytes[i];
    if (b === B_UNINIT) {
      throw new Reject(pc, `invalid read from stack: byte ${i - STACK_SIZE} of the ${size}-byte read at ${lo === hi ? lo : `${lo}..${hi}`} is uninitialized; write the whole slot before reading it`);
    }
    if (b === B_SPILL && fr.spills[i >> 3]!.k !== 'scalar') {
      throw new Reject(pc, `invalid read from stack: a partial read of a spilled pointer at ${(i & ~7) - STACK_SIZE}; read the whole 8-byte slot`);
    }
  }
  return scalar(sizedUnknown(size, signed));
}

function store(env: Env, st: State, pc: number, r: number, base: Reg, off: number, size: number, value: Reg): void {
  if (base.k === 'scalar') throw new Reject(pc, `r${r} is not a pointer (it holds a scalar), so it cannot be dereferenced; store only through the stack or the context`);
  if (base.k === 'uninit') throw new Reject(pc, `r${r} is read before it is written`);
  if (base.k === 'ctx') {
    if (!base.writable) throw new Reject(pc, `r${r} is the context pointer, which is read-only here; write to the stack instead`);
    if (value.k !== 'scalar') throw new Reject(pc, `storing ${describe(value)} into the context leaks the address; store scalars only`);
    checkCtx(pc, r, base, off, size, 'write');
    return;
  }
  const [lo, hi] = checkStack(pc, r, base, off, size, 'write');
  const fr = stackFrame(env, st, base.frame, lo);
  if (value.k === 'stack' && value.frame > base.frame) {
    throw new Reject(pc, `storing a pointer to a callee's stack into a caller's frame is prohibited: it would dangle once the callee returns; store scalars or the caller's own pointers`);
  }
  const first = lo + STACK_SIZE;
  if (value.k !== 'scalar' && (size !== 8 || lo !== hi)) {
    throw new Reject(pc, `storing part of ${describe(value)} (${size} bytes${lo === hi ? '' : ' at a variable offset'}) is prohibited; spill pointers as whole 8-byte slots`);
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
