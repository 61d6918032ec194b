/**
 * rt-app workload files (the JSON read by rt-app, the tool behind LISA's workloads and much kernel
 * scheduler work) as SimTask[]. The mapping, and what is refused, is documented for users in
 * workloads/rt-app/README.md; the grammar followed is rt-app's doc/tutorial.txt, checked against
 * its parser (rt-app_parse_config.c) and runtime (rt-app.c).
 *
 * Every key and event is either mapped, or on the explicit ignore list below (those that cannot
 * change a schedule), or an error naming the file and the JSON path: an input is never half read.
 */
import { readUserFile } from '../util/fs.ts';
import type { ChildTask, Phase, Policy, SimTask } from '../sched/spec.ts';
import { WorkloadError } from './builtin.ts';

export interface RtAppOptions {
  /**
   * The simulated machine's CPU count. rt-app puts a phase without `cpus` back on the default
   * affinity (every CPU); when the task has no `cpus` of its own that list can only be written
   * out knowing the machine, so such files need this. It also bounds the CPU numbers.
   */
  nrCpus?: number;
}

export interface RtAppWorkload {
  tasks: SimTask[];
  /** `global.duration`, when the file sets one: rt-app kills every thread after it. */
  durationNs?: number;
}

export function loadRtApp(path: string, options: RtAppOptions = {}): RtAppWorkload {
  const text = readUserFile(path, (m) => new WorkloadError(m)).toString('utf8');
  return parseRtApp(text, path, options);
}

export function parseRtApp(text: string, file: string, options: RtAppOptions = {}): RtAppWorkload {
  const n = options.nrCpus;
  if (n !== undefined && !(Number.isInteger(n) && n >= 1)) throw new WorkloadError(`${file}: nrCpus ${n}: expected a positive integer`);
  return new Importer(file, options).run(parseJsonc(text, file));
}

// ---- JSON with comments ----
//
// JSON.parse cannot be used: rt-app (json-c) accepts /* */ and // comments, rt-app runs phases and
// events in file order (JavaScript objects put integer-like keys first), and a repeated key must be
// refused rather than silently keep one value (json-c keeps the last, rt-app's workgen renames).

type JValue =
  | { kind: 'object'; entries: Array<[string, JValue]> }
  | { kind: 'array'; items: JValue[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number; integer: boolean; text: string }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' };

/** Deep enough for any rt-app file; a bound so hostile input fails with a message, not a stack overflow. */
const MAX_NESTING = 64;

function parseJsonc(text: string, file: string): JValue {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const failAt = (at: number, message: string): never => {
    let line = 1;
    let col = 1;
    for (let k = 0; k < at; k++) {
      if (text[k] === '\n') {
        line++;
        col = 1;
      } else col++;
    }
    throw new WorkloadError(`${file}:${line}:${col}: ${message}`);
  };
  const fail = (expected: string, at = i): never => failAt(at, `expected ${expected}, found ${at >= text.length ? 'end of input' : JSON.stringify(text[at])}`);

  const skip = (): void => {
    for (;;) {
      const c = text[i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
      else if (c === '/' && text[i + 1] === '/') {
        while (i < text.length && text[i] !== '\n') i++;
      } else if (c === '/' && text[i + 1] === '*') {
        const end = text.indexOf('*/', i + 2);
        if (end < 0) fail("'*/' closing the comment", text.length);
        i = end + 2;
      } else return;
    }
  };

  const string = (): string => {
    i++; // the opening quote
    let out = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) fail("'\"' closing the string");
      if (c === '"') {
        i++;
        return out;
      }
      if (c < ' ') fail('a character (control characters must be escaped)');
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      const simple = ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else fail('an escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)', i + 1);
    }
  };

  const value = (depth: number): JValue => {
    skip();
    if (depth > MAX_NESTING) fail(`at most ${MAX_NESTING} nested objects and arrays`);
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: Array<[string, JValue]> = [];
      const seen = new Set<string>();
      skip();
      if (text[i] === '}') {
        i++;
        return { kind: 'object', entries };
      }
      for (;;) {
        skip();
        if (text[i] !== '"') fail('a key (a string)');
        const at = i;
        const key = string();
        if (seen.has(key)) failAt(at, `duplicate key ${JSON.stringify(key)} (rt-app would keep only the last one): name repeated events apart, e.g. run0, run1`);
        seen.add(key);
        skip();
        if (text[i] !== ':') fail("':'");
        i++;
        entries.push([key, value(depth + 1)]);
        skip();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return { kind: 'object', entries };
        } else fail("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const items: JValue[] = [];
      skip();
      if (text[i] === ']') {
        i++;
        return { kind: 'array', items };
      }
      for (;;) {
        items.push(value(depth + 1));
        skip();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return { kind: 'array', items };
        } else fail("',' or ']'");
      }
    }
    if (c === '"') return { kind: 'string', value: string() };
    const num = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (num) {
      i += num[0].length;
      // json-c types a literal with a fraction or exponent as a double, which rt-app's integer
      // fields refuse, so the literal's form matters, not only its value.
      return { kind: 'number', value: Number(num[0]), integer: num[1] === undefined && num[2] === undefined, text: num[0] };
    }
    for (const [word, v] of [['true', { kind: 'boolean', value: true }], ['false', { kind: 'boolean', value: false }], ['null', { kind: 'null' }]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail('a value');
  };

  const doc = value(0);
  skip();
  if (i < text.length) fail('end of input');
  return doc;
}

const ESCAPES: ReadonlyMap<string, string> = new Map([
  ['"', '"'],
  ['\\', '\\'],
  ['/', '/'],
  ['b', '\b'],
  ['f', '\f'],
  ['n', '\n'],
  ['r', '\r'],
  ['t', '\t'],
]);

function describe(v: JValue): string {
  switch (v.kind) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string':
      return JSON.stringify(v.value);
    case 'number':
      return v.text;
    case 'boolean':
      return String(v.value);
    case 'null':
      return 'null';
  }
}

