import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SimTask } from '../../../src/sched/spec.ts';
import { simulate } from '../../../src/sched/simulate.ts';

const MS = 1_000_000;

function runScheduler(name: string, topology: string, tasks: SimTask[], durationNs: number) {
  const file = resolve(__dirname, `../../../schedulers/${name}.bpf.o`);
  return simulate({ scheduler: { kind: 'bpf', file: `${name}.bpf.o`, bytes: new Uint8Array(readFileSync(file)) }, tasks, topology, durationNs, checkInvariants: true });
}

const periodic = (n: number): SimTask[] =>
  Array.from({ length: n }, (_, i) => ({ pid: i + 1, comm: `t${i}`, nice: i % 2 ? 0 : -5, arrival: i * 100_000, phases: [{ run: 3 * MS }, { sleep: 2 * MS }] }));

describe('the sched_ext core running BPF schedulers through the JIT', () => {
  for (const name of ['fifo', 'vtime']) {
    it(`${name}: runs every task, balances the books and repeats exactly`, () => {
      const r = runScheduler(name, '4', periodic(8), 200 * MS);
      expect(r.exit).toBeUndefined();
      const runtime = r.tasks.reduce((n, t) => n + t.runtime, 0);
      expect(r.cpus.reduce((n, c) => n + c.busy, 0)).toBe(runtime);
      for (const c of r.cpus) expect(c.busy + c.idle).toBe(200 * MS);
      for (const t of r.tasks) expect(t.runtime).toBeGreaterThan(50 * MS);
      // Each switch to a task is one ops.running (when implemented) and one pick.
      const switches = r.cpus.reduce((n, c) => n + c.switches, 0);
      if (r.callbacks!.running) expect(r.callbacks!.running).toBe(switches);
      expect(r.callbacks!.init).toBe(1);
      expect(r.bpfInsns).toBeGreaterThan(1000);
      expect(runScheduler(name, '4', periodic(8), 200 * MS)).toEqual(r);
    });
  }

  it('vtime shares a CPU by weight among tasks waiting for it', () => {
    // One nice -5 hog (weight 305) and three nice 0 hogs (100). The running task is not in the
    // DSQ when the next one is chosen, so the heavy task runs at most every other slice: it gets
    // about half the CPU, each light task a sixth, a 3:1 ratio (305:100 capped by alternation).
    const hogs: SimTask[] = [
      { pid: 1, comm: 'heavy', nice: -5, arrival: 0, phases: [{ run: 1e12 }] },
      ...[2, 3, 4].map((pid) => ({ pid, comm: 'light', nice: 0, arrival: 0, phases: [{ run: 1e12 }] })),
    ];
    const r = runScheduler('vtime', '1', hogs, 6000 * MS);
    const light = (r.tasks[1].runtime + r.tasks[2].runtime + r.tasks[3].runtime) / 3;
    expect(Math.abs(r.tasks[0].runtime / light - 3) / 3).toBeLessThan(0.1);
  });

  it('fifo shares a CPU between two hogs by taking turns of one slice', () => {
    const hogs: SimTask[] = [
      { pid: 1, comm: 'a', nice: -5, arrival: 0, phases: [{ run: 1e12 }] },
      { pid: 2, comm: 'b', nice: 0, arrival: 0, phases: [{ run: 1e12 }] },
    ];
    const r = runScheduler('fifo', '1', hogs, 400 * MS);
    // 20 ms slices alternate regardless of nice: 200 ms each.
    expect(r.tasks.map((t) => t.runtime)).toEqual([200 * MS, 200 * MS]);
  });
});
