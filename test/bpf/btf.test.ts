import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  Btf,
  BtfBuilder,
  BtfError,
  BtfKind,
  BTF_INT_BOOL,
  BTF_INT_SIGNED,
  LINKAGE_EXTERN,
  LINKAGE_GLOBAL,
  LINKAGE_STATIC,
  emptyType,
  encodeBtf,
  parseBtf,
  parseBtfExt,
  type BtfKindName,
  type BtfType,
} from '../../src/bpf/btf.ts';
import { CoreKind } from '../../src/bpf/core.ts';

const DIR = resolve(__dirname, '../fixtures/btf');
const fixture = (name: string) => new Uint8Array(readFileSync(resolve(DIR, name)));
const sourceLines = (name: string) => readFileSync(resolve(DIR, name), 'utf8').split('\n');

const TYPES_BTF = fixture('types.btf');
const TYPES_EXT = fixture('types.btf.ext');
const CORE_BTF = fixture('core.btf');
const CORE_EXT = fixture('core.btf.ext');

/** Little-endian u32 words, for hand-made sections. */
function words(...ws: number[]): Uint8Array {
  const out = new Uint8Array(ws.length * 4);
  const v = new DataView(out.buffer);
  ws.forEach((w, i) => v.setUint32(i * 4, w >>> 0, true));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function setU32(bytes: Uint8Array, at: number, v: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(at, v >>> 0, true);
  return copy;
}

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BtfError);
    return (e as Error).message;
  }
  throw new Error('expected a BtfError');
}

/** The id of the one type of this kind and name. */
function idOf(btf: Btf, kind: BtfKindName, name: string): number {
  const id = btf.findByName(kind, name);
  if (id === undefined) throw new Error(`no ${kind} ${name}`);
  return id;
}

/** Members as [name, bit offset, bit size, C spelling of the type]. */
function members(btf: Btf, id: number): [string, number, number, string][] {
  return btf.typeById(id).members.map((m) => [m.name, m.bitOffset, m.bitSize, btf.describe(m.type)]);
}

