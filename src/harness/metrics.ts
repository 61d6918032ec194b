/**
 * The numbers a scheduler study reports, computed from one run's result after the run (never in
 * the engine's hot loop), and the summary of one number over several seeds. docs/metrics.md is
 * the definition of every metric: formula, unit, what counts, and the edge cases; the comments
 * here only say why the code does what it does.
 */
import { LatencyStats } from '../sched/latency.ts';
import type { SimulateResult } from '../sched/simulate.ts';
import type { ChildTask, Phase, SimTask, TaskRecord } from '../sched/spec.ts';
import { niceToWeight } from '../sched/weights.ts';
import { ScxError } from '../util/errors.ts';

export class MetricsError extends ScxError {}

/** One run's metrics: flat, so a results row is its fields. `null`: the metric does not apply. */
export interface Metrics {
  durationNs: number;
  cpus: number;
  /** Task records in the result (every task that arrived within the run, forked ones too). */
  tasks: number;
  tasksExited: number;
  tasksNotExited: number;
  /** Tasks of the given list that never arrived within the run; null without the list. */
  tasksNotArrived: number | null;
  tasksNeverRan: number;

  wakeups: number;
  wakeupLatencyMeanNs: number | null;
  wakeupLatencyP50Ns: number | null;
  wakeupLatencyP90Ns: number | null;
  wakeupLatencyP99Ns: number | null;
  wakeupLatencyP999Ns: number | null;
  wakeupLatencyMaxNs: number | null;

  waitTotalNs: number;
  waitMeanPerTaskNs: number | null;

  turnaroundMeanNs: number | null;
  turnaroundP50Ns: number | null;
  turnaroundP99Ns: number | null;
  turnaroundMaxNs: number | null;

  throughputTasksPerSec: number;
  cpuWorkPerSec: number;
  makespanNs: number | null;

  utilisation: number;
  utilisationPerCpu: number[];

  fairnessJain: number | null;
  fairnessTasks: number;

  migrations: number;
  migrationsPerSec: number;
  contextSwitches: number;
  contextSwitchesPerSec: number;

  deadlineChecks: number;
  deadlineMisses: number;
  deadlineMissRatio: number | null;

  events: number;
  callbacks: number | null;
  bpfInsns: number | null;
  callbacksPerEvent: number | null;
  callbacksPerSwitch: number | null;
  bpfInsnsPerEvent: number | null;
  bpfInsnsPerSwitch: number | null;

  exitKind: number | null;
  exitReason: string | null;
  exitMessage: string | null;
  exitAtNs: number | null;
}

export interface MetricDefinition {
  unit: string;
  description: string;
  /** Which direction is an improvement; undefined where neither is (context, or it depends). */
  better: 'lower' | 'higher' | undefined;
}

