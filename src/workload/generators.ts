/**
 * Seeded workload generators: `gen:NAME,key=value,...` plus a seed gives a task list (or, for the
 * open-loop server, a TaskSource that can run to millions of requests). Each generator is a
 * function of its parameters and the seed only, so a workload is reproducible from its spec.
 *
 *   schbench   message threads waking workers and collecting their replies (wake-up latency)
 *   hackbench  groups of senders and receivers over pipes
 *   server     open-loop Poisson arrivals of one-shot requests (exp, lognormal or bimodal service)
 *   build      make -jN: CPU-bound jobs over a dependency DAG, throttled by a jobserver
 *   mix        interactive tasks (short bursts, long sleeps) among CPU hogs
 *   periodic   real-time-like periodic tasks with deadlines
 *   shell      a shell script: fork a short child, wait for it, again
 *
 * Tasks talk through named events (`wait`/`post`); every name starts with the generator's name so
 * that two generators' tasks can share a run without crossing wires.
 */
import { Rng } from '../sched/random.ts';
import type { ChildTask, Phase, Policy, SimTask, TaskSource } from '../sched/spec.ts';
// builtin.ts is expected to import this module back (to route `gen:` specs here); that cycle is
// safe only while nothing from builtin.ts is used while this module initialises.
import { parseDuration, WorkloadError } from './builtin.ts';

export type ParamValue = number | string;
/** Durations are ns when given as numbers, or text with a unit (`5ms`) as in a spec string. */
export type Params = Readonly<Record<string, ParamValue | undefined>>;

export interface ParamSpec {
  readonly key: string;
  readonly kind: 'int' | 'real' | 'duration' | 'choice' | 'text';
  readonly doc: string;
  /** Used when the key is absent. With neither a default nor `optional`, the key is required. */
  readonly default?: ParamValue;
  readonly optional?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** A strict lower bound, for quantities that cannot be zero (a rate). */
  readonly above?: number;
  readonly choices?: readonly string[];
  /** The key means something only when an earlier choice key has one of these values. */
  readonly when?: { readonly key: string; readonly is: readonly string[] };
}

export interface Generator {
  readonly describe: string;
  readonly params: readonly ParamSpec[];
  make(params: Params, seed: number): SimTask[] | TaskSource;
}

/** Same cap as the interim `gen:hogs`: past it a task list stops being a reasonable thing to hold. */
const MAX_TASKS = 100_000;
/** A task that would spin forever: the hogs' burst (11.6 days of CPU). */
const FOREVER = 1e15;
const EXIT: Phase = { exit: true };

class Args {
  constructor(
    readonly ctx: string,
    private readonly v: Readonly<Record<string, ParamValue>>,
  ) {}
  num(k: string): number {
    return this.v[k] as number;
  }
  str(k: string): string {
    return this.v[k] as string;
  }
  has(k: string): boolean {
    return this.v[k] !== undefined;
  }
  fail(msg: string): never {
    throw new WorkloadError(`${this.ctx}: ${msg}`);
  }
  /** Named by the keys that multiply up to the count, since those are what the user must change. */
  limitTasks(count: number, keys: string): void {
    if (count > MAX_TASKS) this.fail(`${keys} make ${count} tasks, more than ${MAX_TASKS}`);
  }
}

type Build = (a: Args, seed: number) => SimTask[] | TaskSource;

interface Def {
  describe: string;
  params: readonly ParamSpec[];
  build: Build;
}

// ---- the generators ----

