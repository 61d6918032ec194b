/**
 * The Chrome trace-event export, read back as a viewer would: slices against the run's per-CPU
 * busy time, flows bound by Perfetto's rule (a flow event binds to the slice most recently begun
 * on its track, a thread-scoped instant counting as one), counters against the event log, and a
 * tiny hand-written log against a hand-computed trace.
 */
import { describe, expect, it } from 'vitest';
import { perfettoJson, toPerfetto, type ChromeEvent, type PerfettoInput } from '../../src/harness/perfetto.ts';
import type { TraceEvent } from '../../src/sched/machine.ts';
import type { TsKernelApi, TsSchedulerDef } from '../../src/sched/ext/ops.ts';
import { tsFifo } from '../../src/sched/ext/ts-schedulers.ts';
import { simulate, type SchedulerSpec, type SimulateResult } from '../../src/sched/simulate.ts';
import type { SimTask } from '../../src/sched/spec.ts';
import { loadWorkload } from '../../src/workload/load.ts';

const US = 1_000;
const MS = 1_000_000;
const eevdf: SchedulerSpec = { kind: 'builtin:eevdf' };
const fifo: SchedulerSpec = { kind: 'ts', make: tsFifo };
const SCX_KICK_IDLE = 1;

/** FIFO that also kicks CPU 1 on every enqueue, so runs have kicks to show. */
const kickingFifo = (api: TsKernelApi): TsSchedulerDef => {
  const def = tsFifo(api);
  const enqueue = def.callbacks.enqueue!;
  def.callbacks.enqueue = (p, flags) => {
    const r = enqueue(p, flags);
    api.kfunc('scx_bpf_kick_cpu', 1, SCX_KICK_IDLE);
    return r;
  };
  return def;
};

/** Wake-ups from running tasks: a ping-pong pair, a broadcaster with two waiters, two hogs. */
const wakers: SimTask[] = [
  { pid: 1, comm: 'ping', arrival: 0, phases: [{ run: 300 * US }, { post: 'pong' }, { wait: 'ping' }], loops: Infinity },
  { pid: 2, comm: 'pong', arrival: 0, phases: [{ wait: 'pong' }, { run: 200 * US }, { post: 'ping' }], loops: Infinity },
  { pid: 3, comm: 'hog', arrival: 0, phases: [{ run: 5 * MS }, { sleep: MS }], loops: Infinity },
  { pid: 4, comm: 'hog', arrival: 50 * US, phases: [{ run: 3 * MS }, { sleep: 2 * MS }], loops: Infinity },
  { pid: 5, comm: 'bcast', arrival: 0, phases: [{ run: 100 * US }, { broadcast: 'go' }, { sleep: 2 * MS }], loops: Infinity },
  { pid: 6, comm: 'waiter', arrival: 0, phases: [{ wait: 'go' }, { run: 150 * US }], loops: Infinity },
  { pid: 7, comm: 'waiter', arrival: 0, phases: [{ wait: 'go' }, { run: 250 * US }], loops: Infinity },
];

function run(scheduler: SchedulerSpec, tasks: SimTask[], cpus: number, durationNs: number): SimulateResult & PerfettoInput {
  const r = simulate({ scheduler, tasks, topology: String(cpus), durationNs, trace: true });
  return { ...r, trace: r.trace! };
}

interface Parsed {
  events: ChromeEvent[];
  /** ts and dur back in ns. */
  ns: (us: number) => number;
}

/** The export as a viewer reads it: the JSON text, parsed. */
function parse(input: PerfettoInput): Parsed {
  const text = perfettoJson(input);
  const doc = JSON.parse(text) as { traceEvents: ChromeEvent[]; displayTimeUnit: string };
  expect(Object.keys(doc)).toEqual(['traceEvents', 'displayTimeUnit']);
  expect(doc.displayTimeUnit).toBe('ns');
  // Microseconds with exactly three decimals: ns precision, the same text for the same time.
  for (const m of text.matchAll(/"(ts|dur)":([^,}]*)/g)) expect(m[2]).toMatch(/^\d+\.\d{3}$/);
  return { events: doc.traceEvents, ns: (us) => Math.round(us * 1000) };
}

