/**
 * The reference interpreter: the oracle every other engine is checked against, so it is written
 * to be obviously right rather than fast. Registers hold canonical unsigned 64-bit BigInts and
 * every operation is spelled out with RFC 9669's definition:
 *  - arithmetic wraps modulo 2^64 (2^32 for the ALU class, whose results are zero-extended);
 *  - shift amounts are masked to 6 bits (5 for 32-bit shifts);
 *  - x / 0 = 0, x % 0 = x (truncated to 32 bits for 32-bit ops);
 *  - signed division truncates towards zero; INT_MIN / -1 = INT_MIN and INT_MIN % -1 = 0.
 * Every memory access is checked against the address space's regions and a fault names the
 * instruction.
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
  BPF_MAX_LOOPS,
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
  OP_JA32,
  OP_LDDW,
  OP_MAY_GOTO,
  PSEUDO_FUNC,
  SRC_X,
  accessSize,
  lddwImm,
  type Insn,
} from './isa.ts';
import { formatInsn } from './asm.ts';
import { HelperCall, ProgramExit, type HelperDef, type HelperTable } from './helpers.ts';
import { type AddressSpace, codeAddress, slotOfCodeAddress } from './memory.ts';
import { faultText } from './faults.ts';
import { ScxError } from '../util/errors.ts';

const M64 = (1n << 64n) - 1n;
const M32 = 0xffff_ffffn;
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
/** Sign-extend a 32-bit immediate to a 64-bit operand. */
const immU64 = (imm: number): bigint => u64(BigInt(imm));

/** Iterations a `may_goto` allows per call frame. */
export const MAY_GOTO_BUDGET = BPF_MAX_LOOPS;

/** A fault while running: names the instruction index and its disassembly. */
export class BpfRuntimeError extends ScxError {
  constructor(
    readonly pc: number,
    readonly insnText: string,
    readonly reason: string,
  ) {
    super(`instruction ${pc} (${insnText}): ${reason}`);
  }
}

export interface InterpOptions {
  helpers?: HelperTable;
  kfuncs?: HelperTable;
  /** Stop with an error after this many instructions (guards against runaway loops). */
  maxInsns?: number;
  /** Data that legacy LD_ABS/LD_IND packet loads read (address and length in the address space). */
  packet?: { addr: number; len: number };
  /** BPF_PROBE_MEM loads by slot (see ExecOptions): a faulting read gives 0. */
  probeLoads?: Uint8Array;
}

export interface RunResult {
  r0: bigint;
  /** Instructions executed (an `lddw` counts once). */
  insns: number;
}

interface Frame {
  returnPc: number;
  saved: bigint[];
  mayGoto: number;
}

export class Interpreter {
  private readonly helpers: HelperTable;
  private readonly kfuncs: HelperTable;
  private readonly call: HelperCall;
  readonly maxInsns: number;

  constructor(
    readonly insns: readonly Insn[],
    readonly mem: AddressSpace,
    private readonly options: InterpOptions = {},
  ) {
    this.helpers = options.helpers ?? new Map();
    this.kfuncs = options.kfuncs ?? new Map();
    this.call = new HelperCall(mem);
    this.maxInsns = options.maxInsns ?? 1e9;
  }

  private lastCount = 0;

  runCtx(ctx: number): number {
    const r0 = this.run([BigInt(ctx)]).r0;
    this.mem.view.setBigUint64(this.mem.callArea, r0, true);
    return Number(BigInt.asIntN(32, r0));
  }

  lastInsnCount(): number {
    return this.lastCount;
  }

  runFunction(slot: number, args: readonly bigint[] = []): RunResult {
    return this.run(args, slot);
  }