describe('parseBtf on clang-19 output', () => {
  const btf = parseBtf(TYPES_BTF, 'types.btf');

  it('reads every kind, with ids from 1 and void at 0', () => {
    expect(btf.count).toBe(100);
    expect(btf.types[0]).toEqual(emptyType(0, 'void', ''));
    btf.types.forEach((t, i) => expect(t.id).toBe(i));
    const kinds = new Set(btf.types.map((t) => t.kind));
    expect([...kinds].sort()).toEqual(Object.keys(BtfKind).map((k) => (k === 'UNKN' ? 'void' : k.toLowerCase())).sort());
    // clang emits the map definition's __uint() pointer first: `int (*type)[2]`.
    expect(btf.typeById(1)).toMatchObject({ kind: 'ptr', type: 3 });
    expect(btf.describe(1)).toBe('int (*)[2]');
  });

  it('lays out nested structs, unions, arrays and bitfields as the C ABI does', () => {
    const outer = idOf(btf, 'struct', 'outer');
    expect(btf.typeById(outer).size).toBe(144);
    expect(btf.typeById(outer).kindFlag).toBe(true); // bitfields present
    // Byte offsets by hand (8-byte pointers and longs, natural alignment), times 8.
    expect(members(btf, outer)).toEqual([
      ['id', 0, 0, 'u64'],
      ['in', 8 * 8, 0, 'struct inner'],
      ['un', 24 * 8, 0, 'union word'],
      ['flags', 28 * 8, 3, 'u32'],
      ['mode', 28 * 8 + 3, 5, 'u32'],
      ['level', 28 * 8 + 8, 4, 'int'],
      ['grid', 32 * 8, 0, 'int[2][3]'],
      ['cvp', 56 * 8, 0, 'const volatile int *'],
      ['next', 64 * 8, 0, 'struct outer *'],
      ['cb', 72 * 8, 0, 'void (*)(int, struct outer *)'],
      ['name', 80 * 8, 0, 'char[16]'],
      ['col', 96 * 8, 0, 'enum color'],
      ['on', 100 * 8, 0, '_Bool'],
      ['ratio', 104 * 8, 0, 'float'],
      ['precise', 112 * 8, 0, 'double'],
      ['', 120 * 8, 0, 'union (anon)'],
      ['uptr', 128 * 8, 0, 'type_tag("user") char *'],
      ['tagged', 136 * 8, 0, 'int'],
    ]);
    const inner = idOf(btf, 'struct', 'inner');
    expect(btf.typeById(inner).kindFlag).toBe(false);
    expect(members(btf, inner)).toEqual([
      ['a', 0, 0, 'int'],
      ['b', 32, 0, 'char'],
      ['c', 64, 0, 'long'],
    ]);
    const word = idOf(btf, 'union', 'word');
    expect(btf.typeById(word).size).toBe(4);
    expect(members(btf, word)).toEqual([
      ['w', 0, 0, 'u32'],
      ['bytes', 0, 0, 'u8[4]'],
      ['halves', 0, 0, 'struct (anon)'],
    ]);
    const halves = btf.typeById(word).members[2].type;
    expect(members(btf, halves)).toEqual([
      ['lo', 0, 0, 'u16'],
      ['hi', 16, 0, 'u16'],
    ]);
    const anon = btf.typeById(outer).members[15].type;
    expect(members(btf, anon)).toEqual([
      ['raw', 0, 0, 'u64'],
      ['ptr', 0, 0, 'void *'],
    ]);
    // The 2-D array is an array of arrays, outer dimension first.
    const grid = btf.typeById(btf.typeById(outer).members[6].type);
    expect(grid).toMatchObject({ kind: 'array', nelems: 2 });
    expect(btf.typeById(grid.elemType)).toMatchObject({ kind: 'array', nelems: 3, elemType: idOf(btf, 'int', 'int') });
    expect(btf.name(grid.indexType)).toBe('__ARRAY_SIZE_TYPE__');
  });

  it('computes sizes through typedefs, qualifiers, arrays and vars', () => {
    const outer = idOf(btf, 'struct', 'outer');
    const m = (name: string) => btf.typeById(outer).members.find((x) => x.name === name)!.type;
    expect(btf.sizeOf(outer)).toBe(144);
    expect(btf.sizeOf(idOf(btf, 'struct', 'inner'))).toBe(16);
    expect(btf.sizeOf(m('grid'))).toBe(24);
    expect(btf.sizeOf(m('name'))).toBe(16);
    expect(btf.sizeOf(m('cvp'))).toBe(8);
    expect(btf.sizeOf(m('cb'))).toBe(8);
    expect(btf.sizeOf(idOf(btf, 'typedef', 'u16'))).toBe(2);
    expect(btf.sizeOf(idOf(btf, 'var', 'knob'))).toBe(8);
    expect(btf.sizeOf(idOf(btf, 'var', 'the_outer'))).toBe(144);
    expect(btf.sizeOf(idOf(btf, 'enum64', 'big'))).toBe(8);
    expect(btf.sizeOf(idOf(btf, 'struct', 'sched_ext_ops'))).toBe(40);
    // No size: void, functions, forward declarations.
    expect(btf.sizeOf(0)).toBe(0);
    expect(btf.sizeOf(idOf(btf, 'func', 'helper'))).toBe(0);
    expect(btf.sizeOf(idOf(btf, 'fwd', 'task_struct'))).toBe(0);
  });

  it('resolves typedef and qualifier chains', () => {
    const knob = btf.typeById(idOf(btf, 'var', 'knob'));
    expect(btf.describe(knob.type)).toBe('const volatile u64');
    expect(btf.typeById(knob.type).kind).toBe('const');
    const r = btf.resolve(knob.type);
    expect(btf.typeById(r)).toMatchObject({ kind: 'int', name: 'unsigned long long', size: 8, encoding: 0 });
    const restricted = btf.typeById(idOf(btf, 'var', 'restricted'));
    expect(btf.describe(restricted.type)).toBe('u8 *restrict');
    expect(btf.typeById(btf.resolve(restricted.type)).kind).toBe('ptr');
    // A type tag is looked through too.
    const uptr = btf.typeById(btf.typeById(idOf(btf, 'struct', 'outer')).members[16].type);
    expect(btf.typeById(uptr.type)).toMatchObject({ kind: 'type_tag', name: 'user' });
    expect(btf.name(btf.resolve(uptr.type))).toBe('char');
    expect(btf.resolve(0)).toBe(0);
  });

  it('reads int encodings, enum signedness and enum64 values', () => {
    expect(btf.typeById(idOf(btf, 'int', 'int'))).toMatchObject({ size: 4, bits: 32, encoding: BTF_INT_SIGNED });
    // clang encodes plain `char` as a signed int, not with BTF_INT_CHAR.
    expect(btf.typeById(idOf(btf, 'int', 'char'))).toMatchObject({ size: 1, bits: 8, encoding: BTF_INT_SIGNED });
    expect(btf.typeById(idOf(btf, 'int', '_Bool'))).toMatchObject({ size: 1, bits: 8, encoding: BTF_INT_BOOL });
    expect(btf.typeById(idOf(btf, 'float', 'double')).size).toBe(8);
    const values = (kind: BtfKindName, name: string) => btf.typeById(idOf(btf, kind, name)).values.map((v) => [v.name, v.value]);
    expect(btf.typeById(idOf(btf, 'enum', 'color'))).toMatchObject({ size: 4, encoding: 1, kindFlag: true });
    expect(values('enum', 'color')).toEqual([
      ['RED', 0n],
      ['GREEN', 5n],
      ['BLUE', -1n],
    ]);
    expect(btf.typeById(idOf(btf, 'enum', 'ucolor'))).toMatchObject({ encoding: 0, kindFlag: false });
    expect(values('enum', 'ucolor')).toEqual([
      ['U_A', 1n],
      ['U_B', 0x80000000n],
    ]);
    expect(btf.typeById(idOf(btf, 'enum64', 'big'))).toMatchObject({ size: 8, encoding: 0 });
    expect(values('enum64', 'big')).toEqual([
      ['BIG_SMALL', 1n],
      ['BIG_HUGE', 0x100000000n],
    ]);
    expect(btf.typeById(idOf(btf, 'enum64', 'neg64'))).toMatchObject({ encoding: 1 });
    expect(values('enum64', 'neg64')).toEqual([
      ['NEG_LOW', -0x100000000n],
      ['NEG_ONE', 1n],
    ]);
    expect(btf.describe(idOf(btf, 'enum64', 'big'))).toBe('enum big');
    expect(btf.type(idOf(btf, 'enum64', 'neg64'))).toMatchObject({ kind: 'enum', signed: true });
  });

  it('reads functions, prototypes and their linkage', () => {
    const fn = (name: string) => btf.typeById(idOf(btf, 'func', name));
    expect(fn('helper').linkage).toBe(LINKAGE_STATIC);
    expect(fn('my_select_cpu').linkage).toBe(LINKAGE_GLOBAL);
    expect(fn('bpf_kfunc_add').linkage).toBe(LINKAGE_EXTERN);
    expect(fn('bpf_kfunc_weak').linkage).toBe(LINKAGE_EXTERN); // weak is not recorded
    expect(btf.describe(idOf(btf, 'func', 'helper'))).toBe('int helper(struct outer *, int)');
    expect(btf.typeById(fn('helper').type).params.map((p) => [p.name, btf.describe(p.type)])).toEqual([
      ['o', 'struct outer *'],
      ['k', 'int'],
    ]);
    expect(btf.typeById(btf.typeById(idOf(btf, 'struct', 'outer')).members[8].type).type).toBe(idOf(btf, 'struct', 'outer'));
    // Extern declarations keep no parameter names.
    expect(btf.typeById(fn('bpf_kfunc_add').type).params.map((p) => p.name)).toEqual(['', '']);
    expect(btf.describe(fn('bpf_kfunc_weak').type)).toBe('void (struct outer *)');
  });

  it('reads variables and data sections, including .ksyms, .kconfig, .maps and .struct_ops', () => {
    const sec = (name: string) => btf.typeById(idOf(btf, 'datasec', name));
    const entries = (name: string) => sec(name).vars.map((v) => [btf.typeById(v.type).kind, btf.name(v.type), btf.typeById(v.type).linkage, v.offset, v.size]);
    // clang writes the sizes; offsets and section sizes stay 0 for the loader to fill from symbols.
    expect(sec('.bss').size).toBe(0);
    expect(entries('.bss')).toEqual([
      ['var', 'the_outer', LINKAGE_GLOBAL, 0, 144],
      ['var', 'fwd_ptr', LINKAGE_GLOBAL, 0, 8],
      ['var', 'restricted', LINKAGE_GLOBAL, 0, 8],
    ]);
    expect(entries('.data')).toEqual([
      ['var', 'counter', LINKAGE_GLOBAL, 0, 4],
      ['var', 'big_value', LINKAGE_GLOBAL, 0, 8],
      ['var', 'neg_value', LINKAGE_GLOBAL, 0, 8],
      ['var', 'ucolor_value', LINKAGE_GLOBAL, 0, 4],
    ]);
    expect(entries('.rodata')).toEqual([['var', 'knob', LINKAGE_GLOBAL, 0, 8]]);
    expect(entries('.data.hidden')).toEqual([['var', 'hidden', LINKAGE_STATIC, 0, 4]]);
    expect(entries('.kconfig')).toEqual([['var', 'LINUX_KERNEL_VERSION', LINKAGE_EXTERN, 0, 4]]);
    // Extern kfuncs are FUNC entries (not VARs) of size 0.
    expect(entries('.ksyms')).toEqual([
      ['func', 'bpf_kfunc_add', LINKAGE_EXTERN, 0, 0],
      ['func', 'bpf_kfunc_weak', LINKAGE_EXTERN, 0, 0],
    ]);
    expect(entries('.maps')).toEqual([['var', 'things', LINKAGE_GLOBAL, 0, 32]]);
    // __uint(name, N) is `int (*name)[N]`; __type(name, T) is `T *name`.
    const def = btf.typeById(idOf(btf, 'var', 'things')).type;
    expect(btf.name(def)).toBe('');
    expect(members(btf, def)).toEqual([
      ['type', 0, 0, 'int (*)[2]'],
      ['max_entries', 64, 0, 'int (*)[16]'],
      ['key', 128, 0, 'u32 *'],
      ['value', 192, 0, 'struct inner *'],
    ]);
    expect(entries('.struct_ops.link')).toEqual([['var', 'my_ops', LINKAGE_GLOBAL, 0, 40]]);
    const ops = idOf(btf, 'struct', 'sched_ext_ops');
    expect(btf.typeById(idOf(btf, 'var', 'my_ops')).type).toBe(ops);
    expect(members(btf, ops)).toEqual([
      ['select_cpu', 0, 0, 's32 (*)(struct task_struct *, s32, u64)'],
      ['enqueue', 64, 0, 'void (*)(struct task_struct *, u64)'],
      ['flags', 128, 0, 'u32'],
      ['name', 160, 0, 'char[16]'],
    ]);
    // The never-defined task_struct is a forward declaration.
    expect(btf.typeById(idOf(btf, 'fwd', 'task_struct')).kindFlag).toBe(false);
  });

  it('reads decl tags and type tags', () => {
    const tag = (name: string) => btf.typeById(idOf(btf, 'decl_tag', name));
    expect(tag('member_tag')).toMatchObject({ type: idOf(btf, 'struct', 'outer'), componentIdx: 17 });
    expect(tag('param_tag')).toMatchObject({ type: idOf(btf, 'func', 'tagged_func'), componentIdx: 0 });
    expect(tag('func_tag')).toMatchObject({ type: idOf(btf, 'func', 'tagged_func'), componentIdx: -1 });
    expect(btf.describe(idOf(btf, 'decl_tag', 'member_tag'))).toBe('decl_tag("member_tag") on struct outer #17');
    expect(btf.typeById(idOf(btf, 'type_tag', 'user')).type).toBe(idOf(btf, 'int', 'char'));
  });

  it('finds types by name and reads the string table', () => {
    expect(btf.findByName('struct', 'outer')).toBe(34);
    expect(btf.findByName('union', 'outer')).toBeUndefined();
    expect(btf.findByName('struct', 'nope')).toBeUndefined();
    // The map definition is an int pointer's name-less neighbour; `int` itself is one type.
    expect(btf.findAll('int')).toEqual([2]);
    expect(btf.findAll('task_struct').map((id) => btf.typeById(id).kind)).toEqual(['fwd']);
    expect(btf.findAll('char', 'int')).toEqual([12]);
    expect(btf.findAll('char', 'struct')).toEqual([]);
    expect(btf.findByName('typedef', 'u64')).toBe(35);
    expect(btf.name(34)).toBe('outer');
    expect(btf.name(0)).toBe('');
    expect(btf.stringAt(0)).toBe('');
    expect(btf.stringAt(1)).toBe('int');
    expect(btf.strings.length).toBe(1222);
    expect(message(() => btf.typeById(100))).toBe('types.btf: type id 100 is out of range (100 types, ids 0..99)');
    expect(message(() => btf.stringAt(5000))).toBe('types.btf: string offset 5000 is outside the string section (1222 bytes)');
  });

  it('describes types as C spells them', () => {
    const b = new BtfBuilder();
    const int = b.addInt('int', 4, { signed: true });
    const char = b.addInt('char', 1, { signed: true });
    const pp = b.addPtr(b.addPtr(char));
    const arrOfPtr = b.addArray(b.addPtr(int), 4);
    const ptrToArr = b.addPtr(b.addArray(int, 3));
    const constPtr = b.addConst(b.addPtr(int));
    const variadic = b.addFuncProto(int, [{ type: b.addPtr(b.addConst(char)) }, { type: 0 }]);
    const fnPtrArr = b.addArray(b.addPtr(b.addFuncProto(0, [])), 2);
    const built = b.build();
    expect(built.describe(pp)).toBe('char **');
    expect(built.describe(arrOfPtr)).toBe('int *[4]');
    expect(built.describe(ptrToArr)).toBe('int (*)[3]');
    expect(built.describe(constPtr)).toBe('int *const');
    expect(built.describe(variadic)).toBe('int (const char *, ...)');
    expect(built.describe(fnPtrArr)).toBe('void (*[2])(void)');
  });
});

