import { describe, expect, it } from 'vitest';
import { simulate } from '../../../src/sched/simulate.ts';
import type { TsKernelApi, TsSchedulerDef } from '../../../src/sched/ext/ops.ts';
import { loadWorkload } from '../../../src/workload/load.ts';
import { readCString } from '../../../src/bpf/printf.ts';

const MS = 1_000_000;

describe('scheduler exits (semantics doc §6.6)', () => {
  it('the watchdog stalls a scheduler that keeps a runnable task from running; its tasks finish the run in the fair class', () => {
    const seen: string[] = [];
    let exitInfo: { kind: number; reason: string; msg: string } | undefined;
    // enqueue keeps every task in "BPF" and dispatch never inserts it.
    const hoarder = (api: TsKernelApi): TsSchedulerDef => ({
      name: 'hoarder',
      timeoutMs: 100,
      callbacks: {
        enqueue: () => 0,
        dispatch: () => 0,
        disable: (p) => void seen.push(`disable ${p === 0 ? 'NULL' : 'task'}`),
        exit_task: () => void seen.push('exit_task'),
        exit: (ei) => {
          seen.push('exit');
          // struct scx_exit_info: kind at 0, reason at 24, msg at 48 (kernel-types.ts layout).
          const { mem } = api.km;
          const str = (at: number) => readCString(mem, Number(mem.view.getBigUint64(ei + at, true)));
          exitInfo = { kind: mem.view.getUint32(ei, true), reason: str(24)!, msg: str(48)! };
        },
      },
    });
    const r = simulate({ scheduler: { kind: 'ts', make: hoarder }, tasks: loadWorkload('gen:hogs,n=1'), topology: '1', durationNs: 1000 * MS, checkInvariants: true });
    // Checked every timeout/2 = 50 ms: at 150 ms the task has waited 150 ms > 100 ms.
    expect(r.exit).toMatchObject({ kind: 1026, reason: 'runnable task stall', msg: 'hog0[1] failed to run for 0.150s', exitCode: 0n, atNs: 150 * MS });
    // The debug dump shows the machine as the watchdog found it.
    expect(r.exit?.dump).toBe(
      [
        'runnable task stall at 150000000 ns: hog0[1] failed to run for 0.150s',
        'CPU 0: curr=idle local=0 fair=0 rt=0 idle',
        'hog0[1] held by the scheduler slice=20000000 dsq_vtime=0 runnable for 150000000 ns',
        '',
      ].join('\n'),
    );
    // The teardown: disable and exit_task per task, then ops.exit with the exit info.
    expect(seen).toEqual(['disable task', 'exit_task', 'exit']);
    expect(exitInfo).toEqual({ kind: 1026, reason: 'runnable task stall', msg: 'hog0[1] failed to run for 0.150s' });
    // The run goes on: the task runs in the fair class from the abort to the end.
    expect(r.durationNs).toBe(1000 * MS);
    expect(r.tasks[0]).toMatchObject({ runtime: 850 * MS, wait: 150 * MS });
    expect(r.cpus[0]).toMatchObject({ busy: 850 * MS, idle: 150 * MS });
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
