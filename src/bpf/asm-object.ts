/**
 * A whole sched_ext scheduler in assembler text: directives declare what clang would emit for a
 * C scheduler, and writeObject() produces a BPF ELF relocatable object that the loader takes as
 * it takes clang's (programs by SEC() name, BTF-defined maps, `.struct_ops.link` with callback
 * relocations, kfuncs as undefined symbols with BTF externs in `.ksyms`, `license`).
 *
 * Directives (one per line; `#` starts a comment outside quotes):
 *
 *   .license "GPL"
 *       The `license` section (`char _license[] SEC("license")`).
 *   .map NAME TYPE [key=SIZE] [value=SIZE] max=N [flags=N]
 *       A BTF-defined map in `.maps`: TYPE is a BPF_MAP_TYPE_ name in lower case without the
 *       prefix (array, hash, percpu_array, queue, ringbuf, ...), key and value sizes in bytes
 *       (left out for maps without keys or values), max_entries, map_flags.
 *   .program NAME [sleepable]
 *       Starts program NAME in section `struct_ops/NAME` (`struct_ops.s/NAME` if sleepable);
 *       the instructions up to the next `.program` are its code. Labels are local to a program.
 *   .ops NAME MEMBER=VALUE ...
 *       A `struct sched_ext_ops` variable in `.struct_ops.link`: a callback member names a
 *       program (`enqueue=my_enqueue`); data members take numbers (`flags=`, `timeout_ms=`,
 *       `dispatch_max_batch=`, `exit_dump_len=`, `hotplug_seq=`) or, for `name=`, a quoted
 *       string. Several `.ops` lines with the same NAME add to one variable.
 *
 * In code, besides everything asm.ts assembles: `lddw %rN, map NAME` (R_BPF_64_64 against the
 * map's symbol) and `call kfunc NAME` (R_BPF_64_32 against an undefined global symbol, with a
 * BTF FUNC extern in a `.ksyms` DATASEC). `.BTF` describes the maps, the ops type, the programs
 * and every DATASEC; `.BTF.ext` maps each instruction to its line of the `.s` file, so verifier
 * rejections and run-time faults name `FILE.s:LINE`. Errors are AsmErrors:
 * `FILE:LINE:COL: expected ..., found ...`.
 */
import { basename } from 'node:path';
import { AsmError, Assembler, parseInteger, type SymbolRef } from './asm.ts';
import { BtfBuilder, type FuncRecord, type LineRecord } from './btf.ts';
import { encodeBtfExt, withStrings } from './btf-ext-write.ts';
import { R_BPF_64_32, R_BPF_64_64, R_BPF_64_ABS64, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHN_ABS, SHN_UNDEF, SHT_PROGBITS, STB_GLOBAL, STB_LOCAL, STT_FUNC, STT_NOTYPE, STT_OBJECT } from './elf.ts';
import { ElfWriter, type RelocationSpec } from './elf-write.ts';
import { encode, type Insn } from './isa.ts';
import { MapType } from './maps/map.ts';

const STT_FILE = 4;
const DIRECTIVES = new Set(['.license', '.map', '.program', '.ops']);
const IDENT = /^[A-Za-z_]\w*$/;

/**
 * `struct sched_ext_ops` as vmlinux.h declares it for 6.12: the callbacks, then the data members.
 * The loader and the core match members by name, so this only has to be a layout clang could
 * have produced; the callbacks' real prototypes come from the simulated kernel.
 */
export const SCHED_EXT_OPS_CALLBACKS: readonly string[] = [
  'select_cpu', 'enqueue', 'dequeue', 'dispatch', 'tick', 'runnable', 'running', 'stopping', 'quiescent', 'yield',
  'core_sched_before', 'set_weight', 'set_cpumask', 'update_idle', 'cpu_acquire', 'cpu_release', 'init_task', 'exit_task',
  'enable', 'disable', 'dump', 'dump_cpu', 'dump_task', 'cgroup_init', 'cgroup_exit', 'cgroup_prep_move', 'cgroup_move',
  'cgroup_cancel_move', 'cgroup_set_weight', 'cpu_online', 'cpu_offline', 'init', 'exit',
];
const OPS_DATA: readonly { name: string; size: number }[] = [
  { name: 'dispatch_max_batch', size: 4 },
  { name: 'flags', size: 8 },
  { name: 'timeout_ms', size: 4 },
  { name: 'exit_dump_len', size: 4 },
  { name: 'hotplug_seq', size: 8 },
];
const OPS_NAME_LEN = 128;

