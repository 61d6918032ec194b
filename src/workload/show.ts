/**
 * What a workload asks of a machine, before any scheduler touches it: each task's program is
 * walked as if the task had a CPU to itself, so its CPU demand lands where it would want it.
 * That is an optimistic bound: a `wait` is taken as satisfied at once (who posts, and when,
 * depends on the schedule), and nothing queues. Tasks that loop forever are followed to the
 * horizon.
 */
import type { ChildTask, Phase, SimTask } from '../sched/spec.ts';

export interface WorkloadProfile {
  /** Tasks in the input, and children their programs fork before the horizon. */
  tasks: number;
  forked: number;
  /** CPU time asked for before the horizon (ns). */
  demandNs: number;
  /** From the first arrival to the end of the last task's work, capped at the horizon (ns). */
  startNs: number;
  endNs: number;
  /** True when some task still had work at the horizon (it loops forever or runs past it). */
  truncated: boolean;
  horizonNs: number;
  /** Demand per bucket, in CPUs' worth (demand ns / bucket ns). */
  bucketNs: number;
  demand: number[];
}

/** A walk gives up on a program this many steps past its last use of time (a zero-time loop). */
const STEPS_WITHOUT_TIME = 100_000;

export function profileWorkload(specs: readonly SimTask[], horizonNs: number, buckets = 60): WorkloadProfile {
  if (!(Number.isSafeInteger(horizonNs) && horizonNs > 0)) throw new RangeError(`horizon ${horizonNs} ns: expected a positive integer`);
  const start = specs.length ? Math.min(...specs.map((s) => s.arrival)) : 0;
  const bucketNs = Math.max(1, Math.ceil((horizonNs - start) / buckets));
  const demand = new Float64Array(buckets);
  const p: WorkloadProfile = { tasks: specs.length, forked: 0, demandNs: 0, startNs: start, endNs: start, truncated: false, horizonNs, bucketNs, demand: [] };
  const addRun = (from: number, ns: number) => {
    const to = Math.min(from + ns, horizonNs);
    if (to <= from) return;
    p.demandNs += to - from;
    for (let b = Math.floor((from - start) / bucketNs); b < buckets; b++) {
      const lo = start + b * bucketNs;
      const hi = lo + bucketNs;
      if (lo >= to) break;
      demand[b] += Math.min(hi, to) - Math.max(lo, from);
    }
  };
  const pending: { task: SimTask | ChildTask; at: number }[] = specs.map((s) => ({ task: s, at: s.arrival }));
  while (pending.length) {
    const { task, at } = pending.pop()!;
    const end = walk(task, at, horizonNs, addRun, (child, when) => {
      p.forked++;
      pending.push({ task: child, at: when });
    });
    if (end >= horizonNs) p.truncated = true;
    p.endNs = Math.max(p.endNs, Math.min(end, horizonNs));
  }
  p.demand = Array.from(demand, (d) => d / bucketNs);
  return p;
}

/** Follow one program from `at`; returns when it ends (or the horizon). */
function walk(task: SimTask | ChildTask, at: number, horizon: number, run: (from: number, ns: number) => void, fork: (child: ChildTask, at: number) => void): number {
  let t = at;
  let activations = 0;
  let idle = 0;
  const frames: { phases: readonly Phase[]; index: number; left: number }[] = [{ phases: task.phases, index: 0, left: task.loops ?? Infinity }];
  while (t < horizon) {
    const f = frames[frames.length - 1];
    if (f.index >= f.phases.length) {
      if (--f.left > 0) f.index = 0;
      else if (frames.length === 1) return t;
      else frames.pop();
      if (++idle > STEPS_WITHOUT_TIME) return t;
      continue;
    }
    const step = f.phases[f.index++];
    const before = t;
    if ('run' in step) {
      run(t, step.run);
      t += step.run;
    } else if ('sleep' in step) t += step.sleep;
    else if ('timer' in step) {
      activations++;
      t = Math.max(t, at + activations * step.timer);
    } else if ('fork' in step) fork(step.fork, t);
    else if ('exit' in step) return t;
    else if ('repeat' in step) {
      if (step.repeat > 0) frames.push({ phases: step.phases, index: 0, left: step.repeat });
    }
    // wait, post, broadcast, yield, nice, cpus: no time in a walk alone.
    if (t > before) idle = 0;
    else if (++idle > STEPS_WITHOUT_TIME) return t;
  }
  return horizon;
}
