/**
 * The kernel's BPF helper functions, by their real ids (enum bpf_func_id), with the kernel's
 * argument checks and error codes. What they need from the machine being simulated comes
 * through `HelperEnv`: the time, the current CPU and task live as words in the object's memory
 * (so the JIT reads them inline), and timers are handed to the simulator's event queue.
 */
import { HelperError, wordHelper, type HelperCall, type HelperDef } from './helpers.ts';
import { BPF_MAX_LOOPS } from './isa.ts';
import type { AddressSpace } from './memory.ts';
import { slotOfCodeAddress } from './memory.ts';
import { bpfFormat, readCString } from './printf.ts';
import { BPF_LOCAL_STORAGE_GET_F_CREATE, MapType as MT, type BpfMap } from './maps/map.ts';

/** Helper ids (include/uapi/linux/bpf.h, __BPF_FUNC_MAPPER order). */
export const HelperId = {
  map_lookup_elem: 1,
  map_update_elem: 2,
  map_delete_elem: 3,
  probe_read: 4,
  ktime_get_ns: 5,
  trace_printk: 6,
  get_prandom_u32: 7,
  get_smp_processor_id: 8,
  get_current_pid_tgid: 14,
  get_current_task: 35,
  map_push_elem: 87,
  map_pop_elem: 88,
  map_peek_elem: 89,
  spin_lock: 93,
  spin_unlock: 94,
  probe_read_kernel: 113,
  probe_read_kernel_str: 115,
  ktime_get_boot_ns: 125,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  ringbuf_query: 134,
  task_storage_get: 156,
  task_storage_delete: 157,
  get_current_task_btf: 158,
  for_each_map_elem: 164,
  timer_init: 169,
  timer_set_callback: 170,
  timer_start: 171,
  timer_cancel: 172,
  trace_vprintk: 177,
  loop: 181,
  kptr_xchg: 194,
  map_lookup_percpu_elem: 195,
} as const;

const HELPER_NAMES = new Map<number, string>(Object.entries(HelperId).map(([name, id]) => [id, `bpf_${name}`]));

/** A helper's kernel name by id (`bpf_map_lookup_elem`), or undefined for an id the kernel lacks. */
export const helperName = (id: number): string | undefined => HELPER_NAMES.get(id);

/**
 * What the verifier checks of each helper's arguments and knows of its result: the kernel's
 * bpf_func_proto argument and return types (ARG_* / RET_*), in the kernel's own terms.
 *  - `map`: CONST_PTR_TO_MAP (of one of `mapTypes` when given); `key`/`value`: initialised memory
 *    of the map's key/value size; `valueOut`: writable memory of the value size (may be
 *    uninitialised); `valueOrNull`: `value` or NULL;
 *  - `mem` / `memOut` / `memOrNull` + the following `size` / `sizeOrZero`: a buffer and its length;
 *  - `constSize`: a known constant (ring buffer reservations);
 *  - `spinLock`, `timer`, `kptr`: a map value pointer exactly at such a field;
 *  - `ringbufRecord`: a record from bpf_ringbuf_reserve, released by the call;
 *  - `task` / `taskOrNull`: a trusted task_struct pointer; `btfOrNull`: a referenced kernel
 *    object or NULL, released by the call (kptr_xchg);
 *  - `func`: a callback (`lddw func`); `stackOrNull`: the callback's context;
 *  - `anything`: any initialised value.
 */
export type HelperArg =
  | 'anything'
  | 'map'
  | 'key'
  | 'value'
  | 'valueOut'
  | 'valueOrNull'
  | 'mem'
  | 'memOut'
  | 'memOrNull'
  | 'size'
  | 'sizeOrZero'
  | 'constSize'
  | 'spinLock'
  | 'timer'
  | 'kptr'
  | 'ringbufRecord'
  | 'task'
  | 'taskOrNull'
  | 'btfOrNull'
  | 'func'
  | 'stackOrNull';

/** RET_*: a scalar, nothing, or a pointer that may be NULL. */
export type HelperRet = 'scalar' | 'void' | 'mapValueOrNull' | 'ringbufRecordOrNull' | 'task' | 'kptrOrNull';

