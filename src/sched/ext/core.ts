/**
 * The sched_ext core, first cut: a BPF scheduler (struct sched_ext_ops) drives every task of a
 * machine, following the semantics doc: the wake-up sequence (§1.3: select_cpu, runnable,
 * enqueue or the direct insert, kick of an idle target), the pick on a CPU (§6.1: keep prev, local
 * DSQ, global DSQ, the dispatch loop, idle), the enqueue decision (§6.2), slices charged at
 * every scheduling event and ticks (§6.4), kicks, and the kfuncs the bundled schedulers use.
 *
 * Not yet here (reported as not done in issue 5): the fair fallback after an abort (the run ends
 * at the abort with the exit recorded), RT interference, cpu_release/acquire, dequeue, property
 * changes, the watchdog, bypass, cgroups, timers' events.
 */
import type { HelperCall, HelperFn } from '../../bpf/helpers.ts';
import { HelperError } from '../../bpf/helpers.ts';
import { ProgramFault } from '../../bpf/loader.ts';
import { bpfFormat } from '../../bpf/printf.ts';
import { readCString } from '../../bpf/printf.ts';
import { ScxError } from '../../util/errors.ts';
import { EventQueue } from '../engine.ts';
import type { Phase, SimTask, TaskRecord } from '../fair/sim.ts';
import { TaskTable, type Task } from '../task.ts';
import type { Topology } from '../topology.ts';
import type { KernelMemory, SchedExtOps } from './ops.ts';
import { checkKfuncContext, type KernelFlavour } from './context.ts';
import {
  Dsq,
  SCX_DSQ_GLOBAL,
  SCX_DSQ_LOCAL,
  SCX_DSQ_LOCAL_CPU_MASK,
  SCX_DSQ_LOCAL_ON,
  SCX_ENQ_PREEMPT,
  SCX_EXIT_ERROR,
  SchedulerAbort,
  describeDsq,
} from './dsq.ts';
import { IdleTracker } from './idle.ts';

export const SCX_SLICE_DFL = 20_000_000n;
export const SCX_SLICE_INF = (1n << 64n) - 1n;
const SCX_ENQ_WAKEUP = 1n;
const SCX_ENQ_CPU_SELECTED = 0x400n;
const SCX_DEQ_SLEEP = 1n;
const SCX_WAKE_FORK = 4n;
const SCX_WAKE_TTWU = 8n;
const SCX_KICK_IDLE = 1n;
const SCX_KICK_PREEMPT = 2n;
const SCX_EXIT_ERROR_BPF = 1025;
const SCX_EXIT_UNREG_BPF = 65;
const SCX_EXIT_ERROR_STALL = 1026;
const SCX_DSP_MAX_LOOPS = 32;

const EV_ARRIVE = 0;
const EV_WAKE = 1;
const EV_TICK = 2;
const EV_BURST_END = 3;
const EV_RESCHED = 4;
const EV_WATCHDOG = 5;

export interface ExitInfo {
  kind: number;
  reason: string;
  msg: string;
  exitCode: bigint;
  atNs: number;
}

class ExtTask {
  cpu: number;
  state: 'new' | 'sleeping' | 'queued' | 'running' | 'exited' = 'new';
  phase = 0;
  loop = 0;
  remaining = 0;
  runnableSince = 0;
  wokeAt = -1;
  /** A direct insert requested from select_cpu/enqueue, executed when the callback returns. */
  ddsp: { dsq: bigint; flags: bigint } | undefined;
  readonly record: TaskRecord;

  constructor(
    readonly index: number,
    readonly spec: SimTask,
    readonly task: Task,
    nrCpus: number,
  ) {
    this.cpu = spec.pid % nrCpus;
    this.record = { pid: spec.pid, comm: spec.comm, runtime: 0, wait: 0, wakeupLatency: [], switches: 0, migrations: 0, exited: false };
  }

  get pid(): number {
    return this.spec.pid;
  }

