import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { COMPARED_METRICS, compareResults, comparisonReport, welch, type Comparison, type MetricComparison } from '../../src/harness/compare.ts';
import type { Metrics } from '../../src/harness/metrics.ts';
import type { RunOutcome } from '../../src/harness/run-one.ts';
import { readResults, runAll, writeResults } from '../../src/harness/runner.ts';
import { expandSuite, loadSuite, type Suite } from '../../src/harness/suite.ts';

const ROOT = resolve(__dirname, '../..');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/scx-sim.js'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The t density, integrated by composite Simpson: an oracle that shares nothing with the incomplete beta. */
function twoSidedP(t: number, df: number): number {
  const lnG = (x: number) => {
    // Stirling with enough terms for x >= 8; smaller x are shifted up by the recurrence.
    let shift = 0;
    while (x < 8) {
      shift -= Math.log(x);
      x += 1;
    }
    return shift + (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3) + 1 / (1260 * x ** 5);
  };
  const c = Math.exp(lnG((df + 1) / 2) - lnG(df / 2)) / Math.sqrt(df * Math.PI);
  const f = (x: number) => c * (1 + (x * x) / df) ** (-(df + 1) / 2);
  const n = 20_000;
  const h = t / n;
  let s = f(0) + f(t);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(i * h);
  return 1 - (2 * s * h) / 3;
}

describe("Welch's t-test", () => {
  it('matches hand-computed values: equal variances, n = 2 (df an integer, p in closed form)', () => {
    // a = [1, 3]: mean 2, s^2 = 2; b = [4, 6]: mean 5, s^2 = 2.
    // se^2 = 2/2 + 2/2 = 2, t = (5 - 2) / sqrt(2) = 2.1213203435596424.
    // df = 2^2 / ((2/2)^2 / 1 + (2/2)^2 / 1) = 2.
    // With 2 degrees of freedom P(T > t) = 1/2 - t / (2 sqrt(2 + t^2)), so the two-sided
    // p = 1 - t / sqrt(2 + t^2) = 1 - (3/sqrt 2) / sqrt(13/2) = 1 - 3 / sqrt(13) = 0.16794970566215628.
    const r = welch([1, 3], [4, 6])!;
    expect(r.t).toBeCloseTo(3 / Math.SQRT2, 12);
    expect(r.df).toBeCloseTo(2, 12);
    expect(r.p).toBeCloseTo(1 - 3 / Math.sqrt(13), 10);
    expect(r.p).toBeCloseTo(0.1679497057, 9);
  });

  it('matches hand-computed values: one constant side (df 1, the Cauchy distribution)', () => {
    // a = [1, 1]: mean 1, s^2 = 0; b = [2, 4]: mean 3, s^2 = 2.
    // se^2 = 0 + 2/2 = 1, t = 2; df = 1^2 / (0 + 1^2 / 1) = 1.
    // With 1 degree of freedom P(T > t) = 1/2 - atan(t) / pi: p = 1 - 2 atan(2) / pi = 0.2951672353008665.
    const r = welch([1, 1], [2, 4])!;
    expect(r.t).toBeCloseTo(2, 12);
    expect(r.df).toBeCloseTo(1, 12);
    expect(r.p).toBeCloseTo(1 - (2 * Math.atan(2)) / Math.PI, 10);
    expect(r.p).toBeCloseTo(0.2951672353, 9);
  });

  it('matches hand-computed values: unequal variances and sizes (fractional df)', () => {
    // a = [1, 2, 3, 4, 5]: mean 3, s^2 = 10/4 = 5/2, s^2/n = 1/2.
    // b = [3, 5, 7, 9]:    mean 6, s^2 = 20/3,       s^2/n = 5/3.
    // se^2 = 1/2 + 5/3 = 13/6, t = 3 / sqrt(13/6) = 3 sqrt(6/13) = 2.038098661460272.
    // df = (13/6)^2 / ((1/2)^2 / 4 + (5/3)^2 / 3) = (169/36) / (427/432) = 2028/427 = 4.749414519906323.
    // p = I_{df/(df+t^2)}(df/2, 1/2) = 0.10008380903500762 (mpmath, 30 digits; also scipy's
    // ttest_ind(equal_var=False): t 2.0380986614602725, df 4.749414519906323, p 0.10008380903500758).
    const r = welch([1, 2, 3, 4, 5], [3, 5, 7, 9])!;
    expect(r.t).toBeCloseTo(3 * Math.sqrt(6 / 13), 12);
    expect(r.df).toBeCloseTo(2028 / 427, 12);
    expect(r.p).toBeCloseTo(0.100083809035, 10);
    // And against the density integrated directly.
    expect(r.p).toBeCloseTo(twoSidedP(r.t, r.df), 8);
  });

  it('is antisymmetric in t, symmetric in p, and null where it cannot be computed', () => {
    const ab = welch([1, 2, 3, 4, 5], [3, 5, 7, 9])!;
    const ba = welch([3, 5, 7, 9], [1, 2, 3, 4, 5])!;
    expect(ba.t).toBeCloseTo(-ab.t, 12);
    expect(ba.df).toBeCloseTo(ab.df, 12);
    expect(ba.p).toBeCloseTo(ab.p, 14);
    const same = welch([1, 2, 3], [1, 2, 3])!;
    expect(same.t).toBe(0);
    expect(same.p).toBe(1);
    expect(welch([1], [2, 3])).toBeNull();
    expect(welch([1, 2], [])).toBeNull();
    // Both constant: no spread, and a mean rounded by an ulp must not pass for one.
    expect(welch([0.1, 0.1, 0.1], [0.2, 0.2, 0.2])).toBeNull();
    // A shift of 100 standard errors: significant beyond doubt, still a probability.
    const far = welch([10, 10.1, 9.9], [20, 20.1, 19.9])!;
    expect(far.df).toBeCloseTo(4, 12);
    expect(far.p).toBeGreaterThan(0);
    expect(far.p).toBeLessThan(1e-6);
  });
});

