/**
 * The bpf_conformance data-file format and a runner for it.
 *
 * A file has sections switched by lines starting with `--`: `asm` (program text), `raw` (the
 * program as numbers; wins over asm), `mem` (input bytes: r1 points at a copy, r2 holds its
 * length), `result` (expected r0, all 64 bits), `error` (expected load error), and `c` /
 * `no register offset` (notes, ignored). Any other keyword makes the format skip the file, as
 * does a file with no instructions or with neither a result nor an error.
 *
 * In a folder named `negative`, every file is expected not to pass: it passes when the program is
 * rejected before it runs (assembler or validator), or, for a file claiming a result, when the
 * runner detects that the claimed result is wrong.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { assemble } from './asm.ts';
import { DecodeError, INSN_SIZE, decode, type Insn } from './isa.ts';
import { helperTable, type HelperTable } from './helpers.ts';
import { prepare, type EngineName } from './engine.ts';
import { AddressSpace } from './memory.ts';
import { analyze } from './verifier/analyze.ts';
import { ScxError } from '../util/errors.ts';

export interface Section {
  lines: string[];
  /** 1-based line number of the first line of `lines` in the file. */
  firstLine: number;
}

export interface ConformanceCase {
  file: string;
  asm?: Section;
  raw?: Section;
  mem?: Uint8Array;
  result?: bigint;
  /** Expected error text; '' when the section is present but empty. */
  error?: string;
  /** Why the format says to skip this file. */
  skip?: string;
}

export class ConformanceFormatError extends ScxError {}

const IGNORED = new Set(['c', 'no register offset']);
const KNOWN = new Set(['asm', 'raw', 'mem', 'result', 'error']);

export function parseConformance(text: string, file: string): ConformanceCase {
  const sections = new Map<string, Section>();
  let current: Section | undefined;
  let unknown: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed.startsWith('--')) {
      const keyword = trimmed.slice(2).replace(/#.*/, '').trim();
      if (KNOWN.has(keyword)) {
        current = { lines: [], firstLine: i + 2 };
        sections.set(keyword, current);
      } else if (IGNORED.has(keyword)) {
        current = undefined;
      } else {
        unknown ??= keyword;
        current = undefined;
      }
      continue;
    }
    current?.lines.push(line);
  }

  const c: ConformanceCase = { file };
  const content = (s: Section | undefined): string[] =>
    (s?.lines ?? []).map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
  const lastLine = (s: Section | undefined): string => {
    const ls = content(s);
    return ls.length ? ls[ls.length - 1] : '';
  };

  if (unknown !== undefined) {
    c.skip = `unknown directive '-- ${unknown}' (the format skips such files)`;
    return c;
  }
  c.asm = sections.get('asm');
  c.raw = sections.get('raw');
  const mem = sections.get('mem');
  if (mem) c.mem = parseHexBytes(mem, file);
  if (sections.has('result')) {
    const text = lastLine(sections.get('result'));
    const value = /^(0x[0-9a-f]+|-?\d+)$/i.test(text) ? BigInt(text) : null;
    if (value === null) {
      const s = sections.get('result')!;
      throw new ConformanceFormatError(`${file}:${s.firstLine}: expected a hex or decimal result, found '${text}'`);
    }
    c.result = BigInt.asUintN(64, value);
  }
  if (sections.has('error')) c.error = lastLine(sections.get('error'));
  const hasProgram = content(c.raw).length > 0 || content(c.asm).length > 0;
  if (!hasProgram) c.skip = 'no instructions (the format skips such files)';
  else if (c.result === undefined && c.error === undefined) c.skip = 'neither a result nor an error is expected';
  return c;
}