describe('parseBtfExt on clang-19 output', () => {
  const btf = parseBtf(TYPES_BTF, 'types.btf');
  const ext = parseBtfExt(TYPES_EXT, 'types.btf.ext', btf);
  const src = sourceLines('types.bpf.c');

  it('reads func info per section, instruction offsets (stored in bytes) as indices', () => {
    const funcs = [...ext.funcInfo].map(([sec, recs]) => [sec, recs.map((r) => [r.insn, btf.name(r.typeId)])]);
    expect(funcs).toEqual([
      ['struct_ops/select_cpu', [[0, 'my_select_cpu']]],
      ['struct_ops/enqueue', [[0, 'my_enqueue']]],
      [
        '.text',
        [
          [0, 'tagged_func'],
          [3, 'helper'], // stored as byte offset 24
        ],
      ],
      ['tc', [[0, 'use_all']]],
    ]);
  });

  it('reads line info: file, line, column and the source text', () => {
    const text = ext.lineInfo.get('.text')!;
    expect(text.map((r) => [r.insn, r.line, r.column])).toEqual([
      [0, 120, 0], // tagged_func's opening line
      [1, 122, 11], // x * 2
      [2, 122, 2], // return
      [3, 97, 15], // helper: o->in.a
      [6, 97, 17],
      [7, 97, 2],
    ]);
    expect(text[3]).toEqual({ insn: 3, file: './types.bpf.c', line: 97, column: 15, text: '\treturn o->in.a + k;' });
    expect(ext.lineInfo.get('struct_ops/enqueue')![0]).toMatchObject({ line: 109, column: 23, text: '\treturn bpf_kfunc_add(counter, (int)knob) + hidden;' });
    // Every record's text is its line of the source file.
    let n = 0;
    for (const recs of ext.lineInfo.values()) {
      for (const r of recs) {
        expect(r.file).toBe('./types.bpf.c');
        expect(r.text).toBe(src[r.line - 1]);
        n++;
      }
    }
    expect(n).toBe(2 + 6 + 6 + 25);
    expect(ext.coreRelos.size).toBe(0);
  });

  it('reads every CO-RE relocation kind with its access string', () => {
    const core = parseBtf(CORE_BTF, 'core.btf');
    const cext = parseBtfExt(CORE_EXT, 'core.btf.ext', core);
    expect([...cext.coreRelos.keys()]).toEqual(['tc']);
    const task = idOf(core, 'struct', 'task_struct');
    const scx = idOf(core, 'struct', 'sched_ext_entity');
    const taskT = idOf(core, 'typedef', 'task_t');
    const state = idOf(core, 'enum', 'task_state');
    const K = CoreKind;
    const relos = cext.coreRelos.get('tc')!.map((r) => [r.insn, r.typeId, r.access, r.kind]);
    expect(relos).toEqual([
      // field_offsets(): member indices of task_struct: pid 0, comm 1, scx 2, parent 3, prio 4, nice 5, times 6.
      [0, task, '0:2:1', K.FIELD_BYTE_OFFSET], // p->scx.slice
      [1, task, '0:1:3', K.FIELD_BYTE_OFFSET], // p->comm[3]: array index in the string
      [5, task, '0:6:1', K.FIELD_BYTE_OFFSET], // p->times[1][2]: only [1]; [2] is a plain +16
      [8, task, '0:3', K.FIELD_BYTE_OFFSET], // p->parent
      [9, task, '0:0', K.FIELD_BYTE_OFFSET], // (p->parent)->pid: a new relocation from the pointee
      // field_info(): __builtin_preserve_field_info(field, kind)
      [16, task, '0:2:2', K.FIELD_BYTE_OFFSET],
      [17, task, '0:2:2', K.FIELD_BYTE_SIZE],
      [19, task, '0:0', K.FIELD_EXISTS],
      [21, task, '0:5', K.FIELD_SIGNED],
      [23, task, '0:5', K.FIELD_LSHIFT_U64],
      [25, task, '0:5', K.FIELD_RSHIFT_U64],
      // type_info(): type relocations have access string "0"; the typedef is not resolved.
      [28, task, '0', K.TYPE_ID_LOCAL],
      [30, taskT, '0', K.TYPE_ID_TARGET],
      [33, scx, '0', K.TYPE_EXISTS],
      [35, scx, '0', K.TYPE_SIZE],
      [37, task, '0', K.TYPE_MATCHES],
      // enum_info(): the access string is the enumerator's index (TASK_DEAD is the second).
      [40, state, '1', K.ENUMVAL_EXISTS],
      [42, state, '1', K.ENUMVAL_VALUE],
    ]);
    const first = cext.coreRelos.get('tc')![0];
    expect(first).toEqual({ insn: 0, typeId: task, access: '0:2:1', kind: K.FIELD_BYTE_OFFSET });
    // Hand-checked layout behind those strings.
    expect(members(core, task)).toEqual([
      ['pid', 0, 0, 'int'],
      ['comm', 4 * 8, 0, 'char[16]'],
      ['scx', 24 * 8, 0, 'struct sched_ext_entity'],
      ['parent', 48 * 8, 0, 'struct task_struct *'],
      ['prio', 56 * 8, 4, 'u32'],
      ['nice', 56 * 8 + 4, 5, 'int'],
      ['times', 64 * 8, 0, 'u64[2][3]'],
    ]);
    expect(core.sizeOf(task)).toBe(112);
    expect(members(core, scx)).toEqual([
      ['dsq_vtime', 0, 0, 'u64'],
      ['slice', 64, 0, 'u64'],
      ['weight', 128, 0, 'u32'],
    ]);
    expect(core.typeById(state).values[1]).toEqual({ name: 'TASK_DEAD', value: 16n });
  });

  it('maps relocated instructions back to their C lines', () => {
    const core = parseBtf(CORE_BTF, 'core.btf');
    const cext = parseBtfExt(CORE_EXT, 'core.btf.ext', core);
    const lines = cext.lineInfo.get('tc')!;
    const src = sourceLines('core.bpf.c');
    /** The line of an instruction: the last record at or before it, as a debugger does. */
    const lineOf = (insn: number) => lines.filter((l) => l.insn <= insn).pop()!;
    expect(lineOf(0)).toMatchObject({ line: 32, column: 17, text: '\tu64 r = p->scx.slice;' });
    expect(lineOf(1)).toMatchObject({ line: 33, text: '\tr += p->comm[3];' });
    expect(lineOf(8)).toMatchObject({ line: 34, column: 10 }); // p->parent
    expect(lineOf(9)).toMatchObject({ line: 34, column: 18 }); // ->pid
    // A function's first record is its declaration line, column 0.
    expect(lineOf(16)).toMatchObject({ line: 40, column: 0, text: 'u64 field_info(struct task_struct *p)' });
    expect(lineOf(40)).toMatchObject({ line: 63, column: 0 });
    for (const l of lines) expect(l.text).toBe(src[l.line - 1]);
    expect(cext.funcInfo.get('tc')!.map((f) => [f.insn, core.name(f.typeId)])).toEqual([
      [0, 'field_offsets'],
      [16, 'field_info'],
      [28, 'type_info'],
      [40, 'enum_info'],
    ]);
  });
});

