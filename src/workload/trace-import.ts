/**
 * Scheduler traces captured on a real machine, rebuilt as a workload the simulator can replay.
 *
 * Input is the text of one of:
 *  - ftrace: /sys/kernel/tracing/trace (or trace_pipe), and `trace-cmd report`, lines like
 *      `  bash-1234  [002] d..3. 12345.678901: sched_switch: prev_comm=bash prev_pid=1234 ...`
 *    with or without the latency field (`d..3.`, 4 or 5 characters) and the tgid column, and
 *    event fields as the kernel prints them or as trace-cmd's sched plugin does
 *    (`bash:1234 [120] S ==> swapper/2:0 [120]`);
 *  - `perf script` (after `perf sched record` or `perf record -e sched:...`), lines like
 *      `  bash  1234 [002] 12345.678901: sched:sched_switch: prev_comm=bash prev_pid=1234 ...`.
 * The format is detected from the first event line. workloads/traces/README.md documents what is
 * recovered and what is not; keep the two in step.
 *
 * Each task's timeline is rebuilt from the events and turned into a program of `run` and `sleep`
 * steps, with `wait`/`post` pairs for the wake-ups one task gave another. The run of the program
 * is the trace's CPU time; time spent runnable but off-CPU (preempted, or woken and not yet
 * picked) is not part of the program: it is what the replayed scheduler decides. No task gets
 * `cpus`: none of these tracepoints records a task's allowed CPUs, so the replay leaves every
 * task free to run anywhere; nor nice or policy (see the README for why the prio fields are not).
 *
 * Every line is either read or rejected: a malformed line, a truncated last line, time going
 * backwards, lost events, an event this importer does not understand, or a line that contradicts
 * what came before is a WorkloadError naming file:line, what was expected and what was found.
 */
import { readFileSync } from 'node:fs';
import type { Phase, SimTask } from '../sched/spec.ts';
import { WorkloadError } from './builtin.ts';

export type TraceFormat = 'ftrace' | 'perf';

export interface TraceOptions {
  /**
   * Replay a wake-up that one task gave another as `post` by the waker and `wait` by the wakee
   * (default true). With false every sleep is timed: the wakee sleeps as long as it did in the
   * trace, whatever the waker does in the replay.
   */
  edges?: boolean;
}

/** One stretch of a task on a CPU, in ns from the start of the trace. */
export interface TraceBurst {
  pid: number;
  cpu: number;
  start: number;
  end: number;
}

export interface TraceImport {
  tasks: SimTask[];
  /** CPUs of the traced machine: the highest CPU any line names, plus one, or the header's count if larger. */
  cpus: number;
  /** From the first event line to the last (ns). */
  spanNs: number;
  format: TraceFormat;
  /** Every run burst of the trace, by start time: what a faithful replay gives back. */
  bursts: TraceBurst[];
  /** Event lines by tracepoint name, the sched_* events carrying no schedule included. */
  events: Record<string, number>;
  /** Sleeps replayed as a wait on the waker's post, and as timed sleeps. */
  edges: number;
  timedSleeps: number;
}

/** Linux's PID_MAX_LIMIT. */
const MAX_PID = 4_194_304;
/** Linux's largest NR_CPUS. */
const MAX_CPU = 8191;
/** TASK_COMM_LEN is 16 bytes including the terminating NUL. */
const MAX_COMM_BYTES = 15;
/**
 * Lines with the same timestamp are tried in another order when the file's order contradicts
 * the state (see `rebuild`); past this size a group is taken in file order, so that a
 * pathological file cannot make the search quadratic.
 */
const MAX_TIE_GROUP = 256;

/** The tracepoints that shape the schedule. */
const SCHED_EVENTS = new Set(['sched_switch', 'sched_wakeup', 'sched_waking', 'sched_wakeup_new', 'sched_process_exit', 'sched_migrate_task']);

/**
 * sched_* tracepoints accepted and counted but not read, because they carry nothing the rebuild
 * needs: statistics (the switches already give run and wait times), forks (the child appears
 * with sched_wakeup_new), exec (later events carry the new comm), priorities (not recovered),
 * NUMA balancing decisions (migrations show in the switches), kthread bookkeeping, hung-task
 * reports, the idle-poll wake shortcut, and sched_ext's debug dump. Anything else is an error.
 */
export const SCHED_EVENTS_WITHOUT_SCHEDULE: readonly string[] = [
  'sched_blocked_reason',
  'sched_ext_dump',
  'sched_kthread_stop',
  'sched_kthread_stop_ret',
  'sched_kthread_work_execute_end',
  'sched_kthread_work_execute_start',
  'sched_kthread_work_queue_work',
  'sched_move_numa',
  'sched_pi_setprio',
  'sched_prepare_exec',
  'sched_process_exec',
  'sched_process_fork',
  'sched_process_free',
  'sched_process_hang',
  'sched_process_wait',
  'sched_skip_cpuset_numa',
  'sched_skip_vma_numa',
  'sched_stat_blocked',
  'sched_stat_iowait',
  'sched_stat_runtime',
  'sched_stat_sleep',
  'sched_stat_wait',
  'sched_stick_numa',
  'sched_swap_numa',
  'sched_wait_task',
  'sched_wake_idle_without_ipi',
];
const WITHOUT_SCHEDULE = new Set(SCHED_EVENTS_WITHOUT_SCHEDULE);

