/**
 * Every metric of docs/metrics.md against values computed by hand: from SimulateResults built by
 * hand (the schedule drawn in the comment), and from tiny runs whose outcome follows from the
 * workload alone (FIFO on one CPU, equal CPU hogs). The t quantile is checked against closed
 * forms, numerical integration of the density and published table values.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { METRIC_DEFINITIONS, computeMetrics, studentTQuantile, studentTUpperTail, summarise, type Metrics } from '../../src/harness/metrics.ts';
import { tsFifo } from '../../src/sched/ext/ts-schedulers.ts';
import { LatencyStats } from '../../src/sched/latency.ts';
import type { ExitInfo } from '../../src/sched/machine.ts';
import { simulate, type SimulateResult } from '../../src/sched/simulate.ts';
import type { CpuRecord, SimTask, TaskRecord } from '../../src/sched/spec.ts';

const MS = 1_000_000;

function rec(o: Partial<TaskRecord> & { pid: number; arrival: number }, latencies: number[] = []): TaskRecord {
  const wakeupLatency = new LatencyStats();
  for (const v of latencies) wakeupLatency.add(v);
  return { comm: `t${o.pid}`, runtime: 0, wait: 0, switches: 0, migrations: 0, deadlineMisses: 0, deadlineChecks: 0, exited: false, exitedAt: -1, ...o, wakeupLatency };
}

function result(o: { durationNs: number; tasks: TaskRecord[]; cpus: CpuRecord[]; events?: number; scheduler?: string; callbacks?: Record<string, number>; bpfInsns?: number; exit?: ExitInfo }): SimulateResult {
  return { scheduler: 'builtin:eevdf', topology: String(o.cpus.length), events: 0, ...o };
}

const task = (pid: number, arrival: number, extra: Partial<SimTask> = {}): SimTask => ({ pid, comm: `t${pid}`, arrival, phases: [{ run: 1 }], ...extra });

/*
 * Two CPUs for D = 10 ms (times in ms):
 *
 *   CPU0 | 1 (a fifo hog) ......................................... |  busy 10, 1 switch
 *   CPU1 | 2 ........ | 3 .... | 4 | idle | 4 | idle               |  busy 8, 4 switches
 *        0          4        6   7      8   9                      10
 *
 *   pid  arrival  runs        waits        exits  wake-up samples
 *   1    0        0-10        -            alive  0
 *   2    0        0-4         -            4      0
 *   3    1        4-6         1-4 (3)      6      3
 *   4    2        6-7, 8-9    2-6 (4)      9      4, 0 (slept 7-8, ran at once)
 *   5    9        never       9-10 (1)     alive  none: still waiting at D (censored)
 *   6    12       (arrives after D: no record)
 *
 * pid 5 may use CPU0 only, where the RT hog never lets it in.
 */
const D = 10 * MS;
const drawn = result({
  durationNs: D,
  tasks: [
    rec({ pid: 1, arrival: 0, runtime: 10 * MS, switches: 1 }, [0]),
    rec({ pid: 2, arrival: 0, runtime: 4 * MS, switches: 1, exited: true, exitedAt: 4 * MS }, [0]),
    rec({ pid: 3, arrival: 1 * MS, runtime: 2 * MS, wait: 3 * MS, switches: 1, exited: true, exitedAt: 6 * MS }, [3 * MS]),
    rec({ pid: 4, arrival: 2 * MS, runtime: 2 * MS, wait: 4 * MS, switches: 2, exited: true, exitedAt: 9 * MS }, [4 * MS, 0]),
    rec({ pid: 5, arrival: 9 * MS, wait: 1 * MS }),
  ],
  cpus: [
    { cpu: 0, busy: 10 * MS, idle: 0, switches: 1 },
    { cpu: 1, busy: 8 * MS, idle: 2 * MS, switches: 4 },
  ],
  events: 40,
});
const drawnList = [task(1, 0, { policy: 'fifo', rtPriority: 50 }), task(2, 0), task(3, 1 * MS), task(4, 2 * MS), task(5, 9 * MS, { cpus: [0] }), task(6, 12 * MS)];