const DEFS: Record<string, Def> = {
  schbench: {
    describe: 'M message threads, each waking its W workers one by one; a worker runs a request and replies; the message thread waits for every reply, sleeps, and starts the next round',
    params: [
      { key: 'm', kind: 'int', default: 2, min: 1, max: 1024, doc: 'message threads' },
      { key: 't', kind: 'int', default: 4, min: 1, max: 1024, doc: 'workers per message thread' },
      { key: 'run', kind: 'duration', default: '100us', min: 0, doc: 'CPU time of one request' },
      { key: 'sleep', kind: 'duration', default: '1ms', min: 0, doc: 'message thread pause between rounds (start times are spread over one pause)' },
      { key: 'rounds', kind: 'int', default: 0, min: 0, doc: 'rounds before every thread exits (0: until the run ends)' },
    ],
    build: schbench,
  },
  hackbench: {
    describe: 'G groups of F senders and F receivers (hackbench -p); every sender writes L messages to each receiver of its group, every receiver reads F*L',
    params: [
      { key: 'groups', kind: 'int', default: 10, min: 1, max: 1000, doc: 'groups (hackbench -g)' },
      { key: 'fds', kind: 'int', default: 20, min: 1, max: 1000, doc: 'senders and receivers per group (hackbench -f)' },
      { key: 'loops', kind: 'int', default: 100, min: 1, max: 1_000_000, doc: 'messages from each sender to each receiver (hackbench -l)' },
      { key: 'send', kind: 'duration', default: '2us', min: 0, doc: 'sender CPU per message (the write)' },
      { key: 'recv', kind: 'duration', default: '2us', min: 0, doc: 'receiver CPU per message (the read)' },
    ],
    build: hackbench,
  },
  server: {
    describe: 'open-loop server: requests arrive as a Poisson process, each a one-shot task that runs its service time and exits (a TaskSource, so it can be long)',
    params: [
      { key: 'rate', kind: 'real', above: 0, doc: 'mean arrivals per second' },
      { key: 'n', kind: 'int', optional: true, min: 1, doc: 'stop after this many requests (n= or duration= is required)' },
      { key: 'duration', kind: 'duration', optional: true, min: 1, doc: 'stop at the first arrival at or after this time' },
      { key: 'service', kind: 'choice', default: 'exp', choices: ['exp', 'lognormal', 'bimodal'], doc: 'service time distribution' },
      { key: 'mean', kind: 'duration', default: '100us', min: 1, when: { key: 'service', is: ['exp', 'lognormal'] }, doc: 'mean service time' },
      { key: 'cv', kind: 'real', default: 1, min: 0, max: 100, when: { key: 'service', is: ['lognormal'] }, doc: 'coefficient of variation of the service time' },
      { key: 'short', kind: 'duration', default: '50us', min: 1, when: { key: 'service', is: ['bimodal'] }, doc: 'the common service time' },
      { key: 'long', kind: 'duration', default: '5ms', min: 1, when: { key: 'service', is: ['bimodal'] }, doc: 'the rare service time' },
      { key: 'p', kind: 'real', default: 0.01, min: 0, max: 1, when: { key: 'service', is: ['bimodal'] }, doc: 'probability of the long one' },
    ],
    build: server,
  },
  build: {
    describe: 'make -jN: a make process hands out N jobserver tokens; each of J CPU-bound jobs starts once all its dependencies finished and it holds a token, and returns the token when done',
    params: [
      { key: 'jobs', kind: 'int', min: 1, max: MAX_TASKS - 1, doc: 'jobs (J)' },
      { key: 'j', kind: 'int', default: 4, min: 1, max: 4096, doc: 'jobs running at once (make -j)' },
      { key: 'cost', kind: 'duration', default: '50ms', min: 1, doc: 'mean CPU time of a job' },
      { key: 'cv', kind: 'real', default: 0.5, min: 0, max: 100, doc: 'coefficient of variation of job costs (lognormal; 0: all equal)' },
      { key: 'shape', kind: 'choice', default: 'random', choices: ['random', 'layered', 'edges'], doc: 'dependency graph: random DAG, layers depending on the layer before, or edges=' },
      { key: 'deps', kind: 'int', default: 3, min: 0, max: 64, when: { key: 'shape', is: ['random', 'layered'] }, doc: 'most dependencies per job' },
      { key: 'layers', kind: 'int', default: 3, min: 1, when: { key: 'shape', is: ['layered'] }, doc: 'layers of jobs' },
      { key: 'edges', kind: 'text', when: { key: 'shape', is: ['edges'] }, doc: 'A>B;C>D...: job B needs job A (jobs numbered from 0); a cycle is an error' },
    ],
    build: makeBuild,
  },
  mix: {
    describe: 'K interactive tasks (short bursts, then long sleeps, like an editor) among B CPU hogs',
    params: [
      { key: 'interactive', kind: 'int', default: 4, min: 0, max: MAX_TASKS, doc: 'interactive tasks (K)' },
      { key: 'hogs', kind: 'int', default: 4, min: 0, max: MAX_TASKS, doc: 'CPU hogs (B)' },
      { key: 'burst', kind: 'duration', default: '500us', min: 1, doc: 'mean interactive burst (exponential)' },
      { key: 'think', kind: 'duration', default: '50ms', min: 1, doc: 'mean interactive sleep (exponential)' },
      { key: 'cycles', kind: 'int', default: 64, min: 1, max: 100_000, doc: 'burst/sleep pairs drawn per interactive task before its pattern repeats' },
      { key: 'nice', kind: 'int', default: 0, min: -20, max: 19, doc: 'nice of the interactive tasks' },
      { key: 'hognice', kind: 'int', default: 0, min: -20, max: 19, doc: 'nice of the hogs' },
    ],
    build: mix,
  },
  periodic: {
    describe: 'N periodic tasks: every period, run for runtime; an activation not done by its deadline counts as a miss',
    params: [
      { key: 'n', kind: 'int', default: 4, min: 1, max: MAX_TASKS, doc: 'tasks' },
      { key: 'period', kind: 'duration', min: 1, doc: 'activation period' },
      { key: 'runtime', kind: 'duration', min: 1, doc: 'CPU time per activation' },
      { key: 'deadline', kind: 'duration', optional: true, min: 1, doc: 'relative deadline, at most the period (default: the period)' },
      { key: 'jitter', kind: 'real', default: 0, min: 0, max: 1, doc: "each task's runtime is drawn uniformly within runtime*(1 +- jitter)" },
      { key: 'align', kind: 'choice', default: 'random', choices: ['random', 'sync'], doc: 'first activations spread over one period from the seed, or all at 0' },
      { key: 'policy', kind: 'choice', default: 'normal', choices: ['normal', 'batch', 'idle', 'ext', 'fifo', 'rr'], doc: 'scheduling policy' },
      { key: 'prio', kind: 'int', default: 50, min: 1, max: 99, when: { key: 'policy', is: ['fifo', 'rr'] }, doc: 'real-time priority' },
    ],
    build: periodic,
  },
  shell: {
    describe: 'S shells, each running a script of C lines over and over: some shell CPU, fork a pipeline of P short commands, wait for all of them',
    params: [
      { key: 'shells', kind: 'int', default: 1, min: 1, max: 10_000, doc: 'shells (S)' },
      { key: 'cmds', kind: 'int', default: 16, min: 1, max: 10_000, doc: 'lines per script (C); command runtimes are drawn once per line' },
      { key: 'pipe', kind: 'int', default: 1, min: 1, max: 64, doc: 'commands per line, forked together (P)' },
      { key: 'work', kind: 'duration', default: '50us', min: 0, doc: 'shell CPU per line (parse, fork, exec)' },
      { key: 'cmd', kind: 'duration', default: '1ms', min: 1, doc: 'mean CPU time of a command' },
      { key: 'cv', kind: 'real', default: 1, min: 0, max: 100, doc: 'coefficient of variation of command runtimes (lognormal; 0: all equal)' },
      { key: 'loops', kind: 'int', default: 0, min: 0, doc: 'times each shell runs its script, then exits (0: until the run ends)' },
    ],
    build: shell,
  },
};

