import type { LatencyStats } from './latency.ts';

/**
 * What a run is made of and what it reports, independent of the scheduler: the task
 * descriptions the machine executes, and the per-task and per-CPU records it returns.
 */

/**
 * One step of a task's behaviour program. A task runs its `phases` in order (`loops` times);
 * `repeat` nests a counted loop.
 *
 *  - `run`: use this many ns of CPU. `sleep`: block this many ns.
 *  - `wait` / `post` / `broadcast`: a wake-up edge between tasks through a named event, with
 *    counting-semaphore semantics (pipes, futexes): `wait` takes one token or blocks until one
 *    is posted; `post` adds `count` tokens (default 1), each waking the oldest waiter;
 *    `broadcast` wakes every task waiting now and keeps no token (a condition variable).
 *  - `timer`: a periodic activation: the k-th timer step a task reaches blocks until
 *    arrival + k * `timer` ns (a task late past that time goes straight on, and the grid stays
 *    where it was). With `deadline` (ns after each activation), an activation whose work is not
 *    done by then counts as a deadline miss.
 *  - `yield`: sched_yield(). `exit`: end the task here.
 *  - `fork`: start a child task running `child` (its pid is the next free one).
 *  - `nice` / `cpus`: change the task's nice value / allowed CPUs.
 */
export type Phase =
  | { run: number }
  | { sleep: number }
  | { wait: string }
  | { post: string; count?: number }
  | { broadcast: string }
  | { timer: number; deadline?: number }
  | { yield: true }
  | { exit: true }
  | { fork: ChildTask }
  | { nice: number }
  | { cpus: readonly number[] }
  | { repeat: number; phases: readonly Phase[] };

/** What a forked child runs; it appears at the moment of the fork. */
export interface ChildTask {
  comm: string;
  /** The child's cgroup; by default its parent's (as fork does). */
  cgroup?: string;
  nice?: number;
  cpus?: readonly number[];
  policy?: Policy;
  rtPriority?: number;
  phases: readonly Phase[];
  loops?: number;
}

/**
 * Scheduling policies (sched(7)). `normal`, `batch` and `idle` are fair-class tasks that a
 * sched_ext scheduler takes over unless it runs with SCX_OPS_SWITCH_PARTIAL; `ext` tasks are
 * SCHED_EXT (fair while no scheduler is loaded); `fifo` and `rr` are real-time tasks, above both.
 */
export type Policy = 'normal' | 'batch' | 'idle' | 'ext' | 'fifo' | 'rr';

export interface SimTask {
  pid: number;
  comm: string;
  /**
   * The cgroup the task runs in, a path such as "/batch" or "/web/api" ("/" is the root cgroup,
   * the default). A cgroup the run does not declare is created, with its missing parents, at the
   * default weight when the first task in it arrives.
   */
  cgroup?: string;
  nice?: number;
  cpus?: readonly number[];
  policy?: Policy;
  /** Real-time priority 1..99 (fifo and rr only; higher runs first). */
  rtPriority?: number;
  /** When the task appears (ns). */
  arrival: number;
  phases: readonly Phase[];
  /** How many times to run the phases (Infinity: until the end of the run). */
  loops?: number;
}

/** The weight of a cgroup nobody set one for (CGROUP_WEIGHT_DFL), and the range of cpu.weight. */
export const CGROUP_WEIGHT_DFL = 100;
export const CGROUP_WEIGHT_MIN = 1;
export const CGROUP_WEIGHT_MAX = 10_000;

/**
 * A cgroup a run declares: its path ("/a", or nested "/a/b": the parents exist too, declared or
 * not) and its cpu.weight (default 100). Cgroups only group tasks for the sched_ext scheduler
 * (ops.cgroup_*, scx_bpf_task_cgroup); the built-in fair class does not schedule by group.
 */
export interface CgroupSpec {
  path: string;
  weight?: number;
}

/**
 * Tasks in order of arrival, produced on demand, for open workloads too long to hold in memory
 * (millions of short jobs). `next()` returns undefined when there are no more.
 */
export interface TaskSource {
  next(): SimTask | undefined;
}

export interface TaskRecord {
  pid: number;
  comm: string;
  /** When the task appeared (ns). */
  arrival: number;
  runtime: number;
  /** Time runnable but not running. */
  wait: number;
  /** The delays from each wake-up until the task ran. */
  wakeupLatency: LatencyStats;
  switches: number;
  migrations: number;
  /** Periodic activations (timer steps) that missed their deadline, and those that had one. */
  deadlineMisses: number;
  deadlineChecks: number;
  exited: boolean;
  /** When it exited (ns), -1 while alive. */
  exitedAt: number;
}

export interface CpuRecord {
  cpu: number;
  busy: number;
  idle: number;
  switches: number;
}