/** Member offsets by C layout: pointers and integers naturally aligned, the name last. */
const OPS_LAYOUT = (() => {
  const members = new Map<string, { offset: number; size: number }>();
  let off = 0;
  for (const cb of SCHED_EXT_OPS_CALLBACKS) {
    members.set(cb, { offset: off, size: 8 });
    off += 8;
  }
  for (const d of OPS_DATA) {
    off = Math.ceil(off / d.size) * d.size;
    members.set(d.name, { offset: off, size: d.size });
    off += d.size;
  }
  members.set('name', { offset: off, size: OPS_NAME_LEN });
  return { members, size: Math.ceil((off + OPS_NAME_LEN) / 8) * 8 };
})();

export interface AsmMap {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

export interface AsmProgram {
  name: string;
  sleepable: boolean;
  section: string;
  insns: Insn[];
  /** Source position of each instruction (by its first slot). */
  lines: { insn: number; line: number; column: number; text: string }[];
  refs: SymbolRef[];
}

export interface AsmOps {
  name: string;
  /** Callback member -> program. */
  callbacks: Map<string, string>;
  /** Data member -> value (a string for `name`). */
  fields: Map<string, bigint | string>;
}

/** An object source after parsing: what writeObject() lays out. */
export interface AsmObject {
  /** File name recorded in line info (the source's base name, so objects do not depend on where they were built). */
  sourceName: string;
  license?: string;
  maps: AsmMap[];
  programs: AsmProgram[];
  ops: AsmOps[];
}

export interface AsmObjectOptions {
  /** The source's path, for errors; its base name goes into line info. */
  file?: string;
}

/** Whether `source` uses object directives (else it is a plain program for assemble()). */
export function isObjectSource(source: string): boolean {
  return source.split('\n').some((l) => {
    const m = /^\s*(\.[A-Za-z_]+)(?:\s|$)/.exec(stripComment(l));
    return m !== null && DIRECTIVES.has(m[1]);
  });
}

/** Assemble an object source into the bytes of a BPF ELF object. */
export function assembleObject(source: string, options: AsmObjectOptions = {}): Uint8Array {
  return writeObject(parseObject(source, options));
}

interface Token {
  text: string;
  col: number;
  /** `key=value` split, with a quoted value unquoted. */
  key?: string;
  value?: string;
  valueCol?: number;
  /** The value (or the whole token) was a quoted string. */
  quoted?: boolean;
}

function quote(s: string): string {
  return `'${s}'`;
}

/** The line without its `#` comment; a `#` inside double quotes is kept. */
function stripComment(line: string): string {
  let inQuote = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inQuote && ch === '\\') i++;
    else if (ch === '"') inQuote = !inQuote;
    else if (ch === '#' && !inQuote) return line.slice(0, i);
  }
  return line;
}

class ObjectParser {
  line = 0;
  readonly obj: AsmObject;
  private current: { prog: AsmProgram; asm: Assembler; line: number } | undefined;
  /** Where each name was defined (programs, maps and ops share the ELF symbol namespace). */
  private readonly defined = new Map<string, number>();
  private readonly opsRefs: { ops: string; member: string; program: string; line: number; col: number }[] = [];
  private readonly opsSeen = new Map<string, Set<string>>();
  private licenseLine = 0;

  constructor(readonly file: string) {
    this.obj = { sourceName: basename(file), maps: [], programs: [], ops: [] };
  }

  fail(col: number, expected: string, found: string, line = this.line): never {
    throw new AsmError(this.file, line, col, expected, found);
  }