// ---- lines ----

/**
 * ftrace's `%16s-%-7d [%03d] LAT %5lu.%06lu: NAME: FIELDS` (trace-cmd: `%16s-%-5d [%03d]`). The
 * comm is matched lazily so that a name with dashes or digits (`kworker/u8:2-ev`) keeps them:
 * the pid is the first `-DIGITS` that a CPU column follows.
 */
const FTRACE_LINE = /^\s*(.+?)-(\d+)\s+(?:\(\s*(?:\d+|-+)\)\s+)?\[(\d+)\]\s+(?:([.a-zA-Z0-9]{4,5})\s+)?(\S+?):\s+(\S+):(?:\s+(.*))?$/;
/** perf script's `%16s %5d [%03d] %5lu.%06lu: %*s: FIELDS` (tid, or pid/tid). */
const PERF_LINE = /^\s*(.*?)\s+(\d+)(?:\/(\d+))?\s+\[(\d+)\]\s+(\S+?):\s+(\S+):(?:\s+(.*))?$/;

const SHAPE = {
  ftrace: "an ftrace line 'COMM-PID [CPU] [FLAGS] SECONDS: EVENT: FIELDS'",
  perf: "a perf script line 'COMM PID [CPU] SECONDS: sched:EVENT: FIELDS'",
} as const;

/** The kernel's print formats, and trace-cmd's sched plugin's (libtraceevent plugin_sched_switch.c). */
const SWITCH_KERNEL = /^prev_comm=(.*?) prev_pid=(\d+) prev_prio=(-?\d+) prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+) next_prio=(-?\d+)$/;
const SWITCH_PLUGIN = /^(.*):(\d+) \[(-?\d+)\] (\S+) ==> (.*):(\d+) \[(-?\d+)\]$/;
/** `success=` is printed before Linux 5.14: always 1 since 4.3, 0 on a wake-up that did nothing before that. */
const WAKE_KERNEL = /^comm=(.*?) pid=(\d+) prio=(-?\d+)(?: success=([01]))?(?: target_cpu=(\d+))?$/;
const WAKE_PLUGIN = /^(.*):(\d+) \[(-?\d+)\](?: success=([01]))?(?: CPU:(\d+))?$/;
/** `group_dead=` on recent kernels. */
const EXIT_KERNEL = /^comm=(.*?) pid=(\d+) prio=(-?\d+)(?: group_dead=(?:true|false))?$/;
const MIGRATE_KERNEL = /^comm=(.*?) pid=(\d+) prio=(-?\d+) orig_cpu=(\d+) dest_cpu=(\d+)$/;

const EXPECTED_FIELDS: Record<string, string> = {
  sched_switch: "'prev_comm=COMM prev_pid=PID prev_prio=PRIO prev_state=STATE ==> next_comm=COMM next_pid=PID next_prio=PRIO' (or trace-cmd's 'COMM:PID [PRIO] STATE ==> COMM:PID [PRIO]')",
  wake: "'comm=COMM pid=PID prio=PRIO [success=0|1] target_cpu=CPU' (or trace-cmd's 'COMM:PID [PRIO] [success=0|1] CPU:CPU')",
  sched_process_exit: "'comm=COMM pid=PID prio=PRIO [group_dead=true|false]'",
  sched_migrate_task: "'comm=COMM pid=PID prio=PRIO orig_cpu=CPU dest_cpu=CPU'",
};

/**
 * prev_state as the kernel prints it (R, R+, or flags joined by '|': S D T t X Z P I, and K W x N
 * of older kernels) or as trace-cmd's plugin does (it has no '+': a preempted task is R).
 */
const STATE = /^(?:R\+?|[SDTtXZPIKWxN](?:\|[SDTtXZPIKWxN])*)$/;
/** A prev_state of a task that is gone: dead (X, x) or a zombie (Z). */
const DEAD_STATE = /[XZx]/;

interface LineBase {
  line: number;
  at: number;
  cpu: number;
  /** The task the line's prefix names: the one running on `cpu` when the event fired. */
  curPid: number;
  curComm: string;
  /** Fired in hard or soft interrupt or NMI context; undefined when the line has no latency field. */
  irq: boolean | undefined;
}
type TraceEvent =
  | (LineBase & { kind: 'switch'; prevPid: number; prevComm: string; prevState: string; nextPid: number; nextComm: string })
  | (LineBase & { kind: 'wakeup' | 'waking' | 'wakeup_new'; name: string; pid: number; comm: string; success: boolean })
  | (LineBase & { kind: 'exit'; pid: number; comm: string })
  | (LineBase & { kind: 'migrate'; pid: number; comm: string });

/** A piece of text as it appears in a message: quoted, on one line, not too long. */
function shown(text: string): string {
  const oneLine = text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `'${oneLine.length > 100 ? `${oneLine.slice(0, 97)}...` : oneLine}'`;
}

const UTF8 = new TextEncoder();
/** Text whose UTF-8 is one byte a character. */
const ASCII = /^[\x00-\x7f]*$/;