// ---- the grammar ----

/** rt-app reads its integers as C ints. */
const INT_MAX = 2147483647;
/** A bound on threads (instances), so a typo cannot ask for a billion tasks. */
const MAX_THREADS = 100_000;

/**
 * Events are recognised by prefix, as rt-app does, so that one phase can hold several of a kind
 * ("run0", "run1"). 'runtime' comes before 'run' for the same reason rt-app tests it first.
 */
const EVENTS = ['runtime', 'run', 'sleep', 'timer', 'lock', 'unlock', 'wait', 'signal', 'broad', 'sync', 'barrier', 'suspend', 'resume', 'yield', 'fork', 'mem', 'iorun'] as const;
type EventName = (typeof EVENTS)[number];

const eventOf = (key: string): EventName | undefined => EVENTS.find((e) => key.startsWith(e));

const UNSUPPORTED_EVENTS: Partial<Record<EventName, string>> = {
  mem: 'memory load is not modelled',
  iorun: 'I/O load is not modelled',
};

/**
 * Keys rt-app uses only for its logs, traces and page locking, or to configure events this
 * importer refuses (io_device, mem_buffer_size: mem and iorun): none can change a schedule, so they
 * are checked for rt-app's type and otherwise ignored. Nothing else is ignored.
 */
const IGNORED_GLOBAL_KEYS: ReadonlyMap<string, readonly JValue['kind'][]> = new Map([
  ['logdir', ['string']],
  ['log_basename', ['string']],
  ['log_size', ['string', 'number']],
  ['ftrace', ['string', 'boolean']],
  ['gnuplot', ['boolean']],
  ['lock_pages', ['boolean']],
  ['io_device', ['string']],
  ['mem_buffer_size', ['number']],
  ['cumulative_slack', ['boolean']],
]);

const TASK_KEYS = new Set(['instance', 'delay', 'loop', 'phases', 'cpus', 'policy', 'priority']);
const UNSUPPORTED_KEYS: ReadonlyMap<string, string> = new Map([
  ['dl-runtime', 'SCHED_DEADLINE is not modelled'],
  ['dl-period', 'SCHED_DEADLINE is not modelled'],
  ['dl-deadline', 'SCHED_DEADLINE is not modelled'],
  ['period', 'a SCHED_DEADLINE parameter (old name), and SCHED_DEADLINE is not modelled'],
  ['deadline', 'a SCHED_DEADLINE parameter (old name), and SCHED_DEADLINE is not modelled'],
  ['util_min', 'utilization clamping is not modelled'],
  ['util_max', 'utilization clamping is not modelled'],
  ['hold_ns', 'utilization clamping is not modelled'],
  ['taskgroup', 'task groups (cgroups) are not read from rt-app files (a JSON task list can declare cgroups)'],
]);

// Maps, not object literals: names come from the file, and 'constructor' must not find anything.
const POLICIES: ReadonlyMap<string, Policy> = new Map([
  ['SCHED_OTHER', 'normal'],
  ['SCHED_IDLE', 'idle'],
  ['SCHED_FIFO', 'fifo'],
  ['SCHED_RR', 'rr'],
]);
const RTAPP_POLICY: Readonly<Record<string, string>> = { normal: 'SCHED_OTHER', idle: 'SCHED_IDLE', fifo: 'SCHED_FIFO', rr: 'SCHED_RR' };
/** rt-app's defaults when a policy is given without a priority (rt-app_args.h, DEFAULT_THREAD_PRIORITY). */
const DEFAULT_NICE = 0;
const DEFAULT_RT_PRIORITY = 10;

type EventDef = { path: string } & (
  | { kind: 'run' | 'runtime' | 'sleep'; us: number }
  | { kind: 'timer'; ref: string; unique: boolean; periodUs: number }
  | { kind: 'lock' | 'unlock'; mutex: string }
  | { kind: 'wait' | 'sync'; cond: string; mutex: string }
  | { kind: 'signal' | 'broad'; cond: string }
  | { kind: 'barrier'; name: string }
  | { kind: 'suspend' | 'resume'; name: string }
  | { kind: 'yield' }
  | { kind: 'fork'; target: string }
);

