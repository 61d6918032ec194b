/**
 * BTF, the BPF Type Format (the kernel's Documentation/bpf/btf.rst):
 *  - `.BTF` holds every type of an object or of a kernel, plus the string table their names
 *    live in: parseBtf() reads it into a Btf;
 *  - `.BTF.ext` holds per-instruction records for each code section: function info, source line
 *    info and CO-RE relocations: parseBtfExt() reads it against the object's Btf;
 *  - BtfBuilder assembles a BTF by hand (the simulator's own "kernel BTF") and encodes it as the
 *    raw bytes the parser reads back.
 *
 * Input is untrusted: every offset, length, string and type reference is checked, reference
 * cycles through typedefs/qualifiers/arrays are rejected, and every failure is a one-line
 * BtfError naming the input, the byte offset and what was expected. Nothing else is ever thrown
 * for bad input, and nothing loops longer than the input is big.
 */
import { ScxError } from '../util/errors.ts';
import { CoreKind, type CoreBtf, type CoreRelocation, type CoreType } from './core.ts';

export const BTF_MAGIC = 0xeb9f;
export const BTF_VERSION = 1;
/** The header both `.BTF` and (up to core_relo_off) `.BTF.ext` start with. */
const BTF_HEADER_SIZE = 24;
const BTF_EXT_MIN_HEADER_SIZE = 24;

/** Type kinds, as numbered in the `info` word (bits 24-28). */
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

/** Kind names indexed by kind number; id 0 (implicit, never encoded) is `void`. */
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

/** FUNC and VAR linkage (a FUNC keeps it in vlen, a VAR in the word after its header). */
export const LINKAGE_STATIC = 0;
export const LINKAGE_GLOBAL = 1;
export const LINKAGE_EXTERN = 2;

export interface BtfMember {
  /** '' for an anonymous struct/union member. */
  name: string;
  type: number;
  /** Offset from the start of the struct, in bits. */
  bitOffset: number;
  /** Bitfield width in bits; 0 when the member is not a bitfield. */
  bitSize: number;
}

export interface BtfParam {
  /** '' when the prototype does not name it (function pointer types never do). */
  name: string;
  /** 0 for the `...` of a variadic prototype (always the last parameter). */
  type: number;
}

export interface BtfDatasecVar {
  /** A VAR, or a FUNC for extern functions in `.ksyms`. */
  type: number;
  offset: number;
  size: number;
}

/**
 * One type. Every kind uses the same record so that consumers can switch on `kind` without
 * casts; fields a kind does not use keep emptyType()'s zero values.
 */
export interface BtfType {
  id: number;
  kind: BtfKindName;
  name: string;
  /** Bytes for int/struct/union/enum/enum64/float/datasec. */
  size: number;
  /** Referenced type for ptr/typedef/modifiers/func/var/decl_tag/type_tag, return type of func_proto. */
  type: number;
  /** int: encoding bits (BTF_INT_*); enum/enum64: 1 when signed. */
  encoding: number;
  /** int: width in bits and bit offset. */
  bits: number;
  bitOffset: number;
  members: BtfMember[];
  /** array */
  elemType: number;
  indexType: number;
  nelems: number;
  /** enum/enum64 enumerators, as signed or unsigned values per `encoding`. */
  values: { name: string; value: bigint }[];
  params: BtfParam[];
  /** func/var linkage (LINKAGE_*). */
  linkage: number;
  /** datasec variables. */
  vars: BtfDatasecVar[];
  /**
   * The raw kind_flag bit: struct/union members carry bitfield sizes; fwd declares a union;
   * enum/enum64 are signed; decl_tag/type_tag are attributes.
   */
  kindFlag: boolean;
  /** decl_tag: -1 for the declaration itself, else the member or parameter index. */
  componentIdx: number;
}

export class BtfError extends ScxError {}

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

/** Kinds resolve() looks through: they name another type without changing its layout. */
const MODIFIERS: ReadonlySet<BtfKindName> = new Set(['typedef', 'const', 'volatile', 'restrict', 'type_tag']);

const utf8 = new TextDecoder();

/** Kinds whose records never carry a name. */
const NAMELESS: ReadonlySet<BtfKindName> = new Set(['void', 'ptr', 'array', 'const', 'volatile', 'restrict', 'func_proto']);

/** `struct foo`, `typedef u64`, `struct (anon)`, `ptr`: how errors name one type record. */
function label(t: BtfType): string {
  if (NAMELESS.has(t.kind) && !t.name) return t.kind;
  return `${t.kind} ${t.name || '(anon)'}`;
}

function typeIn(types: readonly BtfType[], id: number, where: string): BtfType {
  const t = Number.isInteger(id) ? types[id] : undefined;
  if (!t) throw new BtfError(`${where}: type id ${id} is out of range (${types.length} types, ids 0..${types.length - 1})`);
  return t;
}

function resolveIn(types: readonly BtfType[], id: number, where: string): number {
  // A chain longer than the number of types must revisit one: a cycle. Parsed and built BTF is
  // checked for cycles up front; this guards a Btf constructed from arbitrary records.
  for (let steps = 0; steps <= types.length; steps++) {
    const t = typeIn(types, id, where);
    if (!MODIFIERS.has(t.kind)) return id;
    id = t.type;
  }
  throw new BtfError(`${where}: type ${id} (${label(typeIn(types, id, where))}) is part of a typedef/qualifier cycle`);
}

function sizeIn(types: readonly BtfType[], id: number, where: string): number {
  const start = id;
  let scale = 1;
  for (let steps = 0; steps <= types.length; steps++) {
    const t = typeIn(types, resolveIn(types, id, where), where);
    let size: number;
    switch (t.kind) {
      case 'array':
        scale *= t.nelems;
        if (scale > Number.MAX_SAFE_INTEGER) throw new BtfError(`${where}: type ${start} (${label(types[start])}): its size overflows`);
        id = t.elemType;
        continue;
      case 'var':
        id = t.type;
        continue;
      case 'ptr':
        size = scale * 8;
        break;
      case 'int':
      case 'struct':
      case 'union':
      case 'enum':
      case 'enum64':
      case 'float':
      case 'datasec':
        size = scale * t.size;
        break;
      default:
        return 0;
    }
    if (size > Number.MAX_SAFE_INTEGER) throw new BtfError(`${where}: type ${start} (${label(types[start])}): its size overflows`);
    return size;
  }
  throw new BtfError(`${where}: type ${start} (${label(types[start])}): its size depends on itself`);
}

