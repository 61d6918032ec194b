/**
 * Writing `.BTF.ext` (function and line info; no CO-RE relocations), the counterpart of
 * parseBtfExt. Its strings (section names, file names, source lines) are offsets into the `.BTF`
 * string table, so withStrings() first adds them there, after the strings encodeBtf wrote.
 */
import { BTF_MAGIC, BTF_VERSION, type FuncRecord, type LineRecord } from './btf.ts';

/** magic..hdr_len, then off/len pairs for func info, line info and CO-RE relocations. */
const BTF_EXT_HEADER_SIZE = 32;
const FUNC_REC_SIZE = 8;
const LINE_REC_SIZE = 16;
/** line_col: the column has the low 10 bits. */
const MAX_COLUMN = 0x3ff;

/**
 * `.BTF` bytes with `extra` strings in its string table (those already there are reused), and
 * the offset of every string of the table.
 */
export function withStrings(btf: Uint8Array, extra: Iterable<string>): { btf: Uint8Array; offsetOf: (s: string) => number } {
  const view = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  const strStart = view.getUint32(4, true) + view.getUint32(16, true);
  const strLen = view.getUint32(20, true);
  if (strStart + strLen !== btf.length) throw new Error('withStrings: the string section must come last');
  const offsets = new Map<string, number>();
  const table = btf.subarray(strStart);
  const decoder = new TextDecoder();
  for (let p = 0; p < table.length; ) {
    const end = table.indexOf(0, p);
    const s = decoder.decode(table.subarray(p, end));
    if (!offsets.has(s)) offsets.set(s, p);
    p = end + 1;
  }
  const added: Uint8Array[] = [];
  let length = strLen;
  const encoder = new TextEncoder();
  for (const s of extra) {
    if (offsets.has(s)) continue;
    offsets.set(s, length);
    const b = encoder.encode(s);
    added.push(b, new Uint8Array(1));
    length += b.length + 1;
  }
  const out = new Uint8Array(strStart + length);
  out.set(btf);
  let p = btf.length;
  for (const part of added) {
    out.set(part, p);
    p += part.length;
  }
  new DataView(out.buffer).setUint32(20, length, true);
  return {
    btf: out,
    offsetOf: (s) => {
      const off = offsets.get(s);
      if (off === undefined) throw new Error(`withStrings: '${s}' is not in the string table`);
      return off;
    },
  };
}

/**
 * `.BTF.ext` with function and line info per code section (records by instruction index, as
 * parseBtfExt returns them). `offsetOf` gives `.BTF` string offsets (see withStrings).
 */
export function encodeBtfExt(
  funcInfo: ReadonlyMap<string, readonly FuncRecord[]>,
  lineInfo: ReadonlyMap<string, readonly LineRecord[]>,
  offsetOf: (s: string) => number,
): Uint8Array {
  const size = (m: ReadonlyMap<string, readonly unknown[]>, rec: number) =>
    m.size === 0 ? 0 : 4 + [...m.values()].reduce((n, list) => n + 8 + rec * list.length, 0);
  const funcLen = size(funcInfo, FUNC_REC_SIZE);
  const lineLen = size(lineInfo, LINE_REC_SIZE);
  const out = new Uint8Array(BTF_EXT_HEADER_SIZE + funcLen + lineLen);
  const v = new DataView(out.buffer);
  v.setUint16(0, BTF_MAGIC, true);
  v.setUint8(2, BTF_VERSION);
  v.setUint32(4, BTF_EXT_HEADER_SIZE, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, funcLen, true);
  v.setUint32(16, funcLen, true);
  v.setUint32(20, lineLen, true);
  // core_relo_off/len (24, 28) stay 0: no CO-RE relocations.
  let p = BTF_EXT_HEADER_SIZE;
  const u32 = (x: number) => {
    v.setUint32(p, x >>> 0, true);
    p += 4;
  };
  if (funcInfo.size) {
    u32(FUNC_REC_SIZE);
    for (const [sec, list] of funcInfo) {
      u32(offsetOf(sec));
      u32(list.length);
      for (const r of list) {
        u32(r.insn * 8);
        u32(r.typeId);
      }
    }
  }
  if (lineInfo.size) {
    u32(LINE_REC_SIZE);
    for (const [sec, list] of lineInfo) {
      u32(offsetOf(sec));
      u32(list.length);
      for (const r of list) {
        u32(r.insn * 8);
        u32(offsetOf(r.file));
        u32(offsetOf(r.text));
        u32((r.line << 10) | Math.min(r.column, MAX_COLUMN));
      }
    }
  }
  return out;
}
