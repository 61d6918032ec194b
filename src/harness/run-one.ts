/**
 * One run of a suite: load the scheduler and the workload, simulate, compute the metrics. A
 * run that cannot be done (an object that does not load, a bad workload) is recorded as an
 * error with its message; it never stops the others, and it is never reported as a result.
 */
import { readFileSync } from 'node:fs';
import { simulate, type SchedulerSpec } from '../sched/simulate.ts';
import { parseTopology } from '../sched/topology.ts';
import { ScxError } from '../util/errors.ts';
import { loadWorkload } from '../workload/load.ts';
import { computeMetrics, type Metrics } from './metrics.ts';
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
}

export function runOne(spec: RunSpec): RunOutcome {
  const head = { index: spec.index, id: spec.id, scheduler: spec.scheduler, workload: spec.workload, topology: spec.topology, seed: spec.seed, durationNs: spec.durationNs };
  try {
    const scheduler: SchedulerSpec = spec.schedulerPath === 'builtin:eevdf' ? { kind: 'builtin:eevdf' } : { kind: 'bpf', file: spec.scheduler, bytes: new Uint8Array(readBytes(spec.schedulerPath)) };
    const tasks = loadWorkload(spec.workloadPath, { seed: spec.seed, nrCpus: parseTopology(spec.topology).nrCpus });
    const result = simulate({ scheduler, tasks, topology: spec.topology, durationNs: spec.durationNs, seed: spec.seed, hz: spec.hz });
    const metrics = computeMetrics(result, tasks);
    return { ...head, status: result.exit ? 'aborted' : 'ok', metrics };
  } catch (e) {
    if (!(e instanceof ScxError)) throw e;
    return { ...head, status: 'error', error: e.message };
  }
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ScxError(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`}`);
  }
}
