/**
 * The simulated machine: CPUs running tasks of three scheduling classes, in the kernel's order
 * RT > fair > ext (semantics doc §0), on one event queue.
 *
 *  - RT (SCHED_FIFO / SCHED_RR) tasks are interference: per-CPU priority queues, preempting
 *    anything below them, RR rotating every 100 ms among equal priorities.
 *  - The fair class is EEVDF (fair/eevdf.ts) with per-CPU runqueues. It is `builtin:eevdf`, the
 *    class SCHED_NORMAL tasks stay in under SCX_OPS_SWITCH_PARTIAL, and the class every task goes
 *    back to when a sched_ext scheduler is aborted. Its balancer is deliberately simple: a CPU
 *    about to go idle pulls one waiting task from the busiest runqueue it may run (new-idle
 *    balance), and a busy CPU's tick pushes a waiting task to an idle CPU (the nohz kick).
 *  - The ext class follows the semantics doc: the wake-up sequence (§1.3), the pick with the
 *    dispatch loop (§6.1), the enqueue decision (§6.2), slices and ticks (§6.4), kicks, built-in
 *    idle tracking (§6.5), the watchdog and exits with the fall back to the fair class (§6.6),
 *    cpu_release/cpu_acquire when a higher class takes a CPU (§6.8), and BPF timers as events.
 *
 * Ticks run only on busy CPUs (NO_HZ idle), on the global tick grid, so an idle machine costs no
 * events. A run is a pure function of its inputs and seed: the seed feeds bpf_get_prandom_u32.
 *
 * Simplifications (documented in docs/notes.md): no bypass period before the switch back (the
 * teardown runs right after the event in which the error was raised), cgroups without group
 * scheduling in the fair class and without moves or weight changes, no hot-plug,
 * no property changes during a run (so ops.dequeue never fires: in 6.12 it only does for a
 * BPF-owned task taken off the runqueue, which needs one), no core scheduling.
 */
import type { HelperCall, HelperFn } from '../bpf/helpers.ts';
import { HelperError } from '../bpf/helpers.ts';
import { allocKernelWords, type TimerService, type TimerState } from '../bpf/kernel-helpers.ts';
import { ProgramFault } from '../bpf/loader.ts';
import { AddressSpace } from '../bpf/memory.ts';
import { bpfFormat, readCString } from '../bpf/printf.ts';
import { fieldOf } from '../bpf/ctypes.ts';
import { ScxError } from '../util/errors.ts';
import { EventQueue } from './engine.ts';
import { LatencyStats } from './latency.ts';
import { FairRunqueue, baseSlice, calcDeltaFair, type FairEntity } from './fair/eevdf.ts';
import { scxExitInfo, scxInitTaskArgs, scxCpuReleaseArgs, scxDumpCtx, scxCgroupInitArgs } from './kernel-types.ts';
import { CgroupTree, type Cgroup } from './cgroup.ts';
import { CPUMASK_BYTES } from '../bpf/kfuncs/types.ts';
import { Rng } from './random.ts';
import { checkTask, type CgroupSpec, type ChildTask, type CpuRecord, type Phase, type Policy, type SimTask, type TaskRecord, type TaskSource } from './spec.ts';
import { SCHED_BATCH, SCHED_EXT, SCHED_FIFO, SCHED_IDLE, SCHED_NORMAL, SCHED_RR, TaskTable, type Task } from './task.ts';
import type { Topology } from './topology.ts';
import { WEIGHT_IDLEPRIO, niceToWeight } from './weights.ts';
import { checkKfuncContext, type KernelFlavour } from './ext/context.ts';
import {
  Dsq,
  SCX_DSQ_GLOBAL,
  SCX_DSQ_LOCAL_ON,
  SCX_ENQ_HEAD,
  enqPreempt,
  SCX_EXIT_ERROR,
  SchedulerAbort,
  describeDsq,
} from './ext/dsq.ts';
import { IdleTracker } from './ext/idle.ts';
import type { KernelMemory, SchedExtOps } from './ext/ops.ts';

/*
 * Flags, DSQ ids and slices are numbers on the hot path, not BigInt: enq_flags stop at bit 41
 * (exact in a double), DSQ ids travel as their u32 halves, and slices as ns with Infinity for
 * SCX_SLICE_INF (Task.sliceNs).
 */
export const SCX_SLICE_DFL = 20_000_000;
export const SCX_OPS_SWITCH_PARTIAL = 8n;
const SCX_ENQ_WAKEUP = 1;
const SCX_ENQ_LAST = 2 ** 41;
const SCX_ENQ_CPU_SELECTED = 0x400;
const SCX_ENQ_REENQ = 2 ** 40;
/** Bits 56-63 are the kernel's own: BPF passing any is an error. */
const SCX_ENQ_INTERNAL_HI = 0xff00_0000;
const SCX_DEQ_SLEEP = 1;
const SCX_WAKE_FORK = 4;
const SCX_WAKE_TTWU = 8;
const SCX_KICK_IDLE = 1;
const SCX_KICK_PREEMPT = 2;
const SCX_OPS_ENQ_LAST = 2n;
/** High halves of the built-in DSQ ids: SCX_DSQ_FLAG_BUILTIN, and with SCX_DSQ_FLAG_LOCAL_ON. */
const DSQ_BUILTIN_HI = 0x8000_0000;
const DSQ_LOCAL_ON_HI = 0xc000_0000;
const DSQ_GLOBAL_LO = 1;
const DSQ_LOCAL_LO = 2;
const SCX_EXIT_ERROR_BPF = 1025;
const SCX_EXIT_UNREG_BPF = 65;
const SCX_EXIT_ERROR_STALL = 1026;
const SCX_DSP_MAX_LOOPS = 32;
const SCX_CPU_PREEMPT_RT = 0;
const SCX_CPU_PREEMPT_UNKNOWN = 3;
const SCX_EXIT_MSG_LEN = 1024;
const SCX_TASK_QUEUED = 1;
const INIT_TASK_CGROUP = fieldOf(scxInitTaskArgs, 'cgroup').offset;
const CGROUP_INIT_WEIGHT = fieldOf(scxCgroupInitArgs, 'weight').offset;
const RR_TIMESLICE_NS = 100_000_000;
/** Steps a program may take without using time before it is called a loop that takes none. */
const MAX_STEPS_WITHOUT_TIME = 100_000;
const SCX_DSQ_ITER_REV = 1 << 16;
const SCX_PICK_IDLE_CORE = 1;
const SCX_CPUPERF_ONE = 1024;
const EINVAL = 22;
const ENOENT = 2;

/** Scheduling classes, highest first. */
const CLS_RT = 0;
const CLS_FAIR = 1;
const CLS_EXT = 2;

const EV_ARRIVE = 0;
const EV_WAKE = 1;
const EV_TICK = 2;
const EV_BURST_END = 3;
const EV_RESCHED = 4;
const EV_WATCHDOG = 5;
const EV_TIMER = 6;

const POLICY: Record<Policy, number> = { normal: SCHED_NORMAL, batch: SCHED_BATCH, idle: SCHED_IDLE, ext: SCHED_EXT, fifo: SCHED_FIFO, rr: SCHED_RR };

export class SimError extends ScxError {}

export interface ExitInfo {
  kind: number;
  reason: string;
  msg: string;
  exitCode: bigint;
  atNs: number;
  /** Error exits: the debug dump (machine state, plus what the dump callbacks wrote). */
  dump?: string;
}

type ThreadState = 'new' | 'sleeping' | 'queued' | 'running' | 'exited';

/** A fair-class entity that knows its task (runqueues hand back entities). */
interface ThreadEntity extends FairEntity {
  readonly thread: Thread;
}

/** A task of the run: its behaviour, its kernel task_struct, and its place in the machine. */
class Thread {
  cls = CLS_FAIR;
  cpu = -1;
  state: ThreadState = 'new';
  /** The program counter: a stack of (step list, next index, iterations left). */
  readonly frames: { phases: readonly Phase[]; index: number; left: number }[];
  /** Periodic timer state: activations so far and the nominal time of the current one. */
  activations = 0;
  activation = 0;
  runtimeAtActivation = 0;
  /** Consecutive yields with no work between them (a program that only yields is an error). */
  idleYields = 0;
  remaining = 0;
  runnableSince = 0;
  wokeAt = -1;
  /** Set while the ext scheduler has enabled the task (enable/disable pair). */
  enabled = false;
  /** Where the record sits in the run's result. */
  recordIndex = 0;
  /** The task's cgroup (the root when it names none). */
  cgroup!: Cgroup;
  /** RR time left at this priority. */
  rrLeft = RR_TIMESLICE_NS;
  /** The DSQ holding the task (maintained by Dsq). */
  dsq: Dsq<Thread> | undefined = undefined;
  /** A direct insert requested from select_cpu/enqueue, executed when the callback returns. */
  ddspHi = 0;
  ddspLo = 0;
  ddspFlags = 0;
  ddspVtime = false;
  hasDdsp = false;
  readonly entity: FairEntity;
  readonly rtPrio: number;

