/**
 * A run's event log as a Chrome trace-event JSON file, the format ui.perfetto.dev and
 * chrome://tracing both open: `{"traceEvents": [...], "displayTimeUnit": "ns"}`.
 *
 * Layout: one process "CPUs" with one thread track per CPU ("CPU n", ordered by CPU number).
 *  - Each run of a task on a CPU is an X slice named `comm pid` (args: pid, the state it left the
 *    CPU in, its class when known); slices still open when the run ends close at its end.
 *  - A wake-up made by a task's post or broadcast is a flow arrow from the waker's slice that
 *    was running at the wake-up to the wakee's next slice.
 *  - Counters (process-wide): "CPUs" {idle}, and one per DSQ the log follows, named as the log
 *    names it, {depth}; only the last value at each ns is kept, and repeats are dropped.
 *  - Instants: kicks on the kicking CPU's track, migrations on the destination CPU's track, task
 *    exits on the CPU the task left (process-wide for a task that exits as it wakes), the
 *    scheduler's exit on the global track.
 *
 * Time: the log counts integer ns; the format counts microseconds, so every ts and dur is written
 * with exactly three decimals, which keeps ns precision and makes the text a pure function of the
 * log (same log, same bytes).
 *
 * Binding flows to slices. A flow start binds to the slice enclosing it and a flow end, with
 * bp "e", to the slice enclosing it (without bp it would wait for the next slice to begin on the
 * track). Perfetto's importer binds to the slice most recently begun on the track, and it counts
 * a thread-scoped instant as a zero-length slice that stays "most recent" until the next slice
 * begins: a flow start placed at the wake-up time after a kick on the same track would bind to
 * the kick. So both ends of a flow sit at the start of the slice they belong to, written right
 * after that slice; Perfetto and chrome://tracing (which prefers the slice starting at the
 * timestamp) then bind them to it whatever else happens on the track. Perfetto draws the arrow
 * from the end of the waker's slice to the start of the wakee's either way.
 */
import type { TraceEvent } from '../sched/machine.ts';
import { ScxError } from '../util/errors.ts';

/** What the export reads from a run (a SimulateResult run with `trace: true` has all of it). */
export interface PerfettoInput {
  durationNs: number;
  trace: readonly TraceEvent[];
  tasks: readonly { pid: number; comm: string }[];
  cpus: readonly { cpu: number }[];
}

type Arg = string | number;

/** One trace event as written. Timestamps are microseconds (ns / 1000). */
export interface ChromeEvent {
  name: string;
  cat?: string;
  ph: 'X' | 'C' | 'i' | 's' | 'f' | 'M';
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  id?: number;
  bp?: 'e';
  /** Instant scope: global, process or thread. */
  s?: 'g' | 'p' | 't';
  args?: Record<string, Arg>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ns';
}

/** pid 0 and tid 0 are the kernel's idle task to Perfetto, which special-cases them. */
const PID = 1;
const tidOf = (cpu: number): number => cpu + 1;
const CAT = 'sched';

interface Slice {
  cpu: number;
  pid: number;
  start: number;
  end: number;
  /** The switch's prevState when the slice ended; 'running' when the run ended first. */
  endState: string;
  cls: string | undefined;
  /** Log indexes of the switches that began and ended it: places among events at the same ns. */
  seq: number;
  endSeq: number;
}

/** An output event with its place in time: ns, then log order, then order of creation. */
interface Placed {
  ns: number;
  seq: number;
  sub: number;
  ev: ChromeEvent;
}