export interface HelperProto {
  readonly args: readonly HelperArg[];
  readonly ret: HelperRet;
  /** Map types the `map` argument must be (any when absent). */
  readonly mapTypes?: readonly number[];
  /** The callback's kind: how often it runs and what it receives. */
  readonly callback?: 'loop' | 'forEachMapElem' | 'timer';
}

export const HELPER_PROTOS: Readonly<Record<number, HelperProto>> = {
  [HelperId.map_lookup_elem]: { args: ['map', 'key'], ret: 'mapValueOrNull' },
  [HelperId.map_update_elem]: { args: ['map', 'key', 'value', 'anything'], ret: 'scalar' },
  [HelperId.map_delete_elem]: { args: ['map', 'key'], ret: 'scalar' },
  [HelperId.probe_read]: { args: ['memOut', 'sizeOrZero', 'anything'], ret: 'scalar' },
  [HelperId.ktime_get_ns]: { args: [], ret: 'scalar' },
  [HelperId.trace_printk]: { args: ['mem', 'size'], ret: 'scalar' },
  [HelperId.get_prandom_u32]: { args: [], ret: 'scalar' },
  [HelperId.get_smp_processor_id]: { args: [], ret: 'scalar' },
  [HelperId.get_current_pid_tgid]: { args: [], ret: 'scalar' },
  [HelperId.get_current_task]: { args: [], ret: 'scalar' },
  [HelperId.map_push_elem]: { args: ['map', 'value', 'anything'], ret: 'scalar', mapTypes: [MT.QUEUE, MT.STACK] },
  [HelperId.map_pop_elem]: { args: ['map', 'valueOut'], ret: 'scalar', mapTypes: [MT.QUEUE, MT.STACK] },
  [HelperId.map_peek_elem]: { args: ['map', 'valueOut'], ret: 'scalar', mapTypes: [MT.QUEUE, MT.STACK] },
  [HelperId.spin_lock]: { args: ['spinLock'], ret: 'void' },
  [HelperId.spin_unlock]: { args: ['spinLock'], ret: 'void' },
  [HelperId.probe_read_kernel]: { args: ['memOut', 'sizeOrZero', 'anything'], ret: 'scalar' },
  [HelperId.probe_read_kernel_str]: { args: ['memOut', 'sizeOrZero', 'anything'], ret: 'scalar' },
  [HelperId.ktime_get_boot_ns]: { args: [], ret: 'scalar' },
  [HelperId.ringbuf_output]: { args: ['map', 'mem', 'sizeOrZero', 'anything'], ret: 'scalar', mapTypes: [MT.RINGBUF] },
  [HelperId.ringbuf_reserve]: { args: ['map', 'constSize', 'anything'], ret: 'ringbufRecordOrNull', mapTypes: [MT.RINGBUF] },
  [HelperId.ringbuf_submit]: { args: ['ringbufRecord', 'anything'], ret: 'void' },
  [HelperId.ringbuf_discard]: { args: ['ringbufRecord', 'anything'], ret: 'void' },
  [HelperId.ringbuf_query]: { args: ['map', 'anything'], ret: 'scalar', mapTypes: [MT.RINGBUF] },
  [HelperId.task_storage_get]: { args: ['map', 'taskOrNull', 'valueOrNull', 'anything'], ret: 'mapValueOrNull', mapTypes: [MT.TASK_STORAGE] },
  [HelperId.task_storage_delete]: { args: ['map', 'task'], ret: 'scalar', mapTypes: [MT.TASK_STORAGE] },
  [HelperId.get_current_task_btf]: { args: [], ret: 'task' },
  [HelperId.for_each_map_elem]: { args: ['map', 'func', 'stackOrNull', 'anything'], ret: 'scalar', callback: 'forEachMapElem' },
  [HelperId.timer_init]: { args: ['timer', 'map', 'anything'], ret: 'scalar' },
  [HelperId.timer_set_callback]: { args: ['timer', 'func'], ret: 'scalar', callback: 'timer' },
  [HelperId.timer_start]: { args: ['timer', 'anything', 'anything'], ret: 'scalar' },
  [HelperId.timer_cancel]: { args: ['timer'], ret: 'scalar' },
  [HelperId.trace_vprintk]: { args: ['mem', 'size', 'memOrNull', 'sizeOrZero'], ret: 'scalar' },
  [HelperId.loop]: { args: ['anything', 'func', 'stackOrNull', 'anything'], ret: 'scalar', callback: 'loop' },
  [HelperId.kptr_xchg]: { args: ['kptr', 'btfOrNull'], ret: 'kptrOrNull' },
  [HelperId.map_lookup_percpu_elem]: { args: ['map', 'key', 'anything'], ret: 'mapValueOrNull' },
};

