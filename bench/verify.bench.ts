/**
 * Time the verifier takes on each committed scheduler and on the verifier's positive corpus
 * (test/fixtures/verifier/accept): every program of the object, in kernel mode, as a load for a
 * simulation does it. Target (issue 8): under 1 s per scheduler. Each object is loaded `RUNS`
 * times; the row gives the median verification time of the whole object, the load time around it,
 * and the instructions the verifier processed. Writes results/bench/verify.json.
 * `npm run bench:verify`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadError, idleMachine, load, openObject } from '../src/bpf/loader.ts';
import { SimKernel } from '../src/sched/kernel.ts';
import { writeFileAtomic } from '../src/util/fs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'results/bench/verify.json');
const RUNS = 15;
const TARGET_MS = 1000;

const list = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.bpf.o'))
    .sort()
    .map((f) => join(dir, f));
const objects = [...list('schedulers'), ...list('test/fixtures/verifier/accept')];

const kernel = new SimKernel();
const machine = idleMachine(64);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rows: { object: string; programs: number; instructions: number; insnsProcessed: number; verifyMs: number; loadMs: number }[] = [];
const rejected: string[] = [];
for (const rel of objects) {
  const bytes = new Uint8Array(readFileSync(join(ROOT, rel)));
  try {
    load(openObject(bytes, rel), kernel, machine, { engine: 'interp' });
  } catch (e) {
    if (!(e instanceof LoadError)) throw e;
    rejected.push(e.message);
    continue;
  }
  const verify: number[] = [];
  const whole: number[] = [];
  let programs = 0;
  let instructions = 0;
  let processed = 0;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const loaded = load(openObject(bytes, rel), kernel, machine, { engine: 'interp' });
    whole.push(performance.now() - t0);
    const progs = [...loaded.programs.values()];
    verify.push(progs.reduce((n, p) => n + p.verifyMs, 0));
    programs = progs.length;
    instructions = progs.reduce((n, p) => n + p.insns.length, 0);
    processed = progs.reduce((n, p) => n + p.insnsProcessed, 0);
  }
  rows.push({ object: rel, programs, instructions, insnsProcessed: processed, verifyMs: median(verify), loadMs: median(whole) });
}
const slowest = rows.reduce((a, b) => (b.verifyMs > a.verifyMs ? b : a));
writeFileAtomic(OUT, JSON.stringify({ runs: RUNS, targetMs: TARGET_MS, slowest: slowest.object, rows, rejected }, null, 2) + '\n');
const lines = [`${'object'.padEnd(48)} ${'progs'.padStart(5)} ${'insns'.padStart(6)} ${'processed'.padStart(9)} ${'verify ms'.padStart(10)} ${'load ms'.padStart(8)}`];
for (const r of rows) {
  lines.push(
    `${r.object.padEnd(48)} ${String(r.programs).padStart(5)} ${String(r.instructions).padStart(6)} ${String(r.insnsProcessed).padStart(9)} ${r.verifyMs.toFixed(1).padStart(10)} ${r.loadMs.toFixed(1).padStart(8)}`,
  );
}
lines.push('', `slowest: ${slowest.object}, ${slowest.verifyMs.toFixed(1)} ms (target < ${TARGET_MS} ms): ${slowest.verifyMs < TARGET_MS ? 'met' : 'MISSED'}`);
for (const r of rejected) lines.push(`REJECTED: ${r}`);
process.stdout.write(`${lines.join('\n')}\n\nwritten to ${OUT}\n`);
if (slowest.verifyMs >= TARGET_MS || rejected.length) process.exitCode = 1;
