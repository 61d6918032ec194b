/**
 * The JIT: one BPF program (with its bpf-to-bpf callees) becomes one WebAssembly module.
 *
 * - Each subprogram is a Wasm function `(r1..r5, fp: i64) -> r0: i64`. BPF registers are i64
 *   locals (r6..r9 and r0 only when used), so r6..r9 are callee-saved for free and a callee's
 *   frame pointer is its caller's plus 512.
 * - Loads and stores go to the object's shared `WebAssembly.Memory`. In checked mode every access
 *   is bounds-checked against [GUARD_SIZE, memory size) and traps with the interpreter's message;
 *   unchecked mode is for programs a kernel-mode verifier has proven safe.
 * - Helpers and kfuncs are imports `(pc: i32, fp: i32) -> ()`: arguments travel through the call area as
 *   64-bit words, so no BigInt crosses the boundary on a call. Helpers that are a constant or a
 *   word in memory (the clock, the current CPU) are emitted inline instead.
 * - Control flow is made structured with Ramsey's "Beyond Relooper" translation when the graph
 *   is reducible, and with a loop + br_table dispatcher when it is not.
 * - Semantics are the interpreter's, operation for operation: division by zero gives 0, modulo by
 *   zero keeps the dividend, INT_MIN / -1 wraps (Wasm would trap), shifts are masked, 32-bit
 *   results are zero-extended.
 */
import {
  ALU_ADD,
  ALU_AND,
  ALU_ARSH,
  ALU_DIV,
  ALU_END,
  ALU_LSH,
  ALU_MOD,
  ALU_MOV,
  ALU_MUL,
  ALU_NEG,
  ALU_OR,
  ALU_RSH,
  ALU_SUB,
  ALU_XOR,
  ATOMIC_ADD,
  ATOMIC_AND,
  ATOMIC_CMPXCHG,
  ATOMIC_FETCH,
  ATOMIC_OR,
  ATOMIC_XCHG,
  ATOMIC_XOR,
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
  JMP_JEQ,
  JMP_JGE,
  JMP_JGT,
  JMP_JLE,
  JMP_JLT,
  JMP_JNE,
  JMP_JSET,
  JMP_JSGE,
  JMP_JSGT,
  JMP_JSLE,
  JMP_JSLT,
  MAX_CALL_FRAMES,
  MODE_ABS,
  MODE_ATOMIC,
  MODE_MEMSX,
  OP_CALL,
  OP_CALLX,
  OP_EXIT,
  OP_JA,
  OP_JA32,
  OP_LDDW,
  OP_MAY_GOTO,
  PSEUDO_FUNC,
  SRC_X,
  STACK_SIZE,
  accessSize,
  lddwImm,
  type Insn,
} from '../isa.ts';
import { formatInsn } from '../asm.ts';
import type { ArrayLookupInline, HelperInline, HelperTable } from '../helpers.ts';
import { codeAddress, GUARD_SIZE, type AddressSpace } from '../memory.ts';
import { checkStructure } from '../verifier/structure.ts';
import { MAY_GOTO_BUDGET } from '../interp.ts';
import { ScxError } from '../../util/errors.ts';
import { buildCfg, type Cfg } from './cfg.ts';
import { ByteWriter, I32, I64, ModuleBuilder, Op, VOID, type FuncType, type ValType } from './wasm.ts';

/** A program the JIT cannot translate: names the instruction. */
export class JitError extends ScxError {
  constructor(pc: number, insns: readonly Insn[], reason: string) {
    super(`instruction ${pc} (${formatInsn(insns, pc)}): JIT: ${reason}`);
  }
}

/** Why a trap import was called; the runtime turns it into the interpreter's fault message. */
export const enum TrapKind {
  Memory = 0,
  CallDepth = 1,
  Misaligned = 2,
  InsnLimit = 3,
  AddrSpaceCast = 4,
}

export interface CompileOptions {
  helpers?: HelperTable;
  kfuncs?: HelperTable;
  /** Bounds-check every memory access (default true). */
  checked?: boolean;
  /** Count executed instructions (default true); needed for `maxInsns` and run statistics. */
  countInsns?: boolean;
  /** With counting on, trap once a call frame has run this many instructions (checked at loop heads). */
  maxInsns?: number;
  /** BPF_PROBE_MEM loads by slot: out of bounds, they give 0 instead of trapping. */
  probeLoads?: Uint8Array;
}

export interface CompiledModule {
  bytes: Uint8Array<ArrayBuffer>;
  /** Import names the runtime must provide, with what they stand for. */
  helperImports: { name: string; kind: 'helper' | 'kfunc'; id: number }[];
  usesCallx: boolean;
  usesPacket: boolean;
  /** Instruction count per subprogram index, for statistics. */
  subprogs: number[];
}

/** ALU64 operations that map onto one Wasm instruction. */
const ALU64_SIMPLE: Record<number, number> = {
  [ALU_ADD]: Op.i64_add,
  [ALU_SUB]: Op.i64_sub,
  [ALU_MUL]: Op.i64_mul,
  [ALU_OR]: Op.i64_or,
  [ALU_AND]: Op.i64_and,
  [ALU_XOR]: Op.i64_xor,
  [ALU_LSH]: Op.i64_shl,
  [ALU_RSH]: Op.i64_shr_u,
  [ALU_ARSH]: Op.i64_shr_s,
};

/** ALU (32-bit) operations that map onto one Wasm instruction. */
const ALU32_SIMPLE: Record<number, number> = {
  [ALU_ADD]: Op.i32_add,
  [ALU_SUB]: Op.i32_sub,
  [ALU_MUL]: Op.i32_mul,
  [ALU_OR]: Op.i32_or,
  [ALU_AND]: Op.i32_and,
  [ALU_XOR]: Op.i32_xor,
  [ALU_LSH]: Op.i32_shl,
  [ALU_RSH]: Op.i32_shr_u,
  [ALU_ARSH]: Op.i32_shr_s,
};