/** A small hand-made BTF: int (1), ptr -> 1 (2), typedef T -> 2 (3). */
function tiny(): Uint8Array {
  const b = new BtfBuilder();
  const int = b.addInt('int', 4, { signed: true });
  const ptr = b.addPtr(int);
  b.addTypedef('T', ptr);
  return b.encode();
}

describe('corrupt .BTF fails with a one-line BtfError naming the byte', () => {
  const parse = (bytes: Uint8Array) => message(() => parseBtf(bytes, 'x.o: .BTF'));

  it('checks the header', () => {
    // tiny(): header 24 bytes, types 24..64 (int 16, ptr 12, typedef 12), strings 64..71.
    const good = tiny();
    expect(good.length).toBe(24 + 40 + 7);
    expect(parseBtf(good, 'x').count).toBe(4);
    expect(parse(good.slice(0, 10))).toBe('x.o: .BTF: BTF at byte 0: truncated: 10 bytes, the header needs 24');
    expect(parse(setU32(good, 0, 0x0001_1234))).toBe('x.o: .BTF: BTF at byte 0: magic 0x1234, expected 0xeb9f');
    expect(parse(setU32(good, 0, 0x0001_9feb))).toBe('x.o: .BTF: BTF at byte 0: big-endian BTF (magic 0xeb9f byte-swapped), expected little-endian as the BPF target writes');
    expect(parse(setU32(good, 0, 0x0002_eb9f))).toBe('x.o: .BTF: BTF at byte 2: version 2, expected 1');
    expect(parse(setU32(good, 0, 0x0101_eb9f))).toBe('x.o: .BTF: BTF at byte 3: flags 0x1, expected 0');
    expect(parse(setU32(good, 4, 100))).toBe('x.o: .BTF: BTF at byte 4: header length 100, expected 24..71');
    expect(parse(setU32(good, 8, 2))).toBe('x.o: .BTF: BTF at byte 8: type section offset 2 is not a multiple of 4');
    expect(parse(setU32(good, 12, 48))).toBe('x.o: .BTF: BTF at byte 8: type section (48 bytes at 24) runs past the end (71 bytes)');
    expect(parse(setU32(good, 20, 8))).toBe('x.o: .BTF: BTF at byte 16: string section (8 bytes at 64) runs past the end (71 bytes)');
    expect(parse(setU32(good, 16, 36))).toBe('x.o: .BTF: BTF at byte 16: string section (60..67) overlaps the type section (24..64)');
    expect(parse(setU32(good, 20, 0))).toBe('x.o: .BTF: BTF at byte 20: the string section is empty, expected at least the empty string');
    expect(parse(setU32(good, 20, 6))).toBe('x.o: .BTF: BTF at byte 69: the string section must end with a NUL byte');
    const noEmpty = good.slice();
    noEmpty[64] = 0x41;
    expect(parse(noEmpty)).toBe('x.o: .BTF: BTF at byte 64: the string section must start with the empty string (a NUL byte)');
  });

  it('checks type records', () => {
    const good = tiny();
    // Type 1 (int) starts at 24: name_off, info, size, then the int encoding at 36.
    expect(parse(setU32(good, 28, 25 << 24))).toBe('x.o: .BTF: BTF at byte 28: type 1: unknown kind 25, expected 1..19');
    expect(parse(setU32(good, 28, (1 << 24) | (1 << 20)))).toBe('x.o: .BTF: BTF at byte 28: type 1: reserved bits set in info 0x1100000');
    expect(parse(setU32(good, 24, 500))).toBe('x.o: .BTF: BTF at byte 24: string offset 500 is outside the string section (7 bytes)');
    expect(parse(setU32(good, 32, 3))).toBe('x.o: .BTF: BTF at byte 32: type 1 (int int): size 3, expected 1, 2, 4, 8 or 16');
    expect(parse(setU32(good, 36, 0x01000040))).toBe('x.o: .BTF: BTF at byte 36: type 1 (int int): 64 bits at bit 0 do not fit its 4 bytes');
    expect(parse(setU32(good, 36, 0x08000020))).toBe('x.o: .BTF: BTF at byte 36: type 1 (int int): unknown encoding bits in 0x8000020');
    // Type 2 (ptr) at 40 refers to type 1 through the word at 48.
    expect(parse(setU32(good, 48, 99))).toBe('x.o: .BTF: BTF at byte 40: type 2 (ptr): it refers to type 99, but the ids are 0..3');
    // Cutting the type section inside the typedef's record (52..64).
    const cut = setU32(setU32(good, 12, 36), 16, 40);
    expect(parse(cut)).toBe('x.o: .BTF: BTF at byte 52: truncated type 3: its header needs 12 bytes, 8 left in the type section');
    // A struct whose vlen promises more members than the section holds.
    const s = new BtfBuilder();
    s.addStruct('s', [{ name: 'a', type: s.addInt('int', 4) }]);
    const sb = s.encode(); // struct is type 2 at 40, its info word at 44
    expect(parse(setU32(sb, 44, (4 << 24) | 2))).toBe('x.o: .BTF: BTF at byte 40: truncated type 2 (struct s): its record needs 36 bytes, 24 left in the type section');
    expect(parse(setU32(sb, 60, 64))).toBe("x.o: .BTF: BTF at byte 60: type 2 (struct s): member 'a' at bit 64 lies outside its 4 bytes");
    expect(parse(setU32(sb, 56, 0))).toBe("x.o: .BTF: BTF at byte 40: type 2 (struct s): member 0 'a' is void");
  });

  it('rejects cycles and kinds that do not fit', () => {
    // encodeBtf writes whatever it is given, so it makes the malformed inputs.
    const t = (id: number, kind: BtfKindName, name: string, fill: Partial<BtfType> = {}): BtfType => ({ ...emptyType(id, kind, name), ...fill });
    const cyc = encodeBtf([t(0, 'void', ''), t(1, 'typedef', 'A', { type: 2 }), t(2, 'const', '', { type: 1 })]);
    expect(parse(cyc)).toBe('x.o: .BTF: BTF at byte 24: type 1 (typedef A): it is part of a reference cycle through typedefs, qualifiers or arrays');
    const arr = encodeBtf([t(0, 'void', ''), t(1, 'array', '', { elemType: 2 }), t(2, 'typedef', 'B', { type: 1 })]);
    expect(parse(arr)).toBe('x.o: .BTF: BTF at byte 24: type 1 (array): it is part of a reference cycle through typedefs, qualifiers or arrays');
    const fn = encodeBtf([t(0, 'void', ''), t(1, 'int', 'int', { size: 4, bits: 32 }), t(2, 'func', 'f', { type: 1 })]);
    expect(parse(fn)).toBe('x.o: .BTF: BTF at byte 40: type 2 (func f): its prototype is type 1 (int int), expected a func_proto');
    const sec = encodeBtf([t(0, 'void', ''), t(1, 'int', 'int', { size: 4, bits: 32 }), t(2, 'datasec', '.data', { vars: [{ type: 1, offset: 0, size: 4 }] })]);
    expect(parse(sec)).toBe('x.o: .BTF: BTF at byte 40: type 2 (datasec .data): variable 0 is type 1 (int int), expected a var or func');
    const tag = encodeBtf([t(0, 'void', ''), t(1, 'struct', 's', { size: 0 }), t(2, 'decl_tag', 'x', { type: 1, componentIdx: 0 })]);
    expect(parse(tag)).toBe('x.o: .BTF: BTF at byte 36: type 2 (decl_tag x): component index 0 is out of range for struct s (0 components)');
    const va = encodeBtf([t(0, 'void', ''), t(1, 'func_proto', '', { params: [{ name: '', type: 0 }, { name: '', type: 0 }] })]);
    expect(parse(va)).toBe("x.o: .BTF: BTF at byte 24: type 1 (func_proto): parameter 0 is void, only the last may be (for '...')");
    const link = encodeBtf([t(0, 'void', ''), t(1, 'int', 'int', { size: 4, bits: 32 }), t(2, 'var', 'v', { type: 1, linkage: 3 })]);
    expect(parse(link)).toBe('x.o: .BTF: BTF at byte 52: type 2 (var v): linkage 3, expected 0 (static), 1 (global) or 2 (extern)');
  });

  it('guards resolve and sizeOf against cycles in a Btf built from raw records', () => {
    const t = (id: number, kind: BtfKindName, fill: Partial<BtfType>): BtfType => ({ ...emptyType(id, kind, ''), ...fill });
    const btf = new Btf([emptyType(0, 'void', ''), t(1, 'typedef', { type: 2 }), t(2, 'volatile', { type: 1 }), t(3, 'array', { elemType: 4, nelems: 2 }), t(4, 'const', { type: 3 })], new Uint8Array(1), 'raw');
    expect(message(() => btf.resolve(1))).toBe('raw: type 1 (typedef (anon)) is part of a typedef/qualifier cycle');
    expect(message(() => btf.sizeOf(3))).toBe('raw: type 3 (array): its size depends on itself');
    expect(btf.describe(3)).toContain('...');
    expect(message(() => btf.typeById(-1))).toBe('raw: type id -1 is out of range (5 types, ids 0..4)');
    expect(message(() => btf.typeById(1.5))).toBe('raw: type id 1.5 is out of range (5 types, ids 0..4)');
  });
});

