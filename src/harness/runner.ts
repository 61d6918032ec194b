/**
 * Running a suite's runs, on this thread or spread over worker threads (piscina), and writing
 * the results. Each run is a pure function of its spec, and outcomes are stored by run index, so
 * the results are byte-identical whatever the number of workers and whatever order runs finish.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
}

export async function runAll(runs: readonly RunSpec[], o: RunnerOptions): Promise<RunOutcome[]> {
  const outcomes: RunOutcome[] = new Array(runs.length);
  let done = 0;
  const finish = (out: RunOutcome) => {
    outcomes[out.index] = out;
    o.onDone?.(out, ++done, runs.length);
  };
  if (o.jobs <= 1) {
    for (const r of runs) finish(runOne(r));
    return outcomes;
  }
  const pool = new Piscina({ filename: new URL('./worker.mjs', import.meta.url).href, minThreads: o.jobs, maxThreads: o.jobs });
  try {
    await Promise.all(runs.map((r) => (pool.run(r) as Promise<RunOutcome>).then(finish)));
  } finally {
    await pool.destroy();
  }
  return outcomes;
}

/** Metric columns of results.csv: every scalar metric, in the order of METRIC_DEFINITIONS. */
const METRIC_COLUMNS = (Object.keys(METRIC_DEFINITIONS) as (keyof Metrics)[]).filter((k) => k !== 'utilisationPerCpu');
const RUN_COLUMNS = ['index', 'id', 'scheduler', 'workload', 'topology', 'seed', 'durationNs', 'status', 'error'] as const;

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
  for (const o of outcomes) writeFileAtomic(join(dir, 'runs', `${o.id}.json`), JSON.stringify(o, null, 2) + '\n');
  writeFileAtomic(join(dir, 'results.csv'), resultsCsv(outcomes));
}

/** Read a results folder back. */
export function readResults(dir: string): { suite: Suite; outcomes: RunOutcome[] } {
  const read = (file: string): unknown => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ScxError(`${file}: ${code === 'ENOENT' ? 'no such file (is this a results folder?)' : `unreadable (${(e as Error).message})`}`);
    }
  };
  const suite = read(join(dir, 'suite.json')) as Suite;
  const outcomes = expandSuite(suite).map((r) => read(join(dir, 'runs', `${r.id}.json`)) as RunOutcome);
  return { suite, outcomes };
}
