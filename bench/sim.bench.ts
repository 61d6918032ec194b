/**
 * Simulator speed on 64 CPUs (2 nodes x 2 LLCs x 8 cores x 2 threads) and 1,000 tasks that
 * alternate short bursts and sleeps, for:
 *   (a) builtin:eevdf
 *   (b) the vtime policy written in TypeScript
 *   (c) the same policy in C (schedulers/vtime.bpf.o) through the JIT
 * Reports scheduling events per second (the event queue's events: arrivals, wake-ups, burst
 * ends, ticks, reschedules, timers), context switches and BPF callbacks per second, the (c)/(b)
 * ratio, and heap growth over a 10x longer run. The measured run is 1 s of simulated time after a
 * warm-up run, so the 1,000 task arrivals at the start and V8's compilation are not what is
 * timed. Writes results/bench/sim.json. `npm run bench:sim`.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimTask } from '../src/sched/spec.ts';
import { tsVtime } from '../src/sched/ext/ts-schedulers.ts';
import { simulate, type SchedulerSpec } from '../src/sched/simulate.ts';
import { writeFileAtomic } from '../src/util/fs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'results/bench/sim.json');
const MS = 1_000_000;
const SIMULATED_MS = 1000;

const tasks: SimTask[] = Array.from({ length: 1000 }, (_, i) => ({
  pid: i + 1,
  comm: `t${i}`,
  nice: (i % 7) - 3,
  arrival: (i * 37_003) % (10 * MS),
  phases: [{ run: 200_000 + (i % 13) * 50_000 }, { sleep: 500_000 + (i % 11) * 100_000 }],
}));

const variants: { name: string; scheduler: SchedulerSpec }[] = [
  { name: 'builtin:eevdf', scheduler: { kind: 'builtin:eevdf' } },
  { name: 'vtime (TypeScript)', scheduler: { kind: 'ts', make: tsVtime } },
  { name: 'vtime (C, JIT)', scheduler: { kind: 'bpf', file: 'vtime.bpf.o', bytes: new Uint8Array(readFileSync(join(ROOT, 'schedulers/vtime.bpf.o'))) } },
];

interface Row {
  scheduler: string;
  simulatedMs: number;
  wallMs: number;
  events: number;
  eventsPerSec: number;
  switches: number;
  switchesPerSec: number;
  callbacksPerSec?: number;
  bpfInsnsPerSec?: number;
  heapGrowthMb?: number;
}
const rows: Row[] = [];
for (const v of variants) {
  // One warm-up run so V8 has compiled the hot paths (and the JIT's Wasm has tiered up).
  simulate({ scheduler: v.scheduler, tasks, topology: 'server', durationNs: 50 * MS });
  const run = (ms: number) => {
    const t0 = performance.now();
    const r = simulate({ scheduler: v.scheduler, tasks, topology: 'server', durationNs: ms * MS });
    return { r, wall: performance.now() - t0 };
  };
  const { r, wall } = run(SIMULATED_MS);
  if (r.exit) throw new Error(`${v.name} aborted: ${r.exit.msg}`);
  const switches = r.cpus.reduce((n, c) => n + c.switches, 0);
  const callbacks = r.callbacks ? Object.values(r.callbacks).reduce((a, b) => a + b, 0) : undefined;
  // Memory: during a 10x longer run, the heap (after GC) at the end should be what it was at
  // 10% of the run: per-task records hold latency histograms, not growing sample lists.
  const heap: number[] = [];
  simulate({
    scheduler: v.scheduler,
    tasks,
    topology: 'server',
    durationNs: 10 * SIMULATED_MS * MS,
    progress: {
      everyNs: SIMULATED_MS * MS,
      report: () => {
        globalThis.gc?.();
        heap.push(process.memoryUsage().heapUsed);
      },
    },
  });
  const before = heap[0];
  const after = heap[heap.length - 1];
  rows.push({
    scheduler: v.name,
    simulatedMs: SIMULATED_MS,
    wallMs: wall,
    events: r.events,
    eventsPerSec: (r.events / wall) * 1000,
    switches,
    switchesPerSec: (switches / wall) * 1000,
    callbacksPerSec: callbacks === undefined ? undefined : (callbacks / wall) * 1000,
    bpfInsnsPerSec: r.bpfInsns ? (r.bpfInsns / wall) * 1000 : undefined,
    heapGrowthMb: globalThis.gc ? (after - before) / 2 ** 20 : undefined,
  });
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileAtomic(OUT, JSON.stringify(rows, null, 2) + '\n');
const f = (n: number | undefined) => (n === undefined ? '-' : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`);
const lines = [`${'scheduler'.padEnd(22)} ${'wall ms'.padStart(8)} ${'events/s'.padStart(9)} ${'switches/s'.padStart(11)} ${'callbacks/s'.padStart(12)} ${'BPF insn/s'.padStart(11)} ${'heap +MB (10x run)'.padStart(19)}`];
for (const r of rows) {
  lines.push(`${r.scheduler.padEnd(22)} ${r.wallMs.toFixed(0).padStart(8)} ${f(r.eventsPerSec).padStart(9)} ${f(r.switchesPerSec).padStart(11)} ${f(r.callbacksPerSec).padStart(12)} ${f(r.bpfInsnsPerSec).padStart(11)} ${(r.heapGrowthMb === undefined ? 'run with --expose-gc' : r.heapGrowthMb.toFixed(1)).padStart(19)}`);
}
const ts = rows[1];
const c = rows[2];
lines.push('', `(c)/(b): C through the JIT runs at ${(c.eventsPerSec / ts.eventsPerSec).toFixed(2)}x the TypeScript scheduler's speed (same events, same schedule)`);
process.stdout.write(`${lines.join('\n')}\n\nwritten to ${OUT}\n`);