export class Btf implements CoreBtf {
  private readonly byName = new Map<string, number[]>();
  private readonly stringCache = new Map<number, string>();

  /**
   * `types[id]` is the type with that id; `types[0]` is void. `strings` is the raw string table
   * (names in `types` are already decoded; `.BTF.ext` records refer into it by offset).
   * `where` names the BTF in errors raised after parsing (out-of-range ids, cycles).
   */
  constructor(
    readonly types: BtfType[],
    readonly strings: Uint8Array,
    readonly where = 'BTF',
  ) {
    for (const t of types) {
      if (!t.name) continue;
      const list = this.byName.get(t.name);
      if (list) list.push(t.id);
      else this.byName.set(t.name, [t.id]);
    }
  }

  /** Number of type ids, including 0 (void). */
  get count(): number {
    return this.types.length;
  }

  typeById(id: number): BtfType {
    return typeIn(this.types, id, this.where);
  }

  /** The type's own name ('' for anonymous types and for void). */
  name(id: number): string {
    return this.typeById(id).name;
  }

  /** The first type of this kind with exactly this name. */
  findByName(kind: BtfKindName, name: string): number | undefined {
    for (const id of this.byName.get(name) ?? []) if (this.types[id].kind === kind) return id;
    return undefined;
  }

  /** Ids of every type with exactly this name, optionally of one kind, in id order. */
  findAll(name: string, kind?: BtfKindName): number[] {
    const ids = this.byName.get(name) ?? [];
    return kind ? ids.filter((id) => this.types[id].kind === kind) : ids.slice();
  }

  /** The NUL-terminated string at `offset` in the string table. */
  stringAt(offset: number): string {
    const cached = this.stringCache.get(offset);
    if (cached !== undefined) return cached;
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.strings.length) {
      throw new BtfError(`${this.where}: string offset ${offset} is outside the string section (${this.strings.length} bytes)`);
    }
    let end = offset;
    while (end < this.strings.length && this.strings[end] !== 0) end++;
    const s = utf8.decode(this.strings.subarray(offset, end));
    this.stringCache.set(offset, s);
    return s;
  }

  /** Skip typedefs, const/volatile/restrict and type tags: the type that gives the layout. */
  resolve(id: number): number {
    return resolveIn(this.types, id, this.where);
  }

  /**
   * Size in bytes: typedefs and qualifiers followed, arrays multiplied, pointers 8 (BPF is
   * 64-bit), a var's size is its type's. Void, functions, prototypes and forward declarations
   * have no size: 0.
   */
  sizeOf(id: number): number {
    return sizeIn(this.types, id, this.where);
  }

  /** A readable C-like spelling: `struct task_struct`, `u64 *`, `int[16]`, `void (*)(int)`. */
  describe(id: number): string {
    return this.declarator(id, '', 0);
  }

  /**
   * C declarator syntax, inside out: `inner` is what already surrounds the name position
   * (`*`, `[4]`, ...). Depth-limited so that a malformed self-referencing Btf still terminates.
   */
  private declarator(id: number, inner: string, depth: number): string {
    const join = (base: string, rest: string): string => (rest === '' ? base : rest.startsWith('[') ? base + rest : `${base} ${rest}`);
    if (depth > 32) return join('...', inner);
    if (id === 0) return join('void', inner);
    const t = this.typeById(id);
    switch (t.kind) {
      case 'ptr':
        return this.declarator(t.type, `*${inner}`, depth + 1);
      case 'array': {
        // `int *[4]` is an array of pointers; a pointer to an array needs `(*)[4]`.
        const wrapped = inner.startsWith('*') ? `(${inner})` : inner;
        return this.declarator(t.elemType, `${wrapped}[${t.nelems}]`, depth + 1);
      }
      case 'func_proto': {
        const wrapped = inner.startsWith('*') ? `(${inner})` : inner;
        const params = t.params.map((p) => (p.type === 0 && p === t.params[t.params.length - 1] ? '...' : this.declarator(p.type, '', depth + 1)));
        return this.declarator(t.type, `${wrapped}(${params.length ? params.join(', ') : 'void'})`, depth + 1);
      }
      case 'const':
      case 'volatile':
      case 'restrict':
      case 'type_tag': {
        const qual = t.kind === 'type_tag' ? `type_tag("${t.name}")` : t.kind;
        // A qualified pointer reads `int *const`; a qualified anything else `const int`.
        if (t.type !== 0 && this.types[t.type]?.kind === 'ptr') return this.declarator(t.type, inner === '' ? qual : `${qual} ${inner}`, depth + 1);
        return `${qual} ${this.declarator(t.type, inner, depth + 1)}`;
      }
      case 'struct':
      case 'union':
      case 'enum':
        return join(`${t.kind} ${t.name || '(anon)'}`, inner);
      case 'enum64':
        return join(`enum ${t.name || '(anon)'}`, inner);
      case 'fwd':
        return join(`${t.kindFlag ? 'union' : 'struct'} ${t.name}`, inner);
      case 'func':
        return this.declarator(t.type, t.name + inner, depth + 1);
      case 'var':
        return this.declarator(t.type, t.name + inner, depth + 1);
      case 'datasec':
        return join(`datasec ${t.name}`, inner);
      case 'decl_tag':
        return `decl_tag("${t.name}") on ${this.declarator(t.type, '', depth + 1)}${t.componentIdx >= 0 ? ` #${t.componentIdx}` : ''}`;
      default:
        // int, float, typedef: the name is the spelling.
        return join(t.name || label(t), inner);
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

// ---------------------------------------------------------------------------------------------
// Checks shared by the parser and the builder: they see the same BtfType records.

/**
 * Every reference in range and of a sensible kind, no typedef/qualifier/array cycles.
 * `fail(id, msg)` raises the error for type `id` (the parser adds the record's byte offset).
 */
function checkTypes(types: BtfType[], fail: (id: number, msg: string) => never): void {
  const n = types.length;
  const ref = (t: BtfType, target: number, what: string, voidOk: boolean) => {
    if (!Number.isInteger(target) || target < 0 || target >= n) fail(t.id, `${what} refers to type ${target}, but the ids are 0..${n - 1}`);
    if (target === 0 && !voidOk) fail(t.id, `${what} is void`);
  };
  for (let id = 1; id < n; id++) {
    const t = types[id];
    switch (t.kind) {
      case 'ptr':
      case 'typedef':
      case 'const':
      case 'volatile':
      case 'restrict':
      case 'type_tag':
        ref(t, t.type, 'it', true);
        break;
      case 'array':
        ref(t, t.elemType, 'its element type', false);
        ref(t, t.indexType, 'its index type', true);
        break;
      case 'struct':
      case 'union':
        t.members.forEach((m, i) => ref(t, m.type, `member ${i} '${m.name}'`, false));
        break;
      case 'func_proto':
        ref(t, t.type, 'its return type', true);
        t.params.forEach((p, i) => {
          ref(t, p.type, `parameter ${i} '${p.name}'`, true);
          // Type 0 marks `...`, which can only come last.
          if (p.type === 0 && i !== t.params.length - 1) fail(t.id, `parameter ${i} is void, only the last may be (for '...')`);
        });
        break;
      case 'func':
        ref(t, t.type, 'its prototype', false);
        if (types[t.type].kind !== 'func_proto') fail(t.id, `its prototype is type ${t.type} (${label(types[t.type])}), expected a func_proto`);
        break;
      case 'var':
        ref(t, t.type, 'its type', false);
        break;
      case 'datasec':
        t.vars.forEach((v, i) => {
          ref(t, v.type, `variable ${i}`, false);
          const k = types[v.type].kind;
          if (k !== 'var' && k !== 'func') fail(t.id, `variable ${i} is type ${v.type} (${label(types[v.type])}), expected a var or func`);
        });
        break;
      case 'decl_tag': {
        ref(t, t.type, 'it', false);
        const target = types[t.type];
        // -1 tags the declaration; otherwise the index of a member or of a parameter. The func's
        // own prototype check may come later (higher id), hence the defensive lookup.
        let components = 0;
        if (target.kind === 'struct' || target.kind === 'union') components = target.members.length;
        else if (target.kind === 'func') components = types[target.type]?.params.length ?? 0;
        else if (target.kind !== 'var' && target.kind !== 'typedef') fail(t.id, `it tags type ${t.type} (${label(target)}), expected a struct, union, func, var or typedef`);
        if (t.componentIdx !== -1 && (t.componentIdx < 0 || t.componentIdx >= components)) {
          fail(t.id, `component index ${t.componentIdx} is out of range for ${label(target)} (${components} components)`);
        }
        break;
      }
    }
  }
  // Chains through modifiers and array elements must end: walk each once, colouring ids on the
  // current path, so the whole check is linear in the number of types.
  const state = new Uint8Array(n); // 0 unseen, 1 on the current path, 2 known to end
  const path: number[] = [];
  for (let start = 1; start < n; start++) {
    let id = start;
    while (state[id] === 0) {
      const t = types[id];
      const next = MODIFIERS.has(t.kind) ? t.type : t.kind === 'array' ? t.elemType : 0;
      if (next === 0) break;
      state[id] = 1;
      path.push(id);
      id = next;
    }
    if (state[id] === 1) fail(id, 'it is part of a reference cycle through typedefs, qualifiers or arrays');
    for (const p of path) state[p] = 2;
    path.length = 0;
    state[id] = 2;
  }
}

// ---------------------------------------------------------------------------------------------
// .BTF

/** Bytes each kind's record takes after the common 12-byte header. */
function extraSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKind.INT:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
      return 4;
    case BtfKind.ARRAY:
      return 12;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
    case BtfKind.DATASEC:
    case BtfKind.ENUM64:
      return 12 * vlen;
    case BtfKind.ENUM:
    case BtfKind.FUNC_PROTO:
      return 8 * vlen;
    default:
      return 0;
  }
}