const POLICIES: readonly Policy[] = ['normal', 'batch', 'idle', 'ext', 'fifo', 'rr'];
const isNs = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** What is wrong with a task description, or undefined: the machine's last line of defence. */
export function checkTask(t: SimTask | ChildTask): string | undefined {
  if (typeof t.comm !== 'string' || t.comm.length === 0) return `comm: expected a non-empty string`;
  if (t.cgroup !== undefined) {
    const problem = checkCgroupPath(t.cgroup);
    if (problem) return `cgroup: ${problem}`;
  }
  if (t.nice !== undefined && !(Number.isInteger(t.nice) && t.nice >= -20 && t.nice <= 19)) return `nice ${t.nice}: expected an integer from -20 to 19`;
  if (t.policy !== undefined && !POLICIES.includes(t.policy)) return `policy '${t.policy}': expected one of ${POLICIES.join(', ')}`;
  if (t.loops !== undefined && !(t.loops === Infinity || (Number.isInteger(t.loops) && t.loops >= 1))) return `loops ${t.loops}: expected a positive integer`;
  if (!Array.isArray(t.phases) || t.phases.length === 0) return 'no phases';
  return checkPhases(t.phases, 'phases');
}

/** What is wrong with a cgroup path, or undefined: "/" or "/name[/name...]". */
export function checkCgroupPath(path: unknown): string | undefined {
  const expected = 'expected "/" or an absolute path of names ("/batch", "/web/api") made of letters, digits, ".", "_" and "-"';
  if (typeof path !== 'string') return `${JSON.stringify(path)}: ${expected}`;
  if (path === '/') return undefined;
  const names = path.split('/');
  if (names[0] !== '' || names.slice(1).some((n) => !/^[A-Za-z0-9._-]+$/.test(n) || n === '.' || n === '..')) return `'${path}': ${expected}`;
  return undefined;
}

/** What is wrong with a run's cgroup declarations, or undefined. */
export function checkCgroups(cgroups: readonly CgroupSpec[]): string | undefined {
  if (!Array.isArray(cgroups)) return 'cgroups: expected a list of { path, weight? }';
  const seen = new Set<string>();
  for (const [i, c] of cgroups.entries()) {
    if (typeof c !== 'object' || c === null) return `cgroups[${i}]: expected { path, weight? }`;
    for (const k of Object.keys(c)) if (k !== 'path' && k !== 'weight') return `cgroups[${i}].${k}: unknown key (a cgroup has a path and a weight)`;
    const problem = checkCgroupPath(c.path);
    if (problem) return `cgroups[${i}].path: ${problem}`;
    if (c.path === '/') return `cgroups[${i}]: the root cgroup "/" cannot be declared (it has no weight of its own)`;
    if (seen.has(c.path)) return `cgroups[${i}]: '${c.path}' is declared twice`;
    seen.add(c.path);
    const w = c.weight;
    if (w !== undefined && !(Number.isInteger(w) && w >= CGROUP_WEIGHT_MIN && w <= CGROUP_WEIGHT_MAX)) {
      return `cgroups[${i}] '${c.path}': weight ${JSON.stringify(w)}: expected an integer from ${CGROUP_WEIGHT_MIN} to ${CGROUP_WEIGHT_MAX}`;
    }
  }
  return undefined;
}

function checkPhases(phases: readonly Phase[], at: string): string | undefined {
  for (let i = 0; i < phases.length; i++) {
    const where = `${at}[${i}]`;
    const p = phases[i] as Record<string, unknown>;
    if (typeof p !== 'object' || p === null) return `${where}: expected a step object`;
    const keys = Object.keys(p).sort().join(',');
    const bad = (what: string) => `${where}: ${what}, found ${JSON.stringify(p)}`;
    switch (keys) {
      case 'run':
      case 'sleep':
        if (!isNs(p[keys])) return bad(`${keys}: expected non-negative integer ns`);
        break;
      case 'wait':
      case 'broadcast':
      case 'post':
        if (typeof p[keys] !== 'string' || p[keys] === '') return bad(`${keys}: expected an event name`);
        break;
      case 'count,post':
        if (typeof p.post !== 'string' || p.post === '' || !(Number.isInteger(p.count) && (p.count as number) >= 1)) return bad('post: expected an event name and a positive count');
        break;
      case 'timer':
      case 'deadline,timer':
        if (!isNs(p.timer) || p.timer === 0 || (p.deadline !== undefined && !isNs(p.deadline))) return bad('timer: expected a positive period and a non-negative deadline (ns)');
        break;
      case 'yield':
      case 'exit':
        if (p[keys] !== true) return bad(`${keys}: expected true`);
        break;
      case 'nice':
        if (!(Number.isInteger(p.nice) && (p.nice as number) >= -20 && (p.nice as number) <= 19)) return bad('nice: expected an integer from -20 to 19');
        break;
      case 'cpus':
        if (!Array.isArray(p.cpus) || p.cpus.length === 0 || !p.cpus.every((c) => Number.isInteger(c) && c >= 0)) return bad('cpus: expected a non-empty list of CPU numbers');
        break;
      case 'fork': {
        const child = p.fork as ChildTask;
        if (typeof child !== 'object' || child === null) return bad('fork: expected a child task');
        const problem = checkTask(child);
        if (problem) return `${where}.fork: ${problem}`;
        break;
      }
      case 'phases,repeat': {
        if (!(p.repeat === Infinity || (Number.isInteger(p.repeat) && (p.repeat as number) >= 0))) return bad('repeat: expected a non-negative integer count (or Infinity)');
        if (!Array.isArray(p.phases) || p.phases.length === 0) return bad('repeat: expected a non-empty list of phases');
        const problem = checkPhases(p.phases as Phase[], `${where}.phases`);
        if (problem) return problem;
        break;
      }
      default:
        return bad('unknown step');
    }
  }
  return undefined;
}