interface PhaseDef {
  path: string;
  loop: number;
  cpus?: number[];
  /** The nice value the phase sets on entry (SCHED_OTHER tasks only). */
  nice?: number;
  events: EventDef[];
}

interface TaskDef {
  name: string;
  path: string;
  instance: number;
  delayUs: number;
  loops: number;
  cpus?: number[];
  policy: Policy;
  nice?: number;
  rtPriority?: number;
  phases: PhaseDef[];
  /** Some phase has its own `cpus`, so every phase must set the affinity it runs with. */
  phaseCpus: boolean;
}

class Importer {
  private defaultPolicy: Policy = 'normal';
  private calibrationNs: number | undefined;
  private piEnabled = false;
  private readonly tasks: TaskDef[] = [];
  private readonly byName = new Map<string, TaskDef>();
  private readonly forked = new Map<string, string>(); // task -> path of a fork event creating it
  private readonly condWaiters = new Map<string, Set<TaskDef>>();
  private readonly bodies = new Map<TaskDef, Phase[]>();
  private readonly children = new Map<TaskDef, ChildTask>();

  constructor(
    private readonly file: string,
    private readonly options: RtAppOptions,
  ) {}

  private fail(path: string, message: string): never {
    throw new WorkloadError(`${this.file}: ${path ? `${path}: ` : ''}${message}`);
  }

  run(doc: JValue): RtAppWorkload {
    if (doc.kind !== 'object') this.fail('', `expected an object with 'tasks' (and 'global'), found ${describe(doc)}`);
    let tasks: JValue | undefined;
    let durationNs: number | undefined;
    for (const [key, v] of doc.entries) {
      if (key === 'tasks') tasks = v;
      else if (key === 'global') durationNs = this.global(v);
      else if (key === 'resources') {
        // rt-app keeps this section for old files only: it creates every resource when an event
        // first names it, so the declarations change nothing.
        if (v.kind !== 'object') this.fail('resources', `expected an object, found ${describe(v)}`);
      } else this.fail(key, "unknown key (expected 'global', 'tasks' or 'resources')");
    }
    if (tasks === undefined) this.fail('tasks', 'missing (rt-app requires it)');
    if (tasks.kind !== 'object' || tasks.entries.length === 0) this.fail('tasks', `expected an object of one or more tasks, found ${describe(tasks)}`);
    for (const [name, v] of tasks.entries) {
      if (name === '') this.fail('tasks', 'a task with an empty name (it names the threads)');
      const t = this.task(name, v, `tasks.${name}`);
      this.tasks.push(t);
      this.byName.set(name, t);
    }
    const total = this.tasks.reduce((n, t) => n + t.instance, 0);
    if (total > MAX_THREADS) this.fail('tasks', `${total} threads (instances) in all; at most ${MAX_THREADS}`);
    this.check();
    const out: RtAppWorkload = { tasks: this.emit() };
    if (durationNs !== undefined) out.durationNs = durationNs;
    return out;
  }

  // ---- reading ----

  private int(v: JValue, path: string, min: number, max: number, unit = ''): number {
    if (v.kind !== 'number' || !v.integer || v.value < min || v.value > max) this.fail(path, `expected an integer in ${min}..${max}${unit}, found ${describe(v)}`);
    return v.value;
  }

  private str(v: JValue, path: string, nonEmpty = false): string {
    if (v.kind !== 'string' || (nonEmpty && v.value === '')) this.fail(path, `expected a${nonEmpty ? ' non-empty' : ''} string, found ${describe(v)}`);
    return v.value;
  }

  private policy(v: JValue, path: string): Policy {
    const name = this.str(v, path);
    if (name === 'SCHED_DEADLINE') this.fail(path, 'SCHED_DEADLINE is not modelled');
    const p = POLICIES.get(name);
    if (p === undefined) this.fail(path, `expected one of ${[...POLICIES.keys()].join(', ')}, found ${describe(v)}`);
    return p;
  }

  private global(v: JValue): number | undefined {
    if (v.kind !== 'object') this.fail('global', `expected an object, found ${describe(v)}`);
    let durationNs: number | undefined;
    for (const [key, x] of v.entries) {
      const path = `global.${key}`;
      if (key === 'duration') {
        // -1 is rt-app's documented "until every thread has ended"; other values below 1 are
        // more likely mistakes than intent.
        const s = this.int(x, path, -1, INT_MAX, ' (seconds, or -1)');
        if (s === 0) this.fail(path, 'expected -1 (no limit) or a positive number of seconds, found 0');
        durationNs = s > 0 ? s * 1e9 : undefined;
      } else if (key === 'calibration') {
        if (x.kind === 'number') this.calibrationNs = this.int(x, path, 1, INT_MAX, ' (ns per loop)');
        else if (x.kind !== 'string' || !/^CPU\d+$/.test(x.value)) this.fail(path, `expected "CPUn" or an integer (ns per loop), found ${describe(x)}`);
      } else if (key === 'default_policy') {
        this.defaultPolicy = this.policy(x, path);
      } else if (key === 'pi_enabled') {
        if (x.kind !== 'boolean') this.fail(path, `expected true or false, found ${describe(x)}`);
        this.piEnabled = x.value;
      } else if (IGNORED_GLOBAL_KEYS.has(key)) {
        const kinds = IGNORED_GLOBAL_KEYS.get(key)!;
        if (!kinds.includes(x.kind)) this.fail(path, `expected ${kinds.map((k) => (k === 'boolean' ? 'true or false' : `a ${k}`)).join(' or ')}, found ${describe(x)}`);
      } else this.fail(path, 'unknown key');
    }
    return durationNs;
  }

