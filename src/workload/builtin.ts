/**
 * The native workload format and the two simplest generators, plus what every format shares
 * (WorkloadError, parseDuration):
 *   gen:hogs,n=4[,nice=0]                      CPU-bound tasks
 *   gen:bursts,n=8,run=3ms,sleep=2ms[,nice=0]  tasks alternating a burst and a sleep
 *   FILE.json                                  a JSON array of SimTask objects (src/sched/spec.ts):
 *     [{ "pid", "comm", "cgroup"?, "nice"?, "cpus"?, "policy"?, "rtPriority"?, "arrival"?, "phases": [...], "loops"? }]
 *                                              or, to declare cgroups and their weights, an object:
 *     { "cgroups": [{ "path": "/batch", "weight": 300 }, ...], "tasks": [ ...as above ] }
 * policy: normal (default), batch, idle, ext (SCHED_EXT), fifo or rr (real-time, with rtPriority 1..99).
 * Durations take ns, us, ms or s suffixes (plain numbers are ns). Other formats: load.ts.
 */
import { checkCgroups, checkTask, type CgroupSpec, type Phase, type Policy, type SimTask } from '../sched/spec.ts';

const POLICIES: readonly Policy[] = ['normal', 'batch', 'idle', 'ext', 'fifo', 'rr'];
import { ScxError } from '../util/errors.ts';

export class WorkloadError extends ScxError {}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };

export function parseDuration(text: string, what = 'duration'): number {
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s)?$/.exec(text.trim());
  if (!m) throw new WorkloadError(`${what} '${text}': expected a number with an optional ns/us/ms/s suffix`);
  const ns = Math.round(Number(m[1]) * UNITS[m[2] ?? 'ns']);
  if (!Number.isSafeInteger(ns)) throw new WorkloadError(`${what} '${text}' is too large`);
  return ns;
}

export function parseTaskList(text: string, file: string): SimTask[] {
  return parseTaskFile(text, file).tasks;
}

/** A JSON task list: an array of tasks, or `{ "cgroups": [...], "tasks": [...] }`. */
export function parseTaskFile(text: string, file: string): { tasks: SimTask[]; cgroups?: CgroupSpec[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new WorkloadError(`${file}: not JSON (${(e as Error).message})`);
  }
  let cgroups: CgroupSpec[] | undefined;
  let at = '';
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const o = data as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'cgroups' && k !== 'tasks') throw new WorkloadError(`${file}: .${k}: unknown key (a task list object has "cgroups" and "tasks")`);
    if (o.cgroups !== undefined) {
      if (!Array.isArray(o.cgroups)) throw new WorkloadError(`${file}: .cgroups: expected an array of { "path", "weight"? }`);
      cgroups = o.cgroups as CgroupSpec[];
      const problem = checkCgroups(cgroups);
      if (problem) throw new WorkloadError(`${file}: ${problem}`);
    }
    data = o.tasks;
    at = '.tasks';
  }
  if (!Array.isArray(data)) throw new WorkloadError(`${file}: expected a JSON array of tasks${at ? ' in .tasks' : ''}`);
  const tasks = data.map((t, i) => task(t, `${file}: ${at}[${i}]`));
  // The machine's own check covers every step kind (wait, timer, fork, repeat, ...).
  tasks.forEach((t, i) => {
    const problem = checkTask(t);
    if (problem) throw new WorkloadError(`${file}: ${at}[${i}]: ${problem}`);
  });
  const seen = new Set<number>();
  for (const [i, t] of tasks.entries()) {
    if (seen.has(t.pid)) throw new WorkloadError(`${file}: ${at}[${i}].pid: ${t.pid} is used twice`);
    seen.add(t.pid);
  }
  return cgroups ? { tasks, cgroups } : { tasks };
}

/** The generators kept here: gen:hogs and gen:bursts. */
export const SIMPLE_GENERATORS = ['hogs', 'bursts'];