interface XSlice {
  tid: number;
  pid: number;
  start: number;
  end: number;
  ev: ChromeEvent;
}

/** Every check that holds for any run. */
function checkRun(r: SimulateResult & PerfettoInput): { flows: number } {
  const { events, ns } = parse(r);
  const trace = r.trace as TraceEvent[];
  const cpus = r.cpus.map((c) => c.cpu);

  // Metadata names every CPU track, in CPU order; everything else lives in the "CPUs" process.
  const meta = events.filter((e) => e.ph === 'M');
  expect(meta.filter((e) => e.name === 'process_name').map((e) => [e.pid, e.args!.name])).toEqual([[1, 'CPUs']]);
  const tidOf = new Map<number, number>();
  for (const e of meta.filter((m) => m.name === 'thread_name')) {
    const cpu = Number(/^CPU (\d+)$/.exec(String(e.args!.name))![1]);
    expect(tidOf.has(cpu)).toBe(false);
    tidOf.set(cpu, e.tid);
  }
  expect([...tidOf.keys()]).toEqual(cpus);
  const sortIndex = new Map(meta.filter((m) => m.name === 'thread_sort_index').map((m) => [m.tid, m.args!.sort_index]));
  for (const cpu of cpus) expect(sortIndex.get(tidOf.get(cpu)!)).toBe(cpu);
  const tids = new Set(tidOf.values());
  for (const e of events) {
    expect(e.pid).toBe(1);
    expect(tids.has(e.tid)).toBe(true);
  }

  // Time order after the metadata, so an importer that sorts stably sees the file's order.
  const timed = events.filter((e) => e.ph !== 'M');
  expect(events.slice(0, meta.length)).toEqual(meta);
  for (let i = 1; i < timed.length; i++) expect(ns(timed[i].ts!)).toBeGreaterThanOrEqual(ns(timed[i - 1].ts!));

  // Slices cover exactly each CPU's busy time, and never overlap on a track.
  const slices: XSlice[] = timed.filter((e) => e.ph === 'X').map((e) => ({ tid: e.tid, pid: Number(e.args!.pid), start: ns(e.ts!), end: ns(e.ts!) + ns(e.dur!), ev: e }));
  for (const c of r.cpus) {
    const mine = slices.filter((s) => s.tid === tidOf.get(c.cpu));
    expect(mine.reduce((sum, s) => sum + s.end - s.start, 0)).toBe(c.busy);
    for (let i = 1; i < mine.length; i++) expect(mine[i].start).toBeGreaterThanOrEqual(mine[i - 1].end);
    for (const s of mine) expect(s.end).toBeLessThanOrEqual(r.durationNs);
  }
  const comm = new Map(r.tasks.map((t) => [t.pid, t.comm]));
  for (const s of slices) {
    expect(s.ev.name).toBe(`${comm.get(s.pid)} ${s.pid}`);
    expect(['queued', 'sleeping', 'exited', 'running']).toContain(s.ev.args!.prevState);
  }
  const slicesOf = (pid: number) => slices.filter((s) => s.pid === pid);

  // Flows, bound as Perfetto binds them: to the slice (or thread-scoped instant) most recently
  // begun on the track. Both ends must land on X slices, and at their starts (chrome://tracing
  // prefers the slice starting at the flow's timestamp).
  const top = new Map<number, ChromeEvent>();
  const starts = new Map<number, ChromeEvent>();
  const ends = new Map<number, ChromeEvent>();
  for (const e of timed) {
    if (e.ph === 'X' || (e.ph === 'i' && e.s === 't')) top.set(e.tid, e);
    if (e.ph !== 's' && e.ph !== 'f') continue;
    expect([e.name, e.cat]).toEqual(['wakeup', 'sched']);
    const bound = top.get(e.tid)!;
    expect(bound.ph).toBe('X');
    expect(ns(bound.ts!)).toBe(ns(e.ts!));
    const side = e.ph === 's' ? starts : ends;
    expect(side.has(e.id!)).toBe(false);
    side.set(e.id!, bound);
    if (e.ph === 'f') expect(e.bp).toBe('e');
  }
  expect([...ends.keys()].sort()).toEqual([...starts.keys()].sort());
  let flows = 0;
  trace.forEach((w, i) => {
    if (w.type !== 'wakeup' || w.by === 0) return;
    const from = starts.get(i + 1);
    const to = ends.get(i + 1);
    const wakerRunning = slicesOf(w.by).filter((s) => s.start <= w.at && w.at <= s.end);
    const later = slicesOf(w.pid).filter((s) => s.start >= w.at);
    // An arrow exactly when the waker was on a CPU at the wake-up and the wakee ran afterwards.
    expect(from !== undefined).toBe(wakerRunning.length > 0 && later.length > 0);
    if (!from || !to) return;
    flows++;
    expect(wakerRunning.map((s) => s.ev)).toContain(from);
    const next = Math.min(...later.map((s) => s.start));
    expect(to.args!.pid).toBe(w.pid);
    expect(ns(to.ts!)).toBe(next);
  });
  for (const id of starts.keys()) expect(trace[id - 1]).toMatchObject({ type: 'wakeup' });

  // Counters against the log, at every moment the log records something.
  const counters = new Map<string, { at: number; value: number }[]>();
  for (const e of timed.filter((c) => c.ph === 'C')) {
    const [key, value] = Object.entries(e.args!)[0];
    expect(key).toBe(e.name === 'CPUs' ? 'idle' : 'depth');
    if (!counters.has(e.name)) counters.set(e.name, []);
    counters.get(e.name)!.push({ at: ns(e.ts!), value: Number(value) });
  }
  const dsqs = [...new Set(trace.flatMap((e) => (e.type === 'dsq' ? [e.dsq] : [])))];
  expect([...counters.keys()].sort()).toEqual(['CPUs', ...dsqs].sort());
  const valueAt = (name: string, t: number) => counters.get(name)!.filter((c) => c.at <= t).at(-1)?.value;
  for (const t of new Set([0, ...trace.map((e) => e.at)])) {
    // Idle CPUs: those with no slice covering t (one still running when the run ended covers its end).
    const busy = new Set(slices.filter((s) => s.start <= t && (t < s.end || (s.ev.args!.prevState === 'running' && t === s.end))).map((s) => s.tid));
    expect(valueAt('CPUs', t)).toBe(cpus.length - busy.size);
    for (const dsq of dsqs) {
      const logged = trace.filter((e) => e.type === 'dsq' && e.dsq === dsq && e.at <= t).at(-1);
      expect(valueAt(dsq, t)).toBe(logged && logged.type === 'dsq' ? logged.depth : 0);
    }
  }

  // Instants, in log order: kicks on the kicking CPU, migrations on the destination, exits.
  const instants = (name: string) => timed.filter((e) => e.ph === 'i' && e.name === name);
  const kicks = trace.filter((e) => e.type === 'kick');
  expect(instants('kick').map((e) => [ns(e.ts!), e.s, e.tid, e.args])).toEqual(kicks.map((k) => [k.at, 't', tidOf.get(k.from), { target: k.cpu, flags: k.flags }]));
  const migrations = trace.filter((e) => e.type === 'migrate');
  expect(instants('migrate').map((e) => [ns(e.ts!), e.s, e.tid, e.args])).toEqual(migrations.map((m) => [m.at, 't', tidOf.get(m.to), { pid: m.pid, from: m.from, to: m.to }]));
  const exits = trace.filter((e) => e.type === 'exit');
  expect(instants('exit').map((e) => [ns(e.ts!), e.args!.pid])).toEqual(exits.map((x) => [x.at, x.pid]));
  for (const e of instants('exit')) {
    // An exit on a CPU track ends a slice of that task there.
    if (e.s === 't') expect(slices.some((s) => s.tid === e.tid && s.pid === e.args!.pid && s.end === ns(e.ts!) && s.ev.args!.prevState === 'exited')).toBe(true);
  }
  const aborts = trace.filter((e) => e.type === 'scheduler-exit');
  expect(instants('scheduler exit').map((e) => [ns(e.ts!), e.s, e.args])).toEqual(aborts.map((a) => [a.at, 'g', { kind: a.kind, reason: a.reason, msg: a.msg }]));
  return { flows };
}