export const GENERATORS: Readonly<Record<string, Generator>> = Object.fromEntries(
  Object.entries(DEFS).map(([name, d]) => [name, { describe: d.describe, params: d.params, make: (p: Params, seed: number) => d.build(resolve(`gen:${name}`, d.params, p), checkSeed(seed)) }]),
);

/** `gen:NAME,key=value,...` with durations in ns/us/ms/s. Errors name the spec and the key. */
export function generate(spec: string, seed: number): SimTask[] | TaskSource {
  if (!spec.startsWith('gen:')) throw new WorkloadError(`${spec}: expected gen:NAME,key=value,...`);
  const [name, ...args] = spec.slice(4).split(',');
  const def = Object.hasOwn(DEFS, name) ? DEFS[name] : undefined;
  if (!def) throw new WorkloadError(`${spec}: unknown generator '${name}' (have: ${Object.keys(DEFS).join(', ')})`);
  // A Map, not an object: a key like __proto__ must stay an unknown parameter.
  const given = new Map<string, string>();
  for (const arg of args) {
    const m = /^(\w+)=(.+)$/.exec(arg);
    if (!m) throw new WorkloadError(`${spec}: expected key=value, found '${arg}'`);
    if (given.has(m[1])) throw new WorkloadError(`${spec}: ${m[1]}= given twice`);
    given.set(m[1], m[2]);
  }
  return def.build(resolve(spec, def.params, Object.fromEntries(given)), checkSeed(seed));
}

