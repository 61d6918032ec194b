/**
 * Benchmark suites: which schedulers meet which workloads on which machines, with which seeds,
 * for how long. A suite file is JSON:
 *
 *   {
 *     "name": "default",
 *     "schedulers": ["builtin:eevdf", "../../schedulers/fifo.bpf.o"],
 *     "workloads": ["gen:schbench,m=2,t=4", "../../workloads/csv/web-server.csv"],
 *     "topologies": ["4", "1n:2l:2c:2t"],
 *     "seeds": [1, 2, 3],
 *     "duration": "1s",
 *     "hz": 1000
 *   }
 *
 * Paths are relative to the suite file. Every combination is one run; runs are numbered in the
 * order scheduler, workload, topology, seed (the innermost varies fastest), and that order is
 * the order of every results file, whatever order the runs finish in.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { ScxError } from '../util/errors.ts';
import { readUserFile } from '../util/fs.ts';
import { parseDuration } from '../workload/builtin.ts';
import { parseTopology } from '../sched/topology.ts';

export class SuiteError extends ScxError {}

export interface Suite {
  name: string;
  file: string;
  schedulers: string[];
  workloads: string[];
  topologies: string[];
  seeds: number[];
  durationNs: number;
  hz: number;
}

/** One simulation of a suite. */
export interface RunSpec {
  index: number;
  /** A name unique in the suite, usable as a file name. */
  id: string;
  /** As written in the suite (what results show). */
  scheduler: string;
  workload: string;
  /** Resolved to what the runner opens. */
  schedulerPath: string;
  workloadPath: string;
  topology: string;
  seed: number;
  durationNs: number;
  hz: number;
}

const KEYS = ['name', 'schedulers', 'workloads', 'topologies', 'seeds', 'duration', 'hz'];

export function loadSuite(file: string): Suite {
  const text = readUserFile(file, (m) => new SuiteError(m)).toString('utf8');
  return parseSuite(text, file);
}

export function parseSuite(text: string, file: string): Suite {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SuiteError(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SuiteError(`${file}: expected a JSON object with ${KEYS.join(', ')}`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) throw new SuiteError(`${file}: .${k}: unknown key (expected one of ${KEYS.join(', ')})`);
  const strings = (k: string): string[] => {
    const v = o[k];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x !== '')) throw new SuiteError(`${file}: .${k}: expected a non-empty list of strings, found ${JSON.stringify(v)}`);
    const seen = new Set<string>();
    v.forEach((x: string, i) => {
      if (seen.has(x)) throw new SuiteError(`${file}: .${k}[${i}]: '${x}' is listed twice`);
      seen.add(x);
    });
    return v as string[];
  };
  if (typeof o.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(o.name)) throw new SuiteError(`${file}: .name: expected a name of letters, digits, '.', '_' or '-', found ${JSON.stringify(o.name)}`);
  const topologies = strings('topologies');
  topologies.forEach((t, i) => {
    try {
      parseTopology(t);
    } catch (e) {
      throw new SuiteError(`${file}: .topologies[${i}]: ${(e as Error).message}`);
    }
  });
  const seeds = o.seeds;
  if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every((s) => Number.isSafeInteger(s) && s >= 0)) throw new SuiteError(`${file}: .seeds: expected a non-empty list of non-negative integers, found ${JSON.stringify(seeds)}`);
  if (new Set(seeds).size !== seeds.length) throw new SuiteError(`${file}: .seeds: a seed is listed twice`);
  if (typeof o.duration !== 'string') throw new SuiteError(`${file}: .duration: expected a duration such as "1s", found ${JSON.stringify(o.duration)}`);
  let durationNs: number;
  try {
    durationNs = parseDuration(o.duration, 'duration');
  } catch (e) {
    throw new SuiteError(`${file}: .duration: ${(e as Error).message}`);
  }
  if (durationNs <= 0) throw new SuiteError(`${file}: .duration: expected more than 0, found "${o.duration}"`);
  const hz = o.hz ?? 1000;
  if (!Number.isInteger(hz) || (hz as number) < 1 || (hz as number) > 10_000) throw new SuiteError(`${file}: .hz: expected an integer from 1 to 10000, found ${JSON.stringify(o.hz)}`);
  return { name: o.name, file, schedulers: strings('schedulers'), workloads: strings('workloads'), topologies, seeds: seeds as number[], durationNs, hz: hz as number };
}

/** The suite's runs, in results order. */
export function expandSuite(s: Suite): RunSpec[] {
  const base = dirname(s.file);
  const path = (p: string) => (p.startsWith('builtin:') || p.startsWith('gen:') || isAbsolute(p) ? p : resolve(base, p));
  const runs: RunSpec[] = [];
  s.schedulers.forEach((scheduler, si) =>
    s.workloads.forEach((workload, wi) =>
      s.topologies.forEach((topology, ti) =>
        s.seeds.forEach((seed) => {
          runs.push({
            index: runs.length,
            id: `s${si}-w${wi}-t${ti}-seed${seed}`,
            scheduler,
            workload,
            schedulerPath: path(scheduler),
            workloadPath: path(workload),
            topology,
            seed,
            durationNs: s.durationNs,
            hz: s.hz,
          });
        }),
      ),
    ),
  );
  return runs;
}