  parseLine(raw: string): void {
    const text = stripComment(raw.replace(/\r$/, ''));
    const m = /^(\s*)(\.[A-Za-z_]+)(?=\s|$)/.exec(text);
    if (m && DIRECTIVES.has(m[2])) {
      const col = m[1].length + 1;
      const tokens = this.tokenize(text.slice(m[0].length), m[0].length + 1);
      switch (m[2]) {
        case '.license':
          return this.license(tokens, col);
        case '.map':
          return this.map(tokens, col);
        case '.program':
          return this.program(tokens, col);
        case '.ops':
          return this.ops(tokens, col);
      }
    }
    if (text.trim() === '') return;
    if (!this.current) {
      const lead = text.length - text.trimStart().length;
      this.fail(lead + 1, 'a .program directive before the first instruction or label', quote(text.trim().split(/\s+/)[0]));
    }
    const { asm, prog } = this.current;
    asm.line = this.line;
    const before = asm.slots.length;
    asm.assembleLine(raw);
    if (asm.slots.length > before) {
      prog.lines.push({ insn: before, line: this.line, column: asm.mnemonicCol, text: raw.replace(/\r$/, '') });
    }
  }

  /** Words, `"strings"` and `key=value` / `key="string"` pairs, with their columns. */
  private tokenize(text: string, startCol: number): Token[] {
    const tokens: Token[] = [];
    let i = 0;
    while (i < text.length) {
      if (/\s/.test(text[i])) {
        i++;
        continue;
      }
      const begin = i;
      let keyEnd = -1;
      let value = '';
      let quoted = false;
      let valueStart = -1;
      while (i < text.length && !/\s/.test(text[i])) {
        if (text[i] === '=' && keyEnd < 0 && !quoted) {
          keyEnd = i;
          valueStart = i + 1;
          i++;
          continue;
        }
        if (text[i] === '"' && (i === begin || i === valueStart)) {
          // A quoted string: up to the closing quote, with \" and \\ escapes.
          quoted = true;
          i++;
          let s = '';
          while (i < text.length && text[i] !== '"') {
            if (text[i] === '\\' && i + 1 < text.length) i++;
            s += text[i++];
          }
          if (i >= text.length) this.fail(startCol + i, 'a closing double quote', 'end of line');
          i++;
          value = s;
          if (i < text.length && !/\s/.test(text[i])) this.fail(startCol + i, 'white space after a quoted string', quote(text[i]));
          break;
        }
        if (valueStart < 0 || i >= valueStart) value += text[i];
        i++;
      }
      const raw = text.slice(begin, i);
      const tok: Token = { text: raw, col: startCol + begin, quoted };
      if (keyEnd >= 0) {
        tok.key = text.slice(begin, keyEnd);
        tok.value = quoted ? value : text.slice(valueStart, i);
        tok.valueCol = startCol + valueStart;
      } else if (quoted) tok.value = value;
      tokens.push(tok);
    }
    return tokens;
  }

  private endCol(tokens: Token[], col: number, directive: string): number {
    const last = tokens[tokens.length - 1];
    return last ? last.col + last.text.length : col + directive.length;
  }

  private name(tok: Token | undefined, what: string, afterCol: number): string {
    if (!tok) this.fail(afterCol, what, 'end of line');
    if (tok.key !== undefined || tok.quoted || !IDENT.test(tok.text)) this.fail(tok.col, what, quote(tok.text));
    return tok.text;
  }

  private define(name: string, col: number): void {
    const at = this.defined.get(name);
    if (at !== undefined) this.fail(col, `a name not defined before (line ${at} defines '${name}')`, quote(name));
    this.defined.set(name, this.line);
  }

  private number(tok: Token, bits: 32 | 64, what: string): bigint {
    const text = tok.value ?? tok.text;
    const col = tok.valueCol ?? tok.col;
    const v = tok.quoted ? null : parseInteger(text);
    if (v === null || v < 0n || v >= 1n << BigInt(bits)) this.fail(col, `${what} (an unsigned ${bits}-bit number)`, quote(text || 'nothing'));
    return v;
  }