/** One paragraph per generator, for command-line help. */
export function generatorHelp(): string {
  return Object.entries(DEFS)
    .map(([name, d]) => {
      const lines = d.params.map((p) => {
        const what = p.default !== undefined ? `default ${p.default}` : p.optional ? 'optional' : 'required';
        const when = p.when ? `; with ${p.when.key}=${p.when.is.join('|')}` : '';
        const kind = p.kind === 'choice' ? p.choices!.join('|') : p.kind;
        return `  ${p.key}=${kind} (${what}${when}): ${p.doc}`;
      });
      return [`gen:${name}: ${d.describe}`, ...lines].join('\n');
    })
    .join('\n\n');
}

function schbench(a: Args, seed: number): SimTask[] {
  const m = a.num('m');
  const t = a.num('t');
  const sleep = a.num('sleep');
  a.limitTasks(m * (t + 1), 'm= and t=');
  const starts = new Rng(seed);
  const loops = a.num('rounds') > 0 ? { loops: a.num('rounds') } : {};
  const tasks: SimTask[] = [];
  for (let i = 0; i < m; i++) {
    const reply = `schbench.m${i}.reply`;
    // One event per worker, not one shared by all: with a shared one a quick worker could take a
    // second token in the same round and another worker would never wake.
    const wake = (j: number): string => `schbench.m${i}.w${j}`;
    const posts: Phase[] = [];
    for (let j = 0; j < t; j++) posts.push({ post: wake(j) });
    // Spread over one pause so the message threads do not stay in lock step.
    const arrival = Math.floor(starts.uniform() * sleep);
    tasks.push({ pid: tasks.length + 1, comm: `msg${i}`, arrival, phases: [...posts, ...repeated(t, [{ wait: reply }]), ...sleeping(sleep)], ...loops });
    for (let j = 0; j < t; j++) {
      tasks.push({ pid: tasks.length + 1, comm: `worker${i}.${j}`, arrival: 0, phases: [{ wait: wake(j) }, ...running(a.num('run')), { post: reply }], ...loops });
    }
  }
  return tasks;
}

function hackbench(a: Args): SimTask[] {
  const groups = a.num('groups');
  const fds = a.num('fds');
  const loops = a.num('loops');
  a.limitTasks(2 * groups * fds, 'groups= and fds=');
  const tasks: SimTask[] = [];
  for (let g = 0; g < groups; g++) {
    const pipe = (r: number): string => `hackbench.g${g}.r${r}`;
    // hackbench's sender writes to each receiver in turn, loops times over. All senders of a
    // group do the same thing, so they share one phase list (groups*fds^2 phases otherwise).
    const round: Phase[] = [];
    for (let r = 0; r < fds; r++) round.push(...running(a.num('send')), { post: pipe(r) });
    const sender: Phase[] = [...repeated(loops, round), EXIT];
    // Receivers first, as hackbench forks them first.
    for (let r = 0; r < fds; r++) {
      tasks.push({ pid: tasks.length + 1, comm: `receiver${g}.${r}`, arrival: 0, phases: [...repeated(fds * loops, [{ wait: pipe(r) }, ...running(a.num('recv'))]), EXIT] });
    }
    for (let s = 0; s < fds; s++) tasks.push({ pid: tasks.length + 1, comm: `sender${g}.${s}`, arrival: 0, phases: sender });
  }
  return tasks;
}

