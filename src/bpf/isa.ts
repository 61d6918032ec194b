/**
 * The eBPF instruction set: RFC 9669 plus the encodings clang-19 emits for -mcpu=v1..v4 and
 * the pseudo forms libbpf and the kernel give meaning to (map/BTF/func `lddw`, kfunc calls,
 * `may_goto`, `addr_space_cast`).
 *
 * A program is a sequence of 8-byte slots. `lddw` occupies two slots; the second is kept as its
 * own `Insn` (opcode 0, high immediate in `imm`), exactly as the kernel stores it, so that jump
 * offsets, instruction indices and raw bytes all mean the same thing everywhere.
 */

import { ScxError } from '../util/errors.ts';

export const INSN_SIZE = 8;

// Instruction classes (low 3 bits of the opcode).
export const CLS_LD = 0x00;
export const CLS_LDX = 0x01;
export const CLS_ST = 0x02;
export const CLS_STX = 0x03;
export const CLS_ALU = 0x04;
export const CLS_JMP = 0x05;
export const CLS_JMP32 = 0x06;
export const CLS_ALU64 = 0x07;

// Operand source for arithmetic and jumps (bit 3).
export const SRC_K = 0x00;
export const SRC_X = 0x08;

// Arithmetic operations (high 4 bits).
export const ALU_ADD = 0x00;
export const ALU_SUB = 0x10;
export const ALU_MUL = 0x20;
export const ALU_DIV = 0x30;
export const ALU_OR = 0x40;
export const ALU_AND = 0x50;
export const ALU_LSH = 0x60;
export const ALU_RSH = 0x70;
export const ALU_NEG = 0x80;
export const ALU_MOD = 0x90;
export const ALU_XOR = 0xa0;
export const ALU_MOV = 0xb0;
export const ALU_ARSH = 0xc0;
export const ALU_END = 0xd0;

// Jump operations (high 4 bits).
export const JMP_JA = 0x00;
export const JMP_JEQ = 0x10;
export const JMP_JGT = 0x20;
export const JMP_JGE = 0x30;
export const JMP_JSET = 0x40;
export const JMP_JNE = 0x50;
export const JMP_JSGT = 0x60;
export const JMP_JSGE = 0x70;
export const JMP_CALL = 0x80;
export const JMP_EXIT = 0x90;
export const JMP_JLT = 0xa0;
export const JMP_JLE = 0xb0;
export const JMP_JSLT = 0xc0;
export const JMP_JSLE = 0xd0;
/** `may_goto` (BPF_JCOND): a jump the runtime takes once a loop budget is exhausted. */
export const JMP_JCOND = 0xe0;

// Access sizes (bits 3-4 of load/store opcodes).
export const SZ_W = 0x00;
export const SZ_H = 0x08;
export const SZ_B = 0x10;
export const SZ_DW = 0x18;

// Load/store modes (high 3 bits).
export const MODE_IMM = 0x00;
export const MODE_ABS = 0x20;
export const MODE_IND = 0x40;
export const MODE_MEM = 0x60;
export const MODE_MEMSX = 0x80;
export const MODE_ATOMIC = 0xc0;

// Atomic operations (imm field of STX|ATOMIC).
export const ATOMIC_ADD = 0x00;
export const ATOMIC_OR = 0x40;
export const ATOMIC_AND = 0x50;
export const ATOMIC_XOR = 0xa0;
export const ATOMIC_FETCH = 0x01;
export const ATOMIC_XCHG = 0xe0 | ATOMIC_FETCH;
export const ATOMIC_CMPXCHG = 0xf0 | ATOMIC_FETCH;

// Source-field meanings of `lddw` (BPF_PSEUDO_* in the kernel UAPI).
export const PSEUDO_NONE = 0;
export const PSEUDO_MAP_FD = 1;
export const PSEUDO_MAP_VALUE = 2;
export const PSEUDO_BTF_ID = 3;
export const PSEUDO_FUNC = 4;
export const PSEUDO_MAP_IDX = 5;
export const PSEUDO_MAP_IDX_VALUE = 6;

