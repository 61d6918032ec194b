/**
 * Queueing theory as an independent truth for the whole machine (event engine, wake-ups, the
 * sched_ext core, slices, accounting):
 *
 *  - A global FIFO scheduler on c CPUs with Poisson arrivals and exponential service is an
 *    M/M/c queue: the mean wait is the Erlang C formula's C(c, a) / (c mu - lambda).
 *  - Round robin with a short slice on one CPU approaches processor sharing: for M/M/1-PS the
 *    mean response time is E[S] / (1 - rho), and a job of size x takes x / (1 - rho) on average.
 *
 * Each load point runs enough jobs that the estimate's standard error (by batch means, printed)
 * is about 1% or less, so a 3% tolerance is a stable test, not a lucky one. The seed is fixed.
 */
import { describe, expect, it } from 'vitest';
import type { TsKernelApi, TsSchedulerDef } from '../../src/sched/ext/ops.ts';
import { Rng } from '../../src/sched/random.ts';
import { simulate } from '../../src/sched/simulate.ts';
import type { SimTask, TaskRecord, TaskSource } from '../../src/sched/spec.ts';

const LOCAL = 0x8000000000000002n;
const GLOBAL = 0x8000000000000001n;
const SLICE_INF = (1n << 64n) - 1n;

/** Erlang C: the probability that an arrival waits in an M/M/c queue with offered load a. */
export function erlangC(c: number, a: number): number {
  let sum = 0;
  let term = 1;
  for (let k = 0; k < c; k++) {
    if (k > 0) term *= a / k;
    sum += term;
  }
  const last = ((term * a) / c) * (1 / (1 - a / c));
  return last / (sum + last);
}

/** Poisson arrivals of one-shot jobs with exponential sizes, until `untilNs`. */
function poissonJobs(seed: number, lambdaPerNs: number, meanServiceNs: number, untilNs: number): TaskSource {
  const rng = new Rng(seed);
  let t = 0;
  let pid = 0;
  return {
    next(): SimTask | undefined {
      t += Math.max(1, Math.round(rng.exponential(1 / lambdaPerNs)));
      if (t >= untilNs) return undefined;
      pid++;
      return { pid, comm: 'job', arrival: t, phases: [{ run: Math.max(1, Math.round(rng.exponential(meanServiceNs))) }], loops: 1 };
    },
  };
}

/** Mean and its standard error by batch means (50 batches in arrival order). */
function batchMean(values: Float64Array, n: number): { mean: number; se: number } {
  const batches = 50;
  const size = Math.floor(n / batches);
  const means: number[] = [];
  for (let b = 0; b < batches; b++) {
    let s = 0;
    for (let i = b * size; i < (b + 1) * size; i++) s += values[i];
    means.push(s / size);
  }
  const mean = means.reduce((a, b) => a + b, 0) / batches;
  const v = means.reduce((a, m) => a + (m - mean) ** 2, 0) / (batches - 1);
  return { mean, se: Math.sqrt(v / batches) };
}

/** Jobs' records in arrival order, skipping the first `warmupNs` (the empty start). */
function collect(run: (onExit: (r: TaskRecord) => void) => void, warmupNs: number, pick: (r: TaskRecord) => number) {
  const out: { arrival: number; value: number; runtime: number }[] = [];
  run((r) => {
    if (r.arrival >= warmupNs) out.push({ arrival: r.arrival, value: pick(r), runtime: r.runtime });
  });
  out.sort((a, b) => a.arrival - b.arrival);
  return out;
}

/** Global FIFO: idle CPUs take a waking job directly; otherwise it queues; nothing preempts. */
const globalFifo = (api: TsKernelApi): TsSchedulerDef => ({
  name: 'global-fifo',
  callbacks: {
    select_cpu: (p, prev, flags) => {
      const view = api.km.mem.view;
      view.setUint8(api.scratch, 0);
      const cpu = Number(api.kfunc('scx_bpf_select_cpu_dfl', p, prev, flags, api.scratch));
      if (view.getUint8(api.scratch)) api.kfunc('scx_bpf_dsq_insert', p, LOCAL, SLICE_INF, 0);
      return cpu;
    },
    enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, GLOBAL, SLICE_INF, f),
  },
});

