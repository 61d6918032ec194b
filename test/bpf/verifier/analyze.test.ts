import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assemble } from '../../../src/bpf/asm.ts';
import { constHelper, helperTable } from '../../../src/bpf/helpers.ts';
import { HelperId } from '../../../src/bpf/kernel-helpers.ts';
import { CONFORMANCE_HELPERS, caseProgram, listDataFiles, parseConformance } from '../../../src/bpf/conformance.ts';
import { prepare } from '../../../src/bpf/engine.ts';
import { C, array, ptr, struct } from '../../../src/bpf/ctypes.ts';
import { iterNumKfuncs } from '../../../src/bpf/kfuncs/generic.ts';
import { AddressSpace } from '../../../src/bpf/memory.ts';
import { analyze, fastConst, type AnalyzeOptions, type AnalyzeResult } from '../../../src/bpf/verifier/analyze.ts';
import { Scalar } from '../../../src/bpf/verifier/scalar.ts';

const run = (src: string, options?: AnalyzeOptions): AnalyzeResult => analyze(assemble(src), options);
const accepts = (src: string, options?: AnalyzeOptions): number => {
  const r = run(src, options);
  if (!r.ok) throw new Error(`expected acceptance, got: ${r.message}`);
  return r.insnsProcessed;
};
const rejects = (src: string, pc: number, phrase: string, options?: AnalyzeOptions): string => {
  const r = run(src, options);
  if (r.ok) throw new Error(`expected rejection with '${phrase}', but it was accepted`);
  expect(r.message.toLowerCase()).toContain(phrase.toLowerCase());
  expect(r.pc).toBe(pc);
  expect(r.message.startsWith(`instruction ${pc} `)).toBe(true);
  return r.message;
};

describe('analyze: accepted programs', () => {
  it('accepts a bounded loop with a counter, visiting every iteration', () => {
    const n = accepts('mov %r6, 0\nmov %r0, 0\nloop:\nadd %r0, %r6\nadd %r6, 1\njlt %r6, 100, loop\nexit\n');
    expect(n).toBe(2 + 3 * 100 + 1);
  });

  it('accepts a loop bounded by a comparison with an unknown value that is masked', () => {
    accepts(`
      call 7
      and %r0, 15
      mov %r6, 0
      loop:
      add %r6, 1
      jlt %r6, %r0, loop
      mov %r0, %r6
      exit`);
  });

  it('accepts stack data initialised on both paths of a branch', () => {
    accepts(`
      call 7
      jeq %r0, 0, else
      stdw [%r10-8], 1
      ja join
      else:
      stw [%r10-8], 2
      stw [%r10-4], 3
      join:
      ldxdw %r0, [%r10-8]
      exit`);
  });

  it('accepts pointer offsets within the frame, constant and bounded-variable', () => {
    accepts(`
      mov %r2, %r10
      add %r2, -16
      stdw [%r2], 7
      stdw [%r2+8], 8
      call 7
      and %r0, 8
      mov %r3, %r10
      add %r3, -16
      add %r3, %r0
      ldxdw %r0, [%r3]
      exit`);
  });

  it('keeps a spilled pointer and a spilled scalar across a fill', () => {
    accepts('mov %r1, %r10\nstxdw [%r10-8], %r1\nmov %r2, 5\nstxdw [%r10-16], %r2\nldxdw %r3, [%r10-8]\nstdw [%r3-24], 0\nldxdw %r0, [%r10-16]\nexit\n');
  });

  it('prunes paths that converge inside a loop (2^20 paths without pruning)', () => {
    const n = accepts(`
      mov %r6, 0
      loop:
      call 7
      jeq %r0, 0, skip
      mov %r0, 1
      ja join
      skip:
      mov %r0, 1
      join:
      add %r6, 1
      jlt %r6, 20, loop
      exit`);
    // Each iteration: the fall-through side in full (6), the taken side pruned after its mov (1).
    expect(n).toBe(1 + 20 * 6 + 20 * 1 + 1);
  });

  it('prunes a second path entering a loop in a state already verified', () => {
    const loop = 'loop:\nadd %r6, 1\njlt %r6, 50, loop\nmov %r0, 0\nexit\n';
    const n = accepts(`call 7\nmov %r6, 0\njeq %r0, 0, a\nmov %r0, 0\nja loop\na:\nmov %r0, 0\n${loop}`);
    // One path runs the loop (100 instructions) and exits; the other stops at the loop head.
    expect(n).toBe(3 + 2 + 2 * 50 + 2 + 1);
  });

  it('rejects an unbounded loop as infinite rather than accepting it by pruning against itself', () => {
    rejects('mov %r7, 0\nloop:\ncall 7\njeq %r0, 0, out\nmov %r7, %r0\nja loop\nout:\nmov %r0, %r7\nexit\n', 1, 'infinite loop');
  });

  it('skips branches the scalar domain proves dead', () => {
    // The read of uninitialised stack sits on a branch r0 = 5 can never take.
    accepts('mov %r0, 5\njgt %r0, 10, bad\nexit\nbad:\nldxdw %r0, [%r10-8]\nexit\n');
    accepts('call 7\nand %r0, 7\njgt %r0, 7, bad\nexit\nbad:\nldxdw %r0, [%r10-8]\nexit\n');
  });

  it('accepts division by zero, which BPF defines', () => {
    accepts('call 7\nmov %r1, 0\ndiv %r0, %r1\nmod %r0, %r1\nexit\n');
  });

  it('treats a helper call as clobbering r1..r5 and returning an unknown scalar', () => {
    rejects('mov %r6, 1\nmov %r2, 1\ncall 7\nmov %r0, %r2\nexit\n', 3, 'read before it is written');
    accepts('mov %r6, 1\ncall 7\nadd %r0, %r6\nexit\n');
  });

  it('reads the context r1 points to within its size', () => {
    accepts('ldxw %r0, [%r1+12]\nexit\n', { ctxSize: 16 });
    rejects('ldxw %r0, [%r1+16]\nexit\n', 0, 'out of bounds', { ctxSize: 16 });
    rejects('stw [%r1], 0\nmov %r0, 0\nexit\n', 0, 'read-only', { ctxSize: 16 });
  });

  it('compares a pointer with 0 (never NULL) without exploring the NULL side', () => {
    accepts('mov %r2, %r10\njeq %r2, 0, bad\nmov %r0, 0\nexit\nbad:\nldxdw %r0, [%r10-8]\nexit\n');
  });
});