/** A .BTF.ext: header of `hdrLen` bytes, then the given categories' bytes back to back. */
function extOf(cats: { func?: Uint8Array; line?: Uint8Array; core?: Uint8Array }, hdrLen = 32): Uint8Array {
  const f = cats.func ?? new Uint8Array();
  const l = cats.line ?? new Uint8Array();
  const c = cats.core ?? new Uint8Array();
  const fields = [0, f.length, f.length, l.length, f.length + l.length, c.length].slice(0, (hdrLen - 8) / 4);
  const header = concat(words(0x0001eb9f, hdrLen, ...fields), new Uint8Array(Math.max(0, hdrLen - 8 - fields.length * 4)));
  return concat(header, f, l, c);
}

describe('.BTF.ext: forward compatibility and corruption', () => {
  // A BTF whose string table holds a section name, a file name and a line; type 3 is a func.
  const b = new BtfBuilder();
  const int = b.addInt('int', 4, { signed: true });
  const fn = b.addFunc('prog', b.addFuncProto(int, []));
  b.addTypedef('tc', int);
  b.addTypedef('f.c', int);
  b.addTypedef('return 0;', int);
  b.addTypedef('0:1', int);
  const btf = b.build();
  const off = (s: string) => {
    const text = new TextDecoder().decode(btf.strings);
    return text.split('\0').slice(0, text.split('\0').indexOf(s)).reduce((n, x) => n + x.length + 1, 0);
  };
  const [TC, FILE, LINE, ACC] = [off('tc'), off('f.c'), off('return 0;'), off('0:1')];
  const parse = (bytes: Uint8Array) => message(() => parseBtfExt(bytes, 'x.o: .BTF.ext', btf));

  it('reads records larger than it knows, and headers without core_relo', () => {
    expect(btf.stringAt(TC)).toBe('tc');
    // func_info records of 12 bytes (one unknown trailing word), line_info of 20.
    const func = words(12, TC, 2, 0, fn, 0xdead, 16, fn, 0xbeef);
    const line = words(20, TC, 1, 8, FILE, LINE, (7 << 10) | 3, 0xffff);
    const core = words(16, TC, 1, 8, int, ACC, 0);
    const ext = parseBtfExt(extOf({ func, line, core }), 'x', btf);
    expect(ext.funcInfo.get('tc')).toEqual([
      { insn: 0, typeId: fn },
      { insn: 2, typeId: fn },
    ]);
    expect(ext.lineInfo.get('tc')).toEqual([{ insn: 1, file: 'f.c', line: 7, column: 3, text: 'return 0;' }]);
    expect(ext.coreRelos.get('tc')).toEqual([{ insn: 1, typeId: int, access: '0:1', kind: 0 }]);
    // A 24-byte header predates CO-RE: no relocations, still valid.
    const old = parseBtfExt(extOf({ func, line }, 24), 'x', btf);
    expect(old.coreRelos.size).toBe(0);
    expect(old.lineInfo.get('tc')).toHaveLength(1);
    // A longer header (a future field) is skipped over.
    expect(parseBtfExt(extOf({ func, line, core }, 40), 'x', btf).coreRelos.get('tc')).toHaveLength(1);
    // Two blocks for one section are merged in order.
    const twice = words(8, TC, 1, 0, fn, TC, 1, 8, fn);
    expect(parseBtfExt(extOf({ func: twice }), 'x', btf).funcInfo.get('tc')!.map((r) => r.insn)).toEqual([0, 1]);
  });

  it('names what is wrong', () => {
    const func = words(8, TC, 1, 0, fn);
    const good = extOf({ func });
    expect(parseBtfExt(good, 'x', btf).funcInfo.get('tc')).toHaveLength(1);
    expect(parse(good.slice(0, 20))).toBe('x.o: .BTF.ext: BTF.ext at byte 0: truncated: 20 bytes, the header needs 24');
    expect(parse(setU32(good, 0, 0x00010000))).toBe('x.o: .BTF.ext: BTF.ext at byte 0: magic 0x0, expected 0xeb9f');
    expect(parse(setU32(good, 0, 0x00029feb))).toBe('x.o: .BTF.ext: BTF.ext at byte 0: big-endian BTF.ext (magic 0xeb9f byte-swapped), expected little-endian');
    expect(parse(setU32(good, 0, 0x0003eb9f))).toBe('x.o: .BTF.ext: BTF.ext at byte 2: version 3, expected 1');
    expect(parse(setU32(good, 4, 8))).toBe('x.o: .BTF.ext: BTF.ext at byte 4: header length 8, expected 24..52');
    expect(parse(setU32(good, 8, 2))).toBe('x.o: .BTF.ext: BTF.ext at byte 8: func_info offset 2 is not a multiple of 4');
    expect(parse(setU32(good, 12, 400))).toBe('x.o: .BTF.ext: BTF.ext at byte 8: func_info (400 bytes at 32) runs past the end (52 bytes)');
    expect(parse(setU32(good, 32, 4))).toBe('x.o: .BTF.ext: BTF.ext at byte 32: func_info record size 4, expected a multiple of 4 of at least 8');
    expect(parse(setU32(good, 32, 10))).toBe('x.o: .BTF.ext: BTF.ext at byte 32: func_info record size 10, expected a multiple of 4 of at least 8');
    expect(parse(setU32(good, 40, 3))).toBe("x.o: .BTF.ext: BTF.ext at byte 40: func_info for section 'tc': 3 records of 8 bytes run past the end of the func_info (8 bytes left)");
    expect(parse(setU32(good, 36, 9999))).toMatch(/^x\.o: \.BTF\.ext: BTF\.ext at byte 36: string offset 9999 is outside the BTF string section \(\d+ bytes\)$/);
    expect(parse(setU32(good, 44, 12))).toBe('x.o: .BTF.ext: BTF.ext at byte 44: instruction offset 12 is not a multiple of 8');
    expect(parse(setU32(good, 48, 99))).toBe(`x.o: .BTF.ext: BTF.ext at byte 48: func_info names type 99, but the ids are 0..${btf.count - 1}`);
    expect(parse(setU32(good, 48, int))).toBe(`x.o: .BTF.ext: BTF.ext at byte 48: func_info names type ${int} (int int), expected a func`);
    const trailing = extOf({ func: words(8, TC, 1, 0, fn, TC) });
    expect(parse(trailing)).toBe('x.o: .BTF.ext: BTF.ext at byte 52: truncated func_info section header: needs 8 bytes, 4 left');
    const core = (acc: number, kind: number) => extOf({ core: words(16, TC, 1, 0, int, acc, kind) });
    expect(parse(core(ACC, 13))).toBe('x.o: .BTF.ext: BTF.ext at byte 56: CO-RE relocation kind 13, expected 0..12');
    expect(parse(core(FILE, 0))).toBe("x.o: .BTF.ext: BTF.ext at byte 52: CO-RE access string 'f.c', expected colon-separated indices such as 0:1:2");
    expect(parse(core(0, 0))).toBe("x.o: .BTF.ext: BTF.ext at byte 52: CO-RE access string '', expected colon-separated indices such as 0:1:2");
    const line = extOf({ line: words(16, TC, 1, 0, 7777, LINE, 1 << 10) });
    expect(parse(line)).toMatch(/^x\.o: \.BTF\.ext: BTF\.ext at byte 48: string offset 7777 is outside/);
  });
});

