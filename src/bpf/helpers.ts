/**
 * Helper and kfunc calls. Both engines pass arguments the same way: r1..r5 are written as 64-bit
 * words to the address space's call area, the function reads what it needs through `HelperCall`
 * (32-bit halves, plain numbers or BigInts), and its return value becomes r0. Nothing here
 * allocates per call unless a function asks for a BigInt.
 */
import type { AddressSpace } from './memory.ts';
import { ScxError } from '../util/errors.ts';

/** A helper's result: a JS number is taken as a signed integer (it must be a safe integer). */
export type HelperResult = number | bigint;
export type HelperFn = (call: HelperCall) => HelperResult;

export interface HelperDef {
  readonly id: number;
  readonly name: string;
  readonly fn: HelperFn;
  /**
   * What the JIT may emit in place of a call, when the helper is pure arithmetic or memory:
   * r0 = a constant, or r0 = the little-endian word at a fixed address. `fn` must compute the
   * same; the constructors below guarantee it.
   */
  readonly inline?: HelperInline;
}

export type HelperInline =
  | { kind: 'const'; value: bigint }
  | { kind: 'load'; addr: number; size: 4 | 8 }
  | ArrayLookupInline;

/**
 * bpf_map_lookup_elem on array maps, done in Wasm when r1 is one of these maps: bounds check
 * and address arithmetic (per-CPU arrays add the current CPU's copy, read from `cpuAddr`).
 * Other maps still call `fn`.
 */
export interface ArrayLookupInline {
  kind: 'arrayLookup';
  cpuAddr: number;
  maps: readonly { addr: number; base: number; stride: number; cpuStride: number; maxEntries: number }[];
}

/** A helper returning a constant (e.g. a fixed configuration value). */
export function constHelper(id: number, name: string, value: bigint): HelperDef {
  const v = BigInt.asUintN(64, value);
  return { id, name, fn: () => v, inline: { kind: 'const', value: v } };
}

/**
 * A helper whose result is a word the runtime keeps in the address space, such as the clock
 * (`bpf_ktime_get_ns`) or the current CPU (`bpf_get_smp_processor_id`).
 */
export function wordHelper(id: number, name: string, mem: AddressSpace, addr: number, size: 4 | 8): HelperDef {
  const fn = size === 8 ? () => mem.view.getBigUint64(addr, true) : () => mem.view.getUint32(addr, true);
  return { id, name, fn, inline: { kind: 'load', addr, size } };
}

/** Helpers by id, or kfuncs by BTF id. */
export type HelperTable = ReadonlyMap<number, HelperDef>;

export function helperTable(defs: readonly HelperDef[]): HelperTable {
  const table = new Map<number, HelperDef>();
  for (const def of defs) {
    if (table.has(def.id)) throw new ScxError(`helper id ${def.id} defined twice (${table.get(def.id)!.name}, ${def.name})`);
    table.set(def.id, def);
  }
  return table;
}

/** Raised by a helper to abort the program with a message (the engine adds the instruction). */
export class HelperError extends ScxError {}

/**
 * Raised by a helper or kfunc to end the program on purpose (e.g. scx_bpf_error aborting the
 * scheduler): the engines pass it through unchanged instead of turning it into a fault.
 */
export class ProgramExit extends ScxError {}

export class HelperCall {
  /** Instruction index of the call being served, for error messages. */
  pc = -1;
  /** Frame pointer (r10) of the calling frame. */
  fp = 0;
  /**
   * Run the program's function at `slot` (a code address from `lddw func`, as a slot) with
   * r1..r5 = args in a new frame above the caller's, and return its r0. Set by the engine.
   * Helpers such as bpf_loop use it; they must read their own arguments first, because the
   * nested call reuses the call area.
   */
  invoke: (slot: number, args: readonly bigint[]) => bigint = () => {
    throw new HelperError('this engine cannot call back into the program');
  };

  constructor(readonly mem: AddressSpace) {}

  /** Low 32 bits of argument register r`i` (1..5), unsigned. */
  lo(i: number): number {
    return this.mem.view.getUint32(this.mem.callArea + i * 8, true);
  }

  /** High 32 bits of argument register r`i`, unsigned. */
  hi(i: number): number {
    return this.mem.view.getUint32(this.mem.callArea + i * 8 + 4, true);
  }

  /** Low 32 bits as a signed int. */
  i32(i: number): number {
    return this.mem.view.getInt32(this.mem.callArea + i * 8, true);
  }

  /** The full register as an unsigned BigInt. */
  u64(i: number): bigint {
    return this.mem.view.getBigUint64(this.mem.callArea + i * 8, true);
  }

  /** The register as an unsigned number; exact below 2^53. */
  num(i: number): number {
    return this.hi(i) * 0x1_0000_0000 + this.lo(i);
  }

  /** The register as a pointer into the address space (its high half must be zero). */
  ptr(i: number): number {
    if (this.hi(i) !== 0) throw new HelperError(`argument r${i} is not a pointer (0x${this.u64(i).toString(16)})`);
    return this.lo(i);
  }

  /** Store the result of a call into the r0 word of the call area. */
  setResult(result: HelperResult): void {
    const at = this.mem.callArea;
    if (typeof result === 'bigint') {
      this.mem.view.setBigUint64(at, BigInt.asUintN(64, result), true);
      return;
    }
    if (!Number.isSafeInteger(result)) throw new HelperError(`helper returned ${result}, expected an integer`);
    // Split a signed safe integer into two's-complement halves without BigInt.
    const lo = result >>> 0;
    const hi = Math.floor(result / 0x1_0000_0000) >>> 0;
    this.mem.view.setUint32(at, lo, true);
    this.mem.view.setUint32(at + 4, hi, true);
  }
}
