/**
 * The sched_ext core against the semantics doc, behaviour by behaviour. Each test runs a small
 * TypeScript (or committed C) scheduler on a tiny machine and checks what the doc says the
 * kernel does: callback order and arguments, DSQ order, limits, slices, preemption, CPU
 * selection, affinity, timers, partial switching and higher-class interference.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fieldOf } from '../../../src/bpf/ctypes.ts';
import { taskStruct, scxCpuReleaseArgs } from '../../../src/sched/kernel-types.ts';
import type { TsCallbacks, TsKernelApi, TsSchedulerDef } from '../../../src/sched/ext/ops.ts';
import { simulate } from '../../../src/sched/simulate.ts';
import type { SimTask } from '../../../src/sched/spec.ts';

const MS = 1_000_000;
const LOCAL = 0x8000000000000002n;
const GLOBAL = 0x8000000000000001n;
const LOCAL_ON = 0xc000000000000000n;
const SLICE_DFL = 20_000_000n;
const SLICE_INF = (1n << 64n) - 1n;
const ENQ_PREEMPT = 1n << 32n;
const KICK_PREEMPT = 2n;
const SWITCH_PARTIAL = 8n;
const USER_DSQ = 7;

const PID = fieldOf(taskStruct, 'pid').offset;
const SLICE = fieldOf(taskStruct, 'scx.slice').offset;

/** Which arguments of each callback are task_struct pointers (printed as pids). */
const TASK_ARGS: Record<string, number[]> = {
  select_cpu: [0],
  enqueue: [0],
  dequeue: [0],
  dispatch: [1],
  runnable: [0],
  running: [0],
  stopping: [0],
  quiescent: [0],
  tick: [0],
  init_task: [0],
  exit_task: [0],
  enable: [0],
  disable: [0],
  set_weight: [0],
};
/** Arguments not worth printing (pointers to argument structs). */
const HIDDEN: Record<string, number[]> = { init_task: [1], exit_task: [1], cpu_release: [1], cpu_acquire: [1] };

/**
 * Wrap a scheduler's callbacks so every call is logged as `name(args)`, tasks by pid, at the
 * simulated time it happened (`ms` resolution is enough for these tests).
 */
function traced(log: string[], make: (api: TsKernelApi) => TsSchedulerDef) {
  return (api: TsKernelApi): TsSchedulerDef => {
    const def = make(api);
    const view = () => api.km.mem.view;
    const wrapped: TsCallbacks = {};
    for (const [name, fn] of Object.entries(def.callbacks)) {
      wrapped[name] = (...args: number[]) => {
        const shown = args
          .map((a, i) => (HIDDEN[name]?.includes(i) ? undefined : TASK_ARGS[name]?.includes(i) ? (a === 0 ? 'NULL' : `p${view().getInt32(a + PID, true)}`) : String(a)))
          .filter((a) => a !== undefined);
        const at = Number(api.kfunc('scx_bpf_now')) / MS;
        log.push(`${at}ms ${name}(${shown.join(', ')})`);
        return fn!(...args);
      };
    }
    return { ...def, callbacks: wrapped };
  };
}

const ts = (make: (api: TsKernelApi) => TsSchedulerDef) => ({ kind: 'ts' as const, make });
const sched = (name: string) => ({ kind: 'bpf' as const, file: `${name}.bpf.o`, bytes: new Uint8Array(readFileSync(resolve(__dirname, `../../../schedulers/${name}.bpf.o`))) });
const hog = (pid: number, extra: Partial<SimTask> = {}): SimTask => ({ pid, comm: `hog${pid}`, arrival: 0, phases: [{ run: 1e12 }], ...extra });

/** A FIFO scheduler on one user DSQ: enqueue inserts, dispatch moves to local. */
const userFifo = (api: TsKernelApi, slice = SLICE_DFL): TsSchedulerDef => ({
  name: 'user-fifo',
  callbacks: {
    init: () => Number(api.kfunc('scx_bpf_create_dsq', USER_DSQ, -1)),
    enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, USER_DSQ, slice, f),
    dispatch: () => void api.kfunc('scx_bpf_dsq_move_to_local', USER_DSQ),
  },
});