function server(a: Args, seed: number): TaskSource {
  if (!a.has('n') && !a.has('duration')) a.fail('missing n= or duration= (an open-loop source needs an end)');
  const n = a.has('n') ? a.num('n') : Infinity;
  const end = a.has('duration') ? a.num('duration') : Infinity;
  const gap = 1e9 / a.num('rate');
  const root = new Rng(seed);
  // Separate streams: changing the service distribution leaves the arrival times alone, so runs
  // that differ only in service times are compared on the same arrivals.
  const arrivals = root.fork();
  const service = root.fork();
  let draw: () => number;
  switch (a.str('service')) {
    case 'exp': {
      const mean = a.num('mean');
      draw = () => service.exponential(mean);
      break;
    }
    case 'lognormal': {
      const mean = a.num('mean');
      const cv = a.num('cv');
      draw = () => service.lognormal(mean, cv);
      break;
    }
    default: {
      const short = a.num('short');
      const long = a.num('long');
      const p = a.num('p');
      draw = () => (service.uniform() < p ? long : short);
    }
  }
  let made = 0;
  let t = 0;
  return {
    next(): SimTask | undefined {
      if (made >= n) return undefined;
      // Time accumulates in floating point and is floored only on the way out, so rounding
      // never drifts the rate; flooring a nondecreasing sum keeps arrivals in order.
      t += arrivals.exponential(gap);
      const arrival = Math.floor(t);
      if (arrival >= end) {
        made = n;
        return undefined;
      }
      made++;
      return { pid: made, comm: `req${made - 1}`, arrival, phases: [{ run: Math.max(1, Math.round(draw())) }, EXIT] };
    },
  };
}

function makeBuild(a: Args, seed: number): SimTask[] {
  const jobs = a.num('jobs');
  const root = new Rng(seed);
  const graph = root.fork();
  const costs = root.fork();
  // needs[i]: the jobs job i waits for. Generated graphs only point from lower to higher numbers,
  // so they cannot have a cycle; user edges are checked.
  const needs: number[][] = Array.from({ length: jobs }, () => []);
  const shape = a.str('shape');
  if (shape === 'random') {
    const most = a.num('deps');
    for (let i = 1; i < jobs; i++) needs[i] = pickDistinct(graph, 0, i, graph.int(Math.min(most, i) + 1));
  } else if (shape === 'layered') {
    const layers = a.num('layers');
    if (layers > jobs) a.fail(`layers=${layers} is more than jobs=${jobs}`);
    const most = a.num('deps');
    const start = (l: number): number => Math.floor((jobs * l) / layers);
    for (let l = 1; l < layers; l++) {
      const prev = start(l) - start(l - 1);
      for (let i = start(l); i < start(l + 1); i++) {
        needs[i] = most === 0 ? [] : pickDistinct(graph, start(l - 1), start(l), 1 + graph.int(Math.min(most, prev)));
      }
    }
  } else {
    parseEdges(a, jobs, needs);
  }
  const feeds: number[][] = Array.from({ length: jobs }, () => []);
  needs.forEach((ns, i) => ns.forEach((d) => feeds[d].push(i)));
  const SLOT = 'build.slot';
  const DONE = 'build.done';
  const dep = (i: number): string => `build.dep${i}`;
  const cost = a.num('cost');
  const cv = a.num('cv');
  // The jobserver: make owns j tokens; a job holds one while it runs. Waiting for dependencies
  // before the token matters: a job that took a token first could hold every slot while its
  // dependencies wait for one.
  const tasks: SimTask[] = [{ pid: 1, comm: 'make', arrival: 0, phases: [posting(SLOT, a.num('j')), ...repeated(jobs, [{ wait: DONE }]), EXIT] }];
  for (let i = 0; i < jobs; i++) {
    const run = cv === 0 ? cost : Math.max(1, Math.round(costs.lognormal(cost, cv)));
    const phases: Phase[] = [];
    for (let k = 0; k < needs[i].length; k++) phases.push({ wait: dep(i) });
    phases.push({ wait: SLOT }, { run }, { post: SLOT });
    for (const f of feeds[i]) phases.push({ post: dep(f) });
    phases.push({ post: DONE }, EXIT);
    tasks.push({ pid: i + 2, comm: `cc${i}`, arrival: 0, phases });
  }
  return tasks;
}