  private cpus(v: JValue, path: string): number[] {
    if (v.kind !== 'array' || v.items.length === 0) this.fail(path, `expected a non-empty array of CPU numbers, found ${describe(v)}`);
    const n = this.options.nrCpus;
    return v.items.map((c, k) => {
      const cpu = this.int(c, `${path}[${k}]`, 0, INT_MAX);
      if (n !== undefined && cpu >= n) this.fail(`${path}[${k}]`, `CPU ${cpu} does not exist (the machine has ${n})`);
      return cpu;
    });
  }

  private task(name: string, v: JValue, path: string): TaskDef {
    if (v.kind !== 'object') this.fail(path, `expected an object, found ${describe(v)}`);
    const hasPhases = v.entries.some(([k]) => k === 'phases');
    const props = new Map<string, JValue>();
    const events: Array<[string, JValue]> = [];
    for (const [key, x] of v.entries) {
      if (eventOf(key) !== undefined) {
        // rt-app reads a task's own events only when it has no 'phases'; otherwise it skips them
        // without a word, which is exactly the silent half-reading refused here.
        if (hasPhases) this.fail(`${path}.${key}`, "an event beside 'phases' (rt-app would ignore it): move it into a phase");
        events.push([key, x]);
      } else if (TASK_KEYS.has(key)) props.set(key, x);
      else if (UNSUPPORTED_KEYS.has(key)) this.fail(`${path}.${key}`, `unsupported key '${key}': ${UNSUPPORTED_KEYS.get(key)}`);
      else this.fail(`${path}.${key}`, 'unknown key');
    }
    const get = (k: string): JValue | undefined => props.get(k);
    const instance = get('instance') === undefined ? 1 : this.int(get('instance')!, `${path}.instance`, 0, MAX_THREADS);
    const delayUs = get('delay') === undefined ? 0 : this.int(get('delay')!, `${path}.delay`, 0, INT_MAX, ' (us)');
    const cpus = get('cpus') === undefined ? undefined : this.cpus(get('cpus')!, `${path}.cpus`);
    const policy = get('policy') === undefined ? this.defaultPolicy : this.policy(get('policy')!, `${path}.policy`);
    const t: TaskDef = { name, path, instance, delayUs, loops: Infinity, policy, phases: [], phaseCpus: false };
    if (cpus) t.cpus = cpus;
    const prio = get('priority');
    if (policy === 'normal') t.nice = prio === undefined ? DEFAULT_NICE : this.int(prio, `${path}.priority`, -20, 19, ' (nice)');
    else if (policy === 'fifo' || policy === 'rr') t.rtPriority = prio === undefined ? DEFAULT_RT_PRIORITY : this.int(prio, `${path}.priority`, 1, 99);
    else if (prio !== undefined) this.int(prio, `${path}.priority`, -INT_MAX - 1, INT_MAX); // SCHED_IDLE: rt-app sets no nice

    // rt-app's loop: -1 is "forever" (the default); 0 would never run a task, or run a phase
    // forever, quirks better refused than imitated.
    const loop = get('loop') === undefined ? -1 : this.int(get('loop')!, `${path}.loop`, -1, INT_MAX);
    if (loop === 0) this.fail(`${path}.loop`, 'expected -1 (forever) or a positive count, found 0');
    t.loops = loop === -1 ? Infinity : loop;
    if (hasPhases) {
      const ph = get('phases')!;
      if (ph.kind !== 'object' || ph.entries.length === 0) this.fail(`${path}.phases`, `expected an object of one or more phases, found ${describe(ph)}`);
      t.phases = ph.entries.map(([pname, pv]) => this.phase(pv, `${path}.phases.${pname}`, t));
      t.phaseCpus = t.phases.some((p) => p.cpus !== undefined);
    } else {
      // One phase written in the task itself: rt-app runs its 'loop' as the phase's and the
      // task once, which is the same as the task looping.
      if (events.length === 0) this.fail(path, 'no events (rt-app requires at least one)');
      t.phases = [{ path, loop: 1, events: events.map(([k, x]) => this.event(k, x, `${path}.${k}`)) }];
    }
    return t;
  }

