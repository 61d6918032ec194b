/**
 * One simulation run: a scheduler (the built-in EEVDF class, a BPF sched_ext object, or a
 * TypeScript sched_ext scheduler) on a topology, with tasks, for a duration. The result holds
 * per-task and per-CPU records and, for sched_ext schedulers, callback counts, BPF instructions
 * executed and the exit of an aborted scheduler (after which the run went on in the fair class).
 */
import { load, openObject, type LoadedObject } from '../bpf/loader.ts';
import type { EngineName } from '../bpf/engine.ts';
import type { HelperCall, HelperFn } from '../bpf/helpers.ts';
import { allocKernelWords, type TimerState } from '../bpf/kernel-helpers.ts';
import { AddressSpace } from '../bpf/memory.ts';
import { ScxError } from '../util/errors.ts';
import { schedExtOpsOf } from './ext/bpf-ops.ts';
import { scxKfuncs } from './ext/kfunc-protos.ts';
import { fillScxEnums } from './ext/constants.ts';
import { TsKernelApi, TsSchedExtOps, type TsSchedulerDef } from './ext/ops.ts';
import { Machine, type ExitInfo, type TraceEvent } from './machine.ts';
import type { KernelFlavour } from './ext/context.ts';
import { SimKernel } from './kernel.ts';
import type { CgroupSpec, CpuRecord, SimTask, TaskRecord, TaskSource } from './spec.ts';
import { parseTopology } from './topology.ts';

export type SchedulerSpec =
  | { kind: 'builtin:eevdf' }
  | { kind: 'bpf'; file: string; bytes: Uint8Array }
  /** A TypeScript scheduler: built against the kfunc API of the run's kernel memory. */
  | { kind: 'ts'; make: (api: TsKernelApi) => TsSchedulerDef };

export interface SimulateOptions {
  scheduler: SchedulerSpec;
  /** The tasks, or a source producing them in arrival order (open workloads). */
  tasks: readonly SimTask[] | TaskSource;
  /**
   * Cgroups that exist from the start, with their cpu.weight (default 100); tasks join them by
   * `cgroup` path. A path a task names that is not declared here is created at the default weight.
   */
  cgroups?: readonly CgroupSpec[];
  topology: string;
  durationNs: number;
  engine?: EngineName;
  hz?: number;
  /** Seeds the run's randomness (bpf_get_prandom_u32). Default 1. */
  seed?: number;
  /** Check the machine's placement invariants after every event (slow; for tests). */
  checkInvariants?: boolean;
  /** Receives each exited task's record, which is then left out of `tasks` (long open runs). */
  onTaskExit?: (record: TaskRecord) => void;
  /** Called every `everyNs` of simulated time, with the CPU time used so far on all CPUs. */
  progress?: { everyNs: number; report: (nowNs: number, busyNs: number) => void };
  /** Keep and return the event log. */
  trace?: boolean;
  /**
   * The kernel whose sched_ext rules apply: '6.12' (scx_bpf_select_cpu_dfl only from
   * select_cpu, no SCX_ENQ_CPU_SELECTED) or 'newer' (the default). Both kfunc spellings work.
   */
  kernelVersion?: KernelFlavour;
  /**
   * BPF schedulers only: told of every sched_ext kfunc call before it runs, with the CPU it is
   * made on and its arguments (tests of what a scheduler asks of the core, and from where).
   */
  observeKfunc?: (name: string, cpu: number, call: HelperCall) => void;
}

export interface SimulateResult {
  scheduler: string;
  topology: string;
  durationNs: number;
  tasks: TaskRecord[];
  cpus: CpuRecord[];
  /** Event-queue events handled: wake-ups, burst ends, ticks, reschedules, timers. */
  events: number;
  /** sched_ext schedulers only. */
  callbacks?: Record<string, number>;
  bpfInsns?: number;
  /** Set when a sched_ext scheduler was aborted; its tasks finished the run in the fair class. */
  exit?: ExitInfo;
  /** The event log, when asked for. */
  trace?: TraceEvent[];
}

export function simulate(o: SimulateOptions): SimulateResult {
  const topo = parseTopology(o.topology);
  if (!Number.isSafeInteger(o.durationNs) || o.durationNs <= 0) throw new ScxError(`duration ${o.durationNs} ns: expected a positive integer`);
  if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && o.seed >= 0)) throw new ScxError(`seed ${o.seed}: expected a non-negative integer`);
  const machine = new Machine(topo, { hz: o.hz, seed: o.seed, flavour: o.kernelVersion, checkInvariants: o.checkInvariants, cgroups: o.cgroups, onTaskExit: o.onTaskExit, progress: o.progress, trace: o.trace });
  let name: string;
  if (o.scheduler.kind === 'builtin:eevdf') {
    name = 'builtin:eevdf';
  } else if (o.scheduler.kind === 'ts') {
    const mem = new AddressSpace();
    const km = { mem, words: allocKernelWords(mem) };
    const api = new TsKernelApi(km);
    api.bind(machine.kfuncs());
    const ops = new TsSchedExtOps(o.scheduler.make(api));
    machine.attach(km, ops);
    name = `ts:${ops.name}`;
  } else {
    const kernel = new SimKernel({ scx: () => scxKfuncs(observed(machine, o.observeKfunc)) });
    const obj = openObject(o.scheduler.bytes, o.scheduler.file);
    fillScxEnums(obj);
    const loaded = load(obj, kernel, machine.bpfMachine(), { engine: o.engine });
    machine.attach(loaded, schedExtOpsOf(loaded), {
      taskFreed: (addr) => {
        for (const m of loaded.maps.values()) m.dropOwner(addr);
      },
      fireTimer: (t) => fireTimer(loaded, t),
    });
    name = o.scheduler.file;
  }
  const r = machine.run(o.tasks, o.durationNs);
  const ext = o.scheduler.kind === 'builtin:eevdf' ? {} : { callbacks: r.callbacks, bpfInsns: r.bpfInsns, exit: r.exit };
  return { scheduler: name, topology: topo.spec, durationNs: r.durationNs, tasks: r.tasks, cpus: r.cpus, events: r.events, ...ext, ...(r.trace ? { trace: r.trace } : {}) };
}

/** The machine's sched_ext kfuncs, each reporting its calls to `observe` first when given. */
function observed(machine: Machine, observe: SimulateOptions['observeKfunc']): Record<string, HelperFn> {
  const kfuncs = machine.kfuncs();
  if (!observe) return kfuncs;
  const { currentCpu } = machine.bpfMachine();
  return Object.fromEntries(
    Object.entries(kfuncs).map(([name, fn]) => [
      name,
      (c: HelperCall) => {
        observe(name, currentCpu(), c);
        return fn(c);
      },
    ]),
  );
}

/** Run a BPF timer's callback as the kernel does: (map, key, value) of the element holding it. */
function fireTimer(loaded: LoadedObject, t: TimerState): number {
  const prog = loaded.programs.get(t.owner as string);
  if (!prog) throw new ScxError(`${loaded.object.file}: timer at 0x${t.timerAddr.toString(16)} belongs to no program`);
  let value = 0;
  let key = 0;
  for (const f of t.map.spec.fields ?? []) {
    if (f.kind !== 'timer') continue;
    key = t.map.keyAddrOfValue(t.timerAddr - f.offset);
    if (key) {
      value = t.timerAddr - f.offset;
      break;
    }
  }
  prog.exe.runFunction(t.callback, [BigInt(loaded.addressOfMap(t.map)), BigInt(key), BigInt(value)]);
  return prog.exe.lastInsnCount();
}