describe('BtfBuilder', () => {
  it('builds a self-referencing task_struct and round-trips through encode', () => {
    const b = new BtfBuilder();
    const int = b.addInt('int', 4, { signed: true });
    const u64 = b.addTypedef('u64', b.addInt('unsigned long long', 8));
    const char = b.addInt('char', 1, { signed: true });
    const task = b.addStruct('task_struct'); // members later: it points to itself
    const taskPtr = b.addPtr(task);
    const scx = b.addStruct('sched_ext_entity', [
      { name: 'dsq_vtime', type: u64 },
      { name: 'slice', type: u64 },
      { name: 'weight', type: b.addTypedef('u32', b.addInt('unsigned int', 4)) },
    ]);
    b.setMembers(task, [
      { name: 'pid', type: int },
      { name: 'comm', type: b.addArray(char, 16) },
      { name: 'scx', type: scx },
      { name: 'parent', type: taskPtr },
      { name: 'prio', type: int, bitSize: 4 },
      { name: 'nice', type: int, bitSize: 5 },
    ]);
    const state = b.addEnum('task_state', [
      ['TASK_RUNNING', 0],
      ['TASK_DEAD', 16],
    ]);
    const big = b.addEnum64('big', [['HUGE', 1n << 40n]]);
    const neg = b.addEnum('neg', [['MINUS', -2]]);
    const proto = b.addFuncProto(int, [{ name: 'p', type: taskPtr }, { name: 'flags', type: u64 }]);
    const kfunc = b.addFunc('scx_bpf_task_cpu', proto, 'extern');
    const v = b.addVar('nr_cpus', b.addConst(b.addVolatile(int)));
    const sec = b.addDatasec('.rodata', [{ type: v, offset: 0 }]);
    b.addFwd('cpumask', 'union');
    b.addFloat('double', 8);
    b.addRestrict(taskPtr);
    b.addTypeTag('rcu', task);
    b.addDeclTag('arg', kfunc, 1);

    const built = b.build();
    expect(built.sizeOf(scx)).toBe(24);
    expect(members(built, task)).toEqual([
      ['pid', 0, 0, 'int'],
      ['comm', 32, 0, 'char[16]'],
      ['scx', 24 * 8, 0, 'struct sched_ext_entity'],
      ['parent', 48 * 8, 0, 'struct task_struct *'],
      ['prio', 56 * 8, 4, 'int'],
      ['nice', 56 * 8 + 4, 5, 'int'],
    ]);
    expect(built.sizeOf(task)).toBe(64);
    expect(built.typeById(state).values.map((x) => x.value)).toEqual([0n, 16n]);
    expect(built.typeById(neg)).toMatchObject({ encoding: 1, kindFlag: true, values: [{ name: 'MINUS', value: -2n }] });
    expect(built.typeById(big).values[0].value).toBe(1n << 40n);
    expect(built.typeById(sec).vars).toEqual([{ type: v, offset: 0, size: 4 }]);
    expect(built.typeById(sec).size).toBe(4);
    expect(built.typeById(kfunc).linkage).toBe(LINKAGE_EXTERN);
    expect(built.describe(kfunc)).toBe('int scx_bpf_task_cpu(struct task_struct *, u64)');
    expect(built.findByName('struct', 'task_struct')).toBe(task);
    expect(built.stringAt(1)).toBe('int');

    const parsed = parseBtf(b.encode(), 'built');
    expect(parsed.types).toEqual(built.types);
    expect(parsed.strings).toEqual(built.strings);
    // The snapshot is independent of later additions.
    b.addInt('late', 4);
    expect(built.count).toBe(parsed.count);
  });

  it('lays out members exactly as clang does for the fixture struct', () => {
    const clang = parseBtf(TYPES_BTF, 'types.btf');
    const outer = clang.typeById(idOf(clang, 'struct', 'outer'));
    // Lay struct outer out again from clang's own member types, giving no offsets.
    const b = BtfBuilder.from(clang);
    const laid = b.addStruct(
      'outer2',
      outer.members.map((m) => ({ name: m.name, type: m.type, bitSize: m.bitSize || undefined })),
    );
    const built = b.build();
    expect(built.typeById(laid).members).toEqual(outer.members);
    expect(built.typeById(laid).size).toBe(outer.size);
    const task = parseBtf(CORE_BTF, 'core.btf');
    const t = task.typeById(idOf(task, 'struct', 'task_struct'));
    const b2 = BtfBuilder.from(task);
    const laid2 = b2.addStruct('t2', t.members.map((m) => ({ name: m.name, type: m.type, bitSize: m.bitSize || undefined })));
    expect(b2.build().typeById(laid2)).toMatchObject({ members: t.members, size: t.size });
    // A builder started from clang output indexes new arrays by clang's __ARRAY_SIZE_TYPE__.
    const arr = b2.addArray(laid2, 2);
    expect(b2.build().typeById(arr).indexType).toBe(idOf(task, 'int', '__ARRAY_SIZE_TYPE__'));
  });

  it('starts a bitfield in a new unit when it would straddle one', () => {
    // Offsets as clang-19 lays out (BTF of `struct { u32 a:30; u32 b:4; u8 c:3; u8 d:6; u32 e; }`):
    // b does not fit the 2 bits left of a's u32, d not the 1 bit left of c's byte.
    const b = new BtfBuilder();
    const u32 = b.addTypedef('u32', b.addInt('unsigned int', 4));
    const u8 = b.addTypedef('u8', b.addInt('unsigned char', 1));
    const s = b.addStruct('straddle', [
      { name: 'a', type: u32, bitSize: 30 },
      { name: 'b', type: u32, bitSize: 4 },
      { name: 'c', type: u8, bitSize: 3 },
      { name: 'd', type: u8, bitSize: 6 },
      { name: 'e', type: u32 },
    ]);
    const btf = b.build();
    expect(members(btf, s).map(([name, off, bits]) => [name, off, bits])).toEqual([
      ['a', 0, 30],
      ['b', 32, 4],
      ['c', 36, 3],
      ['d', 40, 6],
      ['e', 64, 0],
    ]);
    expect(btf.sizeOf(s)).toBe(12);
  });

  it('re-encodes clang output type for type', () => {
    for (const bytes of [TYPES_BTF, CORE_BTF]) {
      const btf = parseBtf(bytes, 'fixture');
      const again = parseBtf(encodeBtf(btf.types), 'again');
      expect(again.types).toEqual(btf.types);
      for (let id = 0; id < btf.count; id++) expect(again.describe(id)).toBe(btf.describe(id));
    }
  });

  it('keeps explicit offsets and sizes, and unions overlap', () => {
    const b = new BtfBuilder();
    const u8 = b.addInt('u8', 1);
    const u64 = b.addInt('u64', 8);
    const fwd = b.addFwd('later');
    const s = b.addStruct('padded', [
      { name: 'a', type: u8, offset: 4 },
      { name: 'p', type: b.addPtr(fwd), offset: 8 },
    ], 32);
    const u = b.addUnion('u', [
      { name: 'x', type: u8 },
      { name: 'y', type: u64 },
    ]);
    const auto = b.addStruct('auto', [
      { name: 'a', type: u8 },
      { name: 'b', type: u64 },
      { name: 'c', type: u8 },
    ]);
    const btf = b.build();
    expect(members(btf, s)).toEqual([
      ['a', 32, 0, 'u8'],
      ['p', 64, 0, 'struct later *'],
    ]);
    expect(btf.sizeOf(s)).toBe(32);
    expect(members(btf, u).map((m) => m[1])).toEqual([0, 0]);
    expect(btf.sizeOf(u)).toBe(8);
    expect(members(btf, auto).map((m) => m[1])).toEqual([0, 64, 128]);
    expect(btf.sizeOf(auto)).toBe(24);
    expect(btf.typeById(btf.typeById(s).members[1].type).kind).toBe('ptr');
  });

  it('reports bad references and values as BtfErrors', () => {
    const b = new BtfBuilder();
    const int = b.addInt('int', 4);
    b.addPtr(42);
    expect(message(() => b.build())).toBe('BtfBuilder: type 2 (ptr): it refers to type 42, but the ids are 0..2');
    expect(message(() => b.encode())).toBe('BtfBuilder: type 2 (ptr): it refers to type 42, but the ids are 0..2');
    expect(message(() => new BtfBuilder().addInt('i', 3))).toBe("BtfBuilder: int 'i': size 3, expected 1, 2, 4, 8 or 16");
    expect(message(() => new BtfBuilder().addEnum('e', [['BIG', 1n << 33n]]))).toBe("BtfBuilder: enum 'e': value BIG = 8589934592 does not fit unsigned 32 bits");
    expect(message(() => b.setMembers(int, []))).toBe('BtfBuilder: type 1 is not a struct or union');
    const c = new BtfBuilder();
    const fwd = c.addFwd('opaque');
    expect(message(() => c.addStruct('s', [{ name: 'x', type: fwd }]))).toBe('BtfBuilder: type 1 (fwd opaque) has no layout (incomplete or not a data type)');
    const e = new BtfBuilder();
    const self = e.addStruct('self');
    expect(message(() => e.setMembers(self, [{ name: 'me', type: e.addArray(self, 2) }]))).toBe('BtfBuilder: type 1 (struct self) contains itself');
    const f = new BtfBuilder();
    const arr = f.addArray(2, 2, 0); // elements of type 2, the typedef of the array itself
    f.addTypedef('loop', arr);
    f.addStruct('s', []);
    expect(message(() => f.setMembers(3, [{ name: 'x', type: arr }]))).toBe('BtfBuilder: type 1 (array) contains itself');
    const d = new BtfBuilder();
    const td = d.addTypedef('loop', 2);
    d.addConst(td);
    expect(message(() => d.build())).toBe('BtfBuilder: type 1 (typedef loop): it is part of a reference cycle through typedefs, qualifiers or arrays');
    const g = new BtfBuilder();
    const huge = g.addArray(g.addArray(g.addInt('u64', 8), 0xffffffff), 0xffffffff);
    expect(message(() => g.sizeOf(huge))).toBe(`BtfBuilder: type ${huge} (array): its size overflows`);
  });
});