export function toPerfetto(result: PerfettoInput): ChromeTrace {
  const { durationNs, trace } = result;
  if (!Number.isSafeInteger(durationNs) || durationNs < 0) throw new ScxError(`duration ${durationNs} ns: expected a non-negative integer`);
  const cpuList = result.cpus.map((c) => c.cpu).sort((a, b) => a - b);
  if (cpuList.length === 0) throw new ScxError('a run on no CPUs');
  for (let i = 0; i < cpuList.length; i++) {
    if (!Number.isSafeInteger(cpuList[i]) || cpuList[i] < 0) throw new ScxError(`CPU ${cpuList[i]}: expected a non-negative integer`);
    if (i > 0 && cpuList[i] === cpuList[i - 1]) throw new ScxError(`CPU ${cpuList[i]} is listed twice`);
  }
  const cpuSet = new Set(cpuList);
  const comm = new Map<number, string>();
  for (const t of result.tasks) comm.set(t.pid, t.comm);
  const nameOf = (pid: number) => `${comm.get(pid) ?? 'task'} ${pid}`;

  // Events are placed with ts 0 and get their ts once their order is known.
  const placed: Placed[] = [];
  const place = (ns: number, seq: number, ev: ChromeEvent) => placed.push({ ns, seq, sub: placed.length, ev });

  const open = new Map<number, Slice>();
  const slicesOf = new Map<number, Slice[]>();
  const cls = new Map<number, string>();
  const wakeups: { index: number; at: number; pid: number; by: number }[] = [];
  const counters = new Map<string, { ns: number; seq: number; value: number }[]>();
  const count = (name: string, ns: number, seq: number, value: number) => {
    let c = counters.get(name);
    if (!c) counters.set(name, (c = []));
    c.push({ ns, seq, value });
  };
  const IDLE = 'CPUs';
  let idle = cpuList.length;
  count(IDLE, 0, -1, idle);

  const fail = (i: number, e: TraceEvent, what: string): never => {
    throw new ScxError(`event log entry ${i} (${e.type} at ${e.at} ns): ${what}`);
  };
  const knownCpu = (i: number, e: TraceEvent, cpu: number) => {
    if (!cpuSet.has(cpu)) fail(i, e, `CPU ${cpu} is not one of the run's CPUs`);
  };
  const instant = (seq: number, e: TraceEvent, name: string, cpu: number | undefined, args: Record<string, Arg>) =>
    place(e.at, seq, { name, cat: CAT, ph: 'i', ts: 0, pid: PID, tid: tidOf(cpu ?? cpuList[0]), s: cpu === undefined ? 'p' : 't', args });

  let last = 0;
  for (let i = 0; i < trace.length; i++) {
    const e = trace[i];
    if (!Number.isSafeInteger(e.at) || e.at < last || e.at > durationNs) fail(i, e, `expected an integer time from ${last} to ${durationNs} ns`);
    last = e.at;
    switch (e.type) {
      case 'switch': {
        knownCpu(i, e, e.cpu);
        const s = open.get(e.cpu);
        if ((s?.pid ?? 0) !== e.prev) fail(i, e, `CPU ${e.cpu} switches from pid ${e.prev}, but ${s ? `pid ${s.pid}` : 'nothing'} runs there`);
        if (s) {
          s.end = e.at;
          s.endState = e.prevState;
          s.endSeq = i;
          open.delete(e.cpu);
        }
        if (e.next !== 0) {
          const n: Slice = { cpu: e.cpu, pid: e.next, start: e.at, end: durationNs, endState: 'running', cls: cls.get(e.next), seq: i, endSeq: trace.length };
          open.set(e.cpu, n);
          let list = slicesOf.get(e.next);
          if (!list) slicesOf.set(e.next, (list = []));
          list.push(n);
        }
        const change = (s ? 1 : 0) - (e.next !== 0 ? 1 : 0);
        if (change !== 0) count(IDLE, e.at, i, (idle += change));
        break;
      }
      case 'wakeup':
        cls.set(e.pid, e.class);
        if (e.by !== 0) wakeups.push({ index: i, at: e.at, pid: e.pid, by: e.by });
        break;
      case 'kick':
        knownCpu(i, e, e.cpu);
        instant(i, e, 'kick', cpuSet.has(e.from) ? e.from : undefined, { target: e.cpu, flags: e.flags });
        break;
      case 'migrate':
        knownCpu(i, e, e.to);
        instant(i, e, 'migrate', e.to, { pid: e.pid, from: e.from, to: e.to });
        break;
      case 'exit': {
        // A task exits as it leaves its CPU: the switch comes first, at the same ns, and the
        // instant takes the switch's place, so it ends the exiting slice instead of sitting inside
        // the next one. A task whose program ends as it wakes exits from no CPU.
        const list = slicesOf.get(e.pid);
        const s = list?.[list.length - 1];
        if (s && s.end === e.at && s.endState === 'exited' && s.endSeq < i) instant(s.endSeq, e, 'exit', s.cpu, { pid: e.pid });
        else instant(i, e, 'exit', undefined, { pid: e.pid });
        break;
      }
      case 'dsq':
        count(e.dsq, e.at, i, e.depth);
        break;
      case 'scheduler-exit':
        place(e.at, i, { name: 'scheduler exit', cat: CAT, ph: 'i', ts: 0, pid: PID, tid: tidOf(cpuList[0]), s: 'g', args: { kind: e.kind, reason: e.reason, msg: e.msg } });
        // The aborted scheduler's tasks finish the run in the fair class.
        for (const [pid, c] of cls) if (c === 'ext') cls.set(pid, 'fair');
        break;
    }
  }

  for (const list of slicesOf.values()) {
    for (const s of list) {
      const args: Record<string, Arg> = { pid: s.pid, prevState: s.endState };
      if (s.cls !== undefined) args.class = s.cls;
      place(s.start, s.seq, { name: nameOf(s.pid), cat: CAT, ph: 'X', ts: 0, dur: s.end - s.start, pid: PID, tid: tidOf(s.cpu), args });
    }
  }

  for (const w of wakeups) {
    const from = wakerSlice(slicesOf.get(w.by), w.at);
    const to = nextSlice(slicesOf.get(w.pid), w.at);
    // A post made as the waker itself woke from a sleep comes from no slice: no arrow.
    if (!from || !to) continue;
    // The id is the wake-up's 1-based place in the event log, so a flow leads back to it.
    const id = w.index + 1;
    place(from.start, from.seq, { name: 'wakeup', cat: CAT, ph: 's', ts: 0, pid: PID, tid: tidOf(from.cpu), id });
    place(to.start, to.seq, { name: 'wakeup', cat: CAT, ph: 'f', ts: 0, pid: PID, tid: tidOf(to.cpu), id, bp: 'e' });
  }

  for (const [name, samples] of counters) {
    const key = name === IDLE ? 'idle' : 'depth';
    // DSQs start empty; the log only records changes.
    if (name !== IDLE && samples[0].ns > 0) samples.unshift({ ns: 0, seq: -1, value: 0 });
    let shown: number | undefined;
    for (let k = 0; k < samples.length; k++) {
      const c = samples[k];
      // Only the last value at an instant is ever visible, and a repeat draws nothing.
      if (k + 1 < samples.length && samples[k + 1].ns === c.ns) continue;
      if (c.value === shown) continue;
      shown = c.value;
      place(c.ns, c.seq, { name, cat: CAT, ph: 'C', ts: 0, pid: PID, tid: tidOf(cpuList[0]), args: { [key]: c.value } });
    }
  }

  // Within one (ns, seq) the creation order holds: an X slice comes right before the flows bound
  // to it (slices are placed after everything the log loop placed, flows after slices), and an
  // exit instant, taking its switch's seq, comes before the slice that switch began.
  placed.sort((a, b) => a.ns - b.ns || a.seq - b.seq || a.sub - b.sub);
  const events: ChromeEvent[] = [{ name: 'process_name', ph: 'M', pid: PID, tid: tidOf(cpuList[0]), args: { name: 'CPUs' } }];
  for (const cpu of cpuList) {
    events.push({ name: 'thread_name', ph: 'M', pid: PID, tid: tidOf(cpu), args: { name: `CPU ${cpu}` } });
    events.push({ name: 'thread_sort_index', ph: 'M', pid: PID, tid: tidOf(cpu), args: { sort_index: cpu } });
  }
  for (const p of placed) {
    p.ev.ts = p.ns / 1000;
    if (p.ev.dur !== undefined) p.ev.dur /= 1000;
    events.push(p.ev);
  }
  return { traceEvents: events, displayTimeUnit: 'ns' };
}

