/**
 * Built-in idle tracking and the default CPU selection (semantics doc §6.5, newest order).
 *
 * A CPU's idle bit is set when it enters its idle loop and cleared when it leaves it or when
 * someone claims it; a core counts as fully idle only while every SMT sibling's bit is set.
 * "Any CPU in a set" is found by a distributing search: the next candidate after the one this
 * tracker returned last, wrapping, as the kernel's cpumask_any_distribute does.
 */
import type { Topology } from '../topology.ts';

export const SCX_WAKE_SYNC = 16;
const EBUSY = 16;

export class IdleTracker {
  private readonly idle: Uint8Array;
  private cursor = -1;
  readonly allCpus: readonly number[];
  /** Counts that let a busy machine skip the searches: idle CPUs, and fully idle cores. */
  private nrIdle: number;
  private nrIdleCores: number;
  private readonly coreOf: Int32Array;
  private readonly idleInCore: Int32Array;

  constructor(readonly topo: Topology) {
    this.allCpus = topo.cpus.map((c) => c.id);
    // At load every online CPU counts as idle.
    this.idle = new Uint8Array(topo.nrCpus).fill(1);
    this.nrIdle = topo.nrCpus;
    this.coreOf = Int32Array.from(topo.cpus, (c) => Math.min(...c.siblings));
    this.idleInCore = new Int32Array(topo.nrCpus);
    for (const c of topo.cpus) this.idleInCore[this.coreOf[c.id]]++;
    this.nrIdleCores = new Set(this.coreOf).size;
  }

  /** Set or clear an idle bit, keeping the counts. */
  private set(cpu: number, v: 0 | 1): void {
    if (this.idle[cpu] === v) return;
    this.idle[cpu] = v;
    const core = this.coreOf[cpu];
    const siblings = this.topo.cpus[cpu].siblings.length;
    if (v) {
      this.nrIdle++;
      if (++this.idleInCore[core] === siblings) this.nrIdleCores++;
    } else {
      this.nrIdle--;
      if (this.idleInCore[core]-- === siblings) this.nrIdleCores--;
    }
  }

  isIdle(cpu: number): boolean {
    return this.idle[cpu] === 1;
  }

  /** The CPU entered (true) or left (false) its idle loop. */
  setIdle(cpu: number, idle: boolean): void {
    this.set(cpu, idle ? 1 : 0);
  }

  /** Every SMT sibling of `cpu` is idle. */
  coreIdle(cpu: number): boolean {
    for (const s of this.topo.cpus[cpu].siblings) if (!this.idle[s]) return false;
    return true;
  }

  /** scx_bpf_test_and_clear_cpu_idle: claim `cpu` if it is idle. */
  testAndClear(cpu: number): boolean {
    if (!this.idle[cpu]) return false;
    this.set(cpu, 0);
    return true;
  }

  /** Idle CPUs, and CPUs whose whole core is idle, as sorted lists (the kernel's two masks). */
  idleCpus(): number[] {
    return this.topo.cpus.filter((c) => this.idle[c.id]).map((c) => c.id);
  }

  idleSmtCpus(): number[] {
    return this.topo.cpus.filter((c) => this.coreIdle(c.id)).map((c) => c.id);
  }

  /**
   * Claim an idle CPU among `candidates` (ascending ids) satisfying `allowed`: with SMT, CPUs of
   * fully idle cores first; `coreOnly` stops there (SCX_PICK_IDLE_CORE). -EBUSY when none.
   */
  pickIdle(candidates: readonly number[], allowed: (cpu: number) => boolean, coreOnly = false): number {
    const smt = this.topo.threadsPerCore > 1;
    if (smt) {
      const cpu = this.distribute(candidates, (c) => allowed(c) && this.coreIdle(c));
      if (cpu >= 0) return this.claimed(cpu);
      if (coreOnly) return -EBUSY;
    }
    const cpu = this.distribute(candidates, (c) => allowed(c) && this.idle[c] === 1);
    return cpu >= 0 ? this.claimed(cpu) : -EBUSY;
  }

