/**
 * ELF64 little-endian reader for BPF objects (e_machine EM_BPF), as clang writes them. Every
 * offset, size, index and string reference is checked before use, and a bad one is an ElfError
 * naming the file, the section (name and index) and the file offset.
 */
import { ScxError } from '../util/errors.ts';

export const EM_BPF = 247;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;

export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;

export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;

export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;

export const R_BPF_NONE = 0;
export const R_BPF_64_64 = 1;
export const R_BPF_64_ABS64 = 2;
export const R_BPF_64_ABS32 = 3;
export const R_BPF_64_NODYLD32 = 4;
export const R_BPF_64_32 = 10;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const RELA_SIZE = 24;

export class ElfError extends ScxError {}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** The section's bytes (empty for SHT_NOBITS). */
  data: Uint8Array;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  visibility: number;
  shndx: number;
}

export interface ElfRelocation {
  offset: number;
  type: number;
  symbol: number;
  addend?: bigint;
}

export interface ElfFile {
  file: string;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  section(name: string): ElfSection | undefined;
  /** Relocations (SHT_REL and SHT_RELA) that apply to the section with this index. */
  relocationsFor(sectionIndex: number): ElfRelocation[];
}

const MACHINES: Record<number, string> = { 3: 'i386', 40: 'ARM', 62: 'x86-64', 183: 'AArch64', 243: 'RISC-V' };

