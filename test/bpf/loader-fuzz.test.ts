import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { idleMachine, load, openObject } from '../../src/bpf/loader.ts';
import { SimKernel } from '../../src/sched/kernel.ts';
import { ScxError } from '../../src/util/errors.ts';

const ORIGINAL = new Uint8Array(readFileSync(resolve(__dirname, '../fixtures/loader/basic.bpf.o')));
const kernel = new SimKernel();
const machine = idleMachine(2);

/** Load a (possibly corrupt) object: it loads, or fails with a one-line user error. */
function tryLoad(bytes: Uint8Array): 'ok' | string {
  try {
    load(openObject(bytes, 'fuzz.bpf.o'), kernel, machine, { engine: 'interp' });
    return 'ok';
  } catch (e) {
    if (e instanceof ScxError) {
      expect(e.message).toMatch(/^fuzz\.bpf\.o/);
      expect(e.message).not.toContain('\n');
      return e.message;
    }
    throw new Error(`not a clean error: ${(e as Error).stack}`);
  }
}

describe('corrupt objects fail cleanly', () => {
  it('survives thousands of byte mutations and truncations', () => {
    const mutation = fc.record({
      edits: fc.array(fc.tuple(fc.nat(ORIGINAL.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      cut: fc.option(fc.nat(ORIGINAL.length), { nil: undefined }),
    });
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(mutation, ({ edits, cut }) => {
        const bytes = ORIGINAL.slice(0, cut ?? ORIGINAL.length);
        for (const [at, v] of edits) if (at < bytes.length) bytes[at] = v;
        const r = tryLoad(bytes);
        const key = r === 'ok' ? 'ok' : r.replace(/\d+|0x[0-9a-f]+/g, 'N').slice(0, 60);
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }),
      { numRuns: 3000, seed: 4 },
    );
    // The mutations reach past the headers: many different failures, and some loads still succeed.
    expect(outcomes.size).toBeGreaterThan(10);
  });

  it('names what is wrong for the classic corruptions', () => {
    expect(tryLoad(ORIGINAL.slice(0, 40))).toBe('fuzz.bpf.o: truncated: the file is 40 bytes, the ELF header needs 64');
    const machine62 = ORIGINAL.slice();
    machine62[18] = 62;
    expect(tryLoad(machine62)).toBe('fuzz.bpf.o: not a BPF object: e_machine is 62 (x86-64), expected 247 (BPF)');
    const shstr = ORIGINAL.slice();
    new DataView(shstr.buffer).setUint16(62, 999, true);
    expect(tryLoad(shstr)).toMatch(/^fuzz\.bpf\.o: e_shstrndx is 999, but there are \d+ sections$/);
  });
});