const EINVAL = 22;
const E2BIG = 7;
const EBUSY = 16;
const EDEADLK = 35;
const EFAULT = 14;

const BPF_F_TIMER_ABS = 1;
const BPF_F_TIMER_CPU_PIN = 2;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const CLOCK_BOOTTIME = 7;

/**
 * Words the simulator keeps current in each object's memory: read by the time, CPU and task
 * helpers (inlined by the JIT).
 */
export interface KernelWords {
  /** u64 ns since boot: bpf_ktime_get_ns, bpf_ktime_get_boot_ns. */
  clockAddr: number;
  /** u32: bpf_get_smp_processor_id. */
  cpuAddr: number;
  /** u64 task_struct address of the current task: bpf_get_current_task(_btf). */
  currentTaskAddr: number;
  /** u64 (tgid << 32) | pid of the current task. */
  pidTgidAddr: number;
}

/** Allocate the kernel words in an address space, invisible to programs as data. */
export function allocKernelWords(mem: AddressSpace): KernelWords {
  const base = mem.reserve(32, 8);
  return { clockAddr: base, cpuAddr: base + 8, currentTaskAddr: base + 16, pidTgidAddr: base + 24 };
}

/** A timer as bpf_timer_init/set_callback/start leave it. */
export interface TimerState {
  timerAddr: number;
  map: BpfMap;
  clock: number;
  /** Function slot of the callback, in the program that set it. */
  callback: number;
  /** The program whose code the callback slot refers to. */
  owner: unknown;
  armed: boolean;
}

/** The simulator's side of BPF timers: it fires `fire()` at the simulated time. */
export interface TimerService {
  /** Arm (or re-arm) a timer; `atNs` is absolute; `cpu` is the CPU to fire on when pinned. */
  arm(timer: TimerState, atNs: number, cpu: number | null): void;
  disarm(timer: TimerState): void;
  /** The timer whose callback is running now, if any (bpf_timer_cancel of it is -EDEADLK). */
  running(): TimerState | undefined;
}

export interface HelperEnv {
  mem: AddressSpace;
  words: KernelWords;
  /** The map whose `struct bpf_map` stand-in is at this address. */
  mapAt(addr: number): BpfMap | undefined;
  /** Next value of the run's seeded PRNG (u32). */
  random(): number;
  /** One line of bpf_printk output for the run log. */
  trace(line: string): void;
  timers: TimerService;
  /** Per-timer state, keyed by the bpf_timer's address. */
  timerStates: Map<number, TimerState>;
  /** True for addresses of live task_structs (task storage owners). */
  isTask(addr: number): boolean;
  /** The ring buffer map holding a sample reserved at this address. */
  ringbufOfSample(addr: number): BpfMap | undefined;
}