/** For reports: every metric's unit, one-line meaning and better direction (docs/metrics.md has the full definitions). */
export const METRIC_DEFINITIONS: Readonly<Record<keyof Metrics, MetricDefinition>> = {
  durationNs: { unit: 'ns', description: 'simulated time the run covered', better: undefined },
  cpus: { unit: 'count', description: 'CPUs of the topology', better: undefined },
  tasks: { unit: 'count', description: 'tasks that arrived within the run (forked ones included)', better: undefined },
  tasksExited: { unit: 'count', description: 'tasks that exited within the run', better: undefined },
  tasksNotExited: { unit: 'count', description: 'tasks alive at the end of the run', better: undefined },
  tasksNotArrived: { unit: 'count', description: 'tasks of the given list whose arrival fell after the run', better: undefined },
  tasksNeverRan: { unit: 'count', description: 'tasks that arrived but were never given a CPU', better: 'lower' },
  wakeups: { unit: 'count', description: 'wake-ups (arrivals included) that were followed by running', better: undefined },
  wakeupLatencyMeanNs: { unit: 'ns', description: 'mean delay from a wake-up to running', better: 'lower' },
  wakeupLatencyP50Ns: { unit: 'ns', description: 'median wake-up latency (within 1/64 above 64 ns)', better: 'lower' },
  wakeupLatencyP90Ns: { unit: 'ns', description: '90th percentile wake-up latency (within 1/64 above 64 ns)', better: 'lower' },
  wakeupLatencyP99Ns: { unit: 'ns', description: '99th percentile wake-up latency (within 1/64 above 64 ns)', better: 'lower' },
  wakeupLatencyP999Ns: { unit: 'ns', description: '99.9th percentile wake-up latency (within 1/64 above 64 ns)', better: 'lower' },
  wakeupLatencyMaxNs: { unit: 'ns', description: 'largest wake-up latency (exact)', better: 'lower' },
  waitTotalNs: { unit: 'ns', description: 'time tasks spent runnable but not running, summed over tasks', better: 'lower' },
  waitMeanPerTaskNs: { unit: 'ns', description: "a task's total runqueue wait, averaged over tasks", better: 'lower' },
  turnaroundMeanNs: { unit: 'ns', description: 'mean of exit time minus arrival over exited tasks', better: 'lower' },
  turnaroundP50Ns: { unit: 'ns', description: 'median turnaround of exited tasks', better: 'lower' },
  turnaroundP99Ns: { unit: 'ns', description: '99th percentile turnaround of exited tasks', better: 'lower' },
  turnaroundMaxNs: { unit: 'ns', description: 'largest turnaround of exited tasks', better: 'lower' },
  throughputTasksPerSec: { unit: '1/s', description: 'tasks exited per second of simulated time', better: 'higher' },
  cpuWorkPerSec: { unit: 'CPU-s/s', description: 'CPU time used per second of simulated time (average busy CPUs)', better: undefined },
  makespanNs: { unit: 'ns', description: 'first arrival to last exit, when every task exited', better: 'lower' },
  utilisation: { unit: 'ratio', description: 'busy time over duration x CPUs', better: undefined },
  utilisationPerCpu: { unit: 'ratio', description: "each CPU's busy time over the duration (a list, by CPU number)", better: undefined },
  fairnessJain: { unit: 'index', description: "Jain's index of CPU rate per weight over always-runnable tasks (1/n..1)", better: 'higher' },
  fairnessTasks: { unit: 'count', description: "tasks included in Jain's index", better: undefined },
  migrations: { unit: 'count', description: 'moves of a task that had run to a different CPU', better: undefined },
  migrationsPerSec: { unit: '1/s', description: 'migrations per second of simulated time', better: undefined },
  contextSwitches: { unit: 'count', description: 'times a CPU started running a task it was not running', better: undefined },
  contextSwitchesPerSec: { unit: '1/s', description: 'context switches per second of simulated time', better: undefined },
  deadlineChecks: { unit: 'count', description: 'periodic activations that had a deadline', better: undefined },
  deadlineMisses: { unit: 'count', description: 'periodic activations that missed their deadline', better: 'lower' },
  deadlineMissRatio: { unit: 'ratio', description: 'deadline misses over deadline checks', better: 'lower' },
  events: { unit: 'count', description: 'event-queue events handled (the scheduling events)', better: undefined },
  callbacks: { unit: 'count', description: 'sched_ext callbacks invoked, BPF timer callbacks included', better: undefined },
  bpfInsns: { unit: 'count', description: 'BPF instructions executed (BPF schedulers only)', better: undefined },
  callbacksPerEvent: { unit: 'per event', description: 'callbacks per event-queue event', better: 'lower' },
  callbacksPerSwitch: { unit: 'per switch', description: 'callbacks per context switch', better: 'lower' },
  bpfInsnsPerEvent: { unit: 'per event', description: 'BPF instructions per event-queue event', better: 'lower' },
  bpfInsnsPerSwitch: { unit: 'per switch', description: 'BPF instructions per context switch', better: 'lower' },
  exitKind: { unit: 'scx_exit_kind', description: 'exit kind of an aborted or unregistered sched_ext scheduler', better: undefined },
  exitReason: { unit: 'text', description: "the scheduler exit's reason", better: undefined },
  exitMessage: { unit: 'text', description: "the scheduler exit's message", better: undefined },
  exitAtNs: { unit: 'ns', description: 'when the scheduler exited (the run went on in the fair class)', better: undefined },
};