const INT_SIZES = new Set([1, 2, 4, 8, 16]);
const FLOAT_SIZES = new Set([2, 4, 8, 12, 16]);
const ENUM_SIZES = new Set([1, 2, 4, 8]);

/** Parse raw `.BTF` bytes. `where` names the input in errors (e.g. `x.bpf.o: section '.BTF'`). */
export function parseBtf(bytes: Uint8Array, where: string): Btf {
  const fail = (off: number, msg: string): never => {
    throw new BtfError(`${where}: BTF at byte ${off}: ${msg}`);
  };
  if (bytes.length < BTF_HEADER_SIZE) fail(0, `truncated: ${bytes.length} bytes, the header needs ${BTF_HEADER_SIZE}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(0, true);
  if (magic === 0x9feb) fail(0, 'big-endian BTF (magic 0xeb9f byte-swapped), expected little-endian as the BPF target writes');
  if (magic !== BTF_MAGIC) fail(0, `magic 0x${magic.toString(16)}, expected 0xeb9f`);
  if (bytes[2] !== BTF_VERSION) fail(2, `version ${bytes[2]}, expected ${BTF_VERSION}`);
  if (bytes[3] !== 0) fail(3, `flags 0x${bytes[3].toString(16)}, expected 0`);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < BTF_HEADER_SIZE || hdrLen > bytes.length) fail(4, `header length ${hdrLen}, expected ${BTF_HEADER_SIZE}..${bytes.length}`);
  const typeOff = view.getUint32(8, true);
  const typeLen = view.getUint32(12, true);
  const strOff = view.getUint32(16, true);
  const strLen = view.getUint32(20, true);
  // Offsets are relative to the end of the header; sums stay exact in doubles.
  const typeStart = hdrLen + typeOff;
  const typeEnd = typeStart + typeLen;
  const strStart = hdrLen + strOff;
  const strEnd = strStart + strLen;
  if (typeOff % 4 !== 0) fail(8, `type section offset ${typeOff} is not a multiple of 4`);
  if (typeEnd > bytes.length) fail(8, `type section (${typeLen} bytes at ${typeStart}) runs past the end (${bytes.length} bytes)`);
  if (strEnd > bytes.length) fail(16, `string section (${strLen} bytes at ${strStart}) runs past the end (${bytes.length} bytes)`);
  if (typeLen > 0 && strStart < typeEnd && typeStart < strEnd) fail(16, `string section (${strStart}..${strEnd}) overlaps the type section (${typeStart}..${typeEnd})`);
  // Offset 0 must be the empty string (anonymous types name it) and the last string must end.
  if (strLen === 0) fail(20, 'the string section is empty, expected at least the empty string');
  if (bytes[strStart] !== 0) fail(strStart, 'the string section must start with the empty string (a NUL byte)');
  if (bytes[strEnd - 1] !== 0) fail(strEnd - 1, 'the string section must end with a NUL byte');
  const strings = bytes.subarray(strStart, strEnd);
  const cache = new Map<number, string>();
  const str = (off: number, at: number): string => {
    const known = cache.get(off);
    if (known !== undefined) return known;
    if (off >= strLen) fail(at, `string offset ${off} is outside the string section (${strLen} bytes)`);
    let end = off;
    while (strings[end] !== 0) end++; // terminates: the table ends with NUL
    const s = utf8.decode(strings.subarray(off, end));
    cache.set(off, s);
    return s;
  };

  const types: BtfType[] = [emptyType(0, 'void', '')];
  /** Byte offset of each type's record, for errors found after parsing. */
  const starts: number[] = [0];
  let p = typeStart;
  while (p < typeEnd) {
    const at = p;
    const id = types.length;
    if (p + 12 > typeEnd) fail(p, `truncated type ${id}: its header needs 12 bytes, ${typeEnd - p} left in the type section`);
    const nameOff = view.getUint32(p, true);
    const info = view.getUint32(p + 4, true);
    const sizeOrType = view.getUint32(p + 8, true);
    const vlen = info & 0xffff;
    const kindNum = (info >>> 24) & 0x1f;
    const kindFlag = info >>> 31 === 1;
    if (kindNum === 0 || kindNum >= KIND_NAMES.length) fail(at + 4, `type ${id}: unknown kind ${kindNum}, expected 1..${KIND_NAMES.length - 1}`);
    if ((info >>> 16) & 0xff || (info >>> 29) & 0x3) fail(at + 4, `type ${id}: reserved bits set in info 0x${info.toString(16)}`);
    const t = emptyType(id, KIND_NAMES[kindNum], str(nameOff, at));
    const what = `type ${id} (${label(t)})`;
    const extra = extraSize(kindNum, vlen);
    if (p + 12 + extra > typeEnd) fail(p, `truncated ${what}: its record needs ${12 + extra} bytes, ${typeEnd - p} left in the type section`);
    p += 12;
    t.kindFlag = kindFlag;
    switch (kindNum) {
      case BtfKind.INT: {
        const enc = view.getUint32(p, true);
        t.size = sizeOrType;
        t.encoding = (enc >>> 24) & 0xf;
        t.bitOffset = (enc >>> 16) & 0xff;
        t.bits = enc & 0xff;
        if (!INT_SIZES.has(t.size)) fail(at + 8, `${what}: size ${t.size}, expected 1, 2, 4, 8 or 16`);
        if (t.encoding & ~(BTF_INT_SIGNED | BTF_INT_CHAR | BTF_INT_BOOL) || enc & 0xf0000000) {
          fail(p, `${what}: unknown encoding bits in 0x${enc.toString(16)}`);
        }
        if (t.bitOffset + t.bits > t.size * 8) fail(p, `${what}: ${t.bits} bits at bit ${t.bitOffset} do not fit its ${t.size} bytes`);
        p += 4;
        break;
      }
      case BtfKind.ARRAY:
        t.elemType = view.getUint32(p, true);
        t.indexType = view.getUint32(p + 4, true);
        t.nelems = view.getUint32(p + 8, true);
        p += 12;
        break;
      case BtfKind.STRUCT:
      case BtfKind.UNION:
        t.size = sizeOrType;
        for (let i = 0; i < vlen; i++, p += 12) {
          const off = view.getUint32(p + 8, true);
          // With kind_flag the offset word is bitfield size (8 bits) : bit offset (24 bits);
          // without it, it is the bit offset and bitfields live in the member's INT encoding.
          const m: BtfMember = { name: str(view.getUint32(p, true), p), type: view.getUint32(p + 4, true), bitOffset: kindFlag ? off & 0xffffff : off, bitSize: kindFlag ? off >>> 24 : 0 };
          if (m.bitOffset + m.bitSize > t.size * 8) fail(p + 8, `${what}: member '${m.name}' at bit ${m.bitOffset} lies outside its ${t.size} bytes`);
          t.members.push(m);
        }
        break;
      case BtfKind.ENUM:
      case BtfKind.ENUM64: {
        t.size = sizeOrType;
        t.encoding = kindFlag ? 1 : 0;
        if (!ENUM_SIZES.has(t.size)) fail(at + 8, `${what}: size ${t.size}, expected 1, 2, 4 or 8`);
        const step = kindNum === BtfKind.ENUM ? 8 : 12;
        for (let i = 0; i < vlen; i++, p += step) {
          const name = str(view.getUint32(p, true), p);
          let value: bigint;
          if (kindNum === BtfKind.ENUM) value = BigInt(kindFlag ? view.getInt32(p + 4, true) : view.getUint32(p + 4, true));
          else {
            const raw = (BigInt(view.getUint32(p + 8, true)) << 32n) | BigInt(view.getUint32(p + 4, true));
            value = kindFlag ? BigInt.asIntN(64, raw) : raw;
          }
          t.values.push({ name, value });
        }
        break;
      }
      case BtfKind.FUNC_PROTO:
        t.type = sizeOrType;
        for (let i = 0; i < vlen; i++, p += 8) t.params.push({ name: str(view.getUint32(p, true), p), type: view.getUint32(p + 4, true) });
        break;
      case BtfKind.FUNC:
        t.type = sizeOrType;
        t.linkage = vlen;
        if (vlen > LINKAGE_EXTERN) fail(at + 4, `${what}: linkage ${vlen}, expected 0 (static), 1 (global) or 2 (extern)`);
        break;
      case BtfKind.VAR:
        t.type = sizeOrType;
        t.linkage = view.getUint32(p, true);
        if (t.linkage > LINKAGE_EXTERN) fail(p, `${what}: linkage ${t.linkage}, expected 0 (static), 1 (global) or 2 (extern)`);
        p += 4;
        break;
      case BtfKind.DATASEC:
        t.size = sizeOrType;
        for (let i = 0; i < vlen; i++, p += 12) t.vars.push({ type: view.getUint32(p, true), offset: view.getUint32(p + 4, true), size: view.getUint32(p + 8, true) });
        break;
      case BtfKind.FLOAT:
        t.size = sizeOrType;
        if (!FLOAT_SIZES.has(t.size)) fail(at + 8, `${what}: size ${t.size}, expected 2, 4, 8, 12 or 16`);
        break;
      case BtfKind.DECL_TAG:
        t.type = sizeOrType;
        t.componentIdx = view.getInt32(p, true);
        p += 4;
        break;
      case BtfKind.FWD:
        // size_type is unused: a forward declaration names no other type.
        break;
      default:
        // ptr, typedef, volatile, const, restrict, type_tag: a reference only.
        t.type = sizeOrType;
    }
    types.push(t);
    starts.push(at);
  }
  checkTypes(types, (id, msg) => fail(starts[id], `type ${id} (${label(types[id])}): ${msg}`));
  return new Btf(types, strings, where);
}

// ---------------------------------------------------------------------------------------------
// .BTF.ext

/*
 * Records name instructions by index within their section (the format stores byte offsets,
 * insn_off = 8 * index), which is how the loader and core.ts address them.
 */

/** One function info record: the FUNC type of the function starting at `insn`. */
export interface FuncRecord {
  insn: number;
  typeId: number;
}

/** One line info record: the C source position of the code from `insn` on. */
export interface LineRecord {
  insn: number;
  /** The file name as the compiler recorded it, e.g. `./x.bpf.c`. */
  file: string;
  line: number;
  column: number;
  /** The source line's text, when the compiler recorded it. */
  text: string;
}

export interface BtfExt {
  /** Per code section name (`.text`, `struct_ops/enqueue`, ...), in the order stored. */
  funcInfo: Map<string, FuncRecord[]>;
  lineInfo: Map<string, LineRecord[]>;
  /** CO-RE relocations, in core.ts's form (its access string as stored, e.g. `0:2:1`). */
  coreRelos: Map<string, CoreRelocation[]>;
}

/** Access strings are colon-separated decimal indices: `0`, `0:1:2`. */
const ACCESS_STRING = /^\d+(?::\d+)*$/;

/**
 * Parse `.BTF.ext`; its section names and strings are offsets into `btf`'s string table, and its
 * type ids refer to `btf`.
 */
export function parseBtfExt(bytes: Uint8Array, where: string, btf: Btf): BtfExt {
  const fail = (off: number, msg: string): never => {
    throw new BtfError(`${where}: BTF.ext at byte ${off}: ${msg}`);
  };
  if (bytes.length < BTF_EXT_MIN_HEADER_SIZE) fail(0, `truncated: ${bytes.length} bytes, the header needs ${BTF_EXT_MIN_HEADER_SIZE}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(0, true);
  if (magic === 0x9feb) fail(0, 'big-endian BTF.ext (magic 0xeb9f byte-swapped), expected little-endian');
  if (magic !== BTF_MAGIC) fail(0, `magic 0x${magic.toString(16)}, expected 0xeb9f`);
  if (bytes[2] !== BTF_VERSION) fail(2, `version ${bytes[2]}, expected ${BTF_VERSION}`);
  // bytes[3] (flags) has no defined bits; libbpf ignores it and so do we.
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < BTF_EXT_MIN_HEADER_SIZE || hdrLen > bytes.length) fail(4, `header length ${hdrLen}, expected ${BTF_EXT_MIN_HEADER_SIZE}..${bytes.length}`);
  const strings = btf.strings;
  const str = (off: number, at: number): string => {
    if (off >= strings.length) fail(at, `string offset ${off} is outside the BTF string section (${strings.length} bytes)`);
    return btf.stringAt(off);
  };

  /**
   * One category: `rec_size`, then for each code section {name offset, record count, records}.
   * Records may be larger than the fields we know (a newer format): only the known prefix is
   * read and `rec_size` steps over the rest.
   */
  const category = <T>(name: string, field: number, minRec: number, read: (at: number) => T): Map<string, T[]> => {
    const out = new Map<string, T[]>();
    // An older, shorter header simply lacks the category (core_relo_off/len, at 24, came last).
    if (field + 8 > hdrLen) return out;
    const off = view.getUint32(field, true);
    const len = view.getUint32(field + 4, true);
    if (len === 0) return out;
    if (off % 4 !== 0) fail(field, `${name} offset ${off} is not a multiple of 4`);
    const start = hdrLen + off;
    const end = start + len;
    if (end > bytes.length) fail(field, `${name} (${len} bytes at ${start}) runs past the end (${bytes.length} bytes)`);
    if (len < 4) fail(start, `${name} is ${len} bytes, too short for its record size`);
    const recSize = view.getUint32(start, true);
    if (recSize < minRec || recSize % 4 !== 0) fail(start, `${name} record size ${recSize}, expected a multiple of 4 of at least ${minRec}`);
    let p = start + 4;
    while (p < end) {
      if (p + 8 > end) fail(p, `truncated ${name} section header: needs 8 bytes, ${end - p} left`);
      const sec = str(view.getUint32(p, true), p);
      const count = view.getUint32(p + 4, true);
      p += 8;
      if (p + count * recSize > end) fail(p - 4, `${name} for section '${sec}': ${count} records of ${recSize} bytes run past the end of the ${name} (${end - p} bytes left)`);
      let list = out.get(sec);
      if (!list) out.set(sec, (list = []));
      for (let i = 0; i < count; i++, p += recSize) list.push(read(p));
    }
    return out;
  };
  const insnAt = (at: number): number => {
    const off = view.getUint32(at, true);
    if (off % 8 !== 0) fail(at, `instruction offset ${off} is not a multiple of 8`);
    return off / 8;
  };
  const typeIdAt = (at: number, what: string): number => {
    const id = view.getUint32(at, true);
    if (id >= btf.count) fail(at, `${what} names type ${id}, but the ids are 0..${btf.count - 1}`);
    return id;
  };

  const funcInfo = category('func_info', 8, 8, (p): FuncRecord => {
    const insn = insnAt(p);
    const typeId = typeIdAt(p + 4, 'func_info');
    const t = btf.types[typeId];
    if (t.kind !== 'func') fail(p + 4, `func_info names type ${typeId} (${label(t)}), expected a func`);
    return { insn, typeId };
  });
  const lineInfo = category('line_info', 16, 16, (p): LineRecord => {
    const insn = insnAt(p);
    const file = str(view.getUint32(p + 4, true), p + 4);
    const text = str(view.getUint32(p + 8, true), p + 8);
    // line_col packs the line in the high 22 bits and the column in the low 10.
    const lineCol = view.getUint32(p + 12, true);
    return { insn, file, line: lineCol >>> 10, column: lineCol & 0x3ff, text };
  });
  const coreRelos = category('core_relo', 24, 16, (p): CoreRelocation => {
    const insn = insnAt(p);
    const typeId = typeIdAt(p + 4, 'CO-RE relocation');
    const access = str(view.getUint32(p + 8, true), p + 8);
    if (!ACCESS_STRING.test(access)) fail(p + 8, `CO-RE access string '${access}', expected colon-separated indices such as 0:1:2`);
    const kind = view.getUint32(p + 12, true);
    if (kind > CoreKind.TYPE_MATCHES) fail(p + 12, `CO-RE relocation kind ${kind}, expected 0..${CoreKind.TYPE_MATCHES}`);
    return { insn, typeId, access, kind };
  });
  return { funcInfo, lineInfo, coreRelos };
}

