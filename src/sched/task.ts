/**
 * Tasks as the kernel lays them out: each task's `struct task_struct` lives in the kernel memory
 * BPF programs see (design.md §3), and the simulator reads and writes its fields there, at the
 * offsets of kernel-types.ts. There is no second copy to keep in sync: what a scheduler writes
 * to p->scx.slice is what the core charges.
 */
import { fieldOf } from '../bpf/ctypes.ts';
import type { AddressSpace } from '../bpf/memory.ts';
import { ElementPool } from '../bpf/maps/pool.ts';
import { ScxError } from '../util/errors.ts';
import { TASK_COMM_LEN, taskStruct } from './kernel-types.ts';
import { writeCpumask } from './topology.ts';
import { niceToWeight, scxWeight, staticPrio } from './weights.ts';

const off = (path: string) => fieldOf(taskStruct, path).offset;
const F = {
  state: off('__state'),
  flags: off('flags'),
  prio: off('prio'),
  staticPrio: off('static_prio'),
  normalPrio: off('normal_prio'),
  policy: off('policy'),
  nrCpusAllowed: off('nr_cpus_allowed'),
  cpusPtr: off('cpus_ptr'),
  cpusMask: off('cpus_mask'),
  migrationDisabled: off('migration_disabled'),
  pid: off('pid'),
  tgid: off('tgid'),
  comm: off('comm'),
  sumExecRuntime: off('se.sum_exec_runtime'),
  scxFlags: off('scx.flags'),
  scxWeight: off('scx.weight'),
  scxSlice: off('scx.slice'),
  scxDsqVtime: off('scx.dsq_vtime'),
  scxDisallow: off('scx.disallow'),
  scxRunnableAt: off('scx.runnable_at'),
  cgroup: off('sched_task_group'),
} as const;

export const SCHED_NORMAL = 0;
export const SCHED_FIFO = 1;
export const SCHED_RR = 2;
export const SCHED_BATCH = 3;
export const SCHED_IDLE = 5;
export const SCHED_EXT = 7;

export interface TaskSpec {
  pid: number;
  tgid?: number;
  comm: string;
  nice?: number;
  policy?: number;
  /** Allowed CPUs; all of `nrCpus` when absent. */
  cpus?: readonly number[];
  flags?: number;
}

/** One task: its id, kernel address, and accessors over its task_struct. */
export class Task {
  constructor(
    readonly mem: AddressSpace,
    readonly addr: number,
    readonly pid: number,
  ) {}

  private get view(): DataView {
    return this.mem.view;
  }

  get comm(): string {
    const bytes = this.mem.bytes.subarray(this.addr + F.comm, this.addr + F.comm + TASK_COMM_LEN);
    const end = bytes.indexOf(0);
    return new TextDecoder().decode(bytes.subarray(0, end < 0 ? TASK_COMM_LEN : end));
  }

  get weight(): number {
    return this.view.getUint32(this.addr + F.scxWeight, true);
  }

  /** The task's cgroup (task_struct.sched_task_group): a struct cgroup address, 0 for none. */
  get cgroupAddr(): number {
    return Number(this.view.getBigUint64(this.addr + F.cgroup, true));
  }

  set cgroupAddr(addr: number) {
    this.view.setBigUint64(this.addr + F.cgroup, BigInt(addr), true);
  }

  get slice(): bigint {
    return this.view.getBigUint64(this.addr + F.scxSlice, true);
  }

  set slice(ns: bigint) {
    this.view.setBigUint64(this.addr + F.scxSlice, BigInt.asUintN(64, ns), true);
  }

  /**
   * The slice as a number of ns, Infinity for SCX_SLICE_INF: the machine's hot path reads and
   * charges it without BigInt. Exact for slices below 2^53 ns (104 days); chargeSlice keeps
   * larger ones exact too.
   */
  get sliceNs(): number {
    const lo = this.view.getUint32(this.addr + F.scxSlice, true);
    const hi = this.view.getUint32(this.addr + F.scxSlice + 4, true);
    if (hi === 0xffff_ffff && lo === 0xffff_ffff) return Infinity;
    return hi * 0x1_0000_0000 + lo;
  }