/** Comparisons of the conditional jumps (the i32 ones are at a fixed distance below). */
const JUMP_COMPARE: Record<number, number> = {
  [JMP_JEQ]: Op.i64_eq,
  [JMP_JNE]: Op.i64_ne,
  [JMP_JGT]: Op.i64_gt_u,
  [JMP_JGE]: Op.i64_ge_u,
  [JMP_JLT]: Op.i64_lt_u,
  [JMP_JLE]: Op.i64_le_u,
  [JMP_JSGT]: Op.i64_gt_s,
  [JMP_JSGE]: Op.i64_ge_s,
  [JMP_JSLT]: Op.i64_lt_s,
  [JMP_JSLE]: Op.i64_le_s,
};

/** Loads by size: [zero-extending, sign-extending]. */
const LOAD_OPS: Record<number, [number, number]> = {
  1: [Op.i64_load8_u, Op.i64_load8_s],
  2: [Op.i64_load16_u, Op.i64_load16_s],
  4: [Op.i64_load32_u, Op.i64_load32_s],
  8: [Op.i64_load, Op.i64_load],
};

/** Arithmetic of the atomic read-modify-write operations. */
const ATOMIC_OPS: Record<number, number> = {
  [ATOMIC_ADD]: Op.i64_add,
  [ATOMIC_OR]: Op.i64_or,
  [ATOMIC_AND]: Op.i64_and,
  [ATOMIC_XOR]: Op.i64_xor,
};

/** Indexed by 4*is64 + 2*isMod + isSigned. */
const DIVMOD_OPS = [
  Op.i32_div_u,
  Op.i32_div_s,
  Op.i32_rem_u,
  Op.i32_rem_s,
  Op.i64_div_u,
  Op.i64_div_s,
  Op.i64_rem_u,
  Op.i64_rem_s,
];

const SUB_TYPE: FuncType = { params: [I64, I64, I64, I64, I64, I64], results: [I64] };

interface Ctx {
  kind: 'loop' | 'block' | 'if' | 'dispatch';
  block: number;
}

/** Emits the code of one subprogram. */
class FunctionEmitter {
  readonly code = new ByteWriter();
  private readonly locals: ValType[] = [];
  private readonly regLocal = new Int32Array(11).fill(-1);
  private readonly nextLocal = 6;
  private tmp64a = -1;
  private tmp64b = -1;
  private tmp32 = -1;
  private mayGoto = -1;
  private count = -1;
  private label = -1;

  constructor(
    private readonly c: Compiler,
    private readonly cfg: Cfg,
    readonly subIndex: number,
  ) {
    for (let r = 1; r <= 5; r++) this.regLocal[r] = r - 1;
    this.regLocal[10] = 5;
  }

  private newLocal(t: ValType): number {
    this.locals.push(t);
    return this.nextLocal + this.locals.length - 1;
  }

  private reg(r: number): number {
    if (this.regLocal[r] < 0) this.regLocal[r] = this.newLocal(I64);
    return this.regLocal[r];
  }

  private get(r: number): void {
    this.code.byte(Op.local_get).u32(this.reg(r));
  }

  private set(r: number): void {
    this.code.byte(Op.local_set).u32(this.reg(r));
  }

  private i64c(v: bigint | number): void {
    this.code.byte(Op.i64_const).s64(BigInt(v));
  }

  private i32c(v: number): void {
    this.code.byte(Op.i32_const).s32(v);
  }

  private lget(l: number): void {
    this.code.byte(Op.local_get).u32(l);
  }

  private lset(l: number): void {
    this.code.byte(Op.local_set).u32(l);
  }

  private ltee(l: number): void {
    this.code.byte(Op.local_tee).u32(l);
  }

  private op(o: number): void {
    this.code.byte(o);
  }

  private get t64a(): number {
    if (this.tmp64a < 0) this.tmp64a = this.newLocal(I64);
    return this.tmp64a;
  }

  private get t64b(): number {
    if (this.tmp64b < 0) this.tmp64b = this.newLocal(I64);
    return this.tmp64b;
  }

  private get t32(): number {
    if (this.tmp32 < 0) this.tmp32 = this.newLocal(I32);
    return this.tmp32;
  }

  emit(): { locals: ValType[]; code: ByteWriter } {
    const { cfg } = this;
    if (this.c.countInsns) this.count = this.newLocal(I64);
    const usesMayGoto = cfg.blocks.some((b) => this.c.insns[b.last].opcode === OP_MAY_GOTO);
    if (usesMayGoto) {
      this.mayGoto = this.newLocal(I32);
      this.i32c(MAY_GOTO_BUDGET);
      this.lset(this.mayGoto);
    }
    if (cfg.reducible) this.doTree(cfg.entry, []);
    else this.dispatch();
    this.op(Op.unreachable);
    this.op(Op.end);
    return { locals: this.locals, code: this.code };
  }

  // ---- Structured translation (reducible graphs) ----

  private doTree(x: number, ctx: Ctx[]): void {
    const { cfg } = this;
    const merges = cfg.children[x].filter((c) => cfg.mergeNode[c]).sort((a, b) => cfg.rpoIndex[b] - cfg.rpoIndex[a]);
    if (cfg.loopHeader[x]) {
      this.code.byte(Op.loop).byte(VOID);
      this.nodeWithin(x, merges, [...ctx, { kind: 'loop', block: x }]);
      this.op(Op.end);
    } else {
      this.nodeWithin(x, merges, ctx);
    }
  }

  private nodeWithin(x: number, merges: number[], ctx: Ctx[]): void {
    if (merges.length === 0) {
      this.blockBody(x, ctx);
      return;
    }
    const [y, ...rest] = merges;
    this.code.byte(Op.block).byte(VOID);
    this.nodeWithin(x, rest, [...ctx, { kind: 'block', block: y }]);
    this.op(Op.end);
    this.doTree(y, ctx);
  }

  /** The br depth for a branch from `src` to `tgt`, or -1 if the target is emitted inline. */
  private brDepth(src: number, tgt: number, ctx: Ctx[]): number {
    const { cfg } = this;
    let kind: Ctx['kind'];
    if (cfg.rpoIndex[tgt] <= cfg.rpoIndex[src]) kind = 'loop';
    else if (cfg.mergeNode[tgt]) kind = 'block';
    else return -1;
    for (let i = ctx.length - 1; i >= 0; i--) {
      if (ctx[i].kind === kind && ctx[i].block === tgt) return ctx.length - 1 - i;
    }
    throw new Error(`JIT internal error: no enclosing ${kind} for block ${tgt}`);
  }

