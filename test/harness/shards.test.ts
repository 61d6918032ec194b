/**
 * The suite command end to end: shards merged equal one whole run, a stopped suite keeps its
 * finished runs and --resume completes it to the same results.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/scx-sim.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });

function suiteFile(dir: string, duration: string, workloads = ['gen:bursts,n=6,run=2ms,sleep=1ms', 'gen:server,rate=4000,n=200'], topology = '2'): string {
  const file = join(dir, 'suite.json');
  writeFileSync(file, JSON.stringify({ name: 'shards', schedulers: ['builtin:eevdf', join(ROOT, 'schedulers/vtime.bpf.o')], workloads, topologies: [topology], seeds: [1, 2, 3], duration }));
  return file;
}

describe('scx-sim suite', () => {
  it('merges shards into exactly the results of one whole run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-shards-'));
    const suite = suiteFile(dir, '50ms');
    expect(cli('suite', 'run', suite, '--jobs', '1', '--out', join(dir, 'whole')).status).toBe(0);
    const a = cli('suite', 'run', suite, '--jobs', '1', '--shard', '1/2', '--out', join(dir, 'a'));
    expect(a.status).toBe(0);
    expect(a.stderr).toContain("6 of 12 runs not done (outside this shard); results.csv marks them 'not run'");
    expect(cli('suite', 'run', suite, '--jobs', '2', '--shard', '2/2', '--out', join(dir, 'b')).status).toBe(0);
    const merged = cli('suite', 'merge', join(dir, 'merged'), join(dir, 'a'), join(dir, 'b'));
    expect(merged.stdout).toContain('12 of 12 runs');
    expect(readFileSync(join(dir, 'merged', 'results.csv'), 'utf8')).toBe(readFileSync(join(dir, 'whole', 'results.csv'), 'utf8'));
    // One shard alone is not the whole suite.
    const half = cli('suite', 'merge', join(dir, 'half'), join(dir, 'a'));
    expect(half.status).toBe(1);
    expect(half.stderr).toContain("6 runs are in none of the folders; results.csv marks them 'not run'");
  }, 120_000);

  it('keeps finished runs when stopped with Ctrl-C, and --resume completes them to the same results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-resume-'));
    // Runs long enough (a few hundred ms of wall time each) that the stop lands mid-suite.
    const suite = suiteFile(dir, '2s', ['gen:bursts,n=300,run=300us,sleep=300us', 'gen:bursts,n=100,run=1ms,sleep=1ms'], '16');
    const out = join(dir, 'stopped');
    const child = spawn(process.execPath, [BIN, 'suite', 'run', suite, '--jobs', '1', '--out', out], { cwd: ROOT });
    let err = '';
    const code = await new Promise<number | null>((done) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        // Stop once the first run is saved.
        if (/run 1\/12/.test(err) && !child.killed) child.kill('SIGINT');
      });
      child.on('close', done);
    });
    expect(code).toBe(130);
    expect(err).toContain('stopping: runs in progress are dropped, finished ones are kept');
    const csv = readFileSync(join(out, 'results.csv'), 'utf8');
    expect(csv).toContain(',not run,');
    const resumed = cli('suite', 'run', suite, '--jobs', '2', '--resume', '--out', out);
    expect(resumed.status).toBe(0);
    expect(cli('suite', 'run', suite, '--jobs', '2', '--out', join(dir, 'whole')).status).toBe(0);
    expect(readFileSync(join(out, 'results.csv'), 'utf8')).toBe(readFileSync(join(dir, 'whole', 'results.csv'), 'utf8'));
  }, 180_000);
});