  /**
   * Run from slot `entry` with r1..r5 = `args` (missing ones are 0), in call frame `baseDepth`
   * (above 0 when a helper calls back into the program).
   */
  run(args: readonly bigint[] = [], entry = 0, baseDepth = 0): RunResult {
    const insns = this.insns;
    const mem = this.mem;
    const probe = this.options.probeLoads;
    const r: bigint[] = new Array(11).fill(0n);
    for (let i = 0; i < args.length && i < 5; i++) r[i + 1] = u64(args[i]);
    let depth = baseDepth;
    r[10] = BigInt(mem.framePointer(depth));
    const frames: Frame[] = [];
    let mayGoto = MAY_GOTO_BUDGET;
    let pc = entry;
    let count = 0;

    const fail: (at: number, reason: string) => never = (at, reason) => {
      throw new BpfRuntimeError(at, at < insns.length ? formatInsn(insns, at) : '<end>', reason);
    };
    const address = (base: bigint, off: number, size: number, write: boolean): number => {
      const addr = u64(base + BigInt(off));
      const problem = mem.checkAccess(addr, size, write);
      if (problem !== null) fail(pc, problem);
      return Number(addr);
    };
    const load = (addr: number, size: number): bigint => {
      const v = mem.view;
      switch (size) {
        case 1:
          return BigInt(v.getUint8(addr));
        case 2:
          return BigInt(v.getUint16(addr, true));
        case 4:
          return BigInt(v.getUint32(addr, true));
        default:
          return v.getBigUint64(addr, true);
      }
    };
    const store = (addr: number, size: number, value: bigint): void => {
      const v = mem.view;
      switch (size) {
        case 1:
          return v.setUint8(addr, Number(value & 0xffn));
        case 2:
          return v.setUint16(addr, Number(value & 0xffffn), true);
        case 4:
          return v.setUint32(addr, Number(value & M32), true);
        default:
          return v.setBigUint64(addr, value & M64, true);
      }
    };
    const callHelper = (def: HelperDef | undefined, what: string): void => {
      if (!def) fail(pc, `unknown ${what}`);
      for (let i = 1; i <= 5; i++) mem.view.setBigUint64(mem.callArea + i * 8, r[i], true);
      const call = this.call;
      call.pc = pc;
      call.fp = Number(r[10]);
      const callerDepth = depth;
      call.invoke = (slot, callbackArgs) => {
        if (callerDepth + 1 >= MAX_CALL_FRAMES) fail(pc, faultText.callDepth());
        const saved = [call.pc, call.fp];
        const nested = this.run(callbackArgs, slot, callerDepth + 1);
        [call.pc, call.fp] = saved;
        count += nested.insns;
        return nested.r0;
      };
      try {
        call.setResult(def.fn(call));
      } catch (e) {
        if (e instanceof ScxError && !(e instanceof BpfRuntimeError) && !(e instanceof ProgramExit)) fail(pc, `${def.name}: ${e.message}`);
        throw e;
      }
      r[0] = mem.view.getBigUint64(mem.callArea, true);
    };
    const enter = (target: number): void => {
      if (depth + 1 >= MAX_CALL_FRAMES) fail(pc, faultText.callDepth());
      frames.push({ returnPc: pc + 1, saved: [r[6], r[7], r[8], r[9], r[10]], mayGoto });
      depth++;
      r[10] = BigInt(mem.framePointer(depth));
      mayGoto = MAY_GOTO_BUDGET;
      pc = target;
    };

    for (;;) {
      if (pc < 0 || pc >= insns.length) fail(pc, faultText.leftProgram());
      if (++count > this.maxInsns) fail(pc, faultText.insnLimit(this.maxInsns));
      const insn = insns[pc];
      const op = insn.opcode;
      const cls = op & 0x07;
      const dst = insn.dst;

      if (cls === CLS_ALU64 || cls === CLS_ALU) {
        const aop = op & 0xf0;
        const is64 = cls === CLS_ALU64;
        const x = (op & SRC_X) !== 0;
        if (aop === ALU_END) {
          r[dst] = byteSwap(r[dst], insn.imm, is64 || x);
          pc++;
          continue;
        }
        if (aop === ALU_MOV && x && insn.off === 1) {
          fail(pc, faultText.addrSpaceCast());
        }
        let b = x ? r[insn.src] : immU64(insn.imm);
        if (is64) {
          const a = r[dst];
          r[dst] = alu64(aop, a, b, insn.off);
        } else {
          const a = r[dst] & M32;
          b &= M32;
          r[dst] = alu32(aop, a, b, insn.off);
        }
        pc++;
        continue;
      }

      if (cls === CLS_JMP || cls === CLS_JMP32) {
        if (op === OP_EXIT) {
          if (depth === baseDepth) {
            if (baseDepth === 0) this.lastCount = count;
            return { r0: r[0], insns: count };
          }
          const frame = frames.pop()!;
          [r[6], r[7], r[8], r[9], r[10]] = frame.saved;
          mayGoto = frame.mayGoto;
          depth--;
          pc = frame.returnPc;
          continue;
        }
        if (op === OP_CALL) {
          if (insn.src === CALL_LOCAL) {
            enter(pc + 1 + insn.imm);
            continue;
          }
          if (insn.src === CALL_KFUNC) callHelper(this.kfuncs.get(insn.imm), `kfunc with BTF id ${insn.imm}`);
          else callHelper(this.helpers.get(insn.imm), `helper id ${insn.imm}`);
          pc++;
          continue;
        }
        if (op === OP_CALLX) {
          const target = r[dst];
          const slot = slotOfCodeAddress(target);
          if (slot >= 0) {
            enter(slot);
            continue;
          }
          const def = target < 0x8000_0000n ? this.helpers.get(Number(target)) : undefined;
          callHelper(def, `callx target 0x${target.toString(16)} (neither a helper id nor a function address)`);
          pc++;
          continue;
        }
        if (op === OP_JA32) {
          pc += 1 + insn.imm;
          continue;
        }
        if (op === OP_MAY_GOTO) {
          if (mayGoto === 0) pc += 1 + insn.off;
          else {
            mayGoto--;
            pc++;
          }
          continue;
        }
        const jop = op & 0xf0;
        if (jop === JMP_JA) {
          pc += 1 + insn.off;
          continue;
        }
        let a = r[dst];
        let b = op & SRC_X ? r[insn.src] : immU64(insn.imm);
        if (cls === CLS_JMP32) {
          a &= M32;
          b &= M32;
        }
        const taken = jumpTaken(jop, a, b, cls === CLS_JMP32 ? 32 : 64);
        pc += taken ? 1 + insn.off : 1;
        continue;
      }

      if (cls === CLS_LDX) {
        const size = accessSize(op);
        if (probe && probe[pc] && mem.checkAccess(u64(r[insn.src] + BigInt(insn.off)), size, false) !== null) {
          r[dst] = 0n;
          pc++;
          continue;
        }
        const addr = address(r[insn.src], insn.off, size, false);
        const v = load(addr, size);
        r[dst] = (op & 0xe0) === MODE_MEMSX ? u64(BigInt.asIntN(size * 8, v)) : v;
        pc++;
        continue;
      }
      if (cls === CLS_ST) {
        const size = accessSize(op);
        store(address(r[dst], insn.off, size, true), size, immU64(insn.imm));
        pc++;
        continue;
      }
      if (cls === CLS_STX) {
        const size = accessSize(op);
        const addr = address(r[dst], insn.off, size, true);
        if ((op & 0xe0) === MODE_ATOMIC) {
          if (addr % size !== 0) fail(pc, faultText.misalignedAtomic(addr));
          this.atomic(insn, addr, size, r, load, store);
        } else {
          store(addr, size, r[insn.src]);
        }
        pc++;
        continue;
      }
      if (cls === CLS_LD) {
        if (op === OP_LDDW) {
          r[dst] = insn.src === PSEUDO_FUNC ? codeAddress(pc + 1 + insn.imm) : lddwImm(insns, pc);
          pc += 2;
          continue;
        }
        // Legacy packet access: r0 = big-endian load from the packet; out of bounds ends the
        // program with r0 = 0, as the kernel does.
        const pkt = this.options.packet;
        if (!pkt) fail(pc, faultText.noPacket());
        const size = accessSize(op);
        // The kernel adds register and immediate as 32-bit ints, wrapping.
        let offset = BigInt(insn.imm);
        if ((op & 0xe0) !== MODE_ABS) offset = s32(offset + (r[insn.src] & M32));
        if (offset < 0n || offset + BigInt(size) > BigInt(pkt.len)) return { r0: 0n, insns: count };
        const at = pkt.addr + Number(offset);
        let v = 0n;
        for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(mem.bytes[at + i]);
        r[0] = v;
        pc++;
        continue;
      }
      fail(pc, `unknown opcode 0x${op.toString(16)}`);
    }
  }

