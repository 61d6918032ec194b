/**
 * CO-RE ("compile once, run everywhere") relocation: the compiler records, for each instruction
 * that depends on a kernel type's layout, the local type and an access path ("0:3:1" = root, then
 * member 3, then member 1). At load the path is replayed on the *target* BTF (the simulated
 * kernel's) by member NAME, following libbpf's rules:
 *  - candidates are target types of the same kind whose name equals the local name with any
 *    `___flavour` suffix removed;
 *  - named members are matched by name, searching through anonymous struct/union members;
 *    array accesses must stay in bounds; field types must be compatible kinds;
 *  - several candidates must agree on the result, else the relocation is ambiguous;
 *  - a relocation with no candidate makes FIELD_EXISTS, TYPE_EXISTS, TYPE_MATCHES and
 *    ENUMVAL_EXISTS evaluate to 0 and poisons every other kind: the instruction becomes a call
 *    that faults if (and only if) it is ever executed, so code guarded by an existence check loads.
 */
import {
  CLS_ALU,
  CLS_ALU64,
  CLS_LDX,
  CLS_ST,
  CLS_STX,
  MODE_MEM,
  MODE_MEMSX,
  OP_CALL,
  OP_JA,
  OP_LDDW,
  SRC_X,
  SZ_B,
  SZ_DW,
  SZ_H,
  SZ_W,
  accessSize,
  lddwImm,
  splitImm64,
  type Insn,
} from './isa.ts';
import { ScxError } from '../util/errors.ts';

/** Relocation kinds, numbered as in libbpf's `enum bpf_core_relo_kind`. */
export const CoreKind = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;

export const CORE_KIND_NAMES = [
  'byte_off',
  'byte_sz',
  'field_exists',
  'signed',
  'lshift_u64',
  'rshift_u64',
  'local_type_id',
  'target_type_id',
  'type_exists',
  'type_size',
  'enumval_exists',
  'enumval_value',
  'type_matches',
];

/** The helper id libbpf uses to poison an instruction whose relocation failed. */
export const CORE_POISON_HELPER = 0xbad2310;

/** The view of a BTF type CO-RE needs (an adapter over the BTF parser's types). */
export interface CoreType {
  kind:
    | 'void'
    | 'int'
    | 'ptr'
    | 'array'
    | 'struct'
    | 'union'
    | 'enum'
    | 'fwd'
    | 'typedef'
    | 'volatile'
    | 'const'
    | 'restrict'
    | 'func'
    | 'func_proto'
    | 'var'
    | 'datasec'
    | 'float'
    | 'decl_tag'
    | 'type_tag';
  name: string;
  /** Bytes, for int/struct/union/enum/float. */
  size: number;
  /** Referenced type: ptr/typedef/modifiers/func/var target, array element, func_proto return. */
  type: number;
  signed: boolean;
  /** struct/union members, with offsets and bitfield sizes in bits (0 = not a bitfield). */
  members: { name: string; type: number; bitOffset: number; bitSize: number }[];
  nelems: number;
  /** enum/enum64 enumerators. */
  values: { name: string; value: bigint }[];
  /** func_proto parameter types. */
  params: number[];
}

export interface CoreBtf {
  /** Number of type ids, including 0 (void). */
  readonly count: number;
  type(id: number): CoreType;
}

export interface CoreRelocation {
  /** Instruction index within its section. */
  insn: number;
  typeId: number;
  access: string;
  kind: number;
}

export interface CoreResult {
  /** The value the instruction gets, or null when the relocation poisons it. */
  value: bigint | null;
  /** The value the compiler assumed (computed on the local BTF). */
  local: bigint;
  /** For a memory access: the size in bytes of the target field, when it is an int. */
  targetSize?: number;
  localSize?: number;
  /** The target type the relocation resolved to, if any. */
  targetId?: number;
  /** Readable local spec: `struct task_struct.scx.slice` */
  spec: string;
  /** Why it was poisoned, if it was. */
  failure?: string;
}

export class CoreError extends ScxError {}

const MODIFIERS = new Set(['typedef', 'volatile', 'const', 'restrict', 'type_tag']);

/** Skip typedefs and qualifiers, with a bound so reference cycles cannot hang. */
function skipMods(btf: CoreBtf, id: number): number {
  for (let i = 0; i < 64; i++) {
    const t = btf.type(id);
    if (!MODIFIERS.has(t.kind)) return id;
    id = t.type;
  }
  throw new CoreError(`type ${id}: a chain of typedefs and qualifiers longer than 64 (a cycle?)`);
}

