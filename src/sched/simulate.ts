/**
 * One simulation run: a scheduler (the built-in EEVDF class, or a BPF sched_ext object) on a
 * topology, with tasks, for a duration. The result holds per-task and per-CPU records and, for
 * BPF schedulers, callback counts, BPF instructions executed and the exit of an aborted
 * scheduler.
 */
import { idleMachine, load, openObject } from '../bpf/loader.ts';
import type { EngineName } from '../bpf/engine.ts';
import { ScxError } from '../util/errors.ts';
import { schedExtOpsOf } from './ext/bpf-ops.ts';
import { ExtCore, type ExitInfo } from './ext/core.ts';
import { scxKfuncs } from './ext/kfunc-protos.ts';
import { TsKernelApi, TsSchedExtOps, type TsSchedulerDef } from './ext/ops.ts';
import { allocKernelWords } from '../bpf/kernel-helpers.ts';
import { AddressSpace } from '../bpf/memory.ts';
import { simulateFair, type CpuRecord, type SimTask, type TaskRecord } from './fair/sim.ts';
import { SimKernel } from './kernel.ts';
import { parseTopology } from './topology.ts';

export type SchedulerSpec =
  | { kind: 'builtin:eevdf' }
  | { kind: 'bpf'; file: string; bytes: Uint8Array }
  /** A TypeScript scheduler: built against the kfunc API of the run's kernel memory. */
  | { kind: 'ts'; make: (api: TsKernelApi) => TsSchedulerDef };

export interface SimulateOptions {
  scheduler: SchedulerSpec;
  tasks: readonly SimTask[];
  topology: string;
  durationNs: number;
  engine?: EngineName;
  hz?: number;
  /** Check the sched_ext core's placement invariants after every event (slow; for tests). */
  checkInvariants?: boolean;
}

export interface SimulateResult {
  scheduler: string;
  topology: string;
  durationNs: number;
  tasks: TaskRecord[];
  cpus: CpuRecord[];
  /** BPF schedulers only. */
  callbacks?: Record<string, number>;
  bpfInsns?: number;
  /** Set when a BPF scheduler was aborted; the run stopped there. */
  exit?: ExitInfo;
}

export function simulate(o: SimulateOptions): SimulateResult {
  const topo = parseTopology(o.topology);
  if (!Number.isSafeInteger(o.durationNs) || o.durationNs <= 0) throw new ScxError(`duration ${o.durationNs} ns: expected a positive integer`);
  if (o.scheduler.kind === 'builtin:eevdf') {
    const r = simulateFair(topo, o.tasks, o.durationNs, o.hz);
    return { scheduler: 'builtin:eevdf', topology: topo.spec, ...r };
  }
  const core = new ExtCore(topo, 'newer', o.hz);
  core.checkInvariants = o.checkInvariants ?? false;
  if (o.scheduler.kind === 'ts') {
    const mem = new AddressSpace();
    const km = { mem, words: allocKernelWords(mem) };
    const api = new TsKernelApi(km);
    api.bind(core.kfuncs());
    const ops = new TsSchedExtOps(o.scheduler.make(api));
    core.attach(km, ops);
    const r = core.run(o.tasks, o.durationNs);
    return { scheduler: `ts:${ops.name}`, topology: topo.spec, durationNs: r.durationNs, tasks: r.tasks, cpus: r.cpus, callbacks: r.callbacks, bpfInsns: 0, exit: r.exit };
  }
  const kernel = new SimKernel({ scx: () => scxKfuncs(core.kfuncs()) });
  const machine = { ...idleMachine(topo.nrCpus), isTask: (a: number) => core.isTask(a) };
  const loaded = load(openObject(o.scheduler.bytes, o.scheduler.file), kernel, machine, { engine: o.engine });
  core.attach(loaded, schedExtOpsOf(loaded));
  const r = core.run(o.tasks, o.durationNs);
  return {
    scheduler: o.scheduler.file,
    topology: topo.spec,
    durationNs: r.durationNs,
    tasks: r.tasks,
    cpus: r.cpus,
    callbacks: r.callbacks,
    bpfInsns: r.bpfInsns,
    exit: r.exit,
  };
}