  /** scx_bpf_pick_any_cpu: an idle CPU if there is one (claimed), else any allowed CPU. */
  pickAny(candidates: readonly number[], allowed: (cpu: number) => boolean, coreOnly = false): number {
    const idle = this.pickIdle(candidates, allowed, coreOnly);
    if (idle >= 0) return idle;
    const cpu = this.distribute(candidates, allowed);
    return cpu >= 0 ? cpu : -EBUSY;
  }

  /**
   * The default selection for a waking task: returns the CPU and whether it is an idle one the
   * task may be inserted into directly.
   */
  selectCpuDfl(
    allowed: (cpu: number) => boolean,
    prevCpu: number,
    wakeFlags: number,
    waker?: { cpu: number; localDsqEmpty: boolean; exiting: boolean },
  ): { cpu: number; isIdle: boolean } {
    const topo = this.topo;
    const prev = topo.cpus[prevCpu];
    const all = this.allCpus;
    const llc = topo.llcCpus[prev.llc];
    const node = topo.nodeCpus[prev.node];
    const multiLlc = topo.llcs > 1;
    const multiNode = topo.nodes > 1;

    // 1. Synchronous wake-up: prefer the cache the waker shares, then the waker's own CPU.
    if (wakeFlags & SCX_WAKE_SYNC && waker && !waker.exiting) {
      if (allowed(prevCpu) && topo.cpus[waker.cpu].llc === prev.llc && this.testAndClear(prevCpu)) return { cpu: prevCpu, isIdle: true };
      if (waker.localDsqEmpty && allowed(waker.cpu) && this.nrIdle > 0) return { cpu: waker.cpu, isIdle: true };
    }
    if (this.nrIdle === 0) return { cpu: prevCpu, isIdle: false };
    // 2. A fully idle core: prev's own, then in its LLC, its node, anywhere.
    if (topo.threadsPerCore > 1 && this.nrIdleCores > 0) {
      if (allowed(prevCpu) && this.coreIdle(prevCpu) && this.testAndClear(prevCpu)) return { cpu: prevCpu, isIdle: true };
      for (const scope of [multiLlc ? llc : null, multiNode ? node : null, all]) {
        if (!scope) continue;
        const cpu = this.distribute(scope, (c) => allowed(c) && this.coreIdle(c));
        if (cpu >= 0) return { cpu: this.claimed(cpu), isIdle: true };
      }
    }
    // 3. prev itself, 4. an idle SMT sibling of prev.
    if (allowed(prevCpu) && this.testAndClear(prevCpu)) return { cpu: prevCpu, isIdle: true };
    for (const s of prev.siblings) if (s !== prevCpu && allowed(s) && this.testAndClear(s)) return { cpu: s, isIdle: true };
    // 5. Any idle CPU: in prev's LLC, its node, anywhere.
    for (const scope of [multiLlc ? llc : null, multiNode ? node : null, all]) {
      if (!scope) continue;
      const cpu = this.distribute(scope, (c) => allowed(c) && this.idle[c] === 1);
      if (cpu >= 0) return { cpu: this.claimed(cpu), isIdle: true };
    }
    // 6. Nothing idle: stay on prev.
    return { cpu: prevCpu, isIdle: false };
  }

  private claimed(cpu: number): number {
    this.set(cpu, 0);
    return cpu;
  }

  /** The first candidate after the last one returned (wrapping) that `ok` accepts, or -1. */
  private distribute(candidates: readonly number[], ok: (cpu: number) => boolean): number {
    const n = candidates.length;
    if (n === 0) return -1;
    let start = 0;
    while (start < n && candidates[start] <= this.cursor) start++;
    for (let i = 0; i < n; i++) {
      const c = candidates[(start + i) % n];
      if (ok(c)) {
        this.cursor = c;
        return c;
      }
    }
    return -1;
  }
}