function sizeOf(btf: CoreBtf, id: number, depth = 0): number {
  if (depth > 64) throw new CoreError(`type ${id}: size depends on itself`);
  const rid = skipMods(btf, id);
  const t = btf.type(rid);
  switch (t.kind) {
    case 'int':
    case 'struct':
    case 'union':
    case 'enum':
    case 'float':
      return t.size;
    case 'ptr':
      return 8;
    case 'array':
      return t.nelems * sizeOf(btf, t.type, depth + 1);
    default:
      return 0;
  }
}

/** A type's name without a `___flavour` suffix (libbpf ignores everything from the last `___`). */
export function essentialName(name: string): string {
  const at = name.lastIndexOf('___');
  return at > 0 ? name.slice(0, at) : name;
}

function kindsCompatible(a: CoreType, b: CoreType): boolean {
  if (a.kind === b.kind) return true;
  return false;
}

interface Accessor {
  /** Type the access is made into (composite or array). */
  typeId: number;
  idx: number;
  /** Member name for named members; '' for array indexing or anonymous members. */
  name: string;
}

interface Spec {
  btf: CoreBtf;
  rootId: number;
  access: Accessor[];
  /** Bit offset of the accessed field from the root. */
  bitOffset: number;
  /** Type of the final field (for field relocations). */
  fieldType: number;
  bitSize: number;
  raw: number[];
}

function isFieldKind(kind: number): boolean {
  return kind <= CoreKind.FIELD_RSHIFT_U64;
}
function isEnumKind(kind: number): boolean {
  return kind === CoreKind.ENUMVAL_EXISTS || kind === CoreKind.ENUMVAL_VALUE;
}

/** Replay an access string on the local BTF. */
function parseSpec(btf: CoreBtf, rootId: number, access: string, kind: number): Spec {
  const raw = access.split(':').map((s) => {
    if (!/^\d+$/.test(s)) throw new CoreError(`malformed access string '${access}'`);
    return Number(s);
  });
  if (raw.length === 0) throw new CoreError(`empty access string`);
  const spec: Spec = { btf, rootId, access: [], bitOffset: 0, fieldType: rootId, bitSize: 0, raw };
  if (!isFieldKind(kind)) {
    if (isEnumKind(kind)) {
      const t = btf.type(skipMods(btf, rootId));
      if (t.kind !== 'enum' || raw.length !== 1 || raw[0] >= t.values.length) {
        throw new CoreError(`enum relocation '${access}' does not name an enumerator of ${describe(btf, rootId)}`);
      }
      spec.access.push({ typeId: rootId, idx: raw[0], name: t.values[raw[0]].name });
    } else if (raw.length !== 1 || raw[0] !== 0) {
      throw new CoreError(`type relocation with access string '${access}', expected '0'`);
    }
    return spec;
  }
  let id = skipMods(btf, rootId);
  // The first index is an array index into the root (p[0] for `p->field`).
  spec.bitOffset = raw[0] * sizeOf(btf, id) * 8;
  spec.access.push({ typeId: id, idx: raw[0], name: '' });
  for (let i = 1; i < raw.length; i++) {
    id = skipMods(btf, id);
    const t = btf.type(id);
    const idx = raw[i];
    if (t.kind === 'struct' || t.kind === 'union') {
      const m = t.members[idx];
      if (!m) throw new CoreError(`access '${access}': member ${idx} of ${describe(btf, id)} does not exist`);
      spec.bitOffset += m.bitOffset;
      spec.bitSize = m.bitSize;
      spec.access.push({ typeId: id, idx, name: m.name });
      id = m.type;
    } else if (t.kind === 'array') {
      spec.bitOffset += idx * sizeOf(btf, t.type) * 8;
      spec.bitSize = 0;
      spec.access.push({ typeId: id, idx, name: '' });
      id = t.type;
    } else {
      throw new CoreError(`access '${access}': ${describe(btf, id)} has no members or elements`);
    }
  }
  spec.fieldType = id;
  return spec;
}

