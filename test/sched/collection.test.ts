/**
 * The scheduler collection's characteristic behaviours (issue 9): each scheduler in
 * schedulers/ run in the simulator against a baseline on a workload chosen to show what its
 * policy is for. Every expectation is a number compared with the baseline's, so a scheduler
 * that lost its point fails.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LatencyStats } from '../../src/sched/latency.ts';
import { simulate, type SimulateOptions } from '../../src/sched/simulate.ts';
import type { SimTask } from '../../src/sched/spec.ts';
import { parseTopology } from '../../src/sched/topology.ts';
import { loadWorkload } from '../../src/workload/load.ts';

const ROOT = resolve(__dirname, '../..');
const MS = 1_000_000;
const US = 1_000;
const bpf = (name: string) => ({ kind: 'bpf' as const, file: `${name}.bpf.o`, bytes: new Uint8Array(readFileSync(join(ROOT, 'schedulers', `${name}.bpf.o`))) });
const run = (name: string, o: Omit<SimulateOptions, 'scheduler'>) => simulate({ scheduler: bpf(name), ...o });
const busy = (r: ReturnType<typeof simulate>) => r.cpus.reduce((a, c) => a + c.busy, 0);
const switches = (r: ReturnType<typeof simulate>) => r.cpus.reduce((a, c) => a + c.switches, 0);

const SCX_DSQ_FLAG_BUILTIN = 1n << 63n;
/** kfuncs that put a task where a CPU will run it, and the argument holding their target DSQ. */
const PLACING: Record<string, number> = {
  scx_bpf_dsq_insert: 2,
  scx_bpf_dsq_insert_vtime: 2,
  scx_bpf_dispatch: 2,
  scx_bpf_dispatch_vtime: 2,
  scx_bpf_dsq_move: 3,
  scx_bpf_dsq_move_vtime: 3,
  scx_bpf_dsq_move_to_local: 0,
  scx_bpf_consume: 0,
};

/**
 * Per CPU, the calls that decided what a CPU runs: moving a task to a local DSQ (move_to_local,
 * or an insert or move whose target is a built-in DSQ). Inserting into a user DSQ only queues.
 */
function placementsByCpu(name: string, o: Omit<SimulateOptions, 'scheduler'>) {
  const byCpu = new Map<number, number>();
  const r = run(name, {
    ...o,
    observeKfunc: (kfunc, cpu, c) => {
      const arg = PLACING[kfunc];
      if (arg === undefined) return;
      if (arg !== 0 && (c.u64(arg) & SCX_DSQ_FLAG_BUILTIN) === 0n) return;
      byCpu.set(cpu, (byCpu.get(cpu) ?? 0) + 1);
    },
  });
  return { r, byCpu };
}

describe('simulate({ observeKfunc })', () => {
  it('reports each sched_ext kfunc call with the CPU it was made on', () => {
    const calls: [string, number][] = [];
    const tasks = loadWorkload('gen:hogs,n=6');
    const r = run('fifo', { tasks, topology: '2', durationNs: 200 * MS, observeKfunc: (name, cpu) => calls.push([name, cpu]) });
    // fifo's dispatch() makes exactly one move_to_local call.
    const moves = calls.filter(([n]) => n === 'scx_bpf_dsq_move_to_local');
    expect(moves.length).toBe(r.callbacks!.dispatch);
    expect(new Set(moves.map(([, cpu]) => cpu))).toEqual(new Set([0, 1]));
    expect(calls.filter(([n]) => n === 'scx_bpf_create_dsq')).toEqual([['scx_bpf_create_dsq', 0]]);
  });
});

