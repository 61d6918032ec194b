import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { assemble, disassemble } from '../bpf/asm.ts';
import { runSuite } from '../bpf/conformance.ts';
import { ENGINES, prepare } from '../bpf/engine.ts';
import { AddressSpace } from '../bpf/memory.ts';
import { checkStructure } from '../bpf/verifier/structure.ts';
import { readInput } from '../bpf/program-file.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const demoCommand: CommandModule = {
  command: 'demo',
  describe: 'show the eBPF machine at work: a sample program on both engines and the conformance suite',
  handler: () => {
    const out = (s: string) => process.stdout.write(s);
    const file = join(ROOT, 'bench/programs/primes.s');
    const insns = assemble(readInput(file).toString('utf8'), { file });
    checkStructure(insns, { mode: 'permissive' });
    out(`${file}: ${insns.length} instructions\n${disassemble(insns, { labels: true })}\n`);
    const rates: Record<string, number> = {};
    for (const engine of ENGINES) {
      const exe = prepare(engine, insns, new AddressSpace());
      // Three runs: the JIT's first runs in V8's baseline tier; the last one is reported.
      let line = '';
      for (let i = 0; i < 3; i++) {
        const started = process.hrtime.bigint();
        const { r0, insns: executed } = exe.run();
        const ns = Number(process.hrtime.bigint() - started);
        rates[engine] = executed / ns;
        line = `${engine.padEnd(6)}: r0 = ${r0} (primes below 10000), ${executed} BPF instructions in ${(ns / 1e6).toFixed(2)} ms = ${(rates[engine] * 1e3).toFixed(1)} M insn/s\n`;
      }
      out(line);
    }
    out(`jit / interp: ${(rates.jit / rates.interp).toFixed(0)}x\n\n`);
    for (const dir of ['tests', 'negative']) {
      const path = join(ROOT, '../shared/bpf-conformance', dir);
      if (!existsSync(path)) {
        out(`conformance ${dir}: ${path} not found, skipped\n`);
        continue;
      }
      for (const engine of ENGINES) {
        const s = runSuite(path, engine);
        const skipped = s.skipped ? `, ${s.skipped} skipped` : '';
        out(`conformance ${dir} (${engine}): ${s.passed} passed, ${s.failed} failed${skipped}\n`);
      }
    }
  },
};