/** Find a member by name, looking into anonymous struct/union members like C does. */
function findMember(
  btf: CoreBtf,
  compositeId: number,
  name: string,
  depth = 0,
): { path: { typeId: number; idx: number }[]; bitOffset: number; bitSize: number; type: number } | null {
  if (depth > 32) return null;
  const t = btf.type(compositeId);
  for (let i = 0; i < t.members.length; i++) {
    const m = t.members[i];
    if (m.name === name) return { path: [{ typeId: compositeId, idx: i }], bitOffset: m.bitOffset, bitSize: m.bitSize, type: m.type };
    if (m.name === '') {
      const inner = skipMods(btf, m.type);
      const it = btf.type(inner);
      if (it.kind === 'struct' || it.kind === 'union') {
        const found = findMember(btf, inner, name, depth + 1);
        if (found) {
          return { ...found, path: [{ typeId: compositeId, idx: i }, ...found.path], bitOffset: m.bitOffset + found.bitOffset };
        }
      }
    }
  }
  return null;
}

/** libbpf's "fields are compatible": same broad kind; composites and enums by essential name. */
function fieldsCompatible(local: CoreBtf, lid: number, target: CoreBtf, tid: number, depth = 0): boolean {
  if (depth > 32) return false;
  const l = local.type(skipMods(local, lid));
  const t = target.type(skipMods(target, tid));
  const lk = l.kind === 'fwd' ? 'struct' : l.kind;
  const tk = t.kind === 'fwd' ? 'struct' : t.kind;
  if (lk !== tk) return false;
  switch (l.kind) {
    case 'struct':
    case 'union':
    case 'fwd':
      return true;
    case 'int':
    case 'enum':
    case 'float':
    case 'ptr':
      return true;
    case 'array':
      return fieldsCompatible(local, l.type, target, t.type, depth + 1);
    default:
      return false;
  }
}

/** Replay a local field spec on a target candidate; null if it does not match. */
function matchFieldSpec(local: Spec, target: CoreBtf, candidateId: number): Spec | null {
  const spec: Spec = { btf: target, rootId: candidateId, access: [], bitOffset: 0, fieldType: candidateId, bitSize: 0, raw: [] };
  let tid = skipMods(target, candidateId);
  spec.bitOffset = local.raw[0] * sizeOf(target, tid) * 8;
  spec.access.push({ typeId: tid, idx: local.raw[0], name: '' });
  spec.raw.push(local.raw[0]);
  for (let i = 1; i < local.access.length; i++) {
    const acc = local.access[i];
    tid = skipMods(target, tid);
    const t = target.type(tid);
    if (acc.name !== '') {
      if (t.kind !== 'struct' && t.kind !== 'union') return null;
      const found = findMember(target, tid, acc.name);
      if (!found) return null;
      spec.bitOffset += found.bitOffset;
      spec.bitSize = found.bitSize;
      for (const p of found.path) {
        spec.raw.push(p.idx);
        spec.access.push({ typeId: p.typeId, idx: p.idx, name: target.type(p.typeId).members[p.idx].name });
      }
      tid = found.type;
    } else {
      const lt = local.btf.type(acc.typeId);
      if (lt.kind === 'array') {
        if (t.kind !== 'array') return null;
        // A zero-length array is a flexible array: any index is allowed.
        if (t.nelems > 0 && acc.idx >= t.nelems) return null;
        spec.bitOffset += acc.idx * sizeOf(target, t.type) * 8;
        spec.bitSize = 0;
        spec.raw.push(acc.idx);
        spec.access.push({ typeId: tid, idx: acc.idx, name: '' });
        tid = t.type;
      } else {
        // An anonymous member in the local type: the named accesses around it decide.
        const lm = lt.members[acc.idx];
        const ltNext = local.btf.type(skipMods(local.btf, lm.type));
        if (ltNext.kind !== 'struct' && ltNext.kind !== 'union') return null;
        continue;
      }
    }
  }
  if (!fieldsCompatible(local.btf, local.fieldType, target, tid)) return null;
  spec.fieldType = tid;
  return spec;
}

/** Readable spec, e.g. `struct task_struct.scx.slice` or `enum scx_exit_kind::SCX_EXIT_ERROR`. */
function describeSpec(spec: Spec, kind: number): string {
  const root = describe(spec.btf, spec.rootId);
  if (isEnumKind(kind)) return `${root}::${spec.access[0].name}`;
  if (!isFieldKind(kind)) return root;
  let s = root;
  for (let i = 1; i < spec.access.length; i++) {
    const a = spec.access[i];
    s += a.name ? `.${a.name}` : `[${a.idx}]`;
  }
  return spec.raw[0] !== 0 ? `${s} (element ${spec.raw[0]})` : s;
}