// Source-field meanings of `call`.
export const CALL_HELPER = 0;
export const CALL_LOCAL = 1;
export const CALL_KFUNC = 2;

export const OP_LDDW = CLS_LD | MODE_IMM | SZ_DW; // 0x18
export const OP_CALL = CLS_JMP | JMP_CALL | SRC_K; // 0x85
export const OP_CALLX = CLS_JMP | JMP_CALL | SRC_X; // 0x8d
export const OP_EXIT = CLS_JMP | JMP_EXIT; // 0x95
export const OP_JA = CLS_JMP | JMP_JA; // 0x05
export const OP_JA32 = CLS_JMP32 | JMP_JA; // 0x06, "gotol": target in imm
export const OP_MAY_GOTO = CLS_JMP | JMP_JCOND; // 0xe5

export const NUM_REGS = 11;
export const REG_FP = 10;
/** Stack bytes per frame: the kernel's MAX_BPF_STACK. */
export const STACK_SIZE = 512;
/** The kernel's MAX_CALL_FRAMES: the entry frame plus seven nested bpf-to-bpf calls. */
export const MAX_CALL_FRAMES = 8;
/** The kernel's BPF_MAX_LOOPS: the bound of bpf_loop, bpf_for and a frame's may_goto budget. */
export const BPF_MAX_LOOPS = 8 * 1024 * 1024;

export interface Insn {
  opcode: number;
  dst: number;
  src: number;
  /** Signed 16-bit. */
  off: number;
  /** Signed 32-bit. */
  imm: number;
}

export const cls = (opcode: number): number => opcode & 0x07;
export const isAlu = (opcode: number): boolean => {
  const c = opcode & 0x07;
  return c === CLS_ALU || c === CLS_ALU64;
};
export const isJmp = (opcode: number): boolean => {
  const c = opcode & 0x07;
  return c === CLS_JMP || c === CLS_JMP32;
};
export const isLoadStore = (opcode: number): boolean => (opcode & 0x07) < CLS_ALU;

/** Bytes accessed by a load/store opcode. */
export function accessSize(opcode: number): 1 | 2 | 4 | 8 {
  switch (opcode & 0x18) {
    case SZ_B:
      return 1;
    case SZ_H:
      return 2;
    case SZ_W:
      return 4;
    default:
      return 8;
  }
}

export class DecodeError extends ScxError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Decode raw little-endian instruction bytes into slots. */
export function decode(bytes: Uint8Array): Insn[] {
  if (bytes.length % INSN_SIZE !== 0) {
    throw new DecodeError(
      `program is ${bytes.length} bytes, expected a multiple of ${INSN_SIZE}`,
      bytes.length - (bytes.length % INSN_SIZE),
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Insn[] = new Array(bytes.length / INSN_SIZE);
  for (let i = 0; i < out.length; i++) {
    const at = i * INSN_SIZE;
    const regs = bytes[at + 1];
    out[i] = {
      opcode: bytes[at],
      dst: regs & 0x0f,
      src: regs >> 4,
      off: view.getInt16(at + 2, true),
      imm: view.getInt32(at + 4, true),
    };
  }
  return out;
}

/** Encode slots into raw little-endian bytes. Fields are truncated to their widths. */
export function encode(insns: readonly Insn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * INSN_SIZE);
  const view = new DataView(bytes.buffer);
  insns.forEach((insn, i) => {
    const at = i * INSN_SIZE;
    bytes[at] = insn.opcode & 0xff;
    bytes[at + 1] = ((insn.src & 0x0f) << 4) | (insn.dst & 0x0f);
    view.setInt16(at + 2, insn.off, true);
    view.setInt32(at + 4, insn.imm, true);
  });
  return bytes;
}

/** The 64-bit immediate of an `lddw` whose first slot is at `insns[pc]`. */
export function lddwImm(insns: readonly Insn[], pc: number): bigint {
  const lo = BigInt(insns[pc].imm >>> 0);
  const hi = BigInt(insns[pc + 1].imm >>> 0);
  return (hi << 32n) | lo;
}

/** Split a 64-bit value into the two `lddw` immediates (low, high) as signed 32-bit ints. */
export function splitImm64(value: bigint): [number, number] {
  const v = BigInt.asUintN(64, value);
  return [Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n))];
}

