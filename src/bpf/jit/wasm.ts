/**
 * A small WebAssembly binary writer: just what the JIT emits (i32/i64 arithmetic, memory access,
 * structured control flow, calls), written by hand because the format is simple and a library
 * would sit on the compile path of every loaded program.
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export type ValType = typeof I32 | typeof I64;

/** Opcodes used by the JIT (WebAssembly core spec 2.0, incl. sign-extension operators). */
export const Op = {
  unreachable: 0x00,
  nop: 0x01,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  call: 0x10,
  call_indirect: 0x11,
  drop: 0x1a,
  select: 0x1b,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  global_get: 0x23,
  global_set: 0x24,
  i32_load: 0x28,
  i64_load: 0x29,
  i32_load8_u: 0x2d,
  i32_load16_u: 0x2f,
  i64_load8_s: 0x30,
  i64_load8_u: 0x31,
  i64_load16_s: 0x32,
  i64_load16_u: 0x33,
  i64_load32_s: 0x34,
  i64_load32_u: 0x35,
  i32_store: 0x36,
  i64_store: 0x37,
  i32_store8: 0x3a,
  i32_store16: 0x3b,
  i64_store8: 0x3c,
  i64_store16: 0x3d,
  i64_store32: 0x3e,
  i32_const: 0x41,
  i64_const: 0x42,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_s: 0x48,
  i32_lt_u: 0x49,
  i32_gt_s: 0x4a,
  i32_gt_u: 0x4b,
  i32_le_s: 0x4c,
  i32_le_u: 0x4d,
  i32_ge_s: 0x4e,
  i32_ge_u: 0x4f,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_gt_s: 0x55,
  i64_gt_u: 0x56,
  i64_le_s: 0x57,
  i64_le_u: 0x58,
  i64_ge_s: 0x59,
  i64_ge_u: 0x5a,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_xor: 0x73,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i32_rotl: 0x77,
  i32_rotr: 0x78,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_div_u: 0x80,
  i64_rem_s: 0x81,
  i64_rem_u: 0x82,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_s: 0x87,
  i64_shr_u: 0x88,
  i64_rotl: 0x89,
  i64_rotr: 0x8a,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
  i32_extend8_s: 0xc0,
  i32_extend16_s: 0xc1,
  i64_extend8_s: 0xc2,
  i64_extend16_s: 0xc3,
  i64_extend32_s: 0xc4,
} as const;

/** Block type for blocks without results. */
export const VOID = 0x40;

