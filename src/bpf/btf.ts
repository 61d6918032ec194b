/**
 * BTF (the BPF Type Format, Documentation/bpf/btf.rst): the `.BTF` section with every type of an
 * object or kernel, and `.BTF.ext` with per-instruction function info, source line info and CO-RE
 * relocation records. Parsing validates every offset and type reference; BtfError names the input,
 * the byte offset and what was expected.
 */
import { ScxError } from '../util/errors.ts';
import type { CoreBtf, CoreRelocation, CoreType } from './core.ts';

export const BTF_MAGIC = 0xeb9f;

export const BtfKind = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

const KIND_NAMES = [
  'void',
  'int',
  'ptr',
  'array',
  'struct',
  'union',
  'enum',
  'fwd',
  'typedef',
  'volatile',
  'const',
  'restrict',
  'func',
  'func_proto',
  'var',
  'datasec',
  'float',
  'decl_tag',
  'type_tag',
  'enum64',
] as const;
export type BtfKindName = (typeof KIND_NAMES)[number];

/** INT encoding bits. */
export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

/** FUNC and VAR linkage. */
export const LINKAGE_STATIC = 0;
export const LINKAGE_GLOBAL = 1;
export const LINKAGE_EXTERN = 2;

export interface BtfMember {
  name: string;
  type: number;
  /** Offset from the start of the struct, in bits. */
  bitOffset: number;
  /** Bitfield width in bits; 0 when the member is not a bitfield. */
  bitSize: number;
}

export interface BtfType {
  id: number;
  kind: BtfKindName;
  name: string;
  /** Bytes for int/struct/union/enum/enum64/float/datasec. */
  size: number;
  /** Referenced type for ptr/typedef/modifiers/func/var/decl_tag/type_tag, return type of func_proto. */
  type: number;
  /** int: encoding bits (BTF_INT_*); enum: 1 when signed. */
  encoding: number;
  /** int: width in bits and bit offset. */
  bits: number;
  bitOffset: number;
  members: BtfMember[];
  /** array */
  elemType: number;
  indexType: number;
  nelems: number;
  values: { name: string; value: bigint }[];
  params: { name: string; type: number }[];
  /** func/var linkage. */
  linkage: number;
  /** datasec variables. */
  vars: { type: number; offset: number; size: number }[];
  /** fwd: true for `union` forward declarations; decl_tag: the component index. */
  kindFlag: boolean;
  componentIdx: number;
}

export class BtfError extends ScxError {}

const HEADER_SIZE = 24;

export class Btf implements CoreBtf {
  private readonly byName = new Map<string, number[]>();

  constructor(
    readonly types: BtfType[],
    readonly strings: Uint8Array,
  ) {
    for (const t of types) {
      if (!t.name) continue;
      const list = this.byName.get(t.name) ?? [];
      list.push(t.id);
      this.byName.set(t.name, list);
    }
  }

  get count(): number {
    return this.types.length;
  }

  typeById(id: number): BtfType {
    const t = this.types[id];
    if (!t) throw new BtfError(`type id ${id} is out of range (${this.types.length} types)`);
    return t;
  }

  /** Ids of every type with this name, optionally of one kind. */
  findAll(name: string, kind?: BtfKindName): number[] {
    const ids = this.byName.get(name) ?? [];
    return kind ? ids.filter((id) => this.types[id].kind === kind) : ids;
  }

  find(name: string, kind?: BtfKindName): BtfType | undefined {
    const id = this.findAll(name, kind)[0];
    return id === undefined ? undefined : this.types[id];
  }

  /** Skip typedefs and qualifiers. */
  resolve(id: number): number {
    for (let i = 0; i < 64; i++) {
      const t = this.typeById(id);
      if (t.kind !== 'typedef' && t.kind !== 'const' && t.kind !== 'volatile' && t.kind !== 'restrict' && t.kind !== 'type_tag') return id;
      id = t.type;
    }
    throw new BtfError(`type ${id}: typedef/qualifier chain longer than 64 (a cycle?)`);
  }

  sizeOf(id: number, depth = 0): number {
    if (depth > 64) throw new BtfError(`type ${id}: its size depends on itself`);
    const t = this.typeById(this.resolve(id));
    switch (t.kind) {
      case 'ptr':
        return 8;
      case 'array':
        return t.nelems * this.sizeOf(t.elemType, depth + 1);
      case 'int':
      case 'struct':
      case 'union':
      case 'enum':
      case 'enum64':
      case 'float':
      case 'datasec':
        return t.size;
      default:
        return 0;
    }
  }