  private doBranch(src: number, tgt: number, ctx: Ctx[]): void {
    const d = this.brDepth(src, tgt, ctx);
    if (d >= 0) this.code.byte(Op.br).u32(d);
    else this.doTree(tgt, ctx);
  }

  /** Emit a two-way branch whose i32 condition (true = jump taken) is on the stack. */
  private condBranch(src: number, taken: number, notTaken: number, ctx: Ctx[]): void {
    const dTaken = this.brDepth(src, taken, ctx);
    if (dTaken >= 0) {
      this.code.byte(Op.br_if).u32(dTaken);
      this.doBranch(src, notTaken, ctx);
      return;
    }
    const dNot = this.brDepth(src, notTaken, ctx);
    if (dNot >= 0) {
      this.op(Op.i32_eqz);
      this.code.byte(Op.br_if).u32(dNot);
      this.doBranch(src, taken, ctx);
      return;
    }
    const inner: Ctx[] = [...ctx, { kind: 'if', block: -1 }];
    this.code.byte(Op.if).byte(VOID);
    this.doBranch(src, taken, inner);
    this.op(Op.else);
    this.doBranch(src, notTaken, inner);
    this.op(Op.end);
  }

  // ---- Dispatch-loop translation (irreducible graphs) ----

  private dispatch(): void {
    const { cfg } = this;
    const order = cfg.rpo;
    const position = new Map(order.map((b, i) => [b, i]));
    this.label = this.newLocal(I32);
    this.i32c(position.get(cfg.entry)!);
    this.lset(this.label);
    this.code.byte(Op.loop).byte(VOID);
    for (let i = 0; i < order.length; i++) this.code.byte(Op.block).byte(VOID);
    this.lget(this.label);
    this.code.byte(Op.br_table).u32(order.length);
    for (let i = 0; i < order.length; i++) this.code.u32(i);
    this.code.u32(0);
    this.op(Op.end);
    for (let i = 0; i < order.length; i++) {
      // Inside the loop and the blocks of the blocks after this one.
      const ctx: Ctx[] = [{ kind: 'dispatch', block: -1 }];
      for (let j = order.length - 1; j > i; j--) ctx.push({ kind: 'block', block: -1 });
      this.blockBody(order[i], ctx, position);
      if (i + 1 < order.length) this.op(Op.end);
    }
    this.op(Op.end); // loop
  }

  private dispatchJump(tgt: number, ctx: Ctx[], position: Map<number, number>): void {
    this.i32c(position.get(tgt)!);
    this.lset(this.label);
    this.code.byte(Op.br).u32(ctx.length - 1);
  }

  // ---- Straight-line code ----

  /**
   * Emit block `x` and its terminator. With `position`, branches use the dispatch loop;
   * otherwise the structured translation.
   */
  private blockBody(x: number, ctx: Ctx[], position?: Map<number, number>): void {
    const { cfg } = this;
    const insns = this.c.insns;
    const block = cfg.blocks[x];
    if (this.count >= 0) {
      let n = 0;
      for (let pc = block.start; pc < block.end; pc += insns[pc].opcode === OP_LDDW ? 2 : 1) n++;
      this.lget(this.count);
      this.i64c(n);
      this.op(Op.i64_add);
      this.lset(this.count);
      if (cfg.loopHeader[x] && this.c.maxInsns !== undefined) {
        this.lget(this.count);
        this.i64c(this.c.maxInsns);
        this.op(Op.i64_gt_u);
        this.code.byte(Op.if).byte(VOID);
        this.trap(block.start, TrapKind.InsnLimit);
        this.op(Op.end);
      }
    }
    for (let pc = block.start; pc < block.last; pc += insns[pc].opcode === OP_LDDW ? 2 : 1) this.insn(pc);
    const lastPc = block.last;
    const last = insns[lastPc];
    const jump = (tgt: number, c: Ctx[]) => (position ? this.dispatchJump(tgt, c, position) : this.doBranch(x, tgt, c));
    if (last.opcode === OP_EXIT) {
      this.ret();
      return;
    }
    const isBranch = (last.opcode & 0x07) === CLS_JMP || (last.opcode & 0x07) === CLS_JMP32;
    if (!isBranch || last.opcode === OP_CALL || last.opcode === OP_CALLX) {
      this.insn(lastPc);
      if (block.succs.length) jump(block.succs[0], ctx);
      return;
    }
    if (last.opcode === OP_JA || last.opcode === OP_JA32) {
      jump(block.succs[0], ctx);
      return;
    }
    // Conditional: succs = [fall-through, target].
    this.condition(lastPc);
    const [notTaken, taken] = block.succs;
    if (position) {
      const inner: Ctx[] = [...ctx, { kind: 'if', block: -1 }];
      this.code.byte(Op.if).byte(VOID);
      this.dispatchJump(taken, inner, position);
      this.op(Op.else);
      this.dispatchJump(notTaken, inner, position);
      this.op(Op.end);
    } else {
      this.condBranch(x, taken, notTaken, ctx);
    }
  }

  private ret(): void {
    if (this.count >= 0) {
      this.code.byte(Op.global_get).u32(this.c.countGlobal);
      this.lget(this.count);
      this.op(Op.i64_add);
      this.code.byte(Op.global_set).u32(this.c.countGlobal);
    }
    this.get(0);
    this.op(Op.return);
  }

  private trap(pc: number, kind: TrapKind, addrLocal = -1): void {
    this.i32c(pc);
    this.i32c(kind);
    if (addrLocal >= 0) {
      this.lget(addrLocal);
      this.op(Op.i32_wrap_i64);
      this.lget(addrLocal);
      this.i64c(32);
      this.op(Op.i64_shr_u);
      this.op(Op.i32_wrap_i64);
    } else {
      this.i32c(0);
      this.i32c(0);
    }
    this.code.byte(Op.call).u32(this.c.trapFunc);
  }

