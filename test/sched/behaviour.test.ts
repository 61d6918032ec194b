/**
 * Task behaviour programs on the machine: wake-up edges between tasks, periodic timers with
 * deadlines, yield, fork, exit, nice and affinity changes, nested loops. Expectations are
 * worked out by hand from the step semantics in src/sched/spec.ts.
 */
import { describe, expect, it } from 'vitest';
import type { TsKernelApi, TsSchedulerDef } from '../../src/sched/ext/ops.ts';
import { tsFifo } from '../../src/sched/ext/ts-schedulers.ts';
import { simulate } from '../../src/sched/simulate.ts';
import type { SimTask } from '../../src/sched/spec.ts';
import { fieldOf } from '../../src/bpf/ctypes.ts';
import { taskStruct } from '../../src/sched/kernel-types.ts';

const MS = 1_000_000;
const PID = fieldOf(taskStruct, 'pid').offset;
const eevdf = { kind: 'builtin:eevdf' as const };
const fifo = { kind: 'ts' as const, make: tsFifo };
const switchesOf = (r: ReturnType<typeof simulate>) => r.trace!.filter((e) => e.type === 'switch').map((e) => e.type === 'switch' && [e.at / MS, e.cpu, e.next]);

describe('wake-up edges between tasks', () => {
  it('wait blocks until a post, and a post made first is kept for the next wait', () => {
    for (const scheduler of [eevdf, fifo]) {
      const tasks: SimTask[] = [
        { pid: 1, comm: 'producer', arrival: 0, phases: [{ run: MS }, { post: 'pipe' }, { run: MS }, { post: 'pipe' }], loops: 1 },
        // Waits at 0 (nothing posted yet), is woken at 1 ms; at 3 ms the second token waits
        // for it already (posted at 2 ms), so the second wait does not block.
        { pid: 2, comm: 'consumer', arrival: 0, phases: [{ wait: 'pipe' }, { run: 2 * MS }, { wait: 'pipe' }, { run: MS }], loops: 1 },
      ];
      const r = simulate({ scheduler, tasks, topology: '2', durationNs: 10 * MS, trace: true, checkInvariants: true });
      expect(r.tasks.map((t) => [t.runtime, t.exited, t.wakeupLatency.count])).toEqual([
        [2 * MS, true, 1],
        [3 * MS, true, 1],
      ]);
      expect(r.tasks[1].exitedAt).toBe(4 * MS);
    }
  });

  it('broadcast wakes every waiter at once and keeps no token', () => {
    const waiter = (pid: number): SimTask => ({ pid, comm: `w${pid}`, arrival: 0, phases: [{ wait: 'go' }, { run: MS }], loops: 1 });
    const tasks: SimTask[] = [waiter(1), waiter(2), waiter(3), { pid: 4, comm: 'starter', arrival: 0, phases: [{ sleep: 2 * MS }, { broadcast: 'go' }, { sleep: MS }, { broadcast: 'go' }, { run: MS }], loops: 1 }, waiter(5)];
    // Waiter 5 arrives with the others and is woken by the first broadcast too (four waiters run
    // 2-3 ms on four CPUs); nobody is left for the second broadcast, which leaves no token.
    const r = simulate({ scheduler: eevdf, tasks, topology: '4', durationNs: 10 * MS, checkInvariants: true });
    expect(r.tasks.map((t) => t.exitedAt)).toEqual([3 * MS, 3 * MS, 3 * MS, 4 * MS, 3 * MS]);
    // A late waiter finds no token: it never runs.
    const late: SimTask = { pid: 6, comm: 'late', arrival: 5 * MS, phases: [{ wait: 'go' }, { run: MS }], loops: 1 };
    const r2 = simulate({ scheduler: eevdf, tasks: [...tasks, late], topology: '4', durationNs: 10 * MS });
    expect(r2.tasks[5]).toMatchObject({ runtime: 0, exited: false });
  });
});