describe('metrics of a schedule drawn by hand', () => {
  it('counts tasks, pools wake-ups, adds up waits and turnarounds', () => {
    const m = computeMetrics(drawn, drawnList);
    expect(m).toMatchObject({ durationNs: D, cpus: 2, tasks: 5, tasksExited: 3, tasksNotExited: 2, tasksNotArrived: 1, tasksNeverRan: 1 });
    // Samples 0, 0, 3, 4, 0 ms: sorted 0, 0, 0, 3, 4. Mean 7/5 ms. p50 has rank ceil(2.5) = 3: 0.
    // p90, p99, p99.9 have rank 5, the 4 ms sample: its bucket is [61, 62) x 2^16 (4e6 / 65536 =
    // 61.04), whose middle 4,030,464 is above the largest sample, so the clamp makes it exact.
    expect(m).toMatchObject({ wakeups: 5, wakeupLatencyMeanNs: 1.4 * MS, wakeupLatencyP50Ns: 0, wakeupLatencyP90Ns: 4 * MS, wakeupLatencyP99Ns: 4 * MS, wakeupLatencyP999Ns: 4 * MS, wakeupLatencyMaxNs: 4 * MS });
    // Waits 0 + 0 + 3 + 4 + 1 = 8 ms over 5 tasks.
    expect(m).toMatchObject({ waitTotalNs: 8 * MS, waitMeanPerTaskNs: 1.6 * MS });
    // Turnarounds 4, 5 (6 - 1), 7 (9 - 2) ms: mean 16/3, rank ceil(1.5) = 2 is 5, rank 3 is 7.
    expect(m.turnaroundMeanNs).toBeCloseTo((16 / 3) * MS, 6);
    expect(m).toMatchObject({ turnaroundP50Ns: 5 * MS, turnaroundP99Ns: 7 * MS, turnaroundMaxNs: 7 * MS });
  });

  it('rates per second of simulated time, utilisation, and no makespan while tasks are left', () => {
    const m = computeMetrics(drawn, drawnList);
    // 3 exits in 0.01 s; 18 ms of CPU in 10 ms; 18 of 20 CPU-ms; CPU0 10/10, CPU1 8/10.
    expect(m.throughputTasksPerSec).toBeCloseTo(300, 9);
    expect(m.cpuWorkPerSec).toBeCloseTo(1.8, 12);
    expect(m.utilisation).toBeCloseTo(0.9, 12);
    expect(m.utilisationPerCpu).toEqual([1, 0.8]);
    expect(m.makespanNs).toBeNull();
    // 1 + 4 switches in 0.01 s; nobody moved.
    expect(m).toMatchObject({ contextSwitches: 5, migrations: 0, migrationsPerSec: 0 });
    expect(m.contextSwitchesPerSec).toBeCloseTo(500, 9);
  });

  it("Jain's index over the tasks runnable all their life, weighted, RT left out", () => {
    // With the list: 1 is fifo (out); 4 slept (2 + 4 != 7: out). In: 2 at 4/4 = 1, 3 at 2/5 = 0.4,
    // 5 at 0/1 = 0, all nice 0. J = 1.4^2 / (3 * (1 + 0.16)) = 1.96 / 3.48.
    const m = computeMetrics(drawn, drawnList);
    expect(m.fairnessTasks).toBe(3);
    expect(m.fairnessJain).toBeCloseTo(1.96 / 3.48, 12);
    // Without it the hog counts as a nice-0 task at rate 1: J = 2.4^2 / (4 * 2.16) = 2/3.
    const bare = computeMetrics(drawn);
    expect(bare.fairnessTasks).toBe(4);
    expect(bare.fairnessJain).toBeCloseTo(2 / 3, 12);
    expect(bare.tasksNotArrived).toBeNull();
  });

  it('reports no scheduler overhead or exit for the built-in class', () => {
    const m = computeMetrics(drawn);
    expect(m).toMatchObject({ events: 40, callbacks: null, bpfInsns: null, callbacksPerEvent: null, callbacksPerSwitch: null, bpfInsnsPerEvent: null, bpfInsnsPerSwitch: null });
    expect(m).toMatchObject({ exitKind: null, exitReason: null, exitMessage: null, exitAtNs: null, deadlineChecks: 0, deadlineMisses: 0, deadlineMissRatio: null });
  });
});