// ---- constructed results ----

const BASE: Metrics = {
  durationNs: 100_000_000, cpus: 2, tasks: 6, tasksExited: 6, tasksNotExited: 0, tasksNotArrived: 0, tasksNeverRan: 0,
  wakeups: 50, wakeupLatencyMeanNs: 1000, wakeupLatencyP50Ns: 900, wakeupLatencyP90Ns: 1500, wakeupLatencyP99Ns: 2000, wakeupLatencyP999Ns: 2100, wakeupLatencyMaxNs: 2200,
  waitTotalNs: 5000, waitMeanPerTaskNs: 833, turnaroundMeanNs: 50_000_000, turnaroundP50Ns: 50_000_000, turnaroundP99Ns: 60_000_000, turnaroundMaxNs: 60_000_000,
  throughputTasksPerSec: 60, cpuWorkPerSec: 1.5, makespanNs: 90_000_000, utilisation: 0.75, utilisationPerCpu: [0.7, 0.8],
  fairnessJain: 0.99, fairnessTasks: 4, migrations: 3, migrationsPerSec: 30, contextSwitches: 100, contextSwitchesPerSec: 1000,
  deadlineChecks: 0, deadlineMisses: 0, deadlineMissRatio: null, events: 500, callbacks: null, bpfInsns: null,
  callbacksPerEvent: null, callbacksPerSwitch: null, bpfInsnsPerEvent: null, bpfInsnsPerSwitch: null,
  exitKind: null, exitReason: null, exitMessage: null, exitAtNs: null,
};

type Cell = [scheduler: string, workload: string, topology: string, seed: number, metrics: Partial<Metrics> | 'error' | 'not run', status?: 'aborted'];