/** At most 15 UTF-8 bytes, cut at a character boundary, as the kernel keeps a comm. */
function commOf(text: string): string {
  if (text.length <= MAX_COMM_BYTES && ASCII.test(text)) return text;
  if (UTF8.encode(text).length <= MAX_COMM_BYTES) return text;
  let out = '';
  for (const ch of text) {
    if (UTF8.encode(out + ch).length > MAX_COMM_BYTES) break;
    out += ch;
  }
  return out;
}

interface Lines {
  format: TraceFormat;
  events: TraceEvent[];
  counts: Record<string, number>;
  firstAt: number;
  lastAt: number;
  /** The highest CPU number any line names, and the CPU count a header states. */
  maxCpu: number;
  headerCpus: number;
  hasWakeup: boolean;
}

/** Header lines: ftrace's `# entries-in-buffer/entries-written: 40/40   #P:2`, and trace-cmd report's own lines. */
const HEADER_CPUS = /#P:(\d+)/;
const REPORT_CPUS = /^cpus=(\d+)$/;
const REPORT_EMPTY_CPU = /^CPU (\d+) is empty$/;
const REPORT_SUBBUFFER = /^CPU:\d+ \[SUBBUFFER START\]$/;
const REPORT_LOST = /^CPU:(\d+) \[(?:LOST (\d+) EVENTS|(\d+) EVENTS DROPPED|EVENTS DROPPED)\]$/;
const TIMESTAMP = /^(\d+)\.(\d{6}|\d{9})$/;

function pidNumber(file: string, n: number, digits: string, what: string): number {
  const pid = Number(digits);
  if (pid > MAX_PID) throw new WorkloadError(`${file}:${n}: ${what}: expected a pid from 0 to ${MAX_PID}, found ${digits}`);
  return pid;
}

/** A pid in an event's fields that must name a task, not the idle task. */
function taskPid(file: string, n: number, event: string, digits: string, what: string): number {
  const pid = pidNumber(file, n, digits, `${event} ${what}`);
  if (pid === 0) throw new WorkloadError(`${file}:${n}: ${event}: expected a task, found pid 0 (the idle task)`);
  return pid;
}

function badFields(file: string, n: number, event: string, fields: string, expected: string): never {
  throw new WorkloadError(`${file}:${n}: ${event}: expected ${expected}, found ${shown(fields)}`);
}