describe('the wake-up sequence (semantics doc §1.2, §1.3, §6.9)', () => {
  it('calls every callback in the kernel order, with the fork and wake-up flags', () => {
    const log: string[] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => {
      const base = userFifo(api);
      const noop = () => 0;
      return {
        ...base,
        callbacks: {
          ...base.callbacks,
          select_cpu: (_p, prev) => prev,
          runnable: noop,
          running: noop,
          stopping: noop,
          quiescent: noop,
          tick: noop,
          init_task: noop,
          enable: noop,
          disable: noop,
          exit_task: noop,
          set_weight: noop,
        },
      };
    };
    // Two CPUs so that select_cpu runs (a task with one allowed CPU skips it).
    const task: SimTask = { pid: 1, comm: 'w', arrival: 0, phases: [{ run: 2.5 * MS }, { sleep: 2 * MS }, { run: 2.5 * MS }], loops: 1 };
    simulate({ scheduler: ts(traced(log, make)), tasks: [task], topology: '2', durationNs: 20 * MS, checkInvariants: true });
    expect(log).toEqual([
      '0ms init()',
      // Fork: init_task, enable, set_weight (100 = nice 0), then the first wake-up with
      // SCX_WAKE_FORK (4); its runnable/enqueue carry neither WAKEUP nor CPU_SELECTED.
      '0ms init_task(p1)',
      '0ms enable(p1)',
      '0ms set_weight(p1, 100)',
      '0ms select_cpu(p1, 1, 4)',
      '0ms runnable(p1, 0)',
      '0ms enqueue(p1, 0)',
      '0ms dispatch(1, NULL)',
      '0ms running(p1)',
      '1ms tick(p1)',
      '2ms tick(p1)',
      // Blocking: stopping(false), quiescent(SLEEP), then dispatch with the blocked prev.
      '2.5ms stopping(p1, 0)',
      '2.5ms quiescent(p1, 1)',
      '2.5ms dispatch(1, p1)',
      // The wake-up: SCX_WAKE_TTWU (8); runnable and enqueue get WAKEUP | CPU_SELECTED.
      '4.5ms select_cpu(p1, 1, 8)',
      '4.5ms runnable(p1, 1025)',
      '4.5ms enqueue(p1, 1025)',
      '4.5ms dispatch(1, NULL)',
      '4.5ms running(p1)',
      '5ms tick(p1)',
      '6ms tick(p1)',
      // Death after the last phase: the last stopping/quiescent, the CPU's next pick (prev is
      // still the dying task), then disable and exit_task.
      '7ms stopping(p1, 0)',
      '7ms quiescent(p1, 1)',
      '7ms dispatch(1, p1)',
      '7ms disable(p1)',
      '7ms exit_task(p1)',
    ]);
  });

  it('skips enqueue when select_cpu inserted the task directly (§1.3 step 3)', () => {
    const log: string[] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => ({
      name: 'direct',
      callbacks: {
        select_cpu: (p, prev) => {
          api.kfunc('scx_bpf_dsq_insert', p, LOCAL, SLICE_DFL, 0);
          return prev;
        },
        enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, GLOBAL, SLICE_DFL, f),
        running: () => 0,
      },
    });
    const r = simulate({ scheduler: ts(traced(log, make)), tasks: [{ pid: 2, comm: 'd', arrival: 0, phases: [{ run: MS }], loops: 1 }], topology: '2', durationNs: 5 * MS });
    expect(log).toEqual(['0ms select_cpu(p2, 0, 4)', '0ms running(p2)']);
    expect(r.tasks[0]).toMatchObject({ runtime: MS, wait: 0, exited: true });
  });
});

