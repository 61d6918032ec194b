import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fieldOf } from '../../src/bpf/ctypes.ts';
import { idleMachine, load, openObject } from '../../src/bpf/loader.ts';
import { AddressSpace } from '../../src/bpf/memory.ts';
import { schedExtOpsOf } from '../../src/sched/ext/bpf-ops.ts';
import { scxKfuncs } from '../../src/sched/ext/kfunc-protos.ts';
import { SimKernel } from '../../src/sched/kernel.ts';
import { taskStruct } from '../../src/sched/kernel-types.ts';
import { SCHED_EXT, TaskTable } from '../../src/sched/task.ts';

describe('tasks in kernel memory', () => {
  it('lays out pid, comm, priorities, weight and affinity where the kernel types say', () => {
    const mem = new AddressSpace();
    const table = new TaskTable(mem, 8);
    const t = table.create({ pid: 42, comm: 'a-very-long-command-name', nice: -5, policy: SCHED_EXT, cpus: [1, 3] });
    const v = mem.view;
    expect(v.getInt32(t.addr + fieldOf(taskStruct, 'pid').offset, true)).toBe(42);
    expect(t.comm).toBe('a-very-long-com'); // TASK_COMM_LEN - 1 characters
    expect(v.getInt32(t.addr + fieldOf(taskStruct, 'static_prio').offset, true)).toBe(115);
    expect(t.weight).toBe(305); // nice -5: kernel weight 3121 -> 305 (semantics doc §3.7)
    expect(t.policy).toBe(SCHED_EXT);
    expect([t.nrCpusAllowed, t.allows(1), t.allows(2), t.allows(3)]).toEqual([2, true, false, true]);
    expect(v.getBigUint64(t.addr + fieldOf(taskStruct, 'cpus_ptr').offset, true)).toBe(BigInt(t.addr + fieldOf(taskStruct, 'cpus_mask').offset));
    expect(table.byPidOf(42)).toBe(t);
    expect(table.at(t.addr)).toBe(t);
    expect(() => table.create({ pid: 42, comm: 'x' })).toThrow('task pid 42 exists already');
    expect(() => table.create({ pid: 43, comm: 'x', cpus: [8] })).toThrow('task pid 43: CPU 8 is not one of the 8 CPUs');
    table.free(t);
    expect(table.create({ pid: 44, comm: 'reuse' }).addr).toBe(t.addr);
  });

  it('shares one copy of each field with a BPF scheduler', () => {
    const kernel = new SimKernel({ scx: () => scxKfuncs({ scx_bpf_dsq_insert_vtime: () => 0 }) });
    const loaded = load(openObject(new Uint8Array(readFileSync(resolve(__dirname, '../../schedulers/vtime.bpf.o'))), 'vtime.bpf.o'), kernel, idleMachine(4));
    const ops = schedExtOpsOf(loaded);
    const table = new TaskTable(loaded.mem, 4);
    const t = table.create({ pid: 7, comm: 'worker', nice: 0 });
    t.dsqVtime = 1_000n;
    t.slice = 5_000_000n; // 15 ms used of the 20 ms default slice
    ops.call('stopping', t.addr, 1);
    // vtime charges (SCX_SLICE_DFL - slice) * 100 / weight = 15,000,000 at weight 100.
    expect(t.dsqVtime).toBe(15_001_000n);
  });
});