describe('metrics of hand-built edge cases', () => {
  /*
   * A BPF scheduler over 20 ms on two CPUs (10 + 15 switches), 200 events, 100 callbacks,
   * 5,000 instructions, aborted at 5 ms; two periodic tasks with 3 of 10 and 0 of 5 activations
   * late, and 3 + 4 migrations.
   */
  const bpf = result({
    durationNs: 20 * MS,
    scheduler: 'schedulers/x.bpf.o',
    tasks: [
      rec({ pid: 1, arrival: 0, runtime: 10 * MS, wait: 10 * MS, switches: 10, migrations: 3, deadlineChecks: 10, deadlineMisses: 3 }),
      rec({ pid: 2, arrival: 0, runtime: 10 * MS, wait: 10 * MS, switches: 15, migrations: 4, deadlineChecks: 5 }),
    ],
    cpus: [
      { cpu: 0, busy: 10 * MS, idle: 10 * MS, switches: 10 },
      { cpu: 1, busy: 10 * MS, idle: 10 * MS, switches: 15 },
    ],
    events: 200,
    callbacks: { enqueue: 40, dispatch: 50, running: 10 },
    bpfInsns: 5000,
    exit: { kind: 1024, reason: 'runtime error', msg: 'invalid DSQ', exitCode: 0n, atNs: 5 * MS },
  });

  it('overhead per event and per switch, deadline miss ratio, migrations, the exit', () => {
    const m = computeMetrics(bpf);
    // 100/200, 100/25, 5000/200, 5000/25.
    expect(m).toMatchObject({ callbacks: 100, bpfInsns: 5000, callbacksPerEvent: 0.5, callbacksPerSwitch: 4, bpfInsnsPerEvent: 25, bpfInsnsPerSwitch: 200 });
    // 3 of 15 checks missed; 7 migrations and 25 switches in 0.02 s.
    expect(m).toMatchObject({ deadlineChecks: 15, deadlineMisses: 3, deadlineMissRatio: 0.2, migrations: 7, contextSwitches: 25 });
    expect(m.migrationsPerSec).toBeCloseTo(350, 9);
    expect(m.contextSwitchesPerSec).toBeCloseTo(1250, 9);
    expect(m).toMatchObject({ exitKind: 1024, exitReason: 'runtime error', exitMessage: 'invalid DSQ', exitAtNs: 5 * MS });
  });

  it('a TypeScript scheduler has callbacks but no BPF instructions; no events means no ratio', () => {
    const m = computeMetrics({ ...bpf, scheduler: 'ts:fifo', bpfInsns: 0, events: 0, exit: undefined });
    expect(m).toMatchObject({ callbacks: 100, bpfInsns: null, callbacksPerEvent: null, callbacksPerSwitch: 4, bpfInsnsPerEvent: null, exitKind: null });
  });

  it('makespan from the first arrival to the last exit, only when every task exited and arrived', () => {
    // Arrivals 2 and 3 ms, exits 5 and 8 ms: 8 - 2 = 6 ms.
    const done = result({
      durationNs: D,
      tasks: [rec({ pid: 1, arrival: 2 * MS, runtime: 3 * MS, exited: true, exitedAt: 5 * MS, switches: 1 }), rec({ pid: 2, arrival: 3 * MS, runtime: 3 * MS, wait: 2 * MS, exited: true, exitedAt: 8 * MS, switches: 1 })],
      cpus: [{ cpu: 0, busy: 6 * MS, idle: 4 * MS, switches: 2 }],
    });
    expect(computeMetrics(done).makespanNs).toBe(6 * MS);
    // Turnarounds 3 and 5 ms: the median has rank ceil(0.5 * 2) = 1, the lower one.
    expect(computeMetrics(done)).toMatchObject({ turnaroundMeanNs: 4 * MS, turnaroundP50Ns: 3 * MS, turnaroundP99Ns: 5 * MS });
    expect(computeMetrics(done, [task(1, 2 * MS), task(2, 3 * MS)]).makespanNs).toBe(6 * MS);
    // A third listed task that never arrived: the work was not all done.
    expect(computeMetrics(done, [task(1, 2 * MS), task(2, 3 * MS), task(3, 11 * MS)]).makespanNs).toBeNull();
  });

  it('a run with no tasks: counts are 0, everything sampled is null', () => {
    const m = computeMetrics(result({ durationNs: D, tasks: [], cpus: [{ cpu: 0, busy: 0, idle: D, switches: 0 }] }));
    expect(m).toMatchObject({ tasks: 0, wakeups: 0, wakeupLatencyMeanNs: null, wakeupLatencyP50Ns: null, wakeupLatencyMaxNs: null, waitTotalNs: 0, waitMeanPerTaskNs: null });
    expect(m).toMatchObject({ turnaroundMeanNs: null, turnaroundP99Ns: null, makespanNs: null, fairnessJain: null, fairnessTasks: 0, throughputTasksPerSec: 0, utilisation: 0 });
  });

  it('rejects a result it cannot divide by', () => {
    expect(() => computeMetrics(result({ durationNs: 0, tasks: [], cpus: [{ cpu: 0, busy: 0, idle: 0, switches: 0 }] }))).toThrow('metrics: duration 0 ns: expected a positive number');
    expect(() => computeMetrics(result({ durationNs: D, tasks: [], cpus: [] }))).toThrow('metrics: the result has no CPU records');
  });
});