  private atomic(
    insn: Insn,
    addr: number,
    size: number,
    r: bigint[],
    load: (addr: number, size: number) => bigint,
    store: (addr: number, size: number, value: bigint) => void,
  ): void {
    const mask = size === 8 ? M64 : M32;
    const old = load(addr, size);
    const src = r[insn.src] & mask;
    const imm = insn.imm;
    if (imm === ATOMIC_CMPXCHG) {
      if (old === (r[0] & mask)) store(addr, size, src);
      r[0] = old;
      return;
    }
    if (imm === ATOMIC_XCHG) {
      store(addr, size, src);
      r[insn.src] = old;
      return;
    }
    let next: bigint;
    switch (imm & ~ATOMIC_FETCH) {
      case ATOMIC_ADD:
        next = (old + src) & mask;
        break;
      case ATOMIC_OR:
        next = old | src;
        break;
      case ATOMIC_AND:
        next = old & src;
        break;
      case ATOMIC_XOR:
        next = old ^ src;
        break;
      default:
        throw new Error(`unreachable: atomic op 0x${imm.toString(16)} passed validation`);
    }
    store(addr, size, next);
    if (imm & ATOMIC_FETCH) r[insn.src] = old;
  }
}

function alu64(op: number, a: bigint, b: bigint, off: number): bigint {
  switch (op) {
    case ALU_ADD:
      return u64(a + b);
    case ALU_SUB:
      return u64(a - b);
    case ALU_MUL:
      return u64(a * b);
    case ALU_DIV:
      if (b === 0n) return 0n;
      return off === 1 ? u64(s64(a) / s64(b)) : a / b;
    case ALU_MOD:
      if (b === 0n) return a;
      return off === 1 ? u64(s64(a) % s64(b)) : a % b;
    case ALU_OR:
      return a | b;
    case ALU_AND:
      return a & b;
    case ALU_XOR:
      return a ^ b;
    case ALU_LSH:
      return u64(a << (b & 63n));
    case ALU_RSH:
      return a >> (b & 63n);
    case ALU_ARSH:
      return u64(s64(a) >> (b & 63n));
    case ALU_NEG:
      return u64(-a);
    case ALU_MOV:
      // off 8/16/32 is movsx: sign-extend the low `off` bits of the source.
      return off === 0 ? b : u64(BigInt.asIntN(off, b));
  }
  throw new Error(`unreachable: alu64 op 0x${op.toString(16)}`);
}

