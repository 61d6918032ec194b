/**
 * The fair class alone (`builtin:eevdf`): per-CPU EEVDF runqueues driven by the event queue.
 * Tasks alternate CPU bursts and sleeps. Wake-ups choose the previous CPU when idle, else an
 * idle CPU sharing its LLC, else any idle CPU, else the least loaded allowed CPU. The load
 * balancer is deliberately simple: at every tick an idle CPU pulls one waiting task from the
 * busiest allowed runqueue. This is the baseline a sched_ext scheduler is compared with; the
 * sched_ext core builds on the same machine model.
 */
import { EventQueue } from '../engine.ts';
import type { Topology } from '../topology.ts';
import { niceToWeight } from '../weights.ts';
import { FairRunqueue, baseSlice, type FairEntity } from './eevdf.ts';
import { ScxError } from '../../util/errors.ts';

/** A phase of a task's behaviour: run for `run` ns of CPU, or sleep for `sleep` ns. */
export type Phase = { run: number } | { sleep: number };

export interface SimTask {
  pid: number;
  comm: string;
  nice?: number;
  cpus?: readonly number[];
  /** When the task appears (ns). */
  arrival: number;
  phases: readonly Phase[];
  /** How many times to run the phases (Infinity: until the end of the run). */
  loops?: number;
}

export interface TaskRecord {
  pid: number;
  comm: string;
  runtime: number;
  /** Time runnable but not running. */
  wait: number;
  /** Each wake-up's delay until the task ran. */
  wakeupLatency: number[];
  switches: number;
  migrations: number;
  exited: boolean;
}

export interface CpuRecord {
  cpu: number;
  busy: number;
  idle: number;
  switches: number;
}

export interface FairRunResult {
  durationNs: number;
  tasks: TaskRecord[];
  cpus: CpuRecord[];
}

export class SimError extends ScxError {}

const EV_ARRIVE = 0;
const EV_WAKE = 1;
const EV_TICK = 2;
const EV_BURST_END = 3;

interface TaskState {
  index: number;
  spec: SimTask;
  entity: FairEntity;
  record: TaskRecord;
  allowed: Uint8Array;
  cpu: number;
  /** 'sleeping' | 'runnable' | 'running' | 'exited' */
  state: string;
  phase: number;
  loop: number;
  /** CPU time left in the current run phase. */
  remaining: number;
  runnableSince: number;
  wokeAt: number;
}

interface CpuState {
  rq: FairRunqueue;
  curr: TaskState | undefined;
  /** When the current task's run time was last charged. */
  since: number;
  burstEvent: number;
  record: CpuRecord;
  idleSince: number;
}