/** Round robin on one CPU: every job, new or preempted, joins the tail with a short slice. */
const roundRobin = (sliceNs: number) => (api: TsKernelApi): TsSchedulerDef => ({
  name: 'round-robin',
  callbacks: { enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, GLOBAL, BigInt(sliceNs), f) },
});

const MEAN_SERVICE = 1_000_000; // 1 ms
/** Round-robin jobs: 4 ms on average, so a 1 ms slice is short. */
const RR_SERVICE = 4_000_000;
const RR_SLICE = 1_000_000;

describe('queueing theory', () => {
  for (const [rho, jobs] of [
    [0.5, 600_000],
    [0.8, 700_000],
    [0.9, 1_600_000],
  ] as const) {
    it(`global FIFO on 2 CPUs is M/M/2: mean wait matches Erlang C at load ${rho}`, () => {
      const c = 2;
      const lambda = (rho * c) / MEAN_SERVICE;
      const duration = Math.round(jobs / lambda);
      const warmup = Math.round(duration / 100);
      const recs = collect(
        (onTaskExit) =>
          simulate({ scheduler: { kind: 'ts', make: globalFifo }, tasks: poissonJobs(1, lambda, MEAN_SERVICE, duration), topology: String(c), durationNs: duration + 50 * MEAN_SERVICE, onTaskExit }),
        0,
        (r) => r.wait,
      );
      // Job by job, the waits are those of the textbook FIFO c-server recursion (each job starts
      // when it arrives or when the first server frees, whichever is later).
      const free = new Float64Array(c);
      let mismatches = 0;
      for (const r of recs) {
        let k = 0;
        for (let j = 1; j < c; j++) if (free[j] < free[k]) k = j;
        const start = Math.max(r.arrival, free[k]);
        free[k] = start + r.runtime;
        if (start - r.arrival !== r.value) mismatches++;
      }
      expect(mismatches).toBe(0);
      const values = Float64Array.from(
        recs.filter((r) => r.arrival >= warmup),
        (r) => r.value,
      );
      const { mean, se } = batchMean(values, values.length);
      const a = rho * c;
      const expected = (erlangC(c, a) / (c - a)) * MEAN_SERVICE;
      const err = mean / expected - 1;
      console.log(`M/M/${c} rho=${rho}: ${values.length} jobs, mean wait ${(mean / 1e6).toFixed(4)} ms, Erlang C ${(expected / 1e6).toFixed(4)} ms, error ${(err * 100).toFixed(2)}%, standard error ${((se / expected) * 100).toFixed(2)}%`);
      expect(Math.abs(err)).toBeLessThan(0.03);
    });
  }

  for (const [rho, jobs] of [
    [0.5, 400_000],
    [0.8, 400_000],
    [0.9, 1_200_000],
  ] as const) {
    it(`round robin with a short slice on 1 CPU is M/M/1 processor sharing: mean response E[S]/(1 - rho) at load ${rho}`, () => {
      const lambda = rho / RR_SERVICE;
      const duration = Math.round(jobs / lambda);
      const warmup = Math.round(duration / 100);
      let preempted = 0;
      const recs = collect(
        (onTaskExit) =>
          simulate({
            scheduler: { kind: 'ts', make: roundRobin(RR_SLICE) },
            tasks: poissonJobs(2, lambda, RR_SERVICE, duration),
            topology: '1',
            durationNs: duration + 50 * RR_SERVICE,
            onTaskExit: (r) => {
              if (r.switches > 1) preempted++;
              onTaskExit(r);
            },
          }),
        warmup,
        (r) => r.wait + r.runtime,
      );
      // Round robin really took turns: many jobs ran in several slices (a slice only ends in
      // a switch when another job waits; otherwise it is refilled quietly).
      expect(preempted / recs.length).toBeGreaterThan(0.25);
      const values = Float64Array.from(recs, (r) => r.value);
      const { mean, se } = batchMean(values, values.length);
      const expected = RR_SERVICE / (1 - rho);
      const err = mean / expected - 1;
      console.log(`M/M/1-PS rho=${rho}: ${values.length} jobs, mean response ${(mean / 1e6).toFixed(3)} ms, E[S]/(1-rho) ${(expected / 1e6).toFixed(3)} ms, error ${(err * 100).toFixed(2)}%, standard error ${((se / expected) * 100).toFixed(2)}%`);
      expect(Math.abs(err)).toBeLessThan(0.03);
    });
  }
});
