/**
 * What the loader reads from an object's BTF, with libbpf's fix-ups applied: clang leaves
 * DATASEC sizes and variable offsets at 0, so offsets come from the ELF symbols, as libbpf's
 * btf_fixup_datasec does. Also map definitions from `.maps` (the `__uint`/`__type` encoding:
 * a member `int (*type)[N]` means N; `T *key` means sizeof(T)), struct members for struct_ops,
 * CO-RE relocations and source lines by instruction.
 */
import { Btf, LINKAGE_EXTERN, LINKAGE_GLOBAL, parseBtf, parseBtfExt, type BtfExt, type LineRecord } from './btf.ts';
import type { CoreRelocation } from './core.ts';
import { STT_SECTION, type ElfFile } from './elf.ts';
import { MapType, type MapField, type MapFieldKind, type MapSpec } from './maps/map.ts';
import { ScxError } from '../util/errors.ts';

export interface BtfVarInfo {
  name: string;
  /** The variable's type (not the VAR entry). */
  typeId: number;
  offset: number;
  size: number;
  linkage: number;
}

export interface MemberInfo {
  name: string;
  offset: number;
  size: number;
  /** Resolved kind of the member's type: `int`, `ptr`, `array`, `struct`, ... */
  kind: string;
  isFuncPtr: boolean;
  typeId: number;
}

export type LineInfo = Omit<LineRecord, 'insn'>;

/** A function as BTF func info declares it: name, linkage and parameter shapes. */
export interface FuncInfo {
  name: string;
  global: boolean;
  /** Per parameter: a pointer (with its pointee's size) or a scalar. */
  params: { pointer: boolean; size: number }[];
}

export interface ObjectBtf {
  btf: Btf;
  core: Btf;
  datasec(name: string): BtfVarInfo[] | undefined;
  members(typeId: number): MemberInfo[];
  typeName(typeId: number): string;
  mapSpec(v: BtfVarInfo): MapSpec;
  coreRelocations(section: string): CoreRelocation[];
  lineAt(section: string, slot: number): LineInfo | undefined;
  /** Special fields (spin locks, timers, kptrs) of a global data section's variables. */
  dataFields(section: string): MapField[];
  /** The function starting at an instruction slot of a section, from func info. */
  funcAt(section: string, slot: number): FuncInfo | undefined;
}

export class ObjectBtfError extends ScxError {}

