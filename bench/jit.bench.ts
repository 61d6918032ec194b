/**
 * BPF execution speed, interpreter against JIT, measured side by side in one run:
 *   (a) a loop summing 1..10,000,000
 *   (b) a primality test of a 64-bit prime by trial division
 *   (c) a memory-heavy loop over the stack
 *   (d) a loop of 1,000,000 helper calls
 * plus the cost of one JS -> program invocation with a 5-argument ctx, and compile time per
 * 1,000 instructions. Writes results/bench/jit.json and prints a table with the JIT/interpreter
 * ratio. Run with `npm run bench:jit`.
 */
import { Bench } from 'tinybench';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../src/bpf/asm.ts';
import { helperTable, wordHelper, type HelperDef } from '../src/bpf/helpers.ts';
import { createMap } from '../src/bpf/maps/index.ts';
import { MapType } from '../src/bpf/maps/map.ts';
import type { ArrayMap } from '../src/bpf/maps/array.ts';
import type { Insn } from '../src/bpf/isa.ts';
import { Interpreter } from '../src/bpf/interp.ts';
import { JitProgram, type JitOptions } from '../src/bpf/jit/runtime.ts';
import { AddressSpace } from '../src/bpf/memory.ts';
import { writeFileAtomic } from '../src/util/fs.ts';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '../results/bench/jit.json');

/** Replaced by the address of the lookup benchmark's map, which differs per address space. */
const MAP_ADDR_PLACEHOLDER = '@MAP@';

const PROGRAMS: { name: string; source: string; expect: bigint; inlineClock?: boolean; arrayMap?: boolean }[] = [
  {
    name: 'sum-loop',
    source: `
      mov %r0, 0
      mov %r1, 1
    loop:
      add %r0, %r1
      add %r1, 1
      jle %r1, 10000000, loop
      exit`,
    expect: 50000005000000n,
  },
  {
    // 4294967311 is the first prime above 2^32: ~65,536 trial divisions by 64-bit mod.
    name: 'prime-division',
    source: `
      lddw %r1, 4294967311
      mov %r0, 1
      mov %r2, 2
    loop:
      mov %r3, %r2
      mul %r3, %r2
      jgt %r3, %r1, done
      mov %r4, %r1
      mod %r4, %r2
      jeq %r4, 0, composite
      add %r2, 1
      ja loop
    composite:
      mov %r0, 0
    done:
      exit`,
    expect: 1n,
  },
  {
    // 2,000 passes that write 64 stack words and read them back.
    name: 'stack-memory',
    source: `
      mov %r0, 0
      mov %r6, 2000
    pass:
      mov %r1, %r10
      sub %r1, 512
      mov %r2, 0
    fill:
      stxdw [%r1], %r2
      add %r1, 8
      add %r2, 1
      jlt %r2, 64, fill
      mov %r1, %r10
      sub %r1, 512
    sum:
      ldxdw %r3, [%r1]
      add %r0, %r3
      add %r1, 8
      jne %r1, %r10, sum
      sub %r6, 1
      jne %r6, 0, pass
      exit`,
    expect: 2000n * 2016n,
  },
  {
    name: 'helper-calls',
    source: `
      mov %r6, 1000000
      mov %r7, 0
    loop:
      mov %r1, %r6
      call 5
      add %r7, %r0
      sub %r6, 1
      jne %r6, 0, loop
      mov %r0, %r7
      exit`,
    expect: 1000000n * 7n,
  },
];
// The helper loop again with the clock helper inlined by the JIT.
PROGRAMS.push({ ...PROGRAMS[PROGRAMS.length - 1], name: 'helper-inlined', inlineClock: true });
// 1,000,000 bpf_map_lookup_elem calls on a 4-entry array map (values 1..4), summed.
PROGRAMS.push({
  name: 'array-lookup',
  arrayMap: true,
  source: `
      mov %r6, 1000000
      mov %r7, 0
    loop:
      mov %r1, %r6
      and %r1, 3
      stxw [%r10-4], %r1
      lddw %r1, ${MAP_ADDR_PLACEHOLDER}
      mov %r2, %r10
      add %r2, -4
      call 1
      jeq %r0, 0, skip
      ldxdw %r1, [%r0]
      add %r7, %r1
    skip:
      sub %r6, 1
      jne %r6, 0, loop
      mov %r0, %r7
      exit`,
  expect: 250000n * (1n + 2n + 3n + 4n),
});