describe('Perfetto export of a run', () => {
  const cases: [string, string | SimTask[], number][] = [
    ['bursts', 'gen:bursts,n=8,run=3ms,sleep=2ms', 2],
    ['bursts', 'gen:bursts,n=8,run=3ms,sleep=2ms', 4],
    ['schbench', 'gen:schbench,m=1,t=4', 2],
    ['schbench', 'gen:schbench,m=1,t=4', 3],
    ['wakers', wakers, 2],
    ['wakers', wakers, 3],
  ];
  for (const [sname, scheduler] of [
    ['builtin:eevdf', eevdf],
    ['ts fifo', fifo],
  ] as const) {
    for (const [wname, workload, cpus] of cases) {
      it(`${wname} on ${cpus} CPUs under ${sname}: slices, flows, counters, instants`, () => {
        const tasks = typeof workload === 'string' ? loadWorkload(workload) : workload;
        const r = run(scheduler, tasks, cpus, 60 * MS);
        const { flows } = checkRun(r);
        // The ping-pong and broadcast wake-ups come from running tasks: there are arrows.
        if (wname === 'wakers') expect(flows).toBeGreaterThan(20);
      });
    }
  }

  it('hackbench: senders wake receivers from their CPUs, one arrow per wake-up', () => {
    const r = run(eevdf, loadWorkload('gen:hackbench,groups=1,fds=8,loops=50'), 2, 20 * MS);
    const woken = r.trace.filter((e) => e.type === 'wakeup' && e.by !== 0).length;
    expect(woken).toBeGreaterThan(0);
    expect(checkRun(r).flows).toBe(woken);
  });

  it('kicks sit on the kicking CPU track', () => {
    const r = run({ kind: 'ts', make: kickingFifo }, wakers, 2, 20 * MS);
    expect(r.trace.some((e) => e.type === 'kick')).toBe(true);
    checkRun(r);
  });

  it('a scheduler aborted mid-run: a global instant, the slices still match busy time, its tasks turn fair', () => {
    let ticks = 0;
    const erring = (api: TsKernelApi): TsSchedulerDef => {
      const def = tsFifo(api);
      def.callbacks.tick = () => {
        if (++ticks === 30) {
          api.km.mem.bytes.set(new TextEncoder().encode('enough\0'), api.scratch);
          api.kfunc('scx_bpf_error_bstr', api.scratch, api.scratch + 32, 0);
        }
        return 0;
      };
      return def;
    };
    const r = run({ kind: 'ts', make: erring }, loadWorkload('gen:hogs,n=3'), 2, 100 * MS);
    expect(r.exit).toMatchObject({ reason: 'scx_bpf_error', msg: 'enough' });
    checkRun(r);
    const { events, ns } = parse(r);
    const classes = events.filter((e) => e.ph === 'X').map((e) => [ns(e.ts!) < r.exit!.atNs, e.args!.class]);
    // Slices that began before the abort were ext; every one after it is fair.
    expect(new Set(classes.filter(([before]) => before).map(([, c]) => c))).toEqual(new Set(['ext']));
    expect(new Set(classes.filter(([before]) => !before).map(([, c]) => c))).toEqual(new Set(['fair']));
  });

  it('is deterministic: the same run gives the same bytes', () => {
    const a = run(fifo, loadWorkload('gen:schbench,m=1,t=4'), 3, 30 * MS);
    const b = run(fifo, loadWorkload('gen:schbench,m=1,t=4'), 3, 30 * MS);
    expect(perfettoJson(a)).toBe(perfettoJson(b));
    expect(perfettoJson(a)).toBe(perfettoJson(a));
  });
});