describe('fuzzing: corrupt input gives a BtfError or a usable Btf, never anything else', () => {
  /** Parse and then exercise every query, as consumers would. */
  function exercise(btfBytes: Uint8Array, extBytes: Uint8Array): string {
    try {
      const btf = parseBtf(btfBytes, 'fuzz');
      for (let id = 0; id < btf.count; id++) {
        btf.resolve(id);
        btf.sizeOf(id);
        btf.describe(id);
        btf.type(id);
        btf.name(id);
      }
      parseBtfExt(extBytes, 'fuzz', btf);
      return 'ok';
    } catch (e) {
      if (!(e instanceof BtfError)) throw new Error(`not a BtfError: ${(e as Error).stack}`);
      expect(e.message).toMatch(/^fuzz: /);
      expect(e.message).not.toContain('\n');
      return e.message.replace(/\d+|0x[0-9a-f]+|'[^']*'/g, 'N').slice(0, 70);
    }
  }

  const mutation = (len: number) =>
    fc.record({
      edits: fc.array(fc.tuple(fc.nat(len - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      cut: fc.option(fc.nat(len), { nil: undefined, freq: 5 }),
    });
  const mutate = (orig: Uint8Array, { edits, cut }: { edits: [number, number][]; cut?: number }) => {
    const bytes = orig.slice(0, cut ?? orig.length);
    for (const [at, v] of edits) if (at < bytes.length) bytes[at] = v;
    return bytes;
  };

  for (const [name, btfBytes, extBytes] of [
    ['types', TYPES_BTF, TYPES_EXT],
    ['core', CORE_BTF, CORE_EXT],
  ] as const) {
    it(`mutated ${name}.btf`, () => {
      const outcomes = new Map<string, number>();
      fc.assert(
        fc.property(mutation(btfBytes.length), (m) => {
          const r = exercise(mutate(btfBytes, m), extBytes);
          outcomes.set(r, (outcomes.get(r) ?? 0) + 1);
        }),
        { numRuns: 2500, seed: 7 },
      );
      // The edits reach past the header: varied failures, and many still parse.
      expect(outcomes.size).toBeGreaterThan(10);
      expect(outcomes.get('ok') ?? 0).toBeGreaterThan(100);
    });

    it(`mutated ${name}.btf.ext`, () => {
      const outcomes = new Map<string, number>();
      fc.assert(
        fc.property(mutation(extBytes.length), (m) => {
          const r = exercise(btfBytes, mutate(extBytes, m));
          outcomes.set(r, (outcomes.get(r) ?? 0) + 1);
        }),
        { numRuns: 1500, seed: 8 },
      );
      expect(outcomes.size).toBeGreaterThan(5);
    });
  }

  it('random word-level edits of the type section', () => {
    // Whole 32-bit words hit kinds, vlens and type ids more often than single bytes do.
    const words32 = (TYPES_BTF.length - 24) >> 2;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(words32 - 1), fc.oneof(fc.nat(200), fc.integer({ min: 0, max: 0xffffffff }))), { minLength: 1, maxLength: 3 }), (edits) => {
        const bytes = TYPES_BTF.slice();
        for (const [w, v] of edits) new DataView(bytes.buffer).setUint32(24 + w * 4, v >>> 0, true);
        exercise(bytes, TYPES_EXT);
      }),
      { numRuns: 2000, seed: 9 },
    );
  });
});

describe.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))("this machine's kernel BTF", () => {
  it('parses, and every type resolves and describes', () => {
    const btf = parseBtf(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux')), '/sys/kernel/btf/vmlinux');
    expect(btf.count).toBeGreaterThan(10_000);
    const task = btf.findByName('struct', 'task_struct');
    expect(task).toBeDefined();
    expect(btf.sizeOf(task!)).toBeGreaterThan(1000);
    for (let id = 0; id < btf.count; id++) {
      btf.sizeOf(id);
      btf.describe(id);
    }
  });
});