function readLines(text: string, file: string): Lines {
  // The tools' binary files are what one has before running them once more (trace-cmd's magic
  // is 0x17 0x08 'D' "tracing", perf's "PERFILE2").
  if (text.startsWith('\x17\x08Dtracing')) throw new WorkloadError(`${file}:1: expected trace text, found trace-cmd's binary trace.dat: convert it with 'trace-cmd report -i ${file} > trace.txt'`);
  if (text.startsWith('PERFILE2')) throw new WorkloadError(`${file}:1: expected trace text, found a binary perf.data: convert it with 'perf script -i ${file} > trace.txt'`);
  const lines = text.split('\n');
  // A last line without a line break is where a copy or a capture was cut short: even when it
  // parses, its numbers may be cut (next_pid=12 from next_pid=1234), so it is never trusted.
  const unterminated = lines.pop()!;
  if (unterminated.trim() !== '') {
    throw new WorkloadError(`${file}:${lines.length + 1}: expected the line to end with a line break, found the end of the file after ${shown(unterminated)}: the trace is truncated`);
  }
  let format: TraceFormat | undefined;
  const events: TraceEvent[] = [];
  const counts: Record<string, number> = {};
  const unknown = new Map<string, { count: number; line: number }>();
  let firstAt = -1;
  let lastAt = -1;
  let lastAtLine = 0;
  let lastAtText = '';
  let maxCpu = -1;
  let headerCpus = 0;
  let hasWakeup = false;
  const cpuNumber = (digits: string, n: number, what: string): number => {
    const cpu = Number(digits);
    if (cpu > MAX_CPU) throw new WorkloadError(`${file}:${n}: ${what}: expected a CPU number from 0 to ${MAX_CPU}, found ${digits}`);
    if (cpu > maxCpu) maxCpu = cpu;
    return cpu;
  };

  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    let raw = lines[i];
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (i === 0 && raw.startsWith('\ufeff')) raw = raw.slice(1);
    const s = raw.trim();
    if (s === '') continue;
    // Both tools right-align comms in 16 columns, so an event line never starts with '#' (a
    // task may be called '#1'); a comment always does.
    if (raw.startsWith('#')) {
      const p = HEADER_CPUS.exec(s);
      if (p) headerCpus = Math.max(headerCpus, Math.min(Number(p[1]), MAX_CPU + 1));
      continue;
    }
    // trace-cmd report's own lines (its first line, a CPU without events, --debug's sub-buffer
    // starts, lost events) are whole lines beginning with 'cpus=' or 'CPU'.
    if (s.startsWith('cpus=') || s.startsWith('CPU')) {
      const header = REPORT_CPUS.exec(s);
      if (header) {
        headerCpus = Math.max(headerCpus, Math.min(Number(header[1]), MAX_CPU + 1));
        continue;
      }
      const empty = REPORT_EMPTY_CPU.exec(s);
      if (empty) {
        cpuNumber(empty[1], n, 'empty CPU');
        continue;
      }
      if (REPORT_SUBBUFFER.test(s)) continue;
      const lost = REPORT_LOST.exec(s);
      if (lost) {
        const many = lost[2] ?? lost[3];
        throw new WorkloadError(
          `${file}:${n}: expected a complete trace, found ${many ? `${many} events` : 'events'} lost on CPU ${lost[1]}: the schedule cannot be rebuilt with gaps; record again with larger buffers (trace-cmd record -b, perf record -m)`,
        );
      }
    }

    if (format === undefined) {
      const f = FTRACE_LINE.exec(raw);
      // ftrace event names have no subsystem; perf's always do (sched:sched_switch).
      if (f && !f[6].includes(':')) format = 'ftrace';
      else if (PERF_LINE.exec(raw)) format = 'perf';
      else throw new WorkloadError(`${file}:${n}: expected ${SHAPE.ftrace} or ${SHAPE.perf}, found ${shown(raw)}`);
    }
    let comm: string, pidText: string, cpuText: string, lat: string | undefined, tsText: string, event: string, fields: string;
    if (format === 'ftrace') {
      const m = FTRACE_LINE.exec(raw);
      if (!m || m[6].includes(':')) throw new WorkloadError(`${file}:${n}: expected ${SHAPE.ftrace}, found ${shown(raw)}`);
      comm = m[1];
      pidText = m[2];
      cpuText = m[3];
      lat = m[4];
      tsText = m[5];
      event = m[6];
      fields = (m[7] ?? '').trim();
    } else {
      const m = PERF_LINE.exec(raw);
      if (!m) throw new WorkloadError(`${file}:${n}: expected ${SHAPE.perf}, found ${shown(raw)}`);
      comm = m[1];
      pidText = m[3] ?? m[2]; // pid/tid: the task is the thread
      cpuText = m[4];
      tsText = m[5];
      event = m[6];
      fields = (m[7] ?? '').trim();
      const colon = event.indexOf(':');
      if (colon > 0 && event.slice(0, colon) === 'sched') event = event.slice(colon + 1);
    }
    const cpu = cpuNumber(cpuText, n, 'CPU column');
    const curPid = pidNumber(file, n, pidText, 'the line\'s task');

    // Lines of one timestamp come in runs: the text of the line before is checked already.
    let at = lastAt;
    if (tsText !== lastAtText) {
      if (tsText.startsWith('-')) throw new WorkloadError(`${file}:${n}: expected a timestamp of 0 or more seconds, found ${tsText}`);
      const ts = TIMESTAMP.exec(tsText);
      if (!ts) {
        throw new WorkloadError(`${file}:${n}: expected a timestamp in seconds with 6 or 9 decimals (the local, global, mono or boot trace clocks), found ${shown(tsText)}`);
      }
      at = Number(ts[1]) * 1e9 + Number(ts[2].padEnd(9, '0'));
      if (!Number.isSafeInteger(at)) throw new WorkloadError(`${file}:${n}: expected a timestamp under 9007199 s, found ${tsText}`);
      if (at < lastAt) {
        throw new WorkloadError(`${file}:${n}: expected a timestamp at or after ${lastAtText} (line ${lastAtLine}), found ${tsText}: the lines are out of time order`);
      }
      if (firstAt < 0) firstAt = at;
      lastAt = at;
      lastAtText = tsText;
    }
    lastAtLine = n;
    counts[event] = (counts[event] ?? 0) + 1;

    if (!SCHED_EVENTS.has(event)) {
      if (!WITHOUT_SCHEDULE.has(event)) {
        const u = unknown.get(event);
        if (u) u.count++;
        else unknown.set(event, { count: 1, line: n });
      }
      continue;
    }
    const irq = lat === undefined ? undefined : 'hHszZ'.includes(lat[2]);
    if (event === 'sched_switch') {
      const f = SWITCH_KERNEL.exec(fields) ?? SWITCH_PLUGIN.exec(fields) ?? badFields(file, n, event, fields, EXPECTED_FIELDS.sched_switch);
      const prevState = f[4];
      if (!STATE.test(prevState)) {
        throw new WorkloadError(`${file}:${n}: sched_switch: expected prev_state R, R+ or the letters S D T t X Z P I (K W x N on old kernels) joined by '|', found ${shown(prevState)}`);
      }
      const prevPid = pidNumber(file, n, f[2], 'sched_switch prev_pid');
      const nextPid = pidNumber(file, n, f[6], 'sched_switch next_pid');
      // The kernel fires sched_switch in the context of the task leaving the CPU.
      if (prevPid !== curPid) throw new WorkloadError(`${file}:${n}: sched_switch: expected the line's task (pid ${curPid}) to be the one switching out, found prev_pid=${prevPid}`);
      if (prevPid === nextPid) throw new WorkloadError(`${file}:${n}: sched_switch: expected different prev_pid and next_pid, found ${prevPid} for both`);
      events.push({ line: n, at, cpu, curPid, curComm: comm, irq, kind: 'switch', prevPid, prevComm: f[1], prevState, nextPid, nextComm: f[5] });
    } else if (event === 'sched_wakeup' || event === 'sched_waking' || event === 'sched_wakeup_new') {
      const f = WAKE_KERNEL.exec(fields) ?? WAKE_PLUGIN.exec(fields) ?? badFields(file, n, event, fields, EXPECTED_FIELDS.wake);
      if (f[5] !== undefined) cpuNumber(f[5], n, `${event} target_cpu`);
      const kind = event === 'sched_wakeup' ? 'wakeup' : event === 'sched_waking' ? 'waking' : 'wakeup_new';
      if (kind === 'wakeup') hasWakeup = true;
      const pid = taskPid(file, n, event, f[2], 'pid');
      events.push({ line: n, at, cpu, curPid, curComm: comm, irq, kind, name: event, pid, comm: f[1], success: f[4] !== '0' });
    } else if (event === 'sched_process_exit') {
      const f = EXIT_KERNEL.exec(fields) ?? badFields(file, n, event, fields, EXPECTED_FIELDS.sched_process_exit);
      const pid = taskPid(file, n, event, f[2], 'pid');
      // do_exit() fires it for current.
      if (pid !== curPid) throw new WorkloadError(`${file}:${n}: sched_process_exit: expected the line's task (pid ${curPid}) to be the one exiting, found pid=${pid}`);
      events.push({ line: n, at, cpu, curPid, curComm: comm, irq, kind: 'exit', pid, comm: f[1] });
    } else {
      const f = MIGRATE_KERNEL.exec(fields) ?? badFields(file, n, event, fields, EXPECTED_FIELDS.sched_migrate_task);
      cpuNumber(f[4], n, 'sched_migrate_task orig_cpu');
      cpuNumber(f[5], n, 'sched_migrate_task dest_cpu');
      const pid = taskPid(file, n, event, f[2], 'pid');
      events.push({ line: n, at, cpu, curPid, curComm: comm, irq, kind: 'migrate', pid, comm: f[1] });
    }
  }

  if (unknown.size > 0) {
    const total = [...unknown.values()].reduce((a, u) => a + u.count, 0);
    const list = [...unknown].map(([name, u]) => `${name} (${u.count} line${u.count > 1 ? 's' : ''}, ${u.count > 1 ? 'first at ' : ''}line ${u.line})`).join(', ');
    const first = Math.min(...[...unknown.values()].map((u) => u.line));
    throw new WorkloadError(
      `${file}:${first}: expected scheduler events only (${[...SCHED_EVENTS].join(', ')}, or the sched_* events listed in workloads/traces/README.md), found ${total} line${total > 1 ? 's' : ''} of other events: ${list}`,
    );
  }
  if (format === undefined || events.length === 0) throw new WorkloadError(`${file}: expected sched_switch and sched_wakeup lines, found no scheduler events`);
  return { format, events, counts, firstAt, lastAt, maxCpu, headerCpus, hasWakeup };
}