function withArrayMap(mem: AddressSpace, jit: boolean) {
  const map = createMap({ name: 'arr', type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0 }, { mem, nrCpus: 1, currentCpu: () => 0 }) as ArrayMap;
  for (let i = 0; i < 4; i++) map.updateUser(Uint8Array.of(i, 0, 0, 0), Uint8Array.of(i + 1, 0, 0, 0, 0, 0, 0, 0));
  const addr = mem.alloc('map arr', 8, { writable: false }).start;
  const cpu = mem.reserve(8);
  const def: HelperDef = { id: 1, name: 'map_lookup_elem', fn: (c) => map.lookup(c.ptr(2)) };
  const inline = { kind: 'arrayLookup' as const, cpuAddr: cpu, maps: [{ addr, ...map.layout }] };
  return { addr, helpers: helperTable([jit ? { ...def, inline } : def]) };
}

/** Stands in for bpf_ktime_get_ns: a constant clock keeps the result checkable. */
const HELPERS = helperTable([{ id: 5, name: 'ktime_get_ns', fn: () => 7 }]);

/** The same clock as a word in the address space, which the JIT reads inline. */
function inlineClock(mem: AddressSpace) {
  const clock = mem.alloc('clock', 8);
  mem.view.setBigUint64(clock.start, 7n, true);
  return helperTable([wordHelper(5, 'ktime_get_ns', mem, clock.start, 8)]);
}

interface Row {
  program: string;
  engine: 'jit' | 'interp';
  /** JIT configuration: checked (bounds checks, as for unverified programs) or unchecked. */
  variant?: string;
  insnPerSec?: number;
  nsPerCall?: number;
  msPerKiloInsn?: number;
}

const rows: Row[] = [];

type Runner = { run(args?: readonly bigint[]): { r0: bigint; insns: number } };

function engines(insns: Insn[], inline = false, arrayMap = false): { engine: Row['engine']; variant?: string; make: () => Runner }[] {
  const helpers = (mem: AddressSpace, jit: boolean) => (arrayMap ? withArrayMap(mem, jit).helpers : inline ? inlineClock(mem) : HELPERS);
  const jit = (options: JitOptions) => () => {
    const mem = new AddressSpace();
    return new JitProgram(insns, mem, { helpers: helpers(mem, true), ...options });
  };
  return [
    {
      engine: 'interp',
      make: () => {
        const mem = new AddressSpace();
        return new Interpreter(insns, mem, { helpers: helpers(mem, false) });
      },
    },
    { engine: 'jit', variant: 'checked', make: jit({ checked: true }) },
    { engine: 'jit', variant: 'unchecked', make: jit({ checked: false }) },
  ];
}

async function throughput(): Promise<void> {
  for (const p of PROGRAMS) {
    let source = p.source;
    let refHelpers = HELPERS;
    const refMem = new AddressSpace();
    if (p.arrayMap) {
      const m = withArrayMap(refMem, false);
      source = source.replace(MAP_ADDR_PLACEHOLDER, String(m.addr));
      refHelpers = m.helpers;
    }
    const insns = assemble(source, { file: p.name });
    // The instruction count of one run, from the interpreter (the JIT counts the same).
    const reference = new Interpreter(insns, refMem, { helpers: refHelpers }).run();
    if (reference.r0 !== p.expect) throw new Error(`${p.name}: r0 = ${reference.r0}, expected ${p.expect}`);
    for (const e of engines(insns, p.inlineClock, p.arrayMap)) {
      const exe = e.make();
      const slow = e.engine === 'interp';
      const bench = new Bench({
        time: slow ? 0 : 1500,
        iterations: slow ? 2 : 5,
        warmupTime: slow ? 0 : 300,
        warmupIterations: slow ? 0 : 3,
      });
      bench.add(p.name, () => {
        const r = exe.run();
        if (r.r0 !== p.expect) throw new Error(`${p.name} on ${e.engine}: r0 = ${r.r0}`);
      });
      await bench.run();
      const period = periodMs(bench);
      rows.push({ program: p.name, engine: e.engine, variant: e.variant, insnPerSec: reference.insns / (period / 1e3) });
    }
  }
}

/** Mean milliseconds per task call of the bench's only task. */
function periodMs(bench: Bench): number {
  const result = bench.tasks[0].result;
  if (result.state !== 'completed') throw new Error(`benchmark ${bench.tasks[0].name} did not complete: ${result.state}`);
  return result.period;
}