  private license(tokens: Token[], col: number): void {
    if (this.licenseLine) this.fail(col, `one .license (line ${this.licenseLine} has it)`, "a second '.license'");
    const t = tokens[0];
    if (!t || !t.quoted || t.key !== undefined) this.fail(t?.col ?? col + 9, 'a quoted license string such as "GPL"', t ? quote(t.text) : 'end of line');
    if (tokens[1]) this.fail(tokens[1].col, 'end of line after the license', quote(tokens[1].text));
    this.obj.license = t.value!;
    this.licenseLine = this.line;
  }

  private map(tokens: Token[], col: number): void {
    const name = this.name(tokens[0], 'a map name', col + 5);
    this.define(name, tokens[0].col);
    const typeTok = tokens[1];
    const types = Object.keys(MapType).map((k) => k.toLowerCase());
    if (!typeTok) this.fail(this.endCol(tokens, col, '.map'), 'a map type (array, hash, percpu_array, queue, ringbuf, ...)', 'end of line');
    const type = types.indexOf(typeTok.text);
    if (typeTok.key !== undefined || type <= 0) this.fail(typeTok.col, 'a map type (array, hash, percpu_array, queue, ringbuf, ...)', quote(typeTok.text));
    const attrs = new Map<string, bigint>();
    for (const t of tokens.slice(2)) {
      if (t.key === undefined || !['key', 'value', 'max', 'flags'].includes(t.key)) {
        this.fail(t.col, 'a map attribute key=, value=, max= or flags=', quote(t.text));
      }
      if (attrs.has(t.key)) this.fail(t.col, `${t.key}= once`, `a second ${quote(t.key + '=')}`);
      attrs.set(t.key, this.number(t, 32, `a ${t.key === 'max' ? 'max_entries' : t.key === 'flags' ? 'map_flags' : `${t.key} size in bytes`}`));
    }
    if (!attrs.has('max')) this.fail(this.endCol(tokens, col, '.map'), 'max=N (max_entries)', 'end of line');
    this.obj.maps.push({
      name,
      type,
      keySize: Number(attrs.get('key') ?? 0n),
      valueSize: Number(attrs.get('value') ?? 0n),
      maxEntries: Number(attrs.get('max')),
      flags: Number(attrs.get('flags') ?? 0n),
    });
  }

  private program(tokens: Token[], col: number): void {
    this.endProgram();
    const name = this.name(tokens[0], 'a program name', col + 9);
    this.define(name, tokens[0].col);
    let sleepable = false;
    if (tokens[1]) {
      if (tokens[1].text !== 'sleepable') this.fail(tokens[1].col, "'sleepable' or end of line", quote(tokens[1].text));
      sleepable = true;
    }
    if (tokens[2]) this.fail(tokens[2].col, 'end of line', quote(tokens[2].text));
    const prog: AsmProgram = { name, sleepable, section: `${sleepable ? 'struct_ops.s' : 'struct_ops'}/${name}`, insns: [], lines: [], refs: [] };
    this.current = { prog, asm: new Assembler(this.file, true), line: this.line };
  }

  private endProgram(): void {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    const insns = cur.asm.finish();
    if (insns.length === 0) this.fail(1, `instructions for program '${cur.prog.name}'`, 'none', cur.line);
    cur.prog.insns = insns;
    cur.prog.refs = cur.asm.refs;
    this.obj.programs.push(cur.prog);
  }