export function describe(btf: CoreBtf, id: number): string {
  const t = btf.type(id);
  switch (t.kind) {
    case 'struct':
    case 'union':
    case 'enum':
      return `${t.kind} ${t.name || '(anon)'}`;
    case 'ptr':
      return `${describe(btf, t.type)} *`;
    case 'void':
      return 'void';
    default:
      return t.name || t.kind;
  }
}

/** Field value of a matched spec for a field relocation kind. */
function fieldValue(spec: Spec, kind: number): { value: bigint; size?: number } {
  const btf = spec.btf;
  const fieldId = skipMods(btf, spec.fieldType);
  const ft = btf.type(fieldId);
  const bitfield = spec.bitSize > 0;
  const fieldSize = bitfield ? 0 : sizeOf(btf, fieldId);
  // A bitfield is read with a load of its declared type's size, aligned down to that size.
  let byteSize = fieldSize;
  let byteOff = Math.floor(spec.bitOffset / 8);
  if (bitfield) {
    byteSize = sizeOf(btf, fieldId);
    while (byteSize <= 8) {
      byteOff = Math.floor(spec.bitOffset / 8 / byteSize) * byteSize;
      if (spec.bitOffset + spec.bitSize <= (byteOff + byteSize) * 8) break;
      byteSize *= 2;
    }
    if (byteSize > 8) throw new CoreError(`bitfield ${describeSpec(spec, kind)} cannot be read with one load`);
  }
  switch (kind) {
    case CoreKind.FIELD_BYTE_OFFSET:
      return { value: BigInt(byteOff), size: ft.kind === 'int' || ft.kind === 'enum' || ft.kind === 'ptr' ? byteSize : undefined };
    case CoreKind.FIELD_BYTE_SIZE:
      return { value: BigInt(byteSize) };
    case CoreKind.FIELD_EXISTS:
      return { value: 1n };
    case CoreKind.FIELD_SIGNED:
      return { value: (ft.kind === 'int' || ft.kind === 'enum') && ft.signed ? 1n : 0n };
    case CoreKind.FIELD_LSHIFT_U64: {
      // Little-endian: shift the field's top bit up to bit 63.
      const bitEnd = spec.bitOffset + (bitfield ? spec.bitSize : byteSize * 8) - byteOff * 8;
      return { value: BigInt(64 - bitEnd) };
    }
    case CoreKind.FIELD_RSHIFT_U64:
      return { value: BigInt(64 - (bitfield ? spec.bitSize : byteSize * 8)) };
  }
  throw new CoreError(`not a field relocation kind: ${kind}`);
}

/** libbpf's TYPE_MATCHES: the target type has everything the local one uses, by name and shape. */
function typesMatch(local: CoreBtf, lid: number, target: CoreBtf, tid: number, depth = 0): boolean {
  if (depth > 32) return false;
  lid = skipMods(local, lid);
  tid = skipMods(target, tid);
  const l = local.type(lid);
  const t = target.type(tid);
  if (l.name && t.name && essentialName(l.name) !== essentialName(t.name)) return false;
  if (l.kind !== t.kind && !(l.kind === 'fwd' && (t.kind === 'struct' || t.kind === 'union'))) return false;
  switch (l.kind) {
    case 'void':
    case 'fwd':
      return true;
    case 'int':
      return l.size === t.size && l.signed === t.signed;
    case 'float':
      return l.size === t.size;
    case 'enum':
      return l.values.every((lv) => t.values.some((tv) => essentialName(tv.name) === essentialName(lv.name)));
    case 'ptr':
      return typesMatch(local, l.type, target, t.type, depth + 1);
    case 'array':
      return l.nelems === t.nelems && typesMatch(local, l.type, target, t.type, depth + 1);
    case 'struct':
    case 'union':
      return l.members.every((lm) => {
        const tm = t.members.find((m) => m.name === lm.name);
        return tm !== undefined && lm.bitSize === tm.bitSize && typesMatch(local, lm.type, target, tm.type, depth + 1);
      });
    case 'func_proto':
      return (
        l.params.length === t.params.length &&
        typesMatch(local, l.type, target, t.type, depth + 1) &&
        l.params.every((p, i) => typesMatch(local, p, target, t.params[i], depth + 1))
      );
    default:
      return false;
  }
}