  /** Push the i32 condition of the conditional jump at `pc` (true = taken). */
  private condition(pc: number): void {
    const insn = this.c.insns[pc];
    const op = insn.opcode;
    if (op === OP_MAY_GOTO) {
      // Taken once the frame's budget is spent; otherwise spend one.
      this.lget(this.mayGoto);
      this.op(Op.i32_eqz);
      this.code.byte(Op.if).byte(I32);
      this.i32c(1);
      this.op(Op.else);
      this.lget(this.mayGoto);
      this.i32c(1);
      this.op(Op.i32_sub);
      this.lset(this.mayGoto);
      this.i32c(0);
      this.op(Op.end);
      return;
    }
    const is32 = (op & 0x07) === CLS_JMP32;
    const x = (op & SRC_X) !== 0;
    this.get(insn.dst);
    if (is32) this.op(Op.i32_wrap_i64);
    if (x) {
      this.get(insn.src);
      if (is32) this.op(Op.i32_wrap_i64);
    } else if (is32) this.i32c(insn.imm);
    else this.i64c(insn.imm);
    const jop = op & 0xf0;
    if (jop === JMP_JSET) {
      this.op(is32 ? Op.i32_and : Op.i64_and);
      if (is32) {
        this.op(Op.i32_eqz);
        this.op(Op.i32_eqz);
      } else {
        this.op(Op.i64_eqz);
        this.op(Op.i32_eqz);
      }
      return;
    }
    const o = JUMP_COMPARE[jop];
    // The i32 comparison opcodes sit at a fixed distance below their i64 twins.
    this.op(is32 ? o - (Op.i64_eq - Op.i32_eq) : o);
  }

  private insn(pc: number): void {
    const insn = this.c.insns[pc];
    const op = insn.opcode;
    switch (op & 0x07) {
      case CLS_ALU64:
        return this.alu64(pc, insn);
      case CLS_ALU:
        return this.alu32(pc, insn);
      case CLS_LDX:
        return this.load(pc, insn);
      case CLS_ST:
      case CLS_STX:
        if ((op & 0xe0) === MODE_ATOMIC) return this.atomic(pc, insn);
        return this.store(pc, insn);
      case CLS_LD:
        if (op === OP_LDDW) {
          this.i64c(insn.src === PSEUDO_FUNC ? codeAddress(pc + 1 + insn.imm) : lddwImm(this.c.insns, pc));
          this.set(insn.dst);
          return;
        }
        return this.packetLoad(pc, insn);
      case CLS_JMP:
        if (op === OP_CALL) return this.call(pc, insn);
        if (op === OP_CALLX) return this.callx(pc, insn);
    }
    throw new JitError(pc, this.c.insns, `unexpected instruction inside a block`);
  }

  private operand64(insn: Insn): void {
    if (insn.opcode & SRC_X) this.get(insn.src);
    else this.i64c(insn.imm);
  }

  private operand32(insn: Insn): void {
    if (insn.opcode & SRC_X) {
      this.get(insn.src);
      this.op(Op.i32_wrap_i64);
    } else this.i32c(insn.imm);
  }

  private alu64(pc: number, insn: Insn): void {
    const aop = insn.opcode & 0xf0;
    const x = (insn.opcode & SRC_X) !== 0;
    const { dst } = insn;
    if (aop in ALU64_SIMPLE) {
      this.get(dst);
      this.operand64(insn);
      this.op(ALU64_SIMPLE[aop]);
      this.set(dst);
      return;
    }
    switch (aop) {
      case ALU_NEG:
        this.i64c(0);
        this.get(dst);
        this.op(Op.i64_sub);
        this.set(dst);
        return;
      case ALU_MOV:
        if (x && insn.off === 1) {
          this.trap(pc, TrapKind.AddrSpaceCast);
          return;
        }
        this.operand64(insn);
        if (insn.off === 8) this.op(Op.i64_extend8_s);
        else if (insn.off === 16) this.op(Op.i64_extend16_s);
        else if (insn.off === 32) this.op(Op.i64_extend32_s);
        this.set(dst);
        return;
      case ALU_DIV:
      case ALU_MOD:
        return this.divmod(insn, true);
      case ALU_END:
        return this.byteSwap(insn, true);
    }
    throw new JitError(pc, this.c.insns, `unknown ALU64 operation 0x${aop.toString(16)}`);
  }

  private alu32(pc: number, insn: Insn): void {
    const aop = insn.opcode & 0xf0;
    const { dst } = insn;
    if (aop in ALU32_SIMPLE) {
      this.get(dst);
      this.op(Op.i32_wrap_i64);
      this.operand32(insn);
      this.op(ALU32_SIMPLE[aop]);
      this.op(Op.i64_extend_i32_u);
      this.set(dst);
      return;
    }
    switch (aop) {
      case ALU_NEG:
        this.i32c(0);
        this.get(dst);
        this.op(Op.i32_wrap_i64);
        this.op(Op.i32_sub);
        this.op(Op.i64_extend_i32_u);
        this.set(dst);
        return;
      case ALU_MOV:
        this.operand32(insn);
        if (insn.off === 8) this.op(Op.i32_extend8_s);
        else if (insn.off === 16) this.op(Op.i32_extend16_s);
        this.op(Op.i64_extend_i32_u);
        this.set(dst);
        return;
      case ALU_DIV:
      case ALU_MOD:
        return this.divmod(insn, false);
      case ALU_END:
        return this.byteSwap(insn, false);
    }
    throw new JitError(pc, this.c.insns, `unknown ALU operation 0x${aop.toString(16)}`);
  }

