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
  /**
   * Loads the verifier turned into BPF_PROBE_MEM (reads through kernel-struct pointers): a read
   * that would fault gives 0 instead, as in Linux. Indexed by instruction slot; 1 = probe load.
   */
  probeLoads?: Uint8Array;
}

/** A program ready to run on one engine. */
export interface Executable {
  run(args?: readonly bigint[]): RunResult;
  /**
   * The hot path for callbacks: r1 = `ctx` (an address), r0's low 32 bits returned as a signed
   * int; the full r0 is in the call area's first word afterwards.
   */
  runCtx(ctx: number): number;
  /** Instructions executed by the last run (0 when the engine does not count). */
  lastInsnCount(): number;
  /** Run the function starting at `slot` as a top-level invocation (a timer callback). */
  runFunction(slot: number, args?: readonly bigint[]): RunResult;
}

export function prepare(engine: EngineName, insns: readonly Insn[], mem: AddressSpace, options: ExecOptions = {}): Executable {
  if (engine === 'interp') return new Interpreter(insns, mem, options);
  return new JitProgram(insns, mem, { ...options, checked: true });
}
