import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fieldOf } from '../../../src/bpf/ctypes.ts';
import { idleMachine, load, openObject, type Machine } from '../../../src/bpf/loader.ts';
import { CALLBACKS, schedExtOpsOf } from '../../../src/sched/ext/bpf-ops.ts';
import { SimKernel } from '../../../src/sched/kernel.ts';
import { taskStruct } from '../../../src/sched/kernel-types.ts';

const FIXTURE = resolve(__dirname, '../../fixtures/loader/basic.bpf.o');
const machine = (trace: string[] = []): Machine => ({ ...idleMachine(4), trace: (line) => trace.push(line), isTask: () => true });

describe('struct sched_ext_ops from a BPF object', () => {
  it('lists the kernel callbacks in order with their argument counts', () => {
    expect(CALLBACKS.slice(0, 4)).toEqual([
      { name: 'select_cpu', args: 3 },
      { name: 'enqueue', args: 2 },
      { name: 'dequeue', args: 2 },
      { name: 'dispatch', args: 2 },
    ]);
    expect(CALLBACKS.find((c) => c.name === 'init')).toEqual({ name: 'init', args: 0 });
    expect(CALLBACKS.length).toBe(33);
  });

  it('reads the data fields, applies defaults and calls callbacks with a ctx array', () => {
    for (const engine of ['jit', 'interp'] as const) {
      const trace: string[] = [];
      const loaded = load(openObject(new Uint8Array(readFileSync(FIXTURE)), 'basic.bpf.o'), new SimKernel(), machine(trace), { engine });
      const ops = schedExtOpsOf(loaded);
      expect([ops.name, ops.timeoutMs, ops.dispatchMaxBatch, ops.flags]).toEqual(['test', 5000, 32, 0n]);
      expect(ops.has('select_cpu') && ops.has('enqueue') && !ops.has('dispatch')).toBe(true);
      const task = loaded.mem.alloc('task', taskStruct.size).start;
      loaded.mem.view.setInt32(task + fieldOf(taskStruct, 'pid').offset, 9, true);
      loaded.mem.view.setUint32(task + fieldOf(taskStruct, 'scx.weight').offset, 100, true);
      expect(ops.call('select_cpu', task, 1, 0)).toBe(210);
      expect(ops.lastInsnCount('select_cpu')).toBeGreaterThan(50);
      ops.call('enqueue', task, 1);
      expect(trace).toEqual(['enqueue pid=9 weight=100']);
      expect(() => ops.call('dispatch', 0, 0)).toThrow("callback 'dispatch' is not implemented");
    }
  });
});
