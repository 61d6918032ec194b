import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/bpf/asm.ts';
import { helperTable } from '../../src/bpf/helpers.ts';
import { Interpreter } from '../../src/bpf/interp.ts';
import { JitProgram } from '../../src/bpf/jit/runtime.ts';
import { allocKernelWords, kernelHelpers, type HelperEnv, type TimerState } from '../../src/bpf/kernel-helpers.ts';
import { createMap } from '../../src/bpf/maps/index.ts';
import { MapType, type BpfMap } from '../../src/bpf/maps/map.ts';
import { RingBufMap } from '../../src/bpf/maps/ringbuf.ts';
import { AddressSpace, slotOfCodeAddress } from '../../src/bpf/memory.ts';

/** An environment with named maps whose `struct bpf_map` stand-ins are tiny regions. */
function setup() {
  const mem = new AddressSpace();
  const words = allocKernelWords(mem);
  const maps = new Map<number, BpfMap>();
  const addrOf = new Map<string, number>();
  const addMap = (name: string, map: BpfMap) => {
    const at = mem.alloc(`map ${name}`, 8, { writable: false }).start;
    maps.set(at, map);
    addrOf.set(name, at);
    return at;
  };
  const armed: { timer: TimerState; at: number; cpu: number | null }[] = [];
  const trace: string[] = [];
  const env: HelperEnv = {
    mem,
    words,
    mapAt: (a) => maps.get(a),
    random: () => 0xdeadbeef,
    trace: (l) => trace.push(l),
    timers: {
      arm: (timer, at, cpu) => armed.push({ timer, at, cpu }),
      disarm: (timer) => {
        const i = armed.findIndex((a) => a.timer === timer);
        if (i >= 0) armed.splice(i, 1);
      },
      running: () => undefined,
    },
    timerStates: new Map(),
    isTask: (a) => a === 0x20000,
    ringbufOfSample: (a) => [...maps.values()].find((m) => m instanceof RingBufMap && m.contains(a)),
  };
  const mapEnv = { mem, nrCpus: 2, currentCpu: () => mem.view.getUint32(words.cpuAddr, true) };
  const helpers = helperTable(kernelHelpers(env, 'test'));
  return { mem, words, env, mapEnv, addMap, addrOf, armed, trace, helpers };
}

describe('kernel helpers', () => {
  it('read the clock, CPU and task words, inline on the JIT and by call on the interpreter', () => {
    const s = setup();
    s.mem.view.setBigUint64(s.words.clockAddr, 123_000n, true);
    s.mem.view.setUint32(s.words.cpuAddr, 3, true);
    s.mem.view.setBigUint64(s.words.pidTgidAddr, (77n << 32n) | 78n, true);
    const src = 'call 5\nmov %r6, %r0\ncall 8\nadd %r6, %r0\ncall 14\nrsh %r0, 32\nadd %r0, %r6\ncall 7\nexit\n';
    const jit = new JitProgram(assemble(src), s.mem, { helpers: s.helpers });
    // Only bpf_get_prandom_u32 crosses into JS; the word helpers are inlined.
    expect(jit.compiled.helperImports.map((h) => h.id)).toEqual([7]);
    expect(jit.run().r0).toBe(0xdeadbeefn);
    const sum = assemble('call 5\nmov %r6, %r0\ncall 8\nadd %r6, %r0\ncall 14\nrsh %r0, 32\nadd %r0, %r6\nexit\n');
    expect(new Interpreter(sum, s.mem, { helpers: s.helpers }).run().r0).toBe(123_000n + 3n + 77n);
    expect(new JitProgram(sum, s.mem, { helpers: s.helpers }).run().r0).toBe(123_000n + 3n + 77n);
  });

  it('reserve, fill and submit ring buffer records that the consumer then reads', () => {
    const s = setup();
    const rb = createMap({ name: 'events', type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, flags: 0 }, s.mapEnv);
    const at = s.addMap('events', rb);
    const src = `
      lddw %r1, ${at}
      mov %r2, 8
      mov %r3, 0
      call 131
      jeq %r0, 0, out
      stdw [%r0], 0x1234
      mov %r1, %r0
      mov %r2, 0
      call 132
      mov %r0, 1
    out:
      exit`;
    expect(new JitProgram(assemble(src), s.mem, { helpers: s.helpers }).run().r0).toBe(1n);
    const records = (rb as RingBufMap).drain();
    expect(records.map((r) => [...r])).toEqual([[0x34, 0x12, 0, 0, 0, 0, 0, 0]]);
  });

  it('create task storage on demand and refuse owners that are not tasks', () => {
    const s = setup();
    const ts = createMap({ name: 'tctx', type: MapType.TASK_STORAGE, keySize: 4, valueSize: 8, maxEntries: 0, flags: 1 }, s.mapEnv);
    const at = s.addMap('tctx', ts);
    const get = (owner: number, flags: number) =>
      new Interpreter(assemble(`lddw %r1, ${at}\nlddw %r2, ${owner}\nmov %r3, 0\nmov %r4, ${flags}\ncall 156\nexit\n`), s.mem, { helpers: s.helpers }).run().r0;
    expect(get(0x20000, 0)).toBe(0n); // not created yet
    const v = get(0x20000, 1);
    expect(v).toBeGreaterThan(0n);
    expect(get(0x20000, 0)).toBe(v);
    expect(get(0x30000, 1)).toBe(0n); // not a task
    expect(get(0x20000, 3)).toBe(0n); // unknown flag bit
  });

  it('arm timers through the simulator and run their callbacks as functions of the program', () => {
    const s = setup();
    const arr = createMap({ name: 'timers', type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 1, flags: 0, fields: [{ kind: 'timer', offset: 0, size: 16 }] }, s.mapEnv);
    const at = s.addMap('timers', arr);
    s.mem.view.setBigUint64(s.words.clockAddr, 1000n, true);
    const src = `
      stw [%r10-4], 0
      lddw %r1, ${at}
      mov %r2, %r10
      add %r2, -4
      call 1
      mov %r6, %r0
      mov %r1, %r6
      lddw %r2, ${at}
      mov %r3, 1
      call 169
      mov %r1, %r6
      lddw %r2, func cb
      call 170
      mov %r1, %r6
      mov %r2, 500
      mov %r3, 2
      call 171
      exit
    cb:
      mov %r0, 42
      exit`;
    const prog = new JitProgram(assemble(src), s.mem, { helpers: s.helpers });
    expect(prog.run().r0).toBe(0n);
    expect(s.armed).toHaveLength(1);
    const { timer, at: when, cpu } = s.armed[0];
    // Relative 500 ns from the clock word, pinned to the current CPU (BPF_F_TIMER_CPU_PIN).
    expect([when, cpu, timer.clock]).toEqual([1500, 0, 1]);
    expect(prog.runFunction(timer.callback, [BigInt(at), 0n, BigInt(timer.timerAddr)]).r0).toBe(42n);
    // Initialising the same timer again is -EBUSY.
    const again = `stw [%r10-4], 0\nlddw %r1, ${at}\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r1, %r0\nlddw %r2, ${at}\nmov %r3, 1\ncall 169\nexit\n`;
    expect(new Interpreter(assemble(again), s.mem, { helpers: s.helpers }).run().r0).toBe(BigInt.asUintN(64, -16n));
    expect(slotOfCodeAddress(0n)).toBe(-1);
  });
});