  /** `struct task_struct`, `u64 *`, `int[16]`, ... */
  describe(id: number, depth = 0): string {
    if (id === 0) return 'void';
    if (depth > 16) return '...';
    const t = this.typeById(id);
    switch (t.kind) {
      case 'struct':
      case 'union':
      case 'enum':
        return `${t.kind} ${t.name || '(anon)'}`;
      case 'enum64':
        return `enum ${t.name || '(anon)'}`;
      case 'fwd':
        return `${t.kindFlag ? 'union' : 'struct'} ${t.name}`;
      case 'ptr':
        return `${this.describe(t.type, depth + 1)} *`;
      case 'array':
        return `${this.describe(t.elemType, depth + 1)}[${t.nelems}]`;
      case 'const':
      case 'volatile':
      case 'restrict':
        return `${t.kind} ${this.describe(t.type, depth + 1)}`;
      case 'func_proto':
        return `${this.describe(t.type, depth + 1)} (${t.params.map((p) => this.describe(p.type, depth + 1)).join(', ')})`;
      default:
        return t.name || t.kind;
    }
  }

  /** The CoreBtf view used by CO-RE relocation. */
  type(id: number): CoreType {
    const t = this.typeById(id);
    const kind: CoreType['kind'] = t.kind === 'enum64' ? 'enum' : t.kind;
    return {
      kind,
      name: t.name,
      size: t.size,
      type: t.kind === 'array' ? t.elemType : t.type,
      signed: t.kind === 'int' ? (t.encoding & BTF_INT_SIGNED) !== 0 : t.encoding === 1,
      members: t.members,
      nelems: t.nelems,
      values: t.values,
      params: t.params.map((p) => p.type),
    };
  }
}

/** A type with every field at its zero value, to be filled in. */
export function emptyType(id: number, kind: BtfKindName, name: string): BtfType {
  return {
    id,
    kind,
    name,
    size: 0,
    type: 0,
    encoding: 0,
    bits: 0,
    bitOffset: 0,
    members: [],
    elemType: 0,
    indexType: 0,
    nelems: 0,
    values: [],
    params: [],
    linkage: 0,
    vars: [],
    kindFlag: false,
    componentIdx: -1,
  };
}

