/**
 * The first stage of verification: what can be decided from the instructions alone, before any
 * value is tracked. Every encoding valid (known opcode, unused fields zero, registers r0..r10),
 * `lddw` complete, subprograms found from `call local` / `lddw func` targets, every jump landing on
 * an instruction of its own subprogram, no fall-through off a subprogram's end, r10 never
 * written, and no register read before every path has written it (r0 at exit included).
 *
 * Two modes: `kernel` also rejects what Linux rejects at this level (unreachable instructions,
 * division or shift by an out-of-range immediate, callx, legacy packet loads);
 * `permissive` keeps to what the ISA defines, for ISA-level tests such as bpf_conformance.
 */
import {
  ALU_ARSH,
  ALU_DIV,
  ALU_END,
  ALU_LSH,
  ALU_MOD,
  ALU_MOV,
  ALU_NEG,
  ALU_RSH,
  ATOMIC_CMPXCHG,
  ATOMIC_FETCH,
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
  MODE_ATOMIC,
  MODE_IND,
  OP_CALL,
  OP_CALLX,
  OP_EXIT,
  OP_JA32,
  OP_LDDW,
  OP_MAY_GOTO,
  PSEUDO_FUNC,
  PSEUDO_NONE,
  REG_FP,
  SRC_X,
  branchTarget,
  checkInsn,
  lddwPairProblem,
  type Insn,
} from '../isa.ts';
import { formatInsn } from '../asm.ts';
import type { HelperTable } from '../helpers.ts';
import { ScxError } from '../../util/errors.ts';

export type VerifyMode = 'kernel' | 'permissive';

export interface StructureOptions {
  mode?: VerifyMode;
  /** When given, a call to a helper id not in the table is rejected. */
  helpers?: HelperTable;
  /** When given, a kfunc call to a BTF id not in the table is rejected. */
  kfuncs?: HelperTable;
  /** Argument registers r1..rN holding a value at entry (the kernel passes ctx in r1 only). */
  entryArgs?: number;
  /** Map and BTF `lddw` forms were already resolved to addresses by a loader. */
  pseudoResolved?: boolean;
}

export class VerifierError extends ScxError {
  constructor(
    readonly pc: number,
    readonly insnText: string,
    readonly reason: string,
  ) {
    super(pc < 0 ? reason : `instruction ${pc} (${insnText}): ${reason}`);
  }
}

export interface ProgramShape {
  /** First slot of each subprogram, ascending; subprogram 0 starts at slot 0. */
  subprogs: number[];
  /** Whether each slot begins an instruction (false for the second half of `lddw`). */
  insnStart: boolean[];
  /** Whether each slot is reachable from slot 0. */
  reachable: boolean[];
}

const ALL_REGS = 0x7ff;
const ARG_REGS = 0b111110; // r1..r5
const bit = (r: number): number => 1 << r;

/** Registers an instruction reads and writes, and those it leaves without a value (calls). */
function regEffects(insn: Insn): { reads: number; writes: number; kills: number } {
  const { opcode: op, dst, src } = insn;
  const c = op & 0x07;
  const x = (op & SRC_X) !== 0;
  switch (c) {
    case CLS_ALU:
    case CLS_ALU64: {
      const aop = op & 0xf0;
      if (aop === ALU_MOV) return { reads: x ? bit(src) : 0, writes: bit(dst), kills: 0 };
      if (aop === ALU_NEG || aop === ALU_END) return { reads: bit(dst), writes: bit(dst), kills: 0 };
      return { reads: bit(dst) | (x ? bit(src) : 0), writes: bit(dst), kills: 0 };
    }
    case CLS_JMP:
    case CLS_JMP32: {
      if (op === OP_EXIT) return { reads: bit(0), writes: 0, kills: 0 };
      if (op === OP_CALL) return { reads: 0, writes: bit(0), kills: ARG_REGS };
      if (op === OP_CALLX) return { reads: bit(dst), writes: bit(0), kills: ARG_REGS };
      if (op === OP_JA32 || op === OP_MAY_GOTO || (op & 0xf0) === JMP_JA) return { reads: 0, writes: 0, kills: 0 };
      return { reads: bit(dst) | (x ? bit(src) : 0), writes: 0, kills: 0 };
    }
    case CLS_LD:
      if (op === OP_LDDW) return { reads: 0, writes: bit(dst), kills: 0 };
      // Legacy packet loads behave like a helper call: r0 is set, r1..r5 are scratched.
      return { reads: (op & 0xe0) === MODE_IND ? bit(src) : 0, writes: bit(0), kills: ARG_REGS };
    case CLS_LDX:
      return { reads: bit(src), writes: bit(dst), kills: 0 };
    case CLS_ST:
      return { reads: bit(dst), writes: 0, kills: 0 };
    case CLS_STX: {
      if ((op & 0xe0) !== MODE_ATOMIC) return { reads: bit(dst) | bit(src), writes: 0, kills: 0 };
      if (insn.imm === ATOMIC_CMPXCHG) return { reads: bit(dst) | bit(src) | bit(0), writes: bit(0), kills: 0 };
      return { reads: bit(dst) | bit(src), writes: insn.imm & ATOMIC_FETCH ? bit(src) : 0, kills: 0 };
    }
  }
  return { reads: 0, writes: 0, kills: 0 };
}