describe('dispatch queues on the machine (§2.3, §2.6)', () => {
  const oneShots = (n: number): SimTask[] => Array.from({ length: n }, (_, i) => ({ pid: i + 1, comm: `j${i + 1}`, arrival: 0, phases: [{ run: MS }], loops: 1 }));
  const order = (log: string[]) => log.filter((l) => l.includes('running')).map((l) => l.replace(/.*running\((p\d+)\)/, '$1'));

  it('runs a FIFO DSQ in insertion order and a vtime DSQ in vtime order', () => {
    const make = (vtime: boolean) => (api: TsKernelApi): TsSchedulerDef => ({
      name: vtime ? 'by-vtime' : 'by-fifo',
      callbacks: {
        init: () => Number(api.kfunc('scx_bpf_create_dsq', USER_DSQ, -1)),
        // vtime = 100 - pid: the last task to arrive has the smallest vtime.
        enqueue: (p, f) => {
          const pid = api.km.mem.view.getInt32(p + PID, true);
          if (vtime) api.kfunc('scx_bpf_dsq_insert_vtime', p, USER_DSQ, SLICE_DFL, 100 - pid, f);
          else api.kfunc('scx_bpf_dsq_insert', p, USER_DSQ, SLICE_DFL, f);
        },
        dispatch: () => void api.kfunc('scx_bpf_dsq_move_to_local', USER_DSQ),
        running: () => 0,
      },
    });
    for (const vtime of [false, true]) {
      const log: string[] = [];
      simulate({ scheduler: ts(traced(log, make(vtime))), tasks: oneShots(4), topology: '1', durationNs: 10 * MS, checkInvariants: true });
      expect(order(log)).toEqual(vtime ? ['p4', 'p3', 'p2', 'p1'] : ['p1', 'p2', 'p3', 'p4']);
    }
  });

  it('limits one dispatch call to dispatch_max_batch inserts, counting the slots left', () => {
    const slots: number[] = [];
    const make = (batch: number) => (api: TsKernelApi): TsSchedulerDef => {
      const held: number[] = [];
      return {
        name: 'batcher',
        dispatchMaxBatch: batch,
        callbacks: {
          // Keep every task in "BPF" until dispatch inserts all of them at once.
          enqueue: (p) => void held.push(p),
          dispatch: () => {
            while (held.length) {
              slots.push(Number(api.kfunc('scx_bpf_dispatch_nr_slots')));
              api.kfunc('scx_bpf_dsq_insert', held.shift()!, GLOBAL, SLICE_DFL, 0);
            }
          },
        },
      };
    };
    const ok = simulate({ scheduler: ts(make(3)), tasks: oneShots(3), topology: '1', durationNs: 10 * MS });
    expect(ok.exit).toBeUndefined();
    expect(slots).toEqual([3, 2, 1]);
    const over = simulate({ scheduler: ts(make(2)), tasks: oneShots(3), topology: '1', durationNs: 10 * MS, checkInvariants: true });
    expect(over.exit).toMatchObject({ kind: 1024, msg: 'dispatch buffer overflow', atNs: 0 });
    // The abort loses no task: all three still run, in the fair class.
    expect(over.tasks.map((t) => [t.runtime, t.exited])).toEqual([
      [MS, true],
      [MS, true],
      [MS, true],
    ]);
  });
});