  /**
   * Division and modulo with BPF's total semantics; Wasm traps on a zero divisor and on
   * INT_MIN / -1, so those cases are handled before the Wasm operation.
   */
  private divmod(insn: Insn, is64: boolean): void {
    const isDiv = (insn.opcode & 0xf0) === ALU_DIV;
    const signed = insn.off === 1;
    const T = is64 ? I64 : I32;
    const wasmOp = DIVMOD_OPS[(is64 ? 4 : 0) + (isDiv ? 0 : 2) + (signed ? 1 : 0)];

    if (!(insn.opcode & SRC_X)) {
      const imm = insn.imm;
      if (imm === 0) {
        if (isDiv) this.widthConst(is64, 0);
        else this.pushDst(insn.dst, is64);
      } else if (signed && imm === -1) {
        if (isDiv) this.negDst(insn.dst, is64);
        else this.widthConst(is64, 0);
      } else {
        this.pushDst(insn.dst, is64);
        this.widthConst(is64, imm);
        this.op(wasmOp);
      }
      this.setDst(insn.dst, is64);
      return;
    }
    // Divisor into a temporary of the operation's width.
    const tmp = is64 ? this.t64a : this.t32;
    this.get(insn.src);
    if (!is64) this.op(Op.i32_wrap_i64);
    this.lset(tmp);
    this.lget(tmp);
    this.op(is64 ? Op.i64_eqz : Op.i32_eqz);
    this.code.byte(Op.if).byte(T);
    if (isDiv) this.widthConst(is64, 0);
    else this.pushDst(insn.dst, is64);
    this.op(Op.else);
    if (signed) {
      // x / -1 = -x (wrapping) and x % -1 = 0.
      this.lget(tmp);
      this.widthConst(is64, -1);
      this.op(is64 ? Op.i64_eq : Op.i32_eq);
      this.code.byte(Op.if).byte(T);
      if (isDiv) this.negDst(insn.dst, is64);
      else this.widthConst(is64, 0);
      this.op(Op.else);
      this.pushDst(insn.dst, is64);
      this.lget(tmp);
      this.op(wasmOp);
      this.op(Op.end);
    } else {
      this.pushDst(insn.dst, is64);
      this.lget(tmp);
      this.op(wasmOp);
    }
    this.op(Op.end);
    this.setDst(insn.dst, is64);
  }

  /** Push dst at the operation's width. */
  private pushDst(dst: number, is64: boolean): void {
    this.get(dst);
    if (!is64) this.op(Op.i32_wrap_i64);
  }

  /** Store a result of the operation's width into dst (32-bit results zero-extended). */
  private setDst(dst: number, is64: boolean): void {
    if (!is64) this.op(Op.i64_extend_i32_u);
    this.set(dst);
  }

  private widthConst(is64: boolean, v: number): void {
    if (is64) this.i64c(v);
    else this.i32c(v);
  }

  private negDst(dst: number, is64: boolean): void {
    this.widthConst(is64, 0);
    this.pushDst(dst, is64);
    this.op(is64 ? Op.i64_sub : Op.i32_sub);
  }

  /** Push bswap32 of the i32 on the stack. */
  private bswap32(): void {
    const t = this.t32;
    this.lset(t);
    this.lget(t);
    this.i32c(8);
    this.op(Op.i32_rotr);
    this.i32c(0xff00ff00 | 0);
    this.op(Op.i32_and);
    this.lget(t);
    this.i32c(8);
    this.op(Op.i32_rotl);
    this.i32c(0x00ff00ff);
    this.op(Op.i32_and);
    this.op(Op.i32_or);
  }

  private byteSwap(insn: Insn, is64Class: boolean): void {
    const swap = is64Class || (insn.opcode & SRC_X) !== 0;
    const width = insn.imm;
    const { dst } = insn;
    if (!swap) {
      if (width === 64) return;
      this.get(dst);
      this.i64c(width === 16 ? 0xffff : 0xffffffff);
      this.op(Op.i64_and);
      this.set(dst);
      return;
    }
    if (width === 16) {
      // ((x & 0xff) << 8) | ((x >> 8) & 0xff)
      this.get(dst);
      this.op(Op.i32_wrap_i64);
      this.lset(this.t32);
      this.lget(this.t32);
      this.i32c(0xff);
      this.op(Op.i32_and);
      this.i32c(8);
      this.op(Op.i32_shl);
      this.lget(this.t32);
      this.i32c(8);
      this.op(Op.i32_shr_u);
      this.i32c(0xff);
      this.op(Op.i32_and);
      this.op(Op.i32_or);
      this.op(Op.i64_extend_i32_u);
      this.set(dst);
      return;
    }
    if (width === 32) {
      this.get(dst);
      this.op(Op.i32_wrap_i64);
      this.bswap32();
      this.op(Op.i64_extend_i32_u);
      this.set(dst);
      return;
    }
    // 64: swap each half and exchange them.
    this.get(dst);
    this.lset(this.t64b);
    this.lget(this.t64b);
    this.op(Op.i32_wrap_i64);
    this.bswap32();
    this.op(Op.i64_extend_i32_u);
    this.i64c(32);
    this.op(Op.i64_shl);
    this.lget(this.t64b);
    this.i64c(32);
    this.op(Op.i64_shr_u);
    this.op(Op.i32_wrap_i64);
    this.bswap32();
    this.op(Op.i64_extend_i32_u);
    this.op(Op.i64_or);
    this.set(dst);
  }

  /**
   * Push the i32 address of a `size`-byte access at base register + off, checking it in checked
   * mode. Returns the static memarg offset to use with it.
   */
  private address(pc: number, base: number, off: number, size: number, atomic = false): number {
    if (!this.c.checked) {
      this.get(base);
      this.op(Op.i32_wrap_i64);
      if (off >= 0) return off;
      this.i32c(off);
      this.op(Op.i32_add);
      return 0;
    }
    const a = this.t64a;
    this.outOfBounds(base, off, size);
    this.code.byte(Op.if).byte(VOID);
    this.trap(pc, TrapKind.Memory, a);
    this.op(Op.end);
    if (atomic && size > 1) {
      this.lget(a);
      this.i64c(size - 1);
      this.op(Op.i64_and);
      this.op(Op.i64_eqz);
      this.op(Op.i32_eqz);
      this.code.byte(Op.if).byte(VOID);
      this.trap(pc, TrapKind.Misaligned, a);
      this.op(Op.end);
    }
    this.lget(a);
    this.op(Op.i32_wrap_i64);
    return 0;
  }