describe("Jain's fairness index", () => {
  /** n hogs on one CPU for `d`, all from 0, never blocking: runtime_i given, wait_i = d - runtime_i. */
  const hogs = (d: number, runtimes: number[]) =>
    result({
      durationNs: d,
      tasks: runtimes.map((r, i) => rec({ pid: i + 1, arrival: 0, runtime: r, wait: d - r, switches: r > 0 ? 1 : 0 })),
      cpus: [{ cpu: 0, busy: d, idle: 0, switches: runtimes.filter((r) => r > 0).length }],
    });

  it('is 1 for equal shares and 1/n when one task has everything', () => {
    expect(computeMetrics(hogs(12 * MS, [3 * MS, 3 * MS, 3 * MS, 3 * MS])).fairnessJain).toBe(1);
    // x = (s, 0, 0, 0): s^2 / (4 s^2).
    expect(computeMetrics(hogs(12 * MS, [12 * MS, 0, 0, 0])).fairnessJain).toBe(1 / 4);
    expect(computeMetrics(hogs(12 * MS, [12 * MS])).fairnessJain).toBe(1);
  });

  it('divides by the weight of the nice value', () => {
    // nice 0 and nice 5 weigh 1024 and 335: shares 1024/1359 and 335/1359 are exactly fair.
    const r = hogs(1359 * MS, [1024 * MS, 335 * MS]);
    const list = [task(1, 0), task(2, 0, { nice: 5 })];
    expect(computeMetrics(r, list).fairnessJain).toBeCloseTo(1, 12);
    // Unweighted: 1359^2 / (2 * (1024^2 + 335^2)) = 1846881 / 2321602.
    expect(computeMetrics(r).fairnessJain).toBeCloseTo(1846881 / 2321602, 12);
  });

  it('leaves out SCHED_IDLE tasks and tasks whose nice changes, and weighs forked children by their fork step', () => {
    const r = hogs(1359 * MS, [1024 * MS, 335 * MS, 0]);
    // pid 3 is starved: with it J = 1/n-ish; left out (idle policy, or a nice step in a loop) J is 1.
    expect(computeMetrics(r, [task(1, 0), task(2, 0, { nice: 5 }), task(3, 0)]).fairnessTasks).toBe(3);
    expect(computeMetrics(r, [task(1, 0), task(2, 0, { nice: 5 }), task(3, 0, { policy: 'idle' })])).toMatchObject({ fairnessTasks: 2, fairnessJain: expect.closeTo(1, 12) });
    const renicing = task(3, 0, { phases: [{ repeat: 3, phases: [{ run: 1 }, { nice: 1 }] }] });
    expect(computeMetrics(r, [task(1, 0), task(2, 0, { nice: 5 }), renicing])).toMatchObject({ fairnessTasks: 2, fairnessJain: expect.closeTo(1, 12) });
    // pid 2 is not listed: a child of pid 1, forked at 0 as 'kid' with nice 5 (weight 335).
    const child = result({ ...r, tasks: [r.tasks[0], { ...r.tasks[1], comm: 'kid' }] });
    const parent = task(1, 0, { phases: [{ fork: { comm: 'kid', nice: 5, phases: [{ run: 1 }] } }, { run: 1 }] });
    expect(computeMetrics(child, [parent])).toMatchObject({ fairnessTasks: 2, fairnessJain: expect.closeTo(1, 12) });
    // Two fork steps naming 'kid' with different nice values: its entitlement is unknown.
    const ambiguous = task(1, 0, { phases: [{ fork: { comm: 'kid', nice: 5, phases: [{ run: 1 }] } }, { fork: { comm: 'kid', phases: [{ run: 1 }] } }] });
    expect(computeMetrics(child, [ambiguous]).fairnessTasks).toBe(1);
  });

  it('is null when every included task starved', () => {
    // An RT hog has the CPU; the two nice-0 hogs got nothing: 0/0.
    const r = result({
      durationNs: D,
      tasks: [rec({ pid: 1, arrival: 0, runtime: D, switches: 1 }), rec({ pid: 2, arrival: 0, wait: D }), rec({ pid: 3, arrival: 0, wait: D })],
      cpus: [{ cpu: 0, busy: D, idle: 0, switches: 1 }],
    });
    expect(computeMetrics(r, [task(1, 0, { policy: 'fifo', rtPriority: 1 }), task(2, 0), task(3, 0)])).toMatchObject({ fairnessTasks: 2, fairnessJain: null, tasksNeverRan: 2 });
  });
});