/** The helpers of one program; `owner` identifies the program for timer callbacks. */
export function kernelHelpers(env: HelperEnv, owner: unknown): HelperDef[] {
  const { mem, words } = env;
  const map = (c: HelperCall, i: number): BpfMap => {
    const m = env.mapAt(c.ptr(i));
    if (!m) throw new HelperError(`argument r${i} (0x${c.u64(i).toString(16)}) is not a map`);
    return m;
  };
  const h = (name: keyof typeof HelperId, fn: HelperDef['fn']): HelperDef => ({ id: HelperId[name], name: `bpf_${name}`, fn });
  const readArgs = (dataAddr: number, len: number): bigint[] => {
    if (len % 8 !== 0) throw new HelperError(`data length ${len} is not a multiple of 8`);
    const out: bigint[] = [];
    for (let i = 0; i < len; i += 8) out.push(mem.view.getBigUint64(dataAddr + i, true));
    return out;
  };
  const traceFmt = (fmtAddr: number, fmtSize: number, args: bigint[]): number => {
    const fmt = readCString(mem, fmtAddr, fmtSize);
    if (fmt === null) return -EFAULT;
    const line = bpfFormat(fmt, args, mem);
    env.trace(line.endsWith('\n') ? line.slice(0, -1) : line);
    return line.length;
  };
  const timer = (c: HelperCall): TimerState | number => {
    const state = env.timerStates.get(c.ptr(1));
    return state ?? -EINVAL;
  };

  return [
    h('map_lookup_elem', (c) => map(c, 1).lookup(c.ptr(2))),
    h('map_update_elem', (c) => (c.hi(4) !== 0 ? -EINVAL : map(c, 1).update(c.ptr(2), c.ptr(3), c.lo(4)))),
    h('map_delete_elem', (c) => map(c, 1).delete(c.ptr(2))),
    h('map_push_elem', (c) => (c.hi(3) !== 0 ? -EINVAL : map(c, 1).push(c.ptr(2), c.lo(3)))),
    h('map_pop_elem', (c) => map(c, 1).pop(c.ptr(2))),
    h('map_peek_elem', (c) => map(c, 1).peek(c.ptr(2))),
    h('map_lookup_percpu_elem', (c) => map(c, 1).lookupPercpu(c.ptr(2), c.lo(3))),
    wordHelper(HelperId.ktime_get_ns, 'bpf_ktime_get_ns', mem, words.clockAddr, 8),
    wordHelper(HelperId.ktime_get_boot_ns, 'bpf_ktime_get_boot_ns', mem, words.clockAddr, 8),
    wordHelper(HelperId.get_smp_processor_id, 'bpf_get_smp_processor_id', mem, words.cpuAddr, 4),
    wordHelper(HelperId.get_current_task, 'bpf_get_current_task', mem, words.currentTaskAddr, 8),
    wordHelper(HelperId.get_current_task_btf, 'bpf_get_current_task_btf', mem, words.currentTaskAddr, 8),
    wordHelper(HelperId.get_current_pid_tgid, 'bpf_get_current_pid_tgid', mem, words.pidTgidAddr, 8),
    h('get_prandom_u32', () => env.random() >>> 0),
    h('trace_printk', (c) => traceFmt(c.ptr(1), c.lo(2), [c.u64(3), c.u64(4), c.u64(5)])),
    h('trace_vprintk', (c) => traceFmt(c.ptr(1), c.lo(2), readArgs(c.ptr(3), c.lo(4)))),
    h('probe_read_kernel', (c) => probeRead(mem, c.ptr(1), c.lo(2), c.u64(3), false)),
    h('probe_read', (c) => probeRead(mem, c.ptr(1), c.lo(2), c.u64(3), false)),
    h('probe_read_kernel_str', (c) => probeRead(mem, c.ptr(1), c.lo(2), c.u64(3), true)),
    h('ringbuf_output', (c) => map(c, 1).output(c.ptr(2), c.num(3), c.num(4))),
    h('ringbuf_reserve', (c) => map(c, 1).reserve(c.num(2), c.num(3))),
    h('ringbuf_submit', (c) => sampleRing(env, c).submit(c.ptr(1), c.num(2))),
    h('ringbuf_discard', (c) => sampleRing(env, c).discard(c.ptr(1), c.num(2))),
    h('ringbuf_query', (c) => map(c, 1).query(c.num(2))),
    h('task_storage_get', (c) => {
      const owner = c.ptr(2);
      const flags = c.u64(4);
      // Unknown flag bits and owners that are not live tasks get NULL, as in the kernel.
      if (flags & ~BigInt(BPF_LOCAL_STORAGE_GET_F_CREATE) || !env.isTask(owner)) return 0;
      return map(c, 1).storageGet(owner, c.ptr(3), flags !== 0n);
    }),
    h('task_storage_delete', (c) => map(c, 1).storageDelete(c.ptr(2))),
    h('for_each_map_elem', (c) => {
      const m = map(c, 1);
      const slot = callbackSlot(c, 2);
      const ctx = c.u64(3);
      if (c.num(4) !== 0) return -EINVAL;
      const mapAddr = c.u64(1);
      return m.forEachElem((keyAddr, valueAddr) => Number(c.invoke(slot, [mapAddr, BigInt(keyAddr), BigInt(valueAddr), ctx]) & 0xffff_ffffn));
    }),
    h('loop', (c) => {
      const n = c.num(1);
      const slot = callbackSlot(c, 2);
      const ctx = c.u64(3);
      if (c.num(4) !== 0) return -EINVAL;
      if (n > BPF_MAX_LOOPS) return -E2BIG;
      let i = 0;
      while (i < n) {
        const stop = c.invoke(slot, [BigInt(i), ctx]);
        i++;
        if (BigInt.asUintN(64, stop) !== 0n) break;
      }
      return i;
    }),
    // The simulator runs one BPF program at a time per object, so a spin lock can never be
    // contended; the verifier (not the runtime) enforces that it is released.
    h('spin_lock', () => 0),
    h('spin_unlock', () => 0),
    h('kptr_xchg', (c) => {
      const at = c.ptr(1);
      const old = mem.view.getBigUint64(at, true);
      mem.view.setBigUint64(at, c.u64(2), true);
      return old;
    }),
    h('timer_init', (c) => {
      const at = c.ptr(1);
      const m = map(c, 2);
      const clock = c.num(3);
      if (clock !== CLOCK_MONOTONIC && clock !== CLOCK_REALTIME && clock !== CLOCK_BOOTTIME) return -EINVAL;
      if (env.timerStates.has(at)) return -EBUSY;
      env.timerStates.set(at, { timerAddr: at, map: m, clock, callback: -1, owner, armed: false });
      return 0;
    }),
    h('timer_set_callback', (c) => {
      const t = timer(c);
      if (typeof t === 'number') return t;
      t.callback = callbackSlot(c, 2);
      t.owner = owner;
      return 0;
    }),
    h('timer_start', (c) => {
      const t = timer(c);
      if (typeof t === 'number') return t;
      const flags = c.num(3);
      if (t.callback < 0 || flags & ~(BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN)) return -EINVAL;
      const now = mem.view.getBigUint64(words.clockAddr, true);
      const nsecs = c.u64(2);
      const at = flags & BPF_F_TIMER_ABS ? nsecs : now + nsecs;
      const cpu = flags & BPF_F_TIMER_CPU_PIN ? mem.view.getUint32(words.cpuAddr, true) : null;
      t.armed = true;
      env.timers.arm(t, Number(at), cpu);
      return 0;
    }),
    h('timer_cancel', (c) => {
      const t = timer(c);
      if (typeof t === 'number') return t;
      if (env.timers.running() === t) return -EDEADLK;
      const wasArmed = t.armed;
      t.armed = false;
      env.timers.disarm(t);
      return wasArmed ? 1 : 0;
    }),
  ];
}