describe('periodic timers with deadlines', () => {
  it('wakes at arrival + k * period and counts activations that finish after their deadline', () => {
    const periodic: SimTask = { pid: 1, comm: 'rt-like', arrival: MS, phases: [{ run: 3 * MS }, { timer: 10 * MS, deadline: 4 * MS }] };
    // An RT task takes the only CPU from 21 to 26 ms: the activation at 21 ms starts at 26 ms,
    // ends at 29 ms, past its deadline of 25 ms. Activations at 1, 11, 21, ..., 91 ms are checked
    // when each one's work is done (the one of 91 ms at 94 ms).
    const rt: SimTask = { pid: 2, comm: 'irq', policy: 'fifo', rtPriority: 50, arrival: 21 * MS, phases: [{ run: 5 * MS }], loops: 1 };
    const r = simulate({ scheduler: eevdf, tasks: [periodic, rt], topology: '1', durationNs: 100 * MS, trace: true, checkInvariants: true });
    expect([r.tasks[0].deadlineChecks, r.tasks[0].deadlineMisses]).toEqual([10, 1]);
    expect(switchesOf(r).slice(0, 6)).toEqual([
      [1, 0, 1],
      [4, 0, 0],
      [11, 0, 1],
      [14, 0, 0],
      [21, 0, 2],
      [26, 0, 1],
    ]);
  });
});

describe('yield, fork, exit and nested loops', () => {
  it('yield gives the CPU to a waiting task; a sched_ext scheduler sees slice 0 (or its yield callback)', () => {
    const yielder: SimTask = { pid: 1, comm: 'yielder', arrival: 0, phases: [{ run: MS }, { yield: true }] };
    const hog: SimTask = { pid: 2, comm: 'hog', arrival: 0, phases: [{ run: 1e12 }] };
    const r = simulate({ scheduler: fifo, tasks: [yielder, hog], topology: '1', durationNs: 45 * MS, trace: true });
    // The yielder runs 1 ms, yields to the hog (20 ms slice), runs 1 ms again, yields...
    expect(switchesOf(r)).toEqual([
      [0, 0, 1],
      [1, 0, 2],
      [21, 0, 1],
      [22, 0, 2],
      [42, 0, 1],
      [43, 0, 2],
    ]);
    const calls: number[] = [];
    const withYield = (api: TsKernelApi): TsSchedulerDef => {
      const base = tsFifo(api);
      return { ...base, callbacks: { ...base.callbacks, yield: (p) => void calls.push(api.km.mem.view.getInt32(p + PID, true)) } };
    };
    simulate({ scheduler: { kind: 'ts', make: withYield }, tasks: [yielder, hog], topology: '1', durationNs: 5 * MS });
    // Its yield callback keeps the slice, so the yielder goes on: a call at 1, 2, 3 and 4 ms.
    expect(calls).toEqual([1, 1, 1, 1]);
  });

  it('fork starts a child with the next pid; exit ends a task mid-program; repeat nests loops', () => {
    const parent: SimTask = {
      pid: 7,
      comm: 'shell',
      arrival: 0,
      phases: [{ run: MS }, { fork: { comm: 'child', phases: [{ run: 2 * MS }], loops: 1 } }, { repeat: 3, phases: [{ run: MS }, { sleep: MS }] }, { exit: true }, { run: 50 * MS }],
      loops: 1,
    };
    const r = simulate({ scheduler: fifo, tasks: [parent], topology: '2', durationNs: 20 * MS, checkInvariants: true });
    // The parent runs 1 + 3 x (1 run, 1 sleep) ms and exits at 7 ms, before its last run step.
    expect(r.tasks.map((t) => [t.pid, t.comm, t.arrival, t.runtime, t.exitedAt])).toEqual([
      [7, 'shell', 0, 4 * MS, 7 * MS],
      [8, 'child', MS, 2 * MS, 3 * MS],
    ]);
    // select_cpu: the parent's first wake-up and its wake-ups at 3 and 5 ms, and the child's
    // first (fork) wake-up; the sleep ending at 7 ms leads to the exit, not a wake-up.
    expect(r.callbacks).toMatchObject({ select_cpu: 4 });
  });
});

