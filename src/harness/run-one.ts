/**
 * One run of a suite: load the scheduler and the workload, simulate, compute the metrics. A
 * run that cannot be done (an object that does not load, a bad workload) is recorded as an
 * error with its message; it never stops the others, and it is never reported as a result.
 */
import { simulate, type SchedulerSpec } from '../sched/simulate.ts';
import { parseTopology } from '../sched/topology.ts';
import { ScxError } from '../util/errors.ts';
import { readUserFile } from '../util/fs.ts';
import { allTasks, openWorkload } from '../workload/load.ts';
import { computeMetrics, type Metrics } from './metrics.ts';
import { LatencyStats } from '../sched/latency.ts';
import type { RunSpec } from './suite.ts';

export interface RunOutcome {
  index: number;
  id: string;
  scheduler: string;
  workload: string;
  topology: string;
  seed: number;
  durationNs: number;
  /**
   * ok: the run completed; aborted: completed, but the sched_ext scheduler was aborted on the
   * way; error: no result (see `error`); not run: the suite was stopped or sharded before it.
   */
  status: 'ok' | 'aborted' | 'error' | 'not run';
  error?: string;
  metrics?: Metrics;
  /** Every wake-up's latency, all tasks together: [low ns, high ns, count] buckets (LatencyStats). */
  latencyHistogram?: [number, number, number][];
  /** CPU utilisation (0..1, all CPUs) over the run: [end of the stretch in ns, utilisation in it]. */
  utilisationOverTime?: [number, number][];
}

/** Stretches of the utilisation timeline. */
const TIMELINE_POINTS = 20;

export function runOne(spec: RunSpec): RunOutcome {
  const head = { index: spec.index, id: spec.id, scheduler: spec.scheduler, workload: spec.workload, topology: spec.topology, seed: spec.seed, durationNs: spec.durationNs };
  try {
    const scheduler: SchedulerSpec = spec.schedulerPath === 'builtin:eevdf' ? { kind: 'builtin:eevdf' } : { kind: 'bpf', file: spec.scheduler, bytes: new Uint8Array(readUserFile(spec.schedulerPath, (m) => new ScxError(m))) };
    const workload = openWorkload(spec.workloadPath, { seed: spec.seed, nrCpus: parseTopology(spec.topology).nrCpus });
    const tasks = allTasks(workload);
    const nrCpus = parseTopology(spec.topology).nrCpus;
    const samples: [number, number][] = [[0, 0]];
    const result = simulate({
      scheduler,
      tasks,
      cgroups: workload.cgroups,
      topology: spec.topology,
      durationNs: spec.durationNs,
      seed: spec.seed,
      hz: spec.hz,
      progress: { everyNs: Math.max(1, Math.ceil(spec.durationNs / TIMELINE_POINTS)), report: (now, busy) => void samples.push([now, busy]) },
    });
    samples.push([result.durationNs, result.cpus.reduce((n, c) => n + c.busy, 0)]);
    const utilisationOverTime: [number, number][] = [];
    for (let i = 1; i < samples.length; i++) {
      const span = samples[i][0] - samples[i - 1][0];
      if (span > 0) utilisationOverTime.push([samples[i][0], (samples[i][1] - samples[i - 1][1]) / (span * nrCpus)]);
    }
    const latency = new LatencyStats();
    for (const t of result.tasks) latency.merge(t.wakeupLatency);
    const metrics = computeMetrics(result, tasks);
    return { ...head, status: result.exit ? 'aborted' : 'ok', metrics, latencyHistogram: latency.histogram(), utilisationOverTime };
  } catch (e) {
    if (!(e instanceof ScxError)) throw e;
    return { ...head, status: 'error', error: e.message };
  }
}