describe('metrics of small simulated runs', () => {
  it('FIFO on one CPU: three jobs whose schedule follows from arrival order alone', () => {
    /*
     * a arrives at 0 and runs 3 ms; b at 1 runs 2; c at 2 runs 1, sleeps 1, runs 1. FIFO on one
     * CPU: a 0-3, b 3-5, c 5-6, idle 6-7, c 7-8. Wake-ups: a 0, b 2 (1-3), c 3 (2-5) and 0 (woke
     * at 7 to an idle CPU). Waits 0 + 2 + 3. Turnarounds 3, 4, 6.
     */
    const jobs: SimTask[] = [
      { pid: 1, comm: 'a', arrival: 0, phases: [{ run: 3 * MS }], loops: 1 },
      { pid: 2, comm: 'b', arrival: 1 * MS, phases: [{ run: 2 * MS }], loops: 1 },
      { pid: 3, comm: 'c', arrival: 2 * MS, phases: [{ run: 1 * MS }, { sleep: 1 * MS }, { run: 1 * MS }], loops: 1 },
    ];
    const r = simulate({ scheduler: { kind: 'ts', make: tsFifo }, tasks: jobs, topology: '1', durationNs: 100 * MS });
    const m = computeMetrics(r, jobs);
    expect(m).toMatchObject({ tasks: 3, tasksExited: 3, tasksNotExited: 0, tasksNotArrived: 0, tasksNeverRan: 0, wakeups: 4, wakeupLatencyMeanNs: 1.25 * MS, wakeupLatencyP50Ns: 0, wakeupLatencyMaxNs: 3 * MS });
    // Sorted samples 0, 0, 2, 3 ms: p90 has rank 4, the 3 ms sample, in the bucket [45, 46) x 2^16
    // (3e6 / 65536 = 45.8): the middle, 45.5 x 65536 = 2,981,888, is below the max, so it stands.
    expect(m).toMatchObject({ wakeupLatencyP90Ns: 2_981_888, wakeupLatencyP99Ns: 2_981_888, wakeupLatencyP999Ns: 2_981_888 });
    expect(m).toMatchObject({ waitTotalNs: 5 * MS, turnaroundP50Ns: 4 * MS, turnaroundP99Ns: 6 * MS, turnaroundMaxNs: 6 * MS, makespanNs: 8 * MS });
    expect(m.waitMeanPerTaskNs).toBeCloseTo((5 / 3) * MS, 6);
    expect(m.turnaroundMeanNs).toBeCloseTo((13 / 3) * MS, 6);
    // 3 exits in 0.1 s; 7 ms busy of 100; 4 switches (a, b, c, c).
    expect(m.throughputTasksPerSec).toBeCloseTo(30, 9);
    expect(m.utilisation).toBeCloseTo(0.07, 12);
    expect(m).toMatchObject({ contextSwitches: 4, migrations: 0, bpfInsns: null, exitKind: null });
    // Always runnable: a (3 of 3 ms on CPU) and b (2 of 4); c slept. J = 1.5^2 / (2 * 1.25) = 0.9.
    expect(m.fairnessTasks).toBe(2);
    expect(m.fairnessJain).toBeCloseTo(0.9, 12);
  });

  it('EEVDF, two equal hogs on one CPU: half each, and one always waiting', () => {
    const hogs: SimTask[] = [1, 2].map((pid) => ({ pid, comm: 'hog', arrival: 0, phases: [{ run: 10 ** 12 }] }));
    const m = computeMetrics(simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks: hogs, topology: '1', durationNs: 100 * MS }), hogs);
    // At every instant one runs and the other waits: total wait = D. Both arrive once: 2 wake-ups.
    expect(m).toMatchObject({ fairnessTasks: 2, fairnessJain: 1, utilisation: 1, cpuWorkPerSec: 1, waitTotalNs: 100 * MS, wakeups: 2, tasksExited: 0, makespanNs: null, turnaroundMeanNs: null });
  });

  it('EEVDF, nice 0 against nice 5: shares follow the weights', () => {
    const hogs: SimTask[] = [
      { pid: 1, comm: 'hog', arrival: 0, phases: [{ run: 10 ** 12 }] },
      { pid: 2, comm: 'hog', nice: 5, arrival: 0, phases: [{ run: 10 ** 12 }] },
    ];
    const r = simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks: hogs, topology: '1', durationNs: 1000 * MS });
    // Weighted, nearly 1 (the split is exact only to the 1 ms tick); unweighted, near the ideal
    // 1846881 / 2321602 = 0.79552 (shares 1024:335).
    expect(computeMetrics(r, hogs).fairnessJain).toBeGreaterThan(0.9999);
    expect(computeMetrics(r).fairnessJain).toBeCloseTo(1846881 / 2321602, 2);
  });

  it('periodic deadlines: 3 ms of work due 2 ms after each 10 ms activation misses every time', () => {
    /*
     * The program starts with its timer step: the first one, at arrival, judges nothing (no work
     * came before it) and waits for the activation at 10 ms. Activations at 10, 20, ..., 90 ms
     * each end their 3 ms of work at the next timer step: 9 checks in 100 ms, all late with a
     * 2 ms deadline, none with 5 ms.
     */
    const periodic = (deadline: number): SimTask[] => [{ pid: 1, comm: 'p', arrival: 0, phases: [{ timer: 10 * MS, deadline }, { run: 3 * MS }], loops: Infinity }];
    const run = (deadline: number) => computeMetrics(simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks: periodic(deadline), topology: '1', durationNs: 100 * MS }));
    expect(run(2 * MS)).toMatchObject({ deadlineChecks: 9, deadlineMisses: 9, deadlineMissRatio: 1 });
    expect(run(5 * MS)).toMatchObject({ deadlineChecks: 9, deadlineMisses: 0, deadlineMissRatio: 0 });
  });

  it('holds its bounds on random workloads: J in [1/n, 1], utilisation in [0, 1], books that balance', () => {
    const phase = fc.oneof(fc.integer({ min: 1, max: 5 * MS }).map((run) => ({ run })), fc.integer({ min: 1, max: 5 * MS }).map((sleep) => ({ sleep })));
    const spec = fc.record({ arrival: fc.integer({ min: 0, max: 20 * MS }), nice: fc.integer({ min: -5, max: 5 }), phases: fc.array(phase, { minLength: 1, maxLength: 4 }), loops: fc.integer({ min: 1, max: 5 }) });
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 8 }), fc.constantFrom('1', '2', '4'), (specs, topology) => {
        const tasks: SimTask[] = specs.map((s, i) => ({ pid: i + 1, comm: `w${i}`, ...s }));
        const r = simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks, topology, durationNs: 50 * MS });
        const m = computeMetrics(r, tasks);
        if (m.fairnessJain !== null) {
          expect(m.fairnessJain).toBeGreaterThanOrEqual(1 / m.fairnessTasks - 1e-12);
          expect(m.fairnessJain).toBeLessThanOrEqual(1 + 1e-12);
        }
        expect(m.utilisation).toBeGreaterThanOrEqual(0);
        expect(m.utilisation).toBeLessThanOrEqual(1);
        // CPU time handed out equals CPU time used; every switch is some task's.
        const busy = r.cpus.reduce((a, c) => a + c.busy, 0);
        expect(r.tasks.reduce((a, t) => a + t.runtime, 0)).toBe(busy);
        expect(m.cpuWorkPerSec).toBeCloseTo(busy / r.durationNs, 12);
        expect(r.tasks.reduce((a, t) => a + t.switches, 0)).toBe(m.contextSwitches);
        expect(m.tasks + (m.tasksNotArrived ?? 0)).toBe(tasks.length);
        if (m.wakeups > 0) expect(m.wakeupLatencyP50Ns!).toBeLessThanOrEqual(m.wakeupLatencyMaxNs!);
      }),
      { numRuns: 40 },
    );
  });
});