describe('analyze: rejected programs', () => {
  it('rejects reads of uninitialised registers (structural stage) and stack', () => {
    rejects('mov %r0, %r3\nexit\n', 0, 'r3 is read before it is written');
    rejects('ldxdw %r0, [%r10-8]\nexit\n', 0, 'uninitialized');
    rejects('stw [%r10-8], 0\nldxdw %r0, [%r10-8]\nexit\n', 1, 'byte -4');
    // Initialised on one path only.
    rejects('call 7\njeq %r0, 0, join\nstdw [%r10-8], 1\njoin:\nldxdw %r0, [%r10-8]\nexit\n', 3, 'uninitialized');
  });

  it('rejects stack accesses outside [-512, 0), naming the offset', () => {
    expect(rejects('stdw [%r10], 0\nmov %r0, 0\nexit\n', 0, 'invalid stack access')).toContain('offset 0');
    expect(rejects('stdw [%r10-520], 0\nmov %r0, 0\nexit\n', 0, 'out of bounds')).toContain('offset -520');
    expect(rejects('ldxb %r0, [%r10-513]\nexit\n', 0, 'invalid stack access')).toContain('offset -513');
    const variable = 'call 7\nand %r0, 1023\nmov %r2, %r10\nadd %r2, -64\nadd %r2, %r0\nstb [%r2], 0\nmov %r0, 0\nexit\n';
    expect(rejects(variable, 5, 'invalid stack access')).toContain('offsets -64..959');
  });

  it('rejects pointer arithmetic other than pointer +/- bounded scalar', () => {
    rejects('mov %r2, %r10\nmul %r2, 2\nmov %r0, 0\nexit\n', 1, 'pointer arithmetic with mul');
    rejects('mov %r2, %r10\nadd %r2, %r10\nmov %r0, 0\nexit\n', 1, 'pointer arithmetic between two pointers');
    rejects('mov %r2, %r10\nadd32 %r2, -8\nmov %r0, 0\nexit\n', 1, '32-bit pointer arithmetic');
    rejects('mov %r2, 8\nsub %r2, %r10\nmov %r0, 0\nexit\n', 1, 'pointer arithmetic with sub');
    rejects('call 7\nmov %r2, %r10\nadd %r2, %r0\nmov %r0, 0\nexit\n', 2, 'unbounded');
    rejects('mov %r2, %r10\nbe64 %r2\nmov %r0, 0\nexit\n', 1, 'pointer arithmetic with end');
    rejects('mov32 %r0, %r10\nexit\n', 0, 'pointer arithmetic by a 32-bit move');
  });

  it('rejects a pointer in r0 at exit and r0 unset at exit', () => {
    rejects('mov %r0, %r10\nexit\n', 1, 'leaks');
    rejects('mov %r0, %r10\nexit\n', 1, 'return');
    rejects('mov %r0, %r1\nexit\n', 1, 'the context pointer');
    rejects('exit\n', 0, 'r0 is not set at exit');
  });

  it('rejects pointer leaks through partial stores and partial fills of spilled pointers', () => {
    rejects('stxw [%r10-8], %r10\nmov %r0, 0\nexit\n', 0, 'storing part of a pointer');
    rejects('stxdw [%r10-8], %r10\nldxw %r0, [%r10-8]\nexit\n', 1, 'spilled pointer');
    rejects('stxdw [%r10-8], %r10\nldxdw %r0, [%r10-8]\nexit\n', 2, 'leaks');
  });

  it('rejects dereferencing a scalar and comparing pointers', () => {
    rejects('mov %r1, 4096\nldxdw %r0, [%r1]\nexit\n', 1, 'not a pointer');
    rejects('mov %r2, %r10\njgt %r1, %r2, +0\nmov %r0, 0\nexit\n', 1, 'pointer comparison');
  });

  it('rejects misaligned fixed-offset stack accesses', () => {
    rejects('stdw [%r10-12], 0\nmov %r0, 0\nexit\n', 0, 'misaligned');
  });

  it('detects an infinite loop that returns to the same state', () => {
    rejects('call 7\nmov %r6, %r0\nmov %r0, 0\nspin:\njne %r6, 0, spin\nexit\n', 3, 'infinite loop');
  });

  it('stops at the complexity limit, naming it', () => {
    const loop = 'mov %r6, 0\nloop:\nadd %r6, 1\njlt %r6, 100000, loop\nmov %r0, 0\nexit\n';
    // Reported at the loop's head, the instruction the exploration kept coming back to.
    expect(rejects(loop, 1, 'too complex', { maxInsns: 1000 })).toContain('1000 instructions');
    expect(accepts(loop, { maxInsns: 250_000 })).toBe(200_003);
  });
});