/** Target types with the local type's essential name and a compatible kind. */
function candidates(local: CoreBtf, localId: number, target: CoreBtf, index: Map<string, number[]>): number[] {
  const lt = local.type(localId);
  const name = essentialName(lt.name);
  if (!name) return [];
  return (index.get(name) ?? []).filter((id) => kindsCompatible(lt, target.type(id)));
}

/** Index target types by essential name, once per target BTF. */
export function indexByName(btf: CoreBtf): Map<string, number[]> {
  const index = new Map<string, number[]>();
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if (!t.name) continue;
    const key = essentialName(t.name);
    let list = index.get(key);
    if (!list) index.set(key, (list = []));
    list.push(id);
  }
  return index;
}

/**
 * Resolve one relocation. Throws CoreError only for malformed input (bad access string, type id
 * out of range); a relocation that simply has no match yields a poison result.
 */
export function resolveRelocation(
  relo: CoreRelocation,
  local: CoreBtf,
  target: CoreBtf,
  targetIndex: Map<string, number[]>,
): CoreResult {
  if (relo.typeId <= 0 || relo.typeId >= local.count) throw new CoreError(`relocation names local type ${relo.typeId}, which does not exist`);
  if (relo.kind < 0 || relo.kind > CoreKind.TYPE_MATCHES) throw new CoreError(`unknown CO-RE relocation kind ${relo.kind}`);
  const localSpec = parseSpec(local, relo.typeId, relo.access, relo.kind);
  const specText = describeSpec(localSpec, relo.kind);

  if (relo.kind === CoreKind.TYPE_ID_LOCAL) {
    return { value: BigInt(relo.typeId), local: BigInt(relo.typeId), spec: specText };
  }
  const localValue = computeValue(localSpec, relo, local, relo.typeId).value;
  const rootLocal = skipMods(local, relo.typeId);
  // Type relocations look for the root type itself (typedef names included, as libbpf does).
  const lookupId = isFieldKind(relo.kind) || isEnumKind(relo.kind) ? rootLocal : relo.typeId;
  const results: { value: bigint; id: number; size?: number }[] = [];
  for (const cand of candidates(local, lookupId, target, targetIndex)) {
    const r = matchCandidate(localSpec, relo, local, target, cand);
    if (r) results.push({ ...r, id: cand });
  }
  if (results.length === 0) {
    const zeroOk =
      relo.kind === CoreKind.FIELD_EXISTS ||
      relo.kind === CoreKind.TYPE_EXISTS ||
      relo.kind === CoreKind.TYPE_MATCHES ||
      relo.kind === CoreKind.ENUMVAL_EXISTS;
    if (zeroOk) return { value: 0n, local: localValue, spec: specText };
    return { value: null, local: localValue, spec: specText, failure: `no ${specText} in the kernel BTF` };
  }
  const first = results[0];
  for (const r of results.slice(1)) {
    if (r.value !== first.value) {
      throw new CoreError(
        `${CORE_KIND_NAMES[relo.kind]} relocation for ${specText} is ambiguous: kernel types ${first.id} and ${r.id} give ${first.value} and ${r.value}`,
      );
    }
  }
  const localSize = isFieldKind(relo.kind) ? computeValue(localSpec, relo, local, relo.typeId).size : undefined;
  return { value: first.value, local: localValue, targetId: first.id, targetSize: first.size, localSize, spec: specText };
}

function computeValue(spec: Spec, relo: CoreRelocation, btf: CoreBtf, rootId: number): { value: bigint; size?: number } {
  switch (relo.kind) {
    case CoreKind.TYPE_ID_LOCAL:
    case CoreKind.TYPE_ID_TARGET:
      return { value: BigInt(rootId) };
    case CoreKind.TYPE_EXISTS:
    case CoreKind.TYPE_MATCHES:
    case CoreKind.ENUMVAL_EXISTS:
      return { value: 1n };
    case CoreKind.TYPE_SIZE:
      return { value: BigInt(sizeOf(btf, rootId)) };
    case CoreKind.ENUMVAL_VALUE: {
      const t = btf.type(skipMods(btf, spec.rootId));
      const v = t.values[spec.access[0].idx].value;
      return { value: v };
    }
    default:
      return fieldValue(spec, relo.kind);
  }
}