/** A callback argument: a code address from `lddw func`, as a function slot. */
function callbackSlot(c: HelperCall, i: number): number {
  const slot = slotOfCodeAddress(c.u64(i));
  if (slot < 0) throw new HelperError(`argument r${i} (0x${c.u64(i).toString(16)}) is not a function`);
  return slot;
}

function sampleRing(env: HelperEnv, c: HelperCall): BpfMap {
  const m = env.ringbufOfSample(c.ptr(1));
  if (!m) throw new HelperError(`0x${c.u64(1).toString(16)} is not a reserved ring buffer sample`);
  return m;
}

/** bpf_probe_read_kernel(_str): copy from any address; a bad source zeroes dst and is -EFAULT. */
function probeRead(mem: AddressSpace, dst: number, size: number, src: bigint, str: boolean): number {
  if (mem.regionAt(dst, size) === undefined && size > 0) return -EFAULT;
  const bytes = mem.bytes;
  const from = src < 0x1_0000_0000n ? Number(src) : -1;
  if (!str) {
    if (from < 0 || (size > 0 && mem.regionAt(from, size) === undefined)) {
      bytes.fill(0, dst, dst + size);
      return -EFAULT;
    }
    bytes.copyWithin(dst, from, from + size);
    return 0;
  }
  if (size === 0) return 0;
  if (from < 0 || mem.regionAt(from, 1) === undefined) {
    bytes[dst] = 0;
    return -EFAULT;
  }
  let n = 0;
  while (n < size - 1 && mem.regionAt(from + n, 1) !== undefined && bytes[from + n] !== 0) {
    bytes[dst + n] = bytes[from + n];
    n++;
  }
  bytes[dst + n] = 0;
  return n + 1;
}