describe('analyze: bpf-to-bpf calls', () => {
  it('passes r1..r5 to the callee, returns r0 and restores r6..r9', () => {
    accepts('mov %r1, 2\nmov %r6, 7\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r0, %r1\nmov %r6, 0\nexit\n');
    // r1..r5 are clobbered by the return; r6..r9 start uninitialised in the callee.
    rejects('mov %r1, 2\ncall local f\nmov %r0, %r1\nexit\nf:\nmov %r0, 0\nexit\n', 2, 'r1 is read before it is written');
  });

  it('lets a callee read and write the caller\'s stack through a pointer passed in a register', () => {
    accepts(`
      stdw [%r10-8], 5
      mov %r1, %r10
      add %r1, -8
      mov %r2, %r10
      add %r2, -16
      call local f
      ldxdw %r0, [%r10-16]
      ldxdw %r1, [%r10-8]
      add %r0, %r1
      exit
      f:
      ldxdw %r3, [%r1]
      stxdw [%r2], %r3
      stdw [%r10-8], 1
      mov %r0, 0
      exit`);
    // Two levels down, and spilling the caller's pointer in the callee's own frame.
    accepts(`
      mov %r1, %r10
      add %r1, -8
      call local f
      ldxdw %r0, [%r10-8]
      exit
      f:
      stxdw [%r10-8], %r1
      ldxdw %r1, [%r10-8]
      call local g
      mov %r0, 0
      exit
      g:
      stdw [%r1], 3
      mov %r0, 0
      exit`);
  });

  it('keeps every check working in the callee, against the frame the pointer points into', () => {
    // The callee's own frame is fresh: the caller's data is not visible through its r10.
    rejects('stdw [%r10-8], 1\ncall local f\nexit\nf:\nldxdw %r0, [%r10-8]\nexit\n', 3, 'uninitialized');
    // Uninitialised caller stack read through a passed pointer.
    rejects('mov %r1, %r10\nadd %r1, -8\ncall local f\nexit\nf:\nldxdw %r0, [%r1]\nexit\n', 4, 'uninitialized');
    rejects('mov %r1, %r10\ncall local f\nexit\nf:\nstdw [%r1], 0\nmov %r0, 0\nexit\n', 3, 'out of bounds');
    rejects('call local f\nexit\nf:\nmov %r2, %r10\nmul %r2, 2\nmov %r0, 0\nexit\n', 3, 'pointer arithmetic with mul');
    // A pointer to the callee's stack may not be stored into the caller's frame.
    rejects('mov %r1, %r10\nadd %r1, -8\ncall local f\nmov %r0, 0\nexit\nf:\nstxdw [%r1], %r10\nmov %r0, 0\nexit\n', 5, 'callee\'s stack');
    // The program's own exit still wants a scalar; a callee may return the caller's pointer.
    rejects('mov %r1, %r10\ncall local f\nexit\nf:\nmov %r0, %r1\nexit\n', 2, 'leaks');
    accepts('stdw [%r10-8], 4\nmov %r1, %r10\ncall local f\nldxdw %r0, [%r0-8]\nexit\nf:\nmov %r0, %r1\nexit\n');
  });

  it('rejects recursion, deep chains, combined stacks over 512 bytes and returned stack pointers', () => {
    rejects('call local f\nexit\nf:\ncall local g\nexit\ng:\ncall local f\nexit\n', 4, 'recursive call');
    const chain = (n: number): string => {
      let src = 'call local f1\nexit\n';
      for (let i = 1; i < n; i++) src += `f${i}:\ncall local f${i + 1}\nexit\n`;
      return src + `f${n}:\nmov %r0, 0\nexit\n`;
    };
    accepts(chain(7)); // 8 frames
    expect(rejects(chain(8), 14, 'too deep')).toContain('9 frames');
    const combined = rejects('stdw [%r10-256], 0\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-264], 0\nmov %r0, 0\nexit\n', 1, 'combined stack');
    expect(combined).toContain('520');
    expect(combined).toContain('512');
    accepts('stdw [%r10-256], 0\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-256], 0\nmov %r0, 0\nexit\n');
    rejects('call local f\nexit\nf:\nmov %r0, %r10\nexit\n', 3, 'returns a pointer to its stack');
  });

  it('never prunes states of different call contexts against each other', () => {
    // f reaches its prune point in the same state from both calls, the first one completely
    // verified; the caller's frames differ (the second leaks a pointer through r6), so the second
    // visit must not be pruned.
    rejects(`
      call 7
      mov %r6, 1
      jeq %r0, 0, other
      call local f
      mov %r0, 0
      exit
      other:
      mov %r6, %r10
      call local f
      mov %r0, %r6
      exit
      f:
      mov %r0, 0
      mov %r2, 0
      jeq %r2, 0, +0
      exit`, 9, 'leaks');
    // Two calls on one path in the same callee state are not a loop that came back unchanged.
    accepts('mov %r1, 1\ncall local f\nmov %r1, 1\ncall local f\nexit\nf:\nmov %r0, %r1\njeq %r0, 0, +0\nexit\n');
    // f is called twice; the second call passes an uninitialised slot, which must be caught.
    rejects(`
      stdw [%r10-8], 1
      mov %r1, %r10
      add %r1, -8
      call local f
      mov %r1, %r10
      add %r1, -16
      call local f
      exit
      f:
      ldxdw %r0, [%r1]
      exit`, 8, 'uninitialized');
  });
});

