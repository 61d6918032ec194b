import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { assemble, disassemble } from '../bpf/asm.ts';
import { runSuite } from '../bpf/conformance.ts';
import { ENGINES, prepare } from '../bpf/engine.ts';
import { AddressSpace } from '../bpf/memory.ts';
import { analyze } from '../bpf/verifier/analyze.ts';
import { ScxError } from '../util/errors.ts';
import { readInput } from '../bpf/program-file.ts';
import { LatencyStats } from '../sched/latency.ts';
import { simulate, type SchedulerSpec } from '../sched/simulate.ts';
import { loadWorkload } from '../workload/load.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEMO_WORKLOAD = 'gen:bursts,n=16,run=3ms,sleep=2ms';

export const demoCommand: CommandModule = {
  command: 'demo',
  describe: 'show scx-sim at work: a BPF program on both engines, three schedulers on one workload, the conformance suite',
  handler: () => {
    const out = (s: string) => process.stdout.write(s);
    const file = join(ROOT, 'bench/programs/primes.s');
    const insns = assemble(readInput(file).toString('utf8'), { file });
    const verdict = analyze(insns, { mode: 'permissive', args: [] });
    if (!verdict.ok) throw new ScxError(`${file}: ${verdict.message}`);
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
    out(`\nschedulers on ${DEMO_WORKLOAD}, 4 CPUs, 1 s simulated:\n`);
    out(`${'scheduler'.padEnd(24)} ${'util %'.padStart(7)} ${'switches'.padStart(9)} ${'mean wake lat ms'.padStart(17)} ${'max wake lat ms'.padStart(16)} ${'BPF insns'.padStart(10)}\n`);
    const tasks = loadWorkload(DEMO_WORKLOAD);
    const schedulers: SchedulerSpec[] = [
      { kind: 'builtin:eevdf' },
      ...['fifo', 'vtime'].map((n) => {
        const file = join(ROOT, 'schedulers', `${n}.bpf.o`);
        return { kind: 'bpf' as const, file: `schedulers/${n}.bpf.o`, bytes: new Uint8Array(readInput(file)) };
      }),
    ];
    for (const scheduler of schedulers) {
      const r = simulate({ scheduler, tasks, topology: '4', durationNs: 1e9 });
      const lats = new LatencyStats();
      for (const t of r.tasks) lats.merge(t.wakeupLatency);
      const mean = lats.mean;
      const busy = r.cpus.reduce((n, c) => n + c.busy, 0);
      out(
        `${r.scheduler.padEnd(24)} ${((100 * busy) / (r.durationNs * r.cpus.length)).toFixed(1).padStart(7)} ${String(r.cpus.reduce((n, c) => n + c.switches, 0)).padStart(9)} ` +
          `${(mean / 1e6).toFixed(3).padStart(17)} ${(lats.max / 1e6).toFixed(3).padStart(16)} ${String(r.bpfInsns ?? '-').padStart(10)}` +
          `${r.exit ? `  aborted: ${r.exit.msg}` : ''}\n`,
      );
    }
    out('\n');
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