// ---------------------------------------------------------------------------------------------
// Building and encoding

/** A member for BtfBuilder.setMembers: without an offset it is laid out as C would. */
export interface BuilderMember {
  name: string;
  type: number;
  /** Byte offset; or give bitOffset. */
  offset?: number;
  bitOffset?: number;
  /** Bitfield width in bits. */
  bitSize?: number;
}

export type Linkage = 'static' | 'global' | 'extern';
const LINKAGES: Record<Linkage, number> = { static: LINKAGE_STATIC, global: LINKAGE_GLOBAL, extern: LINKAGE_EXTERN };

/** vlen as encoded: the entry count of the kinds that have entries, a FUNC's linkage. */
function vlenOf(t: BtfType): number {
  switch (t.kind) {
    case 'struct':
    case 'union':
      return t.members.length;
    case 'enum':
    case 'enum64':
      return t.values.length;
    case 'func_proto':
      return t.params.length;
    case 'datasec':
      return t.vars.length;
    case 'func':
      return t.linkage;
    default:
      return 0;
  }
}

function kindNumber(kind: BtfKindName): number {
  return KIND_NAMES.indexOf(kind);
}

/** The BTF-encoded form of `types` (id order), with a fresh deduplicated string table. */
export function encodeBtf(types: readonly BtfType[]): Uint8Array {
  return encodeParts(types).bytes;
}