describe('slices (§6.4)', () => {
  it('expires a slice at the tick that empties it, and refills it quietly when nothing else waits', () => {
    const log: string[] = [];
    const slices: number[] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => ({
      ...userFifo(api, 3n * BigInt(MS)),
      name: 'short-slice',
      callbacks: {
        ...userFifo(api, 3n * BigInt(MS)).callbacks,
        running: () => 0,
        stopping: () => 0,
        tick: (p) => void slices.push(Number(api.km.mem.view.getBigUint64(p + SLICE, true)) / MS),
      },
    });
    simulate({ scheduler: ts(traced(log, make)), tasks: [hog(1)], topology: '1', durationNs: 6.5 * MS });
    // 3 ms slice: 2, 1, 0 ms left at the ticks; at 0 nothing else is runnable, so the task
    // keeps the CPU with SCX_SLICE_DFL (20 ms) and no stopping/enqueue/running callbacks.
    expect(slices).toEqual([2, 1, 0, 19, 18, 17]);
    // The slice ran out at 3 ms: the CPU asks dispatch (prev = p1), which finds nothing.
    expect(log.filter((l) => !l.includes('tick'))).toEqual(['0ms init()', '0ms enqueue(p1, 0)', '0ms dispatch(0, NULL)', '0ms running(p1)', '3ms dispatch(0, p1)']);

    // With a second task waiting in the user DSQ, slice expiry switches: dispatch (with prev)
    // moves the next task to the local DSQ first, then prev gets stopping(true) and enqueue (no
    // WAKEUP), then the next task's running (§1.3 step 7).
    const log2: string[] = [];
    simulate({ scheduler: ts(traced(log2, make)), tasks: [hog(1), hog(2)], topology: '1', durationNs: 6.5 * MS });
    expect(log2.filter((l) => !l.includes('tick') && !l.includes('init'))).toEqual([
      '0ms enqueue(p1, 0)',
      '0ms enqueue(p2, 0)',
      '0ms dispatch(0, NULL)',
      '0ms running(p1)',
      '3ms dispatch(0, p1)',
      '3ms stopping(p1, 1)',
      '3ms enqueue(p1, 0)',
      '3ms running(p2)',
      '6ms dispatch(0, p2)',
      '6ms stopping(p2, 1)',
      '6ms enqueue(p2, 0)',
      '6ms running(p1)',
    ]);
  });
});

describe('preemption (§6.4)', () => {
  const sleeper: SimTask = { pid: 2, comm: 'waker', arrival: 0, phases: [{ sleep: 5 * MS }, { run: MS }], loops: 1 };

  it('SCX_ENQ_PREEMPT on a local insert switches the CPU at once; a plain insert waits for the slice', () => {
    const make = (preempt: boolean) => (api: TsKernelApi): TsSchedulerDef => ({
      name: 'local',
      callbacks: { enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, LOCAL, 8n * BigInt(MS), BigInt(f) | (preempt ? ENQ_PREEMPT : 0n)) },
    });
    const withPreempt = simulate({ scheduler: ts(make(true)), tasks: [hog(1), sleeper], topology: '1', durationNs: 20 * MS, checkInvariants: true });
    expect(withPreempt.tasks[1].wakeupLatency).toMatchObject({ count: 1, max: 0 });
    // Without it the waker waits for the hog's 8 ms slice to run out: the tick at 8 ms.
    const without = simulate({ scheduler: ts(make(false)), tasks: [hog(1), sleeper], topology: '1', durationNs: 20 * MS, checkInvariants: true });
    expect(without.tasks[1].wakeupLatency).toMatchObject({ count: 1, max: 3 * MS });
  });

  it('scx_bpf_kick_cpu with SCX_KICK_PREEMPT takes the CPU from a task with an infinite slice', () => {
    const log: string[] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => ({
      name: 'kicker',
      callbacks: {
        init: () => Number(api.kfunc('scx_bpf_create_dsq', USER_DSQ, -1)),
        enqueue: (p, f) => {
          api.kfunc('scx_bpf_dsq_insert', p, USER_DSQ, SLICE_INF, f);
          if (f & 1) api.kfunc('scx_bpf_kick_cpu', 0, KICK_PREEMPT); // a wake-up: make room
        },
        dispatch: () => void api.kfunc('scx_bpf_dsq_move_to_local', USER_DSQ),
        running: () => 0,
        stopping: () => 0,
      },
    });
    const r = simulate({ scheduler: ts(traced(log, make)), tasks: [hog(1), sleeper], topology: '1', durationNs: 20 * MS, checkInvariants: true });
    expect(r.tasks[1].wakeupLatency).toMatchObject({ count: 1, max: 0 });
    expect(log.filter((l) => l.startsWith('5ms'))).toEqual(['5ms enqueue(p2, 1)', '5ms dispatch(0, p1)', '5ms stopping(p1, 1)', '5ms enqueue(p1, 0)', '5ms running(p2)']);
  });
});

