/**
 * Running a suite's runs, on this thread or spread over worker threads (piscina), and writing
 * the results. Each run is a pure function of its spec, and outcomes are stored by run index, so
 * the results are byte-identical whatever the number of workers and whatever order runs finish.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setMaxListeners } from 'node:events';
import { Piscina } from 'piscina';
import { writeFileAtomic } from '../util/fs.ts';
import { METRIC_DEFINITIONS, type Metrics } from './metrics.ts';
import { runOne, type RunOutcome } from './run-one.ts';
import { expandSuite, type RunSpec, type Suite } from './suite.ts';
import { ScxError } from '../util/errors.ts';

export interface RunnerOptions {
  jobs: number;
  /** Called as each run finishes, in finishing order. */
  onDone?: (outcome: RunOutcome, done: number, total: number) => void;
  /** Stop: no new run starts; runs in progress are dropped; finished ones are kept. */
  signal?: AbortSignal;
}

/** The outcome of a run that was not (or not completely) done: never a result. */
export function notRun(r: RunSpec): RunOutcome {
  return { index: r.index, id: r.id, scheduler: r.scheduler, workload: r.workload, topology: r.topology, seed: r.seed, durationNs: r.durationNs, status: 'not run' };
}

/** Outcomes of `runs`, in the same order; runs stopped by the signal are 'not run'. */
export async function runAll(runs: readonly RunSpec[], o: RunnerOptions): Promise<RunOutcome[]> {
  const outcomes: RunOutcome[] = runs.map(notRun);
  let done = 0;
  const finish = (i: number, out: RunOutcome) => {
    outcomes[i] = out;
    o.onDone?.(out, ++done, runs.length);
  };
  if (o.jobs <= 1) {
    for (let i = 0; i < runs.length; i++) {
      // Let a Ctrl-C in between runs.
      await new Promise((resolve) => setImmediate(resolve));
      if (o.signal?.aborted) break;
      finish(i, runOne(runs[i]));
    }
    return outcomes;
  }
  const pool = new Piscina({ filename: new URL('./worker.mjs', import.meta.url).href, minThreads: o.jobs, maxThreads: o.jobs });
  // Every queued run listens on the signal until it starts: as many listeners as runs, on purpose.
  if (o.signal) setMaxListeners(runs.length + 10, o.signal);
  try {
    await Promise.all(
      runs.map((r, i) =>
        (pool.run(r, { signal: o.signal }) as Promise<RunOutcome>).then(
          (out) => finish(i, out),
          (e: unknown) => {
            if (!o.signal?.aborted) throw e;
          },
        ),
      ),
    );
  } finally {
    await pool.destroy();
  }
  return outcomes;
}

/**
 * Combine the run files of shards of one suite (`scx-sim suite run --shard i/n`) into the
 * outcomes of the whole suite. The shards must come from the same suite; a run done in two
 * shards must have the same outcome in both; a run done in none stays 'not run'.
 */
export function mergeShards(dirs: readonly string[]): { suite: Suite; outcomes: RunOutcome[] } {
  if (dirs.length === 0) throw new ScxError('merge: expected results folders to merge');
  const suites = dirs.map((d) => readJson(join(d, 'suite.json')) as Suite);
  const text = JSON.stringify(suites[0]);
  suites.forEach((s, i) => {
    if (JSON.stringify(s) !== text) throw new ScxError(`${dirs[i]}: its suite.json differs from ${dirs[0]}'s: shards must come from one suite`);
  });
  const runs = expandSuite(suites[0]);
  const outcomes = runs.map(notRun);
  const from: (string | undefined)[] = runs.map(() => undefined);
  for (const dir of dirs) {
    for (const r of runs) {
      const file = join(dir, 'runs', `${r.id}.json`);
      if (!existsSync(file)) continue;
      const o = readJson(file) as RunOutcome;
      if (o.status === 'not run') continue;
      if (from[r.index] !== undefined && JSON.stringify(outcomes[r.index]) !== JSON.stringify(o)) {
        throw new ScxError(`${file}: run ${r.id} differs from the same run in ${from[r.index]}`);
      }
      outcomes[r.index] = o;
      from[r.index] = dir;
    }
  }
  return { suite: suites[0], outcomes };
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ScxError(`${file}: ${code === 'ENOENT' ? 'no such file (is this a results folder?)' : `unreadable (${(e as Error).message})`}`);
  }
}

/** Metric columns of results.csv: every scalar metric, in the order of METRIC_DEFINITIONS. */
const RUN_COLUMNS = ['index', 'id', 'scheduler', 'workload', 'topology', 'seed', 'durationNs', 'status', 'error'] as const;
/** Every scalar metric, but the run's simulated time, which the run columns already give. */
const METRIC_COLUMNS = (Object.keys(METRIC_DEFINITIONS) as (keyof Metrics)[]).filter((k) => k !== 'utilisationPerCpu' && k !== 'durationNs');

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One row per run, in run order. */
export function resultsCsv(outcomes: readonly RunOutcome[]): string {
  const rows = [[...RUN_COLUMNS, ...METRIC_COLUMNS].join(',')];
  for (const o of outcomes) {
    const cells = RUN_COLUMNS.map((k) => csvField(o[k]));
    for (const k of METRIC_COLUMNS) cells.push(csvField(o.metrics ? o.metrics[k] : undefined));
    rows.push(cells.join(','));
  }
  return rows.join('\n') + '\n';
}

/**
 * A results folder: suite.json (the suite as run), runs/<id>.json (each run's outcome with all
 * its metrics) and results.csv (one row per run), every file written atomically. Reports and
 * comparisons are made from these files alone.
 */
export function writeResults(dir: string, suite: Suite, outcomes: readonly RunOutcome[]): void {
  mkdirSync(join(dir, 'runs'), { recursive: true });
  writeFileAtomic(join(dir, 'suite.json'), JSON.stringify(suite, null, 2) + '\n');
  for (const o of outcomes) if (o.status !== 'not run') writeFileAtomic(join(dir, 'runs', `${o.id}.json`), JSON.stringify(o, null, 2) + '\n');
  writeFileAtomic(join(dir, 'results.csv'), resultsCsv(outcomes));
}

/** Read a results folder back; runs without a file (a stopped suite, a shard) are 'not run'. */
export function readResults(dir: string): { suite: Suite; outcomes: RunOutcome[] } {
  const suite = readJson(join(dir, 'suite.json')) as Suite;
  const outcomes = expandSuite(suite).map((r) => {
    const file = join(dir, 'runs', `${r.id}.json`);
    return existsSync(file) ? (readJson(file) as RunOutcome) : notRun(r);
  });
  return { suite, outcomes };
}
