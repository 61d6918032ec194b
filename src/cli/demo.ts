import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { assemble, disassemble } from '../bpf/asm.ts';
import { runSuite } from '../bpf/conformance.ts';
import { Interpreter } from '../bpf/interp.ts';
import { AddressSpace } from '../bpf/memory.ts';
import { checkStructure } from '../bpf/verifier/structure.ts';
import { readInput } from '../bpf/program-file.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const demoCommand: CommandModule = {
  command: 'demo',
  describe: 'show the eBPF machine at work: a sample program and the conformance suite',
  handler: () => {
    const file = join(ROOT, 'bench/programs/primes.s');
    const insns = assemble(readInput(file).toString('utf8'), { file });
    checkStructure(insns, { mode: 'permissive' });
    process.stdout.write(`${file}: ${insns.length} instructions\n${disassemble(insns, { labels: true })}\n`);
    const started = process.hrtime.bigint();
    const { r0, insns: executed } = new Interpreter(insns, new AddressSpace()).run();
    const ns = Number(process.hrtime.bigint() - started);
    process.stdout.write(
      `interpreter: r0 = ${r0} (primes below 10000), ${executed} BPF instructions in ${(ns / 1e6).toFixed(1)} ms ` +
        `(${((executed / ns) * 1e3).toFixed(1)} M insn/s)\n\n`,
    );
    for (const dir of ['tests', 'negative']) {
      const path = join(ROOT, '../shared/bpf-conformance', dir);
      if (!existsSync(path)) {
        process.stdout.write(`conformance ${dir}: ${path} not found, skipped\n`);
        continue;
      }
      const s = runSuite(path, 'interp');
      const skipped = s.skipped ? `, ${s.skipped} skipped` : '';
      process.stdout.write(`conformance ${dir} (interp): ${s.passed} passed, ${s.failed} failed${skipped}\n`);
    }
  },
};
