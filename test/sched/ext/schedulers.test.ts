import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fieldOf } from '../../../src/bpf/ctypes.ts';
import type { HelperFn } from '../../../src/bpf/helpers.ts';
import { idleMachine, load, openObject, type Machine } from '../../../src/bpf/loader.ts';
import { schedExtOpsOf } from '../../../src/sched/ext/bpf-ops.ts';
import { scxKfuncs } from '../../../src/sched/ext/kfunc-protos.ts';
import { SimKernel } from '../../../src/sched/kernel.ts';
import { taskStruct } from '../../../src/sched/kernel-types.ts';

const ROOT = resolve(__dirname, '../../..');
const SCHEDULERS = readdirSync(join(ROOT, 'schedulers')).filter((f) => f.endsWith('.bpf.o')).sort();
const machine: Machine = { ...idleMachine(4), isTask: () => true };
const SCX_DSQ_LOCAL = 0x8000000000000002n;
const SLICE_DFL = 20_000_000n;

/** sched_ext kfuncs that record their calls (the real ones belong to the simulator's core). */
function recordingKernel(calls: string[]) {
  const fake: Record<string, HelperFn> = {
    scx_bpf_create_dsq: (c) => (calls.push(`create_dsq(${c.u64(1)}, ${c.i32(2)})`), 0),
    scx_bpf_select_cpu_dfl: (c) => {
      calls.push(`select_cpu_dfl(prev=${c.i32(2)})`);
      c.mem.view.setUint8(c.ptr(4), 1);
      return 3;
    },
    scx_bpf_dsq_insert: (c) => (calls.push(`insert(dsq=0x${c.u64(2).toString(16)}, slice=${c.u64(3)}, flags=${c.u64(4)})`), 0),
    scx_bpf_dsq_insert_vtime: (c) => (calls.push(`insert_vtime(dsq=${c.u64(2)}, slice=${c.u64(3)}, vtime=${c.u64(4)})`), 0),
    scx_bpf_dsq_move_to_local: (c) => (calls.push(`move_to_local(${c.u64(1)})`), 1),
  };
  return new SimKernel({ scx: () => scxKfuncs(fake) });
}

describe('the committed schedulers', () => {
  it('includes at least FIFO and weighted vtime', () => {
    expect(SCHEDULERS).toEqual(expect.arrayContaining(['fifo.bpf.o', 'vtime.bpf.o']));
  });

  for (const file of SCHEDULERS) {
    it(`${file} loads with every callback wired as its C source declares`, () => {
      const loaded = load(openObject(new Uint8Array(readFileSync(join(ROOT, 'schedulers', file))), file), new SimKernel(), machine);
      const ops = schedExtOpsOf(loaded);
      // A C source, or an assembler one (schedulers/NAME.s, assembled by `scx-sim asm`).
      const asm = existsSync(join(ROOT, 'schedulers', file.replace(/\.bpf\.o$/, '.s')));
      const src = readFileSync(join(ROOT, 'schedulers', asm ? file.replace(/\.bpf\.o$/, '.s') : file.replace(/\.o$/, '.c')), 'utf8');
      // Every `.callback = (void *)program` in SCX_OPS_DEFINE (`callback=program` on `.ops`) is wired to that program.
      const wiring = asm
        ? [...src.matchAll(/^\.ops \w+ (.*)$/gm)].flatMap((m) => [...m[1].matchAll(/(\w+)=(\w+)/g)].map((x) => [x[1], x[2]]))
        : [...src.matchAll(/\.(\w+) = \(void \*\)(\w+)/g)].map((m) => [m[1], m[2]]);
      expect([...loaded.object.structOps[0].callbacks]).toEqual(wiring);
      expect(ops.name).toBe((asm ? /name="([^"]+)"/ : /\.name = "([^"]+)"/).exec(src)![1]);
      const programs = asm
        ? [...src.matchAll(/^\.program (\w+)/gm)].map((m) => m[1])
        : [...src.matchAll(/BPF_STRUCT_OPS(?:_SLEEPABLE)?\((\w+)/g)].map((m) => m[1]);
      expect([...loaded.programs.keys()].sort()).toEqual(programs.sort());
    });
  }
});

describe('vtime through the JIT, built against two different vmlinux.h headers', () => {
  function scenario(path: string): string[] {
    const calls: string[] = [];
    const loaded = load(openObject(new Uint8Array(readFileSync(path)), path), recordingKernel(calls), machine, { engine: 'jit' });
    const ops = schedExtOpsOf(loaded);
    const mem = loaded.mem;
    const task = (weight: number) => {
      const at = mem.alloc('task', taskStruct.size).start;
      mem.view.setUint32(at + fieldOf(taskStruct, 'scx.weight').offset, weight, true);
      return at;
    };
    const vtime = (p: number) => mem.view.getBigUint64(p + fieldOf(taskStruct, 'scx.dsq_vtime').offset, true);
    const setSlice = (p: number, ns: bigint) => mem.view.setBigUint64(p + fieldOf(taskStruct, 'scx.slice').offset, ns, true);

    expect(ops.call('init')).toBe(0);
    const a = task(100);
    const b = task(200);
    ops.call('enable', a);
    ops.call('enable', b);
    ops.call('running', a);
    setSlice(a, 5_000_000n); // a used 15 ms at weight 100: vtime += 15 ms
    ops.call('stopping', a, 1);
    ops.call('running', b);
    setSlice(b, 10_000_000n); // b used 10 ms at weight 200: vtime += 5 ms
    ops.call('stopping', b, 1);
    calls.push(`vtimes ${vtime(a)} ${vtime(b)}`);
    ops.call('enqueue', a, 0);
    ops.call('enqueue', b, 0);
    expect(ops.call('select_cpu', a, 1, 0)).toBe(3);
    ops.call('dispatch', 0, 0);
    return calls;
  }

  it('charges time by weight and inserts by vtime, identically for both builds', () => {
    const own = scenario(join(ROOT, 'schedulers/vtime.bpf.o'));
    expect(own).toEqual([
      'create_dsq(0, -1)',
      'vtimes 15000000 5000000',
      `insert_vtime(dsq=0, slice=${SLICE_DFL}, vtime=15000000)`,
      `insert_vtime(dsq=0, slice=${SLICE_DFL}, vtime=5000000)`,
      'select_cpu_dfl(prev=1)',
      `insert(dsq=0x${SCX_DSQ_LOCAL.toString(16)}, slice=${SLICE_DFL}, flags=0)`,
      'move_to_local(0)',
    ]);
    expect(scenario(join(ROOT, 'test/fixtures/alt-vmlinux/vtime-alt.bpf.o'))).toEqual(own);
  });
});