  constructor(
    readonly slot: number,
    readonly spec: SimTask,
    readonly task: Task,
    readonly record: TaskRecord,
    fairSlice: number,
  ) {
    // SCHED_IDLE tasks weigh WEIGHT_IDLEPRIO whatever their nice, as in the kernel.
    const weight = spec.policy === 'idle' ? WEIGHT_IDLEPRIO : niceToWeight(spec.nice ?? 0);
    const entity: ThreadEntity = { id: spec.pid, weight, vruntime: 0, deadline: 0, vlag: 0, slice: fairSlice, thread: this };
    this.entity = entity;
    this.rtPrio = spec.rtPriority ?? 0;
    this.frames = [{ phases: spec.phases, index: 0, left: spec.loops ?? Infinity }];
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

  get dsqVtimeHi(): number {
    return this.task.dsqVtimeHi;
  }

  get dsqVtimeLo(): number {
    return this.task.dsqVtimeLo;
  }
}

/** A DSQ id as a Map key: the exact number below 2^53, a string above. */
const dsqKey = (hi: number, lo: number): number | string => (hi < 0x20_0000 ? hi * 0x1_0000_0000 + lo : `${hi}:${lo}`);
const dsqId = (hi: number, lo: number): bigint => (BigInt(hi) << 32n) | BigInt(lo);

interface Cpu {
  id: number;
  local: Dsq<Thread>;
  rq: FairRunqueue;
  /** Queued RT tasks, highest priority first, FIFO within a priority. */
  rt: Thread[];
  curr: Thread | undefined;
  /** When curr's run time was last charged. */
  since: number;
  burstEvent: number;
  /** What burstEvent was armed for. */
  burstTask: Thread | undefined;
  burstAt: number;
  tickEvent: number;
  reschedPending: boolean;
  /** cpu_release was sent and no ext pick has happened since (cpu_acquire is due). */
  released: boolean;
  /** The task the trace last showed running here. */
  traced: Thread | undefined;
  /** The ext task that just blocked here: dispatch's `prev`. */
  blockedPrev: Thread | undefined;
  /** The CPU runs nothing since idleSince. */
  idleNow: boolean;
  idleSince: number;
  record: CpuRecord;
}

export interface MachineOptions {
  hz?: number;
  /** Kernel flavour for the kfunc rules (6.12 names or newer ones). */
  flavour?: KernelFlavour;
  /** Seeds bpf_get_prandom_u32 (and anything else random the machine draws). */
  seed?: number;
  /** Check placement invariants after every event (tests; costs O(tasks) per event). */
  checkInvariants?: boolean;
  /** Receives the record of each task when it exits; such records are not kept in the result. */
  onTaskExit?: (record: TaskRecord) => void;
  /** Called every `everyNs` of simulated time (progress bars, memory probes, timelines). */
  progress?: { everyNs: number; report: (nowNs: number, busyNs: number) => void };
  /** Keep the event log (wake-ups, switches, migrations, exits, the scheduler's exit). */
  trace?: boolean;
  /** The cgroups that exist from the start, with their weights (spec.ts CgroupSpec). */
  cgroups?: readonly CgroupSpec[];
}

/**
 * One entry of the event log. A switch names the task leaving the CPU (0: the CPU was idle) and
 * what became of it: 'queued' (preempted, still runnable), 'sleeping', 'exited' or 'idle'.
 */
export type TraceEvent =
  | { at: number; type: 'wakeup'; pid: number; cpu: number; class: 'rt' | 'fair' | 'ext'; by: number }
  | { at: number; type: 'kick'; cpu: number; from: number; flags: number }
  | { at: number; type: 'dsq'; dsq: string; depth: number }
  | { at: number; type: 'switch'; cpu: number; prev: number; prevState: string; next: number }
  | { at: number; type: 'migrate'; pid: number; from: number; to: number }
  | { at: number; type: 'exit'; pid: number }
  | { at: number; type: 'scheduler-exit'; kind: number; reason: string; msg: string };

const CLASS_NAMES = ['rt', 'fair', 'ext'] as const;

/** What the glue gives the machine about a BPF object besides its ops. */
export interface ExtHooks {
  /** A task_struct is freed: drop what BPF keeps for it (task local storage). */
  taskFreed?(addr: number): void;
  /** Run a BPF timer's callback; returns the instructions it executed. */
  fireTimer?(timer: TimerState): number;
}

export interface RunResult {
  durationNs: number;
  /** Set when the sched_ext scheduler was aborted; the run went on in the fair class. */
  exit: ExitInfo | undefined;
  tasks: TaskRecord[];
  cpus: CpuRecord[];
  callbacks: Record<string, number>;
  bpfInsns: number;
  /** Event-queue events handled. */
  events: number;
  trace?: TraceEvent[];
}

export class Machine {
  private km!: KernelMemory;
  private ops: SchedExtOps | undefined;
  private hooks: ExtHooks = {};
  private tasks!: TaskTable;
  readonly q = new EventQueue();
  private readonly rng: Rng;
  private readonly hz: number;
  private readonly tickNs: number;
  private readonly fairSlice: number;
  readonly flavour: KernelFlavour;
  private readonly global = new Dsq<Thread>(SCX_DSQ_GLOBAL, true);
  private readonly user = new Map<number | string, Dsq<Thread>>();
  private cpus: Cpu[] = [];
  private idle: IdleTracker;
  /** Live tasks by slot (slots of exited tasks are reused). */
  private threads: (Thread | undefined)[] = [];
  private freeSlots: number[] = [];
  private byAddr = new Map<number, Thread>();
  private records: TaskRecord[] = [];
  private nrFair = 0;
  /** Events tasks wait on and post to, by name. */
  private readonly namedEvents = new Map<string, { tokens: number; waiters: Thread[] }>();
  /** The largest pid so far: forked children take the next ones. */
  private maxPid = 0;
  /** CPUs running nothing: when 0, the searches for an idle CPU can be skipped. */
  private nrIdleCpus = 0;
  private extOn = false;
  private switchPartial = false;
  private teardownDue = false;
  /** The callback running now, its CPU, and (enqueue paths) the task it is about. */
  private ctxCallback = '';
  private ctxCpu = 0;
  private ctxTask: Thread | undefined = undefined;
  private dispatchBuf: Thread[] = [];
  private dispatchHi: number[] = [];
  private dispatchLo: number[] = [];
  private dispatchFlags: number[] = [];
  private dispatchVtime: boolean[] = [];
  private dispatchLen = 0;
  private exitInfo: ExitInfo | undefined;
  private readonly callbacks: Record<string, number> = {};
  private bpfInsns = 0;
  private events = 0;
  private source: TaskSource | undefined;
  private lastArrival = 0;
  private nextSpecIndex = 0;
  private readonly timerEvents = new Map<TimerState, number>();
  private readonly timerById: TimerState[] = [];
  private runningTimer: TimerState | undefined;
  private hasCb: Record<string, boolean> = {};
  private argsAddr = { initTask: 0, exitTask: 0, cpuRelease: 0, cpuAcquire: 0, exitInfo: 0, reason: 0, msg: 0, dumpCtx: 0, cgroupInit: 0 };
  private cgroups!: CgroupTree;
  private readonly cgroupSpecs: readonly CgroupSpec[];
  private readonly checkInvariants: boolean;
  /** Live DSQ iterators, by the address of their bpf_iter_scx_dsq. */
  private readonly iters = new Map<number, { dsq: Dsq<Thread>; tasks: Thread[]; pos: number; slice: [number, number] | undefined; vtime: [number, number] | undefined }>();
  /** Kernel cpumasks handed to BPF. */
  private masks = { idle: 0, idleSmt: 0, possible: 0 };
  /** The cpumask a pick kfunc was given, and one closure testing it. */
  private maskAddr = 0;
  private readonly inMask = (cpu: number) => ((this.km.mem.bytes[this.maskAddr + (cpu >> 3)] >> (cpu & 7)) & 1) === 1;
  private perf: Int32Array;
  private dumpText = '';
  /** The task a default CPU selection is for, and one closure testing its affinity. */
  private selecting: Thread | undefined;
  private readonly selectingAllows = (cpu: number) => this.selecting!.allows(cpu);
  private readonly onTaskExit: ((r: TaskRecord) => void) | undefined;
  private readonly progress: MachineOptions['progress'];
  private readonly trace: TraceEvent[] | undefined;

  constructor(
    readonly topo: Topology,
    o: MachineOptions = {},
  ) {
    this.hz = o.hz ?? 1000;
    if (!Number.isInteger(this.hz) || this.hz < 1 || this.hz > 10_000) throw new SimError(`HZ ${this.hz}: expected an integer from 1 to 10000`);
    this.tickNs = Math.round(1e9 / this.hz);
    this.flavour = o.flavour ?? 'newer';
    this.rng = new Rng(o.seed ?? 1);
    this.checkInvariants = o.checkInvariants ?? false;
    this.onTaskExit = o.onTaskExit;
    this.progress = o.progress;
    this.trace = o.trace ? [] : undefined;
    this.cgroupSpecs = o.cgroups ?? [];
    this.watch(this.global);
    this.fairSlice = baseSlice(topo.nrCpus);
    this.idle = new IdleTracker(topo);
    this.perf = new Int32Array(topo.nrCpus).fill(SCX_CPUPERF_ONE);
  }

  /** With the event log on, log a DSQ's depth whenever it changes. */
  private watch(d: Dsq<Thread>): Dsq<Thread> {
    const trace = this.trace;
    if (trace) d.onChange = (x) => trace.push({ at: this.q.now, type: 'dsq', dsq: describeDsq(x.id), depth: x.length });
    return d;
  }

  /** The machine as BPF programs see it (the loader's Machine). */
  bpfMachine(): { nrCpus: number; currentCpu(): number; random(): number; trace(line: string): void; timers: TimerService; isTask(addr: number): boolean } {
    return {
      nrCpus: this.topo.nrCpus,
      currentCpu: () => this.ctxCpu,
      random: () => this.rng.u32(),
      trace: () => {},
      timers: {
        arm: (t, at, cpu) => this.armTimer(t, at, cpu),
        disarm: (t) => this.disarmTimer(t),
        running: () => this.runningTimer,
      },
      isTask: (addr) => this.byAddr.has(addr),
    };
  }

  isTask(addr: number): boolean {
    return this.byAddr.has(addr);
  }

  /** Use kernel memory for task_structs without a sched_ext scheduler (builtin:eevdf). */
  attachKernelMemory(km?: KernelMemory): void {
    if (!km) {
      const mem = new AddressSpace();
      km = { mem, words: allocKernelWords(mem) };
    }
    this.km = km;
    this.tasks = new TaskTable(km.mem, this.topo.nrCpus);
    this.nrIdleCpus = this.topo.nrCpus;
    this.cpus = this.topo.cpus.map((c) => ({
      id: c.id,
      local: this.watch(new Dsq<Thread>(SCX_DSQ_LOCAL_ON | BigInt(c.id), true)),
      rq: new FairRunqueue(),
      rt: [],
      curr: undefined,
      since: 0,
      burstEvent: -1,
      burstTask: undefined,
      burstAt: -1,
      tickEvent: -1,
      reschedPending: false,
      released: false,
      blockedPrev: undefined,
      traced: undefined,
      idleNow: true,
      idleSince: 0,
      record: { cpu: c.id, busy: 0, idle: 0, switches: 0 },
    }));
    const alloc = (name: string, size: number) => km.mem.alloc(name, size).start;
    this.argsAddr = {
      initTask: alloc('scx_init_task_args', scxInitTaskArgs.size),
      exitTask: alloc('scx_exit_task_args', 8),
      cpuRelease: alloc('scx_cpu_release_args', scxCpuReleaseArgs.size),
      cpuAcquire: alloc('scx_cpu_acquire_args', 8),
      exitInfo: alloc('scx_exit_info', scxExitInfo.size),
      reason: alloc('scx_exit_info reason', 128),
      msg: alloc('scx_exit_info msg', SCX_EXIT_MSG_LEN),
      dumpCtx: alloc('scx_dump_ctx', scxDumpCtx.size),
      cgroupInit: alloc('scx_cgroup_init_args', scxCgroupInitArgs.size),
    };
    try {
      this.cgroups = new CgroupTree(km.mem, this.cgroupSpecs);
    } catch (e) {
      throw e instanceof ScxError ? new SimError(e.message) : e;
    }
    this.masks = { idle: alloc('idle cpumask', CPUMASK_BYTES), idleSmt: alloc('idle smt cpumask', CPUMASK_BYTES), possible: alloc('possible cpumask', CPUMASK_BYTES) };
    for (let cpu = 0; cpu < this.topo.nrCpus; cpu++) km.mem.bytes[this.masks.possible + (cpu >> 3)] |= 1 << (cpu & 7);
  }

  /** Load a sched_ext scheduler: its tasks are the ones arriving after this. */
  attach(km: KernelMemory, ops: SchedExtOps, hooks: ExtHooks = {}): void {
    this.attachKernelMemory(km);
    this.ops = ops;
    this.hooks = hooks;
    this.extOn = true;
    this.switchPartial = (ops.flags & SCX_OPS_SWITCH_PARTIAL) !== 0n;
    for (const cb of ['select_cpu', 'enqueue', 'dispatch', 'tick', 'runnable', 'running', 'stopping', 'quiescent', 'update_idle', 'cpu_acquire', 'cpu_release', 'init_task', 'exit_task', 'enable', 'disable', 'set_weight', 'set_cpumask', 'yield', 'init', 'exit', 'dump', 'dump_cpu', 'dump_task', 'cgroup_init', 'cgroup_exit']) {
      this.hasCb[cb] = ops.has(cb);
    }
  }

  // ---- the kfuncs ----

