/**
 * Dispatch queues (semantics doc §2): ordered lists of tasks, FIFO or by virtual time.
 *
 *  - FIFO inserts go to the tail, or the head with SCX_ENQ_HEAD / SCX_ENQ_PREEMPT.
 *  - vtime inserts keep ascending p->scx.dsq_vtime, compared wrap-safely ((s64)(a - b) < 0);
 *    equal vtimes keep insertion order; a task's vtime changing later does not re-sort it.
 *  - A DSQ holds FIFO or vtime tasks, not both: mixing aborts the scheduler. Built-in DSQs
 *    (local, global) are FIFO only: a vtime insert aborts, and the task goes in FIFO meanwhile.
 *  - Each DSQ counts insertions; a task remembers the count at its insertion, so an iterator
 *    started at count N sees only tasks inserted before it.
 */
import { ProgramExit } from '../../bpf/helpers.ts';

/** Raised by the core when the BPF scheduler misuses the interface: the scheduler is aborted. */
export class SchedulerAbort extends ProgramExit {
  constructor(
    /** scx_exit_kind: SCX_EXIT_ERROR for core-detected misuse, ERROR_BPF, ERROR_STALL, UNREG_BPF. */
    readonly kind: number,
    readonly reason: string,
    msg: string,
    /** scx_exit_info.exit_code: scx_bpf_exit's code, 0 otherwise. */
    readonly exitCode = 0n,
  ) {
    super(msg);
  }
}

export const SCX_EXIT_ERROR = 1024;

export const SCX_DSQ_FLAG_BUILTIN = 1n << 63n;
export const SCX_DSQ_FLAG_LOCAL_ON = 1n << 62n;
export const SCX_DSQ_INVALID = SCX_DSQ_FLAG_BUILTIN;
export const SCX_DSQ_GLOBAL = SCX_DSQ_FLAG_BUILTIN | 1n;
export const SCX_DSQ_LOCAL = SCX_DSQ_FLAG_BUILTIN | 2n;
export const SCX_DSQ_LOCAL_ON = SCX_DSQ_FLAG_BUILTIN | SCX_DSQ_FLAG_LOCAL_ON;
export const SCX_DSQ_LOCAL_CPU_MASK = 0xffff_ffffn;

export const SCX_ENQ_HEAD = 0x10n;
export const SCX_ENQ_PREEMPT = 1n << 32n;

/** What a DSQ needs of a task: identity, its vtime key, and where it may run. */
export interface Queued {
  readonly pid: number;
  readonly dsqVtime: bigint;
  allows?(cpu: number): boolean;
}

export type DsqOrder = 'empty' | 'fifo' | 'vtime';

/** `a` orders before `b` in virtual time, across wrap-around. */
export function vtimeBefore(a: bigint, b: bigint): boolean {
  return BigInt.asIntN(64, a - b) < 0n;
}

export function describeDsq(id: bigint): string {
  if (id === SCX_DSQ_GLOBAL) return 'SCX_DSQ_GLOBAL';
  if (id === SCX_DSQ_LOCAL) return 'SCX_DSQ_LOCAL';
  if ((id & SCX_DSQ_LOCAL_ON) === SCX_DSQ_LOCAL_ON) return `SCX_DSQ_LOCAL_ON|${id & SCX_DSQ_LOCAL_CPU_MASK}`;
  return `DSQ 0x${id.toString(16)}`;
}

export class Dsq<T extends Queued = Queued> {
  private readonly tasks: T[] = [];
  /** Insertion count at each task's insertion, parallel to `tasks`. */
  private readonly seqs: number[] = [];
  private orderMode: DsqOrder = 'empty';
  /** Insertions so far. */
  seq = 0;

  constructor(
    readonly id: bigint,
    readonly builtin: boolean,
  ) {}

  get length(): number {
    return this.tasks.length;
  }

  get order(): DsqOrder {
    return this.tasks.length === 0 ? 'empty' : this.orderMode;
  }

  /** FIFO insert; HEAD and PREEMPT put the task first. */
  insertFifo(task: T, enqFlags: bigint): void {
    if (this.order === 'vtime') {
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot use FIFO insert on ${describeDsq(this.id)}, which holds vtime-ordered tasks`);
    }
    this.orderMode = 'fifo';
    const stamp = ++this.seq;
    if (enqFlags & (SCX_ENQ_HEAD | SCX_ENQ_PREEMPT)) {
      this.tasks.unshift(task);
      this.seqs.unshift(stamp);
    } else {
      this.tasks.push(task);
      this.seqs.push(stamp);
    }
  }

  /** vtime insert at the position task.dsqVtime gives, after any equal vtimes. */
  insertVtime(task: T): void {
    if (this.builtin) {
      // The kernel aborts the scheduler, inserting the task FIFO so it is not lost.
      this.insertFifo(task, 0n);
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot use vtime ordering on built-in ${describeDsq(this.id)}`);
    }
    if (this.order === 'fifo') {
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot use vtime insert on ${describeDsq(this.id)}, which holds FIFO tasks`);
    }
    this.orderMode = 'vtime';
    const v = task.dsqVtime;
    // First position whose vtime is after v: equal vtimes stay in insertion order.
    let lo = 0;
    let hi = this.tasks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (vtimeBefore(v, this.tasks[mid].dsqVtime)) hi = mid;
      else lo = mid + 1;
    }
    this.tasks.splice(lo, 0, task);
    this.seqs.splice(lo, 0, ++this.seq);
  }

  /** Remove a task; false if it is not here. */
  remove(task: T): boolean {
    const i = this.tasks.indexOf(task);
    if (i < 0) return false;
    this.tasks.splice(i, 1);
    this.seqs.splice(i, 1);
    return true;
  }

  /** Take the first task `eligible` accepts (consuming a DSQ skips tasks that cannot run here). */
  takeFirst(eligible: (task: T) => boolean): T | undefined {
    for (let i = 0; i < this.tasks.length; i++) {
      const t = this.tasks[i];
      if (eligible(t)) {
        this.tasks.splice(i, 1);
        this.seqs.splice(i, 1);
        return t;
      }
    }
    return undefined;
  }

  /** Take the first task allowed on `cpu` (consuming a shared DSQ for that CPU). */
  takeFirstFor(cpu: number): T | undefined {
    const tasks = this.tasks;
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i];
      if (t.allows === undefined || t.allows(cpu)) {
        tasks.splice(i, 1);
        this.seqs.splice(i, 1);
        return t;
      }
    }
    return undefined;
  }

  /** Take the head. */
  shift(): T | undefined {
    this.seqs.shift();
    return this.tasks.shift();
  }

  peek(): T | undefined {
    return this.tasks[0];
  }

  /** Tasks inserted before insertion count `before`, head to tail (or tail to head). */
  snapshot(before: number, reverse = false): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.tasks.length; i++) if (this.seqs[i] <= before) out.push(this.tasks[i]);
    return reverse ? out.reverse() : out;
  }

  has(task: T): boolean {
    return this.tasks.includes(task);
  }

  toArray(): readonly T[] {
    return this.tasks;
  }
}