  private ops(tokens: Token[], col: number): void {
    const name = this.name(tokens[0], 'a struct_ops variable name', col + 5);
    let ops = this.obj.ops.find((o) => o.name === name);
    if (!ops) {
      this.define(name, tokens[0].col);
      ops = { name, callbacks: new Map(), fields: new Map() };
      this.obj.ops.push(ops);
      this.opsSeen.set(name, new Set());
    }
    const seen = this.opsSeen.get(name)!;
    if (tokens.length === 1) this.fail(this.endCol(tokens, col, '.ops'), 'MEMBER=VALUE (a callback=program, name="..." or a data member)', 'end of line');
    for (const t of tokens.slice(1)) {
      const member = t.key;
      if (member === undefined || !OPS_LAYOUT.members.has(member)) {
        this.fail(t.col, `a sched_ext_ops member (${SCHED_EXT_OPS_CALLBACKS.slice(0, 4).join(', ')}, ..., ${OPS_DATA.map((d) => d.name).join(', ')}, name) as MEMBER=VALUE`, quote(t.text));
      }
      if (seen.has(member)) this.fail(t.col, `each member of '${name}' set once`, `a second ${quote(member)}`);
      seen.add(member);
      const valueCol = t.valueCol!;
      if (SCHED_EXT_OPS_CALLBACKS.includes(member)) {
        if (t.quoted || !IDENT.test(t.value!)) this.fail(valueCol, `a program name for callback ${quote(member)}`, quote(t.value || 'nothing'));
        ops.callbacks.set(member, t.value!);
        this.opsRefs.push({ ops: name, member, program: t.value!, line: this.line, col: valueCol });
      } else if (member === 'name') {
        const bytes = new TextEncoder().encode(t.value);
        if (!t.quoted) this.fail(valueCol, 'a quoted name such as "mine"', quote(t.value || 'nothing'));
        if (bytes.length >= OPS_NAME_LEN) this.fail(valueCol, `a name of at most ${OPS_NAME_LEN - 1} bytes`, `${bytes.length} bytes`);
        ops.fields.set('name', t.value!);
      } else {
        const size = OPS_LAYOUT.members.get(member)!.size;
        ops.fields.set(member, this.number(t, size === 8 ? 64 : 32, `a value for ${member}`));
      }
    }
  }

  /** After the last line: close the last program and check every name used was defined. */
  finish(lastLine: number): AsmObject {
    this.line = lastLine;
    this.endProgram();
    if (this.obj.programs.length === 0) this.fail(1, 'at least one .program', 'none');
    const maps = new Set(this.obj.maps.map((m) => m.name));
    for (const p of this.obj.programs) {
      for (const r of p.refs) {
        if (r.kind === 'map' && !maps.has(r.name)) this.fail(r.col, 'a map declared with .map', quote(r.name), r.line);
        if (r.kind === 'kfunc' && this.defined.has(r.name)) this.fail(r.col, 'a kfunc name (not one defined in this file)', quote(r.name), r.line);
      }
    }
    const programs = new Set(this.obj.programs.map((p) => p.name));
    for (const r of this.opsRefs) {
      if (!programs.has(r.program)) this.fail(r.col, `a program defined with .program for ${r.ops}.${r.member}`, quote(r.program), r.line);
    }
    return this.obj;
  }
}

/** Parse an object source. @throws AsmError naming file, line and column. */
export function parseObject(source: string, options: AsmObjectOptions = {}): AsmObject {
  const parser = new ObjectParser(options.file ?? '<asm>');
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    parser.line = i + 1;
    parser.parseLine(lines[i]);
  }
  return parser.finish(lines.length);
}