describe('CPU selection and affinity (§6.5, §6.8, §2.5)', () => {
  it('the default selection prefers an idle CPU in prev\'s LLC, then a whole idle core', () => {
    const cpuOf = (topology: string, tasks: SimTask[]) => {
      const seen = new Map<number, number>();
      const make = (api: TsKernelApi): TsSchedulerDef => ({
        name: 'dfl',
        callbacks: { running: (p) => void seen.set(api.km.mem.view.getInt32(p + PID, true), Number(api.kfunc('scx_bpf_task_cpu', p))) },
      });
      simulate({ scheduler: ts(make), tasks, topology, durationNs: 10 * MS, checkInvariants: true });
      return seen;
    };
    // 2 LLCs of 2 CPUs: pid 4 and pid 8 both start from CPU 0 (pid mod 4). The second finds
    // CPU 0 busy and takes CPU 1, which shares its LLC, not CPU 2 or 3.
    const llc = cpuOf('1n:2l:2c:1t', [hog(4), hog(8, { arrival: MS })]);
    expect([llc.get(4), llc.get(8)]).toEqual([0, 1]);
    // 2 cores x 2 threads (CPU 0's sibling is 2): the second task skips the busy core's idle
    // sibling for the other, fully idle core.
    const smt = cpuOf('1n:1l:2c:2t', [hog(4), hog(8, { arrival: MS })]);
    expect([smt.get(4), smt.get(8)]).toEqual([0, 1]);
  });

  it('keeps pinned tasks on their CPUs, and aborts a LOCAL_ON insert to a CPU the task may not use', () => {
    const pinned = [hog(1, { cpus: [1] }), hog(2, { cpus: [1] }), hog(3, { cpus: [0] })];
    const r = simulate({ scheduler: sched('fifo'), tasks: pinned, topology: '2', durationNs: 80 * MS, checkInvariants: true });
    // Tasks 1 and 2 take turns of 20 ms on CPU 1; task 3 has CPU 0 to itself.
    expect(r.tasks.map((t) => t.runtime)).toEqual([40 * MS, 40 * MS, 80 * MS]);
    expect(r.tasks.map((t) => t.migrations)).toEqual([0, 0, 0]);
    const toCpu0 = (api: TsKernelApi): TsSchedulerDef => ({ name: 'to-cpu0', callbacks: { enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, LOCAL_ON | 0n, SLICE_DFL, f) } });
    const bad = simulate({ scheduler: ts(toCpu0), tasks: [hog(1, { cpus: [1] })], topology: '2', durationNs: 10 * MS, checkInvariants: true });
    expect(bad.exit).toMatchObject({ kind: 1024, msg: 'SCX_DSQ_LOCAL[_ON] target CPU 0 not allowed for hog1[1]', atNs: 0 });
    expect(bad.tasks[0].runtime).toBe(10 * MS);
  });
});

describe('BPF timers (§7.1)', () => {
  it('fire on the simulated clock: pulse slices hogs with a 5 ms timer instead of the tick', () => {
    const r = simulate({ scheduler: sched('pulse'), tasks: [hog(1), hog(2)], topology: '1', durationNs: 100 * MS, checkInvariants: true });
    expect(r.exit).toBeUndefined();
    // Timer at 5, 10, ... 95 ms. A task that started at t is kicked by the first timer with
    // now - t >= 5 ms, i.e. after 10 ms: five turns each.
    expect(r.callbacks!.timer).toBe(19);
    expect(r.tasks.map((t) => [t.runtime, t.switches])).toEqual([
      [50 * MS, 5],
      [50 * MS, 5],
    ]);
    // Without work waiting the timer kicks nobody: one hog runs undisturbed.
    const alone = simulate({ scheduler: sched('pulse'), tasks: [hog(1)], topology: '1', durationNs: 100 * MS });
    expect(alone.tasks[0]).toMatchObject({ runtime: 100 * MS, switches: 1 });
  });
});