  /**
   * Leave in t64a the address of a `size`-byte access at base register + off, and on the stack
   * an i32 that is true when it falls outside [GUARD, memory size): one unsigned compare of
   * a - GUARD.
   */
  private outOfBounds(base: number, off: number, size: number): void {
    this.get(base);
    this.i64c(off);
    this.op(Op.i64_add);
    this.ltee(this.t64a);
    this.i64c(GUARD_SIZE);
    this.op(Op.i64_sub);
    this.code.byte(0x3f).byte(0x00); // memory.size
    this.op(Op.i64_extend_i32_u);
    this.i64c(16);
    this.op(Op.i64_shl);
    this.i64c(GUARD_SIZE + size);
    this.op(Op.i64_sub);
    this.op(Op.i64_gt_u);
  }

  private memarg(size: number, offset: number): void {
    this.code.u32(Math.log2(size)).u32(offset);
  }

  private load(pc: number, insn: Insn): void {
    const size = accessSize(insn.opcode);
    const sx = (insn.opcode & 0xe0) === MODE_MEMSX;
    if (this.c.options.probeLoads?.[pc]) return this.probeLoad(insn, size, sx);
    const offset = this.address(pc, insn.src, insn.off, size);
    this.op(LOAD_OPS[size][sx ? 1 : 0]);
    this.memarg(size, offset);
    this.set(insn.dst);
  }

  /** A BPF_PROBE_MEM load: the bounds test picks between the load and 0, never a trap. */
  private probeLoad(insn: Insn, size: number, sx: boolean): void {
    this.outOfBounds(insn.src, insn.off, size);
    this.code.byte(Op.if).byte(I64);
    this.i64c(0);
    this.op(Op.else);
    this.lget(this.t64a);
    this.op(Op.i32_wrap_i64);
    this.op(LOAD_OPS[size][sx ? 1 : 0]);
    this.memarg(size, 0);
    this.op(Op.end);
    this.set(insn.dst);
  }

  private storeOp(size: number): number {
    return size === 1 ? Op.i64_store8 : size === 2 ? Op.i64_store16 : size === 4 ? Op.i64_store32 : Op.i64_store;
  }

  private store(pc: number, insn: Insn): void {
    const size = accessSize(insn.opcode);
    const offset = this.address(pc, insn.dst, insn.off, size);
    if ((insn.opcode & 0x07) === CLS_ST) this.i64c(insn.imm);
    else this.get(insn.src);
    this.op(this.storeOp(size));
    this.memarg(size, offset);
  }

  private atomic(pc: number, insn: Insn): void {
    const size = accessSize(insn.opcode);
    const is64 = size === 8;
    const offset = this.address(pc, insn.dst, insn.off, size, true);
    const addr = this.t32;
    const old = this.t64b;
    this.lset(addr);
    const loadOld = () => {
      this.lget(addr);
      this.op(is64 ? Op.i64_load : Op.i64_load32_u);
      this.memarg(size, offset);
    };
    const storeTop = () => {
      this.op(this.storeOp(size));
      this.memarg(size, offset);
    };
    loadOld();
    this.lset(old);
    const imm = insn.imm;
    if (imm === ATOMIC_CMPXCHG) {
      this.lget(old);
      this.get(0);
      if (!is64) {
        this.i64c(0xffffffff);
        this.op(Op.i64_and);
      }
      this.op(Op.i64_eq);
      this.code.byte(Op.if).byte(VOID);
      this.lget(addr);
      this.get(insn.src);
      storeTop();
      this.op(Op.end);
      this.lget(old);
      this.set(0);
      return;
    }
    if (imm === ATOMIC_XCHG) {
      this.lget(addr);
      this.get(insn.src);
      storeTop();
      this.lget(old);
      this.set(insn.src);
      return;
    }
    this.lget(addr);
    this.lget(old);
    this.get(insn.src);
    this.op(ATOMIC_OPS[imm & ~ATOMIC_FETCH]);
    storeTop();
    if (imm & ATOMIC_FETCH) {
      this.lget(old);
      this.set(insn.src);
    }
  }

  /** Store r1..r5 into the call area, where helpers read them. */
  private spillArgs(): void {
    const base = this.c.mem.callArea;
    for (let r = 1; r <= 5; r++) {
      this.i32c(base + r * 8);
      this.get(r);
      this.op(Op.i64_store);
      this.memarg(8, 0);
    }
  }

  private loadResult(): void {
    this.i32c(this.c.mem.callArea);
    this.op(Op.i64_load);
    this.memarg(8, 0);
    this.set(0);
  }

  /** The frame pointer as an i32 (addresses fit in 32 bits), for helpers that call back. */
  private pushFp32(): void {
    this.get(10);
    this.op(Op.i32_wrap_i64);
  }

  private checkDepth(pc: number): void {
    this.get(10);
    this.i64c(this.c.mem.framePointer(MAX_CALL_FRAMES - 1));
    this.op(Op.i64_ge_u);
    this.code.byte(Op.if).byte(VOID);
    this.trap(pc, TrapKind.CallDepth);
    this.op(Op.end);
  }

  private pushCallArgs(): void {
    for (let r = 1; r <= 5; r++) this.get(r);
    this.get(10);
    this.i64c(STACK_SIZE);
    this.op(Op.i64_add);
  }

  private call(pc: number, insn: Insn): void {
    if (insn.src === CALL_LOCAL) {
      this.checkDepth(pc);
      this.pushCallArgs();
      this.code.byte(Op.call).u32(this.c.funcIndexOfSlot(pc + 1 + insn.imm));
      this.set(0);
      return;
    }
    const kind = insn.src === CALL_KFUNC ? 'kfunc' : 'helper';
    const inline = this.c.inlineOf(kind, insn.imm);
    if (inline && inline.kind !== 'arrayLookup') {
      if (inline.kind === 'const') this.i64c(inline.value);
      else {
        this.i32c(inline.addr);
        this.op(inline.size === 8 ? Op.i64_load : Op.i64_load32_u);
        this.memarg(inline.size, 0);
      }
      this.set(0);
      return;
    }
    if (inline) {
      this.arrayLookup(pc, inline, kind, insn.imm);
      return;
    }
    this.importedCall(pc, kind, insn.imm);
  }

  private importedCall(pc: number, kind: 'helper' | 'kfunc', id: number): void {
    const imported = this.c.helperImport(kind, id, pc);
    this.spillArgs();
    this.i32c(pc);
    this.pushFp32();
    this.code.byte(Op.call).u32(imported);
    this.loadResult();
  }