  /** The sched_ext kfuncs, bound to this machine (give them to SimKernel's `scx`). */
  kfuncs(): Record<string, HelperFn> {
    const insert = (vtime: boolean) => (c: HelperCall) => {
      this.allow(vtime ? 'scx_bpf_dsq_insert_vtime' : 'scx_bpf_dsq_insert');
      const t = this.taskArg(c, 1);
      // slice 0 keeps the current slice, and a current slice of 0 becomes 1 ns.
      if (c.hi(3) !== 0 || c.lo(3) !== 0) t.task.setSliceWords(c.hi(3), c.lo(3));
      else if (t.task.sliceNs === 0) t.task.sliceNs = 1;
      if (vtime) t.task.setDsqVtimeWords(c.hi(4), c.lo(4));
      this.insert(t, c.hi(2), c.lo(2), this.enqFlagsArg(c, vtime ? 5 : 4), vtime);
      return 0;
    };
    const moveToLocal = (c: HelperCall) => {
      this.allow('scx_bpf_dsq_move_to_local');
      this.flushDispatch();
      const dsq = this.user.get(dsqKey(c.hi(1), c.lo(1)));
      if (!dsq) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `scx_bpf_dsq_move_to_local: ${describeDsq(c.u64(1))} does not exist`);
      const cpu = this.ctxCpu;
      const t = dsq.takeFirstFor(cpu);
      if (!t) return 0;
      this.placeLocal(t, cpu, 0);
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
        const key = dsqKey(c.hi(1), c.lo(1));
        if (c.hi(1) & DSQ_BUILTIN_HI) return -22;
        if (this.user.has(key)) return -17;
        this.user.set(key, this.watch(new Dsq<Thread>(c.u64(1), false)));
        return 0;
      },
      scx_bpf_destroy_dsq: (c) => {
        const key = dsqKey(c.hi(1), c.lo(1));
        const d = this.user.get(key);
        if (d && d.length) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot destroy ${describeDsq(d.id)}: it holds ${d.length} tasks`);
        this.user.delete(key);
        return 0;
      },
      scx_bpf_dsq_nr_queued: (c) => {
        const hi = c.hi(1);
        const lo = c.lo(1);
        if (hi === DSQ_BUILTIN_HI && lo === DSQ_LOCAL_LO) return this.cpus[this.ctxCpu].local.length;
        if (hi === DSQ_BUILTIN_HI && lo === DSQ_GLOBAL_LO) return this.global.length;
        if ((hi & DSQ_LOCAL_ON_HI) >>> 0 === DSQ_LOCAL_ON_HI) return this.cpus[lo]?.local.length ?? -2;
        return this.user.get(dsqKey(hi, lo))?.length ?? -2;
      },
      scx_bpf_select_cpu_dfl: (c) => {
        this.allow('scx_bpf_select_cpu_dfl');
        const t = this.taskArg(c, 1);
        this.selecting = t;
        const r = this.idle.selectCpuDfl(this.selectingAllows, c.i32(2), c.num(3));
        c.mem.view.setUint8(c.ptr(4), r.isIdle ? 1 : 0);
        return r.cpu;
      },
      scx_bpf_test_and_clear_cpu_idle: (c) => (this.idle.testAndClear(c.i32(1)) ? 1 : 0),
      scx_bpf_kick_cpu: (c) => {
        this.kick(c.i32(1), c.lo(2));
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
      scx_bpf_dispatch_nr_slots: () => Math.max(0, this.ops!.dispatchMaxBatch - this.dispatchLen),
      scx_bpf_dispatch_cancel: () => {
        if (this.dispatchLen === 0) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', 'scx_bpf_dispatch_cancel with nothing to cancel');
        this.dispatchLen--;
        return 0;
      },
      ...this.iteratorKfuncs(),
      ...this.cpuKfuncs(),
      ...this.cgroupKfuncs(),
    };
  }

  /**
   * scx_bpf_task_cgroup and the cgroup kfuncs of kernel/bpf/helpers.c. Cgroups live for the
   * whole run, so references need no counting: the verifier makes programs release what they
   * acquire, and a release only checks that it is given a cgroup.
   */
  private cgroupKfuncs(): Record<string, HelperFn> {
    const cgroupArg = (c: HelperCall, i: number, kfunc: string): Cgroup => {
      const cg = this.cgroups.at(c.ptr(i));
      if (!cg) throw new HelperError(`${kfunc}: argument r${i} (0x${c.ptr(i).toString(16)}) is not a struct cgroup`);
      return cg;
    };
    return {
      scx_bpf_task_cgroup: (c) => {
        this.allow('scx_bpf_task_cgroup');
        const t = this.taskArg(c, 1);
        // As scx_kf_allowed_on_arg_tasks(): only a task the current callback was given.
        if (t !== this.ctxTask) {
          throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `scx_bpf_task_cgroup: ${t.task.comm}[${t.pid}] is not an argument of ops.${this.ctxCallback}`);
        }
        return t.task.cgroupAddr;
      },
      bpf_cgroup_acquire: (c) => cgroupArg(c, 1, 'bpf_cgroup_acquire').addr,
      bpf_cgroup_release: (c) => (cgroupArg(c, 1, 'bpf_cgroup_release'), 0),
      bpf_cgroup_ancestor: (c) => this.cgroups.ancestor(cgroupArg(c, 1, 'bpf_cgroup_ancestor'), c.i32(2))?.addr ?? 0,
      bpf_cgroup_from_id: (c) => {
        const id = c.u64(1);
        return id >= 1n && id <= 0xffff_ffffn ? (this.cgroups.byId(Number(id))?.addr ?? 0) : 0;
      },
    };
  }

  /** DSQ iterators and moving tasks found with them (§4.2, §4.3). */
  private iteratorKfuncs(): Record<string, HelperFn> {
    const move = (name: string, vtime: boolean) => (c: HelperCall) => {
      this.allow(name);
      const it = this.iters.get(c.ptr(1));
      const t = this.taskArg(c, 2);
      // Only a task still on the iterated DSQ, queued before the iteration began, can move.
      if (!it || t.dsq !== it.dsq || !it.tasks.includes(t)) return 0;
      if (it.slice !== undefined) t.task.setSliceWords(...it.slice);
      if (it.vtime !== undefined) t.task.setDsqVtimeWords(...it.vtime);
      it.slice = undefined;
      it.vtime = undefined;
      it.dsq.remove(t);
      this.execute(t, c.hi(3), c.lo(3), this.enqFlagsArg(c, 4), vtime, this.ctxCpu);
      return 1;
    };
    const setSlice = (name: string) => (c: HelperCall) => {
      this.allow(name);
      const it = this.iters.get(c.ptr(1));
      if (it) it.slice = [c.hi(2), c.lo(2)];
      return 0;
    };
    const setVtime = (name: string) => (c: HelperCall) => {
      this.allow(name);
      const it = this.iters.get(c.ptr(1));
      if (it) it.vtime = [c.hi(2), c.lo(2)];
      return 0;
    };
    return {
      bpf_iter_scx_dsq_new: (c) => {
        const at = c.ptr(1);
        const flags = c.num(3);
        const d = this.user.get(dsqKey(c.hi(2), c.lo(2)));
        if (flags !== 0 && flags !== SCX_DSQ_ITER_REV) {
          this.iters.delete(at);
          return -EINVAL;
        }
        if (!d) {
          this.iters.delete(at);
          return -ENOENT;
        }
        this.iters.set(at, { dsq: d, tasks: d.snapshot(d.seq, flags === SCX_DSQ_ITER_REV), pos: 0, slice: undefined, vtime: undefined });
        return 0;
      },
      bpf_iter_scx_dsq_next: (c) => {
        const it = this.iters.get(c.ptr(1));
        if (!it) return 0;
        while (it.pos < it.tasks.length) {
          const t = it.tasks[it.pos++];
          if (t.dsq === it.dsq) return t.task.addr;
        }
        return 0;
      },
      bpf_iter_scx_dsq_destroy: (c) => {
        this.iters.delete(c.ptr(1));
        return 0;
      },
      scx_bpf_dsq_move: move('scx_bpf_dsq_move', false),
      scx_bpf_dispatch_from_dsq: move('scx_bpf_dispatch_from_dsq', false),
      scx_bpf_dsq_move_vtime: move('scx_bpf_dsq_move_vtime', true),
      scx_bpf_dispatch_vtime_from_dsq: move('scx_bpf_dispatch_vtime_from_dsq', true),
      scx_bpf_dsq_move_set_slice: setSlice('scx_bpf_dsq_move_set_slice'),
      scx_bpf_dispatch_from_dsq_set_slice: setSlice('scx_bpf_dispatch_from_dsq_set_slice'),
      scx_bpf_dsq_move_set_vtime: setVtime('scx_bpf_dsq_move_set_vtime'),
      scx_bpf_dispatch_from_dsq_set_vtime: setVtime('scx_bpf_dispatch_from_dsq_set_vtime'),
      scx_bpf_reenqueue_local: () => {
        this.allow('scx_bpf_reenqueue_local');
        const local = this.cpus[this.ctxCpu].local;
        const tasks: Thread[] = [];
        for (let t = local.shift(); t; t = local.shift()) tasks.push(t);
        for (const t of tasks) this.enqueue(t, SCX_ENQ_REENQ);
        return tasks.length;
      },
    };
  }

  /** Idle CPUs, cpumasks, performance levels, dumps (§4.4, §4.5). */
  private cpuKfuncs(): Record<string, HelperFn> {
    const nr = this.topo.nrCpus;
    const cpuArg = (c: HelperCall, i: number, kfunc: string) => {
      const cpu = c.i32(i);
      if (cpu < 0 || cpu >= nr) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `${kfunc}: invalid CPU ${cpu}`);
      return cpu;
    };
    const maskArg = (c: HelperCall, i: number) => {
      this.maskAddr = c.ptr(i);
      return this.inMask;
    };
    const fill = (at: number, has: (cpu: number) => boolean) => {
      const bytes = this.km.mem.bytes;
      bytes.fill(0, at, at + CPUMASK_BYTES);
      for (let cpu = 0; cpu < nr; cpu++) if (has(cpu)) bytes[at + (cpu >> 3)] |= 1 << (cpu & 7);
      return at;
    };
    const all = this.idle.allCpus;
    return {
      scx_bpf_pick_idle_cpu: (c) => this.idle.pickIdle(all, maskArg(c, 1), (c.lo(2) & SCX_PICK_IDLE_CORE) !== 0),
      scx_bpf_pick_any_cpu: (c) => this.idle.pickAny(all, maskArg(c, 1), (c.lo(2) & SCX_PICK_IDLE_CORE) !== 0),
      scx_bpf_get_idle_cpumask: () => fill(this.masks.idle, (cpu) => this.idle.isIdle(cpu)),
      scx_bpf_get_idle_smtmask: () => fill(this.masks.idleSmt, (cpu) => this.idle.coreIdle(cpu)),
      scx_bpf_put_idle_cpumask: () => 0,
      scx_bpf_get_possible_cpumask: () => this.masks.possible,
      scx_bpf_get_online_cpumask: () => this.masks.possible,
      scx_bpf_put_cpumask: () => 0,
      // A homogeneous machine: every CPU at full capacity.
      scx_bpf_cpuperf_cap: (c) => (cpuArg(c, 1, 'scx_bpf_cpuperf_cap'), SCX_CPUPERF_ONE),
      scx_bpf_cpuperf_cur: (c) => this.perf[cpuArg(c, 1, 'scx_bpf_cpuperf_cur')],
      scx_bpf_cpuperf_set: (c) => {
        const cpu = cpuArg(c, 1, 'scx_bpf_cpuperf_set');
        const perf = c.lo(2) >>> 0;
        if (perf > SCX_CPUPERF_ONE) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `scx_bpf_cpuperf_set: perf ${perf} is above SCX_CPUPERF_ONE (${SCX_CPUPERF_ONE})`);
        this.perf[cpu] = perf;
        return 0;
      },
      scx_bpf_dump_bstr: (c) => {
        this.allow('scx_bpf_dump_bstr');
        this.dumpText += this.bstr(c, 1);
        return 0;
      },
    };
  }

  private allow(kfunc: string): void {
    checkKfuncContext(kfunc, this.ctxCallback, this.flavour);
  }

  private taskArg(c: HelperCall, i: number): Thread {
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

  // ---- the run ----

  run(input: readonly SimTask[] | TaskSource, durationNs: number): RunResult {
    if (!this.km) this.attachKernelMemory();
    const q = this.q;
    if (Array.isArray(input)) {
      // Records keep the input's order; arrivals are taken in time order.
      const specs = input as readonly SimTask[];
      const order = specs.map((_, i) => i).sort((a, b) => specs[a].arrival - specs[b].arrival || a - b);
      let k = 0;
      this.source = { next: () => (k < order.length ? specs[order[k++]] : undefined) };
      const positions = new Map<SimTask, number>();
      order.forEach((i) => positions.set(specs[i], i));
      this.recordIndex = (spec) => positions.get(spec)!;
      // Forked children take pids above every pid of the input, so no later arrival clashes.
      for (const s of specs) if (s.pid > this.maxPid) this.maxPid = s.pid;
    } else {
      this.source = input as TaskSource;
      this.recordIndex = () => this.nextSpecIndex++;
    }
    try {
      if (this.extOn && this.hasCb.init) {
        const rc = this.callback('init', 0, undefined);
        if (rc !== 0) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `ops.init() failed (${rc})`);
      }
      // Then every existing cgroup, parents first, before any task's init_task (scx_enable()).
      if (this.extOn) for (const cg of this.cgroups.all()) this.initCgroup(cg, true);
    } catch (e) {
      this.abort(e);
    }
    if (this.teardownDue) this.teardown();
    this.pullArrival();
    if (this.extOn) q.schedule(this.watchdogPeriod(), EV_WATCHDOG);
    let lastTime = 0;
    let nextProgress = this.progress ? this.progress.everyNs : Infinity;
    while (q.next()) {
      // The run covers [0, duration): an event at the end instant is not part of it.
      if (q.now >= durationNs) break;
      if (q.now >= nextProgress) {
        this.progress!.report(q.now, this.busyNow());
        while (nextProgress <= q.now) nextProgress += this.progress!.everyNs;
      }
      this.events++;
      try {
        this.handle(q.kind, q.a);
      } catch (e) {
        this.abort(e);
      }
      if (this.teardownDue) this.teardown();
      if (this.checkInvariants) {
        if (q.now < lastTime) throw new Error(`time went backwards: ${q.now} < ${lastTime}`);
        lastTime = q.now;
        this.verify();
      }
    }
    // Close the books at the end of the run.
    const end = durationNs;
    q.now = Math.max(q.now, end);
    for (const c of this.cpus) {
      if (c.curr) {
        const delta = end - c.since;
        c.curr.record.runtime += delta;
        c.record.busy += delta;
      }
      if (c.idleNow) c.record.idle += end - c.idleSince;
    }
    for (const t of this.threads) if (t && t.state === 'queued') t.record.wait += end - t.runnableSince;
    return {
      durationNs: end,
      exit: this.exitInfo,
      tasks: this.records.filter((r) => r !== undefined),
      cpus: this.cpus.map((c) => c.record),
      callbacks: this.callbacks,
      bpfInsns: this.bpfInsns,
      events: this.events,
      ...(this.trace ? { trace: this.trace } : {}),
    };
  }

  private recordIndex: (spec: SimTask) => number = () => 0;

  /** CPU time used on all CPUs up to now (running tasks charged to now, without charging them). */
  private busyNow(): number {
    let busy = 0;
    for (const c of this.cpus) busy += c.record.busy + (c.curr ? this.q.now - c.since : 0);
    return busy;
  }

  private handle(kind: number, a: number): void {
    switch (kind) {
      case EV_ARRIVE:
        this.arrive();
        break;
      case EV_WAKE: {
        const t = this.threads[a]!;
        const next = this.advance(t, false);
        if (next === 'run') this.wake(t, false, this.q.b);
        else if (next === 'exit') this.exitTask(t);
        break;
      }
      case EV_BURST_END:
        this.burstEnd(a);
        break;
      case EV_TICK:
        this.tick(a);
        break;
      case EV_RESCHED:
        this.cpus[a].reschedPending = false;
        this.pick(a);
        break;
      case EV_WATCHDOG:
        if (!this.extOn) break;
        this.watchdog();
        this.q.schedule(this.q.now + this.watchdogPeriod(), EV_WATCHDOG);
        break;
      case EV_TIMER:
        this.fireTimer(a);
        break;
    }
  }

  private watchdogPeriod(): number {
    return Math.floor((this.ops!.timeoutMs * 1e6) / 2);
  }

  // ---- task life ----

  /**
   * Schedule the next arrivals: every task arriving at the same instant at once, so that they
   * all exist before anything they cause at that instant happens (as a list given up front).
   */
  private pullArrival(): void {
    const first = this.lookahead ?? this.nextSpec();
    this.lookahead = undefined;
    if (!first) return;
    this.arriving.push(first);
    this.q.schedule(Math.max(first.arrival, this.q.now), EV_ARRIVE);
    for (;;) {
      const s = this.nextSpec();
      if (!s) return;
      if (s.arrival !== first.arrival) {
        this.lookahead = s;
        return;
      }
      this.arriving.push(s);
      this.q.schedule(Math.max(s.arrival, this.q.now), EV_ARRIVE);
    }
  }

  private nextSpec(): SimTask | undefined {
    const spec = this.source!.next();
    if (!spec) return undefined;
    if (!Number.isSafeInteger(spec.arrival) || spec.arrival < this.lastArrival) {
      throw new SimError(`task ${spec.pid}: arrival ${spec.arrival} ns is before the previous task's (${this.lastArrival} ns); a task source must be in arrival order`);
    }
    this.lastArrival = spec.arrival;
    return spec;
  }