describe('bpf_map_lookup_elem inlined by the JIT for array maps', () => {
  it('matches the interpreter for arrays, per-CPU arrays (by the CPU word) and other maps', () => {
    const s = setup();
    const arr = createMap({ name: 'arr', type: MapType.ARRAY, keySize: 4, valueSize: 12, maxEntries: 3, flags: 0 }, s.mapEnv);
    const pcpu = createMap({ name: 'pcpu', type: MapType.PERCPU_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 }, s.mapEnv);
    const hash = createMap({ name: 'h', type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0 }, s.mapEnv);
    const maps = [arr, pcpu, hash].map((m) => [m, s.addMap(m.name, m)] as const);
    hash.updateUser(Uint8Array.of(1, 0, 0, 0), new Uint8Array(8));
    const inline = {
      kind: 'arrayLookup' as const,
      cpuAddr: s.words.cpuAddr,
      maps: maps.filter(([m]) => m.type !== MapType.HASH).map(([m, addr]) => ({ addr, ...(m as unknown as { layout: { base: number; stride: number; cpuStride: number; maxEntries: number } }).layout })),
    };
    const defs = kernelHelpers(s.env, 'test').map((d) => (d.id === 1 ? { ...d, inline } : d));
    const helpers = helperTable(defs);
    const lookup = (mapAddr: number, key: number) => `stw [%r10-4], ${key}\nlddw %r1, ${mapAddr}\nmov %r2, %r10\nadd %r2, -4\ncall 1\nexit\n`;
    for (const [, addr] of maps) {
      for (const cpu of [0, 1]) {
        s.mem.view.setUint32(s.words.cpuAddr, cpu, true);
        for (const key of [0, 1, 2, 3, -1]) {
          const insns = assemble(lookup(addr, key));
          const a = new Interpreter(insns, s.mem, { helpers }).run().r0;
          const b = new JitProgram(insns, s.mem, { helpers }).run().r0;
          expect(b, `map at ${addr}, cpu ${cpu}, key ${key}`).toBe(a);
        }
      }
    }
    // Spot checks by hand: arr element 2 is 2 * 16 bytes in; pcpu key 1 on CPU 1 is 1 * 16 + 8.
    const arrLayout = (arr as unknown as { layout: { base: number } }).layout;
    expect(new JitProgram(assemble(lookup(maps[0][1], 2)), s.mem, { helpers }).run().r0).toBe(BigInt(arrLayout.base + 32));
    const pLayout = (pcpu as unknown as { layout: { base: number } }).layout;
    expect(new JitProgram(assemble(lookup(maps[1][1], 1)), s.mem, { helpers }).run().r0).toBe(BigInt(pLayout.base + 16 + 8));
    expect(new JitProgram(assemble(lookup(maps[0][1], 3)), s.mem, { helpers }).run().r0).toBe(0n);
  });
});