function encodeParts(types: readonly BtfType[]): { bytes: Uint8Array; strings: Uint8Array } {
  const utf8Encoder = new TextEncoder();
  const names = new Map<string, number>([['', 0]]);
  const strParts: Uint8Array[] = [new Uint8Array(1)];
  let strLen = 1;
  const strOff = (s: string): number => {
    let off = names.get(s);
    if (off === undefined) {
      off = strLen;
      names.set(s, off);
      const b = utf8Encoder.encode(s);
      strParts.push(b, new Uint8Array(1));
      strLen += b.length + 1;
    }
    return off;
  };
  let typeLen = 0;
  for (let id = 1; id < types.length; id++) typeLen += 12 + extraSize(kindNumber(types[id].kind), vlenOf(types[id]));
  const words = new DataView(new ArrayBuffer(typeLen));
  let p = 0;
  const u32 = (v: number) => {
    words.setUint32(p, v >>> 0, true);
    p += 4;
  };
  for (let id = 1; id < types.length; id++) {
    const t = types[id];
    let flag = t.kindFlag;
    let sizeOrType = t.type;
    switch (t.kind) {
      case 'struct':
      case 'union':
        // kind_flag is set when (and, as clang does, only when) a member is a bitfield.
        flag = t.members.some((m) => m.bitSize > 0);
        sizeOrType = t.size;
        break;
      case 'enum':
      case 'enum64':
        flag = t.encoding === 1;
        sizeOrType = t.size;
        break;
      case 'int':
      case 'float':
      case 'datasec':
        sizeOrType = t.size;
        break;
      case 'array':
      case 'fwd':
        sizeOrType = 0;
        break;
    }
    u32(strOff(t.name));
    u32((flag ? 0x80000000 : 0) | (kindNumber(t.kind) << 24) | vlenOf(t));
    u32(sizeOrType);
    switch (t.kind) {
      case 'int':
        u32((t.encoding << 24) | (t.bitOffset << 16) | t.bits);
        break;
      case 'array':
        u32(t.elemType);
        u32(t.indexType);
        u32(t.nelems);
        break;
      case 'struct':
      case 'union':
        for (const m of t.members) {
          u32(strOff(m.name));
          u32(m.type);
          u32(flag ? (m.bitSize << 24) | m.bitOffset : m.bitOffset);
        }
        break;
      case 'enum':
        for (const v of t.values) {
          u32(strOff(v.name));
          u32(Number(BigInt.asUintN(32, v.value)));
        }
        break;
      case 'enum64':
        for (const v of t.values) {
          const raw = BigInt.asUintN(64, v.value);
          u32(strOff(v.name));
          u32(Number(raw & 0xffffffffn));
          u32(Number(raw >> 32n));
        }
        break;
      case 'func_proto':
        for (const pr of t.params) {
          u32(strOff(pr.name));
          u32(pr.type);
        }
        break;
      case 'var':
        u32(t.linkage);
        break;
      case 'datasec':
        for (const v of t.vars) {
          u32(v.type);
          u32(v.offset);
          u32(v.size);
        }
        break;
      case 'decl_tag':
        u32(t.componentIdx);
        break;
    }
  }
  // Header, types, then strings: the layout clang and pahole write.
  const bytes = new Uint8Array(BTF_HEADER_SIZE + typeLen + strLen);
  const header = new DataView(bytes.buffer);
  header.setUint16(0, BTF_MAGIC, true);
  header.setUint8(2, BTF_VERSION);
  header.setUint8(3, 0);
  header.setUint32(4, BTF_HEADER_SIZE, true);
  header.setUint32(8, 0, true);
  header.setUint32(12, typeLen, true);
  header.setUint32(16, typeLen, true);
  header.setUint32(20, strLen, true);
  bytes.set(new Uint8Array(words.buffer), BTF_HEADER_SIZE);
  let s = BTF_HEADER_SIZE + typeLen;
  for (const part of strParts) {
    bytes.set(part, s);
    s += part.length;
  }
  return { bytes, strings: bytes.subarray(BTF_HEADER_SIZE + typeLen) };
}

