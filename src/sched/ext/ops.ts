/**
 * The seam between the sched_ext core and a scheduler (design.md §2). The core calls callbacks
 * by name with integer arguments (task_struct addresses, CPU numbers, flags), exactly as the
 * kernel's trampoline passes them to BPF; a scheduler is either a loaded BPF object
 * (BpfSchedExtOps) or TypeScript (TsSchedExtOps), and both reach the core through the same
 * kfuncs over the same kernel memory, so one policy written both ways schedules identically.
 */
import { HelperCall, type HelperFn } from '../../bpf/helpers.ts';
import type { KernelWords } from '../../bpf/kernel-helpers.ts';
import type { AddressSpace } from '../../bpf/memory.ts';
import { ScxError } from '../../util/errors.ts';
import { CALLBACKS } from './bpf-ops.ts';

export interface SchedExtOps {
  readonly name: string;
  readonly flags: bigint;
  readonly timeoutMs: number;
  readonly dispatchMaxBatch: number;
  /** Bytes of debug dump kept on an error exit. */
  readonly exitDumpLen: number;
  has(cb: string): boolean;
  /** Call a callback with its arguments (unused trailing ones are ignored); r0's low 32 bits as a signed int. */
  call(cb: string, a0?: number, a1?: number, a2?: number): number;
  /** BPF instructions the last call of `cb` executed (0 for TypeScript). */
  lastInsnCount(cb: string): number;
}

/** The kernel memory a scheduler runs against: task_structs, kernel words, scratch. */
export interface KernelMemory {
  mem: AddressSpace;
  words: KernelWords;
}

/** What a TypeScript scheduler calls: the same kfunc implementations BPF calls. */
export class TsKernelApi {
  private readonly call: HelperCall;
  private fns: Record<string, HelperFn> = {};
  /** A small scratch area for out-parameters such as select_cpu_dfl's is_idle. */
  readonly scratch: number;

  constructor(readonly km: KernelMemory) {
    this.call = new HelperCall(km.mem);
    this.scratch = km.mem.alloc('ts scheduler scratch', 64).start;
  }

  bind(fns: Record<string, HelperFn>): void {
    this.fns = fns;
  }

  /** Call a kfunc with up to five integer arguments; returns r0 (signed 64-bit). */
  kfunc(name: string, ...args: (number | bigint)[]): bigint {
    const fn = this.fns[name];
    if (!fn) throw new ScxError(`kfunc ${name} is not available to TypeScript schedulers`);
    const { mem } = this.km;
    for (let i = 0; i < 5; i++) mem.view.setBigUint64(mem.callArea + 8 * (i + 1), BigInt.asUintN(64, BigInt(args[i] ?? 0)), true);
    this.call.setResult(fn(this.call));
    return mem.view.getBigInt64(mem.callArea, true);
  }
}

/** Callbacks of a TypeScript scheduler, by their kernel names, taking the trampoline's arguments. */
export type TsCallbacks = Partial<Record<string, (...args: number[]) => number | void>>;

export interface TsSchedulerDef {
  name: string;
  flags?: bigint;
  timeoutMs?: number;
  dispatchMaxBatch?: number;
  exitDumpLen?: number;
  callbacks: TsCallbacks;
}

export class TsSchedExtOps implements SchedExtOps {
  readonly name: string;
  readonly flags: bigint;
  readonly timeoutMs: number;
  readonly dispatchMaxBatch: number;
  readonly exitDumpLen: number;

  constructor(readonly def: TsSchedulerDef) {
    for (const cb of Object.keys(def.callbacks)) {
      if (!CALLBACKS.some((c) => c.name === cb)) throw new ScxError(`TypeScript scheduler '${def.name}': '${cb}' is not a sched_ext_ops callback`);
    }
    this.name = def.name;
    this.flags = def.flags ?? 0n;
    this.timeoutMs = def.timeoutMs || 30_000;
    this.dispatchMaxBatch = def.dispatchMaxBatch || 32;
    this.exitDumpLen = def.exitDumpLen || 32768;
  }

  has(cb: string): boolean {
    return this.def.callbacks[cb] !== undefined;
  }

  call(cb: string, a0 = 0, a1 = 0, a2 = 0): number {
    const fn = this.def.callbacks[cb];
    if (!fn) throw new ScxError(`callback '${cb}' is not implemented`);
    // Exactly the kernel's arguments, so a callback sees its own arity.
    switch (this.arity.get(cb)) {
      case 0:
        return (fn() ?? 0) | 0;
      case 1:
        return (fn(a0) ?? 0) | 0;
      case 2:
        return (fn(a0, a1) ?? 0) | 0;
      default:
        return (fn(a0, a1, a2) ?? 0) | 0;
    }
  }

  private readonly arity = new Map(CALLBACKS.map((c) => [c.name, c.args]));

  lastInsnCount(): number {
    return 0;
  }
}