/** 32-bit ops: operands are already truncated to 32 bits; results are zero-extended. */
function alu32(op: number, a: bigint, b: bigint, off: number): bigint {
  const z = (v: bigint): bigint => v & M32;
  switch (op) {
    case ALU_ADD:
      return z(a + b);
    case ALU_SUB:
      return z(a - b);
    case ALU_MUL:
      return z(a * b);
    case ALU_DIV:
      if (b === 0n) return 0n;
      return off === 1 ? z(s32(a) / s32(b)) : a / b;
    case ALU_MOD:
      if (b === 0n) return a;
      return off === 1 ? z(s32(a) % s32(b)) : a % b;
    case ALU_OR:
      return a | b;
    case ALU_AND:
      return a & b;
    case ALU_XOR:
      return a ^ b;
    case ALU_LSH:
      return z(a << (b & 31n));
    case ALU_RSH:
      return a >> (b & 31n);
    case ALU_ARSH:
      return z(s32(a) >> (b & 31n));
    case ALU_NEG:
      return z(-a);
    case ALU_MOV:
      return off === 0 ? b : z(BigInt.asIntN(off, b));
  }
  throw new Error(`unreachable: alu32 op 0x${op.toString(16)}`);
}

/** le/be/bswap: `swap` says whether bytes are reversed (be and bswap on a little-endian machine). */
function byteSwap(v: bigint, width: number, swap: boolean): bigint {
  const bits = BigInt(width);
  const value = v & ((1n << bits) - 1n);
  if (!swap) return value;
  let out = 0n;
  for (let i = 0n; i < bits; i += 8n) out = (out << 8n) | ((value >> i) & 0xffn);
  return out;
}

/** Whether conditional jump `op` is taken for a and b, unsigned and already cut to `width` bits. */
export function jumpTaken(op: number, a: bigint, b: bigint, width: 32 | 64): boolean {
  const sa = (): bigint => BigInt.asIntN(width, a);
  const sb = (): bigint => BigInt.asIntN(width, b);
  switch (op) {
    case JMP_JEQ:
      return a === b;
    case JMP_JNE:
      return a !== b;
    case JMP_JGT:
      return a > b;
    case JMP_JGE:
      return a >= b;
    case JMP_JLT:
      return a < b;
    case JMP_JLE:
      return a <= b;
    case JMP_JSET:
      return (a & b) !== 0n;
    case JMP_JSGT:
      return sa() > sb();
    case JMP_JSGE:
      return sa() >= sb();
    case JMP_JSLT:
      return sa() < sb();
    case JMP_JSLE:
      return sa() <= sb();
  }
  throw new Error(`unreachable: jump op 0x${op.toString(16)}`);
}