async function invocation(): Promise<void> {
  // The program reads all five u64 ctx arguments, as a struct_ops callback would.
  const source = `
    ldxdw %r0, [%r1]
    ldxdw %r2, [%r1+8]
    add %r0, %r2
    ldxdw %r2, [%r1+16]
    add %r0, %r2
    ldxdw %r2, [%r1+24]
    add %r0, %r2
    ldxdw %r2, [%r1+32]
    add %r0, %r2
    exit`;
  const insns = assemble(source);
  const BATCH = 10_000;
  for (const e of engines(insns)) {
    const exe = e.make() as Runner & { mem: AddressSpace; runCtx?: (ctx: number) => number };
    const ctx = exe.mem.alloc('ctx', 40);
    for (let i = 0; i < 5; i++) exe.mem.view.setBigUint64(ctx.start + i * 8, BigInt(i + 1), true);
    const bench = new Bench({ time: 1000, warmupTime: 200 });
    const jit = exe instanceof JitProgram ? exe : undefined;
    const args = [BigInt(ctx.start)];
    bench.add('invoke', () => {
      let sum = 0;
      if (jit) for (let i = 0; i < BATCH; i++) sum += jit.runCtx(ctx.start);
      else for (let i = 0; i < BATCH; i++) sum += Number(exe.run(args).r0);
      if (sum !== 15 * BATCH) throw new Error(`invoke: sum ${sum}`);
    });
    await bench.run();
    rows.push({ program: 'invoke-5-arg-ctx', engine: e.engine, variant: e.variant, nsPerCall: (periodMs(bench) * 1e6) / BATCH });
  }
}

async function compileTime(): Promise<void> {
  // A 10,000-instruction program of mixed ALU, memory and branch instructions.
  const lines: string[] = ['mov %r0, 0', 'mov %r1, 1', 'mov %r2, 2', 'mov %r3, 3'];
  for (let i = 0; lines.length < 10_000; i++) {
    lines.push(`add %r${i % 4}, ${i}`, `stxdw [%r10-${8 + (i % 8) * 8}], %r${i % 4}`, `ldxdw %r${(i + 1) % 4}, [%r10-${8 + (i % 8) * 8}]`);
    lines.push(`jgt %r${i % 4}, ${i}, +1`, `xor %r0, %r${(i + 2) % 4}`, `div %r${(i + 3) % 4}, %r1`);
  }
  lines.push('exit');
  const insns = assemble(lines.join('\n'));
  const mem = new AddressSpace();
  const bench = new Bench({ time: 2000, warmupTime: 300 });
  bench.add('compile', () => {
    new JitProgram(insns, mem, {});
  });
  await bench.run();
  rows.push({ program: 'compile', engine: 'jit', variant: 'checked', msPerKiloInsn: periodMs(bench) / (insns.length / 1000) });
}

function fmt(n: number | undefined, digits = 1): string {
  if (n === undefined) return '';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(digits)} M`;
  return n.toFixed(digits);
}

async function main(): Promise<void> {
  await throughput();
  await invocation();
  await compileTime();
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileAtomic(OUT, JSON.stringify(rows, null, 2) + '\n');

  const out: string[] = [];
  out.push(`${'program'.padEnd(18)} ${'engine'.padEnd(16)} ${'insn/s'.padStart(10)} ${'ns/call'.padStart(9)} ${'x interp'.padStart(9)}`);
  for (const r of rows) {
    const base = rows.find((x) => x.program === r.program && x.engine === 'interp');
    let ratio = '';
    if (base && r.engine === 'jit') {
      if (r.insnPerSec && base.insnPerSec) ratio = `${(r.insnPerSec / base.insnPerSec).toFixed(0)}x`;
      if (r.nsPerCall && base.nsPerCall) ratio = `${(base.nsPerCall / r.nsPerCall).toFixed(1)}x`;
    }
    const engine = r.variant ? `${r.engine} (${r.variant})` : r.engine;
    const perCall = r.nsPerCall !== undefined ? r.nsPerCall.toFixed(1) : r.msPerKiloInsn !== undefined ? `${r.msPerKiloInsn.toFixed(3)} ms/1k` : '';
    out.push(`${r.program.padEnd(18)} ${engine.padEnd(16)} ${fmt(r.insnPerSec).padStart(10)} ${perCall.padStart(9)} ${ratio.padStart(9)}`);
  }
  process.stdout.write(out.join('\n') + `\n\nwritten to ${OUT}\n`);
}

await main();