/** `lddw` sources whose second immediate means something: the value's high half, a map value
 * offset, or the BTF object (0 = vmlinux) of a BTF id. */
export function lddwUsesSecondImm(src: number): boolean {
  return src === PSEUDO_NONE || src === PSEUDO_MAP_VALUE || src === PSEUDO_MAP_IDX_VALUE || src === PSEUDO_BTF_ID;
}

/** Why the `lddw` at `pc` does not form a valid pair with the slot after it, or null. */
export function lddwPairProblem(insns: readonly Insn[], pc: number): string | null {
  if (pc + 1 >= insns.length) return 'lddw is missing its second slot';
  const next = insns[pc + 1];
  if (next.opcode !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
    return 'the second slot of lddw must have opcode, registers and offset 0';
  }
  if (!lddwUsesSecondImm(insns[pc].src) && next.imm !== 0) {
    return `the second immediate of this lddw form must be 0, found ${next.imm}`;
  }
  return null;
}

/** Slots an instruction occupies. */
export const slotCount = (insn: Insn): 1 | 2 => (insn.opcode === OP_LDDW ? 2 : 1);

/**
 * Target slot of a jump-like instruction at `pc`, or null if it does not branch. `call local`
 * and `lddw func` count as branches to their callee's first slot.
 */
export function branchTarget(insn: Insn, pc: number): number | null {
  const op = insn.opcode;
  if (op === OP_JA32) return pc + 1 + insn.imm;
  if (op === OP_CALL) return insn.src === CALL_LOCAL ? pc + 1 + insn.imm : null;
  if (op === OP_LDDW) return insn.src === PSEUDO_FUNC ? pc + 1 + insn.imm : null;
  if (!isJmp(op)) return null;
  const jop = op & 0xf0;
  if (jop === JMP_CALL || jop === JMP_EXIT) return null;
  return pc + 1 + insn.off;
}

export const ALU_OP_NAMES: Readonly<Record<number, string>> = {
  [ALU_ADD]: 'add',
  [ALU_SUB]: 'sub',
  [ALU_MUL]: 'mul',
  [ALU_DIV]: 'div',
  [ALU_OR]: 'or',
  [ALU_AND]: 'and',
  [ALU_LSH]: 'lsh',
  [ALU_RSH]: 'rsh',
  [ALU_NEG]: 'neg',
  [ALU_MOD]: 'mod',
  [ALU_XOR]: 'xor',
  [ALU_MOV]: 'mov',
  [ALU_ARSH]: 'arsh',
  [ALU_END]: 'end',
};

export const JMP_OP_NAMES: Readonly<Record<number, string>> = {
  [JMP_JA]: 'ja',
  [JMP_JEQ]: 'jeq',
  [JMP_JGT]: 'jgt',
  [JMP_JGE]: 'jge',
  [JMP_JSET]: 'jset',
  [JMP_JNE]: 'jne',
  [JMP_JSGT]: 'jsgt',
  [JMP_JSGE]: 'jsge',
  [JMP_CALL]: 'call',
  [JMP_EXIT]: 'exit',
  [JMP_JLT]: 'jlt',
  [JMP_JLE]: 'jle',
  [JMP_JSLT]: 'jslt',
  [JMP_JSLE]: 'jsle',
  [JMP_JCOND]: 'may_goto',
};