/**
 * Assembles a BTF type by type. Every add* returns the new id; ids may be referenced before
 * the type they name is complete (addStruct first, setMembers later), which self-referencing
 * types such as task_struct need. build() and encode() check every reference.
 */
export class BtfBuilder {
  private readonly types: BtfType[] = [emptyType(0, 'void', '')];
  private arraySizeType = 0;

  /** A builder that starts with every type of `btf` (same ids), to extend it. */
  static from(btf: Btf): BtfBuilder {
    const b = new BtfBuilder();
    // One push per type: spreading a kernel's 100k+ types as arguments overflows the stack.
    for (const t of structuredClone(btf.types.slice(1))) b.types.push(t);
    b.arraySizeType = btf.findByName('int', '__ARRAY_SIZE_TYPE__') ?? 0;
    return b;
  }

  private push(kind: BtfKindName, name: string, fill: (t: BtfType) => void = () => {}): number {
    const t = emptyType(this.types.length, kind, name);
    fill(t);
    this.types.push(t);
    return t.id;
  }

  private fail(msg: string): never {
    throw new BtfError(`BtfBuilder: ${msg}`);
  }

  private existing(id: number, kinds: BtfKindName[]): BtfType {
    const t = this.types[id];
    if (!Number.isInteger(id) || !t || !kinds.includes(t.kind)) this.fail(`type ${id} is not a ${kinds.join(' or ')}`);
    return t;
  }