function parseEdges(a: Args, jobs: number, needs: number[][]): void {
  const seen = new Set<string>();
  for (const item of a.str('edges').split(';')) {
    const m = /^(\d+)>(\d+)$/.exec(item);
    if (!m) a.fail(`edges: '${item}': expected A>B (job B needs job A)`);
    const from = Number(m[1]);
    const to = Number(m[2]);
    for (const j of [from, to]) if (j >= jobs) a.fail(`edges: '${item}': job ${j} is not in 0..${jobs - 1}`);
    if (from === to) a.fail(`edges: '${item}': a job cannot need itself`);
    // A repeated edge is the same dependency, not two.
    if (seen.has(item)) continue;
    seen.add(item);
    needs[to].push(from);
  }
  const cycle = findCycle(needs);
  if (cycle) a.fail(`edges: ${cycle.join('>')} is a cycle`);
}

/** Kahn's algorithm; what it cannot order contains a cycle, found by walking back from there. */
function findCycle(needs: readonly number[][]): number[] | undefined {
  const n = needs.length;
  const pending = needs.map((ns) => ns.length);
  const feeds: number[][] = Array.from({ length: n }, () => []);
  needs.forEach((ns, i) => ns.forEach((d) => feeds[d].push(i)));
  const ready: number[] = [];
  for (let i = 0; i < n; i++) if (pending[i] === 0) ready.push(i);
  let ordered = 0;
  while (ready.length) {
    const i = ready.pop()!;
    ordered++;
    for (const f of feeds[i]) if (--pending[f] === 0) ready.push(f);
  }
  if (ordered === n) return undefined;
  // An unordered job always has an unordered dependency, so walking back must revisit a job.
  let at = pending.findIndex((p) => p > 0);
  const step = new Map<number, number>();
  while (!step.has(at)) {
    const back = needs[at].find((d) => pending[d] > 0)!;
    step.set(at, back);
    at = back;
  }
  const cycle = [at];
  for (let j = step.get(at)!; j !== at; j = step.get(j)!) cycle.push(j);
  cycle.push(at);
  return cycle.reverse();
}

function mix(a: Args, seed: number): SimTask[] {
  const k = a.num('interactive');
  const b = a.num('hogs');
  if (k + b === 0) a.fail('interactive=0 and hogs=0: no tasks');
  a.limitTasks(k + b, 'interactive= and hogs=');
  const cycles = a.num('cycles');
  if (k * cycles > 1_000_000) a.fail(`interactive= and cycles= make ${2 * k * cycles} phases, more than 2000000`);
  const root = new Rng(seed);
  const tasks: SimTask[] = [];
  const nice = a.num('nice') !== 0 ? { nice: a.num('nice') } : {};
  for (let i = 0; i < k; i++) {
    // A stream per task: adding tasks leaves the earlier ones' patterns unchanged.
    const r = root.fork();
    const arrival = Math.floor(r.uniform() * a.num('think'));
    const phases: Phase[] = [];
    for (let c = 0; c < cycles; c++) {
      phases.push({ run: Math.max(1, Math.round(r.exponential(a.num('burst')))) }, { sleep: Math.max(1, Math.round(r.exponential(a.num('think')))) });
    }
    tasks.push({ pid: tasks.length + 1, comm: `edit${i}`, arrival, phases, ...nice });
  }
  const hogNice = a.num('hognice') !== 0 ? { nice: a.num('hognice') } : {};
  for (let i = 0; i < b; i++) tasks.push({ pid: tasks.length + 1, comm: `hog${i}`, arrival: 0, phases: [{ run: FOREVER }], ...hogNice });
  return tasks;
}