  /** Tasks whose arrival events are scheduled, in order; the first one not yet scheduled. */
  private arriving: SimTask[] = [];
  private arrivingHead = 0;
  private lookahead: SimTask | undefined;

  private arrive(): void {
    const spec = this.arriving[this.arrivingHead++];
    if (this.arrivingHead === this.arriving.length) {
      this.arriving.length = 0;
      this.arrivingHead = 0;
      this.pullArrival();
    }
    this.spawn(spec, spec.pid % this.topo.nrCpus, this.recordIndex(spec));
  }

  /** A task comes into being now: from the workload (`recordIndex` >= 0) or forked (-1). */
  private spawn(spec: SimTask, cpu: number, recordIndex: number, parentCgroup = '/'): void {
    const problem = checkTask(spec);
    if (problem) throw new SimError(`task ${spec.pid}: ${problem}`);
    if (spec.pid > this.maxPid) this.maxPid = spec.pid;
    const policy = POLICY[spec.policy ?? 'normal'];
    if (policy === undefined) throw new SimError(`task ${spec.pid}: unknown policy '${spec.policy}'`);
    const isRt = policy === SCHED_FIFO || policy === SCHED_RR;
    if (isRt && !(Number.isInteger(spec.rtPriority) && spec.rtPriority! >= 1 && spec.rtPriority! <= 99)) {
      throw new SimError(`task ${spec.pid}: a ${spec.policy} task needs rtPriority from 1 to 99, found ${spec.rtPriority}`);
    }
    const cgroup = this.joinCgroup(spec.cgroup ?? parentCgroup);
    const task = this.tasks.create({ pid: spec.pid, comm: spec.comm, nice: spec.nice, cpus: spec.cpus, policy });
    task.sliceNs = SCX_SLICE_DFL;
    task.cgroupAddr = cgroup.addr;
    const slot = this.freeSlots.length ? this.freeSlots.pop()! : this.threads.length;
    const record: TaskRecord = {
      pid: spec.pid,
      comm: spec.comm,
      arrival: this.q.now,
      runtime: 0,
      wait: 0,
      wakeupLatency: new LatencyStats(),
      switches: 0,
      migrations: 0,
      deadlineMisses: 0,
      deadlineChecks: 0,
      exited: false,
      exitedAt: -1,
    };
    const t = new Thread(slot, spec, task, record, this.fairSlice);
    t.recordIndex = recordIndex >= 0 ? recordIndex : this.records.length;
    t.cgroup = cgroup;
    this.records[t.recordIndex] = record;
    t.activation = this.q.now;
    this.threads[slot] = t;
    this.byAddr.set(task.addr, t);
    t.cpu = cpu;
    if (!t.allows(t.cpu)) t.cpu = this.firstAllowed(t);
    if (isRt) t.cls = CLS_RT;
    else if (this.extOn && (policy === SCHED_EXT || !this.switchPartial)) t.cls = CLS_EXT;
    else {
      t.cls = CLS_FAIR;
      this.nrFair++;
    }
    if (t.cls === CLS_EXT) this.enableTask(t, true);
    const next = this.advance(t, false);
    if (next === 'run') this.wake(t, true);
    else if (next === 'exit') this.exitTask(t);
  }

