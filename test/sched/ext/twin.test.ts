import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { simulate } from '../../../src/sched/simulate.ts';
import { tsFifo, tsVtime } from '../../../src/sched/ext/ts-schedulers.ts';
import { loadWorkload } from '../../../src/workload/load.ts';

describe('one policy written in C and in TypeScript', () => {
  for (const [name, make] of [
    ['fifo', tsFifo],
    ['vtime', tsVtime],
  ] as const) {
  it(`gives identical schedules (${name})`, () => {
    const bytes = new Uint8Array(readFileSync(resolve(__dirname, `../../../schedulers/${name}.bpf.o`)));
    for (const [workload, topology] of [
      ['gen:bursts,n=12,run=3ms,sleep=2ms', '4'],
      ['gen:hogs,n=5', '1n:1l:2c:2t'],
      ['gen:bursts,n=7,run=1ms,sleep=3ms,nice=-4', '2n:2c:1t'],
    ]) {
      // Mixed weights matter to vtime: give every other task nice -5.
      const tasks = loadWorkload(workload).map((t, i) => (i % 2 ? { ...t, nice: -5 } : t));
      const c = simulate({ scheduler: { kind: 'bpf', file: `${name}.bpf.o`, bytes }, tasks, topology, durationNs: 300_000_000 });
      const ts = simulate({ scheduler: { kind: 'ts', make }, tasks, topology, durationNs: 300_000_000 });
      expect(ts.exit).toBeUndefined();
      expect(ts.tasks).toEqual(c.tasks);
      expect(ts.cpus).toEqual(c.cpus);
      expect(ts.callbacks).toEqual(c.callbacks);
      expect(c.bpfInsns).toBeGreaterThan(0);
    }
  });
  }
});