function periodic(a: Args, seed: number): SimTask[] {
  const period = a.num('period');
  const runtime = a.num('runtime');
  const deadline = a.has('deadline') ? a.num('deadline') : period;
  if (deadline > period) a.fail(`deadline=${fmtNs(deadline)} is longer than period=${fmtNs(period)}`);
  if (runtime > deadline) a.fail(`runtime=${fmtNs(runtime)} is longer than the deadline (${fmtNs(deadline)}): every activation would miss`);
  const jitter = a.num('jitter');
  const policy = a.str('policy') as Policy;
  const sched = policy === 'normal' ? {} : policy === 'fifo' || policy === 'rr' ? { policy, rtPriority: a.num('prio') } : { policy };
  const root = new Rng(seed);
  const tasks: SimTask[] = [];
  for (let i = 0; i < a.num('n'); i++) {
    const r = root.fork();
    const arrival = a.str('align') === 'random' ? Math.floor(r.uniform() * period) : 0;
    // Drawn per task, not per activation: one timer step per task keeps its activations on one
    // grid, and varying the work per activation would need a timer step per activation.
    const run = jitter === 0 ? runtime : Math.max(1, Math.round(runtime * (1 + jitter * (2 * r.uniform() - 1))));
    tasks.push({ pid: i + 1, comm: `periodic${i}`, arrival, phases: [{ timer: period, deadline }, { run }], ...sched });
  }
  return tasks;
}

/** What the children of a shell script are called, line by line. */
const COMMANDS = ['ls', 'grep', 'sed', 'awk', 'cat', 'sort', 'uniq', 'wc', 'cut', 'head', 'tr', 'date'];

function shell(a: Args, seed: number): SimTask[] {
  const shells = a.num('shells');
  const cmds = a.num('cmds');
  const pipe = a.num('pipe');
  if (shells * cmds * pipe > 1_000_000) a.fail(`shells=, cmds= and pipe= make ${shells * cmds * pipe} commands, more than 1000000`);
  const cmd = a.num('cmd');
  const cv = a.num('cv');
  const root = new Rng(seed);
  const loops = a.num('loops') > 0 ? { loops: a.num('loops') } : {};
  const tasks: SimTask[] = [];
  for (let s = 0; s < shells; s++) {
    const r = root.fork();
    // Each child says it is done on its shell's event, as exit() wakes the parent in wait().
    const done = `shell.s${s}`;
    const arrival = Math.floor(r.uniform() * (a.num('work') + cmd));
    const phases: Phase[] = [];
    for (let line = 0; line < cmds; line++) {
      phases.push(...running(a.num('work')));
      for (let k = 0; k < pipe; k++) {
        const run = cv === 0 ? cmd : Math.max(1, Math.round(r.lognormal(cmd, cv)));
        const child: ChildTask = { comm: COMMANDS[(line * pipe + k) % COMMANDS.length], phases: [{ run }, { post: done }, EXIT] };
        phases.push({ fork: child });
      }
      phases.push(...repeated(pipe, [{ wait: done }]));
    }
    tasks.push({ pid: s + 1, comm: `sh${s}`, arrival, phases, ...loops });
  }
  return tasks;
}

// ---- helpers ----

/** A run or sleep of zero is left out rather than emitted as a step that does nothing. */
function running(ns: number): Phase[] {
  return ns > 0 ? [{ run: ns }] : [];
}

function sleeping(ns: number): Phase[] {
  return ns > 0 ? [{ sleep: ns }] : [];
}