export function simulateFair(topo: Topology, specs: readonly SimTask[], durationNs: number, hz = 1000): FairRunResult {
  const q = new EventQueue();
  const slice = baseSlice(topo.nrCpus);
  const tick = Math.round(1e9 / hz);
  const cpus: CpuState[] = topo.cpus.map((c) => ({
    rq: new FairRunqueue(),
    curr: undefined,
    since: 0,
    burstEvent: -1,
    record: { cpu: c.id, busy: 0, idle: 0, switches: 0 },
    idleSince: 0,
  }));
  const tasks: TaskState[] = specs.map((spec, index) => {
    const allowed = new Uint8Array(topo.nrCpus);
    for (const c of spec.cpus ?? topo.cpus.map((x) => x.id)) {
      if (c < 0 || c >= topo.nrCpus) throw new SimError(`task ${spec.pid}: CPU ${c} does not exist on ${topo.spec}`);
      allowed[c] = 1;
    }
    if (spec.phases.length === 0) throw new SimError(`task ${spec.pid}: no phases`);
    return {
      index,
      spec,
      entity: { id: spec.pid, weight: niceToWeight(spec.nice ?? 0), vruntime: 0, deadline: 0, vlag: 0, slice },
      record: { pid: spec.pid, comm: spec.comm, runtime: 0, wait: 0, wakeupLatency: [], switches: 0, migrations: 0, exited: false },
      allowed,
      cpu: -1,
      state: 'new',
      phase: 0,
      loop: 0,
      remaining: 0,
      runnableSince: 0,
      wokeAt: -1,
    };
  });
  const taskOf = new Map<FairEntity, TaskState>(tasks.map((t) => [t.entity, t]));
  tasks.forEach((t, i) => q.schedule(t.spec.arrival, EV_ARRIVE, i));
  for (let c = 0; c < topo.nrCpus; c++) q.schedule(tick, EV_TICK, c);

  /** Charge the running task on `c` up to now. */
  const charge = (c: number) => {
    const cpu = cpus[c];
    const t = cpu.curr;
    if (!t) return;
    const delta = q.now - cpu.since;
    cpu.since = q.now;
    if (delta <= 0) return;
    t.record.runtime += delta;
    t.remaining -= delta;
    cpu.record.busy += delta;
    cpu.rq.updateCurr(delta);
  };

  /** Pick what runs next on `c` (after charging), switching if needed. */
  const schedule = (c: number) => {
    const cpu = cpus[c];
    charge(c);
    const next = cpu.rq.pick();
    const nextTask = next === undefined ? undefined : taskOf.get(next);
    const prev = cpu.curr;
    if (nextTask === prev) {
      armBurst(c);
      return;
    }
    if (prev && prev.state === 'running') {
      prev.state = 'runnable';
      prev.runnableSince = q.now;
    }
    if (nextTask) {
      cpu.rq.setCurr(nextTask.entity);
      if (!prev) cpu.record.idle += q.now - cpu.idleSince;
      nextTask.state = 'running';
      nextTask.record.wait += q.now - nextTask.runnableSince;
      if (nextTask.wokeAt >= 0) {
        nextTask.record.wakeupLatency.push(q.now - nextTask.wokeAt);
        nextTask.wokeAt = -1;
      }
      nextTask.record.switches++;
      cpu.record.switches++;
    } else {
      cpu.idleSince = q.now;
    }
    cpu.curr = nextTask;
    cpu.since = q.now;
    armBurst(c);
  };

  const armBurst = (c: number) => {
    const cpu = cpus[c];
    if (cpu.burstEvent >= 0) q.cancel(cpu.burstEvent);
    cpu.burstEvent = cpu.curr ? q.schedule(q.now + Math.max(0, cpu.curr.remaining), EV_BURST_END, c) : -1;
  };

  const idleFor = (t: TaskState, c: number): boolean => t.allowed[c] === 1 && cpus[c].curr === undefined && cpus[c].rq.nrRunning === 0;
  const selectCpu = (t: TaskState): number => {
    if (t.cpu >= 0) {
      if (idleFor(t, t.cpu)) return t.cpu;
      for (const c of topo.llcCpus[topo.cpus[t.cpu].llc]) if (idleFor(t, c)) return c;
    }
    for (let c = 0; c < cpus.length; c++) if (idleFor(t, c)) return c;
    let best = -1;
    for (let c = 0; c < cpus.length; c++) {
      if (t.allowed[c] && (best < 0 || cpus[c].rq.nrRunning < cpus[best].rq.nrRunning)) best = c;
    }
    return best;
  };

  /** Put a task that became runnable on a CPU and preempt if EEVDF says so. */
  const wake = (t: TaskState, initial: boolean) => {
    const c = selectCpu(t);
    if (t.cpu >= 0 && c !== t.cpu) t.record.migrations++;
    t.cpu = c;
    t.state = 'runnable';
    t.runnableSince = q.now;
    t.wokeAt = q.now;
    const cpu = cpus[c];
    charge(c);
    cpu.rq.enqueue(t.entity, initial);
    if (!cpu.curr || cpu.rq.shouldPreempt(t.entity)) schedule(c);
  };

  /** Start the task's next phase (after a finished one). */
  const advance = (t: TaskState): 'run' | 'sleep' | 'exit' => {
    for (let steps = 0; ; steps++) {
      if (steps > t.spec.phases.length) throw new SimError(`task ${t.spec.pid}: its phases take no time, so it would loop forever`);
      if (t.phase >= t.spec.phases.length) {
        t.phase = 0;
        t.loop++;
        if (t.loop >= (t.spec.loops ?? Infinity)) return 'exit';
      }
      const p = t.spec.phases[t.phase++];
      if ('run' in p) {
        if (p.run <= 0) continue;
        t.remaining = p.run;
        return 'run';
      }
      if (p.sleep <= 0) continue;
      q.schedule(q.now + p.sleep, EV_WAKE, t.index);
      return 'sleep';
    }
  };

  while (q.next()) {
    // The run covers [0, duration): an event at the end instant is not part of it.
    if (q.now >= durationNs) break;
    switch (q.kind) {
      case EV_ARRIVE: {
        const t = tasks[q.a];
        if (advance(t) === 'run') wake(t, true);
        break;
      }
      case EV_WAKE: {
        const t = tasks[q.a];
        if (advance(t) === 'run') wake(t, false);
        else if (t.state !== 'sleeping') t.state = 'sleeping';
        break;
      }
      case EV_BURST_END: {
        const c = q.a;
        const cpu = cpus[c];
        cpu.burstEvent = -1;
        charge(c);
        const t = cpu.curr!;
        const next = advance(t);
        if (next === 'run') {
          schedule(c);
          break;
        }
        cpu.rq.dequeueSleep(t.entity);
        cpu.curr = undefined;
        cpu.idleSince = q.now;
        if (next === 'exit') {
          t.state = 'exited';
          t.record.exited = true;
        } else t.state = 'sleeping';
        schedule(c);
        break;
      }
      case EV_TICK: {
        const c = q.a;
        const cpu = cpus[c];
        if (cpu.curr) {
          charge(c);
          schedule(c);
        } else if (cpu.rq.nrRunning === 0) {
          pullOne(c);
        }
        q.schedule(q.now + tick, EV_TICK, c);
        break;
      }
    }
  }
  // Close the books at the end of the run.
  q.now = Math.max(q.now, durationNs);
  for (let c = 0; c < cpus.length; c++) {
    const cpu = cpus[c];
    if (cpu.curr) {
      const delta = durationNs - cpu.since;
      cpu.curr.record.runtime += delta;
      cpu.record.busy += delta;
    } else cpu.record.idle += durationNs - cpu.idleSince;
  }
  for (const t of tasks) if (t.state === 'runnable') t.record.wait += durationNs - t.runnableSince;
  return { durationNs, tasks: tasks.map((t) => t.record), cpus: cpus.map((c) => c.record) };

  /** Idle CPU `c` takes one waiting task from the busiest runqueue it may run. */
  function pullOne(c: number): void {
    let from = -1;
    let pick: FairEntity | undefined;
    for (let o = 0; o < cpus.length; o++) {
      const queued = cpus[o].rq.queued;
      if (o === c || queued.length === 0 || (from >= 0 && queued.length <= cpus[from].rq.queued.length)) continue;
      for (let i = 0; i < queued.length; i++) {
        if (taskOf.get(queued[i])!.allowed[c]) {
          from = o;
          pick = queued[i];
          break;
        }
      }
    }
    if (!pick) return;
    const t = taskOf.get(pick)!;
    cpus[from].rq.dequeueSleep(pick);
    t.record.migrations++;
    t.cpu = c;
    cpus[c].rq.enqueue(pick, false);
    schedule(c);
  }
}