/** Successor slots of the instruction at `pc` within the program (calls fall through). */
function successors(insn: Insn, pc: number): number[] {
  const op = insn.opcode;
  if (op === OP_EXIT) return [];
  if (op === OP_LDDW) return [pc + 2];
  const c = op & 0x07;
  if (c !== CLS_JMP && c !== CLS_JMP32) return [pc + 1];
  if (op === OP_CALL || op === OP_CALLX) return [pc + 1];
  const target = branchTarget(insn, pc)!;
  if (op === OP_JA32 || op === (CLS_JMP | JMP_JA)) return [target];
  return [pc + 1, target];
}

function kernelModeReason(insn: Insn): string | null {
  const op = insn.opcode;
  const c = op & 0x07;
  if (op === OP_CALLX) return 'callx is not supported by the kernel verifier';
  if (c === CLS_LD && op !== OP_LDDW) return 'legacy packet loads are only for socket filter programs';
  if ((c === CLS_ALU || c === CLS_ALU64) && !(op & SRC_X)) {
    const aop = op & 0xf0;
    if ((aop === ALU_DIV || aop === ALU_MOD) && insn.imm === 0) return 'division by zero (immediate divisor is 0)';
    if (aop === ALU_LSH || aop === ALU_RSH || aop === ALU_ARSH) {
      const width = c === CLS_ALU64 ? 64 : 32;
      if (insn.imm < 0 || insn.imm >= width) return `invalid shift by ${insn.imm} (must be 0..${width - 1})`;
    }
  }
  return null;
}

/**
 * Check the program's structure and return its shape.
 * @throws VerifierError naming the first offending instruction.
 */