function folder(cells: Cell[]): { suite: Suite; outcomes: RunOutcome[] } {
  const uniq = <T,>(x: T[]) => [...new Set(x)];
  const suite: Suite = {
    name: 'made', file: '/nowhere/made.json', schedulers: uniq(cells.map((c) => c[0])), workloads: uniq(cells.map((c) => c[1])),
    topologies: uniq(cells.map((c) => c[2])), seeds: uniq(cells.map((c) => c[3])), durationNs: 100_000_000, hz: 1000,
  };
  const outcomes = cells.map(([scheduler, workload, topology, seed, m, status], index): RunOutcome => {
    const head = { index, id: `r${index}`, scheduler, workload, topology, seed, durationNs: suite.durationNs };
    if (m === 'error') return { ...head, status: 'error', error: 'x.bpf.o: no such file' };
    if (m === 'not run') return { ...head, status: 'not run' };
    return { ...head, status: status ?? 'ok', metrics: { ...BASE, ...m } };
  });
  return { suite, outcomes };
}

const W = 'gen:bursts,n=6';
const pick = (c: Comparison, scheduler: string, metric: string): MetricComparison =>
  c.combinations.find((x) => x.scheduler === scheduler)!.metrics.find((m) => m.metric === metric)!;

describe('compareResults', () => {
  const a = folder([
    ['x.bpf.o', W, '2', 1, { wakeupLatencyP99Ns: 2000, throughputTasksPerSec: 60, contextSwitches: 100, waitTotalNs: 5000, fairnessTasks: 4 }],
    ['x.bpf.o', W, '2', 2, { wakeupLatencyP99Ns: 2100, throughputTasksPerSec: 61, contextSwitches: 101, waitTotalNs: 6000, fairnessTasks: 4 }],
    ['x.bpf.o', W, '2', 3, { wakeupLatencyP99Ns: 2050, throughputTasksPerSec: 59, contextSwitches: 102, waitTotalNs: 7000, fairnessTasks: 4 }, 'aborted'],
    ['x.bpf.o', W, '2', 4, 'error'],
    ['y.bpf.o', W, '2', 1, { wakeupLatencyMeanNs: 1000 }],
    ['z.bpf.o', W, '2', 1, {}],
  ]);
  const b = folder([
    ['x.bpf.o', W, '2', 5, { wakeupLatencyP99Ns: 3000, throughputTasksPerSec: 80, contextSwitches: 200, waitTotalNs: 5500, fairnessTasks: 5, turnaroundMeanNs: null }],
    ['x.bpf.o', W, '2', 6, { wakeupLatencyP99Ns: 3100, throughputTasksPerSec: 81, contextSwitches: 201, waitTotalNs: 6400, fairnessTasks: 5, turnaroundMeanNs: null }],
    ['x.bpf.o', W, '2', 7, { wakeupLatencyP99Ns: 3050, throughputTasksPerSec: 79, contextSwitches: 202, waitTotalNs: 6600, fairnessTasks: 5, turnaroundMeanNs: null }],
    ['y.bpf.o', W, '2', 5, { wakeupLatencyMeanNs: 1500 }],
    ['y.bpf.o', W, '2', 6, { wakeupLatencyMeanNs: 1600 }],
    ['x.bpf.o', 'gen:hogs,n=2', '4', 5, {}],
  ]);
  const c = compareResults(a, b);

  it('calls equal values no change, and a metric null everywhere not applicable', () => {
    const m = pick(c, 'x.bpf.o', 'wakeupLatencyMeanNs');
    expect(m).toMatchObject({ significance: 'no change', diff: 0, relDiff: 0, test: null, direction: null });
    expect(m.a).toEqual({ n: 3, missing: 0, mean: 1000, stdev: 0, values: [1000, 1000, 1000], seeds: [1, 2, 3] });
    expect(pick(c, 'x.bpf.o', 'callbacks')).toMatchObject({ significance: 'not applicable', diff: null, a: { n: 0, missing: 3 } });
  });

  it('finds a clear shift significant, and better or worse by the metric direction', () => {
    const lat = pick(c, 'x.bpf.o', 'wakeupLatencyP99Ns');
    // Lower is better, and it went up by 1000 ns against a spread of 50 ns a side.
    expect(lat).toMatchObject({ significance: 'significant', direction: 'worse', diff: 1000, better: 'lower', unit: 'ns' });
    expect(lat.relDiff).toBeCloseTo(1000 / 2050, 12);
    expect(lat.test!.p).toBeLessThan(1e-4);
    expect(lat.test!.df).toBeCloseTo(4, 12);
    expect(lat.ci95![0]).toBeGreaterThan(0);
    expect(lat.ci95![0]).toBeLessThan(1000);
    expect(lat.ci95![1]).toBeGreaterThan(1000);
    expect(pick(c, 'x.bpf.o', 'throughputTasksPerSec')).toMatchObject({ significance: 'significant', direction: 'better', diff: 20 });
    // No better direction: a change, neither better nor worse.
    expect(pick(c, 'x.bpf.o', 'contextSwitches')).toMatchObject({ significance: 'significant', direction: null, better: null });
  });

  it('finds a shift within the spread not significant', () => {
    const m = pick(c, 'x.bpf.o', 'waitTotalNs');
    expect(m.significance).toBe('not significant');
    expect(m.diff).toBeCloseTo(6166.666666666667 - 6000, 9);
    expect(m.test!.p).toBeGreaterThan(0.05);
    expect(m.ci95![0]).toBeLessThan(0);
    expect(m.ci95![1]).toBeGreaterThan(0);
  });

  it('cannot judge with one seed, without spread, or without values on one side', () => {
    expect(pick(c, 'x.bpf.o', 'fairnessTasks')).toMatchObject({ significance: 'cannot judge', reason: 'no spread in A or in B', diff: 1, test: null });
    expect(pick(c, 'x.bpf.o', 'turnaroundMeanNs')).toMatchObject({ significance: 'cannot judge', reason: 'no value in B', diff: null, b: { n: 0, missing: 3 } });
    expect(pick(c, 'y.bpf.o', 'wakeupLatencyMeanNs')).toMatchObject({ significance: 'cannot judge', reason: 'one seed in A', diff: 550, relDiff: 0.55 });
    // One seed, but every value equal: the deterministic rerun's answer.
    expect(pick(c, 'y.bpf.o', 'wakeupLatencyP99Ns')).toMatchObject({ significance: 'no change' });
  });

  it('calls the same seeds giving the same values no change, whatever their spread', () => {
    const seeds = (vals: number[], order = [1, 2, 3]) => folder(order.map((seed, i): Cell => ['x.bpf.o', W, '2', seed, { waitTotalNs: vals[i] }]));
    // A rerun, its runs listed in another order.
    const rerun = compareResults(seeds([10, 20, 30]), seeds([30, 10, 20], [3, 1, 2]));
    expect(pick(rerun, 'x.bpf.o', 'waitTotalNs')).toMatchObject({ significance: 'no change', diff: 0, test: null });
    // One seed moved: a test, not a rerun.
    const moved = pick(compareResults(seeds([10, 20, 30]), seeds([10, 20, 31])), 'x.bpf.o', 'waitTotalNs');
    expect(moved.significance).toBe('not significant');
    expect(moved.test!.p).toBeGreaterThan(0.9);
    // The same values from other seeds are a coincidence to test, not a rerun.
    expect(pick(compareResults(seeds([10, 20, 30]), seeds([10, 20, 30], [4, 5, 6])), 'x.bpf.o', 'waitTotalNs')).toMatchObject({ significance: 'not significant', test: { t: 0, p: 1 } });
  });

  it('leaves failed runs out and counts them, and counts aborted runs', () => {
    const x = c.combinations.find((k) => k.scheduler === 'x.bpf.o' && k.workload === W)!;
    expect(x.a).toEqual({ runs: 4, completed: 3, aborted: 1, errors: 1, notRun: 0 });
    expect(x.b).toEqual({ runs: 3, completed: 3, aborted: 0, errors: 0, notRun: 0 });
    expect(x.metrics.map((m) => m.metric)).toEqual(COMPARED_METRICS);
    expect(COMPARED_METRICS).toHaveLength(41);
    expect(COMPARED_METRICS).not.toContain('utilisationPerCpu');
    expect(COMPARED_METRICS).not.toContain('exitReason');
  });

  it('lists combinations only one folder holds', () => {
    expect(c.combinations.map((k) => k.scheduler)).toEqual(['x.bpf.o', 'y.bpf.o']);
    expect(c.onlyInA).toEqual([{ scheduler: 'z.bpf.o', workload: W, topology: '2', runs: { runs: 1, completed: 1, aborted: 0, errors: 0, notRun: 0 }, notRunInOther: 0 }]);
    expect(c.onlyInB).toEqual([{ scheduler: 'x.bpf.o', workload: 'gen:hogs,n=2', topology: '4', runs: { runs: 1, completed: 1, aborted: 0, errors: 0, notRun: 0 }, notRunInOther: 0 }]);
    expect(c.notRunInEither).toEqual([]);
    expect(c.notes).toEqual([]);
    const other = folder([['x.bpf.o', W, '2', 1, {}]]);
    other.suite.durationNs = 50_000_000;
    expect(compareResults(a, other).notes[0]).toMatch(/^the runs' durations differ \(A 100 ms, B 50 ms\)/);
  });

  it("takes a combination none of whose runs was done (a stopped suite, a shard) as absent from that folder", () => {
    const p = folder([
      ['x.bpf.o', W, '2', 1, {}],
      ['x.bpf.o', W, '2', 2, 'not run'],
      ['y.bpf.o', W, '2', 1, 'not run'],
      ['y.bpf.o', W, '2', 2, 'not run'],
      ['z.bpf.o', W, '2', 1, 'not run'],
    ]);
    const q = folder([
      ['x.bpf.o', W, '2', 1, {}],
      ['y.bpf.o', W, '2', 1, {}],
      ['z.bpf.o', W, '2', 1, 'not run'],
    ]);
    const r = compareResults(p, q);
    expect(r.combinations.map((k) => [k.scheduler, k.a])).toEqual([['x.bpf.o', { runs: 2, completed: 1, aborted: 0, errors: 0, notRun: 1 }]]);
    expect(pick(r, 'x.bpf.o', 'tasks')).toMatchObject({ significance: 'no change', a: { n: 1, missing: 0 } });
    expect(r.onlyInB).toEqual([{ scheduler: 'y.bpf.o', workload: W, topology: '2', runs: { runs: 1, completed: 1, aborted: 0, errors: 0, notRun: 0 }, notRunInOther: 2 }]);
    expect(r.notRunInEither).toEqual([{ scheduler: 'z.bpf.o', workload: W, topology: '2' }]);
    const text = comparisonReport(r);
    expect(text).toContain('\nx: A 2 runs (left out: 1 not run), B 1 run\n  no significant change: 33 no change, 8 not applicable\n');
    expect(text).toContain('\ny: only in B, 1 run (A: 2 not run)\n');
    expect(text).toContain('\nz: not run in either folder\n');
    expect(text).toContain('\n1 combination compared, 1 only in B, 1 run in neither;');
  });

  it('prints significant changes by default and every metric with --all, in 100 columns', () => {
    const text = comparisonReport(c, { dirA: 'results/a', dirB: 'results/b' });
    const lines = text.split('\n');
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(100);
    expect(lines[0]).toBe('A: results/a  (suite made, seeds 1,2,3,4, 100 ms)');
    expect(text).toContain(`${W} on 2\n${'='.repeat(`${W} on 2`.length)}\nx: A 4 runs (1 aborted; left out: 1 failed), B 3 runs\n`);
    const row = (metric: string) => lines.find((l) => l.startsWith(`  ${metric} `));
    expect(row('wakeupLatencyP99Ns')).toBe('  wakeupLatencyP99Ns        2.050 us    3.050 us   +1.000 us  +48.8%  <0.001  worse');
    expect(row('throughputTasksPerSec')).toMatch(/ 60 +80 +\+20 +\+33\.3% +<0\.001  better$/);
    expect(row('contextSwitches')).toMatch(/  changed$/);
    // Changes that cannot be judged are shown too; no change and not significant are counted.
    expect(row('fairnessTasks')).toMatch(/  cannot judge: constant$/);
    expect(row('turnaroundMeanNs')).toMatch(/  cannot judge: no value$/);
    expect(row('waitTotalNs')).toBeUndefined();
    expect(row('tasks')).toBeUndefined();
    expect(text).toContain('  and 36 more: 27 no change, 1 not significant, 8 not applicable\n');
    expect(text).toContain('\nz: only in A, 1 run\n');
    expect(text).toContain('gen:hogs,n=2 on 4\n=================\nx: only in B, 1 run\n');
    expect(text).toContain('2 combinations compared, 1 only in A, 1 only in B; --all shows every metric');

    const all = comparisonReport(c, { all: true });
    for (const l of all.split('\n')) expect(l.length).toBeLessThanOrEqual(100);
    expect(all.split('\n').filter((l) => / {2}(no change|not applicable|not significant|cannot judge.*|better|worse|changed)$/.test(l))).toHaveLength(2 * 41);
    expect(all).toMatch(/\n {2}fairnessTasks +4 +5 +\+1 +\+25\.0% +- {2}cannot judge: constant\n/);
    expect(all).toMatch(/\n {2}wakeupLatencyMeanNs +1\.000 us +1\.550 us +\+0\.550 us +\+55\.0% +- {2}cannot judge: 1 seed\n/);
  });
});

// ---- real runs ----

describe('scx-sim compare on real results folders', () => {
  it('compares two runs of a suite that differ in seeds, and reads its folders through the CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-compare-'));
    const make = async (name: string, seeds: number[]) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          name: 'tiny',
          schedulers: ['builtin:eevdf', join(ROOT, 'schedulers/fifo.bpf.o')],
          // bursts ignores the seed (every seed gives the same runs); server draws its arrivals from it.
          workloads: ['gen:bursts,n=6,run=2ms,sleep=1ms', 'gen:server,rate=5000,n=300'],
          topologies: ['2'],
          seeds,
          duration: '50ms',
        }),
      );
      const suite = loadSuite(file);
      const out = join(dir, name);
      writeResults(out, suite, await runAll(expandSuite(suite), { jobs: 1 }));
      return out;
    };
    const dirA = await make('a', [1, 2, 3]);
    const dirB = await make('b', [4, 5, 6]);
    const A = readResults(dirA);
    const B = readResults(dirB);

    // A folder against itself: a deterministic rerun changes nothing, even where seeds differ.
    const self = compareResults(A, A);
    expect(self.combinations).toHaveLength(4);
    for (const k of self.combinations) for (const m of k.metrics) expect(['no change', 'not applicable']).toContain(m.significance);
    expect(self.combinations.some((k) => k.metrics.some((m) => m.significance === 'no change' && !m.a.values.every((v) => v === m.a.values[0])))).toBe(true);

    const c = compareResults(A, B);
    expect(c.onlyInA).toEqual([]);
    expect(c.onlyInB).toEqual([]);
    expect(c.notes).toEqual([]);
    expect(c.a).toEqual({ suite: 'tiny', seeds: [1, 2, 3], durationNs: 50_000_000, hz: 1000 });
    expect(c.combinations.map((k) => [k.workload.split(',')[0], k.scheduler.replace(/^.*\//, '')])).toEqual([
      ['gen:bursts', 'builtin:eevdf'],
      ['gen:bursts', 'fifo.bpf.o'],
      ['gen:server', 'builtin:eevdf'],
      ['gen:server', 'fifo.bpf.o'],
    ]);
    for (const k of c.combinations) {
      expect(k.a).toMatchObject({ runs: 3, completed: 3, errors: 0 });
      expect(k.metrics).toHaveLength(COMPARED_METRICS.length);
      const bursts = k.workload.startsWith('gen:bursts');
      for (const m of k.metrics) {
        if (m.significance === 'not applicable') continue;
        expect(m.a.n + m.a.missing).toBe(3);
        if (bursts) expect(m.significance).toBe('no change');
        if (m.test) {
          // Welch's df lies between min(nA, nB) - 1 and nA + nB - 2.
          expect(m.test.df).toBeGreaterThanOrEqual(2 - 1e-9);
          expect(m.test.df).toBeLessThanOrEqual(4 + 1e-9);
          expect(m.test.p).toBeGreaterThan(0);
          expect(m.test.p).toBeLessThanOrEqual(1);
          expect(m.significance).toBe(m.test.p < 0.05 ? 'significant' : 'not significant');
        }
      }
    }
    // Different seeds give the server workload different arrivals: something was tested.
    expect(c.combinations.filter((k) => k.workload.startsWith('gen:server')).every((k) => k.metrics.some((m) => m.test))).toBe(true);

    const text = cli('compare', dirA, dirB);
    expect(text.code).toBe(0);
    expect(text.err).toBe('');
    expect(text.out).toBe(comparisonReport(c, { dirA, dirB }));
    expect(text.out).toContain('\ngen:server,rate=5000,n=300 on 2\n');
    expect(text.out).toContain('\nbuiltin:eevdf: A 3 runs, B 3 runs\n');
    expect(text.out).toContain('\nfifo: A 3 runs, B 3 runs\n');
    expect(text.out.trimEnd().split('\n').pop()).toBe('4 combinations compared; --all shows every metric, --json everything');
    for (const l of text.out.split('\n')) expect(l.length).toBeLessThanOrEqual(100);

    const json = cli('compare', dirA, dirB, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toEqual(JSON.parse(JSON.stringify({ ...c, a: { dir: dirA, ...c.a }, b: { dir: dirB, ...c.b } })));

    const all = cli('compare', dirA, dirB, '--all');
    expect(all.code).toBe(0);
    expect(all.out).toBe(comparisonReport(c, { all: true, dirA, dirB }));
  }, 120_000);

  it('says in one line which file is missing from a folder that is not a results folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-compare-bad-'));
    const r = cli('compare', dir, dir);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`scx-sim: ${join(dir, 'suite.json')}: no such file (is this a results folder?)\n`);

    const nowhere = join(dir, 'nowhere');
    const r2 = cli('compare', nowhere, dir);
    expect(r2.code).toBe(1);
    expect(r2.err).toBe(`scx-sim: ${join(nowhere, 'suite.json')}: no such file (is this a results folder?)\n`);
    // The second folder is read too, and named when it is the bad one.
    const good = join(dir, 'good');
    const suite = { name: 'one', file: join(dir, 'one.json'), schedulers: ['builtin:eevdf'], workloads: ['gen:hogs,n=1'], topologies: ['1'], seeds: [1], durationNs: 1_000_000, hz: 1000 };
    writeResults(good, suite, [{ index: 0, id: 's0-w0-t0-seed1', scheduler: 'builtin:eevdf', workload: 'gen:hogs,n=1', topology: '1', seed: 1, durationNs: 1_000_000, status: 'ok', metrics: BASE }]);
    expect(cli('compare', good, dir).err).toBe(`scx-sim: ${join(dir, 'suite.json')}: no such file (is this a results folder?)\n`);

    // A run's file gone is a run not done (as after Ctrl-C), not a broken folder.
    const stopped = join(dir, 'stopped');
    cpSync(good, stopped, { recursive: true });
    rmSync(join(stopped, 'runs', 's0-w0-t0-seed1.json'));
    const r3 = cli('compare', good, stopped);
    expect(r3.code).toBe(0);
    expect(r3.out).toContain('\nbuiltin:eevdf: only in A, 1 run (B: 1 not run)\n');
  });
});