// ---- the rebuild ----

/** A wake-up edge, used when the wakee's sleep is replayed as a wait on it. */
interface Edge {
  key: string;
  used: boolean;
}
/** A task's program as it is being rebuilt; `finish` turns it into phases. */
type Piece = { run: number; observed: boolean } | { sleep: number; edge: Edge | undefined } | { post: Edge };

type State = 'running' | 'runnable' | 'sleeping' | 'exited';

interface Tk {
  pid: number;
  comm: string;
  commFromFields: boolean;
  arrival: number;
  state: State;
  /** The line of the last change of state, for messages. */
  line: number;
  cpu: number;
  /** running: CPU time is counted up to here; sleeping: when the sleep began. */
  since: number;
  /** The rebuild step at which the current sleep began. */
  sleepStep: number;
  /** running: when the current burst began, or -1 when it began before the task's first event. */
  burstStart: number;
  /** CPU time of the run step being built, and whether a switch-in was seen during it. */
  run: number;
  runObserved: boolean;
  pieces: Piece[];
  exiting: boolean;
  /** A sched_waking seen for this task, waiting for the sched_wakeup that makes it runnable. */
  pending: Waking | undefined;
}
interface Waking {
  waker: Tk | undefined;
  irq: boolean | undefined;
  step: number;
  post: Edge | undefined;
}

/** A check failure: `soft` ones only ask to wait for another line of the same timestamp. */
type Problem = { soft: true } | { soft: false; message: string };

class Rebuild {
  readonly tasks = new Map<number, Tk>();
  /** The task on each CPU (0: idle), with the line that put it there; absent until a line shows it. */
  readonly curr = new Map<number, { pid: number; line: number }>();
  readonly bursts: TraceBurst[] = [];
  step = 0;
  edges = 0;
  timed = 0;

  constructor(
    readonly file: string,
    readonly t0: number,
    readonly useEdges: boolean,
    /** sched_wakeup lines exist: sched_waking only names the waker then (see `wake`). */
    readonly hasWakeup: boolean,
  ) {}

