/**
 * The verifier's positive corpus (test/fixtures/verifier/accept, see its README.md): safe
 * sched_ext schedulers that Linux's verifier accepts, written with the idioms real schedulers
 * use. A Linux-strict verifier must accept every object in ACCEPT_OBJECTS; accept.test.ts
 * proves each one loads and runs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SimTask } from '../../../src/sched/spec.ts';
import { simulate, type SimulateResult } from '../../../src/sched/simulate.ts';

export const ACCEPT_DIR = resolve(__dirname, '../../fixtures/verifier/accept');

/** Every accept/*.bpf.o, as absolute paths (sorted): programs Linux accepts and scx-sim runs. */
export const ACCEPT_OBJECTS: readonly string[] = readdirSync(ACCEPT_DIR)
  .filter((f) => f.endsWith('.bpf.o'))
  .sort()
  .map((f) => join(ACCEPT_DIR, f));

const MS = 1_000_000;

/**
 * Hogs of different weights, sleepers, a pinned task, a task changing its affinity and its nice
 * value, a yielder, a forker whose children exit, a waiter/poster pair and a real-time task that
 * takes CPUs away from sched_ext (cpu_release / cpu_acquire).
 */
export function mixedWorkload(): SimTask[] {
  const forever = Infinity;
  return [
    // Heavy for the first ~100 ms (more demand than CPUs), then about two CPUs' worth, so CPUs
    // also go idle and wake up again.
    { pid: 1, comm: 'hog', arrival: 0, phases: [{ run: 40 * MS }, { sleep: 10 * MS }], loops: 2 },
    { pid: 2, comm: 'renice', nice: 5, arrival: 0, phases: [{ run: 10 * MS }, { nice: -3 }, { run: 10 * MS }, { nice: 5 }, { sleep: 5 * MS }], loops: 3 },
    ...[3, 4, 5, 6].map((pid) => ({ pid, comm: `sleeper${pid}`, nice: pid % 2 ? 0 : 2, arrival: pid * 100_000, phases: [{ run: 2 * MS }, { sleep: 3 * MS }], loops: 20 })),
    { pid: 7, comm: 'pinned', cpus: [1], arrival: 0, phases: [{ run: 1 * MS }, { sleep: 2 * MS }], loops: forever },
    {
      pid: 8,
      comm: 'mover',
      arrival: 500_000,
      phases: [{ run: 3 * MS }, { cpus: [0, 1] }, { run: 3 * MS }, { sleep: 1 * MS }, { cpus: [2, 3] }, { run: 3 * MS }, { cpus: [0, 1, 2, 3] }, { sleep: 4 * MS }],
      loops: forever,
    },
    { pid: 9, comm: 'yielder', arrival: 0, phases: [{ run: 1 * MS }, { yield: true }, { run: 1 * MS }, { sleep: 4 * MS }], loops: forever },
    {
      pid: 10,
      comm: 'forker',
      arrival: 1 * MS,
      phases: [{ fork: { comm: 'child', phases: [{ run: 2 * MS }, { sleep: 1 * MS }, { run: 1 * MS }, { exit: true }] } }, { run: 500_000 }, { sleep: 8 * MS }],
      loops: forever,
    },
    { pid: 11, comm: 'waiter', arrival: 0, phases: [{ wait: 'ping' }, { run: 500_000 }], loops: forever },
    { pid: 12, comm: 'poster', arrival: 0, phases: [{ run: 1 * MS }, { post: 'ping' }, { sleep: 3 * MS }], loops: forever },
    { pid: 13, comm: 'rt', policy: 'fifo', rtPriority: 10, arrival: 2 * MS, phases: [{ run: 1 * MS }, { sleep: 9 * MS }], loops: forever },
  ];
}

/** Run one object of the corpus on a 4-CPU machine with invariant checks (the mixed workload by default). */
export function runAccepted(path: string, tasks: SimTask[] = mixedWorkload(), durationNs = 300 * MS): SimulateResult {
  const file = path.slice(ACCEPT_DIR.length + 1);
  return simulate({ scheduler: { kind: 'bpf', file, bytes: new Uint8Array(readFileSync(path)) }, tasks, topology: '4', durationNs, seed: 1, checkInvariants: true });
}