  private phase(v: JValue, path: string, t: TaskDef): PhaseDef {
    if (v.kind !== 'object') this.fail(path, `expected an object, found ${describe(v)}`);
    const p: PhaseDef = { path, loop: 1, events: [] };
    let policy: JValue | undefined;
    let prio: JValue | undefined;
    for (const [key, x] of v.entries) {
      const kpath = `${path}.${key}`;
      if (eventOf(key) !== undefined) p.events.push(this.event(key, x, kpath));
      else if (key === 'loop') p.loop = this.int(x, kpath, 1, INT_MAX);
      else if (key === 'cpus') p.cpus = this.cpus(x, kpath);
      else if (key === 'policy') policy = x;
      else if (key === 'priority') prio = x;
      else if (UNSUPPORTED_KEYS.has(key)) this.fail(kpath, `unsupported key '${key}': ${UNSUPPORTED_KEYS.get(key)}`);
      else this.fail(kpath, 'unknown key');
    }
    if (p.events.length === 0) this.fail(path, 'no events (rt-app requires at least one)');
    if (policy === undefined && prio === undefined) return p;
    // rt-app applies a phase's scheduling parameters as it enters the phase. The model can change
    // a task's nice value but not its policy or real-time priority.
    if (policy !== undefined) {
      const pol = this.policy(policy, `${path}.policy`);
      if (pol !== t.policy) this.fail(`${path}.policy`, `changing the policy within a task is not modelled (the task is ${RTAPP_POLICY[t.policy]})`);
    }
    if (t.policy === 'normal') p.nice = prio === undefined ? DEFAULT_NICE : this.int(prio, `${path}.priority`, -20, 19, ' (nice)');
    else if (t.policy === 'fifo' || t.policy === 'rr') {
      const at = `${path}.${prio === undefined ? 'policy' : 'priority'}`;
      const rt = prio === undefined ? DEFAULT_RT_PRIORITY : this.int(prio, at, 1, 99);
      if (rt !== t.rtPriority) this.fail(at, `changing the real-time priority within a task is not modelled (the task has ${t.rtPriority}, this phase ${rt})`);
    } else if (prio !== undefined) this.int(prio, `${path}.priority`, -INT_MAX - 1, INT_MAX);
    return p;
  }

  private event(key: string, v: JValue, path: string): EventDef {
    const kind = eventOf(key)!;
    const why = UNSUPPORTED_EVENTS[kind];
    if (why) this.fail(path, `unsupported event '${kind}': ${why}`);
    switch (kind) {
      case 'run':
      case 'runtime':
      case 'sleep':
        return { path, kind, us: this.int(v, path, 0, INT_MAX, ' (us)') };
      case 'timer': {
        const o = this.fields(v, path, ['ref', 'period', 'mode']);
        const ref = o.ref === undefined ? 'unknown' : this.str(o.ref, `${path}.ref`); // rt-app's default name
        if (o.period === undefined) this.fail(`${path}.period`, 'missing');
        const periodUs = this.int(o.period, `${path}.period`, 1, INT_MAX, ' (us)');
        if (o.mode !== undefined && (o.mode.kind !== 'string' || (o.mode.value !== 'relative' && o.mode.value !== 'absolute'))) {
          this.fail(`${path}.mode`, `expected "relative" or "absolute", found ${describe(o.mode)}`);
        }
        return { path, kind, ref, unique: ref.startsWith('unique'), periodUs };
      }
      case 'lock':
      case 'unlock':
        return { path, kind, mutex: this.str(v, path) };
      case 'wait':
      case 'sync': {
        const o = this.fields(v, path, ['ref', 'mutex']);
        const name = (k: 'ref' | 'mutex'): string => (o[k] === undefined ? 'unknown' : this.str(o[k]!, `${path}.${k}`));
        return { path, kind, cond: name('ref'), mutex: name('mutex') };
      }
      case 'signal':
      case 'broad':
        return { path, kind, cond: this.str(v, path) };
      case 'barrier':
        return { path, kind, name: this.str(v, path) };
      case 'suspend':
      case 'resume':
        // rt-app's workgen fills an empty name in; this importer reads what rt-app itself reads.
        return { path, kind, name: this.str(v, path, true) };
      case 'yield':
        this.str(v, path);
        return { path, kind };
      case 'fork':
        return { path, kind, target: this.str(v, path) };
      default:
        return this.fail(path, `unsupported event '${kind}'`);
    }
  }

  private fields<K extends string>(v: JValue, path: string, keys: readonly K[]): Partial<Record<K, JValue>> {
    if (v.kind !== 'object') this.fail(path, `expected an object with ${keys.join(', ')}, found ${describe(v)}`);
    const out: Partial<Record<K, JValue>> = {};
    for (const [k, x] of v.entries) {
      if (!(keys as readonly string[]).includes(k)) this.fail(`${path}.${k}`, `unknown key (expected ${keys.join(', ')})`);
      out[k as K] = x;
    }
    return out;
  }

  // ---- checks across tasks ----

  private *events(t: TaskDef): Generator<EventDef> {
    for (const p of t.phases) yield* p.events;
  }

  /** How many threads may run task t's program: its instances, or any number once it is forked. */
  private threads(t: TaskDef): number {
    return this.forked.has(t.name) ? Infinity : t.instance;
  }