/** Lay out a parsed object as a BPF ELF relocatable object with `.BTF` and `.BTF.ext`. */
export function writeObject(obj: AsmObject): Uint8Array {
  const elf = new ElfWriter();
  const btf = new BtfBuilder();
  const int = btf.addInt('int', 4, { signed: true });
  const uints = new Map<number, number>([
    [1, btf.addInt('unsigned char', 1)],
    [2, btf.addInt('unsigned short', 2)],
    [4, btf.addInt('unsigned int', 4)],
    [8, btf.addInt('unsigned long long', 8)],
  ]);
  const u64 = uints.get(8)!;
  const char = btf.addInt('char', 1, { signed: true, char: true });

  elf.addSymbol({ name: obj.sourceName, value: 0, size: 0, type: STT_FILE, bind: STB_LOCAL, shndx: SHN_ABS });

  // Kfuncs: one undefined global symbol each, in order of first use.
  const kfuncSyms = new Map<string, number>();
  for (const p of obj.programs) {
    for (const r of p.refs) {
      if (r.kind === 'kfunc' && !kfuncSyms.has(r.name)) {
        kfuncSyms.set(r.name, elf.addSymbol({ name: r.name, value: 0, size: 0, type: STT_NOTYPE, bind: STB_GLOBAL, shndx: SHN_UNDEF }));
      }
    }
  }

  // Maps: `struct { __uint(type, T); __type(key, K); __type(value, V); __uint(max_entries, N); } NAME SEC(".maps")`.
  const uintMember = (name: string, n: number) => ({ name, type: btf.addPtr(btf.addArray(int, n)) });
  const sizedType = (size: number) => uints.get(size) ?? btf.addArray(uints.get(1)!, size);
  const mapVars: { type: number; offset: number; size: number }[] = [];
  const mapOffsets = new Map<string, { offset: number; size: number }>();
  let mapsSize = 0;
  for (const m of obj.maps) {
    const members = [uintMember('type', m.type)];
    if (m.keySize) members.push({ name: 'key', type: btf.addPtr(sizedType(m.keySize)) });
    if (m.valueSize) members.push({ name: 'value', type: btf.addPtr(sizedType(m.valueSize)) });
    members.push(uintMember('max_entries', m.maxEntries));
    if (m.flags) members.push(uintMember('map_flags', m.flags));
    const def = btf.addStruct('', members.map((x, i) => ({ ...x, offset: 8 * i })), 8 * members.length);
    const size = 8 * members.length;
    mapVars.push({ type: btf.addVar(m.name, def), offset: mapsSize, size });
    mapOffsets.set(m.name, { offset: mapsSize, size });
    mapsSize += size;
  }

  // Programs: `int NAME(unsigned long long *ctx)`, as BPF_STRUCT_OPS declares them.
  const progProto = btf.addFuncProto(int, [{ name: 'ctx', type: btf.addPtr(u64) }]);
  const funcInfo = new Map<string, FuncRecord[]>();
  const lineInfo = new Map<string, LineRecord[]>();
  const progSyms = new Map<string, number>();
  const pendingMapRelocs: { section: number; relocs: { offset: number; type: number; map: string; kfunc?: string }[] }[] = [];
  for (const p of obj.programs) {
    const code = encode(p.insns);
    const sec = elf.addSection({ name: p.section, type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, data: code, align: 8 });
    progSyms.set(p.name, elf.addSymbol({ name: p.name, value: 0, size: code.length, type: STT_FUNC, bind: STB_GLOBAL, shndx: sec }));
    funcInfo.set(p.section, [{ insn: 0, typeId: btf.addFunc(p.name, progProto, 'global') }]);
    lineInfo.set(p.section, p.lines.map((l) => ({ insn: l.insn, file: obj.sourceName, line: l.line, column: l.column, text: l.text })));
    // Relocations are written once the map symbols exist (with .maps, below).
    pendingMapRelocs.push({
      section: sec,
      relocs: p.refs.map((r) => ({ offset: r.slot * 8, type: r.kind === 'map' ? R_BPF_64_64 : R_BPF_64_32, map: r.kind === 'map' ? r.name : '', kfunc: r.kind === 'kfunc' ? r.name : undefined })),
    });
  }

  // The rest of the data sections; relocation sections go after all of them.
  const licenseBytes = obj.license === undefined ? undefined : new TextEncoder().encode(obj.license + '\0');
  const datasecs: { name: string; vars: { type: number; offset: number; size: number }[]; size: number }[] = [];
  const sectionRelocs: { index: number; relocs: RelocationSpec[] }[] = [];

  let licenseSec = 0;
  if (licenseBytes) {
    licenseSec = elf.addSection({ name: 'license', type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_WRITE, data: licenseBytes, align: 1 });
    const arr = btf.addArray(char, licenseBytes.length);
    datasecs.push({ name: 'license', vars: [{ type: btf.addVar('_license', arr), offset: 0, size: licenseBytes.length }], size: licenseBytes.length });
  }
  const mapSyms = new Map<string, number>();
  if (obj.maps.length) {
    const sec = elf.addSection({ name: '.maps', type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_WRITE, data: new Uint8Array(mapsSize), align: 8 });
    for (const m of obj.maps) {
      const at = mapOffsets.get(m.name)!;
      mapSyms.set(m.name, elf.addSymbol({ name: m.name, value: at.offset, size: at.size, type: STT_OBJECT, bind: STB_GLOBAL, shndx: sec }));
    }
    datasecs.push({ name: '.maps', vars: mapVars, size: mapsSize });
  }
  if (licenseSec) elf.addSymbol({ name: '_license', value: 0, size: licenseBytes!.length, type: STT_OBJECT, bind: STB_GLOBAL, shndx: licenseSec });
  for (const pending of pendingMapRelocs) {
    const relocs = pending.relocs.map((r) => ({ offset: r.offset, type: r.type, symbol: r.kfunc !== undefined ? kfuncSyms.get(r.kfunc)! : mapSyms.get(r.map)! }));
    if (relocs.length) sectionRelocs.push({ index: pending.section, relocs });
  }

  // struct sched_ext_ops and its variables in .struct_ops.link.
  if (obj.ops.length) {
    const cbProto = btf.addFuncProto(int, []);
    const cbPtr = btf.addPtr(cbProto);
    const members = [...OPS_LAYOUT.members].map(([name, m]) => {
      let type = cbPtr;
      if (name === 'name') type = btf.addArray(char, OPS_NAME_LEN);
      else if (!SCHED_EXT_OPS_CALLBACKS.includes(name)) type = uints.get(m.size)!;
      return { name, type, offset: m.offset };
    });
    const opsType = btf.addStruct('sched_ext_ops', members, OPS_LAYOUT.size);
    const data = new Uint8Array(OPS_LAYOUT.size * obj.ops.length);
    const view = new DataView(data.buffer);
    const vars: { type: number; offset: number; size: number }[] = [];
    const relocs: { offset: number; program: string }[] = [];
    obj.ops.forEach((o, i) => {
      const base = i * OPS_LAYOUT.size;
      for (const [field, value] of o.fields) {
        const m = OPS_LAYOUT.members.get(field)!;
        if (typeof value === 'string') data.set(new TextEncoder().encode(value), base + m.offset);
        else if (m.size === 8) view.setBigUint64(base + m.offset, value, true);
        else view.setUint32(base + m.offset, Number(value), true);
      }
      for (const [cb, program] of o.callbacks) relocs.push({ offset: base + OPS_LAYOUT.members.get(cb)!.offset, program });
      vars.push({ type: btf.addVar(o.name, opsType), offset: base, size: OPS_LAYOUT.size });
    });
    const sec = elf.addSection({ name: '.struct_ops.link', type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_WRITE, data, align: 8 });
    obj.ops.forEach((o, i) => elf.addSymbol({ name: o.name, value: i * OPS_LAYOUT.size, size: OPS_LAYOUT.size, type: STT_OBJECT, bind: STB_GLOBAL, shndx: sec }));
    sectionRelocs.push({ index: sec, relocs: relocs.map((r) => ({ offset: r.offset, type: R_BPF_64_ABS64, symbol: progSyms.get(r.program)! })) });
    datasecs.push({ name: '.struct_ops.link', vars, size: data.length });
  }

  // Kfunc externs: `extern ... NAME(...) __ksym`, FUNC entries in a .ksyms DATASEC.
  if (kfuncSyms.size) {
    const proto = btf.addFuncProto(u64, []);
    datasecs.push({ name: '.ksyms', vars: [...kfuncSyms.keys()].map((k) => ({ type: btf.addFunc(k, proto, 'extern'), offset: 0, size: 0 })), size: 0 });
  }
  for (const d of datasecs) btf.addDatasec(d.name, d.vars, d.size);

  for (const r of sectionRelocs) elf.addRelocations(r.index, r.relocs);
  const strings = new Set<string>();
  for (const [sec, list] of lineInfo) {
    strings.add(sec);
    for (const l of list) strings.add(l.file).add(l.text);
  }
  for (const sec of funcInfo.keys()) strings.add(sec);
  const { btf: btfBytes, offsetOf } = withStrings(btf.encode(), strings);
  elf.addSection({ name: '.BTF', type: SHT_PROGBITS, flags: 0, data: btfBytes, align: 4 });
  elf.addSection({ name: '.BTF.ext', type: SHT_PROGBITS, flags: 0, data: encodeBtfExt(funcInfo, lineInfo, offsetOf), align: 4 });
  return elf.build();
}