describe('nice and affinity changes', () => {
  it('a nice change reaches set_weight and changes the fair share', () => {
    const weights: number[] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => {
      const base = tsFifo(api);
      return { ...base, callbacks: { ...base.callbacks, set_weight: (_p, w) => void weights.push(w) } };
    };
    const renicer: SimTask = { pid: 1, comm: 'renicer', arrival: 0, phases: [{ run: MS }, { nice: -5 }, { run: 1e12 }] };
    simulate({ scheduler: { kind: 'ts', make }, tasks: [renicer], topology: '1', durationNs: 5 * MS });
    // Fork: set_weight(100) for nice 0; then 335 for nice -5 (3121 * 100 / 1024, rounded).
    expect(weights).toEqual([100, 305]);
    // Under EEVDF the renice shows in the split with a nice-0 hog: 3121 vs 1024.
    const hog: SimTask = { pid: 2, comm: 'hog', arrival: 0, phases: [{ run: 1e12 }] };
    const r = simulate({ scheduler: eevdf, tasks: [renicer, hog], topology: '1', durationNs: 2000 * MS });
    const share = r.tasks[0].runtime / (r.tasks[0].runtime + r.tasks[1].runtime);
    expect(Math.abs(share - 3121 / (3121 + 1024))).toBeLessThan(0.02);
  });

  it('an affinity change moves a running task off a CPU it may no longer use', () => {
    const mover: SimTask = { pid: 2, comm: 'mover', arrival: 0, phases: [{ run: 2 * MS }, { cpus: [1] }, { run: 3 * MS }], loops: 1 };
    for (const scheduler of [eevdf, fifo]) {
      const r = simulate({ scheduler, tasks: [mover], topology: '2', durationNs: 10 * MS, trace: true, checkInvariants: true });
      // Task 2 starts on CPU 0 (2 mod 2), moves to CPU 1 at 2 ms and finishes there at 5 ms.
      expect(switchesOf(r)).toEqual([
        [0, 0, 2],
        [2, 0, 0],
        [2, 1, 2],
        [5, 1, 0],
      ]);
      expect(r.trace!.find((e) => e.type === 'switch' && e.prev === 2 && e.at === 2 * MS)).toMatchObject({ prevState: 'queued' });
      expect(r.tasks[0]).toMatchObject({ runtime: 5 * MS, migrations: 1 });
    }
  });
});

describe('programs the machine refuses', () => {
  it('names the step and what is wrong with it', () => {
    const bad = (phases: unknown[]) => () => simulate({ scheduler: eevdf, tasks: [{ pid: 1, comm: 'x', arrival: 0, phases: phases as SimTask['phases'] }], topology: '1', durationNs: MS });
    expect(bad([{ jump: 3 }])).toThrow('task 1: phases[0]: unknown step, found {"jump":3}');
    expect(bad([{ run: -5 }])).toThrow('task 1: phases[0]: run: expected non-negative integer ns, found {"run":-5}');
    expect(bad([{ repeat: 2, phases: [{ sleep: 1.5 }] }])).toThrow('task 1: phases[0].phases[0]: sleep: expected non-negative integer ns, found {"sleep":1.5}');
    expect(bad([{ fork: { comm: 'c', phases: [] } }])).toThrow('task 1: phases[0].fork: no phases');
    expect(bad([{ timer: 0 }])).toThrow('task 1: phases[0]: timer: expected a positive period and a non-negative deadline (ns), found {"timer":0}');
    expect(bad([{ yield: true }])).toThrow('task 1: its program takes no time, so it would loop forever');
  });
});