export const ATOMIC_OP_NAMES: Readonly<Record<number, string>> = {
  [ATOMIC_ADD]: 'add',
  [ATOMIC_OR]: 'or',
  [ATOMIC_AND]: 'and',
  [ATOMIC_XOR]: 'xor',
  [ATOMIC_XCHG]: 'xchg',
  [ATOMIC_CMPXCHG]: 'cmpxchg',
};

/** Valid `imm` values of STX|ATOMIC: the four arithmetic ops with or without FETCH, xchg, cmpxchg. */
export function isAtomicOp(imm: number): boolean {
  return (imm & ~ATOMIC_FETCH) in ATOMIC_OP_NAMES && (imm & ATOMIC_FETCH) !== 0 || imm in ATOMIC_OP_NAMES;
}

export const SIZE_SUFFIX: Readonly<Record<number, string>> = {
  [SZ_B]: 'b',
  [SZ_H]: 'h',
  [SZ_W]: 'w',
  [SZ_DW]: 'dw',
};

function mustBeZero(opcode: number, field: 'dst' | 'src' | 'off' | 'imm', v: number): string | null {
  return v === 0 ? null : `${field} must be 0 for opcode 0x${hex2(opcode)}, found ${v}`;
}

/**
 * Why an instruction is not a valid encoding, or null when it is. Checks what the ISA alone
 * decides: known opcode, registers 0..10, and every field the RFC says must be zero is zero.
 * Whether a register is readable or a jump lands well is the validator's business.
 */