  private check(): void {
    for (const t of this.tasks) {
      for (const e of this.events(t)) {
        if (e.kind !== 'fork') continue;
        if (!this.byName.has(e.target)) this.fail(e.path, `fork of unknown task '${e.target}'`);
        if (!this.forked.has(e.target)) this.forked.set(e.target, e.path);
      }
    }
    for (const [name, by] of this.forked) {
      const t = this.byName.get(name)!;
      // rt-app's delay for a forked thread is a wake-up time counted from the start of the run,
      // not from the fork: the model's fork has nothing like it.
      if (t.delayUs > 0) this.fail(`${t.path}.delay`, `task '${name}' is forked (${by}), and rt-app counts a forked task's delay from the start of the run, which is not modelled`);
    }
    const cleared = new Set<TaskDef>();
    for (const t of this.tasks) this.forkCycle(t, [], cleared);

    const mutexes = new Set<string>();
    const signalled = new Set<string>();
    const suspendNames: Array<{ name: string; path: string }> = [];
    const barriers = new Map<string, Array<{ t: TaskDef; path: string }>>();
    const timers = new Map<string, Array<{ t: TaskDef; path: string }>>();
    for (const t of this.tasks) {
      this.checkLocks(t);
      this.checkTimers(t);
      for (const e of this.events(t)) {
        if (e.kind === 'lock' || e.kind === 'unlock' || e.kind === 'wait' || e.kind === 'sync') mutexes.add(e.mutex);
        if (e.kind === 'wait' || e.kind === 'sync') this.addWaiter(e.cond, t);
        if (e.kind === 'suspend') this.addWaiter(e.name, t);
        if (e.kind === 'signal' || e.kind === 'broad' || e.kind === 'sync') signalled.add(e.cond);
        if (e.kind === 'resume') signalled.add(e.name);
        if (e.kind === 'suspend' || e.kind === 'resume') suspendNames.push(e);
        if (e.kind === 'barrier') push(barriers, e.name, { t, path: e.path });
        if (e.kind === 'timer' && !e.unique) push(timers, e.ref, { t, path: e.path });
      }
    }
    if (this.piEnabled && mutexes.size > 0) this.fail('global.pi_enabled', 'priority inheritance is not modelled, and this file uses mutexes');
    for (const { name, path } of suspendNames) {
      // suspend/resume hold rt-app's mutex of the same name for an instant; a task holding that
      // mutex for a while would delay them, which the model's events would not.
      if (mutexes.has(name)) this.fail(path, `'${name}' is also a mutex that tasks lock, which rt-app's suspend/resume would wait for: not modelled`);
    }
    for (const t of this.tasks) {
      for (const e of this.events(t)) {
        const cond = e.kind === 'wait' || e.kind === 'sync' ? e.cond : e.kind === 'suspend' ? e.name : undefined;
        if (cond !== undefined && !signalled.has(cond)) this.fail(e.path, `no task signals '${cond}' (signal, broad, sync or resume), so this would wait forever`);
      }
    }
    for (const [name, uses] of barriers) {
      const [a, b] = uses;
      if (uses.length !== 2 || a.t === b.t || this.threads(a.t) !== 1 || this.threads(b.t) !== 1) {
        const who = uses.map((u) => this.describeThreads(u.t)).join(', ');
        this.fail(a.path, `barrier '${name}' is used ${uses.length === 1 ? 'once' : `${uses.length} times`} (${who}): only a barrier between two tasks, each once, single-instance and not forked, can be built from the model's events`);
      }
    }
    for (const [ref, uses] of timers) {
      const users = [...new Set(uses.map((u) => u.t))];
      if (users.reduce((n, t) => n + this.threads(t), 0) > 1) {
        this.fail(uses[0].path, `timer '${ref}' is shared by several threads (${users.map((t) => this.describeThreads(t)).join(', ')}): rt-app gives them one time base, which the model cannot express; a ref starting with 'unique' gives each thread its own`);
      }
    }
  }

  /**
   * The model's timer keeps one time base per task: its k-th activation falls at arrival +
   * k * period, as rt-app's does for a timer a thread uses alone (rt-app adds each event's period
   * to its ref's base, which starts when the thread does). They agree when a task's timer events
   * all use one ref and one period; mixing them has no counterpart.
   */
  private checkTimers(t: TaskDef): void {
    let first: Extract<EventDef, { kind: 'timer' }> | undefined;
    for (const e of this.events(t)) {
      if (e.kind !== 'timer') continue;
      if (!first) first = e;
      else if (e.ref !== first.ref || e.periodUs !== first.periodUs) {
        this.fail(e.path, `a timer (ref '${e.ref}', period ${e.periodUs} us) unlike the task's first (${first.path}: ref '${first.ref}', period ${first.periodUs} us): the model keeps one time base per task, so one task's timers must share one ref and one period`);
      }
    }
  }

  private describeThreads(t: TaskDef): string {
    const n = this.threads(t);
    return `${t.name}${n === Infinity ? ' (forked)' : n === 1 ? '' : ` (${n} instances)`}`;
  }

  private addWaiter(cond: string, t: TaskDef): void {
    let s = this.condWaiters.get(cond);
    if (!s) this.condWaiters.set(cond, (s = new Set()));
    s.add(t);
  }

