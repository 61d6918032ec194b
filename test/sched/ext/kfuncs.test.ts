/**
 * The sched_ext kfuncs beyond insert and consume (semantics doc §4.2-§4.5, §6.6): DSQ iterators
 * and moves, reenqueue_local, the idle-CPU picks and cpumasks, cpuperf, and the debug dump.
 */
import { describe, expect, it } from 'vitest';
import { fieldOf } from '../../../src/bpf/ctypes.ts';
import { taskStruct } from '../../../src/sched/kernel-types.ts';
import type { TsKernelApi, TsSchedulerDef } from '../../../src/sched/ext/ops.ts';
import { simulate } from '../../../src/sched/simulate.ts';
import type { SimTask } from '../../../src/sched/spec.ts';

const MS = 1_000_000;
const LOCAL = 0x8000000000000002n;
const SLICE_DFL = 20_000_000n;
const ITER_REV = 1n << 16n;
const PICK_IDLE_CORE = 1n;
const DSQ = 3;
const PID = fieldOf(taskStruct, 'pid').offset;
const CPUS_PTR = fieldOf(taskStruct, 'cpus_ptr').offset;

const ts = (make: (api: TsKernelApi) => TsSchedulerDef) => ({ kind: 'ts' as const, make });
const oneShots = (n: number, run = MS): SimTask[] => Array.from({ length: n }, (_, i) => ({ pid: i + 1, comm: `j${i + 1}`, arrival: 0, phases: [{ run }], loops: 1 }));
const pidOf = (api: TsKernelApi, p: number) => api.km.mem.view.getInt32(p + PID, true);

describe('DSQ iterators and moves (§4.2, §4.3)', () => {
  it('walk a user DSQ either way, seeing only tasks queued before the walk, and move the chosen one', () => {
    const walks: number[][] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => {
      const it = api.km.mem.alloc('iterator', 48).start;
      const walk = (flags: bigint) => {
        const seen: number[] = [];
        expect(api.kfunc('bpf_iter_scx_dsq_new', it, DSQ, flags)).toBe(0n);
        for (let p = Number(api.kfunc('bpf_iter_scx_dsq_next', it)); p; p = Number(api.kfunc('bpf_iter_scx_dsq_next', it))) seen.push(p);
        return seen;
      };
      return {
        name: 'iterating',
        callbacks: {
          init: () => Number(api.kfunc('scx_bpf_create_dsq', DSQ, -1)),
          enqueue: (p, f) => void api.kfunc('scx_bpf_dsq_insert', p, DSQ, SLICE_DFL, f),
          dispatch: () => {
            const forward = walk(0n);
            walks.push(forward.map((p) => pidOf(api, p)), walk(ITER_REV).map((p) => pidOf(api, p)));
            // Run the last-queued task first: move it (with a new slice) to this CPU's local DSQ.
            const last = forward[forward.length - 1];
            if (last === undefined) return;
            api.kfunc('bpf_iter_scx_dsq_new', it, DSQ, 0);
            api.kfunc('scx_bpf_dsq_move_set_slice', it, 5n * BigInt(MS));
            expect(api.kfunc('scx_bpf_dsq_move', it, last, LOCAL, 0)).toBe(1n);
            // A second move of the same task through the same walk fails: it left the DSQ.
            expect(api.kfunc('scx_bpf_dsq_move', it, last, LOCAL, 0)).toBe(0n);
            api.kfunc('bpf_iter_scx_dsq_destroy', it);
          },
        },
      };
    };
    const r = simulate({ scheduler: ts(make), tasks: oneShots(3), topology: '1', durationNs: 10 * MS, checkInvariants: true });
    expect(r.exit).toBeUndefined();
    expect(walks.slice(0, 4)).toEqual([
      [1, 2, 3],
      [3, 2, 1],
      [1, 2],
      [2, 1],
    ]);
    // Last queued first: 3, then 2, then 1, each finishing its 1 ms.
    expect(r.tasks.map((t) => t.wait)).toEqual([2 * MS, MS, 0]);
  });

  it('rejects unknown iterator flags and DSQs, and moves only from dispatch or unlocked contexts', () => {
    const rcs: bigint[] = [];
    const make = (api: TsKernelApi): TsSchedulerDef => {
      const it = api.km.mem.alloc('iterator', 48).start;
      return {
        name: 'misuse',
        callbacks: {
          init: () => {
            api.kfunc('scx_bpf_create_dsq', DSQ, -1);
            rcs.push(api.kfunc('bpf_iter_scx_dsq_new', it, 99, 0), api.kfunc('bpf_iter_scx_dsq_new', it, DSQ, 1));
            return 0;
          },
          enqueue: (p) => void api.kfunc('scx_bpf_dsq_move', it, p, LOCAL, 0),
        },
      };
    };
    const r = simulate({ scheduler: ts(make), tasks: oneShots(1), topology: '1', durationNs: MS });
    expect(rcs).toEqual([-2n, -22n]);
    expect(r.exit?.msg).toBe('scx_bpf_dsq_move called from enqueue, which allows ENQUEUE kfuncs; it needs DISPATCH|UNLOCKED');
  });

  it('scx_bpf_reenqueue_local hands back the local DSQ from cpu_release, each task through enqueue with SCX_ENQ_REENQ', () => {
    const reenq: number[] = [];
    let returned = -1;
    const make = (api: TsKernelApi): TsSchedulerDef => ({
      name: 'reenq',
      callbacks: {
        enqueue: (p, f) => {
          if (BigInt(f) & (1n << 40n)) reenq.push(pidOf(api, p));
          api.kfunc('scx_bpf_dsq_insert', p, LOCAL, SLICE_DFL, f);
        },
        cpu_release: () => void (returned = Number(api.kfunc('scx_bpf_reenqueue_local'))),
      },
    });
    // Two ext tasks queued locally on CPU 0 when an RT task arrives there.
    const rt: SimTask = { pid: 9, comm: 'rt', policy: 'fifo', rtPriority: 10, arrival: MS / 2, phases: [{ run: MS }], loops: 1 };
    simulate({ scheduler: ts(make), tasks: [...oneShots(3, 5 * MS), rt], topology: '1', durationNs: 20 * MS, checkInvariants: true });
    // Task 1 was running (it goes to the head of the local DSQ, slice left); 2 and 3 waited.
    expect(returned).toBe(3);
    expect(reenq).toEqual([1, 2, 3]);
  });
});