/** The value of rank ceil(q * n) of sorted values: the rule LatencyStats.quantile approximates. */
function nearestRank(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

const perSecond = (count: number, durationNs: number) => (count * 1e9) / durationNs;
const ratioOrNull = (num: number, den: number) => (den > 0 ? num / den : null);

/**
 * Metrics of one run. `tasks`: the task list the run was given, for the weights and policies
 * that fairness needs and to count tasks that never arrived; without it every task counts as a
 * nice-0 normal task.
 */
export function computeMetrics(result: SimulateResult, tasks?: readonly SimTask[]): Metrics {
  const d = result.durationNs;
  if (!(Number.isFinite(d) && d > 0)) throw new MetricsError(`metrics: duration ${d} ns: expected a positive number`);
  if (result.cpus.length === 0) throw new MetricsError('metrics: the result has no CPU records');
  const records = result.tasks;

  const latency = new LatencyStats();
  let waitTotal = 0;
  let migrations = 0;
  let deadlineChecks = 0;
  let deadlineMisses = 0;
  let neverRan = 0;
  const turnaround: number[] = [];
  for (const r of records) {
    latency.merge(r.wakeupLatency);
    waitTotal += r.wait;
    migrations += r.migrations;
    deadlineChecks += r.deadlineChecks;
    deadlineMisses += r.deadlineMisses;
    if (r.switches === 0) neverRan++;
    if (r.exited) turnaround.push(r.exitedAt - r.arrival);
  }
  turnaround.sort((a, b) => a - b);
  const exited = turnaround.length;

  let notArrived: number | null = null;
  if (tasks) {
    const seen = new Set(records.map(keyOf));
    notArrived = tasks.filter((t) => !seen.has(keyOf(t))).length;
  }

  let makespan: number | null = null;
  if (records.length > 0 && exited === records.length && (notArrived ?? 0) === 0) {
    let first = Infinity;
    let last = -Infinity;
    for (const r of records) {
      first = Math.min(first, r.arrival);
      last = Math.max(last, r.exitedAt);
    }
    makespan = last - first;
  }

  let busy = 0;
  let switches = 0;
  for (const c of result.cpus) {
    busy += c.busy;
    switches += c.switches;
  }

  const fairness = jainFairness(result, tasks);
  const callbacks = result.callbacks ? Object.values(result.callbacks).reduce((a, b) => a + b, 0) : null;
  // A TypeScript scheduler executes no BPF: its 0 would read as "free" next to a BPF one.
  const bpfInsns = result.bpfInsns !== undefined && !result.scheduler.startsWith('ts:') ? result.bpfInsns : null;
  const has = latency.count > 0;
  const exit = result.exit;
  return {
    durationNs: d,
    cpus: result.cpus.length,
    tasks: records.length,
    tasksExited: exited,
    tasksNotExited: records.length - exited,
    tasksNotArrived: notArrived,
    tasksNeverRan: neverRan,

    wakeups: latency.count,
    wakeupLatencyMeanNs: has ? latency.mean : null,
    wakeupLatencyP50Ns: has ? latency.quantile(0.5) : null,
    wakeupLatencyP90Ns: has ? latency.quantile(0.9) : null,
    wakeupLatencyP99Ns: has ? latency.quantile(0.99) : null,
    wakeupLatencyP999Ns: has ? latency.quantile(0.999) : null,
    wakeupLatencyMaxNs: has ? latency.max : null,

    waitTotalNs: waitTotal,
    waitMeanPerTaskNs: ratioOrNull(waitTotal, records.length),

    turnaroundMeanNs: exited ? turnaround.reduce((a, b) => a + b, 0) / exited : null,
    turnaroundP50Ns: exited ? nearestRank(turnaround, 0.5) : null,
    turnaroundP99Ns: exited ? nearestRank(turnaround, 0.99) : null,
    turnaroundMaxNs: exited ? turnaround[exited - 1] : null,

    throughputTasksPerSec: perSecond(exited, d),
    cpuWorkPerSec: busy / d,
    makespanNs: makespan,

    utilisation: busy / (d * result.cpus.length),
    utilisationPerCpu: result.cpus.map((c) => c.busy / d),

    fairnessJain: fairness.index,
    fairnessTasks: fairness.n,

    migrations,
    migrationsPerSec: perSecond(migrations, d),
    contextSwitches: switches,
    contextSwitchesPerSec: perSecond(switches, d),

    deadlineChecks,
    deadlineMisses,
    deadlineMissRatio: ratioOrNull(deadlineMisses, deadlineChecks),

    events: result.events,
    callbacks,
    bpfInsns,
    callbacksPerEvent: callbacks === null ? null : ratioOrNull(callbacks, result.events),
    callbacksPerSwitch: callbacks === null ? null : ratioOrNull(callbacks, switches),
    bpfInsnsPerEvent: bpfInsns === null ? null : ratioOrNull(bpfInsns, result.events),
    bpfInsnsPerSwitch: bpfInsns === null ? null : ratioOrNull(bpfInsns, switches),

    exitKind: exit ? exit.kind : null,
    exitReason: exit ? exit.reason : null,
    exitMessage: exit ? exit.msg : null,
    exitAtNs: exit ? exit.atNs : null,
  };
}

/*
 * A pid alone does not name a listed task: a forked child takes the next pid above every pid
 * seen so far, which can be the pid of a listed task that arrives only after the run ended. A
 * listed task's record has the list's arrival time, so (pid, arrival) tells them apart.
 */
const keyOf = (t: { pid: number; arrival: number }) => `${t.pid}@${t.arrival}`;

/** How a task takes part in fairness: its weight, or why it is left out. */
type Entitlement = { weight: number } | { excluded: string };

function entitlementOf(t: SimTask | ChildTask | undefined): Entitlement {
  if (!t) return { weight: niceToWeight(0) };
  const policy = t.policy ?? 'normal';
  if (policy === 'fifo' || policy === 'rr') return { excluded: 'real-time' };
  // The kernel gives SCHED_IDLE weight 3; such a task is meant to have only what is left.
  if (policy === 'idle') return { excluded: 'SCHED_IDLE' };
  if (changesNice(t.phases)) return { excluded: 'its nice changes during the run' };
  return { weight: niceToWeight(t.nice ?? 0) };
}

/** Whether a program has a nice step (a fork's child is another task: not looked into). */
function changesNice(phases: readonly Phase[]): boolean {
  return phases.some((p) => 'nice' in p || ('repeat' in p && changesNice(p.phases)));
}

/** Every child a program can fork, its children's children too, by comm. */
function childrenByComm(tasks: readonly SimTask[]): Map<string, ChildTask[]> {
  const out = new Map<string, ChildTask[]>();
  const walk = (phases: readonly Phase[]) => {
    for (const p of phases) {
      if ('fork' in p) {
        const list = out.get(p.fork.comm) ?? [];
        if (!list.includes(p.fork)) {
          list.push(p.fork);
          out.set(p.fork.comm, list);
          walk(p.fork.phases);
        }
      } else if ('repeat' in p) walk(p.phases);
    }
  };
  for (const t of tasks) walk(t.phases);
  return out;
}

/**
 * Jain's index over the tasks runnable for their whole life in the run (never blocked), of
 * x = (runtime / time present) / weight: docs/metrics.md, "Fairness".
 */
function jainFairness(result: SimulateResult, tasks: readonly SimTask[] | undefined): { index: number | null; n: number } {
  const listed = new Map<string, SimTask>();
  for (const t of tasks ?? []) listed.set(keyOf(t), t);
  const children = tasks ? childrenByComm(tasks) : new Map<string, ChildTask[]>();
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  for (const r of result.tasks) {
    const present = (r.exited ? r.exitedAt : result.durationNs) - r.arrival;
    if (present <= 0 || r.runtime + r.wait !== present) continue;
    const e = entitlementFor(r, listed, children);
    if ('excluded' in e) continue;
    const x = r.runtime / present / e.weight;
    n++;
    sum += x;
    sumSq += x * x;
  }
  // All included tasks starved alike: 0/0, no statement about fairness (tasksNeverRan says it).
  return { index: n > 0 && sumSq > 0 ? (sum * sum) / (n * sumSq) : null, n };
}

function entitlementFor(r: TaskRecord, listed: Map<string, SimTask>, children: Map<string, ChildTask[]>): Entitlement {
  const own = listed.get(keyOf(r));
  if (own || listed.size === 0) return entitlementOf(own);
  // A forked child: its description is the fork step's, found by comm when the steps agree.
  const specs = children.get(r.comm);
  if (!specs) return entitlementOf(undefined);
  const kind = (e: Entitlement) => ('weight' in e ? e.weight : -1);
  const first = entitlementOf(specs[0]);
  if (specs.every((s) => kind(entitlementOf(s)) === kind(first))) return first;
  return { excluded: 'forked children with this comm differ in weight or policy' };
}

// ---- several seeds ----

export interface Summary {
  n: number;
  /** null when there are no values. */
  mean: number | null;
  /** The sample standard deviation (n - 1); null below two values. */
  stdev: number | null;
  /** mean +- t(0.975, n - 1) * stdev / sqrt(n); null below two values. */
  ci95: [number, number] | null;
}

/**
 * One metric over several seeds: mean, sample standard deviation and the 95% confidence interval
 * of the mean from Student's t distribution (the seeds' values taken as independent draws).
 */
export function summarise(values: readonly number[]): Summary {
  const bad = values.find((v) => !Number.isFinite(v));
  if (bad !== undefined) throw new MetricsError(`summarise: ${bad}: expected finite numbers (leave out runs where the metric is null)`);
  const n = values.length;
  if (n === 0) return { n, mean: null, stdev: null, ci95: null };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, stdev: null, ci95: null };
  // Two passes: deviations from the mean, not sum of squares minus square of sums.
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  const stdev = Math.sqrt(ss / (n - 1));
  const half = (studentTQuantile(0.975, n - 1) * stdev) / Math.sqrt(n);
  return { n, mean, stdev, ci95: [mean - half, mean + half] };
}