  addInt(name: string, size: number, opts: { signed?: boolean; char?: boolean; bool?: boolean } = {}): number {
    if (!INT_SIZES.has(size)) this.fail(`int '${name}': size ${size}, expected 1, 2, 4, 8 or 16`);
    return this.push('int', name, (t) => {
      t.size = size;
      t.bits = size * 8;
      t.encoding = (opts.signed ? BTF_INT_SIGNED : 0) | (opts.char ? BTF_INT_CHAR : 0) | (opts.bool ? BTF_INT_BOOL : 0);
    });
  }

  addFloat(name: string, size: number): number {
    if (!FLOAT_SIZES.has(size)) this.fail(`float '${name}': size ${size}, expected 2, 4, 8, 12 or 16`);
    return this.push('float', name, (t) => (t.size = size));
  }

  addPtr(to: number): number {
    return this.push('ptr', '', (t) => (t.type = to));
  }

  /** `elem[nelems]`; the index type defaults to a u32 named `__ARRAY_SIZE_TYPE__`, as clang emits. */
  addArray(elem: number, nelems: number, indexType?: number): number {
    if (indexType === undefined) {
      if (this.arraySizeType === 0) this.arraySizeType = this.addInt('__ARRAY_SIZE_TYPE__', 4);
      indexType = this.arraySizeType;
    }
    const index = indexType;
    return this.push('array', '', (t) => {
      t.elemType = elem;
      t.indexType = index;
      t.nelems = nelems;
    });
  }

  /** A struct, complete when members are given, else to be completed by setMembers(). */
  addStruct(name: string, members?: BuilderMember[], size?: number): number {
    const id = this.push('struct', name);
    if (members) this.setMembers(id, members, size);
    return id;
  }

  addUnion(name: string, members?: BuilderMember[], size?: number): number {
    const id = this.push('union', name);
    if (members) this.setMembers(id, members, size);
    return id;
  }

  /**
   * Give a struct or union its members. Members without an offset are placed as the C ABI does
   * for the BPF target (natural alignment; a bitfield starts a new unit of its declared type
   * when it would straddle one); the size defaults to the end rounded up to the alignment.
   * Every type a laid-out member uses must be complete by now.
   */
  setMembers(id: number, members: BuilderMember[], size?: number): void {
    const t = this.existing(id, ['struct', 'union']);
    const explicit = (m: BuilderMember) => m.bitOffset ?? (m.offset === undefined ? undefined : m.offset * 8);
    // Fully specified: nothing to compute, so members may name types that are still incomplete.
    if (size !== undefined && members.every((m) => explicit(m) !== undefined)) {
      t.members = members.map((m) => ({ name: m.name, type: m.type, bitOffset: explicit(m)!, bitSize: m.bitSize ?? 0 }));
      t.size = size;
      t.kindFlag = t.members.some((m) => m.bitSize > 0);
      return;
    }
    let next = 0; // first free bit after the previous member (structs)
    let end = 0; // bits covered so far
    let align = 1;
    t.members = members.map((m) => {
      const bitSize = m.bitSize ?? 0;
      const a = this.alignIn(m.type, new Set([id])); // seeded: a member cannot hold its own struct
      align = Math.max(align, a);
      let bitOffset = explicit(m);
      if (bitOffset === undefined) {
        const unit = a * 8;
        if (t.kind === 'union') bitOffset = 0;
        else if (bitSize > 0 && Math.floor(next / unit) === Math.floor((next + bitSize - 1) / unit)) bitOffset = next;
        else bitOffset = Math.ceil(next / unit) * unit;
      }
      next = bitOffset + (bitSize > 0 ? bitSize : this.sizeOf(m.type) * 8);
      end = Math.max(end, next);
      return { name: m.name, type: m.type, bitOffset, bitSize };
    });
    t.size = size ?? Math.ceil(end / 8 / align) * align;
    // As clang does: kind_flag (bitfield sizes in the member offsets) only when needed.
    t.kindFlag = t.members.some((m) => m.bitSize > 0);
  }