describe('Student t quantile', () => {
  it('matches the printed table to its three decimals', () => {
    expect(studentTQuantile(0.975, 1).toFixed(3)).toBe('12.706');
    expect(studentTQuantile(0.975, 4).toFixed(3)).toBe('2.776');
    expect(studentTQuantile(0.975, 30).toFixed(3)).toBe('2.042');
    expect(studentTQuantile(0.975, Infinity).toFixed(3)).toBe('1.960');
    expect(studentTQuantile(0.975, 100_000).toFixed(3)).toBe('1.960');
  });

  it('matches 16-digit reference values to 1e-10 relative', () => {
    // scipy.stats.t.ppf / norm.ppf (scipy 1.x, double precision).
    const table: [number, number, number][] = [
      [0.9, 1, 3.0776835371752544],
      [0.9, 10, 1.372183641110336],
      [0.95, 2, 2.9199855803537242],
      [0.95, 20, 1.7247182429207866],
      [0.975, 1, 12.706204736174694],
      [0.975, 2, 4.302652729749462],
      [0.975, 4, 2.7764451051977934],
      [0.975, 9, 2.262157162798205],
      [0.975, 10, 2.228138851986274],
      [0.975, 30, 2.0422724563012378],
      [0.975, 100, 1.9839715185235518],
      [0.975, 300, 1.9679030112610865],
      [0.975, 1000, 1.9623390808264083],
      [0.975, 100_000, 1.9599877075346095],
      [0.975, Infinity, 1.959963984540054],
      [0.995, 2, 9.924843200918287],
      [0.995, 300, 2.5923164108477925],
      [0.9995, 1, 636.6192487687897],
      [0.9995, 30, 3.6459586350420627],
      [0.9995, Infinity, 3.2905267314919255],
      [0.5, 7, 0],
    ];
    for (const [p, df, t] of table) {
      const got = studentTQuantile(p, df);
      expect(Math.abs(got - t), `t(${p}, ${df}) = ${got}, expected ${t}`).toBeLessThanOrEqual(1e-10 * Math.abs(t));
      // Symmetric about 0.
      expect(studentTQuantile(1 - p, df)).toBeCloseTo(-got, 9);
    }
  });

  it('inverts the closed-form distribution functions of df 1 to 4', () => {
    // P(T <= t) for small df (Abramowitz and Stegun 26.7.3-4), an independent truth.
    const cdf: Record<number, (t: number) => number> = {
      1: (t) => 0.5 + Math.atan(t) / Math.PI,
      2: (t) => 0.5 + t / (2 * Math.sqrt(2 + t * t)),
      3: (t) => 0.5 + (t / Math.sqrt(3) / (1 + (t * t) / 3) + Math.atan(t / Math.sqrt(3))) / Math.PI,
      4: (t) => 0.5 + (3 / 8) * (t / Math.sqrt(1 + (t * t) / 4)) * (1 - (t * t) / (12 * (1 + (t * t) / 4))),
    };
    for (const df of [1, 2, 3, 4]) {
      for (const p of [0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995]) {
        const t = studentTQuantile(p, df);
        expect(Math.abs(cdf[df](t) - p), `df ${df}, p ${p}`).toBeLessThan(1e-13);
        expect(Math.abs(0.5 - studentTUpperTail(t, df) - (cdf[df](t) - 0.5))).toBeLessThan(1e-13);
      }
    }
  });

  it('inverts the density integrated numerically, for df up to 300', () => {
    // Gamma((v+1)/2) / Gamma(v/2) by its recurrence r(v+2) = r(v) (v+1)/v: no gamma function used.
    const ratio = (v: number) => {
      let r = v % 2 === 1 ? 1 / Math.sqrt(Math.PI) : Math.sqrt(Math.PI) / 2;
      for (let k = v % 2 === 1 ? 1 : 2; k < v; k += 2) r *= (k + 1) / k;
      return r;
    };
    for (const df of [5, 7, 30, 101, 300]) {
      const c = ratio(df) / Math.sqrt(df * Math.PI);
      const pdf = (x: number) => c * (1 + (x * x) / df) ** (-(df + 1) / 2);
      for (const p of [0.9, 0.975, 0.9995]) {
        const t = studentTQuantile(p, df);
        // Simpson's rule on [0, t], 4000 panels: error far below 1e-11 for these smooth densities.
        const n = 4000;
        const h = t / n;
        let s = pdf(0) + pdf(t);
        for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * pdf(i * h);
        expect(Math.abs(0.5 + (s * h) / 3 - p), `df ${df}, p ${p}`).toBeLessThan(1e-11);
      }
    }
  });

  it('rejects what is not a probability or a degree of freedom', () => {
    expect(() => studentTQuantile(1, 3)).toThrow('t quantile: p 1: expected a probability strictly between 0 and 1');
    expect(() => studentTQuantile(0.975, 0)).toThrow('t quantile: 0 degrees of freedom: expected a positive number or Infinity');
  });
});