// ---- Student's t quantile ----

/*
 * The quantile is found by bisection on the exact tail probability, which for t > 0 is
 *   P(T > t) = I_x(df / 2, 1 / 2) / 2,  x = df / (df + t^2)
 * (I the regularised incomplete beta function, by its continued fraction), and for df = Infinity
 *   P(Z > z) = Q(1 / 2, z^2 / 2) / 2
 * (Q the regularised upper incomplete gamma function). Bisection on a monotone function cannot
 * fail to converge, and costs nothing at the sizes used here (a few hundred tail evaluations).
 * The test checks it against closed forms (df 1 to 4), numerical integration of the density, and
 * published table values, to 1e-10 relative.
 */

/** ln Gamma(x), x > 0: Lanczos (g = 7, 9 terms), relative error about 1e-15. */
function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  const z = x - 1;
  let a = c[0];
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Below a few ulps of 1: a continued fraction's last factors settle within rounding of 1, not on it. */
const EPS = 1e-15;
const TINY = 1e-300;
const MAX_ITER = 100_000;

/** The continued fraction of I_x(a, b) (modified Lentz), converging fast for x < (a + 1) / (a + b + 2). */
function betaFraction(x: number, a: number, b: number): number {
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new MetricsError(`incomplete beta (x ${x}, a ${a}, b ${b}) did not converge`);
}