  /** A 1-, 2-, 4- or 8-byte enum; values are stored as signed or unsigned as `signed` says. */
  addEnum(name: string, values: [string, number | bigint][], opts: { size?: number; signed?: boolean } = {}): number {
    const size = opts.size ?? 4;
    if (!ENUM_SIZES.has(size)) this.fail(`enum '${name}': size ${size}, expected 1, 2, 4 or 8`);
    return this.addEnumKind('enum', name, values, size, opts.signed ?? values.some(([, v]) => BigInt(v) < 0n), 32);
  }

  addEnum64(name: string, values: [string, number | bigint][], opts: { signed?: boolean } = {}): number {
    return this.addEnumKind('enum64', name, values, 8, opts.signed ?? values.some(([, v]) => BigInt(v) < 0n), 64);
  }

  private addEnumKind(kind: 'enum' | 'enum64', name: string, values: [string, number | bigint][], size: number, signed: boolean, width: number): number {
    const norm = values.map(([n, v]) => {
      const big = BigInt(v);
      const value = signed ? BigInt.asIntN(width, big) : BigInt.asUintN(width, big);
      if (value !== big) this.fail(`${kind} '${name}': value ${n} = ${big} does not fit ${signed ? 'signed' : 'unsigned'} ${width} bits`);
      return { name: n, value };
    });
    return this.push(kind, name, (t) => {
      t.size = size;
      t.encoding = signed ? 1 : 0;
      t.kindFlag = signed;
      t.values = norm;
    });
  }

  addFwd(name: string, kind: 'struct' | 'union' = 'struct'): number {
    return this.push('fwd', name, (t) => (t.kindFlag = kind === 'union'));
  }

  addTypedef(name: string, type: number): number {
    return this.push('typedef', name, (t) => (t.type = type));
  }

  addConst(type: number): number {
    return this.push('const', '', (t) => (t.type = type));
  }

  addVolatile(type: number): number {
    return this.push('volatile', '', (t) => (t.type = type));
  }

  addRestrict(type: number): number {
    return this.push('restrict', '', (t) => (t.type = type));
  }

  addTypeTag(tag: string, type: number): number {
    return this.push('type_tag', tag, (t) => (t.type = type));
  }

  /** A `btf_decl_tag`: on a whole declaration (-1) or on member/parameter `componentIdx`. */
  addDeclTag(tag: string, type: number, componentIdx = -1): number {
    return this.push('decl_tag', tag, (t) => {
      t.type = type;
      t.componentIdx = componentIdx;
    });
  }

  /** A prototype; a trailing `{ name: '', type: 0 }` parameter makes it variadic. */
  addFuncProto(ret: number, params: { name?: string; type: number }[]): number {
    return this.push('func_proto', '', (t) => {
      t.type = ret;
      t.params = params.map((p) => ({ name: p.name ?? '', type: p.type }));
    });
  }

  addFunc(name: string, proto: number, linkage: Linkage = 'global'): number {
    return this.push('func', name, (t) => {
      t.type = proto;
      t.linkage = LINKAGES[linkage];
    });
  }

  addVar(name: string, type: number, linkage: Linkage = 'global'): number {
    return this.push('var', name, (t) => {
      t.type = type;
      t.linkage = LINKAGES[linkage];
    });
  }

  /** A data section; a variable's size defaults to its type's, the section's to its end. */
  addDatasec(name: string, vars: { type: number; offset: number; size?: number }[], size?: number): number {
    const entries = vars.map((v) => ({ type: v.type, offset: v.offset, size: v.size ?? this.sizeOf(v.type) }));
    const total = size ?? entries.reduce((m, v) => Math.max(m, v.offset + v.size), 0);
    return this.push('datasec', name, (t) => {
      t.size = total;
      t.vars = entries;
    });
  }

  /** Number of ids so far, including void. */
  get count(): number {
    return this.types.length;
  }

  /**
   * A checked snapshot as a Btf whose string table is the one encode() writes, so `.BTF.ext`
   * style string offsets mean the same in both. The builder may go on adding types afterwards.
   */
  build(): Btf {
    const types = structuredClone(this.types);
    checkTypes(types, (id, msg) => this.fail(`type ${id} (${label(types[id])}): ${msg}`));
    return new Btf(types, encodeParts(types).strings, 'BtfBuilder');
  }

  /** The raw `.BTF` bytes of everything added so far. */
  encode(): Uint8Array {
    checkTypes(this.types, (id, msg) => this.fail(`type ${id} (${label(this.types[id])}): ${msg}`));
    return encodeBtf(this.types);
  }

  /** Size of what exists so far, for layout and datasec defaults. */
  sizeOf(id: number): number {
    return sizeIn(this.types, id, 'BtfBuilder');
  }

  /** C alignment on the BPF target: natural for scalars, the largest member's for aggregates. */
  alignOf(id: number): number {
    return this.alignIn(id, new Set());
  }

  /** `open` holds the aggregates being measured: meeting one again means it contains itself. */
  private alignIn(id: number, open: Set<number>): number {
    const rid = resolveIn(this.types, id, 'BtfBuilder');
    const t = typeIn(this.types, rid, 'BtfBuilder');
    switch (t.kind) {
      case 'int':
      case 'float':
      case 'enum':
      case 'enum64':
        return Math.min(t.size, 16);
      case 'ptr':
        return 8;
      case 'array':
      case 'struct':
      case 'union': {
        if (open.has(rid)) this.fail(`type ${rid} (${label(t)}) contains itself`);
        open.add(rid);
        let align = 1;
        if (t.kind === 'array') align = this.alignIn(t.elemType, open);
        else for (const m of t.members) align = Math.max(align, this.alignIn(m.type, open));
        open.delete(rid);
        return align;
      }
      default:
        this.fail(`type ${id} (${label(t)}) has no layout (incomplete or not a data type)`);
    }
  }

}
