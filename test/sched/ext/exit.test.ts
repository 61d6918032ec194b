import { describe, expect, it } from 'vitest';
import { simulate } from '../../../src/sched/simulate.ts';
import type { TsKernelApi, TsSchedulerDef } from '../../../src/sched/ext/ops.ts';
import { loadWorkload } from '../../../src/workload/builtin.ts';

const MS = 1_000_000;

describe('scheduler exits (semantics doc §6.6)', () => {
  it('the watchdog stalls a scheduler that keeps a runnable task from running for timeout_ms', () => {
    // enqueue keeps every task in "BPF" and dispatch never inserts it.
    const hoarder = (): TsSchedulerDef => ({ name: 'hoarder', timeoutMs: 100, callbacks: { enqueue: () => 0, dispatch: () => 0 } });
    const r = simulate({ scheduler: { kind: 'ts', make: hoarder }, tasks: loadWorkload('gen:hogs,n=1'), topology: '1', durationNs: 1000 * MS });
    // Checked every timeout/2 = 50 ms: at 150 ms the task has waited 150 ms > 100 ms.
    expect(r.exit).toEqual({ kind: 1026, reason: 'runnable task stall', msg: 'hog0[1] failed to run for 0.150s', exitCode: 0n, atNs: 150 * MS });
    expect(r.durationNs).toBe(150 * MS);
  });

  it('scx_bpf_error aborts with the formatted message; scx_bpf_exit unregisters', () => {
    const erring = (kfunc: 'scx_bpf_error_bstr' | 'scx_bpf_exit_bstr') => (api: TsKernelApi): TsSchedulerDef => ({
      name: 'erring',
      callbacks: {
        enqueue: (p) => {
          const { mem } = api.km;
          const fmt = new TextEncoder().encode('bad task %d\0');
          mem.bytes.set(fmt, api.scratch);
          mem.view.setBigUint64(api.scratch + 32, 42n, true);
          if (kfunc === 'scx_bpf_error_bstr') api.kfunc(kfunc, api.scratch, api.scratch + 32, 8);
          else api.kfunc(kfunc, 7, api.scratch, api.scratch + 32, 8);
          return p * 0;
        },
      },
    });
    const err = simulate({ scheduler: { kind: 'ts', make: erring('scx_bpf_error_bstr') }, tasks: loadWorkload('gen:hogs,n=1'), topology: '1', durationNs: 10 * MS });
    expect(err.exit).toMatchObject({ kind: 1025, reason: 'scx_bpf_error', msg: 'bad task 42', atNs: 0 });
    const exit = simulate({ scheduler: { kind: 'ts', make: erring('scx_bpf_exit_bstr') }, tasks: loadWorkload('gen:hogs,n=1'), topology: '1', durationNs: 10 * MS });
    expect(exit.exit).toMatchObject({ kind: 65, reason: 'unregistered from BPF', msg: 'bad task 42', exitCode: 7n });
  });

  it('a kfunc called from the wrong callback aborts the scheduler', () => {
    const misuse = (api: TsKernelApi): TsSchedulerDef => ({
      name: 'misuse',
      callbacks: { enqueue: () => Number(api.kfunc('scx_bpf_dsq_move_to_local', 0)) },
    });
    const r = simulate({ scheduler: { kind: 'ts', make: misuse }, tasks: loadWorkload('gen:hogs,n=1'), topology: '1', durationNs: 10 * MS });
    expect(r.exit?.msg).toBe('scx_bpf_dsq_move_to_local called from enqueue, which allows ENQUEUE kfuncs; it needs DISPATCH');
  });
});
