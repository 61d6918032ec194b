/**
 * One CPU's EEVDF runqueue (Linux 6.6+ fair class): the scheduling arithmetic of
 * kernel/sched/fair.c, without cgroups. Times are integer nanoseconds; virtual times advance by
 * delta * 1024 / weight (calc_delta_fair with NICE_0 = 1024).
 *
 *  - The average virtual time V is the load-weighted mean of the queued entities and the
 *    running one. An entity is eligible when its vruntime is not after V.
 *  - Each entity has a virtual deadline: vruntime + its slice in virtual time. The pick is the
 *    eligible entity with the earliest deadline.
 *  - When a running entity passes its deadline, it gets a new one and the CPU reschedules.
 *  - A sleeping entity keeps its lag (V - vruntime, clamped); on wake-up it is placed at
 *    V - lag, scaled by the load it joins, so sleeping neither earns nor loses much service.
 *    New entities start with no lag and half a slice's deadline (PLACE_DEADLINE_INITIAL).
 *  - A waking entity preempts the running one when it is eligible and its deadline is earlier.
 */

export const NICE_0_LOAD = 1024;
/** sysctl_sched_base_slice before CPU-count scaling. */
export const BASE_SLICE_NS = 750_000;
/** A tick at HZ=1000, bounding how much lag an entity can keep. */
export const TICK_NSEC = 1_000_000;

/** The base slice scaled by CPU count as the kernel's default tunable scaling does: 1 + log2(min(n, 8)). */
export function baseSlice(nrCpus: number): number {
  return BASE_SLICE_NS * (1 + Math.floor(Math.log2(Math.min(Math.max(nrCpus, 1), 8))));
}

export interface FairEntity {
  readonly id: number;
  /** Kernel weight (sched_prio_to_weight). */
  weight: number;
  vruntime: number;
  deadline: number;
  /** Lag kept across a sleep. */
  vlag: number;
  /** Requested slice (ns). */
  slice: number;
}

export const calcDeltaFair = (delta: number, weight: number): number => Math.floor((delta * NICE_0_LOAD) / weight);

export class FairRunqueue {
  /** Queued entities, not including the running one. */
  readonly queued: FairEntity[] = [];
  curr: FairEntity | undefined;
  /** A monotonic floor of vruntime, the base the average is computed from. */
  minVruntime = 0;

  get nrRunning(): number {
    return this.queued.length + (this.curr ? 1 : 0);
  }

  /** Total weight of queued and running entities. */
  load(): number {
    let w = this.curr?.weight ?? 0;
    for (const e of this.queued) w += e.weight;
    return w;
  }

  /** V: the load-weighted average vruntime (minVruntime when empty). */
  avgVruntime(): number {
    // Sums are relative to minVruntime to keep the products small.
    const base = this.minVruntime;
    let sum = 0;
    let load = 0;
    const c = this.curr;
    if (c) {
      sum += (c.vruntime - base) * c.weight;
      load += c.weight;
    }
    const q = this.queued;
    for (let i = 0; i < q.length; i++) {
      sum += (q[i].vruntime - base) * q[i].weight;
      load += q[i].weight;
    }
    return load === 0 ? base : base + Math.floor(sum / load);
  }

  eligible(e: FairEntity): boolean {
    return e.vruntime <= this.avgVruntime();
  }

  /**
   * Charge `delta` ns of run time to the running entity. Returns true when it passed its
   * deadline (it gets a new one, and the CPU should reschedule).
   */
  updateCurr(delta: number): boolean {
    const c = this.curr;
    if (!c || delta <= 0) return false;
    c.vruntime += calcDeltaFair(delta, c.weight);
    this.updateMin();
    if (c.vruntime < c.deadline) return false;
    c.deadline = c.vruntime + calcDeltaFair(c.slice, c.weight);
    return true;
  }

  /** Queue an entity that is new (`initial`) or waking: place it by its lag. */
  enqueue(e: FairEntity, initial: boolean): void {
    const v = this.avgVruntime();
    let lag = initial ? 0 : e.vlag;
    const load = this.load();
    // Joining changes V by the newcomer's own weight; scale the lag so it is kept afterwards.
    if (load > 0 && lag !== 0) lag = Math.floor((lag * (load + e.weight)) / load);
    e.vruntime = v - lag;
    const vslice = calcDeltaFair(e.slice, e.weight);
    e.deadline = e.vruntime + (initial ? Math.floor(vslice / 2) : vslice);
    this.queued.push(e);
  }

  /** Take an entity off the queue for a sleep: remember its lag, clamped as the kernel does. */
  dequeueSleep(e: FairEntity): void {
    const limit = calcDeltaFair(Math.max(2 * e.slice, TICK_NSEC), e.weight);
    e.vlag = Math.max(-limit, Math.min(limit, this.avgVruntime() - e.vruntime));
    if (this.curr === e) this.curr = undefined;
    else this.queued.splice(this.queued.indexOf(e), 1);
    this.updateMin();
  }

  /** The eligible entity with the earliest deadline (ties: lower vruntime, then queue order). */
  pick(): FairEntity | undefined {
    const v = this.avgVruntime();
    let best: FairEntity | undefined = this.curr && this.curr.vruntime <= v ? this.curr : undefined;
    const q = this.queued;
    for (let i = 0; i < q.length; i++) {
      const e = q[i];
      if (e.vruntime > v) continue;
      if (!best || e.deadline < best.deadline || (e.deadline === best.deadline && e.vruntime < best.vruntime)) best = e;
    }
    // With weights summing as they do, some entity is always eligible; guard anyway.
    return best ?? this.curr ?? this.queued[0];
  }

  /** Make `e` (queued or current) the running entity; the previous one goes back in the queue. */
  setCurr(e: FairEntity): void {
    if (this.curr === e) return;
    const i = this.queued.indexOf(e);
    if (i >= 0) this.queued.splice(i, 1);
    if (this.curr) this.queued.push(this.curr);
    this.curr = e;
  }

  /** The running entity is switched out for another class's task: it waits in the queue. */
  putPrev(): void {
    if (this.curr) this.queued.push(this.curr);
    this.curr = undefined;
  }

  /** Wake-up preemption: the woken entity is eligible and due before the running one. */
  shouldPreempt(woken: FairEntity): boolean {
    const c = this.curr;
    if (!c) return true;
    return this.eligible(woken) && woken.deadline < c.deadline;
  }

  private updateMin(): void {
    // min_vruntime never goes backwards and follows the smallest vruntime on the queue.
    let m = this.curr?.vruntime ?? Infinity;
    for (const e of this.queued) m = Math.min(m, e.vruntime);
    if (m !== Infinity && m > this.minVruntime) this.minVruntime = m;
  }
}