  /**
   * A forked child carries its whole program, so a task cannot (indirectly) fork itself. Tasks
   * already cleared are not walked again, which keeps a file of many shared forks linear.
   */
  private forkCycle(t: TaskDef, chain: TaskDef[], cleared: Set<TaskDef>): void {
    if (cleared.has(t)) return;
    for (const e of this.events(t)) {
      if (e.kind !== 'fork') continue;
      const target = this.byName.get(e.target)!;
      if (target === t || chain.includes(target)) {
        const names = (target === t ? [t, t] : [...chain.slice(chain.indexOf(target)), t, target]).map((x) => x.name);
        this.fail(e.path, `fork cycle ${names.join(' -> ')}: a forked child carries its whole program, so this cannot be expressed`);
      }
      this.forkCycle(target, [...chain, t], cleared);
    }
    cleared.add(t);
  }

  /**
   * A mutex is modelled as a binary semaphore, which is a faithful mutex only if each thread locks
   * and unlocks it in pairs. Walking a looped body twice finds a lock left held into the next turn.
   */
  private checkLocks(t: TaskDef): void {
    const held = new Set<string>();
    const walk = (): void => {
      for (const p of t.phases) {
        for (let turn = 0; turn < Math.min(p.loop, 2); turn++) {
          for (const e of p.events) {
            if (e.kind === 'lock') {
              if (held.has(e.mutex)) this.fail(e.path, `locks '${e.mutex}' while already holding it (rt-app would deadlock)`);
              held.add(e.mutex);
            } else if (e.kind === 'unlock') {
              if (!held.delete(e.mutex)) this.fail(e.path, `unlocks '${e.mutex}', which the task does not hold here`);
            } else if ((e.kind === 'wait' || e.kind === 'sync') && !held.has(e.mutex)) {
              this.fail(e.path, `${e.kind} on '${e.cond}' without holding its mutex '${e.mutex}' (pthread_cond_wait needs it locked)`);
            }
          }
        }
      }
    };
    walk();
    if (t.loops !== 1) walk();
  }

  // ---- emitting ----

  private emit(): SimTask[] {
    // Threads in rt-app's creation order, which gives the pids; rt-app names them "<task>-<index>".
    const threads: Array<{ t: TaskDef; index: number }> = [];
    for (const t of this.tasks) for (let k = 0; k < t.instance; k++) threads.push({ t, index: threads.length });
    const carriers = this.mutexCarriers(threads);
    return threads.map(({ t, index }) => {
      const body = this.body(t);
      const posts = carriers.get(index);
      const task: SimTask = { pid: index + 1, comm: `${t.name}-${index}`, arrival: t.delayUs * 1000, ...this.sched(t), phases: body, loops: t.loops };
      if (posts) {
        // The mutexes' initial tokens go before the task's loop, so they are posted once. The
        // model's repeat takes counts only: 2^53 - 1 turns is forever for any run.
        const turns = t.loops === Infinity ? Number.MAX_SAFE_INTEGER : t.loops;
        task.phases = [...posts.map((m): Phase => ({ post: mutexEvent(m) })), ...(turns === 1 ? body : [{ repeat: turns, phases: body }])];
        task.loops = 1;
      }
      return task;
    });
  }

  private sched(t: TaskDef): { policy: Policy; nice?: number; rtPriority?: number; cpus?: readonly number[] } {
    const s: { policy: Policy; nice?: number; rtPriority?: number; cpus?: readonly number[] } = { policy: t.policy };
    if (t.nice !== undefined) s.nice = t.nice;
    if (t.rtPriority !== undefined) s.rtPriority = t.rtPriority;
    if (t.cpus) s.cpus = t.cpus;
    return s;
  }

  /**
   * rt-app's mutexes start unlocked; the model's events start with no token. Each mutex gets its
   * one token from the earliest thread (by arrival, then pid) whose program can use it, directly or
   * through the tasks it forks, posted as that thread starts.
   */
  private mutexCarriers(threads: Array<{ t: TaskDef; index: number }>): Map<number, string[]> {
    const uses = new Map<TaskDef, Set<string>>();
    const usesOf = (t: TaskDef): Set<string> => {
      let s = uses.get(t);
      if (s) return s;
      s = new Set();
      uses.set(t, s);
      for (const e of this.events(t)) {
        if (e.kind === 'lock' || e.kind === 'wait' || e.kind === 'sync') s.add(e.mutex);
        if (e.kind === 'fork') for (const m of usesOf(this.byName.get(e.target)!)) s.add(m);
      }
      return s;
    };
    const order = [...threads].sort((a, b) => a.t.delayUs - b.t.delayUs || a.index - b.index);
    const carriers = new Map<number, string[]>();
    const done = new Set<string>();
    for (const { t, index } of order) {
      for (const m of usesOf(t)) {
        if (done.has(m)) continue;
        done.add(m);
        push(carriers, index, m);
      }
    }
    return carriers;
  }