describe('analyze: internals', () => {
  it('builds constants that equal Scalar.const', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 64n), max: (1n << 64n) - 1n }), (v) => {
        expect(fastConst(v).equals(Scalar.const(v))).toBe(true);
        const a = fastConst(v);
        const b = Scalar.const(v);
        expect([a.umin, a.umax, a.smin, a.smax, a.u32min, a.u32max, a.s32min, a.s32max]).toEqual([
          b.umin, b.umax, b.smin, b.smax, b.u32min, b.u32max, b.s32min, b.s32max,
        ]);
      }),
      { numRuns: 200 },
    );
  });

  it('folds constant arithmetic and comparisons exactly as the Scalar domain does', () => {
    const ops = ['add', 'sub', 'and', 'or', 'xor'];
    const jumps = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset'];
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.constantFrom(...ops),
        fc.constantFrom('', '32'),
        fc.constantFrom(...jumps),
        fc.constantFrom('', '32'),
        (a, b, op, w, j, jw) => {
          // The folded result steers a jump; an unknown copy of it would let both sides run, so
          // the folded and the general paths must agree on which side reads uninitialised stack.
          const src = `mov %r1, ${a}\nmov %r2, ${b}\n${op}${w} %r1, %r2\nmov %r3, ${b}\n${j}${jw} %r1, %r3, +2\nmov %r0, 0\nexit\nmov %r0, 1\nexit\n`;
          const r = run(src);
          expect(r.ok).toBe(true);
          // Expected outcome from BigInt arithmetic.
          const mask = w ? (1n << 32n) - 1n : (1n << 64n) - 1n;
          const A = BigInt.asUintN(64, BigInt(a));
          const B = BigInt.asUintN(64, BigInt(b));
          const v = ({ add: A + B, sub: A - B, and: A & B, or: A | B, xor: A ^ B } as Record<string, bigint>)[op] & mask;
          const width = jw ? 32 : 64;
          const ua = BigInt.asUintN(width, v);
          const ub = BigInt.asUintN(width, B);
          const sa = BigInt.asIntN(width, v);
          const sb = BigInt.asIntN(width, B);
          const taken = ({
            jeq: ua === ub, jne: ua !== ub, jgt: ua > ub, jge: ua >= ub, jlt: ua < ub, jle: ua <= ub,
            jsgt: sa > sb, jsge: sa >= sb, jslt: sa < sb, jsle: sa <= sb, jset: (ua & ub) !== 0n,
          } as Record<string, boolean>)[j];
          // One side only: 5 instructions, then mov + exit.
          expect((r as { insnsProcessed: number }).insnsProcessed).toBe(7);
          const dead = taken ? 'mov %r0, 0' : 'mov %r0, 1';
          const poisoned = src.replace(`${dead}\nexit`, 'ldxdw %r0, [%r10-8]\nexit');
          expect(run(poisoned).ok).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});

// --- Corpora ---------------------------------------------------------------------------------

const CONFORMANCE = resolve(__dirname, '../../../../shared/bpf-conformance/tests');

describe('analyze: bpf_conformance programs are accepted', () => {
  it('accepts every conformance program', () => {
    const files = listDataFiles(CONFORMANCE);
    expect(files.length).toBeGreaterThan(300);
    const failures: string[] = [];
    const skipped: string[] = [];
    for (const file of files) {
      const c = parseConformance(readFileSync(file, 'utf8'), file);
      const name = file.slice(CONFORMANCE.length + 1);
      if (c.skip || c.error !== undefined) {
        skipped.push(name);
        continue;
      }
      // As the runner calls them: r1 points at the input memory (writable) and r2 holds its length.
      const args = c.mem
        ? [{ kind: 'ctx', size: c.mem.length, writable: true } as const, { kind: 'scalar', value: BigInt(c.mem.length) } as const]
        : [{ kind: 'scalar', value: 0n } as const, { kind: 'scalar', value: 0n } as const];
      const r = analyze(caseProgram(c), { mode: 'permissive', helpers: CONFORMANCE_HELPERS, args });
      if (!r.ok) failures.push(`${name}: ${r.message}`);
    }
    expect(failures).toEqual([]);
    expect(skipped).toEqual([]);
    expect(files.length).toBe(313);
  });

  it('accepts the bpf-to-bpf call programs (call_local, rfc9669_call_local)', () => {
    for (const name of ['call_local.data', 'rfc9669_call_local.data']) {
      const c = parseConformance(readFileSync(join(CONFORMANCE, name), 'utf8'), name);
      const r = analyze(caseProgram(c), { mode: 'permissive', helpers: CONFORMANCE_HELPERS, args: [] });
      expect(r.ok ? '' : r.message).toBe('');
    }
  });
});

interface ManifestCase {
  file: string;
  kind: string;
  line: number;
  lines?: [number, number];
  expect: string;
  category: string;
}

const FIXTURES = resolve(__dirname, '../../fixtures/verifier');
const manifest: ManifestCase[] = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8'));
const KERNEL_HELPERS = helperTable(Object.entries(HelperId).map(([name, id]) => constHelper(id, name, 0n)));

/**
 * The 1-based source line of each instruction slot: lines holding an instruction after
 * comments and labels are removed, two slots for lddw. Checked against the assembler's count.
 */
function slotLines(text: string): number[] {
  const lines: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const body = raw.replace(/#.*/, '').replace(/^\s*[A-Za-z_.][\w.]*:/, '').trim();
    if (body === '') return;
    lines.push(i + 1);
    if (/^lddw\b/.test(body)) lines.push(i + 1);
  });
  return lines;
}

