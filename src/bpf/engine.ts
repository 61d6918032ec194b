/**
 * Engine choice: the reference interpreter or the JIT. Both take the same program, address space
 * and helper tables and give the same results; the JIT is the default everywhere.
 */
import type { Insn } from './isa.ts';
import type { HelperTable } from './helpers.ts';
import type { AddressSpace } from './memory.ts';
import { Interpreter, type RunResult } from './interp.ts';
import { JitProgram } from './jit/runtime.ts';

export const ENGINES = ['jit', 'interp'] as const;
export type EngineName = (typeof ENGINES)[number];
export const DEFAULT_ENGINE: EngineName = 'jit';

export interface ExecOptions {
  helpers?: HelperTable;
  kfuncs?: HelperTable;
  maxInsns?: number;
  packet?: { addr: number; len: number };
}

/** A program ready to run on one engine. */
export interface Executable {
  run(args?: readonly bigint[]): RunResult;
}

export function prepare(engine: EngineName, insns: readonly Insn[], mem: AddressSpace, options: ExecOptions = {}): Executable {
  if (engine === 'interp') return new Interpreter(insns, mem, options);
  return new JitProgram(insns, mem, { ...options, checked: true });
}
