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

/** enq_flags travel as numbers (exact: the public flags stop at bit 41). */
export const SCX_ENQ_HEAD = 0x10;
export const SCX_ENQ_PREEMPT = 2 ** 32;

/** SCX_ENQ_PREEMPT is set in `flags` (bit 32: above what JS bitwise operators see). */
export const enqPreempt = (flags: number): boolean => (Math.floor(flags / 2 ** 32) & 1) === 1;
/** HEAD or PREEMPT: the task goes first. */
export const enqHead = (flags: number): boolean => (flags & SCX_ENQ_HEAD) !== 0 || enqPreempt(flags);

/** What a DSQ needs of a task: identity, its vtime key, and where it may run. */
export interface Queued {
  readonly pid: number;
  readonly dsqVtime: bigint;
  /** The same key as u32 halves, when the task can give it without BigInt. */
  readonly dsqVtimeHi?: number;
  readonly dsqVtimeLo?: number;
  allows?(cpu: number): boolean;
  /** The DSQ holding the task, kept by Dsq (so membership is O(1)). */
  dsq?: unknown;
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

/** One run of consecutive DSQ entries: tasks, insertion counts, vtime keys as u32 halves. */
interface Block<T> {
  t: T[];
  seq: number[];
  hi: number[];
  lo: number[];
}

/** Blocks split above this many entries, so an insertion moves at most this many. */
const BLOCK_MAX = 64;

export class Dsq<T extends Queued = Queued> {
  /**
   * The tasks, in order, as a list of blocks of at most BLOCK_MAX (an unrolled list): an
   * insertion searches the blocks, then one block, and shifts only inside that block, so a DSQ
   * of thousands of tasks costs no more per operation than one of a hundred. vtime keys are
   * read once, at insertion, and compared as u32 halves (a task's vtime changing later does not
   * re-sort it, as in the kernel).
   */
  private blocks: Block<T>[] = [];
  private count = 0;
  /** Told the new length after every insert and removal (the event log's DSQ depths). */
  onChange: ((dsq: Dsq<T>) => void) | undefined;
  private orderMode: DsqOrder = 'empty';
  /** Insertions so far. */
  seq = 0;

  constructor(
    readonly id: bigint,
    readonly builtin: boolean,
  ) {}

  get length(): number {
    return this.count;
  }

  get order(): DsqOrder {
    return this.count === 0 ? 'empty' : this.orderMode;
  }