describe('analyze: the negative corpus (asm cases)', () => {
  const cases = manifest.filter((c) => c.kind === 'asm');

  it('has all 40 asm cases', () => {
    expect(cases.length).toBe(40);
  });

  for (const c of cases) {
    const slow = c.expect === 'complex';
    it(`rejects ${c.file} with '${c.expect}' at line ${c.lines ? c.lines.join('-') : c.line}`, { timeout: slow ? 120_000 : 5_000 }, () => {
      const text = readFileSync(join(FIXTURES, c.file), 'utf8');
      const insns = assemble(text, { file: c.file });
      const lines = slotLines(text);
      expect(lines.length).toBe(insns.length);
      const r = analyze(insns, { helpers: KERNEL_HELPERS });
      if (r.ok) throw new Error(`${c.file} was accepted`);
      expect(r.message.toLowerCase()).toContain(c.expect.toLowerCase());
      const [first, last] = c.lines ?? [c.line, c.line];
      const line = lines[r.pc];
      expect(line >= first && line <= last, `${c.file}: reported line ${line} (pc ${r.pc}), expected ${first}..${last}: ${r.message}`).toBe(true);
    });
  }
});

describe('analyze: maps, NULL checks and linked scalars', () => {
  const counts = { name: 'counts', type: 2, keySize: 4, valueSize: 64, maxEntries: 1, readonly: false, fields: [] };
  const maps = { maps: { mapAt: (addr: number) => (addr === 7 ? counts : undefined), valueAt: () => undefined }, pseudoResolved: true };
  const lookup = 'stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 7\ncall 1\n';

  it('settles every copy of a possibly NULL pointer with one test', () => {
    // r6 is a copy of r0; testing r0 makes r6 safe too.
    accepts(`${lookup}mov %r6, %r0\njeq %r0, 0, out\nldxdw %r0, [%r6+56]\nexit\nout:\nmov %r0, 0\nexit\n`, maps);
    rejects(`${lookup}mov %r6, %r0\nldxdw %r0, [%r6]\nexit\n`, 7, 'possibly NULL', maps);
  });

  it('checks map value accesses against the value size, with variable offsets bounded by a test', () => {
    rejects(`${lookup}jeq %r0, 0, out\nldxdw %r0, [%r0+64]\nexit\nout:\nmov %r0, 0\nexit\n`, 7, 'out of bounds', maps);
    // An index bounded on a 32-bit copy is bounded on the 64-bit original too (linked scalars).
    const indexed = (bound: number) =>
      `${lookup}jeq %r0, 0, out\nmov %r6, %r0\ncall 7\nand %r0, 255\nmov32 %r1, %r0\njgt %r1, ${bound}, out\nlsh %r0, 3\nadd %r6, %r0\nldxdw %r0, [%r6]\nexit\nout:\nmov %r0, 0\nexit\n`;
    accepts(indexed(7), maps);
    rejects(indexed(8), 14, 'out of bounds', maps);
  });

  it('checks helper arguments against the prototype: map, initialised key, bounded sizes', () => {
    rejects('stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nmov %r1, 7\ncall 1\nmov %r0, 0\nexit\n', 4, 'argument type', maps);
    rejects('mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 7\ncall 1\nmov %r0, 0\nexit\n', 4, 'uninitialized', maps);
  });
});