  /** Fork while loaded (§1.2): init_task, then enable and set_weight. */
  private enableTask(t: Thread, fork: boolean): void {
    const view = this.km.mem.view;
    if (this.hasCb.init_task) {
      view.setUint8(this.argsAddr.initTask, fork ? 1 : 0);
      view.setBigUint64(this.argsAddr.initTask + INIT_TASK_CGROUP, BigInt(t.cgroup.addr), true);
      const rc = this.callback('init_task', t.cpu, t, t.task.addr, this.argsAddr.initTask);
      if (rc !== 0) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `ops.init_task() failed (${rc}) for ${t.task.comm}[${t.pid}]`);
    }
    t.enabled = true;
    if (this.hasCb.enable) this.callback('enable', t.cpu, t, t.task.addr);
    if (this.hasCb.set_weight) this.callback('set_weight', t.cpu, t, t.task.addr, t.task.weight);
  }

  /**
   * The cgroup at `path`, created now (with missing parents) if the run did not declare it; a
   * loaded scheduler's cgroup_init sees each new one. A cgroup whose cgroup_init fails is not
   * created (the kernel fails the mkdir): the task joins the closest ancestor that was.
   */
  private joinCgroup(path: string): Cgroup {
    const have = this.cgroups.get(path);
    if (have) return have;
    const created: Cgroup[] = [];
    let cg = this.cgroups.ensure(path, created);
    if (this.extOn) for (const c of created) this.initCgroup(c);
    while (this.extOn && this.hasCb.cgroup_init && !cg.initialized && cg.parent) cg = cg.parent;
    return cg;
  }

  /** ops.cgroup_init(cgrp, {weight}): at load for every cgroup, later for each new one (§1.4). */
  private initCgroup(cg: Cgroup, loading = false): void {
    if (!this.hasCb.cgroup_init) {
      cg.initialized = true;
      return;
    }
    if (cg.parent && !cg.parent.initialized) return;
    this.km.mem.view.setUint32(this.argsAddr.cgroupInit + CGROUP_INIT_WEIGHT, cg.weight, true);
    const rc = this.callback('cgroup_init', 0, undefined, cg.addr, this.argsAddr.cgroupInit);
    if (rc === 0) cg.initialized = true;
    else if (loading) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `ops.cgroup_init() failed (${rc}) for cgroup ${cg.path}`);
  }

  /** Task death or scheduler teardown: disable, then exit_task (§1.2). */
  private disableTask(t: Thread): void {
    if (!t.enabled) return;
    t.enabled = false;
    if (this.hasCb.disable) this.callback('disable', t.cpu, t, t.task.addr);
    if (this.hasCb.exit_task) {
      this.km.mem.view.setUint8(this.argsAddr.exitTask, 0);
      this.callback('exit_task', t.cpu, t, t.task.addr, this.argsAddr.exitTask);
    }
  }

  private firstAllowed(t: Thread): number {
    for (let c = 0; c < this.topo.nrCpus; c++) if (t.allows(c)) return c;
    return t.cpu;
  }

  /**
   * Run the task's program up to its next step that takes time: CPU work ('run', with
   * t.remaining set), blocking ('sleep': a timed sleep, a wait on an event, a periodic timer),
   * the end ('exit'), or sched_yield ('yield', only while the task is on a CPU). Steps that take
   * no time (posts, forks, nice and affinity changes) happen on the way.
   */
  private advance(t: Thread, running: boolean): 'run' | 'sleep' | 'exit' | 'yield' {
    const frames = t.frames;
    for (let steps = 0; ; steps++) {
      if (steps > MAX_STEPS_WITHOUT_TIME) throw new SimError(`task ${t.pid}: its program takes no time, so it would loop forever`);
      const f = frames[frames.length - 1];
      if (f.index >= f.phases.length) {
        if (--f.left > 0) {
          f.index = 0;
          continue;
        }
        if (frames.length === 1) return 'exit';
        frames.pop();
        continue;
      }
      const p: Phase = f.phases[f.index++];
      if ('run' in p) {
        if (p.run <= 0) continue;
        t.remaining = p.run;
        t.idleYields = 0;
        return 'run';
      }
      if ('sleep' in p) {
        if (p.sleep <= 0) continue;
        this.q.schedule(this.q.now + p.sleep, EV_WAKE, t.slot);
        return 'sleep';
      }
      if ('wait' in p) {
        const ev = this.eventNamed(p.wait);
        if (ev.tokens > 0) {
          ev.tokens--;
          continue;
        }
        ev.waiters.push(t);
        return 'sleep';
      }
      if ('post' in p) {
        const ev = this.eventNamed(p.post);
        ev.tokens += p.count ?? 1;
        while (ev.tokens > 0 && ev.waiters.length > 0) {
          ev.tokens--;
          this.q.schedule(this.q.now, EV_WAKE, ev.waiters.shift()!.slot, t.pid);
        }
        continue;
      }
      if ('broadcast' in p) {
        const ev = this.eventNamed(p.broadcast);
        for (const w of ev.waiters) this.q.schedule(this.q.now, EV_WAKE, w.slot, t.pid);
        ev.waiters.length = 0;
        continue;
      }
      if ('timer' in p) {
        // Activations fall on the task's arrival + k * period; the deadline counts from each
        // activation's nominal time, so a late start eats into it.
        // An activation is judged only if it did work (a program may start with its timer).
        if (p.deadline !== undefined && t.record.runtime > t.runtimeAtActivation) {
          t.record.deadlineChecks++;
          if (this.q.now > t.activation + p.deadline) t.record.deadlineMisses++;
        }
        t.runtimeAtActivation = t.record.runtime;
        t.activations++;
        t.activation = t.record.arrival + t.activations * p.timer;
        if (t.activation <= this.q.now) continue; // overran the period: go straight on
        this.q.schedule(t.activation, EV_WAKE, t.slot);
        return 'sleep';
      }
      if ('yield' in p) {
        if (!running) continue;
        if (++t.idleYields > MAX_STEPS_WITHOUT_TIME) throw new SimError(`task ${t.pid}: it yields over and over without running`);
        t.remaining = 0;
        return 'yield';
      }
      if ('exit' in p) return 'exit';
      if ('fork' in p) {
        this.fork(t, p.fork);
        continue;
      }
      if ('nice' in p) {
        this.changeNice(t, p.nice);
        continue;
      }
      if ('cpus' in p) {
        this.changeAffinity(t, p.cpus);
        continue;
      }
      if (p.repeat > 0) frames.push({ phases: p.phases, index: 0, left: p.repeat });
    }
  }

  private eventNamed(name: string): { tokens: number; waiters: Thread[] } {
    let ev = this.namedEvents.get(name);
    if (!ev) {
      ev = { tokens: 0, waiters: [] };
      this.namedEvents.set(name, ev);
    }
    return ev;
  }

  /** A child starts now, on the parent's CPU, as a fork does. */
  private fork(parent: Thread, child: ChildTask): void {
    const pid = ++this.maxPid;
    this.spawn({ ...child, pid, arrival: this.q.now }, parent.cpu, -1, parent.cgroup.path);
  }

  /** A nice change: the weight of the task's class, and set_weight for a sched_ext one. */
  private changeNice(t: Thread, nice: number): void {
    if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new SimError(`task ${t.pid}: nice ${nice}: expected an integer from -20 to 19`);
    t.task.setNice(nice);
    if (t.spec.policy !== 'idle') t.entity.weight = niceToWeight(nice);
    if (t.cls === CLS_EXT && this.hasCb.set_weight) this.callback('set_weight', t.cpu, t, t.task.addr, t.task.weight);
  }

  /**
   * An affinity change: set_cpumask for a sched_ext task. A task on a CPU it may no longer use
   * is moved off it when its current step ends (burstEnd), as the kernel's migration does.
   */
  private changeAffinity(t: Thread, cpus: readonly number[]): void {
    for (const c of cpus) {
      if (!Number.isInteger(c) || c < 0 || c >= this.topo.nrCpus) throw new SimError(`task ${t.pid}: CPU ${c} does not exist on ${this.topo.spec}`);
    }
    if (cpus.length === 0) throw new SimError(`task ${t.pid}: an empty CPU affinity`);
    t.task.setAffinity(cpus);
    if (t.cls === CLS_EXT && this.hasCb.set_cpumask) this.callback('set_cpumask', t.cpu, t, t.task.addr, t.task.cpusPtr);
  }

  /** A task becomes runnable (created, or woken after a sleep). */
  /** `by`: the pid of the task whose post or broadcast woke it (0: a timer, a sleep ending, a fork). */
  private wake(t: Thread, fork: boolean, by = 0): void {
    t.state = 'queued';
    t.runnableSince = this.q.now;
    t.wokeAt = this.q.now;
    this.trace?.push({ at: this.q.now, type: 'wakeup', pid: t.pid, cpu: t.cpu, class: CLASS_NAMES[t.cls], by });
    if (t.cls === CLS_EXT) this.wakeExt(t, fork ? SCX_WAKE_FORK : SCX_WAKE_TTWU);
    else if (t.cls === CLS_FAIR) this.wakeFair(t, fork);
    else this.wakeRt(t);
  }

  private moveTo(t: Thread, cpu: number): void {
    if (cpu !== t.cpu && t.record.switches > 0) {
      t.record.migrations++;
      this.trace?.push({ at: this.q.now, type: 'migrate', pid: t.pid, from: t.cpu, to: cpu });
    }
    t.cpu = cpu;
  }

  private exitTask(t: Thread): void {
    this.trace?.push({ at: this.q.now, type: 'exit', pid: t.pid });
    t.state = 'exited';
    t.record.exited = true;
    t.record.exitedAt = this.q.now;
    if (t.cls === CLS_FAIR) this.nrFair--;
    if (t.cls === CLS_EXT) this.disableTask(t);
    this.byAddr.delete(t.task.addr);
    this.hooks.taskFreed?.(t.task.addr);
    this.tasks.free(t.task);
    this.threads[t.slot] = undefined;
    this.freeSlots.push(t.slot);
    if (this.onTaskExit) {
      this.onTaskExit(t.record);
      this.records[t.recordIndex] = undefined as unknown as TaskRecord;
    }
  }

  // ---- RT ----

  private wakeRt(t: Thread): void {
    const cpu = this.selectRtCpu(t);
    this.moveTo(t, cpu);
    const c = this.cpus[cpu];
    this.rtInsert(c, t, false);
    if (!c.curr || c.curr.cls !== CLS_RT || c.curr.rtPrio < t.rtPrio) this.pick(cpu);
  }

  /** prev's CPU unless an RT task of at least its priority holds it; then a CPU free of RT. */
  private selectRtCpu(t: Thread): number {
    const free = (c: number) => t.allows(c) && this.cpus[c].rt.length === 0 && !(this.cpus[c].curr?.cls === CLS_RT && this.cpus[c].curr!.rtPrio >= t.rtPrio);
    if (free(t.cpu)) return t.cpu;
    for (let c = 0; c < this.cpus.length; c++) if (free(c) && !this.cpus[c].curr) return c;
    for (let c = 0; c < this.cpus.length; c++) if (free(c)) return c;
    return t.cpu;
  }

  private rtInsert(c: Cpu, t: Thread, head: boolean): void {
    const q = c.rt;
    let i = 0;
    while (i < q.length && (q[i].rtPrio > t.rtPrio || (!head && q[i].rtPrio === t.rtPrio))) i++;
    q.splice(i, 0, t);
  }

  // ---- fair ----

  private wakeFair(t: Thread, initial: boolean): void {
    const cpu = this.selectFairCpu(t);
    this.moveTo(t, cpu);
    const c = this.cpus[cpu];
    this.charge(c);
    c.rq.enqueue(t.entity, initial);
    const curr = c.curr;
    if (!curr || curr.cls === CLS_EXT || (curr.cls === CLS_FAIR && c.rq.shouldPreempt(t.entity))) this.pick(cpu);
  }

  private cpuIdle(c: Cpu): boolean {
    return c.curr === undefined && c.rq.nrRunning === 0 && c.rt.length === 0 && c.local.length === 0;
  }

  /** prev's CPU if idle, else an idle CPU in its LLC, else any idle CPU, else the least loaded. */
  private selectFairCpu(t: Thread): number {
    const cpus = this.cpus;
    if (this.nrIdleCpus > 0) {
      if (t.cpu >= 0) {
        if (t.allows(t.cpu) && this.cpuIdle(cpus[t.cpu])) return t.cpu;
        for (const c of this.topo.llcCpus[this.topo.cpus[t.cpu].llc]) if (t.allows(c) && this.cpuIdle(cpus[c])) return c;
      }
      for (let c = 0; c < cpus.length; c++) if (t.allows(c) && this.cpuIdle(cpus[c])) return c;
    }
    let best = -1;
    for (let c = 0; c < cpus.length; c++) {
      if (t.allows(c) && (best < 0 || cpus[c].rq.nrRunning < cpus[best].rq.nrRunning)) best = c;
    }
    return best;
  }

  /** New-idle balance: idle CPU `cpu` takes one waiting fair task from the busiest runqueue. */
  private pullFair(cpu: number): Thread | undefined {
    let from = -1;
    let pick: Thread | undefined;
    for (let o = 0; o < this.cpus.length; o++) {
      const queued = this.cpus[o].rq.queued;
      if (o === cpu || queued.length === 0 || (from >= 0 && queued.length <= this.cpus[from].rq.queued.length)) continue;
      for (let i = 0; i < queued.length; i++) {
        const t = this.threadOf(queued[i]);
        if (t.allows(cpu)) {
          from = o;
          pick = t;
          break;
        }
      }
    }
    if (!pick) return undefined;
    this.cpus[from].rq.dequeueSleep(pick.entity);
    this.moveTo(pick, cpu);
    this.cpus[cpu].rq.enqueue(pick.entity, false);
    return pick;
  }

  /** The nohz kick: a busy CPU with waiting fair tasks hands one to an idle CPU that may run it. */
  private pushFair(c: Cpu): void {
    if (this.nrIdleCpus === 0) return;
    const queued = c.rq.queued;
    for (let i = 0; i < queued.length; i++) {
      const t = this.threadOf(queued[i]);
      for (let o = 0; o < this.cpus.length; o++) {
        if (o === c.id || !t.allows(o) || !this.cpuIdle(this.cpus[o])) continue;
        c.rq.dequeueSleep(t.entity);
        this.moveTo(t, o);
        this.cpus[o].rq.enqueue(t.entity, false);
        this.pick(o);
        return;
      }
    }
  }

  private threadOf(e: FairEntity): Thread {
    return (e as ThreadEntity).thread;
  }

  // ---- ext: wake-up and enqueue ----

  /** §1.3 steps 1-4. */
  private wakeExt(t: Thread, wakeFlags: number): void {
    const prev = t.cpu;
    let cpu = prev;
    t.hasDdsp = false;
    let selected = false;
    if (t.task.nrCpusAllowed > 1) {
      selected = true;
      if (this.hasCb.select_cpu) {
        cpu = this.callback('select_cpu', prev, t, t.task.addr, prev, Number(wakeFlags));
        if (cpu < 0 || cpu >= this.topo.nrCpus) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `select_cpu returned invalid CPU ${cpu}`);
        if (!t.allows(cpu)) cpu = this.firstAllowed(t);
      } else {
        this.selecting = t;
        const r = this.idle.selectCpuDfl(this.selectingAllows, prev, wakeFlags);
        cpu = r.cpu;
        if (r.isIdle) {
          t.task.sliceNs = SCX_SLICE_DFL;
          t.hasDdsp = true;
          t.ddspHi = DSQ_BUILTIN_HI;
          t.ddspLo = DSQ_LOCAL_LO;
          t.ddspFlags = 0;
          t.ddspVtime = false;
        }
      }
    } else if (!t.allows(cpu)) cpu = this.firstAllowed(t);
    this.moveTo(t, cpu);
    // §6.9: a fork's enqueue has neither WAKEUP nor CPU_SELECTED.
    const fork = wakeFlags === SCX_WAKE_FORK;
    const enqFlags = fork ? 0 : SCX_ENQ_WAKEUP | (selected && this.flavour === 'newer' ? SCX_ENQ_CPU_SELECTED : 0);
    // p->scx.flags & SCX_TASK_QUEUED: runnable on SCX, from here until quiescent (§3.4).
    t.task.scxFlags |= SCX_TASK_QUEUED;
    if (this.hasCb.runnable) this.callback('runnable', cpu, t, t.task.addr, Number(enqFlags));
    this.enqueue(t, enqFlags);
    // Step 4: the chosen CPU reschedules if it is idle.
    if (!this.cpus[cpu].curr) this.resched(cpu);
  }

  /** §6.2. */
  private enqueue(t: Thread, flags: number): void {
    if (!t.hasDdsp) {
      if (!this.hasCb.enqueue) {
        t.task.sliceNs = SCX_SLICE_DFL;
        this.global.insertFifo(t, 0);
        return;
      }
      this.callback('enqueue', t.cpu, t, t.task.addr, flags);
    }
    if (t.hasDdsp) {
      t.hasDdsp = false;
      this.execute(t, t.ddspHi, t.ddspLo, orFlags(t.ddspFlags, flags), t.ddspVtime, t.cpu);
    }
  }

  /** An enq_flags argument; the kernel's internal bits are an error. */
  private enqFlagsArg(c: HelperCall, i: number): number {
    const hi = c.hi(i);
    if (hi & SCX_ENQ_INTERNAL_HI) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `invalid enq_flags 0x${c.u64(i).toString(16)}`);
    return hi * 0x1_0000_0000 + c.lo(i);
  }

  /** scx_bpf_dsq_insert[_vtime]: direct from select_cpu/enqueue, buffered from dispatch. */
  private insert(t: Thread, hi: number, lo: number, flags: number, vtime: boolean): void {
    const cb = this.ctxCallback;
    if (cb === 'select_cpu' || cb === 'enqueue') {
      if (this.ctxTask !== t || t.hasDdsp) {
        throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `${cb}: scx_bpf_dsq_insert is allowed once, for the task being enqueued`);
      }
      t.hasDdsp = true;
      t.ddspHi = hi;
      t.ddspLo = lo;
      t.ddspFlags = flags;
      t.ddspVtime = vtime;
      return;
    }
    if (this.dispatchLen >= this.ops!.dispatchMaxBatch) {
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', 'dispatch buffer overflow');
    }
    const n = this.dispatchLen++;
    this.dispatchBuf[n] = t;
    this.dispatchHi[n] = hi;
    this.dispatchLo[n] = lo;
    this.dispatchFlags[n] = flags;
    this.dispatchVtime[n] = vtime;
  }

  private flushDispatch(): number {
    const n = this.dispatchLen;
    this.dispatchLen = 0;
    let done = 0;
    for (let i = 0; i < n; i++) {
      const t = this.dispatchBuf[i];
      this.dispatchBuf[i] = undefined as unknown as Thread;
      // Only tasks BPF still owns can be inserted: a running or already queued one is dropped.
      if (t.state !== 'queued' || t.dsq !== undefined || t.cls !== CLS_EXT) continue;
      this.execute(t, this.dispatchHi[i], this.dispatchLo[i], this.dispatchFlags[i], this.dispatchVtime[i], this.ctxCpu);
      done++;
    }
    return done;
  }

  /** Put `t` into the DSQ `dsq` as seen from CPU `cpu` (§2). */
  private execute(t: Thread, hi: number, lo: number, enqFlags: number, vtime: boolean, cpu: number): void {
    const local = hi === DSQ_BUILTIN_HI && lo === DSQ_LOCAL_LO;
    if (local || (hi & DSQ_LOCAL_ON_HI) >>> 0 === DSQ_LOCAL_ON_HI) {
      const target = local ? cpu : lo;
      if (target >= this.topo.nrCpus) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `invalid CPU ${target} in ${describeDsq(dsqId(hi, lo))}`);
      if (!t.allows(target)) {
        this.global.insertFifo(t, 0);
        throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `SCX_DSQ_LOCAL[_ON] target CPU ${target} not allowed for ${t.task.comm}[${t.pid}]`);
      }
      this.placeLocal(t, target, enqFlags);
      if (vtime) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `cannot use vtime ordering on built-in ${describeDsq(dsqId(hi, lo))}`);
      return;
    }
    if (hi === DSQ_BUILTIN_HI && lo === DSQ_GLOBAL_LO) {
      this.global.insertFifo(t, vtime ? 0 : enqFlags);
      if (vtime) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', 'cannot use vtime ordering on built-in SCX_DSQ_GLOBAL');
      return;
    }
    const d = this.user.get(dsqKey(hi, lo));
    if (!d) {
      this.global.insertFifo(t, 0);
      throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `non-existent DSQ 0x${dsqId(hi, lo).toString(16)}`);
    }
    // Like the kernel, no CPU is woken for a shared DSQ: the wake-up's target CPU reschedules
    // (§1.3 step 4), and the scheduler kicks any other CPU it wants to look.
    if (vtime) d.insertVtime(t);
    else d.insertFifo(t, enqFlags);
  }

  private placeLocal(t: Thread, cpu: number, flags: number): void {
    this.moveTo(t, cpu);
    const c = this.cpus[cpu];
    c.local.insertFifo(t, flags);
    if (enqPreempt(flags) && c.curr && c.curr !== t) {
      if (c.curr.cls === CLS_EXT) c.curr.task.sliceNs = 0;
      this.resched(cpu);
    } else if (!c.curr) this.resched(cpu);
  }

  private kick(cpu: number, flags: number): void {
    if (cpu < 0 || cpu >= this.topo.nrCpus) throw new SchedulerAbort(SCX_EXIT_ERROR, 'runtime error', `scx_bpf_kick_cpu: invalid CPU ${cpu}`);
    this.trace?.push({ at: this.q.now, type: 'kick', cpu, from: this.ctxCpu, flags });
    const c = this.cpus[cpu];
    if (flags & SCX_KICK_IDLE && c.curr) return;
    if (flags & SCX_KICK_PREEMPT && c.curr && c.curr.cls === CLS_EXT) c.curr.task.sliceNs = 0;
    this.resched(cpu);
  }

  private resched(cpu: number): void {
    const c = this.cpus[cpu];
    if (c.reschedPending) return;
    c.reschedPending = true;
    this.q.schedule(this.q.now, EV_RESCHED, cpu);
  }

  // ---- CPUs ----

  /** Charge the running task's time to its records, its class, and (ext) its slice. */
  private charge(c: Cpu): void {
    const t = c.curr;
    if (!t) return;
    const delta = this.q.now - c.since;
    c.since = this.q.now;
    if (delta <= 0) return;
    t.record.runtime += delta;
    t.remaining -= delta;
    t.task.addExecRuntime(delta);
    c.record.busy += delta;
    if (t.cls === CLS_EXT) t.task.chargeSlice(delta);
    else if (t.cls === CLS_FAIR) c.rq.updateCurr(delta);
    else t.rrLeft -= delta;
  }

  private tick(cpu: number): void {
    const c = this.cpus[cpu];
    const t = c.curr;
    if (!t) {
      c.tickEvent = -1;
      return;
    }
    c.tickEvent = this.q.schedule(this.q.now + this.tickNs, EV_TICK, cpu);
    this.charge(c);
    if (t.cls === CLS_EXT) {
      if (this.hasCb.tick) this.callback('tick', cpu, t, t.task.addr);
      if (c.curr === t && t.task.sliceNs === 0) this.resched(cpu);
    } else if (t.cls === CLS_FAIR) {
      this.pick(cpu);
      if (c.rq.queued.length > 0) this.pushFair(c);
    } else if (t.spec.policy === 'rr' && t.rrLeft <= 0) {
      t.rrLeft = RR_TIMESLICE_NS;
      if (c.rt.length && c.rt[0].rtPrio === t.rtPrio) this.pick(cpu, true);
    }
  }

  private burstEnd(cpu: number): void {
    const c = this.cpus[cpu];
    c.burstEvent = -1;
    const t = c.curr;
    if (!t) return;
    this.charge(c);
    const next = this.advance(t, true);
    if (next === 'run' || next === 'yield') {
      if (!t.allows(cpu)) return this.migrateOff(c, t);
      if (next === 'yield') return this.yieldCpu(c, t);
      if (t.cls === CLS_FAIR) this.pick(cpu);
      else this.armBurst(c);
      return;
    }
    // The task blocks (or exits): it leaves the CPU, which picks again.
    t.state = next === 'exit' ? 'exited' : 'sleeping';
    if (t.cls === CLS_FAIR) c.rq.dequeueSleep(t.entity);
    c.curr = undefined;
    this.goIdle(c);
    if (t.cls === CLS_EXT) {
      c.blockedPrev = t;
      t.task.scxFlags &= ~SCX_TASK_QUEUED;
      if (this.hasCb.stopping) this.callback('stopping', cpu, t, t.task.addr, 0);
      if (this.hasCb.quiescent) this.callback('quiescent', cpu, t, t.task.addr, Number(SCX_DEQ_SLEEP));
    }
    // dispatch still sees the exiting task as prev; it is freed after the switch.
    this.pick(cpu);
    if (next === 'exit') this.exitTask(t);
  }

  /**
   * sched_yield() of the running task: a sched_ext scheduler's yield callback, else slice 0;
   * EEVDF pushes the deadline back a slice; an RT task goes behind its equals.
   */
  private yieldCpu(c: Cpu, t: Thread): void {
    if (t.cls === CLS_EXT) {
      if (this.hasCb.yield) this.callback('yield', c.id, t, t.task.addr, 0);
      else t.task.sliceNs = 0;
      this.pick(c.id);
    } else if (t.cls === CLS_FAIR) {
      t.entity.deadline += calcDeltaFair(t.entity.slice, t.entity.weight);
      this.pick(c.id);
    } else this.pick(c.id, true);
  }

  /**
   * The running task may no longer use this CPU (an affinity change): it is pushed to one it may
   * use. A sched_ext task sees stopping(p, true) and a fresh enqueue there, without
   * quiescent/runnable (§6.8).
   */
  private migrateOff(c: Cpu, t: Thread): void {
    c.curr = undefined;
    this.goIdle(c);
    t.state = 'queued';
    t.runnableSince = this.q.now;
    if (t.cls === CLS_EXT && this.hasCb.stopping) this.callback('stopping', c.id, t, t.task.addr, 1);
    if (t.cls === CLS_FAIR) c.rq.dequeueSleep(t.entity);
    // The CPU it leaves picks first, then the task is placed where it may run.
    this.pick(c.id);
    if (t.cls === CLS_EXT) {
      this.moveTo(t, this.firstAllowed(t));
      this.enqueue(t, 0);
      if (!this.cpus[t.cpu].curr) this.resched(t.cpu);
    } else if (t.cls === CLS_FAIR) this.wakeFair(t, false);
    else this.wakeRt(t);
  }

  /**
   * Choose what CPU `cpu` runs: the highest class with work. `rotate` puts a running RR task
   * behind its equals.
   */
  private pick(cpu: number, rotate = false): void {
    const c = this.cpus[cpu];
    this.charge(c);
    const prev = c.curr;
    let next: Thread | undefined;
    if (c.rt.length > 0 || prev?.cls === CLS_RT) {
      next = c.rt[0];
      if (prev?.cls === CLS_RT && (!next || next.rtPrio < prev.rtPrio || (next.rtPrio === prev.rtPrio && !rotate))) next = prev;
      else c.rt.shift();
    } else if (c.rq.nrRunning > 0) {
      next = this.threadOf(c.rq.pick()!);
    } else {
      // New-idle balance of the fair class comes before the classes below it.
      if (!prev && this.nrFair > 0) next = this.pullFair(cpu);
      if (!next && this.extOn) {
        this.pickExt(c, prev);
        return;
      }
    }
    if (next === prev) {
      if (prev) this.armBurst(c);
      else if (this.trace && c.traced) this.startNext(c, undefined);
      return;
    }
    if (prev) this.putPrev(c, prev, next);
    if (next && next.cls !== CLS_EXT && this.extOn && !c.released) {
      c.released = true;
      if (this.hasCb.cpu_release) {
        const view = this.km.mem.view;
        view.setUint32(this.argsAddr.cpuRelease + RELEASE_REASON, next.cls === CLS_RT ? SCX_CPU_PREEMPT_RT : SCX_CPU_PREEMPT_UNKNOWN, true);
        view.setBigUint64(this.argsAddr.cpuRelease + RELEASE_TASK, BigInt(next.task.addr), true);
        this.callback('cpu_release', cpu, undefined, cpu, this.argsAddr.cpuRelease);
      }
    }
    this.startNext(c, next);
  }

  /** A runnable prev is switched out for `next` of its class or a higher one. */
  private putPrev(c: Cpu, prev: Thread, next: Thread | undefined): void {
    prev.state = 'queued';
    prev.runnableSince = this.q.now;
    if (prev.cls === CLS_RT) {
      const rotated = next !== undefined && next.cls === CLS_RT && next.rtPrio === prev.rtPrio;
      this.rtInsert(c, prev, !rotated);
    } else if (prev.cls === CLS_FAIR) {
      if (next && next.cls === CLS_FAIR) c.rq.setCurr(next.entity);
      else c.rq.putPrev();
    } else {
      c.curr = undefined;
      if (this.hasCb.stopping) this.callback('stopping', c.id, prev, prev.task.addr, 1);
      // A higher class took the CPU with slice left: back to the head of the local DSQ.
      if (prev.task.sliceNs > 0) c.local.insertFifo(prev, SCX_ENQ_HEAD);
      else this.enqueue(prev, next ? 0 : SCX_ENQ_LAST);
    }
  }

  private startNext(c: Cpu, next: Thread | undefined): void {
    const now = this.q.now;
    if (this.trace && c.traced !== next) {
      const prev = c.traced;
      this.trace.push({ at: now, type: 'switch', cpu: c.id, prev: prev?.pid ?? 0, prevState: prev ? prev.state : 'idle', next: next?.pid ?? 0 });
      c.traced = next;
    }
    if (!next) {
      c.curr = undefined;
      this.goIdle(c);
      this.setIdle(c, true);
      return;
    }
    if (c.idleNow) {
      c.idleNow = false;
      this.nrIdleCpus--;
      c.record.idle += now - c.idleSince;
    }
    if (next.cls === CLS_FAIR) c.rq.setCurr(next.entity);
    c.curr = next;
    c.since = now;
    c.record.switches++;
    this.setIdle(c, false);
    next.state = 'running';
    next.record.switches++;
    next.record.wait += now - next.runnableSince;
    if (next.wokeAt >= 0) {
      next.record.wakeupLatency.add(now - next.wokeAt);
      next.wokeAt = -1;
    }
    if (next.cls === CLS_EXT && this.hasCb.running) this.callback('running', c.id, next, next.task.addr);
    this.armBurst(c);
    if (c.tickEvent < 0) c.tickEvent = this.q.schedule((Math.floor(now / this.tickNs) + 1) * this.tickNs, EV_TICK, c.id);
  }

  private goIdle(c: Cpu): void {
    if (c.idleNow) return;
    c.idleNow = true;
    this.nrIdleCpus++;
    c.idleSince = this.q.now;
  }

  private setIdle(c: Cpu, idle: boolean): void {
    if (!this.extOn) return;
    if (this.idle.isIdle(c.id) !== idle && this.hasCb.update_idle) {
      this.idle.setIdle(c.id, idle);
      this.callback('update_idle', c.id, undefined, c.id, idle ? 1 : 0);
    } else this.idle.setIdle(c.id, idle);
  }

  /** §6.1 for a CPU with no RT or fair work. */
  private pickExt(c: Cpu, prev: Thread | undefined): void {
    const cpu = c.id;
    if (c.released) {
      c.released = false;
      if (this.hasCb.cpu_acquire) this.callback('cpu_acquire', cpu, undefined, cpu, this.argsAddr.cpuAcquire);
    }
    const dispatchPrev = prev ?? c.blockedPrev;
    c.blockedPrev = undefined;
    if (prev && prev.task.sliceNs > 0) return this.armBurst(c);
    let next = this.takeLocalOrGlobal(c);
    if (!next && this.hasCb.dispatch) {
      for (let loops = SCX_DSP_MAX_LOOPS; loops > 0 && !next; loops--) {
        this.dispatchLen = 0;
        const before = c.local.length;
        this.callback('dispatch', cpu, undefined, cpu, dispatchPrev ? dispatchPrev.task.addr : 0);
        const produced = this.flushDispatch() + (c.local.length - before);
        if (prev && prev.task.sliceNs > 0) return this.armBurst(c);
        next = this.takeLocalOrGlobal(c);
        if (produced === 0) break;
      }
    }
    if (!next && prev) {
      if (!(this.ops!.flags & SCX_OPS_ENQ_LAST)) {
        // Nothing else to run: prev continues with a fresh slice, no callbacks.
        prev.task.sliceNs = SCX_SLICE_DFL;
        return this.armBurst(c);
      }
      // SCX_OPS_ENQ_LAST: the scheduler decides, through enqueue(prev, SCX_ENQ_LAST).
      this.putPrev(c, prev, undefined);
      next = this.takeLocalOrGlobal(c);
    }
    if (!next) {
      this.startNext(c, undefined);
      return;
    }
    if (next.task.sliceNs === 0) next.task.sliceNs = SCX_SLICE_DFL;
    // prev (if still here) is put back after next was picked (§1.3 step 7).
    if (prev && c.curr === prev && prev !== next) this.putPrev(c, prev, next);
    this.startNext(c, next);
  }

  private takeLocalOrGlobal(c: Cpu): Thread | undefined {
    const local = c.local.shift();
    if (local) return local;
    const g = this.global.takeFirstFor(c.id);
    if (g) this.moveTo(g, c.id);
    return g;
  }

  private armBurst(c: Cpu): void {
    const t = c.curr;
    const at = t ? this.q.now + Math.max(0, t.remaining) : -1;
    // The same task going on keeps its end time (charging moved now and remaining alike).
    if (c.burstEvent >= 0 && c.burstTask === t && c.burstAt === at) return;
    if (c.burstEvent >= 0) this.q.cancel(c.burstEvent);
    c.burstEvent = t ? this.q.schedule(at, EV_BURST_END, c.id) : -1;
    c.burstTask = t;
    c.burstAt = at;
  }

  // ---- watchdog, timers, exits ----

  /** §6.6: a runnable task that has not run for timeout_ms stalls the scheduler. */
  private watchdog(): void {
    const limit = this.ops!.timeoutMs * 1e6;
    for (const t of this.threads) {
      if (!t || t.cls !== CLS_EXT || t.state !== 'queued') continue;
      const waited = this.q.now - t.runnableSince;
      if (waited > limit) {
        throw new SchedulerAbort(SCX_EXIT_ERROR_STALL, 'runnable task stall', `${t.task.comm}[${t.pid}] failed to run for ${(waited / 1e9).toFixed(3)}s`);
      }
    }
  }

  private armTimer(t: TimerState, atNs: number, cpu: number | null): void {
    this.disarmTimer(t);
    let id = this.timerById.indexOf(t);
    if (id < 0) id = this.timerById.push(t) - 1;
    timerCpu.set(t, cpu ?? this.ctxCpu);
    this.timerEvents.set(t, this.q.schedule(Math.max(atNs, this.q.now), EV_TIMER, id));
  }

  private disarmTimer(t: TimerState): void {
    const ev = this.timerEvents.get(t);
    if (ev !== undefined) this.q.cancel(ev);
    this.timerEvents.delete(t);
  }

  private fireTimer(id: number): void {
    const t = this.timerById[id];
    this.timerEvents.delete(t);
    t.armed = false;
    if (!this.extOn || !this.hooks.fireTimer) return;
    const cpu = timerCpu.get(t) ?? 0;
    const saved = [this.ctxCallback, this.ctxCpu, this.ctxTask] as const;
    this.ctxCallback = 'timer';
    this.ctxCpu = cpu;
    this.ctxTask = undefined;
    this.setWords(cpu);
    this.runningTimer = t;
    this.count('timer');
    try {
      this.bpfInsns += this.hooks.fireTimer(t);
    } finally {
      this.runningTimer = undefined;
      [this.ctxCallback, this.ctxCpu, this.ctxTask] = saved;
    }
  }

  private abort(e: unknown): void {
    let info: ExitInfo;
    if (e instanceof SchedulerAbort) info = { kind: e.kind, reason: e.reason, msg: e.message, exitCode: e.exitCode, atNs: this.q.now };
    else if (e instanceof ProgramFault || e instanceof HelperError) info = { kind: SCX_EXIT_ERROR, reason: 'runtime error', msg: (e as Error).message, exitCode: 0n, atNs: this.q.now };
    else throw e;
    if (!this.extOn || this.exitInfo) return; // the first reporter wins
    this.exitInfo = info;
    this.trace?.push({ at: this.q.now, type: 'scheduler-exit', kind: info.kind, reason: info.reason, msg: info.msg });
    if (info.kind >= SCX_EXIT_ERROR) info.dump = this.debugDump(info);
    this.teardownDue = true;
  }

  /**
   * §6.6: an error exit records a debug dump of the machine as the error found it, with what
   * the scheduler's dump, dump_cpu and dump_task callbacks add through scx_bpf_dump.
   */
  private debugDump(info: ExitInfo): string {
    const view = this.km.mem.view;
    const ctx = this.argsAddr.dumpCtx;
    this.writeExitInfo(info);
    view.setUint32(ctx + DUMP_CTX.kind, info.kind, true);
    view.setBigInt64(ctx + DUMP_CTX.exit_code, info.exitCode, true);
    view.setBigUint64(ctx + DUMP_CTX.reason, BigInt(this.argsAddr.reason), true);
    view.setBigUint64(ctx + DUMP_CTX.at_ns, BigInt(this.q.now), true);
    view.setBigUint64(ctx + DUMP_CTX.at_jiffies, BigInt(Math.floor(this.q.now / this.tickNs)), true);
    const lines = [`${info.reason} at ${this.q.now} ns: ${info.msg}`];
    const bpf = (cb: string, cpu: number, task: Thread | undefined, a0: number, a1 = 0, a2 = 0) => {
      if (!this.hasCb[cb]) return;
      this.dumpText = '';
      this.quietly(() => this.callback(cb, cpu, task, a0, a1, a2));
      if (this.dumpText) lines.push(...this.dumpText.replace(/\n$/, '').split('\n').map((l) => `  ${l}`));
    };
    bpf('dump', 0, undefined, ctx);
    const name = (t: Thread | undefined) => (t ? `${t.task.comm}[${t.pid}]` : 'idle');
    for (const c of this.cpus) {
      lines.push(`CPU ${c.id}: curr=${name(c.curr)} local=${c.local.length} fair=${c.rq.nrRunning} rt=${c.rt.length}${this.idle.isIdle(c.id) ? ' idle' : ''}`);
      bpf('dump_cpu', c.id, undefined, ctx, c.id, c.curr ? 0 : 1);
    }
    for (const t of this.threads) {
      if (!t || t.cls !== CLS_EXT || (t.state !== 'queued' && t.state !== 'running')) continue;
      const where = t.state === 'running' ? `running on CPU ${t.cpu}` : t.dsq ? `on ${describeDsq(t.dsq.id)}` : 'held by the scheduler';
      lines.push(`${name(t)} ${where} slice=${t.task.slice} dsq_vtime=${t.task.dsqVtime} runnable for ${this.q.now - t.runnableSince} ns`);
      bpf('dump_task', t.cpu, t, ctx, t.task.addr);
    }
    const text = lines.join('\n') + '\n';
    const max = this.ops!.exitDumpLen;
    return text.length > max ? text.slice(0, max) : text;
  }

  /**
   * §6.6 exit sequence: every ext task goes back to the fair class (disable, exit_task), then
   * ops.exit(info); the machine runs on without the scheduler.
   */
  private teardown(): void {
    this.teardownDue = false;
    this.dispatchLen = 0;
    for (const c of this.cpus) {
      this.charge(c);
      // A callback that failed mid-switch can leave a blocked task as curr.
      if (c.curr && c.curr.state !== 'running') {
        c.curr = undefined;
        this.goIdle(c);
      }
      while (c.local.shift());
    }
    while (this.global.shift());
    for (const d of this.user.values()) while (d.shift());
    this.user.clear();
    for (const [t, ev] of this.timerEvents) {
      this.q.cancel(ev);
      this.timerEvents.delete(t);
    }
    const moved: Thread[] = [];
    for (const t of this.threads) {
      if (!t || t.cls !== CLS_EXT) continue;
      t.cls = CLS_FAIR;
      this.nrFair++;
      t.hasDdsp = false;
      t.task.scxFlags &= ~SCX_TASK_QUEUED;
      moved.push(t);
    }
    this.extOn = false;
    for (const c of this.cpus) {
      if (c.curr && c.curr.cls === CLS_FAIR && c.rq.curr !== c.curr.entity) {
        c.rq.enqueue(c.curr.entity, true);
        c.rq.setCurr(c.curr.entity);
      }
    }
    for (const t of moved) if (t.state === 'queued') this.cpus[t.cpu].rq.enqueue(t.entity, true);
    this.requeueStranded();
    // Cgroups are exited before the tasks are switched back, children first (§6.6).
    this.quietly(() => {
      const all = this.cgroups.all();
      for (let i = all.length - 1; i >= 0; i--) {
        if (!all[i].initialized) continue;
        all[i].initialized = false;
        if (this.hasCb.cgroup_exit) this.callback('cgroup_exit', 0, undefined, all[i].addr);
      }
    });
    this.quietly(() => {
      for (const t of moved) this.disableTask(t);
    });
    this.quietly(() => {
      if (this.ops!.has('exit')) this.callback('exit', 0, undefined, this.writeExitInfo());
    });
    for (const c of this.cpus) {
      c.released = false;
      this.resched(c.id);
    }
  }

  /**
   * A callback that failed in the middle of a switch (stopping, enqueue or cpu_release between
   * taking the next task off its queue and starting it) can leave an RT or fair task runnable
   * on no queue: put it back on its CPU's.
   */
  private requeueStranded(): void {
    const queued = new Set<Thread>();
    for (const c of this.cpus) {
      for (const t of c.rt) queued.add(t);
      for (const e of c.rq.queued) queued.add(this.threadOf(e));
    }
    for (const t of this.threads) {
      if (!t || t.state !== 'queued' || queued.has(t)) continue;
      const c = this.cpus[t.cpu];
      if (t.cls === CLS_RT) this.rtInsert(c, t, true);
      else if (t.cls === CLS_FAIR && c.rq.curr !== t.entity) c.rq.enqueue(t.entity, false);
    }
  }

  /** Callbacks during the teardown: later errors are ignored (the first reporter won). */
  private quietly(run: () => void): void {
    try {
      run();
    } catch (e) {
      if (!(e instanceof SchedulerAbort || e instanceof ProgramFault || e instanceof HelperError)) throw e;
    }
  }

  private writeExitInfo(info = this.exitInfo!): number {
    const { mem } = this.km;
    const view = mem.view;
    const at = this.argsAddr.exitInfo;
    const enc = new TextEncoder();
    const put = (addr: number, s: string, max: number) => {
      const b = enc.encode(s).subarray(0, max - 1);
      mem.bytes.set(b, addr);
      mem.bytes[addr + b.length] = 0;
    };
    put(this.argsAddr.reason, info.reason, 128);
    put(this.argsAddr.msg, info.msg, SCX_EXIT_MSG_LEN);
    view.setUint32(at + EXIT_INFO.kind, info.kind, true);
    view.setBigInt64(at + EXIT_INFO.exit_code, info.exitCode, true);
    view.setBigUint64(at + EXIT_INFO.reason, BigInt(this.argsAddr.reason), true);
    view.setBigUint64(at + EXIT_INFO.msg, BigInt(this.argsAddr.msg), true);
    return at;
  }

  // ---- callbacks ----

  private count(name: string): void {
    this.callbacks[name] = (this.callbacks[name] ?? 0) + 1;
  }

  private setWords(cpu: number): void {
    const words = this.km.words;
    const view = this.km.mem.view;
    view.setUint32(words.cpuAddr, cpu, true);
    // `current` (bpf_get_current_task[_btf]): the task running on the CPU. The machine models no
    // idle task_struct, so on an idle CPU it is 0, where Linux would give the CPU's idle task.
    const curr = this.cpus[cpu]?.curr;
    view.setBigUint64(words.currentTaskAddr, BigInt(curr ? curr.task.addr : 0), true);
    const now = this.q.now;
    view.setUint32(words.clockAddr, now >>> 0, true);
    view.setUint32(words.clockAddr + 4, Math.floor(now / 0x1_0000_0000), true);
  }

  private callback(name: string, cpu: number, task: Thread | undefined, a0 = 0, a1 = 0, a2 = 0): number {
    this.count(name);
    const savedCb = this.ctxCallback;
    const savedCpu = this.ctxCpu;
    const savedTask = this.ctxTask;
    this.ctxCallback = name;
    this.ctxCpu = cpu;
    this.ctxTask = task;
    this.setWords(cpu);
    try {
      const rc = this.ops!.call(name, a0, a1, a2);
      this.bpfInsns += this.ops!.lastInsnCount(name);
      return rc;
    } finally {
      this.ctxCallback = savedCb;
      this.ctxCpu = savedCpu;
      this.ctxTask = savedTask;
    }
  }

  // ---- invariants ----

  /**
   * Every live task is in exactly one place: running on one CPU, queued on one DSQ, one fair
   * runqueue or one RT queue, held by the BPF scheduler (an ext task queued nowhere), sleeping;
   * no CPU runs two tasks; a fair CPU's running task is its runqueue's current entity.
   */
  private verify(): void {
    const where = new Map<Thread, string[]>();
    const note = (t: Thread, place: string) => where.set(t, [...(where.get(t) ?? []), place]);
    for (const c of this.cpus) {
      if (c.curr) note(c.curr, `running on CPU ${c.id}`);
      if (c.curr?.cls === CLS_FAIR && c.rq.curr !== c.curr.entity) throw new Error(`invariant broken at ${this.q.now} ns: CPU ${c.id} runs fair task ${c.curr.pid} that is not its runqueue's current`);
      if (c.rq.curr && c.curr?.entity !== c.rq.curr) throw new Error(`invariant broken at ${this.q.now} ns: CPU ${c.id}'s runqueue has a current entity it does not run`);
      for (const t of c.local.toArray()) note(t, `local DSQ of CPU ${c.id}`);
      for (const e of c.rq.queued) note(this.threadOf(e), `fair runqueue of CPU ${c.id}`);
      for (const t of c.rt) note(t, `RT queue of CPU ${c.id}`);
    }
    for (const t of this.global.toArray()) note(t, 'global DSQ');
    for (const d of this.user.values()) for (const t of d.toArray()) note(t, describeDsq(d.id));
    for (const t of this.threads) {
      if (!t) continue;
      const places = where.get(t) ?? [];
      where.delete(t);
      const running = places.filter((p) => p.startsWith('running')).length;
      const heldByBpf = t.cls === CLS_EXT && this.extOn;
      const ok =
        places.length <= 1 &&
        (t.state === 'running' ? running === 1 : running === 0) &&
        (t.state === 'queued' ? places.length === 1 || (heldByBpf && places.length === 0) : t.state === 'running' || places.length === 0);
      if (!ok) throw new Error(`invariant broken at ${this.q.now} ns: task ${t.pid} (class ${t.cls}) is ${t.state} and in [${places.join(', ')}]`);
    }
    for (const [t, places] of where) throw new Error(`invariant broken at ${this.q.now} ns: task ${t.pid}, which is not live, is in [${places.join(', ')}]`);
  }
}

