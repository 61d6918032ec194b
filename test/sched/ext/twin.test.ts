import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { simulate } from '../../../src/sched/simulate.ts';
import type { TsKernelApi, TsSchedulerDef } from '../../../src/sched/ext/ops.ts';
import { loadWorkload } from '../../../src/workload/builtin.ts';

const SCX_DSQ_LOCAL = 0x8000000000000002n;
const SLICE_DFL = 20_000_000n;

/** schedulers/fifo.bpf.c, line for line, in TypeScript. */
function tsFifo(api: TsKernelApi): TsSchedulerDef {
  const view = () => api.km.mem.view;
  return {
    name: 'fifo',
    callbacks: {
      select_cpu: (p, prevCpu, wakeFlags) => {
        const isIdle = api.scratch;
        view().setUint8(isIdle, 0);
        const cpu = Number(api.kfunc('scx_bpf_select_cpu_dfl', p, prevCpu, wakeFlags, isIdle));
        if (view().getUint8(isIdle)) api.kfunc('scx_bpf_dsq_insert', p, SCX_DSQ_LOCAL, SLICE_DFL, 0);
        return cpu;
      },
      enqueue: (p, enqFlags) => {
        api.kfunc('scx_bpf_dsq_insert', p, 0, SLICE_DFL, enqFlags);
      },
      dispatch: () => {
        api.kfunc('scx_bpf_dsq_move_to_local', 0);
      },
      init: () => Number(api.kfunc('scx_bpf_create_dsq', 0, -1)),
    },
  };
}

describe('one policy written in C and in TypeScript', () => {
  it('gives identical schedules (fifo)', () => {
    const bytes = new Uint8Array(readFileSync(resolve(__dirname, '../../../schedulers/fifo.bpf.o')));
    for (const [workload, topology] of [
      ['gen:periodic,n=12,run=3ms,sleep=2ms', '4'],
      ['gen:hogs,n=5', '1n:1l:2c:2t'],
    ]) {
      const tasks = loadWorkload(workload);
      const c = simulate({ scheduler: { kind: 'bpf', file: 'fifo.bpf.o', bytes }, tasks, topology, durationNs: 300_000_000 });
      const ts = simulate({ scheduler: { kind: 'ts', make: tsFifo }, tasks, topology, durationNs: 300_000_000 });
      expect(ts.exit).toBeUndefined();
      expect(ts.tasks).toEqual(c.tasks);
      expect(ts.cpus).toEqual(c.cpus);
      expect(ts.callbacks).toEqual(c.callbacks);
      expect(c.bpfInsns).toBeGreaterThan(0);
    }
  });
});