  /**
   * r1 == one of the known array maps: r0 = key < max_entries ? base + key * stride (+ this CPU's
   * copy) : 0, with the key read through r2 like any load. Any other map: the helper call.
   */
  private arrayLookup(pc: number, inline: ArrayLookupInline, kind: 'helper' | 'kfunc', id: number): void {
    let open = 0;
    for (const m of inline.maps) {
      this.get(1);
      this.i64c(m.addr);
      this.op(Op.i64_eq);
      this.code.byte(Op.if).byte(VOID);
      open++;
      const offset = this.address(pc, 2, 0, 4);
      this.op(Op.i64_load32_u);
      this.memarg(4, offset);
      this.lset(this.t64b);
      this.lget(this.t64b);
      this.i64c(m.maxEntries);
      this.op(Op.i64_lt_u);
      this.code.byte(Op.if).byte(I64);
      this.lget(this.t64b);
      this.i64c(m.stride);
      this.op(Op.i64_mul);
      this.i64c(m.base);
      this.op(Op.i64_add);
      if (m.cpuStride) {
        this.i32c(inline.cpuAddr);
        this.op(Op.i64_load32_u);
        this.memarg(4, 0);
        this.i64c(m.cpuStride);
        this.op(Op.i64_mul);
        this.op(Op.i64_add);
      }
      this.op(Op.else);
      this.i64c(0);
      this.op(Op.end);
      this.set(0);
      this.op(Op.else);
    }
    this.importedCall(pc, kind, id);
    for (let i = 0; i < open; i++) this.op(Op.end);
  }

  private callx(pc: number, insn: Insn): void {
    this.spillArgs();
    this.i32c(pc);
    this.get(insn.dst);
    this.op(Op.i32_wrap_i64);
    this.get(insn.dst);
    this.i64c(32);
    this.op(Op.i64_shr_u);
    this.op(Op.i32_wrap_i64);
    this.pushFp32();
    this.code.byte(Op.call).u32(this.c.callxFunc());
    // >= 0: table index of the subprogram to call; -1: the runtime served a helper call.
    this.ltee(this.t32);
    this.i32c(0);
    this.op(Op.i32_ge_s);
    this.code.byte(Op.if).byte(VOID);
    this.checkDepth(pc);
    this.pushCallArgs();
    this.lget(this.t32);
    this.code.byte(Op.call_indirect).u32(this.c.subTypeIndex).u32(0);
    this.set(0);
    this.op(Op.else);
    this.loadResult();
    this.op(Op.end);
  }

  private packetLoad(pc: number, insn: Insn): void {
    this.i32c(pc);
    if ((insn.opcode & 0xe0) === MODE_ABS) this.i32c(0);
    else {
      this.get(insn.src);
      this.op(Op.i32_wrap_i64);
    }
    this.code.byte(Op.call).u32(this.c.packetFunc());
    this.op(Op.i64_extend_i32_u);
    this.set(0);
  }
}

/** Translates a whole program into one module. */
class Compiler {
  readonly module = new ModuleBuilder();
  readonly checked: boolean;
  readonly countInsns: boolean;
  readonly maxInsns?: number;
  readonly subTypeIndex: number;
  trapFunc = -1;
  countGlobal = -1;
  private callxIndex = -1;
  private packetIndex = -1;
  private readonly helperIndex = new Map<string, number>();
  readonly helperImports: CompiledModule['helperImports'] = [];
  private subFuncIndex: number[] = [];
  private subStarts: number[] = [];

  constructor(
    readonly insns: readonly Insn[],
    readonly mem: AddressSpace,
    readonly options: CompileOptions,
  ) {
    this.checked = options.checked ?? true;
    this.countInsns = options.countInsns ?? true;
    this.maxInsns = this.countInsns ? options.maxInsns : undefined;
    this.subTypeIndex = this.module.typeIndex(SUB_TYPE);
  }

  funcIndexOfSlot(slot: number): number {
    const i = this.subStarts.indexOf(slot);
    if (i < 0) throw new Error(`JIT internal error: no subprogram at slot ${slot}`);
    return this.subFuncIndex[i];
  }

  helperImport(kind: 'helper' | 'kfunc', id: number, pc: number): number {
    const name = `${kind}_${id}`;
    const idx = this.helperIndex.get(name);
    if (idx === undefined) throw new JitError(pc, this.insns, `${kind} ${id} was not declared`);
    return idx;
  }

  /** The inline form of a helper or kfunc, when it has one. */
  inlineOf(kind: 'helper' | 'kfunc', id: number): HelperInline | undefined {
    return (kind === 'kfunc' ? this.options.kfuncs : this.options.helpers)?.get(id)?.inline;
  }

  callxFunc(): number {
    return this.callxIndex;
  }

  packetFunc(): number {
    return this.packetIndex;
  }