describe('summarise over seeds', () => {
  it('mean, sample standard deviation and the t interval of 1..10', () => {
    // Mean 5.5; sum of squared deviations 82.5, s = sqrt(82.5 / 9) = 3.02765; standard error
    // s / sqrt(10) = 0.957427; t(0.975, 9) = 2.262157; half-width 2.165851.
    const s = summarise([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(s.n).toBe(10);
    expect(s.mean).toBe(5.5);
    expect(s.stdev).toBeCloseTo(Math.sqrt(82.5 / 9), 12);
    expect(s.ci95![0]).toBeCloseTo(3.334149410331831, 9);
    expect(s.ci95![1]).toBeCloseTo(7.665850589668169, 9);
  });

  it('two values: the interval is 12.706 standard errors wide each side', () => {
    // 10 and 12: mean 11, s = sqrt(2), s / sqrt(2) = 1, so mean +- t(0.975, 1).
    const s = summarise([10, 12]);
    expect(s.stdev).toBeCloseTo(Math.SQRT2, 12);
    expect(s.ci95![0]).toBeCloseTo(11 - 12.706204736174694, 9);
    expect(s.ci95![1]).toBeCloseTo(11 + 12.706204736174694, 9);
  });

  it('edge cases: none, one, all equal, and values that are not numbers', () => {
    expect(summarise([])).toEqual({ n: 0, mean: null, stdev: null, ci95: null });
    expect(summarise([4])).toEqual({ n: 1, mean: 4, stdev: null, ci95: null });
    expect(summarise([2, 2, 2])).toEqual({ n: 3, mean: 2, stdev: 0, ci95: [2, 2] });
    expect(() => summarise([1, NaN])).toThrow('summarise: NaN: expected finite numbers');
  });
});

describe('definitions', () => {
  it('every metric has a definition for reports and a section in docs/metrics.md', () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const m: Metrics = computeMetrics(drawn, drawnList);
    expect(Object.keys(METRIC_DEFINITIONS).sort()).toEqual(Object.keys(m).sort());
    for (const [name, def] of Object.entries(METRIC_DEFINITIONS)) {
      expect(def.unit.length, name).toBeGreaterThan(0);
      expect(def.description.length, name).toBeGreaterThan(0);
      // Percentile names share a stem in the doc (`wakeupLatencyP50Ns`, `P90Ns`, ...).
      const stem = name.replace(/^wakeupLatency(P90|P99|P999)Ns$/, '$1Ns');
      expect(new RegExp(`\\b${stem}\\b`).test(doc), name).toBe(true);
    }
  });
});