/** A growable byte buffer with LEB128 writers. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  length = 0;

  byte(b: number): this {
    if (this.length === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = b;
    return this;
  }

  bytes(bs: ArrayLike<number>): this {
    for (let i = 0; i < bs.length; i++) this.byte(bs[i]);
    return this;
  }

  u32(v: number): this {
    let n = v >>> 0;
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      this.byte(b);
    } while (n !== 0);
    return this;
  }

  s32(v: number): this {
    let n = v | 0;
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }

  s64(v: bigint): this {
    let n = BigInt.asIntN(64, v);
    for (;;) {
      const b = Number(n & 0x7fn);
      n >>= 7n;
      if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }

  name(s: string): this {
    const enc = new TextEncoder().encode(s);
    return this.u32(enc.length).bytes(enc);
  }

  /** A length-prefixed copy of another writer. */
  vec(w: ByteWriter): this {
    return this.u32(w.length).bytes(w.view());
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface FunctionBody {
  typeIndex: number;
  /** Local types after the parameters. */
  locals: ValType[];
  code: ByteWriter;
}

/** Collects types, imports, functions and exports, and writes the binary module. */
export class ModuleBuilder {
  private types: FuncType[] = [];
  private imports: { module: string; name: string; typeIndex: number }[] = [];
  private funcs: FunctionBody[] = [];
  private exports: { name: string; funcIndex: number }[] = [];
  private memoryImport?: { module: string; name: string; minPages: number };
  private globals: { type: ValType; mutable: boolean; init: bigint }[] = [];
  private tableFuncs?: number[];

  typeIndex(t: FuncType): number {
    const key = (x: FuncType) => `${x.params.join(',')}:${x.results.join(',')}`;
    const k = key(t);
    const found = this.types.findIndex((x) => key(x) === k);
    if (found >= 0) return found;
    this.types.push(t);
    return this.types.length - 1;
  }

  /** Imports must all be added before any function; returns the function index. */
  importFunc(module: string, name: string, type: FuncType): number {
    if (this.funcs.length) throw new Error('imports must precede functions');
    this.imports.push({ module, name, typeIndex: this.typeIndex(type) });
    return this.imports.length - 1;
  }

  importMemory(module: string, name: string, minPages: number): void {
    this.memoryImport = { module, name, minPages };
  }

  addGlobal(type: ValType, mutable: boolean, init: bigint): number {
    this.globals.push({ type, mutable, init });
    return this.globals.length - 1;
  }

  /** Reserve a function index (the body is set later with `setFunc`). */
  declareFunc(type: FuncType): number {
    this.funcs.push({ typeIndex: this.typeIndex(type), locals: [], code: new ByteWriter() });
    return this.imports.length + this.funcs.length - 1;
  }

  setFunc(funcIndex: number, locals: ValType[], code: ByteWriter): void {
    const f = this.funcs[funcIndex - this.imports.length];
    f.locals = locals;
    f.code = code;
  }

  exportFunc(name: string, funcIndex: number): void {
    this.exports.push({ name, funcIndex });
  }

  /** A funcref table holding these functions at indices 0.., for call_indirect. */
  setTable(funcIndices: number[]): void {
    this.tableFuncs = funcIndices;
  }

  build(): Uint8Array<ArrayBuffer> {
    const out = new ByteWriter();
    out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const section = (id: number, body: ByteWriter) => out.byte(id).vec(body);

    const types = new ByteWriter().u32(this.types.length);
    for (const t of this.types) {
      types.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
    }
    section(1, types);

    const importCount = this.imports.length + (this.memoryImport ? 1 : 0);
    const imports = new ByteWriter().u32(importCount);
    for (const imp of this.imports) imports.name(imp.module).name(imp.name).byte(0x00).u32(imp.typeIndex);
    if (this.memoryImport) {
      imports.name(this.memoryImport.module).name(this.memoryImport.name).byte(0x02).byte(0x00).u32(this.memoryImport.minPages);
    }
    section(2, imports);

    const funcs = new ByteWriter().u32(this.funcs.length);
    for (const f of this.funcs) funcs.u32(f.typeIndex);
    section(3, funcs);

    if (this.tableFuncs) {
      const table = new ByteWriter().u32(1).byte(0x70).byte(0x00).u32(this.tableFuncs.length);
      section(4, table);
    }

    if (this.globals.length) {
      const globals = new ByteWriter().u32(this.globals.length);
      for (const g of this.globals) {
        globals.byte(g.type).byte(g.mutable ? 1 : 0);
        if (g.type === I64) globals.byte(Op.i64_const).s64(g.init);
        else globals.byte(Op.i32_const).s32(Number(g.init));
        globals.byte(Op.end);
      }
      section(6, globals);
    }

    const exports = new ByteWriter().u32(this.exports.length);
    for (const e of this.exports) exports.name(e.name).byte(0x00).u32(e.funcIndex);
    section(7, exports);

    if (this.tableFuncs) {
      const elems = new ByteWriter().u32(1).u32(0).byte(Op.i32_const).s32(0).byte(Op.end).u32(this.tableFuncs.length);
      for (const f of this.tableFuncs) elems.u32(f);
      section(9, elems);
    }

    const code = new ByteWriter().u32(this.funcs.length);
    for (const f of this.funcs) {
      const body = new ByteWriter();
      // Run-length encode the local declarations.
      const groups: [number, ValType][] = [];
      for (const t of f.locals) {
        const last = groups[groups.length - 1];
        if (last && last[1] === t) last[0]++;
        else groups.push([1, t]);
      }
      body.u32(groups.length);
      for (const [n, t] of groups) body.u32(n).byte(t);
      body.bytes(f.code.view());
      code.vec(body);
    }
    section(10, code);
    return new Uint8Array(out.view());
  }
}