  compile(): CompiledModule {
    const { insns } = this;
    const shape = checkStructure(insns, {
      mode: 'permissive',
      helpers: this.options.helpers,
      kfuncs: this.options.kfuncs,
      entryArgs: 5,
      pseudoResolved: true,
    });
    // Imports first: the trap handler, each helper and kfunc called, callx and packet loads.
    this.trapFunc = this.module.importFunc('env', 'trap', { params: [I32, I32, I32, I32], results: [] });
    let usesCallx = false;
    let usesPacket = false;
    for (let pc = 0; pc < insns.length; pc++) {
      if (!shape.insnStart[pc]) continue;
      const insn = insns[pc];
      if (insn.opcode === OP_CALL && insn.src !== CALL_LOCAL) {
        const kind = insn.src === CALL_KFUNC ? 'kfunc' : 'helper';
        const name = `${kind}_${insn.imm}`;
        const table = kind === 'kfunc' ? this.options.kfuncs : this.options.helpers;
        if (!table?.has(insn.imm)) throw new JitError(pc, insns, `unknown ${kind} ${insn.imm}`);
        const inl = table.get(insn.imm)!.inline;
        // Array lookups are inlined only for known maps; other maps still need the call.
        if (!this.helperIndex.has(name) && (!inl || inl.kind === 'arrayLookup')) {
          this.helperIndex.set(name, this.module.importFunc('env', name, { params: [I32, I32], results: [] }));
          this.helperImports.push({ name, kind, id: insn.imm });
        }
      }
      if (insn.opcode === OP_CALLX) usesCallx = true;
      if ((insn.opcode & 0x07) === CLS_LD && insn.opcode !== OP_LDDW) usesPacket = true;
    }
    if (usesCallx) this.callxIndex = this.module.importFunc('env', 'callx', { params: [I32, I32, I32, I32], results: [I32] });
    if (usesPacket) this.packetIndex = this.module.importFunc('env', 'packet', { params: [I32, I32], results: [I32] });
    this.module.importMemory('env', 'memory', 1);
    if (this.countInsns) this.countGlobal = this.module.addGlobal(I64, true, 0n);

    this.subStarts = shape.subprogs;
    this.subFuncIndex = this.subStarts.map(() => this.module.declareFunc(SUB_TYPE));
    const counts: number[] = [];
    this.subStarts.forEach((start, i) => {
      const end = i + 1 < this.subStarts.length ? this.subStarts[i + 1] : insns.length;
      const cfg = buildCfg(insns, start, end);
      const emitter = new FunctionEmitter(this, cfg, i);
      const { locals, code } = emitter.emit();
      this.module.setFunc(this.subFuncIndex[i], locals, code);
      counts.push(end - start);
    });
    // Subprograms by index, for callx and for helpers that call back into the program.
    this.module.setTable(this.subFuncIndex);
    this.entryFunctions();
    return {
      bytes: this.module.build(),
      helperImports: this.helperImports,
      usesCallx,
      usesPacket,
      subprogs: counts,
    };
  }

  /**
   * `run()`: r1..r5 from the call area, r0 back into it, low half returned; the instruction count
   * goes to the call area's count word. `runCtx(ctx)`: r1 = ctx, r2..r5 = 0, same results.
   */
  private entryFunctions(): void {
    const area = this.mem.callArea;
    const fp0 = BigInt(this.mem.framePointer(0));
    const f0 = this.subFuncIndex[0];
    /** With r0 on the stack: store it and the count, and return r0's low half. */
    const epilogue = (w: ByteWriter, r0Local: number) => {
      w.byte(Op.local_set).u32(r0Local);
      w.byte(Op.i32_const).s32(area).byte(Op.local_get).u32(r0Local).byte(Op.i64_store).u32(3).u32(0);
      if (this.countInsns) {
        w.byte(Op.i32_const).s32(area + COUNT_WORD).byte(Op.global_get).u32(this.countGlobal);
        w.byte(Op.i64_store).u32(3).u32(0);
        w.byte(Op.i64_const).s64(0n).byte(Op.global_set).u32(this.countGlobal);
      }
      w.byte(Op.local_get).u32(r0Local).byte(Op.i32_wrap_i64).byte(Op.end);
    };

    const run = new ByteWriter();
    for (let r = 1; r <= 5; r++) run.byte(Op.i32_const).s32(area + r * 8).byte(Op.i64_load).u32(3).u32(0);
    run.byte(Op.i64_const).s64(fp0).byte(Op.call).u32(f0);
    epilogue(run, 0);
    const runIdx = this.module.declareFunc({ params: [], results: [I32] });
    this.module.setFunc(runIdx, [I64], run);
    this.module.exportFunc('run', runIdx);

    const runCtx = new ByteWriter();
    runCtx.byte(Op.local_get).u32(0).byte(Op.i64_extend_i32_u);
    for (let r = 2; r <= 5; r++) runCtx.byte(Op.i64_const).s64(0n);
    runCtx.byte(Op.i64_const).s64(fp0).byte(Op.call).u32(f0);
    epilogue(runCtx, 1);
    const ctxIdx = this.module.declareFunc({ params: [I32], results: [I32] });
    this.module.setFunc(ctxIdx, [I64], runCtx);
    this.module.exportFunc('runCtx', ctxIdx);

    // callSub(index, fp): a nested call of subprogram `index` from a helper, in the frame at fp;
    // the instruction count keeps accumulating for the run in progress.
    const callSub = new ByteWriter();
    for (let r = 1; r <= 5; r++) callSub.byte(Op.i32_const).s32(area + r * 8).byte(Op.i64_load).u32(3).u32(0);
    callSub.byte(Op.local_get).u32(1).byte(Op.i64_extend_i32_u);
    callSub.byte(Op.local_get).u32(0).byte(Op.call_indirect).u32(this.subTypeIndex).u32(0);
    callSub.byte(Op.local_set).u32(2);
    callSub.byte(Op.i32_const).s32(area).byte(Op.local_get).u32(2).byte(Op.i64_store).u32(3).u32(0);
    callSub.byte(Op.local_get).u32(2).byte(Op.i32_wrap_i64).byte(Op.end);
    const callSubIdx = this.module.declareFunc({ params: [I32, I32], results: [I32] });
    this.module.setFunc(callSubIdx, [I64], callSub);
    this.module.exportFunc('callSub', callSubIdx);

    // runSub(index): a top-level run of subprogram `index` (a timer callback, say) in frame 0.
    const runSub = new ByteWriter();
    for (let r = 1; r <= 5; r++) runSub.byte(Op.i32_const).s32(area + r * 8).byte(Op.i64_load).u32(3).u32(0);
    runSub.byte(Op.i64_const).s64(fp0);
    runSub.byte(Op.local_get).u32(0).byte(Op.call_indirect).u32(this.subTypeIndex).u32(0);
    epilogue(runSub, 1);
    const runSubIdx = this.module.declareFunc({ params: [I32], results: [I32] });
    this.module.setFunc(runSubIdx, [I64], runSub);
    this.module.exportFunc('runSub', runSubIdx);
  }
}

/** Offset in the call area of the word where the last run's instruction count is stored. */
export const COUNT_WORD = 48;

export function compileToWasm(insns: readonly Insn[], mem: AddressSpace, options: CompileOptions = {}): CompiledModule {
  return new Compiler(insns, mem, options).compile();
}