describe('a hand-written event log', () => {
  /*
   * Two CPUs (listed out of order). Task 7 runs on CPU 0 from 0 and, 1.5 us in, posts to task 9,
   * which sits in DSQ 0x0 until CPU 1 (kicked by CPU 0) takes it at 2.001 us; 7 is preempted at
   * 3 us; 9 exits at 5 us; the scheduler aborts at 6 us; 7, still queued since its ext wake-up,
   * migrates and runs on CPU 1 from 7 us, in the fair class now, until the run ends at 10 us.
   */
  const trace: TraceEvent[] = [
    { at: 0, type: 'wakeup', pid: 7, cpu: 0, class: 'ext', by: 0 },
    { at: 0, type: 'switch', cpu: 0, prev: 0, prevState: 'idle', next: 7 },
    { at: 1500, type: 'wakeup', pid: 9, cpu: 1, class: 'ext', by: 7 },
    { at: 1500, type: 'dsq', dsq: 'DSQ 0x0', depth: 1 },
    { at: 1500, type: 'kick', cpu: 1, from: 0, flags: 1 },
    { at: 2001, type: 'dsq', dsq: 'DSQ 0x0', depth: 0 },
    { at: 2001, type: 'switch', cpu: 1, prev: 0, prevState: 'idle', next: 9 },
    { at: 3000, type: 'switch', cpu: 0, prev: 7, prevState: 'queued', next: 0 },
    { at: 5000, type: 'switch', cpu: 1, prev: 9, prevState: 'exited', next: 0 },
    { at: 5000, type: 'exit', pid: 9 },
    { at: 6000, type: 'scheduler-exit', kind: 1025, reason: 'scx_bpf_error', msg: 'boom' },
    { at: 7000, type: 'migrate', pid: 7, from: 0, to: 1 },
    { at: 7000, type: 'switch', cpu: 1, prev: 0, prevState: 'idle', next: 7 },
  ];
  const input: PerfettoInput = {
    durationNs: 10_000,
    trace,
    tasks: [
      { pid: 7, comm: 'a' },
      { pid: 9, comm: 'b' },
    ],
    cpus: [{ cpu: 1 }, { cpu: 0 }],
  };
  const c = { cat: 'sched', pid: 1 };

  it('gives the trace worked out by hand', () => {
    expect(toPerfetto(input)).toEqual({
      displayTimeUnit: 'ns',
      traceEvents: [
        { name: 'process_name', ph: 'M', pid: 1, tid: 1, args: { name: 'CPUs' } },
        { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 'CPU 0' } },
        { name: 'thread_sort_index', ph: 'M', pid: 1, tid: 1, args: { sort_index: 0 } },
        { name: 'thread_name', ph: 'M', pid: 1, tid: 2, args: { name: 'CPU 1' } },
        { name: 'thread_sort_index', ph: 'M', pid: 1, tid: 2, args: { sort_index: 1 } },
        // DSQs start empty.
        { ...c, name: 'DSQ 0x0', ph: 'C', ts: 0, tid: 1, args: { depth: 0 } },
        { ...c, name: 'a 7', ph: 'X', ts: 0, dur: 3, tid: 1, args: { pid: 7, prevState: 'queued', class: 'ext' } },
        // The wake-up (log entry 3) starts at the start of the waker's slice running at 1.5 us.
        { ...c, name: 'wakeup', ph: 's', ts: 0, tid: 1, id: 3 },
        // 2 idle CPUs at 0, then 1 at the same instant: only the last shows.
        { ...c, name: 'CPUs', ph: 'C', ts: 0, tid: 1, args: { idle: 1 } },
        { ...c, name: 'DSQ 0x0', ph: 'C', ts: 1.5, tid: 1, args: { depth: 1 } },
        { ...c, name: 'kick', ph: 'i', ts: 1.5, tid: 1, s: 't', args: { target: 1, flags: 1 } },
        { ...c, name: 'DSQ 0x0', ph: 'C', ts: 2.001, tid: 1, args: { depth: 0 } },
        { ...c, name: 'b 9', ph: 'X', ts: 2.001, dur: 2.999, tid: 2, args: { pid: 9, prevState: 'exited', class: 'ext' } },
        { ...c, name: 'wakeup', ph: 'f', ts: 2.001, tid: 2, id: 3, bp: 'e' },
        { ...c, name: 'CPUs', ph: 'C', ts: 2.001, tid: 1, args: { idle: 0 } },
        { ...c, name: 'CPUs', ph: 'C', ts: 3, tid: 1, args: { idle: 1 } },
        { ...c, name: 'exit', ph: 'i', ts: 5, tid: 2, s: 't', args: { pid: 9 } },
        { ...c, name: 'CPUs', ph: 'C', ts: 5, tid: 1, args: { idle: 2 } },
        { ...c, name: 'scheduler exit', ph: 'i', ts: 6, tid: 1, s: 'g', args: { kind: 1025, reason: 'scx_bpf_error', msg: 'boom' } },
        { ...c, name: 'migrate', ph: 'i', ts: 7, tid: 2, s: 't', args: { pid: 7, from: 0, to: 1 } },
        // Open at the end of the run: closed at durationNs.
        { ...c, name: 'a 7', ph: 'X', ts: 7, dur: 3, tid: 2, args: { pid: 7, prevState: 'running', class: 'fair' } },
        { ...c, name: 'CPUs', ph: 'C', ts: 7, tid: 1, args: { idle: 1 } },
      ],
    });
  });

  it('writes one event a line, keys in a fixed order, times with three decimals', () => {
    const lines = perfettoJson(input).split('\n');
    expect(lines[0]).toBe('{"traceEvents":[');
    expect(lines.at(-2)).toBe('],"displayTimeUnit":"ns"}');
    expect(lines.at(-1)).toBe('');
    expect(lines[1]).toBe('{"name":"process_name","ph":"M","pid":1,"tid":1,"args":{"name":"CPUs"}},');
    expect(lines).toContain('{"name":"b 9","cat":"sched","ph":"X","ts":2.001,"dur":2.999,"pid":1,"tid":2,"args":{"pid":9,"prevState":"exited","class":"ext"}},');
    expect(lines).toContain('{"name":"wakeup","cat":"sched","ph":"f","ts":2.001,"pid":1,"tid":2,"id":3,"bp":"e"},');
    expect(lines).toContain('{"name":"DSQ 0x0","cat":"sched","ph":"C","ts":0.000,"pid":1,"tid":1,"args":{"depth":0}},');
    expect(lines.at(-3)).toBe('{"name":"CPUs","cat":"sched","ph":"C","ts":7.000,"pid":1,"tid":1,"args":{"idle":1}}');
  });

  it('refuses a log that contradicts itself', () => {
    const bad = (t: TraceEvent[]) => () => toPerfetto({ ...input, trace: t });
    expect(bad([{ at: 0, type: 'switch', cpu: 0, prev: 7, prevState: 'queued', next: 0 }])).toThrow('event log entry 0 (switch at 0 ns): CPU 0 switches from pid 7, but nothing runs there');
    expect(bad([{ at: 0, type: 'switch', cpu: 2, prev: 0, prevState: 'idle', next: 7 }])).toThrow('CPU 2 is not one of the run');
    expect(bad([trace[1], { ...trace[1], at: -1 } as TraceEvent])).toThrow('expected an integer time from 0 to 10000 ns');
    expect(bad([{ ...trace[1], at: 10_001 } as TraceEvent])).toThrow('expected an integer time');
  });
});