describe('partial switching and higher classes (§0, §1.1, §6.1, §6.8)', () => {
  const reason = fieldOf(scxCpuReleaseArgs, 'reason').offset;

  it('with SCX_OPS_SWITCH_PARTIAL only SCHED_EXT tasks reach the scheduler, and fair tasks preempt them', () => {
    const log: string[] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => ({
      name: 'partial',
      flags: SWITCH_PARTIAL,
      callbacks: {
        enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, GLOBAL, SLICE_DFL, f),
        enable: () => 0,
        running: () => 0,
        stopping: () => 0,
        cpu_release: (_cpu, args) => void log.push(`release reason ${api.km.mem.view.getUint32(args + reason, true)}`),
        cpu_acquire: () => 0,
      },
    });
    // One CPU: an ext hog, and a normal task that runs 1 ms every 4 ms.
    const normal: SimTask = { pid: 2, comm: 'normal', arrival: MS, phases: [{ run: MS }, { sleep: 3 * MS }] };
    const r = simulate({ scheduler: ts(traced(log, make)), tasks: [hog(1, { policy: 'ext' }), normal], topology: '1', durationNs: 9 * MS, checkInvariants: true });
    // The normal task never appears in a callback, and runs the moment it wakes.
    expect(log.some((l) => /p2/.test(l))).toBe(false);
    // It wakes at 1 ms (its arrival) and 5 ms; at 9 ms the run ends.
    expect(r.tasks[1].wakeupLatency).toMatchObject({ count: 2, max: 0 });
    expect(r.tasks.map((t) => t.runtime)).toEqual([7 * MS, 2 * MS]);
    // Each time: the ext task stops with its slice left (no enqueue: back to the head of the
    // local DSQ), cpu_release (reason SCX_CPU_PREEMPT_UNKNOWN, 3, for the fair class), and when
    // the fair task sleeps, cpu_acquire and the ext task runs again.
    expect(log.filter((l) => !l.includes('tick')).slice(0, 10)).toEqual([
      '0ms enable(p1)',
      '0ms enqueue(p1, 0)',
      '0ms running(p1)',
      '1ms stopping(p1, 1)',
      '1ms cpu_release(0)',
      'release reason 3',
      '2ms cpu_acquire(0)',
      '2ms running(p1)',
      '5ms stopping(p1, 1)',
      '5ms cpu_release(0)',
    ]);
  });

  it('an RT task takes the CPU from the ext class; the ext task resumes with the slice it had left', () => {
    const log: string[] = [];
    const slices: number[] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => ({
      name: 'rt-victim',
      callbacks: {
        enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, GLOBAL, SLICE_DFL, f),
        running: (p) => void slices.push(Number(api.km.mem.view.getBigUint64(p + SLICE, true)) / MS),
        stopping: () => 0,
        cpu_release: (_cpu, args) => void log.push(`release reason ${api.km.mem.view.getUint32(args + reason, true)}`),
        cpu_acquire: () => 0,
      },
    });
    const rt: SimTask = { pid: 9, comm: 'rt', policy: 'fifo', rtPriority: 50, arrival: 0, phases: [{ sleep: 5 * MS }, { run: 2 * MS }], loops: 1 };
    const r = simulate({ scheduler: ts(traced(log, make)), tasks: [hog(1), rt], topology: '1', durationNs: 20 * MS, checkInvariants: true });
    expect(log.filter((l) => !l.includes('tick'))).toEqual([
      '0ms enqueue(p1, 0)',
      '0ms running(p1)',
      '5ms stopping(p1, 1)',
      '5ms cpu_release(0)',
      'release reason 0',
      '7ms cpu_acquire(0)',
      '7ms running(p1)',
    ]);
    // 5 ms of the 20 ms slice were used before the RT task came: 15 ms were left.
    expect(slices).toEqual([20, 15]);
    expect(r.tasks.map((t) => [t.runtime, t.wakeupLatency.count, t.wakeupLatency.max])).toEqual([
      [18 * MS, 1, 0],
      [2 * MS, 1, 0],
    ]);
  });
});