function repeated(n: number, phases: Phase[]): Phase[] {
  return n === 1 ? phases : [{ repeat: n, phases }];
}

function posting(event: string, count: number): Phase {
  return count === 1 ? { post: event } : { post: event, count };
}

/** k distinct integers from [lo, hi), ascending. Rejection is cheap because k is at most 64. */
function pickDistinct(rng: Rng, lo: number, hi: number, k: number): number[] {
  const n = hi - lo;
  if (k >= n) return Array.from({ length: n }, (_, i) => lo + i);
  const picked = new Set<number>();
  while (picked.size < k) picked.add(lo + rng.int(n));
  return [...picked].sort((x, y) => x - y);
}

function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new WorkloadError(`seed ${seed}: expected an integer`);
  return seed;
}

function resolve(ctx: string, specs: readonly ParamSpec[], given: Params): Args {
  const known = new Set(specs.map((s) => s.key));
  for (const k of Object.keys(given)) {
    if (!known.has(k) && given[k] !== undefined) throw new WorkloadError(`${ctx}: unknown parameter '${k}' (have: ${[...known].join(', ')})`);
  }
  const out: Record<string, ParamValue> = {};
  for (const s of specs) {
    const raw = Object.hasOwn(given, s.key) ? given[s.key] : undefined;
    if (s.when && !s.when.is.includes(String(out[s.when.key]))) {
      if (raw !== undefined) throw new WorkloadError(`${ctx}: ${s.key}= applies only with ${s.when.key}=${s.when.is.join('|')}`);
      continue;
    }
    const v = raw ?? s.default;
    if (v === undefined) {
      if (s.optional) continue;
      throw new WorkloadError(`${ctx}: missing ${s.key}=`);
    }
    out[s.key] = convert(ctx, s, v);
  }
  return new Args(ctx, out);
}

function convert(ctx: string, s: ParamSpec, v: ParamValue): ParamValue {
  const bad = (expected: string): never => {
    throw new WorkloadError(`${ctx}: ${s.key}=${v}: expected ${expected}`);
  };
  switch (s.kind) {
    case 'choice':
      if (typeof v !== 'string' || !s.choices!.includes(v)) bad(`one of ${s.choices!.join(', ')}`);
      return v;
    case 'text':
      if (typeof v !== 'string' || v === '') bad('text');
      return v;
    case 'int': {
      const n = typeof v === 'number' ? v : /^[-+]?\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n) || !inRange(s, n)) bad(`an integer${rangeText(s, String)}`);
      return n;
    }
    case 'real': {
      const n = typeof v === 'number' ? v : /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v) ? Number(v) : NaN;
      if (!Number.isFinite(n) || !inRange(s, n)) bad(`a number${rangeText(s, String)}`);
      return n;
    }
    case 'duration': {
      const n = typeof v === 'number' ? v : parseDuration(v, `${ctx}: ${s.key}`);
      if (!Number.isSafeInteger(n) || !inRange(s, n)) bad(`a duration${rangeText(s, fmtNs)}`);
      return n;
    }
  }
}

function inRange(s: ParamSpec, n: number): boolean {
  return (s.min === undefined || n >= s.min) && (s.max === undefined || n <= s.max) && (s.above === undefined || n > s.above);
}

function rangeText(s: ParamSpec, show: (n: number) => string): string {
  if (s.above !== undefined) return ` > ${show(s.above)}`;
  if (s.min !== undefined && s.max !== undefined) return ` in ${show(s.min)}..${show(s.max)}`;
  if (s.min !== undefined) return ` >= ${show(s.min)}`;
  return s.max !== undefined ? ` <= ${show(s.max)}` : '';
}

/** A duration as a user would type it: the largest unit that divides it exactly. */
function fmtNs(ns: number): string {
  for (const [unit, size] of [['s', 1e9], ['ms', 1e6], ['us', 1e3]] as const) if (ns !== 0 && ns % size === 0) return `${ns / size}${unit}`;
  return `${ns}ns`;
}