  set sliceNs(ns: number) {
    if (ns === Infinity) {
      this.setSliceWords(0xffff_ffff, 0xffff_ffff);
      return;
    }
    this.setSliceWords(Math.floor(ns / 0x1_0000_0000), ns >>> 0);
  }

  /** Store the slice from a register's halves (what scx_bpf_dsq_insert passes). */
  setSliceWords(hi: number, lo: number): void {
    this.view.setUint32(this.addr + F.scxSlice, lo, true);
    this.view.setUint32(this.addr + F.scxSlice + 4, hi, true);
  }

  /** Subtract run time from the slice, saturating at 0; SCX_SLICE_INF is never charged. */
  chargeSlice(ns: number): void {
    const hi = this.view.getUint32(this.addr + F.scxSlice + 4, true);
    if (hi >= 0x20_0000) {
      const s = this.slice;
      if (s !== 0xffff_ffff_ffff_ffffn) this.slice = s > BigInt(ns) ? s - BigInt(ns) : 0n;
      return;
    }
    const left = hi * 0x1_0000_0000 + this.view.getUint32(this.addr + F.scxSlice, true) - ns;
    this.sliceNs = left > 0 ? left : 0;
  }

  /** p->scx.dsq_vtime's halves, for DSQ ordering without BigInt. */
  get dsqVtimeHi(): number {
    return this.view.getUint32(this.addr + F.scxDsqVtime + 4, true);
  }

  get dsqVtimeLo(): number {
    return this.view.getUint32(this.addr + F.scxDsqVtime, true);
  }

  setDsqVtimeWords(hi: number, lo: number): void {
    this.view.setUint32(this.addr + F.scxDsqVtime, lo, true);
    this.view.setUint32(this.addr + F.scxDsqVtime + 4, hi, true);
  }

  get dsqVtime(): bigint {
    return this.view.getBigUint64(this.addr + F.scxDsqVtime, true);
  }

  set dsqVtime(v: bigint) {
    this.view.setBigUint64(this.addr + F.scxDsqVtime, BigInt.asUintN(64, v), true);
  }

  get scxFlags(): number {
    return this.view.getUint32(this.addr + F.scxFlags, true);
  }

  set scxFlags(v: number) {
    this.view.setUint32(this.addr + F.scxFlags, v >>> 0, true);
  }

  get disallow(): boolean {
    return this.view.getUint8(this.addr + F.scxDisallow) !== 0;
  }

  get policy(): number {
    return this.view.getUint32(this.addr + F.policy, true);
  }

  get flags(): number {
    return this.view.getUint32(this.addr + F.flags, true);
  }

  get nrCpusAllowed(): number {
    return this.view.getInt32(this.addr + F.nrCpusAllowed, true);
  }

  get sumExecRuntime(): bigint {
    return this.view.getBigUint64(this.addr + F.sumExecRuntime, true);
  }

  /** Charge run time to se.sum_exec_runtime. */
  addExecRuntime(ns: number): void {
    const at = this.addr + F.sumExecRuntime;
    const sum = this.view.getUint32(at, true) + ns;
    this.view.setUint32(at, sum >>> 0, true);
    const carry = Math.floor(sum / 0x1_0000_0000);
    if (carry) this.view.setUint32(at + 4, (this.view.getUint32(at + 4, true) + carry) >>> 0, true);
  }

  /** The address of the task's allowed-CPU mask (what p->cpus_ptr points at). */
  get cpusPtr(): number {
    return this.addr + F.cpusMask;
  }

  /** Whether `cpu` is in the task's allowed mask (what p->cpus_ptr points at). */
  allows(cpu: number): boolean {
    return ((this.mem.bytes[this.addr + F.cpusMask + (cpu >> 3)] >> (cpu & 7)) & 1) === 1;
  }

