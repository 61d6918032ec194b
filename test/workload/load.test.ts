import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadWorkload, openWorkload } from '../../src/workload/load.ts';
import { simulate } from '../../src/sched/simulate.ts';

const W = resolve(__dirname, '../../workloads');

describe('naming a workload', () => {
  it('reads every example in workloads/ by its form, and each runs on the machine', () => {
    const cases: [string, string][] = [
      ['csv/web-server.csv', 'csv'],
      ['csv/batch-interactive.csv', 'csv'],
      ['csv/pipeline.csv', 'csv'],
      ['rt-app/periodic.json', 'rt-app'],
      ['rt-app/handshake.json', 'rt-app'],
      ['rt-app/mix.json', 'rt-app'],
      ['traces/pipeline.ftrace.txt', 'ftrace'],
      ['traces/pipeline.perf.txt', 'perf'],
    ];
    for (const [file, format] of cases) {
      const w = openWorkload(join(W, file), { nrCpus: 4 });
      expect(w.format).toBe(format);
      const tasks = loadWorkload(join(W, file), { nrCpus: 4 });
      expect(tasks.length).toBeGreaterThan(0);
      const r = simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks, topology: '4', durationNs: 200_000_000, checkInvariants: true });
      expect(r.tasks.reduce((n, t) => n + t.runtime, 0)).toBeGreaterThan(0);
    }
    // The trace says how long it is and how many CPUs it was captured on; rt-app files may say
    // how long to run.
    expect(openWorkload(join(W, 'traces/pipeline.ftrace.txt'))).toMatchObject({ cpus: 2, durationNs: 31_000_001 });
  });

  it('seeds generators with the run seed, and reads JSON task lists', () => {
    const a = loadWorkload('gen:server,rate=1000,n=50', { seed: 1 });
    expect(loadWorkload('gen:server,rate=1000,n=50', { seed: 1 })).toEqual(a);
    expect(loadWorkload('gen:server,rate=1000,n=50', { seed: 2 })).not.toEqual(a);
    const dir = mkdtempSync(join(tmpdir(), 'scx-load-'));
    const file = join(dir, 'tasks.json');
    writeFileSync(file, JSON.stringify([{ pid: 3, comm: 'w', phases: [{ wait: 'go' }, { run: 5 }] }]));
    expect(openWorkload(file)).toMatchObject({ format: 'json', tasks: [{ pid: 3, comm: 'w', arrival: 0 }] });
  });

  it('says what it expected for anything else', () => {
    expect(() => openWorkload('gen:nope')).toThrow("gen:nope: unknown generator 'nope' (have: hogs, bursts, schbench, hackbench, server, build, mix, periodic, shell)");
    expect(() => openWorkload('tasks.yaml')).toThrow("tasks.yaml: unknown kind of workload file '.yaml': expected gen:NAME,..., a .csv table, a .json task list or rt-app file, or a trace (.txt, .trace, .dat, .report)");
    expect(() => openWorkload('/nonexistent/t.csv')).toThrow('/nonexistent/t.csv: no such file');
  });
});
