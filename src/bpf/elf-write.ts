/**
 * ELF64 little-endian writer for BPF relocatable objects (ET_REL, EM_BPF), the counterpart of
 * elf.ts's reader, laid out as clang does: `.strtab` (section and symbol names) at index 1,
 * sections in the order added (`.rel<name>` sections where addRelocations is called), `.symtab`
 * last, then
 * the section header table. Local symbols come first in `.symtab`, as ELF requires.
 */
import { EM_BPF, SHT_NULL, SHT_REL, SHT_STRTAB, SHT_SYMTAB, STB_LOCAL } from './elf.ts';
import { ScxError } from '../util/errors.ts';

const ET_REL = 1;
const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
/** sh_flags bit of a relocation section: sh_info is a section index. */
const SHF_INFO_LINK = 0x40;

export interface SectionSpec {
  name: string;
  type: number;
  flags: number;
  data: Uint8Array;
  align: number;
}

export interface SymbolSpec {
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  /** Section index (from addSection), or SHN_UNDEF / SHN_ABS. */
  shndx: number;
}

export interface RelocationSpec {
  offset: number;
  type: number;
  /** Index returned by addSymbol. */
  symbol: number;
}

interface Section extends SectionSpec {
  link: number;
  info: number;
  entsize: number;
  /** Relocations of a `.rel` section, encoded in build() once symbol indices are final. */
  relocs?: RelocationSpec[];
}

export class ElfWriteError extends ScxError {}

export class ElfWriter {
  /** Index 0 is the null section, 1 the string table. */
  private readonly sections: Section[] = [
    { name: '', type: SHT_NULL, flags: 0, data: new Uint8Array(0), align: 0, link: 0, info: 0, entsize: 0 },
    { name: '.strtab', type: SHT_STRTAB, flags: 0, data: new Uint8Array(0), align: 1, link: 0, info: 0, entsize: 0 },
  ];
  private readonly symbols: SymbolSpec[] = [];

  /** Add a section; returns its index. */
  addSection(spec: SectionSpec): number {
    this.sections.push({ ...spec, link: 0, info: 0, entsize: 0 });
    return this.sections.length - 1;
  }

  /** Add a symbol; returns the handle relocations use (not its final `.symtab` index). */
  addSymbol(spec: SymbolSpec): number {
    this.symbols.push(spec);
    return this.symbols.length - 1;
  }

  /** Add `.rel<target name>` holding these relocations of section `target`. */
  addRelocations(target: number, relocs: RelocationSpec[]): number {
    const t = this.sections[target];
    if (!t || target < 2) throw new ElfWriteError(`relocations for section ${target}, which cannot have any`);
    for (const r of relocs) {
      if (r.symbol < 0 || r.symbol >= this.symbols.length) throw new ElfWriteError(`relocation in '${t.name}' names symbol ${r.symbol}, which was not added`);
    }
    this.sections.push({ name: `.rel${t.name}`, type: SHT_REL, flags: SHF_INFO_LINK, data: new Uint8Array(0), align: 8, link: 0, info: target, entsize: REL_SIZE, relocs });
    return this.sections.length - 1;
  }

  build(): Uint8Array {
    const strtab = new StringTable();
    // Symbols: the null symbol, then locals, then the rest, each group in the order added.
    const order = [...this.symbols.keys()].sort((a, b) => Number(this.symbols[a].bind !== STB_LOCAL) - Number(this.symbols[b].bind !== STB_LOCAL) || a - b);
    const finalIndex = new Map(order.map((h, i) => [h, i + 1]));
    const firstGlobal = 1 + order.filter((h) => this.symbols[h].bind === STB_LOCAL).length;
    const symtabIndex = this.sections.length;
    const syms = new Uint8Array(SYM_SIZE * (order.length + 1));
    const sv = new DataView(syms.buffer);
    order.forEach((h, i) => {
      const s = this.symbols[h];
      const at = (i + 1) * SYM_SIZE;
      sv.setUint32(at, strtab.add(s.name), true);
      sv.setUint8(at + 4, (s.bind << 4) | (s.type & 0xf));
      sv.setUint8(at + 5, 0);
      sv.setUint16(at + 6, s.shndx, true);
      sv.setBigUint64(at + 8, BigInt(s.value), true);
      sv.setBigUint64(at + 16, BigInt(s.size), true);
    });
    const sections: Section[] = this.sections.map((s) => {
      if (!s.relocs) return s;
      const data = new Uint8Array(REL_SIZE * s.relocs.length);
      const v = new DataView(data.buffer);
      s.relocs.forEach((r, i) => {
        v.setBigUint64(i * REL_SIZE, BigInt(r.offset), true);
        v.setBigUint64(i * REL_SIZE + 8, (BigInt(finalIndex.get(r.symbol)!) << 32n) | BigInt(r.type), true);
      });
      return { ...s, data, link: symtabIndex };
    });
    sections.push({ name: '.symtab', type: SHT_SYMTAB, flags: 0, data: syms, align: 8, link: 1, info: firstGlobal, entsize: SYM_SIZE });
    const nameOffsets = sections.map((s) => (s.type === SHT_NULL ? 0 : strtab.add(s.name)));
    sections[1] = { ...sections[1], data: strtab.bytes() };

    // Layout: header, section data (each at its alignment), section headers.
    const offsets: number[] = [];
    let end = EHDR_SIZE;
    for (const s of sections) {
      const align = Math.max(1, s.align);
      end = Math.ceil(end / align) * align;
      offsets.push(s.type === SHT_NULL ? 0 : end);
      end += s.data.length;
    }
    const shoff = Math.ceil(end / 8) * 8;
    const out = new Uint8Array(shoff + SHDR_SIZE * sections.length);
    const view = new DataView(out.buffer);
    out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0); // ELF64, little-endian, version 1, SYSV ABI
    view.setUint16(16, ET_REL, true);
    view.setUint16(18, EM_BPF, true);
    view.setUint32(20, 1, true);
    view.setBigUint64(40, BigInt(shoff), true);
    view.setUint16(52, EHDR_SIZE, true);
    view.setUint16(58, SHDR_SIZE, true);
    view.setUint16(60, sections.length, true);
    view.setUint16(62, 1, true);
    sections.forEach((s, i) => {
      out.set(s.data, offsets[i]);
      const at = shoff + i * SHDR_SIZE;
      view.setUint32(at, nameOffsets[i], true);
      view.setUint32(at + 4, s.type, true);
      view.setBigUint64(at + 8, BigInt(s.flags), true);
      view.setBigUint64(at + 24, BigInt(offsets[i]), true);
      view.setBigUint64(at + 32, BigInt(s.data.length), true);
      view.setUint32(at + 40, s.link, true);
      view.setUint32(at + 44, s.info, true);
      view.setBigUint64(at + 48, BigInt(s.align), true);
      view.setBigUint64(at + 56, BigInt(s.entsize), true);
    });
    return out;
  }
}

/** A NUL-separated string table starting with the empty string; equal strings share an entry. */
class StringTable {
  private readonly offsets = new Map<string, number>([['', 0]]);
  private readonly parts: Uint8Array[] = [new Uint8Array(1)];
  private length = 1;

  add(s: string): number {
    let off = this.offsets.get(s);
    if (off === undefined) {
      off = this.length;
      const b = new TextEncoder().encode(s);
      this.parts.push(b, new Uint8Array(1));
      this.length += b.length + 1;
      this.offsets.set(s, off);
    }
    return off;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let p = 0;
    for (const part of this.parts) {
      out.set(part, p);
      p += part.length;
    }
    return out;
  }
}