/** I_x(a, b), given x and y = 1 - x separately so that neither loses digits to the subtraction. */
function betaRegularised(x: number, y: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(y));
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(x, a, b)) / a;
  return 1 - (front * betaFraction(y, b, a)) / b;
}

/** Q(a, x) = Gamma(a, x) / Gamma(a): series below a + 1, continued fraction above. */
function gammaUpperRegularised(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(a * Math.log(x) - x - lnGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n <= MAX_ITER; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPS) return 1 - sum * front;
    }
  } else {
    let b = x + 1 - a;
    let c = 1 / TINY;
    let d = 1 / b;
    let h = d;
    for (let i = 1; i <= MAX_ITER; i++) {
      const an = -i * (i - a);
      b += 2;
      d = an * d + b;
      if (Math.abs(d) < TINY) d = TINY;
      c = b + an / c;
      if (Math.abs(c) < TINY) c = TINY;
      d = 1 / d;
      const del = d * c;
      h *= del;
      if (Math.abs(del - 1) < EPS) return front * h;
    }
  }
  throw new MetricsError(`incomplete gamma (a ${a}, x ${x}) did not converge`);
}

/** P(T > t) for t >= 0 with df degrees of freedom (Infinity: the standard normal). */
export function studentTUpperTail(t: number, df: number): number {
  if (df === Infinity) return gammaUpperRegularised(0.5, (t * t) / 2) / 2;
  const s = df + t * t;
  return betaRegularised(df / s, (t * t) / s, df / 2, 0.5) / 2;
}

/**
 * The p-quantile of Student's t distribution with df degrees of freedom (df > 0, or Infinity for
 * the standard normal): the t with P(T <= t) = p.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new MetricsError(`t quantile: p ${p}: expected a probability strictly between 0 and 1`);
  if (!(df > 0)) throw new MetricsError(`t quantile: ${df} degrees of freedom: expected a positive number or Infinity`);
  if (p === 0.5) return 0;
  const tail = Math.min(p, 1 - p);
  let lo = 0;
  let hi = 1;
  while (studentTUpperTail(hi, df) > tail) {
    lo = hi;
    hi *= 2;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-15 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTUpperTail(mid, df) > tail) lo = mid;
    else hi = mid;
  }
  const t = (lo + hi) / 2;
  return p > 0.5 ? t : -t;
}