describe('sched_ext constants in .rodata (§8)', () => {
  const fixture = (name: string) => ({ kind: 'bpf' as const, file: `${name}.bpf.o`, bytes: new Uint8Array(readFileSync(resolve(__dirname, `../../fixtures/sched/${name}.bpf.o`))) });

  it('fills every __SCX_* variable with the kernel value before load, as SCX_ENUM_INIT does', () => {
    // enums.bpf.o inserts into __SCX_DSQ_LOCAL with __SCX_SLICE_DFL / 2: zeros would abort (DSQ 0
    // does not exist); the kernel's values give two hogs turns of 10 ms.
    const r = simulate({ scheduler: fixture('enums'), tasks: [hog(1), hog(2)], topology: '1', durationNs: 100 * MS, checkInvariants: true });
    expect(r.exit).toBeUndefined();
    expect(r.tasks.map((t) => [t.runtime, t.switches])).toEqual([
      [50 * MS, 5],
      [50 * MS, 5],
    ]);
  });

  it('refuses an object asking for a constant the kernel does not have', () => {
    expect(() => simulate({ scheduler: fixture('unknown-enum'), tasks: [hog(1)], topology: '1', durationNs: MS })).toThrow(
      'unknown-enum.bpf.o: .rodata variable __SCX_NOT_A_CONSTANT: the simulated kernel (6.12) has no sched_ext constant SCX_NOT_A_CONSTANT',
    );
  });
});

describe('the event log', () => {
  it('records wake-ups, switches with what became of the task leaving, exits and the scheduler exit', () => {
    const make = (api: TsKernelApi): TsSchedulerDef => ({
      name: 'local-preempt',
      callbacks: { enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, LOCAL, 8n * BigInt(MS), BigInt(f) | ENQ_PREEMPT) },
    });
    const sleeper: SimTask = { pid: 2, comm: 'waker', arrival: 0, phases: [{ sleep: 5 * MS }, { run: MS }], loops: 1 };
    const r = simulate({ scheduler: ts(make), tasks: [hog(1), sleeper], topology: '1', durationNs: 10 * MS, trace: true });
    const local0 = (at: number, depth: number) => ({ at, type: 'dsq', dsq: 'SCX_DSQ_LOCAL_ON|0', depth });
    expect(r.trace).toEqual([
      { at: 0, type: 'wakeup', pid: 1, cpu: 0, class: 'ext', by: 0 },
      // Inserted into CPU 0's local DSQ, then taken from it to run.
      local0(0, 1),
      local0(0, 0),
      { at: 0, type: 'switch', cpu: 0, prev: 0, prevState: 'idle', next: 1 },
      { at: 5 * MS, type: 'wakeup', pid: 2, cpu: 0, class: 'ext', by: 0 },
      // The waker goes in with PREEMPT and out to run; the hog goes back in (enqueue with a
      // zeroed slice) while the waker runs.
      local0(5 * MS, 1),
      local0(5 * MS, 0),
      local0(5 * MS, 1),
      { at: 5 * MS, type: 'switch', cpu: 0, prev: 1, prevState: 'queued', next: 2 },
      local0(6 * MS, 0),
      { at: 6 * MS, type: 'switch', cpu: 0, prev: 2, prevState: 'exited', next: 1 },
      { at: 6 * MS, type: 'exit', pid: 2 },
    ]);
    // A wake-up by a post names the poster; kicks are logged with who kicked.
    const pair: SimTask[] = [
      { pid: 5, comm: 'poster', arrival: 0, phases: [{ run: MS }, { post: 'e' }], loops: 1 },
      { pid: 6, comm: 'waiter', arrival: 0, phases: [{ wait: 'e' }, { run: MS }], loops: 1 },
    ];
    const p = simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks: pair, topology: '2', durationNs: 5 * MS, trace: true });
    expect(p.trace!.filter((e) => e.type === 'wakeup')).toEqual([
      { at: 0, type: 'wakeup', pid: 5, cpu: 1, class: 'fair', by: 0 },
      { at: MS, type: 'wakeup', pid: 6, cpu: 0, class: 'fair', by: 5 },
    ]);
    // Without asking, no log is kept.
    expect(simulate({ scheduler: ts(make), tasks: [hog(1)], topology: '1', durationNs: MS }).trace).toBeUndefined();
  });
});
