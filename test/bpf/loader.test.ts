import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fieldOf } from '../../src/bpf/ctypes.ts';
import { idleMachine, LoadError, load, loadObject, openObject, type Machine } from '../../src/bpf/loader.ts';
import type { ArrayMap } from '../../src/bpf/maps/array.ts';
import { SimKernel } from '../../src/sched/kernel.ts';
import { taskStruct } from '../../src/sched/kernel-types.ts';

const FIXTURE = resolve(__dirname, '../fixtures/loader/basic.bpf.o');
const bytes = () => new Uint8Array(readFileSync(FIXTURE));

const machine = (trace: string[] = []): Machine => ({ ...idleMachine(4), trace: (line) => trace.push(line), isTask: () => true });

describe('loading a clang-built object', () => {
  it('finds programs, globals, maps and the struct_ops variable', () => {
    const obj = openObject(bytes(), 'basic.bpf.o');
    expect(obj.programs.map((p) => [p.name, p.section, p.kind?.type])).toEqual([
      ['test_select', 'struct_ops/test_select', 'struct_ops'],
      ['test_enqueue', 'struct_ops/test_enqueue', 'struct_ops'],
    ]);
    expect(obj.globals.map((g) => [g.name, g.section, g.size])).toEqual([
      ['slice_ns', '.rodata', 8],
      ['calls', '.data', 4],
      ['total', '.bss', 8],
    ]);
    expect(obj.mapVars.map((m) => m.name)).toEqual(['counts']);
    expect(obj.license).toBe('GPL');
    const ops = obj.structOps[0];
    expect(ops.name).toBe('test_ops');
    expect(ops.typeName).toBe('sched_ext_ops');
    expect([...ops.callbacks]).toEqual([
      ['select_cpu', 'test_select'],
      ['enqueue', 'test_enqueue'],
    ]);
    const timeout = ops.fields.get('timeout_ms')!;
    expect(new DataView(ops.data.buffer, ops.data.byteOffset).getUint32(timeout.offset, true)).toBe(5000);
  });

  it('runs a callback with CO-RE fields at the kernel layout, maps, globals, kfuncs and a bpf_loop callback', () => {
    for (const engine of ['jit', 'interp'] as const) {
      const obj = openObject(bytes(), 'basic.bpf.o');
      obj.setGlobal('slice_ns', 7_000_000n);
      const loaded = load(obj, new SimKernel(), machine(), { engine });
      const mem = loaded.mem;
      const task = mem.alloc('task', taskStruct.size).start;
      mem.view.setInt32(task + fieldOf(taskStruct, 'pid').offset, 42, true);
      const ctx = mem.alloc('ctx', 24).start;
      mem.view.setBigUint64(ctx, BigInt(task), true);
      const r = loaded.programs.get('test_select')!.exe.run([BigInt(ctx)]);
      // bpf_loop summed 0..4 = 10; the cpumask had CPUs 2 and 3; the weak kfunc is absent.
      expect(r.r0, engine).toBe(210n);
      expect(mem.view.getBigUint64(task + fieldOf(taskStruct, 'scx.slice').offset, true)).toBe(7_000_000n);
      const counts = loaded.maps.get('counts')!;
      expect(counts.lookupUser(Uint8Array.of(1, 0, 0, 0))).toEqual(Uint8Array.of(10, 0, 0, 0, 0, 0, 0, 0));
      const bss = loaded.dataMap('.bss') as ArrayMap;
      expect(mem.view.getBigUint64(bss.valueAddr(0), true)).toBe(42n);
      const data = loaded.dataMap('.data') as ArrayMap;
      expect(mem.view.getUint32(data.valueAddr(0), true)).toBe(8);
      expect(loaded.coreRecords.map((c) => [c.spec, c.local, c.value]).sort()).toEqual([
        ['struct task_struct.scx.slice', 16n, BigInt(fieldOf(taskStruct, 'scx.slice').offset)],
        ['struct task_struct.pid', 0n, BigInt(fieldOf(taskStruct, 'pid').offset)],
        ['struct task_struct.pid', 0n, BigInt(fieldOf(taskStruct, 'pid').offset)],
        ['struct task_struct.scx.weight', 24n, BigInt(fieldOf(taskStruct, 'scx.weight').offset)],
      ].sort());
    }
  });

  it('keeps .rodata read-only for programs and records bpf_printk output', () => {
    const trace: string[] = [];
    const loaded = loadObject(bytes(), 'basic.bpf.o', new SimKernel(), machine(trace));
    const mem = loaded.mem;
    const task = mem.alloc('task', taskStruct.size).start;
    mem.view.setInt32(task + fieldOf(taskStruct, 'pid').offset, 7, true);
    mem.view.setUint32(task + fieldOf(taskStruct, 'scx.weight').offset, 100, true);
    const ctx = mem.alloc('ctx', 16).start;
    mem.view.setBigUint64(ctx, BigInt(task), true);
    loaded.programs.get('test_enqueue')!.exe.run([BigInt(ctx)]);
    expect(trace).toEqual(['enqueue pid=7 weight=100']);
    const rodata = loaded.dataMap('.rodata') as ArrayMap;
    expect(mem.checkAccess(BigInt(rodata.valueAddr(0)), 8, true)).toContain('read-only');
  });

  it('names the kfunc a kernel lacks, and the global a user mistypes', () => {
    const kernel = new SimKernel();
    const lacking = { ...kernel, kfuncId: (n: string) => (n === 'bpf_cpumask_weight' ? undefined : kernel.kfuncId(n)), btf: kernel.btf, kfuncs: kernel.kfuncs.bind(kernel), kconfig: kernel.kconfig.bind(kernel) };
    expect(() => loadObject(bytes(), 'basic.bpf.o', lacking, machine())).toThrow(
      "basic.bpf.o: section 'struct_ops/test_select' (index 3) at offset 0x190: kfunc 'bpf_cpumask_weight' is not provided by the simulated kernel",
    );
    expect(() => openObject(bytes(), 'basic.bpf.o').setGlobal('slice', 1)).toThrow(LoadError);
  });

  it('names the program and C source line of a fault at run time', () => {
    const loaded = loadObject(bytes(), 'basic.bpf.o', new SimKernel(), machine());
    // ctx[0] = 0: the task pointer is NULL, so the first use of p faults.
    const ctx = loaded.mem.alloc('ctx', 24).start;
    expect(() => loaded.programs.get('test_select')!.exe.run([BigInt(ctx)])).toThrow(
      /^program 'test_select', instruction 25 \(stxdw \[%r6\+168\], %r1\): write of 8 bytes at 0xa8: NULL pointer dereference at \.\/basic\.bpf\.c:75: p->scx\.slice = slice_ns;$/,
    );
  });

  it('names an unknown helper and an unsupported map type', () => {
    // Turn `call 1` (bpf_map_lookup_elem, instruction 16 of test_select) into helper 9999.
    const b = bytes();
    expect([b[240], b[244]]).toEqual([0x85, 1]);
    new DataView(b.buffer).setInt32(244, 9999, true);
    expect(() => loadObject(b, 'basic.bpf.o', new SimKernel(), machine())).toThrow(
      "basic.bpf.o: program 'test_select', instruction 16: unknown helper id 9999 (the simulated kernel has no such helper)",
    );
    const badMap = new Uint8Array(readFileSync(resolve(__dirname, '../fixtures/loader/bad-map.bpf.o')));
    expect(() => loadObject(badMap, 'bad-map.bpf.o', new SimKernel(), machine())).toThrow(
      "bad-map.bpf.o: map 'routes' (lpm_trie): map type 11 is not implemented by scx-sim",
    );
  });
});