export function checkStructure(insns: readonly Insn[], options: StructureOptions = {}): ProgramShape {
  const mode = options.mode ?? 'kernel';
  const n = insns.length;
  const fail = (pc: number, reason: string): never => {
    throw new VerifierError(pc, pc >= 0 && pc < n ? formatInsn(insns, pc) : '', reason);
  };
  if (n === 0) fail(-1, 'the program has no instructions');

  // Pass 1: encodings, lddw pairs, instruction starts.
  const insnStart = new Array<boolean>(n).fill(false);
  for (let pc = 0; pc < n; pc++) {
    const insn = insns[pc];
    insnStart[pc] = true;
    const problem = checkInsn(insn);
    if (problem) fail(pc, problem);
    if (mode === 'kernel') {
      const reason = kernelModeReason(insn);
      if (reason) fail(pc, reason);
    }
    if (insn.opcode === OP_LDDW) {
      const pairProblem = lddwPairProblem(insns, pc);
      if (pairProblem) fail(pc, pairProblem);
      if (insn.src !== PSEUDO_NONE && insn.src !== PSEUDO_FUNC && !options.pseudoResolved) {
        fail(pc, 'lddw of a map or BTF object needs an object loader to resolve it');
      }
      pc++;
    }
  }

  // Pass 2: targets in range and on instruction starts; subprogram starts.
  const starts = new Set<number>([0]);
  /** Subprograms whose address is taken (`lddw func`): callbacks, which must return a value. */
  const callbacks = new Set<number>();
  for (let pc = 0; pc < n; pc++) {
    if (!insnStart[pc]) continue;
    const insn = insns[pc];
    const target = branchTarget(insn, pc);
    if (target === null) continue;
    if (target < 0 || target >= n) fail(pc, `jump target ${target} is outside the program (0..${n - 1})`);
    if (!insnStart[target]) fail(pc, `jump target ${target} is the second half of the lddw at ${target - 1}`);
    const isLocalCall = insn.opcode === OP_CALL && insn.src === CALL_LOCAL;
    if (isLocalCall || (insn.opcode === OP_LDDW && insn.src === PSEUDO_FUNC)) starts.add(target);
    if (insn.opcode === OP_LDDW && insn.src === PSEUDO_FUNC) callbacks.add(target);
  }
  for (let pc = 0; pc < n; pc++) {
    if (!insnStart[pc]) continue;
    const insn = insns[pc];
    if (insn.opcode === OP_CALL && insn.src === CALL_HELPER && options.helpers && !options.helpers.has(insn.imm)) {
      fail(pc, `unknown helper id ${insn.imm}`);
    }
    if (insn.opcode === OP_CALL && insn.src === CALL_KFUNC && options.kfuncs && !options.kfuncs.has(insn.imm)) {
      fail(pc, `unknown kfunc BTF id ${insn.imm}`);
    }
  }
  const subprogs = [...starts].sort((a, b) => a - b);
  const subprogOf = new Int32Array(n);
  for (let s = 0; s < subprogs.length; s++) {
    const end = s + 1 < subprogs.length ? subprogs[s + 1] : n;
    subprogOf.fill(s, subprogs[s], end);
  }

  // Pass 3: control flow stays inside each subprogram.
  for (let pc = 0; pc < n; pc++) {
    if (!insnStart[pc]) continue;
    const insn = insns[pc];
    const fallThrough = pc + (insn.opcode === OP_LDDW ? 2 : 1);
    for (const next of successors(insn, pc)) {
      if (next >= n) fail(pc, 'execution falls off the end of the program (the last instruction must be exit or a jump)');
      if (subprogOf[next] === subprogOf[pc]) continue;
      if (next === fallThrough) fail(pc, `execution falls through into the subprogram at ${next}`);
      fail(pc, `jump to ${next} leaves its subprogram (which starts at ${subprogs[subprogOf[pc]]})`);
    }
  }

  // Pass 4: reachability and registers read before written, per subprogram.
  const reachable = new Array<boolean>(n).fill(false);
  const entryArgs = Math.min(5, Math.max(0, options.entryArgs ?? 1));
  for (let s = 0; s < subprogs.length; s++) {
    const start = subprogs[s];
    const entry = bit(REG_FP) | (s === 0 ? ((1 << (entryArgs + 1)) - 2) : ARG_REGS);
    const inState = new Int32Array(n).fill(-1); // -1: not reached yet
    inState[start] = entry;
    const work = [start];
    while (work.length) {
      const pc = work.pop()!;
      const insn = insns[pc];
      const { writes, kills } = regEffects(insn);
      const out = ((inState[pc] & ~kills) | writes) & ALL_REGS;
      for (const next of successors(insn, pc)) {
        const merged = inState[next] === -1 ? out : inState[next] & out;
        if (merged !== inState[next]) {
          inState[next] = merged;
          work.push(next);
        }
      }
    }
    for (let pc = start; pc < n && subprogOf[pc] === s; pc++) {
      if (!insnStart[pc]) continue;
      if (inState[pc] === -1) {
        if (mode === 'kernel') fail(pc, 'unreachable instruction');
        continue;
      }
      reachable[pc] = true;
      const insn = insns[pc];
      const { reads } = regEffects(insn);
      // A function called with `call local` may return nothing (C void); callbacks may not.
      const voidOk = insn.opcode === OP_EXIT && s !== 0 && !callbacks.has(start);
      const missing = reads & ~inState[pc] & (voidOk ? ~1 : ~0);
      if (missing) {
        const r = 31 - Math.clz32(missing & -missing);
        fail(pc, r === 0 && insn.opcode === OP_EXIT ? 'r0 is not set at exit' : `r${r} is read before it is written`);
      }
      const { writes } = regEffects(insn);
      if (writes & bit(REG_FP)) fail(pc, 'r10 is the frame pointer and is read-only');
    }
  }
  return { subprogs, insnStart, reachable };
}