  /** Set the allowed CPUs: cpus_mask, nr_cpus_allowed, and cpus_ptr pointing at the mask. */
  setAffinity(cpus: readonly number[]): void {
    writeCpumask(this.mem.bytes, this.addr + F.cpusMask, cpus);
    this.view.setInt32(this.addr + F.nrCpusAllowed, new Set(cpus).size, true);
    this.view.setBigUint64(this.addr + F.cpusPtr, BigInt(this.addr + F.cpusMask), true);
  }

  /** Set nice: priorities, and the scaled weight BPF sees. */
  setNice(nice: number): void {
    const prio = staticPrio(nice);
    this.view.setInt32(this.addr + F.staticPrio, prio, true);
    this.view.setInt32(this.addr + F.normalPrio, prio, true);
    this.view.setInt32(this.addr + F.prio, prio, true);
    this.view.setUint32(this.addr + F.scxWeight, scxWeight(niceToWeight(nice)), true);
  }
}

export class TaskError extends ScxError {}

/** Every task of a run: task_structs allocated in the kernel memory, found by pid or address. */
export class TaskTable {
  private readonly pool: ElementPool;
  private readonly byPid = new Map<number, Task>();
  private readonly byAddr = new Map<number, Task>();
  private readonly slotOf = new Map<Task, number>();

  constructor(
    readonly mem: AddressSpace,
    readonly nrCpus: number,
  ) {
    this.pool = new ElementPool(mem, 'task_structs', alignUp(taskStruct.size, 8), 0, false);
  }

  create(spec: TaskSpec): Task {
    if (this.byPid.has(spec.pid)) throw new TaskError(`task pid ${spec.pid} exists already`);
    const slot = this.pool.alloc();
    if (slot < 0) throw new TaskError(`no memory for task pid ${spec.pid}`);
    const addr = this.pool.addr[slot];
    this.mem.bytes.fill(0, addr, addr + taskStruct.size);
    const task = new Task(this.mem, addr, spec.pid);
    const v = this.mem.view;
    v.setInt32(addr + F.pid, spec.pid, true);
    v.setInt32(addr + F.tgid, spec.tgid ?? spec.pid, true);
    v.setUint32(addr + F.policy, spec.policy ?? SCHED_NORMAL, true);
    v.setUint32(addr + F.flags, spec.flags ?? 0, true);
    const name = new TextEncoder().encode(spec.comm).subarray(0, TASK_COMM_LEN - 1);
    this.mem.bytes.set(name, addr + F.comm);
    task.setNice(spec.nice ?? 0);
    const cpus = spec.cpus ?? Array.from({ length: this.nrCpus }, (_, i) => i);
    for (const c of cpus) {
      if (!Number.isInteger(c) || c < 0 || c >= this.nrCpus) throw new TaskError(`task pid ${spec.pid}: CPU ${c} is not one of the ${this.nrCpus} CPUs`);
    }
    if (cpus.length === 0) throw new TaskError(`task pid ${spec.pid}: an empty CPU affinity`);
    task.setAffinity(cpus);
    this.byPid.set(spec.pid, task);
    this.byAddr.set(addr, task);
    this.slotOf.set(task, slot);
    return task;
  }

  /** A task exits for good: its task_struct is freed (and may be reused). */
  free(task: Task): void {
    const slot = this.slotOf.get(task);
    if (slot === undefined) throw new TaskError(`task pid ${task.pid} is not in the table`);
    this.pool.release(slot);
    this.slotOf.delete(task);
    this.byPid.delete(task.pid);
    this.byAddr.delete(task.addr);
  }

  byPidOf(pid: number): Task | undefined {
    return this.byPid.get(pid);
  }

  at(addr: number): Task | undefined {
    return this.byAddr.get(addr);
  }

  isTask(addr: number): boolean {
    return this.byAddr.has(addr);
  }

  get size(): number {
    return this.byPid.size;
  }
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

