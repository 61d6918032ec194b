import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expandSuite, loadSuite } from '../../src/harness/suite.ts';
import { readResults, resultsCsv, runAll, writeResults } from '../../src/harness/runner.ts';
import { terminalReport } from '../../src/harness/report.ts';

const ROOT = resolve(__dirname, '../..');

describe('the suite runner', () => {
  it('gives byte-identical results.csv with 1 and 2 worker threads, and records failed runs without stopping', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-suite-'));
    const file = join(dir, 'tiny.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'tiny',
        schedulers: ['builtin:eevdf', join(ROOT, 'schedulers/fifo.bpf.o'), join(ROOT, 'schedulers/vtime.bpf.o'), 'missing.bpf.o'],
        workloads: ['gen:schbench,m=2,t=4', 'gen:server,rate=5000,n=300', 'gen:bursts,n=6,run=2ms,sleep=1ms'],
        topologies: ['2', '1n:1l:2c:2t'],
        seeds: [1, 2],
        duration: '100ms',
      }),
    );
    const suite = loadSuite(file);
    const runs = expandSuite(suite);
    expect(runs).toHaveLength(48);
    const one = await runAll(runs, { jobs: 1 });
    const two = await runAll(runs, { jobs: 2 });
    expect(resultsCsv(two)).toBe(resultsCsv(one));
    // The missing object fails its runs with a message; every other run has metrics.
    const failed = one.filter((o) => o.status === 'error');
    expect(failed).toHaveLength(12);
    expect(failed[0].error).toBe(`${join(dir, 'missing.bpf.o')}: no such file`);
    expect(one.filter((o) => o.status !== 'error').every((o) => o.metrics && o.metrics.durationNs === 100_000_000)).toBe(true);
    // Different seeds make different server workloads.
    const server = one.filter((o) => o.workload.startsWith('gen:server') && o.scheduler === 'builtin:eevdf' && o.topology === '2');
    expect(server[0].metrics!.wakeupLatencyMeanNs).not.toBe(server[1].metrics!.wakeupLatencyMeanNs);

    // Each run's latency histogram holds every wake-up, and its utilisation timeline averages
    // (weighted by stretch) to the run's utilisation.
    for (const o of one.filter((x) => x.metrics)) {
      expect(o.latencyHistogram!.reduce((n, [, , c]) => n + c, 0)).toBe(o.metrics!.wakeups);
      let start = 0;
      let weighted = 0;
      for (const [end, u] of o.utilisationOverTime!) {
        weighted += u * (end - start);
        start = end;
      }
      expect(start).toBe(o.durationNs);
      expect(weighted / o.durationNs).toBeCloseTo(o.metrics!.utilisation, 9);
    }

    const out = join(dir, 'results');
    writeResults(out, suite, one);
    expect(readFileSync(join(out, 'results.csv'), 'utf8')).toBe(resultsCsv(one));
    expect(readResults(out)).toEqual({ suite: JSON.parse(JSON.stringify(suite)), outcomes: JSON.parse(JSON.stringify(one)) });
    expect(readdirSync(join(out, 'runs'))).toHaveLength(48);
    const csv = resultsCsv(one).split('\n');
    expect(csv[0].startsWith('index,id,scheduler,workload,topology,seed,durationNs,status,error,cpus,tasks')).toBe(true);
    // No column twice (the metric durationNs is the run's own, given once).
    expect(new Set(csv[0].split(',')).size).toBe(csv[0].split(',').length);
    // A workload spec with commas is quoted.
    expect(csv[1]).toContain('"gen:schbench,m=2,t=4"');
    const report = terminalReport(suite, one);
    expect(report).toContain('gen:server,rate=5000,n=300 on 1n:1l:2c:2t');
    expect(report).toContain('missing                 no result (error)');
  }, 120_000);
});
