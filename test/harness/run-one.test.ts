import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOne } from '../../src/harness/run-one.ts';
import type { RunSpec } from '../../src/harness/suite.ts';

const ROOT = resolve(__dirname, '../..');

describe('runOne', () => {
  it("passes a JSON task list's cgroups and weights to the machine", () => {
    // One hog in /small against three in /big on 2 CPUs under the cgroup-weighted scheduler:
    // declared weights (100 vs 300) give every hog half a CPU (fair per task, Jain 1); undeclared
    // (both at the default 100) the lone hog gets a whole CPU and the others a third each.
    const dir = mkdtempSync(join(tmpdir(), 'scx-runone-'));
    const hog = (pid: number, cgroup: string) => ({ pid, comm: `hog${pid}`, cgroup, phases: [{ run: 1e12 }] });
    const tasks = [hog(1, '/small'), hog(2, '/big'), hog(3, '/big'), hog(4, '/big')];
    writeFileSync(join(dir, 'declared.json'), JSON.stringify({ cgroups: [{ path: '/small', weight: 100 }, { path: '/big', weight: 300 }], tasks }));
    writeFileSync(join(dir, 'default.json'), JSON.stringify({ tasks }));
    const spec = (file: string): RunSpec => ({
      index: 0,
      id: 'r',
      scheduler: 'cgroup.bpf.o',
      schedulerPath: join(ROOT, 'schedulers/cgroup.bpf.o'),
      workload: file,
      workloadPath: join(dir, file),
      topology: '2',
      seed: 1,
      durationNs: 1e9,
      hz: 1000,
    });
    const declared = runOne(spec('declared.json'));
    const undeclared = runOne(spec('default.json'));
    expect(declared.status).toBe('ok');
    expect(undeclared.status).toBe('ok');
    expect(declared.metrics!.fairnessJain).toBeGreaterThan(0.99);
    expect(undeclared.metrics!.fairnessJain).toBeLessThan(0.85);
  });
});