export function parseElf(bytes: Uint8Array, file: string): ElfFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (msg: string): never => {
    throw new ElfError(`${file}: ${msg}`);
  };
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    fail('not an ELF file (bad magic at offset 0)');
  }
  if (bytes.length < EHDR_SIZE) fail(`truncated: the file is ${bytes.length} bytes, the ELF header needs ${EHDR_SIZE}`);
  if (bytes[4] !== 2) fail(`ELF class ${bytes[4]} at offset 0x4, expected 2 (ELF64)`);
  if (bytes[5] === 2) fail('big-endian ELF; BPF objects for this simulator must be little-endian');
  if (bytes[5] !== 1) fail(`ELF data encoding ${bytes[5]} at offset 0x5, expected 1 (little-endian)`);
  if (bytes[6] !== 1) fail(`ELF version ${bytes[6]} at offset 0x6, expected 1`);
  const machine = view.getUint16(18, true);
  if (machine !== EM_BPF) {
    fail(`not a BPF object: e_machine is ${machine}${MACHINES[machine] ? ` (${MACHINES[machine]})` : ''}, expected ${EM_BPF} (BPF)`);
  }
  const shoff = u64(view, 40, () => fail('e_shoff does not fit in 53 bits'));
  const shentsize = view.getUint16(58, true);
  let shnum = view.getUint16(60, true);
  let shstrndx = view.getUint16(62, true);
  if (shoff === 0) fail('no section header table (e_shoff is 0)');
  if (shentsize !== SHDR_SIZE) fail(`section header entries are ${shentsize} bytes at offset 0x3a, expected ${SHDR_SIZE}`);
  if (shoff + SHDR_SIZE > bytes.length) fail(`section header table at offset 0x${shoff.toString(16)} is past the end of the file (${bytes.length} bytes)`);
  // Large section counts live in section 0's size and link fields.
  if (shnum === 0) shnum = u64(view, shoff + 32, () => fail('section count does not fit'));
  if (shstrndx === 0xffff) shstrndx = view.getUint32(shoff + 40, true);
  if (shoff + shnum * SHDR_SIZE > bytes.length) {
    fail(`section header table (${shnum} entries at offset 0x${shoff.toString(16)}) runs past the end of the file (${bytes.length} bytes)`);
  }
  if (shstrndx >= shnum) fail(`e_shstrndx is ${shstrndx}, but there are ${shnum} sections`);

  const raw: { nameOff: number; type: number; flags: number; offset: number; size: number; link: number; info: number; addralign: number; entsize: number; headerAt: number }[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * SHDR_SIZE;
    const bad = () => fail(`section header ${i} at offset 0x${at.toString(16)}: a field does not fit in 53 bits`);
    raw.push({
      nameOff: view.getUint32(at, true),
      type: view.getUint32(at + 4, true),
      flags: u64(view, at + 8, bad),
      offset: u64(view, at + 24, bad),
      size: u64(view, at + 32, bad),
      link: view.getUint32(at + 40, true),
      info: view.getUint32(at + 44, true),
      addralign: u64(view, at + 48, bad),
      entsize: u64(view, at + 56, bad),
      headerAt: at,
    });
  }
  const dataOf = (i: number): Uint8Array => {
    const h = raw[i];
    if (h.type === SHT_NOBITS || h.type === SHT_NULL) return new Uint8Array(0);
    if (h.offset + h.size > bytes.length) {
      fail(`section ${i} (header at offset 0x${h.headerAt.toString(16)}): data at offset 0x${h.offset.toString(16)} + ${h.size} bytes runs past the end of the file (${bytes.length} bytes)`);
    }
    return bytes.subarray(h.offset, h.offset + h.size);
  };
  const shstr = dataOf(shstrndx);
  if (raw[shstrndx].type !== SHT_STRTAB) fail(`section ${shstrndx} named by e_shstrndx is not a string table`);
  const sections: ElfSection[] = raw.map((h, i) => ({
    index: i,
    name: i === 0 ? '' : readString(shstr, h.nameOff, () => fail(`section ${i} (header at offset 0x${h.headerAt.toString(16)}): name offset ${h.nameOff} is outside the section name table (${shstr.length} bytes)`)),
    type: h.type,
    flags: h.flags,
    offset: h.offset,
    size: h.size,
    link: h.link,
    info: h.info,
    addralign: h.addralign,
    entsize: h.entsize,
    data: dataOf(i),
  }));
  const where = (s: ElfSection, off = s.offset) => `section '${s.name}' (index ${s.index}) at offset 0x${off.toString(16)}`;

  // Symbols.
  const symtabs = sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length > 1) fail(`${symtabs.length} symbol tables; a BPF object has one`);
  const symbols: ElfSymbol[] = [];
  const symtab = symtabs[0];
  if (symtab) {
    if (symtab.entsize !== SYM_SIZE) fail(`${where(symtab)}: symbol entries are ${symtab.entsize} bytes, expected ${SYM_SIZE}`);
    if (symtab.size % SYM_SIZE !== 0) fail(`${where(symtab)}: size ${symtab.size} is not a multiple of ${SYM_SIZE}`);
    if (symtab.link >= sections.length || sections[symtab.link].type !== SHT_STRTAB) {
      fail(`${where(symtab)}: sh_link ${symtab.link} is not a string table`);
    }
    const strtab = sections[symtab.link].data;
    const sv = new DataView(symtab.data.buffer, symtab.data.byteOffset, symtab.data.byteLength);
    for (let i = 0; i < symtab.size / SYM_SIZE; i++) {
      const at = i * SYM_SIZE;
      const fileAt = symtab.offset + at;
      const info = sv.getUint8(at + 4);
      const shndx = sv.getUint16(at + 6, true);
      if (shndx !== SHN_UNDEF && shndx < SHN_LORESERVE && shndx >= sections.length) {
        fail(`${where(symtab, fileAt)}: symbol ${i} is in section ${shndx}, but there are ${sections.length} sections`);
      }
      const bad = () => fail(`${where(symtab, fileAt)}: symbol ${i}: value or size does not fit in 53 bits`);
      const value = u64(sv, at + 8, bad);
      const size = u64(sv, at + 16, bad);
      if (shndx !== SHN_UNDEF && shndx < SHN_LORESERVE && value + size > sections[shndx].size) {
        fail(`${where(symtab, fileAt)}: symbol ${i} (${value}+${size} bytes) runs past the end of section '${sections[shndx].name}' (${sections[shndx].size} bytes)`);
      }
      symbols.push({
        index: i,
        name: readString(strtab, sv.getUint32(at, true), () => fail(`${where(symtab, fileAt)}: symbol ${i}: name offset ${sv.getUint32(at, true)} is outside the string table (${strtab.length} bytes)`)),
        type: info & 0xf,
        bind: info >> 4,
        visibility: sv.getUint8(at + 5) & 0x3,
        shndx,
        value,
        size,
      });
    }
  }

  // Relocations, validated once and grouped by the section they apply to.
  const relocs = new Map<number, ElfRelocation[]>();
  for (const s of sections) {
    if (s.type !== SHT_REL && s.type !== SHT_RELA) continue;
    const entry = s.type === SHT_REL ? REL_SIZE : RELA_SIZE;
    if (s.size % entry !== 0) fail(`${where(s)}: size ${s.size} is not a multiple of the ${entry}-byte relocation entry`);
    if (s.info === 0 || s.info >= sections.length) fail(`${where(s)}: applies to section ${s.info}, which does not exist`);
    if (!symtab || s.link !== symtab.index) fail(`${where(s)}: sh_link ${s.link} is not the symbol table`);
    const target = sections[s.info];
    const rv = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    const list = relocs.get(s.info) ?? [];
    for (let i = 0; i < s.size / entry; i++) {
      const at = i * entry;
      const fileAt = s.offset + at;
      const offset = u64(rv, at, () => fail(`${where(s, fileAt)}: relocation ${i}: offset does not fit in 53 bits`));
      const info = rv.getBigUint64(at + 8, true);
      const type = Number(info & 0xffff_ffffn);
      const sym = Number(info >> 32n);
      if (sym >= symbols.length) fail(`${where(s, fileAt)}: relocation ${i} names symbol ${sym}, but .symtab has ${symbols.length} symbols`);
      const width = type === R_BPF_64_64 ? 16 : type === R_BPF_64_ABS32 || type === R_BPF_64_NODYLD32 ? 4 : 8;
      if (target.type !== SHT_NOBITS && offset + Math.min(width, 8) > target.size) {
        fail(`${where(s, fileAt)}: relocation ${i} at offset 0x${offset.toString(16)} is outside '${target.name}' (${target.size} bytes)`);
      }
      const r: ElfRelocation = { offset, type, symbol: sym };
      if (s.type === SHT_RELA) r.addend = rv.getBigInt64(at + 16, true);
      list.push(r);
    }
    relocs.set(s.info, list);
  }

  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);
  return {
    file,
    sections,
    symbols,
    section: (name) => byName.get(name),
    relocationsFor: (index) => relocs.get(index) ?? [],
  };
}

/** A u64 field as a number; values above 2^53 are rejected rather than rounded. */
function u64(view: DataView, at: number, tooBig: () => never): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) tooBig();
  return Number(v);
}

/** A NUL-terminated string at `off` of a string table. */
function readString(table: Uint8Array, off: number, bad: () => never): string {
  if (off >= table.length) bad();
  let end = off;
  while (end < table.length && table[end] !== 0) end++;
  if (end === table.length) bad();
  return new TextDecoder().decode(table.subarray(off, end));
}
