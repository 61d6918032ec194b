import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from '../../src/workload/builtin.ts';
import { loadWorkload } from '../../src/workload/load.ts';

describe('the interim workload language', () => {
  it('reads durations with units', () => {
    expect([parseDuration('5s'), parseDuration('2.5ms'), parseDuration('7us'), parseDuration('42')]).toEqual([5e9, 2.5e6, 7000, 42]);
    expect(() => parseDuration('5 min')).toThrow("duration '5 min': expected a number with an optional ns/us/ms/s suffix");
  });

  it('generates hogs and staggered periodic tasks', () => {
    expect(loadWorkload('gen:hogs,n=2,nice=-3').map((t) => [t.pid, t.nice, t.phases])).toEqual([
      [1, -3, [{ run: 1e15 }]],
      [2, -3, [{ run: 1e15 }]],
    ]);
    const p = loadWorkload('gen:bursts,n=4,run=3ms,sleep=1ms');
    expect(p.map((t) => t.arrival)).toEqual([0, 1e6, 2e6, 3e6]);
    expect(p[0].phases).toEqual([{ run: 3e6 }, { sleep: 1e6 }]);
    expect(() => loadWorkload('gen:bursts,n=2,run=1ms')).toThrow('gen:bursts,n=2,run=1ms: missing sleep=');
    expect(() => loadWorkload('gen:hogs,n=2,speed=3')).toThrow("unknown parameter 'speed'");
  });

  it('reads task lists from JSON and names the bad field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-wl-'));
    const file = join(dir, 't.json');
    writeFileSync(file, JSON.stringify([{ pid: 1, comm: 'a', phases: [{ run: 100 }, { sleep: 50 }], loops: 3 }]));
    expect(loadWorkload(file)).toEqual([{ pid: 1, comm: 'a', nice: undefined, cpus: undefined, policy: undefined, rtPriority: undefined, arrival: 0, phases: [{ run: 100 }, { sleep: 50 }], loops: 3 }]);
    writeFileSync(file, JSON.stringify([{ pid: 2, comm: 'irq', policy: 'fifo', rtPriority: 50, phases: [{ run: 100 }] }]));
    expect(loadWorkload(file)[0]).toMatchObject({ policy: 'fifo', rtPriority: 50 });
    writeFileSync(file, JSON.stringify([{ pid: 2, comm: 'irq', policy: 'fifo', phases: [{ run: 100 }] }]));
    expect(() => loadWorkload(file)).toThrow(`${file}: [0].rtPriority: expected an integer in 1..99, found undefined`);
    writeFileSync(file, JSON.stringify([{ pid: 2, comm: 'x', policy: 'deadline', phases: [{ run: 100 }] }]));
    expect(() => loadWorkload(file)).toThrow(`${file}: [0].policy: expected one of normal, batch, idle, ext, fifo, rr, found "deadline"`);
    writeFileSync(file, JSON.stringify([{ pid: 1, comm: 'a', phases: [{ run: -5 }] }]));
    expect(() => loadWorkload(file)).toThrow(`${file}: [0]: phases[0]: run: expected non-negative integer ns, found {"run":-5}`);
    writeFileSync(file, JSON.stringify([{ pid: 1, comm: 'a', phases: [{ run: 5 }], colour: 'red' }]));
    expect(() => loadWorkload(file)).toThrow(`${file}: [0].colour: unknown key`);
  });
});
