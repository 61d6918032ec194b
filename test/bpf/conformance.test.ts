import { describe, expect, it } from 'vitest';
import { join, resolve } from 'node:path';
import {
  parseConformance,
  runCase,
  runSuite,
} from '../../src/bpf/conformance.ts';

const SUITE = resolve(__dirname, '../../../shared/bpf-conformance');

describe('bpf_conformance on the interpreter', () => {
  it('passes all 313 tests', () => {
    const s = runSuite(join(SUITE, 'tests'), 'interp');
    const failures = s.results.filter((r) => r.outcome !== 'pass').map((r) => `${r.file}: ${r.reason}`);
    expect(failures).toEqual([]);
    expect(s.passed).toBe(313);
  });

  it('rejects every negative file before running it, except where the format skips or the claim is wrong', () => {
    const s = runSuite(join(SUITE, 'negative'), 'interp');
    expect(s.failed).toBe(0);
    const byName = new Map(s.results.map((r) => [r.file.split('/').pop()!, r]));
    expect([...byName.values()].filter((r) => r.outcome === 'skip').map((r) => r.file.split('/').pop()).sort()).toEqual([
      'empty.data',
      'empty_instructions.data',
      'invalid_unknown_directive.data',
    ]);
    for (const [name, r] of byName) {
      if (r.outcome !== 'pass') continue;
      if (name === 'incorrect_return_value_high_bits.data') {
        // The file claims 0x89... where the loaded bytes give 0x88...: caught by the full 64-bit compare.
        expect(r.reason).toContain('got 0x8877665544332211');
      } else {
        expect(r.reason, name).toMatch(/^rejected at load: /);
      }
    }
    expect(byName.get('invalid_register.data')!.reason).toContain(":4:9: expected a register %r0..%r10, found '%r50'");
    expect(byName.get('error.data')!.reason).toContain('r0 is read before it is written');
  });
});

describe('the data-file format', () => {
  it('reads raw sections as 64-bit slots or as bytes', () => {
    const words = parseConformance('-- raw\n0x00000001000000b7\n0x0000000000000095\n-- result\n0x1\n', 'w.data');
    const bytes = parseConformance('-- raw\nb7 00 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n-- result\n1\n', 'b.data');
    expect(runCase(words, 'interp', false)).toMatchObject({ outcome: 'pass' });
    expect(runCase(bytes, 'interp', false)).toMatchObject({ outcome: 'pass' });
  });

  it('prefers raw over asm, keeps line numbers, and compares all 64 bits', () => {
    const c = parseConformance('# header\n-- asm\nmov %r0, 2\nexit\n-- raw\nb7 00 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n-- result\n0x1\n', 'p.data');
    expect(c.asm!.firstLine).toBe(3);
    expect(runCase(c, 'interp', false).outcome).toBe('pass');
    const high = parseConformance('-- asm\nlddw %r0, 0x100000001\nexit\n-- result\n0x1\n', 'h.data');
    expect(runCase(high, 'interp', false)).toMatchObject({ outcome: 'fail', reason: 'expected r0 = 0x1, got 0x100000001' });
  });

  it('passes the input memory in r1 and its length in r2', () => {
    const c = parseConformance('-- asm\nldxb %r0, [%r1+2]\nadd %r0, %r2\nexit\n-- mem\n01 02 03\n-- result\n6\n', 'm.data');
    expect(runCase(c, 'interp', false)).toMatchObject({ outcome: 'pass' });
  });

  it('names the file and line of malformed sections', () => {
    expect(() => parseConformance('-- asm\nexit\n-- mem\n0g\n-- result\n0\n', 'x.data')).toThrow(
      "x.data:4: expected a hex byte, found '0g'",
    );
    expect(() => parseConformance('-- asm\nexit\n-- result\nlots\n', 'x.data')).toThrow(
      "x.data:4: expected a hex or decimal result, found 'lots'",
    );
  });

  it('fails a file that expects an error when its program loads', () => {
    const c = parseConformance('-- asm\nmov %r0, 0\nexit\n-- error\nInvalid\n', 'e.data');
    expect(runCase(c, 'interp', false)).toMatchObject({ outcome: 'fail' });
  });
});