describe('central: one CPU decides for all', () => {
  const o = { tasks: loadWorkload('gen:mix,interactive=4,hogs=6'), topology: '4', durationNs: 1000 * MS, trace: true };

  it('only CPU 0 puts tasks on CPUs, yet every CPU runs them', () => {
    const { r, byCpu } = placementsByCpu('central', o);
    expect(r.exit).toBeUndefined();
    expect([...byCpu.keys()]).toEqual([0]);
    expect(byCpu.get(0)).toBeGreaterThan(500);
    for (const c of r.cpus) expect(c.busy).toBeGreaterThan(0.9 * r.durationNs);
    // The timer on CPU 0 hands tasks out and preempts: every kick comes from CPU 0, except the
    // other CPUs' requests to CPU 0 itself.
    const kicks = r.trace!.filter((e) => e.type === 'kick');
    expect(r.callbacks!.timer).toBeGreaterThanOrEqual(990);
    expect(kicks.filter((e) => e.type === 'kick' && e.from !== 0 && e.cpu !== 0)).toEqual([]);
    expect(kicks.filter((e) => e.type === 'kick' && e.from === 0 && e.cpu !== 0).length).toBeGreaterThan(100);
  });

  it('where global FIFO lets every CPU place its own tasks', () => {
    const { r, byCpu } = placementsByCpu('fifo', o);
    expect([...byCpu.keys()].sort()).toEqual([0, 1, 2, 3]);
    expect(Math.min(...byCpu.values())).toBeGreaterThan(20);
    expect(busy(r)).toBe(4 * r.durationNs);
  });
});

describe('llc: a queue per LLC, stealing when empty', () => {
  // 8 CPUs in 2 LLCs (the defaults of llc_cores and smt_threads), more tasks than CPUs.
  const topology = '1n:2l:2c:2t';
  const topo = parseTopology(topology);
  const cross = (r: ReturnType<typeof simulate>) =>
    r.trace!.filter((e) => e.type === 'migrate' && topo.cpus[e.from].llc !== topo.cpus[e.to].llc).length;

  it('migrates tasks across LLCs far less than global FIFO, at the same utilisation', () => {
    const o = { tasks: loadWorkload('gen:mix,interactive=8,hogs=12'), topology, durationNs: 1000 * MS, trace: true };
    const llc = run('llc', o);
    const fifo = run('fifo', o);
    expect(llc.exit).toBeUndefined();
    // Measured: llc 0, fifo 248 (of 474 and 493 migrations in all).
    expect(cross(fifo)).toBeGreaterThan(100);
    expect(cross(llc)).toBeLessThan(cross(fifo) / 10);
    expect(busy(llc)).toBeGreaterThanOrEqual(0.99 * busy(fifo));
  });

  it('steals from the other LLC rather than leave CPUs idle', () => {
    // Eight hogs that may only start on LLC 0's CPUs, then may run anywhere: the other LLC's
    // CPUs get work only by stealing.
    const llc0 = topo.llcCpus[0];
    const tasks: SimTask[] = Array.from({ length: 8 }, (_, i) => ({
      pid: i + 1,
      comm: `hog${i}`,
      arrival: 0,
      cpus: llc0,
      phases: [{ run: MS }, { cpus: topo.cpus.map((c) => c.id) }, { run: 10_000 * MS }],
      loops: 1,
    }));
    const r = run('llc', { tasks, topology, durationNs: 200 * MS });
    for (const c of topo.llcCpus[1]) expect(r.cpus[c].busy).toBeGreaterThan(100 * MS);
  });
});

describe('latency: priority and short slices for tasks that sleep often', () => {
  // 4 CPUs, 8 CPU hogs and 4 interactive tasks (0.2 ms of work, then 3 ms asleep).
  const tasks: SimTask[] = [
    ...Array.from({ length: 8 }, (_, i): SimTask => ({ pid: i + 1, comm: `hog${i}`, arrival: 0, phases: [{ run: 10_000 * MS }] })),
    ...Array.from({ length: 4 }, (_, i): SimTask => ({ pid: 20 + i, comm: `ui${i}`, arrival: i * 100 * US, phases: [{ run: 200 * US }, { sleep: 3 * MS }], loops: Infinity })),
  ];
  const p99 = (r: ReturnType<typeof simulate>) => {
    const all = new LatencyStats();
    for (const t of r.tasks) if (t.comm.startsWith('ui')) all.merge(t.wakeupLatency);
    return all.quantile(0.99);
  };

  it('wakes interactive tasks sooner than vtime and FIFO next to CPU hogs', () => {
    const o = { tasks, topology: '4', durationNs: 1000 * MS };
    const latency = run('latency', o);
    const vtime = run('vtime', o);
    const fifo = run('fifo', o);
    expect(latency.exit).toBeUndefined();
    expect(p99(latency)).toBeLessThan(p99(vtime) / 5);
    expect(p99(latency)).toBeLessThan(p99(fifo) / 5);
    expect(p99(latency)).toBeLessThan(1 * MS);
    // The hogs still get the rest of the machine.
    expect(busy(latency)).toBe(4 * latency.durationNs);
  });
});

