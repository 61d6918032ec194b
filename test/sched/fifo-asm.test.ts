/**
 * schedulers/fifo-asm.s, fifo.bpf.c's policy written in BPF assembly (issue 9), against the
 * clang-built fifo.bpf.o: the same decisions must give the same schedule, task for task.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { simulate, type SimulateOptions } from '../../src/sched/simulate.ts';
import { loadWorkload } from '../../src/workload/load.ts';

const ROOT = resolve(__dirname, '../..');
const MS = 1_000_000;
const bpf = (file: string) => ({ kind: 'bpf' as const, file, bytes: new Uint8Array(readFileSync(join(ROOT, 'schedulers', file))) });
const SCX_DSQ_LOCAL = 0x8000000000000002n;

describe('fifo-asm.bpf.o against fifo.bpf.o', () => {
  const cases: [string, string, SimulateOptions['kernelVersion']][] = [
    ['gen:mix,interactive=4,hogs=6', '4', undefined],
    ['gen:schbench,m=4,t=8,run=500us,sleep=1ms', '1n:2l:2c:2t', undefined],
    ['gen:hackbench,groups=2,fds=4,loops=50', '4', '6.12'],
  ];
  for (const [workload, topology, kernelVersion] of cases) {
    it(`schedules ${workload} on ${topology}${kernelVersion ? ` (${kernelVersion})` : ''} exactly as the C version does`, () => {
      const o = { tasks: loadWorkload(workload), topology, durationNs: 300 * MS, kernelVersion };
      const c = simulate({ scheduler: bpf('fifo.bpf.o'), ...o });
      const inserts = { local: 0, shared: 0 };
      const asm = simulate({
        scheduler: bpf('fifo-asm.bpf.o'),
        ...o,
        checkInvariants: true,
        observeKfunc: (name, _cpu, call) => {
          if (name === 'scx_bpf_dsq_insert') inserts[call.u64(2) === SCX_DSQ_LOCAL ? 'local' : 'shared']++;
        },
      });
      expect(asm.exit).toBeUndefined();
      // Both of select_cpu's paths were taken, so the comparison covers the whole policy.
      expect(inserts.local).toBeGreaterThan(0);
      expect(inserts.shared).toBeGreaterThan(0);
      expect(asm.tasks).toEqual(c.tasks);
      expect(asm.cpus).toEqual(c.cpus);
      expect(asm.callbacks).toEqual(c.callbacks);
      // The one difference: instruction counts. fifo.bpf.c tests which kfunc spelling the kernel
      // has (bpf_ksym_exists) on every insert and move; fifo-asm calls the new names directly
      // but also counts every placement in its stats map (a lookup and an atomic add).
      expect(asm.bpfInsns).not.toBe(c.bpfInsns);
    });
  }
});