  private where(t: Tk): string {
    switch (t.state) {
      case 'running':
        return `running on cpu ${t.cpu} (since line ${t.line})`;
      case 'runnable':
        return `waiting for a CPU (since line ${t.line})`;
      case 'sleeping':
        return `sleeping (since line ${t.line})`;
      default:
        return `exited (line ${t.line})`;
    }
  }

  private fail(ev: TraceEvent, what: string, message: string): Problem {
    return { soft: false, message: `${this.file}:${ev.line}: ${what} on cpu ${ev.cpu}: ${message}` };
  }

  /** The line's prefix names the task on its CPU: does that agree with what came before? */
  private prefixProblem(ev: TraceEvent, what: string): Problem | undefined {
    const cur = this.curr.get(ev.cpu);
    if (cur && cur.pid !== ev.curPid) return this.fail(ev, what, `expected the line's task to be pid ${cur.pid}, on the CPU since line ${cur.line}, found pid ${ev.curPid}`);
    const t = ev.curPid === 0 ? undefined : this.tasks.get(ev.curPid);
    if (t && !(t.state === 'running' && t.cpu === ev.cpu)) return this.fail(ev, what, `expected the line's task pid ${t.pid} to be running there, found it ${this.where(t)}`);
    return undefined;
  }

  problem(ev: TraceEvent, group: readonly TraceEvent[]): Problem | undefined {
    if (ev.kind === 'switch') {
      const p = this.prefixProblem(ev, 'sched_switch');
      if (p) return p;
      const next = this.tasks.get(ev.nextPid);
      if (ev.nextPid !== 0 && next) {
        if (next.state === 'exited') return this.fail(ev, 'sched_switch', `expected next_pid=${next.pid} to be alive, found it exited at line ${next.line} (pid reuse is not supported)`);
        if (next.state === 'running') return this.fail(ev, 'sched_switch', `expected next_pid=${next.pid} to be off-CPU, found it ${this.where(next)}`);
        // Its wake-up may be on another CPU's line of the same timestamp.
        if (next.state === 'sleeping' && group.some((o) => o !== ev && (o.kind === 'wakeup' || (o.kind === 'waking' && !this.hasWakeup)) && o.pid === ev.nextPid)) return { soft: true };
      }
      return undefined;
    }
    const name = ev.kind === 'exit' ? 'sched_process_exit' : ev.kind === 'migrate' ? 'sched_migrate_task' : ev.name;
    const p = this.prefixProblem(ev, name);
    if (p) return p;
    const t = this.tasks.get(ev.pid);
    if (t?.state === 'exited') return this.fail(ev, name, `expected pid ${t.pid} to be alive, found it exited at line ${t.line} (pid reuse is not supported)`);
    if (ev.kind === 'wakeup_new' && t) return this.fail(ev, name, `expected pid ${t.pid} to be a new task, found it in the trace since line ${t.line}`);
    // sched_wakeup comes after the wakee is off its CPU; the switch may be on another CPU's
    // line of the same timestamp.
    if ((ev.kind === 'wakeup' || (ev.kind === 'waking' && !this.hasWakeup)) && t?.state === 'running' && group.some((o) => o !== ev && o.kind === 'switch' && o.prevPid === ev.pid)) return { soft: true };
    return undefined;
  }

  apply(ev: TraceEvent): void {
    this.step++;
    if (ev.kind === 'switch') this.switchOn(ev);
    else if (ev.kind === 'exit') {
      const t = this.onCpu(ev, ev.pid, ev.comm, true);
      t.exiting = true;
    } else if (ev.kind === 'migrate') {
      this.observe(ev);
      // Nothing else: where a task runs is the replayed scheduler's choice.
      this.known(ev.pid, ev.comm, ev);
    } else this.wake(ev);
  }

  /** The line's own task, running on its CPU (undefined: the idle task). */
  private observe(ev: TraceEvent): Tk | undefined {
    if (ev.curPid !== 0) return this.onCpu(ev, ev.curPid, ev.curComm, false);
    const cur = this.curr.get(ev.cpu);
    this.curr.set(ev.cpu, { pid: 0, line: cur?.pid === 0 ? cur.line : ev.line });
    return undefined;
  }

  /** The task a line names as running on its CPU; met for the first time, it starts here. */
  private onCpu(ev: TraceEvent, pid: number, comm: string, fromFields: boolean): Tk {
    const held = this.curr.get(ev.cpu);
    this.curr.set(ev.cpu, { pid, line: held?.pid === pid ? held.line : ev.line });
    const t = this.tasks.get(pid);
    if (t) {
      this.name(t, comm, fromFields);
      return t;
    }
    const n = this.create(pid, comm, fromFields, ev, 'running');
    n.cpu = ev.cpu;
    return n;
  }

  /** A task a line names (not as running); met for the first time, it starts here, runnable. */
  private known(pid: number, comm: string, ev: TraceEvent): Tk {
    const t = this.tasks.get(pid);
    if (t) {
      this.name(t, comm, true);
      return t;
    }
    return this.create(pid, comm, true, ev, 'runnable');
  }