/** The Chrome trace as text: one event a line, ts and dur with exactly three decimals. */
export function perfettoJson(result: PerfettoInput): string {
  const lines = toPerfetto(result).traceEvents.map(eventText);
  return `{"traceEvents":[\n${lines.join(',\n')}\n],"displayTimeUnit":"ns"}\n`;
}

function eventText(e: ChromeEvent): string {
  const fields: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined) continue;
    fields.push(`${JSON.stringify(k)}:${k === 'ts' || k === 'dur' ? micros(v as number) : JSON.stringify(v)}`);
  }
  return `{${fields.join(',')}}`;
}

/** Microseconds written from the integer ns, so no float rounding can show in the text. */
function micros(us: number): string {
  const ns = Math.round(us * 1000);
  return `${Math.floor(ns / 1000)}.${String(ns % 1000).padStart(3, '0')}`;
}

/**
 * The waker's slice running at `at`. A post is made at the end of a burst, so the slice usually
 * ends at `at` (the waker then blocks) or goes on past it; one that only begins at `at` is the
 * fallback.
 */
function wakerSlice(list: Slice[] | undefined, at: number): Slice | undefined {
  if (!list) return undefined;
  const i = firstStartingAtOrAfter(list, at);
  const before = list[i - 1];
  if (before && before.end >= at) return before;
  const starting = list[i];
  return starting && starting.start === at ? starting : undefined;
}

/** The wakee's first slice beginning at or after the wake-up. */
function nextSlice(list: Slice[] | undefined, at: number): Slice | undefined {
  return list?.[firstStartingAtOrAfter(list, at)];
}

/** A task's slices are in time order (it runs on one CPU at a time): binary search. */
function firstStartingAtOrAfter(list: Slice[], at: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].start < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
