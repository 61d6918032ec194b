import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/sched/topology.ts';
import type { SimTask } from '../../../src/sched/spec.ts';
import { simulate } from '../../../src/sched/simulate.ts';

function simulateFair(topology: string, tasks: SimTask[], durationNs: number) {
  return simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks, topology, durationNs, checkInvariants: true });
}

const MS = 1_000_000;
const hog = (pid: number, nice = 0, cpus?: number[]): SimTask => ({ pid, comm: `hog${pid}`, nice, cpus, arrival: 0, phases: [{ run: 1e12 }] });

function checkBooks(r: ReturnType<typeof simulateFair>) {
  const runtime = r.tasks.reduce((n, t) => n + t.runtime, 0);
  const busy = r.cpus.reduce((n, c) => n + c.busy, 0);
  expect(runtime).toBe(busy);
  for (const c of r.cpus) expect(c.busy + c.idle).toBe(r.durationNs);
}

describe('builtin:eevdf', () => {
  it('shares one CPU by weight (nice 0 vs nice -3: 1024 vs 1991)', () => {
    const r = simulateFair('1', [hog(1, 0), hog(2, -3)], 3000 * MS);
    checkBooks(r);
    const ratio = r.tasks[1].runtime / r.tasks[0].runtime;
    expect(Math.abs(ratio - 1991 / 1024) / (1991 / 1024)).toBeLessThan(0.02);
    expect(r.cpus[0].idle).toBe(0);
  });

  it('spreads CPU hogs over idle CPUs and keeps them there', () => {
    const r = simulateFair('4', [1, 2, 3, 4].map((p) => hog(p)), 500 * MS);
    checkBooks(r);
    for (const t of r.tasks) {
      expect(t.runtime).toBe(500 * MS);
      expect(t.migrations).toBe(0);
    }
  });

  it('runs a periodic task at its duty cycle with no wake-up delay on an idle machine', () => {
    const periodic: SimTask = { pid: 1, comm: 'tick', arrival: 0, phases: [{ run: 1 * MS }, { sleep: 9 * MS }] };
    const r = simulateFair('2', [periodic], 1000 * MS);
    checkBooks(r);
    expect(r.tasks[0].runtime).toBe(100 * MS);
    expect(r.tasks[0].wakeupLatency).toMatchObject({ count: 100, max: 0 });
  });

  it('respects affinity and honours the load balancer for waiting tasks', () => {
    // Two hogs pinned nowhere on 2 CPUs arrive on one CPU's queue only if it is the sole choice.
    const r = simulateFair('2', [hog(1, 0, [0]), hog(2, 0, [0]), hog(3, 0)], 400 * MS);
    checkBooks(r);
    // 1 and 2 share CPU 0; 3 has CPU 1 to itself.
    expect(r.tasks[2].runtime).toBe(400 * MS);
    expect(Math.abs(r.tasks[0].runtime - 200 * MS)).toBeLessThan(5 * MS);
  });

  it('rejects behaviour that takes no time', () => {
    expect(() => simulateFair('1', [{ pid: 1, comm: 'x', arrival: 0, phases: [{ run: 0 }] }], MS)).toThrow(
      'task 1: its program takes no time, so it would loop forever',
    );
  });
});

describe('builtin:eevdf invariants under random workloads', () => {
  it('accounts every nanosecond: CPU busy equals task run time, busy + idle equals the run, no task exceeds the run', async () => {
    const fc = (await import('fast-check')).default;
    const phase = fc.oneof(
      fc.integer({ min: 50_000, max: 20 * MS }).map((run) => ({ run })),
      fc.integer({ min: 50_000, max: 20 * MS }).map((sleep) => ({ sleep })),
    );
    const task = fc.record({
      nice: fc.integer({ min: -20, max: 19 }),
      arrival: fc.integer({ min: 0, max: 50 * MS }),
      phases: fc.array(phase, { minLength: 1, maxLength: 4 }).filter((ps) => ps.some((p) => 'run' in p)),
      pin: fc.option(fc.nat(3), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.constantFrom('1', '2', '1n:1l:2c:2t', '2n:2c:1t'), fc.array(task, { minLength: 1, maxLength: 8 }), (spec, ts) => {
        const topo = parseTopology(spec);
        const tasks: SimTask[] = ts.map((t, i) => ({
          pid: i + 1,
          comm: `t${i}`,
          nice: t.nice,
          arrival: t.arrival,
          phases: t.phases,
          cpus: t.pin === undefined ? undefined : [t.pin % topo.nrCpus],
        }));
        const r = simulateFair(spec, tasks, 200 * MS);
        checkBooks(r);
        r.tasks.forEach((t, i) => {
          expect(t.runtime).toBeLessThanOrEqual(200 * MS - tasks[i].arrival);
          expect(t.runtime + t.wait).toBeLessThanOrEqual(200 * MS - tasks[i].arrival);
        });
        // Same inputs, same result.
        expect(simulateFair(spec, tasks, 200 * MS)).toEqual(r);
      }),
      { numRuns: 100 },
    );
  });
});