function parseHexBytes(s: Section, file: string): Uint8Array {
  const out: number[] = [];
  s.lines.forEach((line, i) => {
    for (const tok of line.replace(/#.*/, '').trim().split(/\s+/)) {
      if (tok === '') continue;
      if (!/^[0-9a-fA-F]{2}$/.test(tok)) {
        throw new ConformanceFormatError(`${file}:${s.firstLine + i}: expected a hex byte, found '${tok}'`);
      }
      out.push(parseInt(tok, 16));
    }
  });
  return Uint8Array.from(out);
}

/**
 * The raw section: `0x...` tokens are whole 64-bit slots (opcode in the low byte), bare two-digit
 * tokens are bytes in memory order.
 */
export function parseRaw(s: Section, file: string): Insn[] {
  const bytes: number[] = [];
  let style: 'words' | 'bytes' | undefined;
  s.lines.forEach((line, i) => {
    for (const tok of line.replace(/#.*/, '').trim().split(/\s+/)) {
      if (tok === '') continue;
      const where = `${file}:${s.firstLine + i}`;
      const isWord = /^0x[0-9a-fA-F]{1,16}$/.test(tok);
      const isByte = /^[0-9a-fA-F]{2}$/.test(tok);
      if (!isWord && !isByte) throw new ConformanceFormatError(`${where}: expected a 0x-prefixed 64-bit slot or a hex byte, found '${tok}'`);
      const kind = isWord ? 'words' : 'bytes';
      if (style && style !== kind) throw new ConformanceFormatError(`${where}: expected ${style} like the lines before, found '${tok}'`);
      style = kind;
      if (isWord) {
        let v = BigInt(tok);
        for (let b = 0; b < 8; b++, v >>= 8n) bytes.push(Number(v & 0xffn));
      } else {
        bytes.push(parseInt(tok, 16));
      }
    }
  });
  if (bytes.length % INSN_SIZE !== 0) {
    throw new ConformanceFormatError(`${file}:${s.firstLine}: expected whole 8-byte instructions in the raw section, found ${bytes.length} bytes`);
  }
  return decode(Uint8Array.from(bytes));
}

/** The program of a case: the raw section when present, else the assembled asm section. */
export function caseProgram(c: ConformanceCase): Insn[] {
  if (c.raw && c.raw.lines.some((l) => l.replace(/#.*/, '').trim() !== '')) return parseRaw(c.raw, c.file);
  const asm = c.asm!;
  return assemble(asm.lines.join('\n'), { file: c.file, firstLine: asm.firstLine });
}

/**
 * The helpers a conformance program may call. Helper 5 must exist (`call_unwind_fail`, `callx`);
 * it is Linux's `bpf_ktime_get_ns`, and this environment's clock stands still at 0 ns.
 */
export const CONFORMANCE_HELPERS: HelperTable = helperTable([{ id: 5, name: 'ktime_get_ns', fn: () => 0 }]);

export type Outcome = 'pass' | 'fail' | 'skip';

export interface CaseResult {
  file: string;
  outcome: Outcome;
  /** Why it failed or was skipped; for a negative pass, how it was caught. */
  reason: string;
}

/** Run a validated program with r1 = mem address (0 without mem) and r2 = mem length. */
function execute(engine: EngineName, insns: Insn[], mem: AddressSpace, args: bigint[], packet?: { addr: number; len: number }): bigint {
  return prepare(engine, insns, mem, { helpers: CONFORMANCE_HELPERS, packet }).run(args).r0;
}

type Loaded = { ok: true; insns: Insn[] } | { ok: false; message: string };

function load(c: ConformanceCase): Loaded {
  try {
    const insns = caseProgram(c);
    // r1 and r2 carry the input memory and its length in this format's calling convention.
    // Nothing runs unverified: memory safety (permissive mode) against exactly that input.
    const size = c.mem?.length ?? 0;
    const verdict = analyze(insns, {
      mode: 'permissive',
      helpers: CONFORMANCE_HELPERS,
      args: c.mem ? [{ kind: 'ctx', size, writable: true }, { kind: 'scalar', value: BigInt(size) }] : [{ kind: 'scalar', value: 0n }, { kind: 'scalar', value: 0n }],
    });
    if (!verdict.ok) return { ok: false, message: verdict.message };
    return { ok: true, insns };
  } catch (e) {
    if (e instanceof ScxError || e instanceof DecodeError) return { ok: false, message: e.message };
    throw e;
  }
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** Run one parsed case. `negative` inverts the expectation as described above. */
export function runCase(c: ConformanceCase, engine: EngineName, negative: boolean): CaseResult {
  const result = (outcome: Outcome, reason: string): CaseResult => ({ file: c.file, outcome, reason });
  if (c.skip) return result('skip', c.skip);
  const loaded = load(c);
  if (!loaded.ok) {
    if (negative || c.error !== undefined) return result('pass', `rejected at load: ${loaded.message}`);
    return result('fail', `load failed: ${loaded.message}`);
  }
  if (c.error !== undefined) {
    return result('fail', `expected the program to be rejected at load${c.error ? ` ('${c.error}')` : ''}, but it loaded`);
  }
  const mem = new AddressSpace();
  let args: bigint[] = [0n, 0n];
  let packet: { addr: number; len: number } | undefined;
  if (c.mem) {
    const region = mem.place('input memory', c.mem);
    args = [BigInt(region.start), BigInt(c.mem.length)];
    packet = { addr: region.start, len: c.mem.length };
  }
  let r0: bigint;
  try {
    r0 = execute(engine, loaded.insns, mem, args, packet);
  } catch (e) {
    if (!(e instanceof ScxError)) throw e;
    return result('fail', `runtime error: ${e.message}`);
  }
  const expected = c.result!;
  if (r0 === expected) {
    return negative
      ? result('fail', `expected the runner to reject this file, but it loaded and returned the claimed ${hex(r0)}`)
      : result('pass', `r0 = ${hex(r0)}`);
  }
  const detail = `expected r0 = ${hex(expected)}, got ${hex(r0)}`;
  return negative ? result('pass', `wrong result claim detected: ${detail}`) : result('fail', detail);
}

export interface SuiteSummary {
  results: CaseResult[];
  passed: number;
  failed: number;
  skipped: number;
}

/** Every `*.data` file under `dir`, recursively, in a stable order. */
export function listDataFiles(dir: string): string[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new ScxError(`${dir}: no such file or directory`);
  }
  if (st.isFile()) return [dir];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.data')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Whether a file sits in a `negative` folder (the root itself or below it). */
export function isNegativePath(file: string, root: string): boolean {
  const folders = [basename(root), ...relative(root, file).split(/[\\/]/).slice(0, -1)];
  return folders.includes('negative');
}

export function runSuite(dir: string, engine: EngineName): SuiteSummary {
  const files = listDataFiles(dir);
  if (files.length === 0) throw new ScxError(`${dir}: no *.data files found`);
  const results: CaseResult[] = [];
  for (const file of files) {
    let c: ConformanceCase;
    try {
      c = parseConformance(readFileSync(file, 'utf8'), file);
    } catch (e) {
      if (!(e instanceof ScxError)) throw e;
      results.push({ file, outcome: 'fail', reason: e.message });
      continue;
    }
    results.push(runCase(c, engine, isNegativePath(file, dir)));
  }
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  return { results, passed: count('pass'), failed: count('fail'), skipped: count('skip') };
}