  /** The phases of task t as model steps; one array shared by its instances and forks. */
  private body(t: TaskDef): Phase[] {
    let b = this.bodies.get(t);
    if (b) return b;
    b = t.phases.flatMap((p) => {
      const steps: Phase[] = [];
      if (t.phaseCpus) steps.push({ cpus: p.cpus ?? t.cpus ?? this.allCpus(p.path) });
      if (p.nice !== undefined) steps.push({ nice: p.nice });
      const events = p.events.flatMap((e) => this.steps(e, t));
      return [...steps, ...(p.loop === 1 ? events : [{ repeat: p.loop, phases: events }])];
    });
    this.bodies.set(t, b);
    return b;
  }

  private allCpus(path: string): number[] {
    const n = this.options.nrCpus;
    if (n === undefined) this.fail(path, "rt-app runs this phase on every CPU (it has no 'cpus', nor has its task): give the machine's CPU count (nrCpus) or set the task's 'cpus'");
    return Array.from({ length: n }, (_, c) => c);
  }

  private steps(e: EventDef, t: TaskDef): Phase[] {
    switch (e.kind) {
      case 'run':
        return [{ run: this.runNs(e.us) }];
      case 'runtime':
        return [{ run: e.us * 1000 }];
      case 'sleep':
        return [{ sleep: e.us * 1000 }];
      case 'timer':
        return [{ timer: e.periodUs * 1000 }];
      case 'lock':
        return [{ wait: mutexEvent(e.mutex) }];
      case 'unlock':
        return [{ post: mutexEvent(e.mutex) }];
      case 'wait':
        // pthread_cond_wait: release the mutex, sleep on the condition, take the mutex back.
        return [{ post: mutexEvent(e.mutex) }, { wait: condEvent(e.cond) }, { wait: mutexEvent(e.mutex) }];
      case 'signal':
        return [this.signal(e.cond, t, e.path, false)];
      case 'broad':
        return [{ broadcast: condEvent(e.cond) }];
      case 'sync':
        return [this.signal(e.cond, t, e.path, true), { post: mutexEvent(e.mutex) }, { wait: condEvent(e.cond) }, { wait: mutexEvent(e.mutex) }];
      case 'suspend':
        return [{ wait: condEvent(e.name) }];
      case 'resume':
        return [{ broadcast: condEvent(e.name) }];
      case 'barrier': {
        // Each of the two sides posts the other's token and takes its own: whoever comes first
        // sleeps until the other arrives, as rt-app's last arrival wakes the first.
        const other = this.tasks.find((x) => x !== t && [...this.events(x)].some((y) => y.kind === 'barrier' && y.name === e.name))!;
        return [{ post: barrierEvent(e.name, other) }, { wait: barrierEvent(e.name, t) }];
      }
      case 'yield':
        return [{ yield: true }];
      case 'fork':
        return [{ fork: this.child(this.byName.get(e.target)!) }];
    }
  }

  /**
   * pthread_cond_signal wakes one waiting thread, and is lost when none waits. The model has no
   * such step: `broadcast` is lost when none waits but wakes all, `post` wakes one but is kept
   * when none waits. With at most one other thread able to wait, broadcast is exactly the
   * signal; otherwise post is used, which remembers a signal rt-app would lose. That is refused
   * where the signalling task itself waits on the condition, since it could take its own token.
   */
  private signal(cond: string, t: TaskDef, path: string, sync: boolean): Phase {
    const waiters = this.condWaiters.get(cond);
    let others = 0;
    for (const w of waiters ?? []) others += this.threads(w);
    if (waiters?.has(t) && this.threads(t) > 0) others -= 1;
    if (others <= 1) return { broadcast: condEvent(cond) };
    if (sync || waiters?.has(t)) {
      this.fail(path, `signals '${cond}', which it waits on too, while ${others === Infinity ? 'any number of' : others} other threads may wait on it: rt-app loses a signal nobody waits for, the model would keep it for the task itself`);
    }
    return { post: condEvent(cond) };
  }

  private child(t: TaskDef): ChildTask {
    let c = this.children.get(t);
    if (!c) {
      c = { comm: t.name, ...this.sched(t), phases: this.body(t), loops: t.loops };
      this.children.set(t, c);
    }
    return c;
  }

  /**
   * rt-app's `run` is a number of calibrated loops, floor(us * 1000 / ns_per_loop) (whole seconds
   * counted apart, as its loadwait does), so with a numeric calibration its work is that many
   * loops' worth of ns. With "CPUn" every simulated CPU is the calibrated one: us * 1000.
   */
  private runNs(us: number): number {
    const p = this.calibrationNs;
    if (p === undefined) return us * 1000;
    const secs = Math.floor(us / 1e6);
    return (secs * Math.floor(1e9 / p) + Math.floor(((us - secs * 1e6) * 1000) / p)) * p;
  }
}

const mutexEvent = (name: string): string => `mutex:${name}`;
const condEvent = (name: string): string => `cond:${name}`;
// Quoted, because both names are free text and 'a:b' + 'c' must not meet 'a' + 'b:c'.
const barrierEvent = (name: string, t: TaskDef): string => `barrier:${JSON.stringify(name)}:${JSON.stringify(t.name)}`;

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}
