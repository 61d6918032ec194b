/**
 * C types described in TypeScript, laid out by the C ABI of the BPF target (LP64, natural
 * alignment, no packing). The simulator describes the kernel structures BPF programs can see
 * (task_struct, sched_ext_entity, cpumask, ...) once, here; from that one description come both
 * the offsets its typed views use and the kernel BTF that CO-RE relocations resolve against,
 * so the two cannot drift apart.
 */
import { ScxError } from '../util/errors.ts';

export type CType = VoidType | IntType | PtrType | ArrayType | RecordType | EnumType | TypedefType | FuncProtoType;

export interface VoidType {
  kind: 'void';
}
export interface IntType {
  kind: 'int';
  name: string;
  size: 1 | 2 | 4 | 8;
  signed: boolean;
  /** C `_Bool`: BTF encodes it as a 1-byte int with the BOOL encoding bit. */
  bool?: boolean;
  /** `char`: BTF's CHAR encoding bit. */
  char?: boolean;
}
export interface PtrType {
  kind: 'ptr';
  to: CType;
  const?: boolean;
}
export interface ArrayType {
  kind: 'array';
  elem: CType;
  length: number;
}
export interface Member {
  name: string;
  type: CType;
  /** Byte offset, filled in by layout. */
  offset: number;
}
export interface RecordType {
  kind: 'struct' | 'union';
  name: string;
  members: Member[];
  /** False until `define` gives the members (allows self-referencing pointers). */
  complete: boolean;
  size: number;
  align: number;
}
export interface EnumType {
  kind: 'enum';
  name: string;
  size: 4 | 8;
  signed: boolean;
  values: [string, bigint][];
}
export interface TypedefType {
  kind: 'typedef';
  name: string;
  type: CType;
}
export interface FuncProtoType {
  kind: 'func_proto';
  ret: CType;
  params: { name: string; type: CType }[];
}

export const VOID: VoidType = { kind: 'void' };

const int = (name: string, size: IntType['size'], signed: boolean, extra: Partial<IntType> = {}): IntType => ({
  kind: 'int',
  name,
  size,
  signed,
  ...extra,
});
export const C = {
  bool: int('_Bool', 1, false, { bool: true }),
  char: int('char', 1, true, { char: true }),
  u8: int('unsigned char', 1, false),
  s8: int('signed char', 1, true),
  u16: int('unsigned short', 2, false),
  s16: int('short', 2, true),
  u32: int('unsigned int', 4, false),
  s32: int('int', 4, true),
  u64: int('unsigned long long', 8, false),
  s64: int('long long', 8, true),
  ulong: int('long unsigned int', 8, false),
  long: int('long int', 8, true),
};

export const ptr = (to: CType, isConst = false): PtrType => ({ kind: 'ptr', to, const: isConst || undefined });
export const array = (elem: CType, length: number): ArrayType => ({ kind: 'array', elem, length });
export const typedef = (name: string, type: CType): TypedefType => ({ kind: 'typedef', name, type });
export const funcProto = (ret: CType, params: { name: string; type: CType }[]): FuncProtoType => ({
  kind: 'func_proto',
  ret,
  params,
});
export function enumType(name: string, values: [string, number | bigint][], size: 4 | 8 = 4, signed = false): EnumType {
  return { kind: 'enum', name, size, signed, values: values.map(([n, v]) => [n, BigInt(v)]) };
}

/** Declare a struct or union; give its members with `define` (may be later, for recursion). */
export function record(kind: 'struct' | 'union', name: string, members?: [string, CType][]): RecordType {
  const t: RecordType = { kind, name, members: [], complete: false, size: 0, align: 1 };
  if (members) define(t, members);
  return t;
}
export const struct = (name: string, members?: [string, CType][]) => record('struct', name, members);
export const union = (name: string, members?: [string, CType][]) => record('union', name, members);

/** Give a declared record its members and lay it out. */
export function define(t: RecordType, members: [string, CType][]): RecordType {
  if (t.complete) throw new ScxError(`${t.kind} ${t.name} is defined twice`);
  let offset = 0;
  let align = 1;
  let size = 0;
  const seen = new Set<string>();
  for (const [name, type] of members) {
    if (name && seen.has(name)) throw new ScxError(`${t.kind} ${t.name}: member '${name}' defined twice`);
    seen.add(name);
    const { size: msize, align: malign } = layout(type);
    align = Math.max(align, malign);
    if (t.kind === 'struct') {
      offset = alignUp(offset, malign);
      t.members.push({ name, type, offset });
      offset += msize;
      size = offset;
    } else {
      t.members.push({ name, type, offset: 0 });
      size = Math.max(size, msize);
    }
  }
  t.size = alignUp(size, align);
  t.align = align;
  t.complete = true;
  return t;
}

/** Size and alignment of a type. */
export function layout(t: CType): { size: number; align: number } {
  switch (t.kind) {
    case 'void':
      return { size: 0, align: 1 };
    case 'int':
      return { size: t.size, align: t.size };
    case 'ptr':
      return { size: 8, align: 8 };
    case 'enum':
      return { size: t.size, align: t.size };
    case 'array': {
      const e = layout(t.elem);
      return { size: e.size * t.length, align: e.align };
    }
    case 'typedef':
      return layout(t.type);
    case 'func_proto':
      throw new ScxError('a function type has no size (use a pointer to it)');
    case 'struct':
    case 'union':
      if (!t.complete) throw new ScxError(`${t.kind} ${t.name} is used by value before it is defined`);
      return { size: t.size, align: t.align };
  }
}

export interface FieldRef {
  offset: number;
  type: CType;
}

/**
 * The byte offset and type of a member path such as `scx.slice` or `comm` or `cpus_mask.bits[1]`
 * within a record.
 */
export function fieldOf(t: RecordType, path: string): FieldRef {
  let type: CType = t;
  let offset = 0;
  for (const part of path.split('.')) {
    const m = /^([A-Za-z_]\w*)((?:\[\d+\])*)$/.exec(part);
    if (!m) throw new ScxError(`bad field path '${path}'`);
    const rec = unwrap(type);
    if (rec.kind !== 'struct' && rec.kind !== 'union') throw new ScxError(`'${path}': ${m[1]} is not inside a struct or union`);
    const member = rec.members.find((x) => x.name === m[1]);
    if (!member) throw new ScxError(`${rec.kind} ${rec.name} has no member '${m[1]}' (in '${path}')`);
    offset += member.offset;
    type = member.type;
    for (const idx of m[2].match(/\d+/g) ?? []) {
      const arr = unwrap(type);
      if (arr.kind !== 'array') throw new ScxError(`'${path}': ${m[1]} is not an array`);
      const i = Number(idx);
      if (i >= arr.length) throw new ScxError(`'${path}': index ${i} is past the array's ${arr.length} elements`);
      offset += i * layout(arr.elem).size;
      type = arr.elem;
    }
  }
  return { offset, type };
}

/** Skip typedefs. */
export function unwrap(t: CType): CType {
  while (t.kind === 'typedef') t = t.type;
  return t;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
