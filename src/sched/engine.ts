/**
 * The discrete-event core: a clock in integer nanoseconds and a queue of events ordered by
 * (time, sequence number), so events at the same instant run in the order they were scheduled
 * and a run is a pure function of its inputs and seed.
 *
 * Events live in typed arrays indexed by slot (a kind and two integer arguments), with a binary
 * heap of slots: scheduling and popping allocate nothing once the arrays have grown to the run's
 * peak. A cancelled event stays in the heap, marked, and is dropped when it reaches the top.
 */
import { ScxError } from '../util/errors.ts';

export class EngineError extends ScxError {}

const INITIAL = 1024;
/** Ids keep 20 bits of a slot's generation so they stay safe integers. */
const GEN_MASK = 0xfffff;

export class EventQueue {
  /** Current simulated time, ns. */
  now = 0;
  private seqCounter = 0;
  private time = new Float64Array(INITIAL);
  private seq = new Float64Array(INITIAL);
  private kindOf = new Int32Array(INITIAL);
  private argA = new Int32Array(INITIAL);
  private argB = new Int32Array(INITIAL);
  /** 0 free, 1 pending, 2 cancelled. */
  private state = new Uint8Array(INITIAL);
  /** Bumped when a slot is reused, so stale ids cannot cancel someone else's event. */
  private generation = new Uint32Array(INITIAL);
  private heap = new Int32Array(INITIAL);
  private size = 0;
  private free = new Int32Array(INITIAL);
  private nFree = 0;
  private slots = 0;
  private live = 0;

  /** The event popped last: its kind and arguments. */
  kind = -1;
  a = 0;
  b = 0;

  /** Events waiting (not cancelled). */
  get pending(): number {
    return this.live;
  }

  /**
   * Schedule an event at absolute time `at` (ns, >= now). Returns an id for `cancel`.
   * @throws EngineError if `at` is in the past or not an integer.
   */
  schedule(at: number, kind: number, a = 0, b = 0): number {
    if (!Number.isSafeInteger(at) || at < this.now) {
      throw new EngineError(`event at ${at} ns scheduled at ${this.now} ns: times are integers and never in the past`);
    }
    const slot = this.nFree > 0 ? this.free[--this.nFree] : this.newSlot();
    this.time[slot] = at;
    this.seq[slot] = this.seqCounter++;
    this.kindOf[slot] = kind;
    this.argA[slot] = a;
    this.argB[slot] = b;
    this.state[slot] = 1;
    this.push(slot);
    this.live++;
    return slot + (this.generation[slot] & GEN_MASK) * 0x1_0000_0000;
  }

  /** Cancel a pending event; false if it already ran or was cancelled. */
  cancel(id: number): boolean {
    const slot = id % 0x1_0000_0000;
    const gen = Math.floor(id / 0x1_0000_0000);
    if (slot >= this.slots || (this.generation[slot] & GEN_MASK) !== gen || this.state[slot] !== 1) return false;
    this.state[slot] = 2;
    this.live--;
    return true;
  }

  /** Time of the next pending event, or Infinity. */
  peekTime(): number {
    this.dropCancelled();
    return this.size === 0 ? Infinity : this.time[this.heap[0]];
  }

  /**
   * Advance to the next event: sets `now`, `kind`, `a`, `b` and returns true; false when none
   * is pending.
   */
  next(): boolean {
    this.dropCancelled();
    if (this.size === 0) return false;
    const slot = this.pop();
    this.now = this.time[slot];
    this.kind = this.kindOf[slot];
    this.a = this.argA[slot];
    this.b = this.argB[slot];
    this.release(slot);
    this.live--;
    return true;
  }

  private dropCancelled(): void {
    while (this.size > 0 && this.state[this.heap[0]] === 2) this.release(this.pop());
  }

  private release(slot: number): void {
    this.state[slot] = 0;
    this.generation[slot]++;
    this.free[this.nFree++] = slot;
  }

  private newSlot(): number {
    if (this.slots === this.time.length) this.growArrays(this.slots * 2);
    return this.slots++;
  }

  private growArrays(n: number): void {
    const grow = <T extends Float64Array | Int32Array | Uint8Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (len: number) => T)(n);
      b.set(a);
      return b;
    };
    this.time = grow(this.time);
    this.seq = grow(this.seq);
    this.kindOf = grow(this.kindOf);
    this.argA = grow(this.argA);
    this.argB = grow(this.argB);
    this.state = grow(this.state);
    this.generation = grow(this.generation);
    this.heap = grow(this.heap);
    this.free = grow(this.free);
  }

  /** a before b: earlier time, then earlier sequence number. */
  private before(a: number, b: number): boolean {
    const ta = this.time[a];
    const tb = this.time[b];
    return ta < tb || (ta === tb && this.seq[a] < this.seq[b]);
  }

  private push(slot: number): void {
    const heap = this.heap;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(slot, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = slot;
  }

  private pop(): number {
    const heap = this.heap;
    const top = heap[0];
    const last = heap[--this.size];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const r = l + 1;
      const child = r < this.size && this.before(heap[r], heap[l]) ? r : l;
      if (!this.before(heap[child], last)) break;
      heap[i] = heap[child];
      i = child;
    }
    if (this.size > 0) heap[i] = last;
    return top;
  }
}
