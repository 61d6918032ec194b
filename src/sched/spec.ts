import type { LatencyStats } from './latency.ts';

/**
 * What a run is made of and what it reports, independent of the scheduler: the task
 * descriptions the machine executes, and the per-task and per-CPU records it returns.
 */

/** A phase of a task's behaviour: run for `run` ns of CPU, or sleep for `sleep` ns. */
export type Phase = { run: number } | { sleep: number };

/**
 * Scheduling policies (sched(7)). `normal`, `batch` and `idle` are fair-class tasks that a
 * sched_ext scheduler takes over unless it runs with SCX_OPS_SWITCH_PARTIAL; `ext` tasks are
 * SCHED_EXT (fair while no scheduler is loaded); `fifo` and `rr` are real-time tasks, above both.
 */
export type Policy = 'normal' | 'batch' | 'idle' | 'ext' | 'fifo' | 'rr';

export interface SimTask {
  pid: number;
  comm: string;
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