  private create(pid: number, comm: string, fromFields: boolean, ev: TraceEvent, state: State): Tk {
    const t: Tk = {
      pid,
      comm: '',
      commFromFields: false,
      arrival: ev.at,
      state,
      line: ev.line,
      cpu: -1,
      since: ev.at,
      sleepStep: 0,
      burstStart: -1,
      run: 0,
      runObserved: false,
      pieces: [],
      exiting: false,
      pending: undefined,
    };
    this.name(t, comm, fromFields);
    this.tasks.set(pid, t);
    return t;
  }

  /**
   * The last name the event fields give wins (exec renames a task); a prefix's name is only a
   * fallback, as ftrace prints `<...>` there when its comm cache has lost the pid.
   */
  private name(t: Tk, comm: string, fromFields: boolean): void {
    if (fromFields) {
      if (comm !== '') {
        t.comm = comm;
        t.commFromFields = true;
      }
    } else if (!t.commFromFields && comm !== '' && comm !== '<...>') t.comm = comm;
  }

  private flushRun(t: Tk): void {
    if (t.run > 0 || t.runObserved) t.pieces.push({ run: t.run, observed: t.runObserved });
    t.run = 0;
    t.runObserved = false;
  }

  /** Account a running task's CPU time up to `at`. */
  private account(t: Tk, at: number): void {
    t.run += at - t.since;
    t.since = at;
  }

  private endBurst(t: Tk, at: number): void {
    this.account(t, at);
    if (t.burstStart >= 0 || at > t.arrival) {
      const start = t.burstStart >= 0 ? t.burstStart : t.arrival;
      this.bursts.push({ pid: t.pid, cpu: t.cpu, start: start - this.t0, end: at - this.t0 });
    }
  }

  private switchOn(ev: Extract<TraceEvent, { kind: 'switch' }>): void {
    if (ev.prevPid !== 0) {
      const t = this.onCpu(ev, ev.prevPid, ev.prevComm, true);
      this.endBurst(t, ev.at);
      t.line = ev.line;
      if (t.exiting || DEAD_STATE.test(ev.prevState)) {
        this.flushRun(t);
        t.state = 'exited';
      } else if (ev.prevState.startsWith('R')) {
        // Preempted: still runnable. The time until it runs again is waiting, not sleep; its
        // next burst continues the same run step.
        t.state = 'runnable';
      } else {
        this.flushRun(t);
        t.state = 'sleeping';
        t.since = ev.at;
        t.sleepStep = this.step;
      }
    }
    if (ev.nextPid !== 0) {
      const t = this.known(ev.nextPid, ev.nextComm, ev);
      // No wake-up line for it (a trace of sched_switch alone): the sleep lasted until now.
      if (t.state === 'sleeping') this.endSleep(t, ev.at, undefined);
      // A sched_waking not yet followed by its sched_wakeup is about a sleep that is over.
      t.pending = undefined;
      t.state = 'running';
      t.line = ev.line;
      t.cpu = ev.cpu;
      t.since = ev.at;
      t.burstStart = ev.at;
      t.runObserved = true;
    }
    this.curr.set(ev.cpu, { pid: ev.nextPid, line: ev.line });
  }

  private endSleep(t: Tk, at: number, edge: Edge | undefined): void {
    t.pieces.push({ sleep: at - t.since, edge });
    if (edge) {
      edge.used = true;
      this.edges++;
    } else this.timed++;
  }

  /** A post by a running task, at its CPU time so far: tentative until a sleep uses it. */
  private post(waker: Tk, wakee: Tk, at: number): Edge {
    this.account(waker, at);
    this.flushRun(waker);
    const edge: Edge = { key: `wake:${waker.pid}->${wakee.pid}`, used: false };
    waker.pieces.push({ post: edge });
    return edge;
  }

  /**
   * Who woke whom: the task on the line's CPU. It is trusted only in task context (the latency
   * field, when present, shows no hard/soft interrupt or NMI: there the prefix is whatever task
   * was interrupted) and only when the wake came after the wakee began to sleep, so that the
   * replay's post finds the wakee waiting, as in the trace. Otherwise the sleep is timed.
   *
   * sched_waking fires in the waker's context; sched_wakeup may fire on the wakee's CPU when
   * the kernel queues the wake-up there (TTWU_QUEUE). So when the trace has both, sched_waking
   * names the waker and the sched_wakeup after it makes the task runnable; a trace with only
   * sched_waking (`perf sched record` on kernels that have it) uses it for both.
   */
  private wake(ev: Extract<TraceEvent, { kind: 'wakeup' | 'waking' | 'wakeup_new' }>): void {
    const cur = this.observe(ev);
    const t = this.known(ev.pid, ev.comm, ev);
    if (ev.kind === 'wakeup_new') return;
    const byTask = cur !== undefined && cur !== t && ev.irq !== true;
    if (ev.kind === 'waking' && this.hasWakeup) {
      // The post goes where the waker is now, whichever wake-up line follows.
      if (t.state === 'sleeping' || t.state === 'running') t.pending = { waker: cur, irq: ev.irq, step: this.step, post: byTask && this.useEdges ? this.post(cur, t, ev.at) : undefined };
      return;
    }
    if (t.state === 'sleeping' && ev.success) {
      const w: Waking = t.pending ?? { waker: byTask ? cur : undefined, irq: ev.irq, step: this.step, post: undefined };
      const reproducible = w.waker !== undefined && w.waker !== t && w.irq !== true && w.step > t.sleepStep;
      // A pending sched_waking that passes made its post already (useEdges was checked there).
      const edge = this.useEdges && reproducible ? (w.post ?? this.post(w.waker!, t, ev.at)) : undefined;
      this.endSleep(t, ev.at, edge);
      t.state = 'runnable';
      t.line = ev.line;
    }
    t.pending = undefined;
  }