  /** FIFO insert; HEAD and PREEMPT put the task first. */
  insertFifo(task: T, enqFlags: number): void {
    if (this.order === 'vtime') {
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot use FIFO insert on ${describeDsq(this.id)}, which holds vtime-ordered tasks`);
    }
    this.orderMode = 'fifo';
    const stamp = ++this.seq;
    if (this.blocks.length === 0) this.blocks.push({ t: [], seq: [], hi: [], lo: [] });
    if (enqHead(enqFlags)) this.insertAt(0, 0, task, stamp, 0, 0);
    else {
      const b = this.blocks.length - 1;
      this.insertAt(b, this.blocks[b].t.length, task, stamp, 0, 0);
    }
  }

  /** vtime insert at the position task.dsqVtime gives, after any equal vtimes. */
  insertVtime(task: T): void {
    if (this.builtin) {
      // The kernel aborts the scheduler, inserting the task FIFO so it is not lost.
      this.insertFifo(task, 0);
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot use vtime ordering on built-in ${describeDsq(this.id)}`);
    }
    if (this.order === 'fifo') {
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot use vtime insert on ${describeDsq(this.id)}, which holds FIFO tasks`);
    }
    this.orderMode = 'vtime';
    let hi: number;
    let lo: number;
    if (task.dsqVtimeHi !== undefined) {
      hi = task.dsqVtimeHi;
      lo = task.dsqVtimeLo!;
    } else {
      const v = BigInt.asUintN(64, task.dsqVtime);
      hi = Number(v >> 32n);
      lo = Number(v & 0xffff_ffffn);
    }
    const blocks = this.blocks;
    if (blocks.length === 0) blocks.push({ t: [], seq: [], hi: [], lo: [] });
    // The first block whose last key is after v takes it; past every block, the last one does.
    let a = 0;
    let z = blocks.length - 1;
    while (a < z) {
      const mid = (a + z) >> 1;
      const m = blocks[mid];
      const last = m.t.length - 1;
      if (before(hi, lo, m.hi[last], m.lo[last])) z = mid;
      else a = mid + 1;
    }
    const blk = blocks[a];
    // Inside it: the first position whose key is after v (equal keys keep insertion order).
    let i = 0;
    let j = blk.t.length;
    while (i < j) {
      const mid = (i + j) >> 1;
      if (before(hi, lo, blk.hi[mid], blk.lo[mid])) j = mid;
      else i = mid + 1;
    }
    this.insertAt(a, i, task, ++this.seq, hi, lo);
  }

  /** Remove a task; false if it is not here. */
  remove(task: T): boolean {
    if (task.dsq !== this) return false;
    for (let b = 0; b < this.blocks.length; b++) {
      const i = this.blocks[b].t.indexOf(task);
      if (i >= 0) {
        this.removeAt(b, i);
        return true;
      }
    }
    return false;
  }

  /** Take the first task `eligible` accepts (consuming a DSQ skips tasks that cannot run here). */
  takeFirst(eligible: (task: T) => boolean): T | undefined {
    const blocks = this.blocks;
    for (let b = 0; b < blocks.length; b++) {
      const ts = blocks[b].t;
      for (let i = 0; i < ts.length; i++) if (eligible(ts[i])) return this.removeAt(b, i);
    }
    return undefined;
  }

  /** Take the first task allowed on `cpu` (consuming a shared DSQ for that CPU). */
  takeFirstFor(cpu: number): T | undefined {
    const blocks = this.blocks;
    for (let b = 0; b < blocks.length; b++) {
      const ts = blocks[b].t;
      for (let i = 0; i < ts.length; i++) {
        const t = ts[i];
        if (t.allows === undefined || t.allows(cpu)) return this.removeAt(b, i);
      }
    }
    return undefined;
  }

  /** Take the head. */
  shift(): T | undefined {
    return this.count > 0 ? this.removeAt(0, 0) : undefined;
  }

  peek(): T | undefined {
    return this.blocks[0]?.t[0];
  }

  /** Tasks inserted before insertion count `before`, head to tail (or tail to head). */
  snapshot(before: number, reverse = false): T[] {
    const out: T[] = [];
    for (const blk of this.blocks) for (let i = 0; i < blk.t.length; i++) if (blk.seq[i] <= before) out.push(blk.t[i]);
    return reverse ? out.reverse() : out;
  }

  has(task: T): boolean {
    return task.dsq === this;
  }

  toArray(): readonly T[] {
    const out: T[] = [];
    for (const blk of this.blocks) for (const t of blk.t) out.push(t);
    return out;
  }

  private insertAt(b: number, i: number, task: T, seq: number, hi: number, lo: number): void {
    const blk = this.blocks[b];
    if (i === blk.t.length) {
      blk.t.push(task);
      blk.seq.push(seq);
      blk.hi.push(hi);
      blk.lo.push(lo);
    } else {
      blk.t.splice(i, 0, task);
      blk.seq.splice(i, 0, seq);
      blk.hi.splice(i, 0, hi);
      blk.lo.splice(i, 0, lo);
    }
    this.count++;
    task.dsq = this;
    this.onChange?.(this);
    if (blk.t.length > BLOCK_MAX) {
      const half = blk.t.length >> 1;
      this.blocks.splice(b + 1, 0, { t: blk.t.splice(half), seq: blk.seq.splice(half), hi: blk.hi.splice(half), lo: blk.lo.splice(half) });
    }
  }

  private removeAt(b: number, i: number): T {
    const blk = this.blocks[b];
    const t = blk.t[i];
    if (i === 0) {
      blk.t.shift();
      blk.seq.shift();
      blk.hi.shift();
      blk.lo.shift();
    } else {
      blk.t.splice(i, 1);
      blk.seq.splice(i, 1);
      blk.hi.splice(i, 1);
      blk.lo.splice(i, 1);
    }
    if (blk.t.length === 0) this.blocks.splice(b, 1);
    this.count--;
    t.dsq = undefined;
    this.onChange?.(this);
    return t;
  }
}

/** (s64)(a - b) < 0 for u64 a = ahi:alo and b = bhi:blo, without BigInt. */
function before(ahi: number, alo: number, bhi: number, blo: number): boolean {
  const borrow = alo < blo ? 1 : 0;
  return ((ahi - bhi - borrow) | 0) < 0;
}
