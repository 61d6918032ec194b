import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assemble, disassemble } from '../../../src/bpf/asm.ts';
import { HelperCall, constHelper, helperTable, wordHelper } from '../../../src/bpf/helpers.ts';
import { Interpreter } from '../../../src/bpf/interp.ts';
import { JitProgram } from '../../../src/bpf/jit/runtime.ts';
import { AddressSpace, CALL_AREA_SIZE, PAGE_SIZE } from '../../../src/bpf/memory.ts';
import { checkStructure } from '../../../src/bpf/verifier/structure.ts';
import { BUFFER_SIZE, HELPER_CONST, HELPER_MIX, HELPER_SUM, HELPER_WORD, programArb, toAsm, type GenProgram } from './program-gen.ts';

/** Helpers that log every call, so the two engines' call sequences can be compared. */
function loggingHelpers(log: string[], mem: AddressSpace, buffer: number) {
  const args = (c: HelperCall) => [1, 2, 3, 4, 5].map((i) => c.u64(i));
  return helperTable([
    wordHelper(HELPER_WORD, 'buffer_word', mem, buffer + 8, 8),
    constHelper(HELPER_CONST, 'constant', -5n),
    {
      id: HELPER_MIX,
      name: 'mix',
      fn: (c) => {
        const [a, b, d, e, f] = args(c);
        log.push(`mix(${[a, b, d, e, f].join(',')})`);
        return BigInt.asUintN(64, a * 0x9e3779b97f4a7c15n + b) ^ (d << 7n) ^ e ^ (f >> 3n);
      },
    },
    {
      id: HELPER_SUM,
      name: 'sum',
      fn: (c) => {
        log.push(`sum(${args(c).join(',')})`);
        // A JS number result, negative at times: checks the number -> two's complement path.
        return c.i32(1) - c.lo(2) + c.lo(3);
      },
    },
  ]);
}

function bufferBytes(p: GenProgram): Uint8Array {
  const bytes = new Uint8Array(BUFFER_SIZE);
  let x = BigInt.asUintN(64, p.seeds[0] ^ 0x243f6a8885a308d3n);
  for (let i = 0; i < bytes.length; i++) {
    x = BigInt.asUintN(64, x * 6364136223846793005n + 1442695040888963407n);
    bytes[i] = Number(x >> 56n);
  }
  return bytes;
}

/** The memory a program can see: everything but the call area, which is each engine's scratch. */
function observable(mem: AddressSpace): Uint8Array {
  const end = mem.regions[mem.regions.length - 1].end;
  const bytes = mem.bytes.slice(0, end);
  bytes.fill(0, mem.callArea, mem.callArea + CALL_AREA_SIZE);
  return bytes;
}

interface Outcome {
  r0?: bigint;
  insns?: number;
  error?: string;
  log: string[];
  memory: Uint8Array;
}

function execute(engine: 'interp' | 'jit', p: GenProgram, text: string): Outcome {
  const insns = assemble(text);
  const log: string[] = [];
  const mem = new AddressSpace(2 * PAGE_SIZE);
  const buffer = mem.place('buffer', bufferBytes(p));
  const helpers = loggingHelpers(log, mem, buffer.start);
  checkStructure(insns, { mode: 'permissive', helpers });
  const exe = engine === 'interp' ? new Interpreter(insns, mem, { helpers }) : new JitProgram(insns, mem, { helpers });
  try {
    const { r0, insns: count } = exe.run([BigInt(buffer.start)]);
    return { r0, insns: count, log, memory: observable(mem) };
  } catch (e) {
    return { error: (e as Error).message, log, memory: observable(mem) };
  }
}

describe('JIT against the interpreter', () => {
  it('agrees on r0, instruction count, memory and helper calls for 10,000 random programs', () => {
    let compared = 0;
    fc.assert(
      fc.property(programArb, (p) => {
        const text = toAsm(p);
        const a = execute('interp', p, text);
        const b = execute('jit', p, text);
        const listing = () => `\n${disassemble(assemble(text), { labels: true })}`;
        if (a.error !== b.error || a.r0 !== b.r0 || a.insns !== b.insns) {
          throw new Error(`interp ${a.error ?? `r0=0x${a.r0!.toString(16)} insns=${a.insns}`} vs jit ${b.error ?? `r0=0x${b.r0!.toString(16)} insns=${b.insns}`}${listing()}`);
        }
        if (a.log.join('\n') !== b.log.join('\n')) throw new Error(`helper calls differ:\n${a.log.join('\n')}\nvs\n${b.log.join('\n')}${listing()}`);
        if (Buffer.compare(a.memory, b.memory) !== 0) {
          const at = a.memory.findIndex((v, i) => v !== b.memory[i]);
          throw new Error(`memory differs at 0x${at.toString(16)}${listing()}`);
        }
        compared++;
      }),
      { numRuns: 10_000, seed: 20261124 },
    );
    expect(compared).toBe(10_000);
  });

  it('generates programs that exercise loops, irreducible flow, calls and helpers', () => {
    // Guards the generator: a differential test over trivial programs would prove little.
    const texts = fc.sample(programArb, { numRuns: 300, seed: 7 }).map(toAsm);
    const has = (re: RegExp) => texts.filter((t) => re.test(t)).length;
    expect(has(/call local/)).toBeGreaterThan(20);
    expect(has(/call [12]\n/)).toBeGreaterThan(20);
    expect(has(/call [34]\n/)).toBeGreaterThan(20);
    expect(has(/may_goto/)).toBeGreaterThan(10);
    expect(has(/lock /)).toBeGreaterThan(20);
    expect(has(/sdiv|smod/)).toBeGreaterThan(20);
    const irreducible = fc.sample(programArb, { numRuns: 300, seed: 7 }).filter((p) => JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes('irreducible')).length;
    expect(irreducible).toBeGreaterThan(10);
  });
});