  /** The trace has ended: cut what is still going on. */
  end(at: number): void {
    for (const t of this.tasks.values()) {
      if (t.state === 'running') {
        this.endBurst(t, at);
        this.flushRun(t);
      } else if (t.state === 'runnable') this.flushRun(t);
      else if (t.state === 'sleeping' && at > t.since) {
        // Still asleep: kept alive to the end, as in the trace.
        t.pieces.push({ sleep: at - t.since, edge: undefined });
        this.timed++;
      }
    }
    this.bursts.sort((a, b) => a.start - b.start || a.cpu - b.cpu || a.pid - b.pid);
  }
}

function pushRun(out: Phase[], ns: number): void {
  if (ns > 0) out.push({ run: ns });
}

/**
 * The phases of a rebuilt task. Unused posts go and the runs around them merge. A burst or a
 * sleep that the clock's resolution shows as 0 is kept as 1 ns, because the machine skips
 * zero-length steps and the replay would lose the switch.
 */
function finish(t: Tk, spanEnd: number): Phase[] {
  const out: Phase[] = [];
  // The run not yet written out; the CPU time and switch-ins of the runs since the last sleep.
  let pending = 0;
  let groupNs = 0;
  let groupObserved = false;
  for (const p of t.pieces) {
    if ('run' in p) {
      pending += p.run;
      groupNs += p.run;
      groupObserved ||= p.observed;
    } else if ('post' in p) {
      if (!p.post.used) continue;
      pushRun(out, pending);
      pending = 0;
      out.push({ post: p.post.key });
    } else {
      if (groupObserved && groupNs === 0) pending = 1;
      pushRun(out, pending);
      pending = 0;
      groupNs = 0;
      groupObserved = false;
      out.push(p.edge?.used ? { wait: p.edge.key } : { sleep: Math.max(1, p.sleep) });
    }
  }
  if (groupObserved && groupNs === 0) pending = 1;
  pushRun(out, pending);
  // Seen, but it neither ran nor slept within the trace (it was still waiting for a CPU at the
  // end): kept so that it appears in the records, asleep, using nothing.
  if (out.length === 0) out.push({ sleep: Math.max(1, spanEnd - t.arrival) });
  return out;
}

const NO_GROUP: readonly TraceEvent[] = [];

export function parseTrace(text: string, file: string, options: TraceOptions = {}): TraceImport {
  const lines = readLines(text, file);
  const r = new Rebuild(file, lines.firstAt, options.edges ?? true, lines.hasWakeup);
  const evs = lines.events;
  for (let i = 0; i < evs.length; ) {
    let j = i + 1;
    while (j < evs.length && evs[j].at === evs[i].at) j++;
    if (j - i === 1 || j - i > MAX_TIE_GROUP) {
      for (let k = i; k < j; k++) {
        const p = r.problem(evs[k], NO_GROUP);
        if (p && !p.soft) throw new WorkloadError(p.message);
        r.apply(evs[k]);
      }
    } else applyGroup(r, evs.slice(i, j));
    i = j;
  }
  r.end(lines.lastAt);
  const spanNs = lines.lastAt - lines.firstAt;
  const tasks: SimTask[] = [...r.tasks.values()]
    .map((t) => ({ pid: t.pid, comm: commOf(t.comm === '' ? '<...>' : t.comm), arrival: t.arrival - lines.firstAt, phases: finish(t, lines.lastAt), loops: 1 }))
    .sort((a, b) => a.arrival - b.arrival || a.pid - b.pid);
  return {
    tasks,
    cpus: Math.max(lines.maxCpu + 1, lines.headerCpus),
    spanNs,
    format: lines.format,
    bursts: r.bursts,
    events: lines.counts,
    edges: r.edges,
    timedSleeps: r.timed,
  };
}

/**
 * Lines with one timestamp, from different CPUs, may be printed in an order that is not the
 * order they happened in (the clock's resolution is 1 us in most traces). They are applied in
 * file order where that is consistent; a line that contradicts the state waits for the others.
 * Only when none can go does the first contradiction become the error. `left` is the group's
 * own copy: applied lines are taken out of it.
 */
function applyGroup(r: Rebuild, left: TraceEvent[]): void {
  while (left.length > 0) {
    let k = left.findIndex((ev) => r.problem(ev, left) === undefined);
    if (k < 0) k = left.findIndex((ev) => r.problem(ev, left)?.soft === true);
    if (k < 0) throw new WorkloadError((r.problem(left[0], left) as { message: string }).message);
    r.apply(left[k]);
    left.splice(k, 1);
  }
}

export function loadTrace(path: string, options: TraceOptions = {}): TraceImport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WorkloadError(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (e as Error).message})`}`);
  }
  return parseTrace(text, path, options);
}