describe('edf: earliest deadline first, deadlines learnt from the wake-up period', () => {
  // One CPU: A every 10 ms runs 2 ms and must be done within 5 ms; B every 50 ms runs 20 ms.
  // Utilisation 0.6, schedulable by preemptive EDF; FIFO runs B's 20 ms in one go and A misses.
  const tasks: SimTask[] = [
    { pid: 1, comm: 'A', arrival: 0, phases: [{ timer: 10 * MS, deadline: 5 * MS }, { run: 2 * MS }] },
    { pid: 2, comm: 'B', arrival: MS, phases: [{ timer: 50 * MS, deadline: 50 * MS }, { run: 20 * MS }] },
  ];

  it('meets every deadline of a periodic set on which FIFO misses', () => {
    const o = { tasks, topology: '1', durationNs: 1000 * MS };
    const edf = run('edf', o);
    const fifo = run('fifo', o);
    expect(edf.exit).toBeUndefined();
    // Activations finished within the second (the last may still be running at the end).
    expect(edf.tasks[0].deadlineChecks).toBeGreaterThanOrEqual(99);
    expect(edf.tasks[1].deadlineChecks).toBeGreaterThanOrEqual(19);
    expect(edf.tasks.map((t) => t.deadlineMisses)).toEqual([0, 0]);
    expect(fifo.tasks[0].deadlineMisses).toBeGreaterThanOrEqual(20);
  });

  // Implicit-deadline sets of utilisation 0.95-0.96 on one CPU, where a preempted job used to
  // get a new (later) deadline and miss: EDF must meet them all. (Found by a review: the first
  // version missed 29 of 59 and 14 of 58 deadlines of the long task here.)
  const periodic = (spec: [period: number, run: number, arrival: number][]): SimTask[] =>
    spec.map(([p, c, a], i) => ({ pid: i + 1, comm: `T${i}`, arrival: a * MS, phases: [{ timer: p * MS, deadline: p * MS }, { run: c * MS }] }));
  for (const set of [
    [[10, 0.7, 9], [50, 26.1, 2], [20, 7.4, 4]],
    [[40, 9, 7], [50, 36.1, 7], [20, 0.1, 4]],
  ] as [number, number, number][][]) {
    it(`meets every deadline of a preempting set near utilisation 1 (${set.map(([p, c]) => `${c}/${p}`).join(', ')})`, () => {
      const r = run('edf', { tasks: periodic(set), topology: '1', durationNs: 3000 * MS });
      expect(r.exit).toBeUndefined();
      expect(r.tasks.every((t) => t.deadlineChecks >= 50)).toBe(true);
      expect(r.tasks.map((t) => t.deadlineMisses)).toEqual([0, 0, 0]);
    });
  }
});

describe('batch: run order in a BPF queue map, handed out in batches', () => {
  // 32 hogs on 4 CPUs: a backlog of 28, so batches of 7.
  const tasks = loadWorkload('gen:hogs,n=32');

  it('calls dispatch once per batch, not once per context switch as FIFO does', () => {
    const o = { tasks, topology: '4', durationNs: 2000 * MS };
    const batch = run('batch', o);
    const fifo = run('fifo', o);
    expect(batch.exit).toBeUndefined();
    const perSwitch = (r: ReturnType<typeof simulate>) => r.callbacks!.dispatch / switches(r);
    expect(perSwitch(fifo)).toBeGreaterThan(0.9);
    // Measured: 0.2 (batches shrink as the backlog is shared out: 7, 5, 4, ...), fifo 1.0.
    expect(perSwitch(batch)).toBeLessThan(0.25);
    // Every hog still runs (the batches rotate through the queue).
    for (const t of batch.tasks) expect(t.runtime).toBeGreaterThan(100 * MS);
    expect(busy(batch)).toBe(4 * batch.durationNs);
  });
});