export function checkInsn(insn: Insn): string | null {
  const { opcode, dst, src, off, imm } = insn;
  if (dst > REG_FP) return `invalid destination register r${dst}`;
  if (src > REG_FP && !(opcode === OP_LDDW)) return `invalid source register r${src}`;
  const c = opcode & 0x07;

  switch (c) {
    case CLS_ALU:
    case CLS_ALU64: {
      const op = opcode & 0xf0;
      const x = (opcode & SRC_X) !== 0;
      const is64 = c === CLS_ALU64;
      if (op === ALU_NEG) {
        if (x) return `unknown opcode 0x${hex2(opcode)} (neg has no register form)`;
        return mustBeZero(opcode, 'src', src) ?? mustBeZero(opcode, 'off', off) ?? mustBeZero(opcode, 'imm', imm);
      }
      if (op === ALU_END) {
        if (is64 && x) return `unknown opcode 0x${hex2(opcode)}`;
        if (imm !== 16 && imm !== 32 && imm !== 64) {
          return `byte swap width must be 16, 32 or 64, found ${imm}`;
        }
        return mustBeZero(opcode, 'src', src) ?? mustBeZero(opcode, 'off', off);
      }
      if (op > ALU_END) return `unknown opcode 0x${hex2(opcode)}`;
      if (op === ALU_DIV || op === ALU_MOD) {
        if (off !== 0 && off !== 1) return `off must be 0 (unsigned) or 1 (signed) for ${ALU_OP_NAMES[op]}, found ${off}`;
      } else if (op === ALU_MOV && x) {
        if (is64 && off === 1) {
          // addr_space_cast: imm names the two address spaces, only 0 <-> 1 exist.
          if (imm !== 1 && imm !== 1 << 16) return `addr_space_cast imm must be 0x1 or 0x10000, found 0x${(imm >>> 0).toString(16)}`;
          return null;
        }
        const widths = is64 ? [0, 8, 16, 32] : [0, 8, 16];
        if (!widths.includes(off)) return `movsx width must be one of ${widths.slice(1).join('/')}, found ${off}`;
      } else if (off !== 0) {
        return mustBeZero(opcode, 'off', off);
      }
      return x ? mustBeZero(opcode, 'imm', imm) : mustBeZero(opcode, 'src', src);
    }
    case CLS_JMP:
    case CLS_JMP32: {
      const op = opcode & 0xf0;
      const x = (opcode & SRC_X) !== 0;
      const is32 = c === CLS_JMP32;
      if (op === JMP_JA) {
        if (x) return `unknown opcode 0x${hex2(opcode)}`;
        return mustBeZero(opcode, 'dst', dst) ?? mustBeZero(opcode, 'src', src) ?? (is32 ? mustBeZero(opcode, 'off', off) : mustBeZero(opcode, 'imm', imm));
      }
      if (op === JMP_CALL) {
        if (is32) return `unknown opcode 0x${hex2(opcode)}`;
        if (x) return mustBeZero(opcode, 'src', src) ?? mustBeZero(opcode, 'off', off) ?? mustBeZero(opcode, 'imm', imm);
        if (src !== CALL_HELPER && src !== CALL_LOCAL && src !== CALL_KFUNC) {
          return `call source must be 0 (helper), 1 (local) or 2 (kfunc), found ${src}`;
        }
        // A kfunc call names its BTF object in off; the others leave it zero.
        return mustBeZero(opcode, 'dst', dst) ?? (src === CALL_KFUNC ? null : mustBeZero(opcode, 'off', off));
      }
      if (op === JMP_EXIT) {
        if (is32 || x) return `unknown opcode 0x${hex2(opcode)}`;
        return mustBeZero(opcode, 'dst', dst) ?? mustBeZero(opcode, 'src', src) ?? mustBeZero(opcode, 'off', off) ?? mustBeZero(opcode, 'imm', imm);
      }
      if (op === JMP_JCOND) {
        if (is32 || x) return `unknown opcode 0x${hex2(opcode)}`;
        return mustBeZero(opcode, 'dst', dst) ?? mustBeZero(opcode, 'src', src) ?? mustBeZero(opcode, 'imm', imm);
      }
      if (op > JMP_JCOND) return `unknown opcode 0x${hex2(opcode)}`;
      return x ? mustBeZero(opcode, 'imm', imm) : mustBeZero(opcode, 'src', src);
    }
    case CLS_LD: {
      if (opcode === OP_LDDW) {
        if (src > PSEUDO_MAP_IDX_VALUE) return `lddw source must be 0..6, found ${src}`;
        return mustBeZero(opcode, 'off', off);
      }
      const mode = opcode & 0xe0;
      if ((mode === MODE_ABS || mode === MODE_IND) && (opcode & 0x18) !== SZ_DW) {
        return mode === MODE_ABS
          ? mustBeZero(opcode, 'dst', dst) ?? mustBeZero(opcode, 'src', src) ?? mustBeZero(opcode, 'off', off)
          : mustBeZero(opcode, 'dst', dst) ?? mustBeZero(opcode, 'off', off);
      }
      return `unknown opcode 0x${hex2(opcode)}`;
    }
    case CLS_LDX: {
      const mode = opcode & 0xe0;
      if (mode === MODE_MEM || (mode === MODE_MEMSX && (opcode & 0x18) !== SZ_DW)) return mustBeZero(opcode, 'imm', imm);
      return `unknown opcode 0x${hex2(opcode)}`;
    }
    case CLS_ST: {
      if ((opcode & 0xe0) === MODE_MEM) return mustBeZero(opcode, 'src', src);
      return `unknown opcode 0x${hex2(opcode)}`;
    }
    case CLS_STX: {
      const mode = opcode & 0xe0;
      if (mode === MODE_MEM) return mustBeZero(opcode, 'imm', imm);
      if (mode === MODE_ATOMIC) {
        const size = opcode & 0x18;
        if (size !== SZ_W && size !== SZ_DW) return `atomic operations are 32 or 64 bits, opcode 0x${hex2(opcode)}`;
        return isAtomicOp(imm) ? null : `unknown atomic operation 0x${(imm >>> 0).toString(16)}`;
      }
      return `unknown opcode 0x${hex2(opcode)}`;
    }
  }
  return `unknown opcode 0x${hex2(opcode)}`;
}

export const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