function matchCandidate(
  localSpec: Spec,
  relo: CoreRelocation,
  local: CoreBtf,
  target: CoreBtf,
  cand: number,
): { value: bigint; size?: number } | null {
  if (isFieldKind(relo.kind)) {
    const spec = matchFieldSpec(localSpec, target, cand);
    return spec ? fieldValue(spec, relo.kind) : null;
  }
  if (isEnumKind(relo.kind)) {
    const t = target.type(skipMods(target, cand));
    const name = essentialName(localSpec.access[0].name);
    const v = t.values.find((x) => essentialName(x.name) === name);
    if (!v) return null;
    return { value: relo.kind === CoreKind.ENUMVAL_EXISTS ? 1n : v.value };
  }
  switch (relo.kind) {
    case CoreKind.TYPE_ID_TARGET:
      return { value: BigInt(cand) };
    case CoreKind.TYPE_EXISTS:
      return { value: 1n };
    case CoreKind.TYPE_SIZE:
      return { value: BigInt(sizeOf(target, cand)) };
    case CoreKind.TYPE_MATCHES:
      return typesMatch(local, relo.typeId, target, cand) ? { value: 1n } : null;
  }
  return null;
}

/**
 * Apply a resolved relocation to the instruction at `pc`: the immediate of an ALU op or `lddw`,
 * or the offset (and, when the field's int size differs, the access size) of a load or store.
 * A poisoned relocation turns the instruction into a call of CORE_POISON_HELPER.
 * Returns why the instruction cannot take the relocation, or null.
 */
export function patchInstruction(insns: Insn[], pc: number, result: CoreResult): string | null {
  const insn = insns[pc];
  if (!insn) return `relocation at instruction ${pc}, past the end of the section`;
  const op = insn.opcode;
  const cls = op & 0x07;
  if (result.value === null) {
    insns[pc] = { opcode: OP_CALL, dst: 0, src: 0, off: 0, imm: CORE_POISON_HELPER };
    // Keep the slot count of lddw: its second half becomes a no-op jump.
    if (op === OP_LDDW && pc + 1 < insns.length) insns[pc + 1] = { opcode: OP_JA, dst: 0, src: 0, off: 0, imm: 0 };
    return null;
  }
  const value = result.value;
  if (op === OP_LDDW) {
    if (pc + 1 >= insns.length) return 'lddw is missing its second slot';
    if (lddwImm(insns, pc) !== BigInt.asUintN(64, result.local)) {
      return `lddw holds ${lddwImm(insns, pc)}, but the relocation expected ${result.local}`;
    }
    const [lo, hi] = splitImm64(value);
    insns[pc] = { ...insn, imm: lo };
    insns[pc + 1] = { ...insns[pc + 1], imm: hi };
    return null;
  }
  if ((cls === CLS_ALU || cls === CLS_ALU64) && !(op & SRC_X)) {
    if (BigInt(insn.imm) !== BigInt.asIntN(32, result.local) && BigInt(insn.imm >>> 0) !== result.local) {
      return `the immediate is ${insn.imm}, but the relocation expected ${result.local}`;
    }
    if (value > 0xffffffffn || value < -(1n << 31n)) return `value ${value} does not fit a 32-bit immediate`;
    insns[pc] = { ...insn, imm: Number(BigInt.asIntN(32, value)) };
    return null;
  }
  const isMem = (cls === CLS_LDX && ((op & 0xe0) === MODE_MEM || (op & 0xe0) === MODE_MEMSX)) || ((cls === CLS_ST || cls === CLS_STX) && (op & 0xe0) === MODE_MEM);
  if (isMem) {
    if (BigInt(insn.off) !== result.local) return `the offset is ${insn.off}, but the relocation expected ${result.local}`;
    if (value > 32767n || value < -32768n) return `offset ${value} does not fit the 16-bit offset field`;
    let opcode = op;
    // The kernel's field may be an int of another width than the compiler saw: adjust the access.
    if (result.targetSize && result.localSize && result.targetSize !== result.localSize && accessSize(op) === result.localSize) {
      const sizeBits = { 1: SZ_B, 2: SZ_H, 4: SZ_W, 8: SZ_DW }[result.targetSize];
      if (sizeBits === undefined) return `field of ${result.targetSize} bytes cannot be loaded in one access`;
      opcode = (op & ~0x18) | sizeBits;
    }
    insns[pc] = { ...insn, opcode, off: Number(value) };
    return null;
  }
  return `a CO-RE relocation cannot apply to this instruction`;
}
