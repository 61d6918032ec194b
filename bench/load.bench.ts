/**
 * Time to load each committed BPF object (parse ELF and BTF, create maps, link, relocate,
 * check and JIT-compile every program), with the kernel built once as a simulation would.
 * Target: under 50 ms per object. Writes results/bench/load.json. `npm run bench:load`.
 */
import { Bench } from 'tinybench';
import { mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { idleMachine, load, openObject } from '../src/bpf/loader.ts';
import { SimKernel } from '../src/sched/kernel.ts';
import { writeFileAtomic } from '../src/util/fs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'results/bench/load.json');

const objects = [
  ...(existsSync(join(ROOT, 'schedulers'))
    ? readdirSync(join(ROOT, 'schedulers'))
        .filter((f) => f.endsWith('.bpf.o'))
        .map((f) => join('schedulers', f))
    : []),
  'test/fixtures/loader/basic.bpf.o',
];

const machine = idleMachine(64);

const kernel = new SimKernel();
const rows: { object: string; engine: string; msPerLoad: number; programs: number; instructions: number }[] = [];
for (const rel of objects) {
  const bytes = new Uint8Array(readFileSync(join(ROOT, rel)));
  for (const engine of ['jit', 'interp'] as const) {
    const bench = new Bench({ time: 1000, warmupTime: 200 });
    let programs = 0;
    let instructions = 0;
    bench.add(rel, () => {
      const loaded = load(openObject(bytes, rel), kernel, machine, { engine });
      programs = loaded.programs.size;
      instructions = [...loaded.programs.values()].reduce((n, p) => n + p.insns.length, 0);
    });
    await bench.run();
    const result = bench.tasks[0].result;
    if (result.state !== 'completed') throw new Error(`${rel}: benchmark ${result.state}`);
    rows.push({ object: rel, engine, msPerLoad: result.period, programs, instructions });
  }
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileAtomic(OUT, JSON.stringify(rows, null, 2) + '\n');
const lines = [`${'object'.padEnd(40)} ${'engine'.padEnd(7)} ${'programs'.padStart(8)} ${'insns'.padStart(6)} ${'ms/load'.padStart(9)}`];
for (const r of rows) {
  lines.push(`${r.object.padEnd(40)} ${r.engine.padEnd(7)} ${String(r.programs).padStart(8)} ${String(r.instructions).padStart(6)} ${r.msPerLoad.toFixed(2).padStart(9)}`);
}
process.stdout.write(`${lines.join('\n')}\n\nwritten to ${OUT}\n`);
