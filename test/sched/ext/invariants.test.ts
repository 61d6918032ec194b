import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { SimTask } from '../../../src/sched/spec.ts';
import type { TsKernelApi, TsSchedulerDef } from '../../../src/sched/ext/ops.ts';
import { simulate } from '../../../src/sched/simulate.ts';

const MS = 1_000_000;
const LOCAL = 0x8000000000000002n;
const GLOBAL = 0x8000000000000001n;
const LOCAL_ON = 0xc000000000000000n;

/**
 * A family of TypeScript schedulers picked by the test: where enqueue puts a task (global, a
 * user DSQ FIFO or by vtime, a CPU's local DSQ, or kept back until dispatch), whether select_cpu
 * is implemented and direct-inserts, and the slice.
 */
interface Policy {
  target: 'global' | 'user-fifo' | 'user-vtime' | 'local-on' | 'held';
  selectCpu: boolean;
  slice: number;
  /** SCX_OPS_SWITCH_PARTIAL: only SCHED_EXT tasks are the scheduler's. */
  partial: boolean;
  /** Call scx_bpf_error on this callback invocation (counting all callbacks), if set. */
  errorAt: number | null;
}

function make(policy: Policy) {
  return (api: TsKernelApi): TsSchedulerDef => {
    const held: number[] = [];
    const view = () => api.km.mem.view;
    let rr = 0;
    const def: TsSchedulerDef = {
      name: 'random',
      flags: policy.partial ? 8n : 0n,
      callbacks: {
        init: () => Number(api.kfunc('scx_bpf_create_dsq', 5, -1)),
        ...(policy.selectCpu
          ? {
              select_cpu: (p: number, prev: number, flags: number) => {
                view().setUint8(api.scratch, 0);
                const cpu = Number(api.kfunc('scx_bpf_select_cpu_dfl', p, prev, flags, api.scratch));
                if (view().getUint8(api.scratch)) api.kfunc('scx_bpf_dsq_insert', p, LOCAL, policy.slice, 0);
                return cpu;
              },
            }
          : {}),
        enqueue: (p: number, flags: number) => {
          switch (policy.target) {
            case 'global':
              api.kfunc('scx_bpf_dsq_insert', p, GLOBAL, policy.slice, flags);
              break;
            case 'user-fifo':
              api.kfunc('scx_bpf_dsq_insert', p, 5, policy.slice, flags);
              break;
            case 'user-vtime':
              api.kfunc('scx_bpf_dsq_insert_vtime', p, 5, policy.slice, BigInt(p % 97), flags);
              break;
            case 'local-on': {
              // Only CPU 0 is allowed for every generated task below, so LOCAL_ON|0 is legal.
              api.kfunc('scx_bpf_dsq_insert', p, LOCAL_ON, policy.slice, flags);
              break;
            }
            case 'held':
              held.push(p);
              break;
          }
        },
        dispatch: () => {
          if (policy.target === 'held') {
            const p = held.shift();
            if (p !== undefined) api.kfunc('scx_bpf_dsq_insert', p, LOCAL, policy.slice, 0);
          } else {
            api.kfunc('scx_bpf_dsq_move_to_local', 5);
          }
          rr++;
        },
      },
    };
    if (policy.errorAt === null) return def;
    // Fail at the chosen call, wherever that falls: the scheduler aborts mid-run.
    let calls = 0;
    const fmt = api.km.mem.alloc('error format', 8).start;
    api.km.mem.bytes.set([0x78, 0], fmt); // "x"
    for (const [name, fn] of Object.entries(def.callbacks)) {
      def.callbacks[name] = (...args: number[]) => {
        if (++calls === policy.errorAt) api.kfunc('scx_bpf_error_bstr', fmt, fmt, 0);
        return fn!(...args);
      };
    }
    return def;
  };
}

describe('sched_ext core invariants under random workloads and random TypeScript schedulers', () => {
  it('keeps every task in one place, balances the books and repeats exactly, across scheduler aborts and RT and fair tasks', () => {
    let aborts = 0;
    let abortsMidRun = 0;
    const policy = fc.record({
      target: fc.constantFrom('global' as const, 'user-fifo' as const, 'user-vtime' as const, 'local-on' as const, 'held' as const),
      selectCpu: fc.boolean(),
      slice: fc.constantFrom(100_000, 2 * MS, 20 * MS),
      partial: fc.boolean(),
      errorAt: fc.option(fc.integer({ min: 1, max: 120 }), { nil: null }),
    });
    const task = fc.record({
      nice: fc.integer({ min: -20, max: 19 }),
      arrival: fc.integer({ min: 0, max: 20 * MS }),
      run: fc.integer({ min: 50_000, max: 8 * MS }),
      sleep: fc.integer({ min: 50_000, max: 8 * MS }),
      policy: fc.constantFrom('normal' as const, 'normal' as const, 'ext' as const, 'fifo' as const),
      rtPriority: fc.integer({ min: 1, max: 99 }),
      loops: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(policy, fc.constantFrom('1', '2', '1n:1l:2c:2t'), fc.array(task, { minLength: 1, maxLength: 6 }), (pol, topology, ts) => {
        const tasks: SimTask[] = ts.map((t, i) => ({
          pid: i + 1,
          comm: `t${i}`,
          nice: t.nice,
          arrival: t.arrival,
          phases: [{ run: t.run }, { sleep: t.sleep }],
          cpus: pol.target === 'local-on' ? [0] : undefined,
          policy: t.policy,
          rtPriority: t.policy === 'fifo' ? t.rtPriority : undefined,
          loops: t.loops,
        }));
        const run = () => simulate({ scheduler: { kind: 'ts', make: make(pol) }, tasks, topology, durationNs: 100 * MS, checkInvariants: true });
        // checkInvariants verifies every event, across an abort too: no task lost, none twice.
        const r = run();
        if (pol.errorAt === null) expect(r.exit).toBeUndefined();
        else if (r.exit) {
          expect(r.exit).toMatchObject({ kind: 1025, msg: 'x' });
          aborts++;
          if (r.exit.atNs < 50 * MS && r.cpus.some((c) => c.busy > 0)) abortsMidRun++;
        }
        const runtime = r.tasks.reduce((n, t) => n + t.runtime, 0);
        expect(r.cpus.reduce((n, c) => n + c.busy, 0)).toBe(runtime);
        for (const c of r.cpus) expect(c.busy + c.idle).toBe(r.durationNs);
        r.tasks.forEach((t, i) => expect(t.runtime + t.wait).toBeLessThanOrEqual(100 * MS - tasks[i].arrival));
        expect(run()).toEqual(r);
      }),
      {
        numRuns: 300,
        examples: [
          // Found by this test: scx_bpf_error in enqueue(prev) while an RT task was taking the
          // CPU stranded the RT task on no queue.
          [
            { target: 'global', selectCpu: false, slice: 100_000, partial: false, errorAt: 3 },
            '1',
            [
              { nice: 0, arrival: 0, run: 50_000, sleep: 50_000, policy: 'fifo', rtPriority: 1, loops: undefined },
              { nice: 0, arrival: 0, run: 100_000, sleep: 50_000, policy: 'normal', rtPriority: 1, loops: undefined },
              { nice: 0, arrival: 200_001, run: 50_000, sleep: 50_000, policy: 'normal', rtPriority: 1, loops: undefined },
            ],
          ],
        ],
      },
    );
    // The generator really exercised aborts, many of them early in the run.
    expect(aborts).toBeGreaterThan(20);
    expect(abortsMidRun).toBeGreaterThan(10);
  });
});
