/**
 * Reading a bare program from a file, by its extension: assembler text (`.s`, `.asm`), raw
 * little-endian instruction bytes (`.bin`), or a bpf_conformance data file (`.data`).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { assemble } from './asm.ts';
import { caseProgram, parseConformance } from './conformance.ts';
import { DecodeError, decode, type Insn } from './isa.ts';
import { ScxError } from '../util/errors.ts';

export function readInput(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ScxError(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : 'cannot read'}`);
  }
}

export function readProgramFile(path: string): Insn[] {
  const ext = extname(path).toLowerCase();
  const data = readInput(path);
  if (ext === '.bin') {
    try {
      return decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch (e) {
      if (e instanceof DecodeError) throw new ScxError(`${path}: at byte offset ${e.offset}: ${e.message}`);
      throw e;
    }
  }
  if (ext === '.data') {
    const c = parseConformance(data.toString('utf8'), path);
    if (c.skip) throw new ScxError(`${path}: no program to read: ${c.skip}`);
    return caseProgram(c);
  }
  if (ext === '.s' || ext === '.asm') return assemble(data.toString('utf8'), { file: path });
  throw new ScxError(`${path}: expected a .s, .asm, .bin or .data file, found extension '${ext || '(none)'}'`);
}