/** a | b for enq_flags held as numbers (bitwise operators would drop bits 32 and up). */
function orFlags(a: number, b: number): number {
  const hi = (Math.floor(a / 0x1_0000_0000) | Math.floor(b / 0x1_0000_0000)) >>> 0;
  return hi * 0x1_0000_0000 + ((a | b) >>> 0);
}
const RELEASE_REASON = fieldOf(scxCpuReleaseArgs, 'reason').offset;
const RELEASE_TASK = fieldOf(scxCpuReleaseArgs, 'task').offset;
const DUMP_CTX = {
  kind: fieldOf(scxDumpCtx, 'kind').offset,
  exit_code: fieldOf(scxDumpCtx, 'exit_code').offset,
  reason: fieldOf(scxDumpCtx, 'reason').offset,
  at_ns: fieldOf(scxDumpCtx, 'at_ns').offset,
  at_jiffies: fieldOf(scxDumpCtx, 'at_jiffies').offset,
};
const EXIT_INFO = {
  kind: fieldOf(scxExitInfo, 'kind').offset,
  exit_code: fieldOf(scxExitInfo, 'exit_code').offset,
  reason: fieldOf(scxExitInfo, 'reason').offset,
  msg: fieldOf(scxExitInfo, 'msg').offset,
};
const timerCpu = new WeakMap<TimerState, number>();
