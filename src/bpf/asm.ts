/**
 * Text assembler and disassembler for the syntax of the bpf_conformance data files
 * (`mov %r0, 1`, `ldxw %r0, [%r1+4]`, `lock fetch add [%r10-8], %r1`, `call local f`, labels),
 * extended with the forms compiled schedulers need: pseudo `lddw` sources, kfunc calls,
 * `callx`, `may_goto`, `addr_space_cast`, legacy packet loads and a raw `.insn` escape.
 *
 * The disassembler prints exactly what the assembler reads, so text and bytes round-trip.
 *
 * Two symbolic forms exist only inside an object source (a `.s` file with `.program`
 * directives, which asm-object.ts turns into a BPF ELF object): `lddw %rN, map NAME` (the
 * address of a map declared with `.map`) and `call kfunc NAME` (a kfunc by name). They assemble
 * as clang leaves them, `lddw %rN, 0` and `call -1`, plus a reference that becomes an ELF
 * relocation. Plain text (no directives) assembles to bare instructions, as always.
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
  ATOMIC_FETCH,
  ATOMIC_OP_NAMES,
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
  MODE_ABS,
  MODE_ATOMIC,
  MODE_IND,
  MODE_MEM,
  MODE_MEMSX,
  OP_CALL,
  OP_CALLX,
  OP_EXIT,
  OP_JA,
  OP_JA32,
  OP_LDDW,
  OP_MAY_GOTO,
  PSEUDO_BTF_ID,
  PSEUDO_FUNC,
  PSEUDO_MAP_FD,
  PSEUDO_MAP_IDX,
  PSEUDO_MAP_IDX_VALUE,
  PSEUDO_MAP_VALUE,
  PSEUDO_NONE,
  SRC_K,
  SRC_X,
  SZ_B,
  SZ_DW,
  SZ_H,
  SZ_W,
  branchTarget,
  checkInsn,
  lddwPairProblem,
  encode,
  hex2,
  lddwImm,
  splitImm64,
  type Insn,
} from './isa.ts';
import { ScxError } from '../util/errors.ts';

/** An assembler error at a source position: `FILE:LINE:COL: expected ..., found ...`. */
export class AsmError extends ScxError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${file}:${line}:${col}: expected ${expected}, found ${found}`);
  }
}

export interface AsmOptions {
  /** Name used in error messages. */
  file?: string;
  /** Line number of the first line of `source` in that file (1-based). */
  firstLine?: number;
}

const ALU_MNEMONICS: Record<string, { op: number; signed?: boolean }> = {
  add: { op: ALU_ADD },
  sub: { op: ALU_SUB },
  mul: { op: ALU_MUL },
  div: { op: ALU_DIV },
  sdiv: { op: ALU_DIV, signed: true },
  mod: { op: ALU_MOD },
  smod: { op: ALU_MOD, signed: true },
  or: { op: ALU_OR },
  and: { op: ALU_AND },
  xor: { op: ALU_XOR },
  lsh: { op: ALU_LSH },
  rsh: { op: ALU_RSH },
  arsh: { op: ALU_ARSH },
  mov: { op: ALU_MOV },
};

const JCC_MNEMONICS: Record<string, number> = {
  jeq: JMP_JEQ,
  jgt: JMP_JGT,
  jge: JMP_JGE,
  jset: JMP_JSET,
  jne: JMP_JNE,
  jsgt: JMP_JSGT,
  jsge: JMP_JSGE,
  jlt: JMP_JLT,
  jle: JMP_JLE,
  jslt: JMP_JSLT,
  jsle: JMP_JSLE,
};

const SIZES: Record<string, number> = { b: SZ_B, h: SZ_H, w: SZ_W, dw: SZ_DW };

const LDDW_KINDS: Record<string, number> = {
  map_fd: PSEUDO_MAP_FD,
  map_value: PSEUDO_MAP_VALUE,
  btf_id: PSEUDO_BTF_ID,
  func: PSEUDO_FUNC,
  map_idx: PSEUDO_MAP_IDX,
  map_idx_value: PSEUDO_MAP_IDX_VALUE,
};
const LDDW_KIND_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(LDDW_KINDS).map(([k, v]) => [v, k]),
);

interface Operand {
  text: string;
  col: number;
}

/** A map or kfunc named in an object source, to become an ELF relocation on `slot`. */
export interface SymbolRef {
  slot: number;
  kind: 'map' | 'kfunc';
  name: string;
  line: number;
  col: number;
}

/** A jump or call whose target is a label, fixed up once every label is known. */
interface Fixup {
  slot: number;
  label: Operand;
  line: number;
  field: 'off' | 'imm';
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

const mk = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ opcode, dst, src, off, imm });

/**
 * Assembler state across lines; a class so no closures are made per line. asm-object.ts runs one
 * per program, with `symbolic` set so that maps and kfuncs may be named.
 */
export class Assembler {
  line = 0;
  readonly slots: Insn[] = [];
  readonly labels = new Map<string, number>();
  readonly fixups: Fixup[] = [];
  /** Maps and kfuncs named by `lddw ..., map NAME` and `call kfunc NAME` (symbolic mode only). */
  readonly refs: SymbolRef[] = [];
  /** Column of the last line's mnemonic (1-based), for line info. */
  mnemonicCol = 0;
  firstExitSeen = false;

  constructor(
    readonly file: string,
    readonly symbolic = false,
  ) {}

  fail(col: number, expected: string, found: string): never {
    throw new AsmError(this.file, this.line, col, expected, found);
  }

  reg(op: Operand | undefined, what = 'a register %r0..%r10', prevCol = 1): number {
    if (!op) this.fail(prevCol, what, 'end of line');
    const m = /^%r(\d+)$/.exec(op.text);
    if (!m) this.fail(op.col, what, quote(op.text));
    const n = Number(m[1]);
    // %r11..%r15 encode (the field is 4 bits) so that bad-register encodings can be written;
    // the ISA check rejects them before anything runs.
    if (n > 15) this.fail(op.col, what, quote(op.text));
    return n;
  }

  /** A number in [min, max]; hex is read as a bit pattern of `bits` bits when it fits. */
  num(op: Operand | undefined, bits: 16 | 32 | 64, what: string, prevCol = 1): bigint {
    if (!op) this.fail(prevCol, what, 'end of line');
    const v = parseInteger(op.text);
    if (v === null) this.fail(op.col, what, quote(op.text));
    const limit = 1n << BigInt(bits);
    const isHex = /^[+-]?0x/i.test(op.text);
    const min = -(limit >> 1n);
    // Hex literals name a bit pattern; decimal ones a signed value (lddw also takes unsigned).
    const max = isHex || bits === 64 ? limit - 1n : (limit >> 1n) - 1n;
    if (v < min || v > max) {
      this.fail(op.col, `${what} within ${bits}-bit range`, quote(op.text));
    }
    return BigInt.asIntN(bits, v);
  }

  imm32(op: Operand | undefined, prevCol = 1): number {
    return Number(this.num(op, 32, 'an immediate', prevCol));
  }

  /** `[%rN]`, `[%rN+off]` or `[%rN-off]`. */
  mem(op: Operand | undefined, prevCol = 1): { reg: number; off: number } {
    const what = 'a memory operand [%rN+offset]';
    if (!op) this.fail(prevCol, what, 'end of line');
    const m = /^\[\s*(%r\d+)\s*(?:([+-])\s*([0-9a-fA-Fx]+))?\s*\]$/.exec(op.text);
    if (!m) this.fail(op.col, what, quote(op.text));
    const reg = this.reg({ text: m[1], col: op.col + 1 });
    let off = 0;
    if (m[2]) {
      const v = parseInteger(m[3]);
      const signed = v === null ? null : m[2] === '-' ? -v : v;
      if (signed === null || signed < -32768n || signed > 32767n) {
        this.fail(op.col, 'an offset within 16-bit signed range', quote(op.text));
      }
      off = Number(signed);
    }
    return { reg, off };
  }

  count(ops: Operand[], n: number, mnemonic: string, col: number): void {
    if (ops.length !== n) {
      const at = ops[n]?.col ?? col;
      this.fail(at, `${n} operand${n === 1 ? '' : 's'} for ${mnemonic}`, `${ops.length}`);
    }
  }

  /** Assemble one source line (labels and at most one instruction). */
  assembleLine(raw: string): void {
    let text = raw.replace(/\r$/, '');
    const hash = text.indexOf('#');
    if (hash >= 0) text = text.slice(0, hash);

    // Labels: `name:` at the start of a line, optionally followed by an instruction.
    for (;;) {
      const m = /^(\s*)([A-Za-z_.][\w.]*)\s*:/.exec(text);
      if (!m) break;
      const name = m[2];
      if (this.labels.has(name)) this.fail(m[1].length + 1, 'a label not defined before', quote(name));
      this.labels.set(name, this.slots.length);
      text = ' '.repeat(m[0].length) + text.slice(m[0].length);
    }
    if (text.trim() === '') return;

    const lead = text.length - text.trimStart().length;
    const body = text.trimStart();
    const sp = body.search(/\s/);
    const mnemonic = sp < 0 ? body : body.slice(0, sp);
    const rest = sp < 0 ? '' : body.slice(sp);
    const mcol = lead + 1;
    /** Column of the first character after the mnemonic. */
    const restCol = lead + 1 + mnemonic.length;
    this.mnemonicCol = mcol;

    const ops = splitOperands(rest, restCol);
    const m = mnemonic.toLowerCase();

    // Arithmetic: add, add32, add64, ...
    const alu = /^([a-z]+?)(32|64)?$/.exec(m);
    if (alu && Object.hasOwn(ALU_MNEMONICS, alu[1])) {
      const { op, signed } = ALU_MNEMONICS[alu[1]];
      const klass = alu[2] === '32' ? CLS_ALU : CLS_ALU64;
      this.count(ops, 2, m, restCol);
      const dst = this.reg(ops[0]);
      const isReg = ops[1].text.startsWith('%');
      const off = signed ? 1 : 0;
      if (isReg) this.slots.push(mk(klass | op | SRC_X, dst, this.reg(ops[1]), off, 0));
      else this.slots.push(mk(klass | op | SRC_K, dst, 0, off, this.imm32(ops[1])));
      return;
    }
    if (m === 'neg' || m === 'neg32' || m === 'neg64') {
      this.count(ops, 1, m, restCol);
      this.slots.push(mk((m === 'neg32' ? CLS_ALU : CLS_ALU64) | ALU_NEG, this.reg(ops[0])));
      return;
    }
    const movsx = /^movsx(8|16|32)(32|64)$/.exec(m);
    if (movsx) {
      this.count(ops, 2, m, restCol);
      const klass = movsx[2] === '32' ? CLS_ALU : CLS_ALU64;
      this.slots.push(mk(klass | ALU_MOV | SRC_X, this.reg(ops[0]), this.reg(ops[1]), Number(movsx[1])));
      return;
    }
    const end = /^(be|le|bswap|swap)(16|32|64)$/.exec(m);
    if (end) {
      this.count(ops, 1, m, restCol);
      const opcode =
        end[1] === 'le' ? CLS_ALU | ALU_END | SRC_K : end[1] === 'be' ? CLS_ALU | ALU_END | SRC_X : CLS_ALU64 | ALU_END | SRC_K;
      this.slots.push(mk(opcode, this.reg(ops[0]), 0, 0, Number(end[2])));
      return;
    }
    if (m === 'addr_space_cast') {
      this.count(ops, 4, m, restCol);
      const dst = this.reg(ops[0]);
      const src = this.reg(ops[1]);
      const dstAs = this.num(ops[2], 16, 'an address space number');
      const srcAs = this.num(ops[3], 16, 'an address space number');
      this.slots.push(mk(CLS_ALU64 | ALU_MOV | SRC_X, dst, src, 1, Number((dstAs << 16n) | BigInt.asUintN(16, srcAs))));
      return;
    }

    // Loads and stores.
    const ldx = /^ldx(s?)(b|h|w|dw)$/.exec(m);
    if (ldx) {
      this.count(ops, 2, m, restCol);
      if (ldx[1] && ldx[2] === 'dw') this.fail(mcol, 'an instruction mnemonic', quote(mnemonic));
      const dst = this.reg(ops[0]);
      const { reg, off } = this.mem(ops[1]);
      this.slots.push(mk(CLS_LDX | (ldx[1] ? MODE_MEMSX : MODE_MEM) | SIZES[ldx[2]], dst, reg, off));
      return;
    }
    const st = /^st(x?)(b|h|w|dw)$/.exec(m);
    if (st) {
      this.count(ops, 2, m, restCol);
      const { reg, off } = this.mem(ops[0]);
      if (st[1]) this.slots.push(mk(CLS_STX | MODE_MEM | SIZES[st[2]], reg, this.reg(ops[1]), off));
      else this.slots.push(mk(CLS_ST | MODE_MEM | SIZES[st[2]], reg, 0, off, this.imm32(ops[1])));
      return;
    }
    const ldpkt = /^ld(abs|ind)(b|h|w)$/.exec(m);
    if (ldpkt) {
      if (ldpkt[1] === 'abs') {
        this.count(ops, 1, m, restCol);
        this.slots.push(mk(CLS_LD | MODE_ABS | SIZES[ldpkt[2]], 0, 0, 0, this.imm32(ops[0])));
      } else {
        this.count(ops, 2, m, restCol);
        this.slots.push(mk(CLS_LD | MODE_IND | SIZES[ldpkt[2]], 0, this.reg(ops[0]), 0, this.imm32(ops[1])));
      }
      return;
    }
    if (m === 'lddw') {
      this.count(ops, 2, m, restCol);
      const dst = this.reg(ops[0]);
      const kindMatch = /^([a-z_]+)\s+(.*)$/.exec(ops[1].text);
      let src = PSEUDO_NONE;
      let lo: number;
      let hi: number;
      if (this.symbolic && kindMatch?.[1] === 'map') {
        // `lddw %rD, map NAME`: zero until the loader relocates it (R_BPF_64_64), as clang leaves it.
        const argCol = ops[1].col + 4;
        this.symbol(kindMatch[2].trim(), argCol, 'map', 'a map name after map');
        [lo, hi] = [0, 0];
      } else if (kindMatch && Object.hasOwn(LDDW_KINDS, kindMatch[1])) {
        // `lddw %rD, KIND A[ B]`: A is the first immediate (a label for func), B the second.
        src = LDDW_KINDS[kindMatch[1]];
        const argCol = ops[1].col + kindMatch[1].length + 1;
        const args = kindMatch[2].trim().split(/\s+/);
        if (src === PSEUDO_FUNC) {
          if (args.length !== 1) this.fail(argCol, 'one target after func', quote(kindMatch[2]));
          lo = this.target({ text: args[0], col: argCol }, 'imm', argCol);
          hi = 0;
        } else {
          // Map values take an offset; a BTF id may name its BTF object (0, the default, is vmlinux).
          const wantTwo = src === PSEUDO_MAP_VALUE || src === PSEUDO_MAP_IDX_VALUE;
          const maxArgs = wantTwo || src === PSEUDO_BTF_ID ? 2 : 1;
          if (args.length < (wantTwo ? 2 : 1) || args.length > maxArgs) {
            const expected = wantTwo
              ? `two numbers after ${kindMatch[1]} (index and offset)`
              : maxArgs === 2
                ? `one or two numbers after ${kindMatch[1]} (id and BTF object)`
                : `one number after ${kindMatch[1]}`;
            this.fail(argCol, expected, quote(kindMatch[2]));
          }
          lo = this.imm32({ text: args[0], col: argCol });
          hi = args.length === 2 ? this.imm32({ text: args[1], col: argCol + args[0].length + 1 }) : 0;
        }
      } else {
        [lo, hi] = splitImm64(this.num(ops[1], 64, 'a 64-bit immediate'));
      }
      this.slots.push(mk(OP_LDDW, dst, src, 0, lo));
      this.slots.push(mk(0, 0, 0, 0, hi));
      return;
    }
    if (m === 'lock') {
      // lock [fetch] OP[32|64] [%rD+off], %rS
      const words = /^(\s*)(fetch\s+)?([a-z]+?)(32|64)?(\s|$)/.exec(rest);
      if (!words || !Object.values(ATOMIC_OP_NAMES).includes(words[3])) {
        const found = rest.trim() === '' ? 'end of line' : quote(rest.trim().split(/\s+/)[0]);
        const wordCol = restCol + (rest.length - rest.trimStart().length);
        this.fail(wordCol, 'an atomic operation (add, and, or, xor, xchg, cmpxchg)', found);
      }
      const opName = words[3];
      const fetch = Boolean(words[2]) || opName === 'xchg' || opName === 'cmpxchg';
      let imm = Number(Object.entries(ATOMIC_OP_NAMES).find(([, n]) => n === opName)![0]);
      if (fetch) imm |= ATOMIC_FETCH;
      const operandText = rest.slice(words[0].length);
      const operandCol = restCol + words[0].length;
      const lockOps = splitOperands(operandText, operandCol);
      if (lockOps.length !== 2) {
        this.fail(lockOps[lockOps.length - 1]?.col ?? operandCol, `2 operands for lock ${opName}`, `${lockOps.length}`);
      }
      const { reg, off } = this.mem(lockOps[0]);
      const size = words[4] === '32' ? SZ_W : SZ_DW;
      this.slots.push(mk(CLS_STX | MODE_ATOMIC | size, reg, this.reg(lockOps[1]), off, imm));
      return;
    }

    // Jumps, calls, exit.
    if (m === 'ja' || m === 'ja64') {
      this.count(ops, 1, m, restCol);
      const off = this.target(ops[0], 'off', restCol);
      this.slots.push(mk(OP_JA, 0, 0, off, 0));
      return;
    }
    if (m === 'ja32' || m === 'gotol') {
      this.count(ops, 1, m, restCol);
      const imm = this.target(ops[0], 'imm', restCol);
      this.slots.push(mk(OP_JA32, 0, 0, 0, imm));
      return;
    }
    if (m === 'may_goto') {
      this.count(ops, 1, m, restCol);
      this.slots.push(mk(OP_MAY_GOTO, 0, 0, this.target(ops[0], 'off', restCol), 0));
      return;
    }
    const jcc = /^([a-z]+?)(32|64)?$/.exec(m);
    if (jcc && Object.hasOwn(JCC_MNEMONICS, jcc[1])) {
      this.count(ops, 3, m, restCol);
      const klass = jcc[2] === '32' ? CLS_JMP32 : CLS_JMP;
      const dst = this.reg(ops[0]);
      const isReg = ops[1].text.startsWith('%');
      const src = isReg ? this.reg(ops[1]) : 0;
      const imm = isReg ? 0 : this.imm32(ops[1]);
      const off = this.target(ops[2], 'off', ops[1].col);
      this.slots.push(mk(klass | JCC_MNEMONICS[jcc[1]] | (isReg ? SRC_X : SRC_K), dst, src, off, imm));
      return;
    }
    if (m === 'call' || m === 'callx') {
      this.count(ops, 1, m, restCol);
      const words = ops[0].text.split(/\s+/);
      if (m === 'callx' || words[0].startsWith('%')) {
        this.slots.push(mk(OP_CALLX, this.reg({ text: words[0], col: ops[0].col })));
        return;
      }
      const kinds: Record<string, number> = { helper: CALL_HELPER, local: CALL_LOCAL, runtime: CALL_KFUNC, kfunc: CALL_KFUNC };
      let kind = CALL_HELPER;
      let argCol = ops[0].col;
      if (Object.hasOwn(kinds, words[0])) {
        kind = kinds[words[0]];
        argCol += words[0].length + 1;
        words.shift();
      }
      if (kind === CALL_LOCAL) {
        if (words.length !== 1) this.fail(argCol, 'one call target', quote(words.join(' ') || 'end of line'));
        this.slots.push(mk(OP_CALL, 0, CALL_LOCAL, 0, this.target({ text: words[0], col: argCol }, 'imm', argCol)));
        return;
      }
      if (this.symbolic && kind === CALL_KFUNC && words.length === 1 && /^[A-Za-z_]/.test(words[0])) {
        // `call kfunc NAME`: clang's `call -1` (a local call) with R_BPF_64_32 against the name.
        this.symbol(words[0], argCol, 'kfunc', 'a kfunc name');
        this.slots.push(mk(OP_CALL, 0, CALL_LOCAL, 0, -1));
        return;
      }
      // `call kfunc ID[ BTF_OBJ]`: a kfunc names its BTF object in off.
      const maxWords = kind === CALL_KFUNC ? 2 : 1;
      if (words.length < 1 || words.length > maxWords) {
        this.fail(argCol, kind === CALL_KFUNC ? 'a kfunc BTF id and optional object index' : 'a helper id', quote(words.join(' ') || 'end of line'));
      }
      const id = this.imm32({ text: words[0], col: argCol });
      const obj = words[1] === undefined ? 0 : Number(this.num({ text: words[1], col: argCol + words[0].length + 1 }, 16, 'a BTF object index'));
      this.slots.push(mk(OP_CALL, 0, kind, obj, id));
      return;
    }
    if (m === 'exit') {
      this.count(ops, 0, m, restCol);
      if (!this.firstExitSeen && !this.labels.has('exit')) this.labels.set('exit', this.slots.length);
      this.firstExitSeen = true;
      this.slots.push(mk(OP_EXIT));
      return;
    }
    if (m === '.insn') {
      this.slots.push(parseRawInsn(this, rest, restCol));
      return;
    }
    this.fail(mcol, 'an instruction mnemonic', quote(mnemonic));
  }

  /** A jump target: `+N`/`-N`, or a label fixed up once all labels are known (returns 0 then). */
  target(op: Operand | undefined, field: 'off' | 'imm', prevCol: number): number {
    if (!op) this.fail(prevCol, 'a jump target (label or +N/-N)', 'end of line');
    if (/^[+-]\d+$/.test(op.text) || /^[+-]0x[0-9a-f]+$/i.test(op.text)) {
      const v = Number(parseInteger(op.text));
      const [lo, hi] = field === 'off' ? [-32768, 32767] : [I32_MIN, I32_MAX];
      if (v < lo || v > hi) this.fail(op.col, `a jump offset within ${field === 'off' ? 16 : 32}-bit range`, quote(op.text));
      return v;
    }
    if (!/^[A-Za-z_.][\w.]*$/.test(op.text)) this.fail(op.col, 'a jump target (label or +N/-N)', quote(op.text));
    this.fixups.push({ slot: this.slots.length, label: op, line: this.line, field });
    return 0;
  }


  /** Record a reference to a named map or kfunc at the next slot. */
  symbol(name: string, col: number, kind: SymbolRef['kind'], what: string): void {
    if (!/^[A-Za-z_][\w]*$/.test(name)) this.fail(col, what, quote(name || 'end of line'));
    this.refs.push({ slot: this.slots.length, kind, name, line: this.line, col });
  }

  /** Resolve label references; returns the slots. */
  finish(): Insn[] {
    for (const f of this.fixups) {
      const at = this.labels.get(f.label.text);
      if (at === undefined) throw new AsmError(this.file, f.line, f.label.col, 'a defined label', quote(f.label.text));
      const rel = at - (f.slot + 1);
      if (f.field === 'off' && (rel < -32768 || rel > 32767)) {
        throw new AsmError(this.file, f.line, f.label.col, 'a jump target within 16-bit offset range', quote(f.label.text));
      }
      this.slots[f.slot][f.field] = rel;
    }
    return this.slots;
  }
}

function quote(s: string): string {
  return `'${s}'`;
}

/** Decimal or hex integer with optional sign; null if the text is not one. */
export function parseInteger(text: string): bigint | null {
  const m = /^([+-]?)(0x[0-9a-fA-F]+|\d+)$/.exec(text.trim());
  if (!m) return null;
  const v = BigInt(m[2]);
  return m[1] === '-' ? -v : v;
}

function splitOperands(text: string, startCol: number): Operand[] {
  const ops: Operand[] = [];
  if (text.trim() === '') return ops;
  let depth = 0;
  let begin = 0;
  const push = (end: number) => {
    const raw = text.slice(begin, end);
    const lead = raw.length - raw.trimStart().length;
    ops.push({ text: raw.trim(), col: startCol + begin + lead });
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    else if (ch === ',' && depth === 0) {
      push(i);
      begin = i + 1;
    }
  }
  push(text.length);
  return ops;
}

/**
 * Assemble source text into instruction slots.
 * @throws AsmError naming file, line and column.
 */
export function assemble(source: string, options: AsmOptions = {}): Insn[] {
  const asm = new Assembler(options.file ?? '<asm>');
  const lines = source.split('\n');
  const firstLine = options.firstLine ?? 1;
  for (let li = 0; li < lines.length; li++) {
    asm.line = firstLine + li;
    asm.assembleLine(lines[li]);
  }
  return asm.finish();
}

/** `.insn opcode=0x07 dst=0 src=0 off=1 imm=1`: any encoding, valid or not. */
function parseRawInsn(p: Assembler, rest: string, col: number): Insn {
  const fields: Record<string, number> = { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 };
  const seen = new Set<string>();
  const re = /(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest))) {
    const kv = /^(opcode|dst|src|off|imm)=(.+)$/.exec(m[1]);
    const at = col + m.index;
    if (!kv) p.fail(at, 'a field opcode=, dst=, src=, off= or imm=', quote(m[1]));
    const bits = kv[1] === 'imm' ? 32 : kv[1] === 'off' ? 16 : kv[1] === 'opcode' ? 8 : 4;
    const v = parseInteger(kv[2]);
    const limit = 1n << BigInt(bits);
    if (v === null || v < -(limit >> 1n) || v >= limit) p.fail(at, `a ${bits}-bit value for ${kv[1]}`, quote(kv[2]));
    fields[kv[1]] = bits >= 16 ? Number(BigInt.asIntN(bits, v)) : Number(BigInt.asUintN(bits, v));
    seen.add(kv[1]);
  }
  if (!seen.has('opcode')) p.fail(col, 'opcode=', rest.trim() === '' ? 'end of line' : quote(rest.trim()));
  return { opcode: fields.opcode, dst: fields.dst, src: fields.src, off: fields.off, imm: fields.imm };
}

export interface DisasmOptions {
  /** Print jump targets as labels `L<slot>` instead of relative offsets. */
  labels?: boolean;
  /** Append each instruction's slot index and raw bytes as a comment. */
  annotate?: boolean;
}

const reg = (n: number): string => `%r${n}`;
const signed = (n: number): string => (n < 0 ? `-${-n}` : `+${n}`);
const memOperand = (r: number, off: number): string => (off === 0 ? `[${reg(r)}]` : `[${reg(r)}${signed(off)}]`);
/** Small values read best in decimal, bit patterns in hex; both re-assemble to the same bits. */
const imm32Text = (v: number): string => (v >= -65536 && v <= 65536 ? `${v}` : `0x${(v >>> 0).toString(16)}`);

/**
 * Print one instruction (the one at slot `pc`) in assembler syntax. An `lddw` needs the slot after
 * it; invalid encodings print as `.insn`.
 */
export function formatInsn(
  insns: readonly Insn[],
  pc: number,
  labelOf?: (slot: number) => string | undefined,
): string {
  const insn = insns[pc];
  const raw = (): string =>
    `.insn opcode=0x${hex2(insn.opcode)} dst=${insn.dst} src=${insn.src} off=${insn.off} imm=${insn.imm}`;
  if (checkInsn(insn) !== null) return raw();
  const { opcode, dst, src, off, imm } = insn;
  const c = opcode & 0x07;
  const tgt = (rel: number): string => labelOf?.(pc + 1 + rel) ?? signed(rel);

  switch (c) {
    case CLS_ALU:
    case CLS_ALU64: {
      const op = opcode & 0xf0;
      const x = (opcode & SRC_X) !== 0;
      const w = c === CLS_ALU ? '32' : '';
      if (op === ALU_NEG) return `neg${w} ${reg(dst)}`;
      if (op === ALU_END) {
        const name = c === CLS_ALU64 ? 'bswap' : x ? 'be' : 'le';
        return `${name}${imm} ${reg(dst)}`;
      }
      if (op === ALU_MOV && x && off !== 0) {
        if (off === 1) return `addr_space_cast ${reg(dst)}, ${reg(src)}, ${imm >>> 16}, ${imm & 0xffff}`;
        return `movsx${off}${c === CLS_ALU ? '32' : '64'} ${reg(dst)}, ${reg(src)}`;
      }
      let name = Object.entries(ALU_MNEMONICS).find(([, v]) => v.op === op && !v.signed)![0];
      if ((op === ALU_DIV || op === ALU_MOD) && off === 1) name = `s${name}`;
      return `${name}${w} ${reg(dst)}, ${x ? reg(src) : imm32Text(imm)}`;
    }
    case CLS_JMP:
    case CLS_JMP32: {
      if (opcode === OP_JA) return `ja ${tgt(off)}`;
      if (opcode === OP_JA32) return `ja32 ${tgt(imm)}`;
      if (opcode === OP_MAY_GOTO) return `may_goto ${tgt(off)}`;
      if (opcode === OP_EXIT) return 'exit';
      if (opcode === OP_CALLX) return `callx ${reg(dst)}`;
      if (opcode === OP_CALL) {
        if (src === CALL_LOCAL) return `call local ${tgt(imm)}`;
        if (src === CALL_KFUNC) return `call kfunc ${imm}${off ? ` ${off}` : ''}`;
        return `call ${imm}`;
      }
      const op = opcode & 0xf0;
      const name = Object.entries(JCC_MNEMONICS).find(([, v]) => v === op)![0];
      const w = c === CLS_JMP32 ? '32' : '';
      return `${name}${w} ${reg(dst)}, ${opcode & SRC_X ? reg(src) : imm32Text(imm)}, ${tgt(off)}`;
    }
    case CLS_LD: {
      if (opcode === OP_LDDW) {
        if (lddwPairProblem(insns, pc) !== null) return raw();
        if (src === PSEUDO_NONE) return `lddw ${reg(dst)}, 0x${lddwImm(insns, pc).toString(16)}`;
        const kind = LDDW_KIND_NAMES[src];
        if (src === PSEUDO_FUNC) return `lddw ${reg(dst)}, func ${tgt(imm)}`;
        const second = insns[pc + 1].imm;
        const two = src === PSEUDO_MAP_VALUE || src === PSEUDO_MAP_IDX_VALUE || second !== 0;
        return `lddw ${reg(dst)}, ${kind} ${imm}${two ? ` ${second}` : ''}`;
      }
      const size = sizeName(opcode);
      if ((opcode & 0xe0) === MODE_ABS) return `ldabs${size} ${imm32Text(imm)}`;
      return `ldind${size} ${reg(src)}, ${imm32Text(imm)}`;
    }
    case CLS_LDX:
      return `ldx${(opcode & 0xe0) === MODE_MEMSX ? 's' : ''}${sizeName(opcode)} ${reg(dst)}, ${memOperand(src, off)}`;
    case CLS_ST:
      return `st${sizeName(opcode)} ${memOperand(dst, off)}, ${imm32Text(imm)}`;
    case CLS_STX: {
      if ((opcode & 0xe0) === MODE_ATOMIC) {
        const base = imm & ~ATOMIC_FETCH;
        const named = ATOMIC_OP_NAMES[imm] ?? ATOMIC_OP_NAMES[base];
        const fetch = imm in ATOMIC_OP_NAMES ? '' : 'fetch ';
        const w = (opcode & 0x18) === SZ_W ? '32' : '';
        return `lock ${fetch}${named}${w} ${memOperand(dst, off)}, ${reg(src)}`;
      }
      return `stx${sizeName(opcode)} ${memOperand(dst, off)}, ${reg(src)}`;
    }
  }
  return raw();
}

function sizeName(opcode: number): string {
  return Object.entries(SIZES).find(([, v]) => v === (opcode & 0x18))![0];
}

/**
 * Disassemble slots into assembler text, one instruction per line. The second slot of a
 * well-formed `lddw` is folded into the first.
 */
export function disassemble(insns: readonly Insn[], options: DisasmOptions = {}): string {
  const starts = new Set<number>();
  forEachInsn(insns, (_insn, pc) => starts.add(pc));
  starts.add(insns.length);
  const targets = new Set<number>();
  if (options.labels) {
    forEachInsn(insns, (insn, pc) => {
      const t = checkInsn(insn) === null ? branchTarget(insn, pc) : null;
      // Only instruction boundaries can carry a label; other targets stay relative.
      if (t !== null && starts.has(t)) targets.add(t);
    });
  }
  const labelOf = (slot: number): string | undefined => (targets.has(slot) ? `L${slot}` : undefined);
  const lines: string[] = [];
  forEachInsn(insns, (insn, pc) => {
    if (targets.has(pc)) lines.push(`L${pc}:`);
    const text = formatInsn(insns, pc, labelOf);
    if (!options.annotate) {
      lines.push(text);
      return;
    }
    const slots = insn.opcode === OP_LDDW && lddwPairProblem(insns, pc) === null ? insns.slice(pc, pc + 2) : [insn];
    const bytes = [...encode(slots)].map(hex2).join(' ');
    lines.push(`${text.padEnd(40)} # ${String(pc).padStart(4)}: ${bytes}`);
  });
  if (targets.has(insns.length)) lines.push(`L${insns.length}:`);
  return lines.join('\n') + '\n';
}

/** Visit each instruction once, skipping the second slot of a well-formed `lddw`. */
export function forEachInsn(insns: readonly Insn[], visit: (insn: Insn, pc: number) => void): void {
  for (let pc = 0; pc < insns.length; pc++) {
    visit(insns[pc], pc);
    if (insns[pc].opcode === OP_LDDW && checkInsn(insns[pc]) === null && lddwPairProblem(insns, pc) === null) pc++;
  }
}