describe('analyze: helper buffers at variable stack offsets', () => {
  const program = (init: boolean) => `
    ${init ? 'stdw [%r10-128], 0\nstdw [%r10-120], 0\n' : ''}call 7
    and %r0, 1
    lsh %r0, 3
    mov %r1, %r10
    add %r1, -128
    add %r1, %r0
    mov %r2, 8
    mov %r3, 0
    call 113
    mov %r0, 0
    exit`;
  it('needs the buffer initialised, since which bytes the helper fills is unknown', () => {
    rejects(program(false), 8, 'uninitialized');
    accepts(program(true));
  });
});

describe('analyze: soundness against the interpreter', () => {
  // Random straight-line-and-forward-branch programs over the stack, with a helper returning
  // random values. Whatever the verifier accepts must run in the interpreter without a fault
  // (out-of-bounds or uninitialised access is caught there as a fault or an uninitialised read),
  // and the verifier must answer every program with a verdict, never a crash.
  const reg = fc.integer({ min: 0, max: 9 });
  const slot = fc.integer({ min: 1, max: 80 }).map((k) => -8 * Math.ceil(k / 8) - (k % 2 ? 0 : 4));
  const insn = fc.oneof(
    fc.tuple(reg, fc.integer({ min: -300, max: 300 })).map(([r, v]) => `mov %r${r}, ${v}`),
    fc.tuple(fc.constantFrom('add', 'sub', 'and', 'or', 'lsh', 'rsh', 'mul', 'xor'), reg, reg).map(([op, d, s]) => `${op} %r${d}, %r${s}`),
    fc.tuple(fc.constantFrom('and', 'rsh', 'add'), reg, fc.integer({ min: 0, max: 63 })).map(([op, d, v]) => `${op} %r${d}, ${v}`),
    fc.tuple(reg, slot).map(([r, o]) => `stxw [%r10${o}], %r${r}`),
    fc.tuple(reg, slot).map(([r, o]) => `stxdw [%r10${o - (o % 8 ? 4 : 0)}], %r${r}`),
    fc.tuple(reg, slot).map(([r, o]) => `ldxw %r${r}, [%r10${o}]`),
    fc.tuple(reg, slot).map(([r, o]) => `ldxdw %r${r}, [%r10${o - (o % 8 ? 4 : 0)}]`),
    fc.tuple(reg).map(([r]) => `mov %r${r}, %r10`),
    fc.tuple(reg, reg).map(([d, s]) => `add %r${d}, %r${s}`),
    fc.tuple(reg, reg).map(([d, s]) => `ldxb %r${d}, [%r${s}-1]`),
    fc.tuple(reg, reg).map(([d, s]) => `stxb [%r${d}-1], %r${s}`),
    fc.constant('call 7'),
    fc.tuple(fc.constantFrom('jeq', 'jgt', 'jslt', 'jset'), reg, fc.integer({ min: -5, max: 40 }), fc.integer({ min: 0, max: 4 })).map(
      ([j, r, v, off]) => `${j} %r${r}, ${v}, +${off}`,
    ),
  );
  // A fixed pseudo-random sequence (the test must be reproducible), varied across the four runs.
  let lcg = 1;
  const KERNEL = helperTable([{ id: 7, name: 'get_prandom_u32', fn: () => (lcg = (Math.imul(lcg, 1103515245) + 12345) >>> 0) }]);

  it('never accepts a program that faults, and never crashes', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(insn, { minLength: 1, maxLength: 24 }), (body) => {
        // Pad so forward jumps land inside; end with a known r0.
        // Registers and the first 64 stack bytes start initialised, so most programs get past
        // the trivial rejections and exercise the interesting ones.
        const prologue = [...Array.from({ length: 10 }, (_, r) => `mov %r${r}, ${r}`), ...Array.from({ length: 8 }, (_, k) => `stdw [%r10-${8 * (k + 1)}], 0`)];
        const src = `${[...prologue, ...body].join('\n')}\nmov %r0, 0\nmov %r0, 0\nmov %r0, 0\nmov %r0, 0\nmov %r0, 0\nexit\n`;
        const insns = assemble(src);
        const verdict = analyze(insns, { mode: 'permissive', helpers: KERNEL, args: [] });
        if (!verdict.ok) return;
        accepted++;
        for (let i = 0; i < 4; i++) {
          lcg = i * 7919 + 1;
          try {
            prepare('interp', insns, new AddressSpace(), { helpers: KERNEL }).run([]);
          } catch (e) {
            throw new Error(`accepted, but the interpreter faulted: ${(e as Error).message}\n${src}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
    // The property says something only if the verifier accepts a fair share.
    expect(accepted).toBeGreaterThan(300);
  });
});

describe('analyze: callbacks called again and again', () => {
  it('verifies a bpf_loop callback from the state its previous call left, not only the first', () => {
    // The first call finds a scalar in the context and stores a pointer there; the second finds
    // the pointer and returns it, which a callback may not.
    const src = `
      stdw [%r10-8], 0
      mov %r1, 4
      lddw %r2, func cb
      mov %r3, %r10
      add %r3, -8
      mov %r4, 0
      call 181
      mov %r0, 0
      exit
      cb:
      ldxdw %r3, [%r2]
      jne %r3, 0, use
      stxdw [%r2], %r2
      mov %r0, 0
      exit
      use:
      mov %r0, %r3
      exit`;
    rejects(src, 16, 'return value', { helpers: KERNEL_HELPERS });
  });

  it("converges on a callback that counts in the caller's stack", () => {
    const src = `
      stdw [%r10-8], 0
      mov %r1, 100
      lddw %r2, func cb
      mov %r3, %r10
      add %r3, -8
      mov %r4, 0
      call 181
      ldxdw %r0, [%r10-8]
      exit
      cb:
      ldxdw %r3, [%r2]
      add %r3, 1
      stxdw [%r2], %r3
      mov %r0, 0
      exit`;
    expect(accepts(src, { helpers: KERNEL_HELPERS })).toBeLessThan(200);
  });
});

describe('analyze: holes found by the adversarial review, closed', () => {
  // Each program was accepted before, and then faulted (or would have) when run.
  const useAsIndex = 'ldxdw %r3, [%r10-8]\nmov %r4, %r10\nadd %r4, -16\nadd %r4, %r3\nstdw [%r4], 0\nmov %r0, 0\nexit';

  it('a global function may write the buffers it is given: the caller forgets what they held', () => {
    const src = `
      stdw [%r10-8], 0
      mov %r1, %r10
      add %r1, -8
      call local g
      ${useAsIndex}
      g:
      jeq %r1, 0, out
      lddw %r2, 0x10000000
      stxdw [%r1], %r2
      out:
      mov %r0, 0
      exit`;
    const globalFuncs = new Map([[11, { name: 'g', params: [ptr(array(C.u8, 8))] }]]);
    rejects(src, 7, 'unbounded', { globalFuncs });
  });

  it('an atomic operation leaves an unknown value in a spilled slot, not its operand', () => {
    for (const op of ['lock add [%r10-8], %r2', 'lock or [%r10-8], %r2', 'lock fetch add [%r10-8], %r2']) {
      rejects(`lddw %r1, 0x10000000\nstxdw [%r10-8], %r1\nmov %r2, 0\n${op}\n${useAsIndex}`, 8, 'unbounded');
    }
    // xchg does leave the operand.
    accepts(`lddw %r1, 0x10000000\nstxdw [%r10-8], %r1\nmov %r2, 0\nlock xchg [%r10-8], %r2\n${useAsIndex}`);
  });

  it('refuses atomics on, and partial overwrites of, a spilled pointer (they would leak it)', () => {
    rejects('stxdw [%r10-8], %r10\nmov %r1, 0\nlock fetch add [%r10-8], %r1\nmov %r0, 0\nexit', 2, 'leak');
    rejects('stxdw [%r10-8], %r10\nstw [%r10-8], 0\nldxw %r0, [%r10-4]\nexit', 1, 'spilled pointer');
  });

  it('callx needs a known target, then checks it like a direct call', () => {
    accepts('mov %r2, 5\ncallx %r2\nmov %r0, 0\nexit', { mode: 'permissive', helpers: helperTable([{ id: 5, name: 'ktime_get_ns', fn: () => 0 }]) });
    rejects('lddw %r1, 0x1000000\nlddw %r2, func f\ncallx %r2\nmov %r0, 0\nexit\nf:\nldxdw %r0, [%r1]\nexit', 7, 'not a pointer', { mode: 'permissive' });
    rejects('call 7\ncallx %r0\nmov %r0, 0\nexit', 1, 'known helper id or function', { mode: 'permissive', helpers: KERNEL_HELPERS });
  });

  it('keeps helpers away from the special fields of a map value', () => {
    const masks = { name: 'masks', type: 2, keySize: 4, valueSize: 16, maxEntries: 1, readonly: false, fields: [{ kind: 'kptr' as const, offset: 0, size: 8 }] };
    const maps = { maps: { mapAt: (a: number) => (a === 7 ? masks : undefined), valueAt: () => undefined }, pseudoResolved: true };
    const lookup = 'stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 7\ncall 1\njeq %r0, 0, out\n';
    const read = (off: number) => `${lookup}mov %r1, %r0\nadd %r1, ${off}\nmov %r2, 8\nmov %r3, 0\ncall 113\nout:\nmov %r0, 0\nexit`;
    rejects(read(0), 11, 'covers the kptr', { ...maps, helpers: KERNEL_HELPERS });
    accepts(read(8), { ...maps, helpers: KERNEL_HELPERS });
  });

  it('an iterator loop converges only while the iterator yields: one that never stops is an infinite loop', () => {
    const mem = new AddressSpace();
    const defs = iterNumKfuncs(mem);
    const ids = new Map(defs.map((d, i) => [d.name, 100 + i]));
    const kfunc = (id: number) => {
      const d = defs.find((x) => ids.get(x.name) === id);
      return d && { name: d.name, proto: d.proto, flags: d.flags ?? 0 };
    };
    const kfuncs = helperTable(defs.map((d) => ({ id: ids.get(d.name)!, name: d.name, fn: d.fn })));
    const prologue = `mov %r1, %r10\nadd %r1, -8\nmov %r2, 0\nmov %r3, 4\ncall kfunc ${ids.get('bpf_iter_num_new')}\nmov %r6, 0`;
    const next = `mov %r1, %r10\nadd %r1, -8\ncall kfunc ${ids.get('bpf_iter_num_next')}`;
    const destroy = `mov %r1, %r10\nadd %r1, -8\ncall kfunc ${ids.get('bpf_iter_num_destroy')}\nmov %r0, %r6\nexit`;
    // bpf_for: ends when next returns NULL.
    accepts(`${prologue}\nloop:\n${next}\njeq %r0, 0, done\nadd %r6, 1\nja loop\ndone:\n${destroy}`, { kfunc, kfuncs });
    // for (;;) { v = next(); ... } never leaves the loop (permissive: its exit is unreachable).
    const r = analyze(assemble(`${prologue}\nloop:\n${next}\njeq %r0, 0, nul\nadd %r6, 1\nja loop\nnul:\nadd %r6, 2\nja loop\n${destroy}`), { mode: 'permissive', kfunc, kfuncs });
    expect(r.ok ? 'accepted' : r.message).toContain('infinite loop');
  });
});

describe('probe loads (BPF_PROBE_MEM)', () => {
  it('reads 0 instead of faulting, on both engines, and only where marked', () => {
    const insns = assemble('mov %r1, 0\nldxdw %r0, [%r1+16]\nexit');
    const probeLoads = new Uint8Array(insns.length);
    probeLoads[1] = 1;
    for (const engine of ['interp', 'jit'] as const) {
      expect(prepare(engine, insns, new AddressSpace(), { probeLoads }).run([]).r0).toBe(0n);
      expect(() => prepare(engine, insns, new AddressSpace()).run([])).toThrow(/not mapped|NULL/);
    }
  });

  it('marks the loads through kernel-struct pointers', () => {
    const task = struct('probe_task', [['pid', C.s32], ['parent', C.u64]]);
    const r = analyze(assemble('ldxdw %r1, [%r1]\nldxw %r0, [%r1]\nexit'), { program: { name: 'tick', args: [{ type: ptr(task), nullable: false }], sleepable: false } });
    expect(r.ok).toBe(true);
    expect([...(r as { probeLoads: Uint8Array }).probeLoads]).toEqual([0, 1, 0]);
  });
});