/** Parse raw `.BTF` bytes. `where` names the input in errors. */
export function parseBtf(bytes: Uint8Array, where: string): Btf {
  const fail = (off: number, msg: string): never => {
    throw new BtfError(`${where}: BTF at byte ${off}: ${msg}`);
  };
  if (bytes.length < HEADER_SIZE) fail(0, `truncated: ${bytes.length} bytes, the header needs ${HEADER_SIZE}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(0, true);
  if (magic !== BTF_MAGIC) fail(0, `magic 0x${magic.toString(16)}, expected 0xeb9f (little-endian BTF)`);
  if (bytes[2] !== 1) fail(2, `version ${bytes[2]}, expected 1`);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < HEADER_SIZE || hdrLen > bytes.length) fail(4, `header length ${hdrLen}, expected ${HEADER_SIZE}..${bytes.length}`);
  const typeOff = view.getUint32(8, true);
  const typeLen = view.getUint32(12, true);
  const strOff = view.getUint32(16, true);
  const strLen = view.getUint32(20, true);
  const typeStart = hdrLen + typeOff;
  const strStart = hdrLen + strOff;
  if (typeStart + typeLen > bytes.length) fail(8, `type section (${typeLen} bytes at ${typeStart}) runs past the end (${bytes.length} bytes)`);
  if (strStart + strLen > bytes.length) fail(16, `string section (${strLen} bytes at ${strStart}) runs past the end (${bytes.length} bytes)`);
  if (strLen === 0 || bytes[strStart + strLen - 1] !== 0) fail(strStart, 'the string section must end with a NUL byte');
  const strings = bytes.subarray(strStart, strStart + strLen);
  const str = (off: number, at: number): string => {
    if (off >= strLen) fail(at, `string offset ${off} is outside the string section (${strLen} bytes)`);
    let end = off;
    while (strings[end] !== 0) end++;
    return new TextDecoder().decode(strings.subarray(off, end));
  };

  const types: BtfType[] = [emptyType(0, 'void', '')];
  let p = typeStart;
  const end = typeStart + typeLen;
  const need = (n: number, what: string) => {
    if (p + n > end) fail(p, `truncated ${what}: needs ${n} bytes, ${end - p} left in the type section`);
  };
  while (p < end) {
    need(12, 'type header');
    const at = p;
    const nameOff = view.getUint32(p, true);
    const info = view.getUint32(p + 4, true);
    const sizeOrType = view.getUint32(p + 8, true);
    p += 12;
    const vlen = info & 0xffff;
    const kindNum = (info >>> 24) & 0x1f;
    const kindFlag = info >>> 31 === 1;
    if (kindNum === 0 || kindNum >= KIND_NAMES.length) fail(at, `unknown type kind ${kindNum} (type ${types.length})`);
    const t = emptyType(types.length, KIND_NAMES[kindNum], str(nameOff, at));
    t.kindFlag = kindFlag;
    switch (kindNum) {
      case BtfKind.INT: {
        need(4, 'int encoding');
        const enc = view.getUint32(p, true);
        p += 4;
        t.size = sizeOrType;
        t.encoding = (enc >>> 24) & 0xf;
        t.bitOffset = (enc >>> 16) & 0xff;
        t.bits = enc & 0xff;
        break;
      }
      case BtfKind.ARRAY:
        need(12, 'array');
        t.elemType = view.getUint32(p, true);
        t.indexType = view.getUint32(p + 4, true);
        t.nelems = view.getUint32(p + 8, true);
        p += 12;
        break;
      case BtfKind.STRUCT:
      case BtfKind.UNION:
        t.size = sizeOrType;
        need(12 * vlen, `${t.kind} members`);
        for (let i = 0; i < vlen; i++, p += 12) {
          const off = view.getUint32(p + 8, true);
          t.members.push({
            name: str(view.getUint32(p, true), p),
            type: view.getUint32(p + 4, true),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitSize: kindFlag ? off >>> 24 : 0,
          });
        }
        break;
      case BtfKind.ENUM:
        t.size = sizeOrType;
        t.encoding = kindFlag ? 1 : 0;
        need(8 * vlen, 'enum values');
        for (let i = 0; i < vlen; i++, p += 8) {
          const raw = view.getInt32(p + 4, true);
          t.values.push({ name: str(view.getUint32(p, true), p), value: kindFlag ? BigInt(raw) : BigInt(raw >>> 0) });
        }
        break;
      case BtfKind.ENUM64:
        t.size = sizeOrType;
        t.encoding = kindFlag ? 1 : 0;
        need(12 * vlen, 'enum64 values');
        for (let i = 0; i < vlen; i++, p += 12) {
          const v = (BigInt(view.getUint32(p + 8, true)) << 32n) | BigInt(view.getUint32(p + 4, true));
          t.values.push({ name: str(view.getUint32(p, true), p), value: kindFlag ? BigInt.asIntN(64, v) : v });
        }
        break;
      case BtfKind.FUNC_PROTO:
        t.type = sizeOrType;
        need(8 * vlen, 'function parameters');
        for (let i = 0; i < vlen; i++, p += 8) t.params.push({ name: str(view.getUint32(p, true), p), type: view.getUint32(p + 4, true) });
        break;
      case BtfKind.VAR:
        t.type = sizeOrType;
        need(4, 'var linkage');
        t.linkage = view.getUint32(p, true);
        p += 4;
        break;
      case BtfKind.DATASEC:
        t.size = sizeOrType;
        need(12 * vlen, 'datasec variables');
        for (let i = 0; i < vlen; i++, p += 12) {
          t.vars.push({ type: view.getUint32(p, true), offset: view.getUint32(p + 4, true), size: view.getUint32(p + 8, true) });
        }
        break;
      case BtfKind.FLOAT:
        t.size = sizeOrType;
        break;
      case BtfKind.DECL_TAG:
        t.type = sizeOrType;
        need(4, 'decl_tag component');
        t.componentIdx = view.getInt32(p, true);
        p += 4;
        break;
      case BtfKind.FUNC:
        t.type = sizeOrType;
        t.linkage = vlen;
        break;
      default:
        // ptr, fwd, typedef, volatile, const, restrict, type_tag: a reference only.
        t.type = kindNum === BtfKind.FWD ? 0 : sizeOrType;
    }
    types.push(t);
  }
  // Every reference must name an existing type.
  const check = (t: BtfType, id: number, what: string) => {
    if (id >= types.length) fail(typeStart, `type ${t.id} (${t.kind} ${t.name || '(anon)'}): ${what} refers to type ${id}, but there are ${types.length} types`);
  };
  for (const t of types) {
    check(t, t.type, 'its type');
    if (t.kind === 'array') {
      check(t, t.elemType, 'its element type');
      check(t, t.indexType, 'its index type');
    }
    for (const m of t.members) check(t, m.type, `member '${m.name}'`);
    for (const pr of t.params) check(t, pr.type, `parameter '${pr.name}'`);
    for (const v of t.vars) check(t, v.type, 'a variable');
  }
  return new Btf(types, strings);
}

export interface LineRecord {
  /** Instruction index within the section. */
  insn: number;
  file: string;
  line: number;
  column: number;
  /** The source line's text, when the compiler recorded it. */
  text: string;
}

export interface FuncRecord {
  insn: number;
  typeId: number;
}

export interface BtfExt {
  funcInfo: Map<string, FuncRecord[]>;
  lineInfo: Map<string, LineRecord[]>;
  coreRelos: Map<string, CoreRelocation[]>;
}

/** Parse `.BTF.ext`; section names and strings come from the object's BTF. */
export function parseBtfExt(bytes: Uint8Array, where: string, btf: Btf): BtfExt {
  const fail = (off: number, msg: string): never => {
    throw new BtfError(`${where}: BTF.ext at byte ${off}: ${msg}`);
  };
  if (bytes.length < 24) fail(0, `truncated: ${bytes.length} bytes, the header needs 24`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0, true) !== BTF_MAGIC) fail(0, `magic 0x${view.getUint16(0, true).toString(16)}, expected 0xeb9f`);
  if (bytes[2] !== 1) fail(2, `version ${bytes[2]}, expected 1`);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < 24 || hdrLen > bytes.length) fail(4, `header length ${hdrLen}, expected 24..${bytes.length}`);
  const strings = btf.strings;
  const str = (off: number, at: number): string => {
    if (off >= strings.length) fail(at, `string offset ${off} is outside the BTF string section (${strings.length} bytes)`);
    let end = off;
    while (strings[end] !== 0) end++;
    return new TextDecoder().decode(strings.subarray(off, end));
  };
  /** One info category: rec_size, then per section {name, count, records}. */
  const category = <T>(offField: number, minRec: number, read: (at: number) => T): Map<string, T[]> => {
    const out = new Map<string, T[]>();
    if (offField + 8 > hdrLen) return out;
    const off = view.getUint32(offField, true);
    const len = view.getUint32(offField + 4, true);
    if (len === 0) return out;
    const start = hdrLen + off;
    const end = start + len;
    if (end > bytes.length) fail(offField, `info of ${len} bytes at ${start} runs past the end (${bytes.length} bytes)`);
    if (len < 4) fail(start, 'info too short for its record size');
    const recSize = view.getUint32(start, true);
    if (recSize < minRec || recSize % 4 !== 0) fail(start, `record size ${recSize}, expected a multiple of 4 of at least ${minRec}`);
    let p = start + 4;
    while (p < end) {
      if (p + 8 > end) fail(p, 'truncated section header');
      const name = str(view.getUint32(p, true), p);
      const n = view.getUint32(p + 4, true);
      p += 8;
      if (p + n * recSize > end) fail(p, `section '${name}': ${n} records of ${recSize} bytes run past the end of the info`);
      const list = out.get(name) ?? [];
      for (let i = 0; i < n; i++, p += recSize) list.push(read(p));
      out.set(name, list);
    }
    return out;
  };
  const insnOf = (bytesOff: number, at: number): number => {
    if (bytesOff % 8 !== 0) fail(at, `instruction offset ${bytesOff} is not a multiple of 8`);
    return bytesOff / 8;
  };
  const funcInfo = category(8, 8, (p) => ({ insn: insnOf(view.getUint32(p, true), p), typeId: view.getUint32(p + 4, true) }));
  const lineInfo = category(16, 16, (p) => {
    const lineCol = view.getUint32(p + 12, true);
    return {
      insn: insnOf(view.getUint32(p, true), p),
      file: str(view.getUint32(p + 4, true), p + 4),
      text: str(view.getUint32(p + 8, true), p + 8),
      line: lineCol >>> 10,
      column: lineCol & 0x3ff,
    };
  });
  const coreRelos = category(24, 16, (p) => {
    const typeId = view.getUint32(p + 4, true);
    if (typeId >= btf.count) fail(p + 4, `CO-RE relocation names type ${typeId}, but there are ${btf.count} types`);
    return { insn: insnOf(view.getUint32(p, true), p), typeId, access: str(view.getUint32(p + 8, true), p + 8), kind: view.getUint32(p + 12, true) };
  });
  return { funcInfo, lineInfo, coreRelos };
}