describe('idle CPUs and cpumasks (§4.4, §4.5)', () => {
  it('picks idle CPUs from a mask, whole cores first, and reports the idle masks', () => {
    const out: Record<string, unknown> = {};
    const make = (api: TsKernelApi): TsSchedulerDef => {
      const mem = api.km.mem;
      const mask = mem.alloc('mask', 128).start;
      const bits = (at: number) => [...Array(4).keys()].filter((c) => (mem.bytes[at + (c >> 3)] >> (c & 7)) & 1);
      return {
        name: 'picker',
        callbacks: {
          init: () => {
            // 2 cores x 2 threads: CPU c's sibling is c ^ 2. All idle at load.
            mem.bytes[mask] = 0b0111; // CPUs 0, 1, 2
            out.first = Number(api.kfunc('scx_bpf_pick_idle_cpu', mask, PICK_IDLE_CORE)); // a whole idle core: 0 or 1
            out.second = Number(api.kfunc('scx_bpf_pick_idle_cpu', mask, PICK_IDLE_CORE));
            out.noCoreLeft = Number(api.kfunc('scx_bpf_pick_idle_cpu', mask, PICK_IDLE_CORE));
            out.third = Number(api.kfunc('scx_bpf_pick_idle_cpu', mask, 0));
            out.none = Number(api.kfunc('scx_bpf_pick_idle_cpu', mask, 0));
            out.any = Number(api.kfunc('scx_bpf_pick_any_cpu', mask, 0));
            out.idle = bits(Number(api.kfunc('scx_bpf_get_idle_cpumask')));
            out.smt = bits(Number(api.kfunc('scx_bpf_get_idle_smtmask')));
            out.possible = bits(Number(api.kfunc('scx_bpf_get_possible_cpumask')));
            mem.bytes[mask] = 0;
            out.empty = Number(api.kfunc('scx_bpf_pick_any_cpu', mask, 0));
            out.cap = Number(api.kfunc('scx_bpf_cpuperf_cap', 1));
            api.kfunc('scx_bpf_cpuperf_set', 1, 512);
            out.cur = Number(api.kfunc('scx_bpf_cpuperf_cur', 1));
            return 0;
          },
          select_cpu: (p, prev) => {
            // p->cpus_ptr is a cpumask the pick kfuncs read like any other.
            const cpus = Number(api.km.mem.view.getBigUint64(p + CPUS_PTR, true));
            out.forTask = Number(api.kfunc('scx_bpf_pick_idle_cpu', cpus, 0));
            return prev;
          },
        },
      };
    };
    simulate({ scheduler: ts(make), tasks: [{ pid: 1, comm: 'p', arrival: 0, phases: [{ run: MS }], loops: 1, cpus: [3] }, { pid: 2, comm: 'q', arrival: 0, phases: [{ run: MS }], loops: 1, cpus: [2, 3] }], topology: '1n:1l:2c:2t', durationNs: 2 * MS });
    const firstTwo = [out.first, out.second].sort();
    expect(firstTwo).toEqual([0, 1]);
    expect(out).toMatchObject({ noCoreLeft: -16, third: 2, none: -16, idle: [3], smt: [], possible: [0, 1, 2, 3], empty: -16, cap: 1024, cur: 512 });
    // Nothing in the mask is idle: pick_any still returns a CPU of the mask.
    expect([0, 1, 2]).toContain(out.any);
    // Task 2 may use CPUs 2 and 3; only 3 is still idle.
    expect(out.forTask).toBe(3);
  });

  it('aborts on a perf level above SCX_CPUPERF_ONE', () => {
    const make = (api: TsKernelApi): TsSchedulerDef => ({ name: 'perf', callbacks: { init: () => Number(api.kfunc('scx_bpf_cpuperf_set', 0, 2000)) } });
    const r = simulate({ scheduler: ts(make), tasks: oneShots(1), topology: '1', durationNs: MS });
    expect(r.exit?.msg).toBe('scx_bpf_cpuperf_set: perf 2000 is above SCX_CPUPERF_ONE (1024)');
  });
});