  allows(cpu: number): boolean {
    return this.task.allows(cpu);
  }

  /** The DSQ ordering key lives in the task_struct, where BPF writes it. */
  get dsqVtime(): bigint {
    return this.task.dsqVtime;
  }
}

interface ExtCpu {
  id: number;
  local: Dsq<ExtTask>;
  curr: ExtTask | undefined;
  since: number;
  burstEvent: number;
  reschedPending: boolean;
  busy: number;
  idleSince: number;
  idle: number;
  switches: number;
}

export interface ExtRunResult {
  durationNs: number;
  /** Set when the scheduler was aborted; the run ends there (no fair fallback yet). */
  exit: ExitInfo | undefined;
  tasks: ExtTask['record'][];
  cpus: { cpu: number; busy: number; idle: number; switches: number }[];
  callbacks: Record<string, number>;
  bpfInsns: number;
}

/** The scx kfunc implementations for a core that is created before the object is loaded. */
export class ExtCore {
  private km!: KernelMemory;
  private ops!: SchedExtOps;
  private tasks!: TaskTable;
  private readonly q = new EventQueue();
  private readonly global = new Dsq<ExtTask>(SCX_DSQ_GLOBAL, true);
  private readonly user = new Map<bigint, Dsq<ExtTask>>();
  private cpus: ExtCpu[] = [];
  private idle!: IdleTracker;
  private ext: ExtTask[] = [];
  private byAddr = new Map<number, ExtTask>();
  /** The callback running now, its CPU, and (enqueue paths) the task it is about. */
  private ctx = { callback: '', cpu: 0, task: undefined as ExtTask | undefined };
  private dispatchBuffer: { t: ExtTask; dsq: bigint; flags: bigint }[] = [];
  private exitInfo: ExitInfo | undefined;
  private readonly callbacks: Record<string, number> = {};
  private bpfInsns = 0;

  /** Check the placement invariants after every event (tests; costs O(tasks) per event). */
  checkInvariants = false;

  constructor(
    readonly topo: Topology,
    readonly flavour: KernelFlavour = 'newer',
    readonly hz = 1000,
  ) {}