function task(raw: unknown, where: string): SimTask {
  if (typeof raw !== 'object' || raw === null) throw new WorkloadError(`${where}: expected an object`);
  const o = raw as Record<string, unknown>;
  const known = new Set(['pid', 'comm', 'cgroup', 'nice', 'cpus', 'policy', 'rtPriority', 'arrival', 'phases', 'loops']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new WorkloadError(`${where}.${k}: unknown key`);
  const int = (k: string, min: number, max = Number.MAX_SAFE_INTEGER, optional = false): number | undefined => {
    if (o[k] === undefined && optional) return undefined;
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new WorkloadError(`${where}.${k}: expected an integer in ${min}..${max}, found ${JSON.stringify(v)}`);
    return v;
  };
  if (typeof o.comm !== 'string') throw new WorkloadError(`${where}.comm: expected a string`);
  if (o.cgroup !== undefined && typeof o.cgroup !== 'string') throw new WorkloadError(`${where}.cgroup: expected a cgroup path such as "/batch"`);
  if (!Array.isArray(o.phases) || o.phases.length === 0) throw new WorkloadError(`${where}.phases: expected a non-empty array`);
  // Steps of every kind; checkTask (the machine's own rules) vets them after.
  const phases = o.phases as Phase[];
  const cpus = o.cpus === undefined ? undefined : Array.isArray(o.cpus) && o.cpus.every((c) => Number.isInteger(c) && c >= 0) ? (o.cpus as number[]) : null;
  if (cpus === null) throw new WorkloadError(`${where}.cpus: expected an array of CPU numbers`);
  if (o.policy !== undefined && !POLICIES.includes(o.policy as Policy)) throw new WorkloadError(`${where}.policy: expected one of ${POLICIES.join(', ')}, found ${JSON.stringify(o.policy)}`);
  const policy = o.policy as Policy | undefined;
  const realtime = policy === 'fifo' || policy === 'rr';
  const rtPriority = int('rtPriority', 1, 99, !realtime);
  if (!realtime && rtPriority !== undefined) throw new WorkloadError(`${where}.rtPriority: only fifo and rr tasks have one`);
  return { pid: int('pid', 1)!, comm: o.comm, ...(o.cgroup !== undefined ? { cgroup: o.cgroup as string } : {}), nice: int('nice', -20, 19, true), cpus, policy, rtPriority, arrival: int('arrival', 0, undefined, true) ?? 0, phases, loops: int('loops', 1, undefined, true) };
}

export function generateSimple(spec: string): SimTask[] {
  const [name, ...args] = spec.slice(4).split(',');
  const params = new Map<string, string>();
  for (const a of args) {
    const m = /^(\w+)=(.+)$/.exec(a);
    if (!m) throw new WorkloadError(`${spec}: expected key=value, found '${a}'`);
    params.set(m[1], m[2]);
  }
  const take = (k: string, dflt?: string): string => {
    const v = params.get(k) ?? dflt;
    if (v === undefined) throw new WorkloadError(`${spec}: missing ${k}=`);
    params.delete(k);
    return v;
  };
  const n = Number(take('n'));
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new WorkloadError(`${spec}: n must be an integer in 1..100000`);
  const nice = Number(take('nice', '0'));
  let tasks: SimTask[];
  if (name === 'hogs') {
    tasks = Array.from({ length: n }, (_, i) => ({ pid: i + 1, comm: `hog${i}`, nice, arrival: 0, phases: [{ run: 1e15 }] }));
  } else if (name === 'bursts') {
    const run = parseDuration(take('run'), 'run');
    const sleep = parseDuration(take('sleep'), 'sleep');
    // Staggered starts so the tasks do not all wake at the same instant.
    tasks = Array.from({ length: n }, (_, i) => ({ pid: i + 1, comm: `bursts${i}`, nice, arrival: Math.floor(((run + sleep) * i) / n), phases: [{ run }, { sleep }] }));
  } else {
    throw new WorkloadError(`${spec}: unknown generator '${name}' (have: ${SIMPLE_GENERATORS.join(', ')})`);
  }
  for (const k of params.keys()) throw new WorkloadError(`${spec}: unknown parameter '${k}'`);
  return tasks;
}