describe('the debug dump (§6.6)', () => {
  it('collects what dump, dump_cpu and dump_task write with scx_bpf_dump on an error exit', () => {
    const make = (api: TsKernelApi): TsSchedulerDef => {
      const mem = api.km.mem;
      const say = (text: string) => {
        mem.bytes.set(new TextEncoder().encode(`${text}\0`), api.scratch);
        api.kfunc('scx_bpf_dump_bstr', api.scratch, api.scratch + 48, 0);
      };
      return {
        name: 'dumper',
        callbacks: {
          enqueue: () => 0, // hold every task: the watchdog fires
          dump: () => say('scheduler state: holding everything'),
          dump_cpu: (_ctx, cpu, idle) => say(`cpu ${cpu} idle=${idle}`),
          dump_task: (_ctx, p) => say(`task ${pidOf(api, p)}`),
          // scx_bpf_dump outside the dump callbacks is an error, but the dump is taken first.
        },
        timeoutMs: 10,
      };
    };
    const r = simulate({ scheduler: ts(make), tasks: oneShots(1), topology: '1', durationNs: 50 * MS });
    expect(r.exit?.dump).toBe(
      [
        'runnable task stall at 15000000 ns: j1[1] failed to run for 0.015s',
        '  scheduler state: holding everything',
        'CPU 0: curr=idle local=0 fair=0 rt=0 idle',
        '  cpu 0 idle=1',
        'j1[1] held by the scheduler slice=20000000 dsq_vtime=0 runnable for 15000000 ns',
        '  task 1',
        '',
      ].join('\n'),
    );
  });
});