  /** The sched_ext kfuncs, bound to this core (give them to SimKernel's `scx`). */
  kfuncs(): Record<string, HelperFn> {
    const insert = (vtime: boolean) => (c: HelperCall) => {
      this.allow(vtime ? 'scx_bpf_dsq_insert_vtime' : 'scx_bpf_dsq_insert');
      const t = this.taskArg(c, 1);
      const slice = c.u64(3);
      if (slice !== 0n) t.task.slice = slice;
      else if (t.task.slice === 0n) t.task.slice = 1n;
      if (vtime) t.task.dsqVtime = c.u64(4);
      this.insert(t, c.u64(2), vtime ? c.u64(5) : c.u64(4), vtime);
      return 0;
    };
    const moveToLocal = (c: HelperCall) => {
      this.allow('scx_bpf_dsq_move_to_local');
      this.flushDispatch();
      const dsq = this.user.get(c.u64(1));
      if (!dsq) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `scx_bpf_dsq_move_to_local: ${describeDsq(c.u64(1))} does not exist`);
      const cpu = this.ctx.cpu;
      const t = dsq.takeFirstFor(cpu);
      if (!t) return 0;
      this.placeLocal(t, cpu);
      return 1;
    };
    return {
      scx_bpf_dsq_insert: insert(false),
      scx_bpf_dispatch: insert(false),
      scx_bpf_dsq_insert_vtime: insert(true),
      scx_bpf_dispatch_vtime: insert(true),
      scx_bpf_dsq_move_to_local: moveToLocal,
      scx_bpf_consume: moveToLocal,
      scx_bpf_create_dsq: (c) => {
        this.allow('scx_bpf_create_dsq');
        const id = c.u64(1);
        if (id & (1n << 63n)) return -22;
        if (this.user.has(id)) return -17;
        this.user.set(id, new Dsq<ExtTask>(id, false));
        return 0;
      },
      scx_bpf_destroy_dsq: (c) => {
        const d = this.user.get(c.u64(1));
        if (d && d.length) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot destroy ${describeDsq(d.id)}: it holds ${d.length} tasks`);
        this.user.delete(c.u64(1));
        return 0;
      },
      scx_bpf_dsq_nr_queued: (c) => {
        const id = c.u64(1);
        if (id === SCX_DSQ_LOCAL) return this.cpus[this.ctx.cpu].local.length;
        if ((id & SCX_DSQ_LOCAL_ON) === SCX_DSQ_LOCAL_ON) return this.cpus[Number(id & SCX_DSQ_LOCAL_CPU_MASK)]?.local.length ?? -2;
        return this.user.get(id)?.length ?? -2;
      },
      scx_bpf_select_cpu_dfl: (c) => {
        this.allow('scx_bpf_select_cpu_dfl');
        const t = this.taskArg(c, 1);
        const r = this.idle.selectCpuDfl((cpu) => t.task.allows(cpu), c.i32(2), c.u64(3));
        c.mem.view.setUint8(c.ptr(4), r.isIdle ? 1 : 0);
        return r.cpu;
      },
      scx_bpf_test_and_clear_cpu_idle: (c) => (this.idle.testAndClear(c.i32(1)) ? 1 : 0),
      scx_bpf_kick_cpu: (c) => {
        this.kick(c.i32(1), c.u64(2));
        return 0;
      },
      scx_bpf_error_bstr: (c) => {
        throw new SchedulerAbort(SCX_EXIT_ERROR_BPF, 'scx_bpf_error', this.bstr(c, 1));
      },
      scx_bpf_exit_bstr: (c) => {
        throw new SchedulerAbort(SCX_EXIT_UNREG_BPF, 'unregistered from BPF', this.bstr(c, 2), BigInt.asIntN(64, c.u64(1)));
      },
      scx_bpf_nr_cpu_ids: () => this.topo.nrCpus,
      scx_bpf_task_cpu: (c) => this.taskArg(c, 1).cpu,
      scx_bpf_task_running: (c) => (this.taskArg(c, 1).state === 'running' ? 1 : 0),
      scx_bpf_now: () => this.q.now,
      scx_bpf_dispatch_nr_slots: () => Math.max(0, this.ops.dispatchMaxBatch - this.dispatchBuffer.length),
      scx_bpf_dispatch_cancel: () => {
        if (!this.dispatchBuffer.pop()) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', 'scx_bpf_dispatch_cancel with nothing to cancel');
        return 0;
      },
    };
  }

  /** Attach the scheduler and the kernel memory tasks live in (a BPF object's own memory). */
  attach(km: KernelMemory, ops: SchedExtOps): void {
    this.km = km;
    this.ops = ops;
    this.tasks = new TaskTable(km.mem, this.topo.nrCpus);
    this.idle = new IdleTracker(this.topo);
    this.cpus = this.topo.cpus.map((c) => ({
      id: c.id,
      local: new Dsq<ExtTask>(SCX_DSQ_LOCAL_ON | BigInt(c.id), true),
      curr: undefined,
      since: 0,
      burstEvent: -1,
      reschedPending: false,
      busy: 0,
      idleSince: 0,
      idle: 0,
      switches: 0,
    }));
  }

  isTask(addr: number): boolean {
    return this.byAddr.has(addr);
  }

  run(specs: readonly SimTask[], durationNs: number): ExtRunResult {
    const q = this.q;
    this.ext = specs.map((spec, index) => {
      const task = this.tasks.create({ pid: spec.pid, comm: spec.comm, nice: spec.nice, cpus: spec.cpus, policy: 7 });
      task.slice = SCX_SLICE_DFL;
      const t = new ExtTask(index, spec, task, this.topo.nrCpus);
      this.byAddr.set(task.addr, t);
      return t;
    });
    const tick = Math.round(1e9 / this.hz);
    try {
      if (this.ops.has('init')) {
        const rc = this.callback('init', 0);
        if (rc !== 0) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `ops.init() failed (${rc})`);
      }
      this.ext.forEach((t) => q.schedule(t.spec.arrival, EV_ARRIVE, t.index));
      for (const c of this.cpus) q.schedule(tick, EV_TICK, c.id);
      const watchdogPeriod = Math.floor((this.ops.timeoutMs * 1e6) / 2);
      q.schedule(watchdogPeriod, EV_WATCHDOG);
      let lastTime = 0;
      while (q.next() && !this.exitInfo) {
        if (q.now >= durationNs) break;
        if (this.checkInvariants) {
          if (q.now < lastTime) throw new Error(`time went backwards: ${q.now} < ${lastTime}`);
          lastTime = q.now;
        }
        const a = q.a;
        switch (q.kind) {
          case EV_ARRIVE:
            this.arrive(this.ext[a]);
            break;
          case EV_WAKE:
            if (this.advance(this.ext[a]) === 'run') this.wakeup(this.ext[a], SCX_WAKE_TTWU);
            break;
          case EV_BURST_END:
            this.burstEnd(a);
            break;
          case EV_TICK:
            this.tick(a);
            q.schedule(q.now + tick, EV_TICK, a);
            break;
          case EV_RESCHED:
            this.cpus[a].reschedPending = false;
            this.pick(a);
            break;
          case EV_WATCHDOG:
            this.watchdog();
            q.schedule(q.now + Math.floor((this.ops.timeoutMs * 1e6) / 2), EV_WATCHDOG);
            break;
        }
        if (this.checkInvariants) this.verify();
      }
    } catch (e) {
      this.abort(e);
    }
    const end = this.exitInfo ? this.exitInfo.atNs : durationNs;
    for (const c of this.cpus) {
      if (c.curr) {
        c.curr.record.runtime += end - c.since;
        c.busy += end - c.since;
      } else c.idle += end - c.idleSince;
    }
    for (const t of this.ext) if (t.state === 'queued') t.record.wait += end - t.runnableSince;
    return {
      durationNs: end,
      exit: this.exitInfo,
      tasks: this.ext.map((t) => t.record),
      cpus: this.cpus.map((c) => ({ cpu: c.id, busy: c.busy, idle: c.idle, switches: c.switches })),
      callbacks: this.callbacks,
      bpfInsns: this.bpfInsns,
    };
  }

  /**
   * Every task is in exactly one place: running on one CPU, queued on one DSQ, held by the BPF
   * scheduler (queued but on no DSQ), sleeping, or exited; no CPU runs two tasks.
   */
  private verify(): void {
    const where = new Map<ExtTask, string[]>();
    const note = (t: ExtTask, place: string) => where.set(t, [...(where.get(t) ?? []), place]);
    for (const c of this.cpus) {
      if (c.curr) note(c.curr, `running on CPU ${c.id}`);
      for (const t of c.local.toArray()) note(t, `local DSQ of CPU ${c.id}`);
    }
    for (const t of this.global.toArray()) note(t, 'global DSQ');
    for (const d of this.user.values()) for (const t of d.toArray()) note(t, describeDsq(d.id));
    for (const t of this.ext) {
      const places = where.get(t) ?? [];
      const running = places.filter((p) => p.startsWith('running')).length;
      const ok =
        places.length <= 1 &&
        (t.state === 'running' ? running === 1 : running === 0) &&
        (t.state === 'queued' || t.state === 'running' || places.length === 0);
      if (!ok) throw new Error(`invariant broken at ${this.q.now} ns: task ${t.spec.pid} is ${t.state} and in [${places.join(', ')}]`);
    }
  }

  /** §6.6: a runnable task that has not run for timeout_ms stalls the scheduler. */
  private watchdog(): void {
    const limit = this.ops.timeoutMs * 1e6;
    for (const t of this.ext) {
      if (t.state !== 'queued') continue;
      const waited = this.q.now - t.runnableSince;
      if (waited > limit) {
        throw new SchedulerAbort(SCX_EXIT_ERROR_STALL, 'runnable task stall', `${t.task.comm}[${t.spec.pid}] failed to run for ${(waited / 1e9).toFixed(3)}s`);
      }
    }
  }

  // ---- callbacks ----

  private callback(name: string, cpu: number, task?: ExtTask, ...args: number[]): number {
    this.callbacks[name] = (this.callbacks[name] ?? 0) + 1;
    const saved = this.ctx;
    this.ctx = { callback: name, cpu, task };
    const words = this.km.words;
    const view = this.km.mem.view;
    view.setUint32(words.cpuAddr, cpu, true);
    view.setBigUint64(words.clockAddr, BigInt(this.q.now), true);
    try {
      const rc = this.ops.call(name, ...args);
      this.bpfInsns += this.ops.lastInsnCount(name);
      return rc;
    } finally {
      this.ctx = saved;
    }
  }

  private allow(kfunc: string): void {
    checkKfuncContext(kfunc, this.ctx.callback, this.flavour);
  }

  private taskArg(c: HelperCall, i: number): ExtTask {
    const t = this.byAddr.get(c.ptr(i));
    if (!t) throw new HelperError(`argument r${i} is not a task`);
    return t;
  }

  private bstr(c: HelperCall, first: number): string {
    const fmt = readCString(c.mem, c.ptr(first)) ?? '(bad format)';
    const n = c.lo(first + 2) / 8;
    const args: bigint[] = [];
    for (let i = 0; i < n; i++) args.push(c.mem.view.getBigUint64(c.ptr(first + 1) + 8 * i, true));
    return bpfFormat(fmt, args, c.mem);
  }

  // ---- task life ----

  private arrive(t: ExtTask): void {
    if (this.ops.has('enable')) this.callback('enable', t.cpu, t, t.task.addr);
    if (this.advance(t) === 'run') this.wakeup(t, SCX_WAKE_FORK);
  }

  private advance(t: ExtTask): 'run' | 'sleep' | 'exit' {
    for (let steps = 0; ; steps++) {
      if (steps > t.spec.phases.length) throw new ScxError(`task ${t.spec.pid}: its phases take no time`);
      if (t.phase >= t.spec.phases.length) {
        t.phase = 0;
        t.loop++;
        if (t.loop >= (t.spec.loops ?? Infinity)) return 'exit';
      }
      const p: Phase = t.spec.phases[t.phase++];
      if ('run' in p) {
        if (p.run <= 0) continue;
        t.remaining = p.run;
        return 'run';
      }
      if (p.sleep <= 0) continue;
      this.q.schedule(this.q.now + p.sleep, EV_WAKE, t.index);
      return 'sleep';
    }
  }

  /** §1.3 steps 1-4. */
  private wakeup(t: ExtTask, wakeFlags: bigint): void {
    const prev = t.cpu;
    let cpu = prev;
    t.ddsp = undefined;
    let selected = false;
    if (t.task.nrCpusAllowed > 1) {
      selected = true;
      if (this.ops.has('select_cpu')) {
        cpu = this.callback('select_cpu', prev, t, t.task.addr, prev, Number(wakeFlags));
        if (cpu < 0 || cpu >= this.topo.nrCpus) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `select_cpu returned invalid CPU ${cpu}`);
        if (!t.task.allows(cpu)) cpu = this.fallbackCpu(t);
      } else {
        const r = this.idle.selectCpuDfl((c) => t.task.allows(c), prev, wakeFlags);
        cpu = r.cpu;
        if (r.isIdle) {
          t.task.slice = SCX_SLICE_DFL;
          t.ddsp = { dsq: SCX_DSQ_LOCAL, flags: 0n };
        }
      }
    } else if (!t.task.allows(cpu)) cpu = this.fallbackCpu(t);
    if (cpu !== t.cpu && t.state !== 'new') t.record.migrations++;
    t.cpu = cpu;
    t.state = 'queued';
    t.runnableSince = this.q.now;
    t.wokeAt = this.q.now;
    const enqFlags = SCX_ENQ_WAKEUP | (selected && this.flavour === 'newer' ? SCX_ENQ_CPU_SELECTED : 0n);
    if (this.ops.has('runnable')) this.callback('runnable', cpu, t, t.task.addr, Number(enqFlags));
    this.enqueue(t, enqFlags);
  }

  private fallbackCpu(t: ExtTask): number {
    for (let c = 0; c < this.topo.nrCpus; c++) if (t.task.allows(c)) return c;
    return t.cpu;
  }

  /** §6.2. */
  private enqueue(t: ExtTask, flags: bigint): void {
    if (!t.ddsp) {
      if (!this.ops.has('enqueue')) {
        t.task.slice = SCX_SLICE_DFL;
        this.placeOn(this.global, t, 0n);
        this.kickIdle();
        return;
      }
      this.callback('enqueue', t.cpu, t, t.task.addr, Number(flags & 0x1f_ffff_ffffn));
    }
    if (t.ddsp) {
      const d = t.ddsp;
      t.ddsp = undefined;
      this.execute(t, d.dsq, d.flags | flags, t.cpu);
    }
  }

  /** scx_bpf_dsq_insert[_vtime]: direct from select_cpu/enqueue, buffered from dispatch. */
  private insert(t: ExtTask, dsq: bigint, flags: bigint, vtime: boolean): void {
    const cb = this.ctx.callback;
    if (cb === 'select_cpu' || cb === 'enqueue') {
      if (this.ctx.task !== t || t.ddsp) {
        throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `${cb}: scx_bpf_dsq_insert is allowed once, for the task being enqueued`);
      }
      t.ddsp = { dsq, flags: vtime ? flags | VTIME_FLAG : flags };
      return;
    }
    if (this.dispatchBuffer.length >= this.ops.dispatchMaxBatch) {
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', 'dispatch buffer overflow');
    }
    this.dispatchBuffer.push({ t, dsq, flags: vtime ? flags | VTIME_FLAG : flags });
  }

  private flushDispatch(): number {
    const buf = this.dispatchBuffer;
    this.dispatchBuffer = [];
    let n = 0;
    for (const { t, dsq, flags } of buf) {
      // Only tasks BPF still owns can be inserted: a running or already queued one is dropped.
      if (t.state !== 'queued' || this.isOnDsq(t)) continue;
      this.execute(t, dsq, flags, this.ctx.cpu);
      n++;
    }
    return n;
  }

  private isOnDsq(t: ExtTask): boolean {
    if (this.global.has(t)) return true;
    for (const d of this.user.values()) if (d.has(t)) return true;
    for (const c of this.cpus) if (c.local.has(t)) return true;
    return false;
  }

  /** Put `t` into the DSQ `dsq` as seen from CPU `cpu` (§2). */
  private execute(t: ExtTask, dsq: bigint, flags: bigint, cpu: number): void {
    const vtime = (flags & VTIME_FLAG) !== 0n;
    const enqFlags = flags & ~VTIME_FLAG;
    if (dsq === SCX_DSQ_LOCAL || (dsq & SCX_DSQ_LOCAL_ON) === SCX_DSQ_LOCAL_ON) {
      const target = dsq === SCX_DSQ_LOCAL ? cpu : Number(dsq & SCX_DSQ_LOCAL_CPU_MASK);
      if (target >= this.topo.nrCpus) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `invalid CPU ${target} in ${describeDsq(dsq)}`);
      if (!t.task.allows(target)) {
        this.placeOn(this.global, t, 0n);
        throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `SCX_DSQ_LOCAL[_ON] target CPU ${target} not allowed for ${t.task.comm}[${t.spec.pid}]`);
      }
      if (vtime) {
        this.placeLocal(t, target, enqFlags);
        throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot use vtime ordering on built-in ${describeDsq(dsq)}`);
      }
      this.placeLocal(t, target, enqFlags);
      return;
    }
    if (dsq === SCX_DSQ_GLOBAL) {
      if (vtime) {
        this.placeOn(this.global, t, 0n);
        throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', 'cannot use vtime ordering on built-in SCX_DSQ_GLOBAL');
      }
      this.placeOn(this.global, t, enqFlags);
      this.kickIdle();
      return;
    }
    const d = this.user.get(dsq);
    if (!d) {
      this.placeOn(this.global, t, 0n);
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `non-existent DSQ 0x${dsq.toString(16)}`);
    }
    if (vtime) d.insertVtime(t);
    else d.insertFifo(t, enqFlags);
    this.kickIdle();
  }

  private placeOn(d: Dsq<ExtTask>, t: ExtTask, flags: bigint): void {
    d.insertFifo(t, flags);
  }

  private placeLocal(t: ExtTask, cpu: number, flags = 0n): void {
    if (t.cpu !== cpu && t.state !== 'new') t.record.migrations++;
    t.cpu = cpu;
    const c = this.cpus[cpu];
    c.local.insertFifo(t, flags);
    if (flags & SCX_ENQ_PREEMPT && c.curr && c.curr !== t) {
      c.curr.task.slice = 0n;
      this.resched(cpu);
    } else if (!c.curr) this.resched(cpu);
  }

  /** Work reached a shared DSQ: wake an idle CPU to look for it. */
  private kickIdle(): void {
    for (const c of this.cpus) {
      if (!c.curr && !c.reschedPending) {
        this.resched(c.id);
        return;
      }
    }
  }

  private kick(cpu: number, flags: bigint): void {
    if (cpu < 0 || cpu >= this.topo.nrCpus) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `scx_bpf_kick_cpu: invalid CPU ${cpu}`);
    const c = this.cpus[cpu];
    if (flags & SCX_KICK_IDLE && c.curr) return;
    if (flags & SCX_KICK_PREEMPT && c.curr) c.curr.task.slice = 0n;
    this.resched(cpu);
  }

  private resched(cpu: number): void {
    const c = this.cpus[cpu];
    if (c.reschedPending) return;
    c.reschedPending = true;
    this.q.schedule(this.q.now, EV_RESCHED, cpu);
  }

  // ---- CPUs ----

  /** Charge the running task's time to its slice and records. */
  private charge(c: ExtCpu): void {
    const t = c.curr;
    if (!t) return;
    const delta = this.q.now - c.since;
    c.since = this.q.now;
    if (delta <= 0) return;
    t.record.runtime += delta;
    t.remaining -= delta;
    t.task.addExecRuntime(delta);
    c.busy += delta;
    const s = t.task.slice;
    if (s !== SCX_SLICE_INF) t.task.slice = s > BigInt(delta) ? s - BigInt(delta) : 0n;
  }

  private tick(cpu: number): void {
    const c = this.cpus[cpu];
    if (!c.curr) return;
    this.charge(c);
    if (this.ops.has('tick')) this.callback('tick', cpu, c.curr, c.curr.task.addr);
    if (c.curr && c.curr.task.slice === 0n) this.resched(cpu);
  }

  private burstEnd(cpu: number): void {
    const c = this.cpus[cpu];
    c.burstEvent = -1;
    this.charge(c);
    const t = c.curr!;
    const next = this.advance(t);
    if (next === 'run') {
      this.armBurst(c);
      return;
    }
    // The task blocks: stopping(false), quiescent(SLEEP), and the CPU picks again.
    t.state = next === 'exit' ? 'exited' : 'sleeping';
    t.record.exited = next === 'exit';
    if (this.ops.has('stopping')) this.callback('stopping', cpu, t, t.task.addr, 0);
    if (this.ops.has('quiescent')) this.callback('quiescent', cpu, t, t.task.addr, Number(SCX_DEQ_SLEEP));
    c.curr = undefined;
    c.idleSince = this.q.now;
    this.pick(cpu);
  }

  /** §6.1. */
  private pick(cpu: number): void {
    const c = this.cpus[cpu];
    this.charge(c);
    const prev = c.curr;
    const keepPrev = () => prev !== undefined && prev.task.slice > 0n;
    if (keepPrev()) return this.armBurst(c);
    let next = this.takeLocalOrGlobal(c);
    if (!next && this.ops.has('dispatch')) {
      for (let loops = SCX_DSP_MAX_LOOPS; loops > 0 && !next; loops--) {
        this.dispatchBuffer = [];
        const movedBefore = c.local.length;
        this.callback('dispatch', cpu, undefined, cpu, prev ? prev.task.addr : 0);
        const produced = this.flushDispatch() + (c.local.length - movedBefore);
        if (keepPrev()) return this.armBurst(c);
        next = this.takeLocalOrGlobal(c);
        if (produced === 0) break;
      }
    }
    if (!next) {
      if (prev) {
        // Nothing else to run: prev continues with a fresh slice, no callbacks.
        prev.task.slice = SCX_SLICE_DFL;
        return this.armBurst(c);
      }
      this.idle.setIdle(cpu, true);
      return;
    }
    if (next.task.slice === 0n) next.task.slice = SCX_SLICE_DFL;
    if (prev) {
      // prev's slice ran out: stopping(true), then back through enqueue.
      if (this.ops.has('stopping')) this.callback('stopping', cpu, prev, prev.task.addr, 1);
      prev.state = 'queued';
      prev.runnableSince = this.q.now;
      c.curr = undefined;
      this.enqueue(prev, 0n);
    } else {
      c.idle += this.q.now - c.idleSince;
    }
    this.idle.setIdle(cpu, false);
    c.curr = next;
    c.since = this.q.now;
    c.switches++;
    next.state = 'running';
    next.record.switches++;
    next.record.wait += this.q.now - next.runnableSince;
    if (next.wokeAt >= 0) {
      next.record.wakeupLatency.push(this.q.now - next.wokeAt);
      next.wokeAt = -1;
    }
    if (this.ops.has('running')) this.callback('running', cpu, next, next.task.addr);
    this.armBurst(c);
  }

  private takeLocalOrGlobal(c: ExtCpu): ExtTask | undefined {
    const local = c.local.shift();
    if (local) return local;
    const g = this.global.takeFirstFor(c.id);
    if (g) {
      if (g.cpu !== c.id) g.record.migrations++;
      g.cpu = c.id;
    }
    return g;
  }

  private armBurst(c: ExtCpu): void {
    if (c.burstEvent >= 0) this.q.cancel(c.burstEvent);
    c.burstEvent = c.curr ? this.q.schedule(this.q.now + Math.max(0, c.curr.remaining), EV_BURST_END, c.id) : -1;
  }

  private abort(e: unknown): void {
    if (e instanceof SchedulerAbort) {
      this.exitInfo = { kind: e.kind, reason: e.reason, msg: e.message, exitCode: e.exitCode, atNs: this.q.now };
    } else if (e instanceof ProgramFault || e instanceof HelperError) {
      this.exitInfo = { kind: SCX_EXIT_ERROR, reason: 'runtime error', msg: (e as Error).message, exitCode: 0n, atNs: this.q.now };
    } else {
      throw e;
    }
  }
}

/** Marks a buffered or direct insert as vtime-ordered (an internal bit, never from BPF). */
const VTIME_FLAG = 1n << 63n;
