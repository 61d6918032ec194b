/**
 * One entry point for every workload a user can name:
 *   gen:NAME,key=value,...   a generator (generators.ts; gen:hogs and gen:bursts in builtin.ts)
 *   FILE.csv                 the CSV task table (csv.ts, workloads/csv/README.md)
 *   FILE.json                a JSON task list (builtin.ts: an array, or an object whose "tasks" is
 *                            an array, with "cgroups"), or an rt-app file (rtapp.ts)
 *   FILE.txt|.trace|.dat     an ftrace / trace-cmd or `perf script` capture (trace-import.ts)
 * Generators are seeded by the run's seed, so a workload is a pure function of (spec, seed).
 */
import { extname } from 'node:path';
import type { CgroupSpec, SimTask, TaskSource } from '../sched/spec.ts';
import { readUserFile } from '../util/fs.ts';
import { SIMPLE_GENERATORS, WorkloadError, generateSimple, parseTaskFile } from './builtin.ts';
import { parseCsvWorkload } from './csv.ts';
import { GENERATORS, generate } from './generators.ts';
import { parseRtApp } from './rtapp.ts';
import { parseTrace } from './trace-import.ts';

export type WorkloadFormat = 'generator' | 'json' | 'csv' | 'rt-app' | 'ftrace' | 'perf';

export interface Workload {
  /** The tasks, or (open-loop generators) a source producing them in arrival order. */
  tasks: SimTask[] | TaskSource;
  format: WorkloadFormat;
  /** A run length the workload itself asks for (rt-app's global.duration, a trace's span). */
  durationNs?: number;
  /** CPUs a trace was captured on. */
  cpus?: number;
  /** Cgroups the workload declares, with their weights (JSON task lists); pass them to simulate(). */
  cgroups?: CgroupSpec[];
}

export interface WorkloadOptions {
  /** Seeds generators (default 1). */
  seed?: number;
  /** The simulated machine's CPU count, which some formats need (rt-app's default affinity). */
  nrCpus?: number;
}

const TRACE_EXTENSIONS = new Set(['.txt', '.trace', '.dat', '.report']);

export function openWorkload(spec: string, o: WorkloadOptions = {}): Workload {
  const seed = o.seed ?? 1;
  if (spec.startsWith('gen:')) {
    const name = spec.slice(4).split(',')[0];
    if (SIMPLE_GENERATORS.includes(name)) return { tasks: generateSimple(spec), format: 'generator' };
    if (!(name in GENERATORS)) {
      throw new WorkloadError(`${spec}: unknown generator '${name}' (have: ${[...SIMPLE_GENERATORS, ...Object.keys(GENERATORS)].join(', ')})`);
    }
    return { tasks: generate(spec, seed), format: 'generator' };
  }
  const ext = extname(spec).toLowerCase();
  if (ext !== '.csv' && ext !== '.json' && !TRACE_EXTENSIONS.has(ext)) {
    throw new WorkloadError(`${spec}: unknown kind of workload file '${ext || '(no extension)'}': expected gen:NAME,..., a .csv table, a .json task list or rt-app file, or a trace (${[...TRACE_EXTENSIONS].join(', ')})`);
  }
  const text = readUserFile(spec, (m) => new WorkloadError(m)).toString('utf8');
  if (ext === '.csv') return { tasks: parseCsvWorkload(text, spec), format: 'csv' };
  if (ext === '.json') {
    // A task list is an array, or an object whose "tasks" is an array; an rt-app file is an
    // object (possibly with comments first) whose "tasks" is an object.
    if (text.trimStart().startsWith('[') || isTaskListObject(text)) return { ...parseTaskFile(text, spec), format: 'json' };
    const r = parseRtApp(text, spec, { nrCpus: o.nrCpus });
    return { tasks: r.tasks, format: 'rt-app', durationNs: r.durationNs };
  }
  const t = parseTrace(text, spec);
  // One ns past the span, so what happens at its last instant (the last exits) is part of the run.
  return { tasks: t.tasks, format: t.format, durationNs: t.spanNs + 1, cpus: t.cpus };
}

function isTaskListObject(text: string): boolean {
  try {
    const o = JSON.parse(text) as unknown;
    return typeof o === 'object' && o !== null && Array.isArray((o as { tasks?: unknown }).tasks);
  } catch {
    return false;
  }
}

/** Every task of a workload as a list (an open-loop source is read to its end). */
export function loadWorkload(spec: string, o: WorkloadOptions = {}): SimTask[] {
  return allTasks(openWorkload(spec, o));
}

/** A workload's tasks as an array (an open source is read to its end). */
export function allTasks(w: Workload): SimTask[] {
  if (Array.isArray(w.tasks)) return w.tasks;
  const out: SimTask[] = [];
  const source = w.tasks as TaskSource;
  for (let t = source.next(); t; t = source.next()) out.push(t);
  return out;
}