export function objectBtf(elf: ElfFile, file: string): ObjectBtf {
  const sec = elf.section('.BTF');
  if (!sec) throw new ObjectBtfError(`${file}: no .BTF section (compile with clang -g)`);
  const btf = parseBtf(sec.data, `${file}: section '.BTF'`);
  const extSec = elf.section('.BTF.ext');
  const ext: BtfExt = extSec ? parseBtfExt(extSec.data, `${file}: section '.BTF.ext'`, btf) : { funcInfo: new Map(), lineInfo: new Map(), coreRelos: new Map() };
  for (const list of ext.lineInfo.values()) list.sort((a, b) => a.insn - b.insn);

  const datasecs = new Map<string, BtfVarInfo[]>();
  for (const t of btf.types) {
    if (t.kind !== 'datasec') continue;
    const elfSec = elf.section(t.name);
    const vars: BtfVarInfo[] = [];
    for (const v of t.vars) {
      const vt = btf.typeById(v.type);
      // Extern kfuncs in .ksyms are FUNC entries; variables are VARs.
      const name = vt.name;
      let offset = v.offset;
      if (elfSec) {
        const sym = elf.symbols.find((s) => s.shndx === elfSec.index && s.name === name && s.type !== STT_SECTION);
        if (sym) offset = sym.value;
      }
      const typeId = vt.kind === 'var' ? vt.type : v.type;
      const size = v.size || (vt.kind === 'var' ? btf.sizeOf(vt.type) : 0);
      vars.push({ name, typeId, offset, size, linkage: vt.kind === 'var' || vt.kind === 'func' ? vt.linkage : LINKAGE_EXTERN });
    }
    datasecs.set(t.name, vars);
  }

  const members = (typeId: number): MemberInfo[] => {
    const t = btf.typeById(btf.resolve(typeId));
    if (t.kind !== 'struct' && t.kind !== 'union') throw new ObjectBtfError(`${file}: ${btf.describe(typeId)} is not a struct`);
    return t.members.map((m) => {
      const r = btf.typeById(btf.resolve(m.type));
      const isFuncPtr = r.kind === 'ptr' && btf.typeById(btf.resolve(r.type)).kind === 'func_proto';
      return { name: m.name, offset: m.bitOffset / 8, size: btf.sizeOf(m.type), kind: r.kind, isFuncPtr, typeId: m.type };
    });
  };

  const mapSpec = (v: BtfVarInfo): MapSpec => {
    const where = `${file}: map '${v.name}' in .maps`;
    const def = btf.typeById(btf.resolve(v.typeId));
    if (def.kind !== 'struct') throw new ObjectBtfError(`${where}: its type is ${btf.describe(v.typeId)}, expected a struct`);
    const fields: Record<string, number> = {};
    let keySize: number | undefined;
    let valueSize: number | undefined;
    let valueType: number | undefined;
    for (const m of def.members) {
      const mt = btf.typeById(btf.resolve(m.type));
      if (m.name === 'key' || m.name === 'value') {
        if (mt.kind !== 'ptr') throw new ObjectBtfError(`${where}: '${m.name}' should be declared with __type()`);
        const size = btf.sizeOf(mt.type);
        if (m.name === 'key') keySize = size;
        else {
          valueSize = size;
          valueType = mt.type;
        }
        continue;
      }
      if (m.name === 'values') throw new ObjectBtfError(`${where}: map-in-map ('values') is not supported by scx-sim`);
      // __uint(name, N) is `int (*name)[N]`.
      if (mt.kind !== 'ptr') throw new ObjectBtfError(`${where}: member '${m.name}' should be declared with __uint()`);
      const arr = btf.typeById(btf.resolve(mt.type));
      if (arr.kind !== 'array') throw new ObjectBtfError(`${where}: member '${m.name}' should be declared with __uint()`);
      fields[m.name] = arr.nelems;
    }
    const known = new Set(['type', 'max_entries', 'key_size', 'value_size', 'map_flags', 'map_extra', 'numa_node', 'pinning']);
    for (const k of Object.keys(fields)) if (!known.has(k)) throw new ObjectBtfError(`${where}: unknown map attribute '${k}'`);
    if (fields.type === undefined) throw new ObjectBtfError(`${where}: no map type (__uint(type, ...))`);
    if (keySize !== undefined && fields.key_size !== undefined && keySize !== fields.key_size) {
      throw new ObjectBtfError(`${where}: key_size ${fields.key_size} disagrees with the key type's size ${keySize}`);
    }
    if (valueSize !== undefined && fields.value_size !== undefined && valueSize !== fields.value_size) {
      throw new ObjectBtfError(`${where}: value_size ${fields.value_size} disagrees with the value type's size ${valueSize}`);
    }
    const spec: MapSpec = {
      name: v.name,
      type: fields.type,
      keySize: keySize ?? fields.key_size ?? 0,
      valueSize: valueSize ?? fields.value_size ?? 0,
      maxEntries: fields.max_entries ?? 0,
      flags: fields.map_flags ?? 0,
      mapExtra: fields.map_extra === undefined ? undefined : BigInt(fields.map_extra),
      fields: valueType === undefined ? undefined : specialFields(btf, valueType),
    };
    // Ring buffers and queues have no key; their key size must stay 0.
    if (spec.type === MapType.RINGBUF && keySize === undefined) return { ...spec, keySize: 0 };
    return spec;
  };

  const lineAt = (section: string, slot: number): LineInfo | undefined => {
    const list = ext.lineInfo.get(section);
    if (!list || list.length === 0) return undefined;
    let lo = 0;
    let hi = list.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].insn <= slot) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const { file: f, line, column, text } = list[best];
    return { file: f, line, column, text };
  };

  const funcAt = (section: string, slot: number): FuncInfo | undefined => {
    const rec = ext.funcInfo.get(section)?.find((f) => f.insn === slot);
    if (!rec) return undefined;
    const fn = btf.typeById(rec.typeId);
    const proto = btf.typeById(fn.type);
    const params = proto.params.map((p) => {
      const t = btf.typeById(btf.resolve(p.type));
      if (t.kind !== 'ptr') return { pointer: false, size: 0 };
      const to = btf.typeById(btf.resolve(t.type));
      return { pointer: true, size: to.kind === 'void' || to.kind === 'func_proto' || to.kind === 'fwd' ? 0 : btf.sizeOf(t.type) };
    });
    return { name: fn.name, global: fn.linkage === LINKAGE_GLOBAL, params };
  };

  const dataFields = (section: string): MapField[] =>
    (datasecs.get(section) ?? []).flatMap((v) => specialFields(btf, v.typeId, v.offset)).sort((a, b) => a.offset - b.offset);

  return {
    funcAt,
    dataFields,
    btf,
    core: btf,
    datasec: (name) => datasecs.get(name),
    members,
    typeName: (id) => btf.typeById(btf.resolve(id)).name,
    mapSpec,
    coreRelocations: (section) => ext.coreRelos.get(section) ?? [],
    lineAt,
  };
}

const SPECIAL_STRUCTS: Record<string, MapFieldKind> = {
  bpf_spin_lock: 'spin_lock',
  bpf_timer: 'timer',
  bpf_wq: 'workqueue',
  bpf_refcount: 'refcount',
  bpf_list_head: 'list_head',
  bpf_rb_root: 'rb_root',
};

/** Special fields of a map value (spin locks, timers, kptrs, ...), by BTF type, in offset order. */
function specialFields(btf: Btf, valueType: number, base = 0, depth = 0, out: MapField[] = []): MapField[] {
  if (depth > 8) return out;
  const t = btf.typeById(btf.resolve(valueType));
  if (t.kind === 'struct' || t.kind === 'union') {
    const special = SPECIAL_STRUCTS[t.name];
    if (special) {
      out.push({ kind: special, offset: base, size: t.size });
      return out;
    }
    for (const m of t.members) {
      const mt = btf.typeById(m.type);
      if (mt.kind === 'ptr' && isKptr(btf, mt.type)) {
        out.push({ kind: 'kptr', offset: base + m.bitOffset / 8, size: 8, typeName: btf.typeById(btf.resolve(mt.type)).name });
      }
      else specialFields(btf, m.type, base + m.bitOffset / 8, depth + 1, out);
    }
  } else if (t.kind === 'array') {
    const elem = btf.sizeOf(t.elemType);
    for (let i = 0; i < t.nelems && i < 64; i++) specialFields(btf, t.elemType, base + i * elem, depth + 1, out);
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/** `__kptr` is a type tag on the pointee. */
function isKptr(btf: Btf, id: number): boolean {
  for (let i = 0; i < 8; i++) {
    const t = btf.typeById(id);
    if (t.kind === 'type_tag' && (t.name === 'kptr' || t.name === 'kptr_untrusted' || t.name === 'percpu_kptr')) return true;
    if (t.kind !== 'type_tag' && t.kind !== 'const' && t.kind !== 'volatile') return false;
    id = t.type;
  }
  return false;
}


