import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const SUITE = resolve(ROOT, '../shared/bpf-conformance');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/scx-sim.js'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const STACK_LINE = /^\s+at /m;

describe('scx-sim CLI', () => {
  it('lists its commands', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    for (const c of ['conformance', 'asm', 'disasm']) expect(r.out).toContain(`scx-sim ${c}`);
  });

  it('runs the conformance suite and ends with the summary line', () => {
    const tests = cli('conformance', join(SUITE, 'tests'), '--engine', 'interp');
    expect(tests.code).toBe(0);
    expect(tests.out.trimEnd().split('\n').pop()).toBe('313 passed, 0 failed');
    const negative = cli('conformance', join(SUITE, 'negative'));
    expect(negative.code).toBe(0);
    expect(negative.out.trimEnd().split('\n').pop()).toMatch(/^\d+ passed, 0 failed, 3 skipped$/);
  });

  it('reports each failing file and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-conf-'));
    writeFileSync(join(dir, 'good.data'), '-- asm\nmov %r0, 7\nexit\n-- result\n7\n');
    writeFileSync(join(dir, 'bad.data'), '-- asm\nmov %r0, 7\nexit\n-- result\n8\n');
    const r = cli('conformance', dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`FAIL ${join(dir, 'bad.data')}: expected r0 = 0x8, got 0x7`);
    expect(r.out.trimEnd().split('\n').pop()).toBe('1 passed, 1 failed');
  });

  it('assembles and disassembles through files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-asm-'));
    const src = join(dir, 'p.s');
    writeFileSync(src, 'mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 10, loop\nexit\n');
    const a = cli('asm', src, '-o', join(dir, 'p.bin'));
    expect(a.code).toBe(0);
    expect(a.out).toContain('4 slots, 32 bytes');
    expect(readFileSync(join(dir, 'p.bin')).length).toBe(32);
    const d = cli('disasm', join(dir, 'p.bin'));
    expect(d.code).toBe(0);
    expect(d.out).toBe('mov %r0, 0\nL1:\nadd %r0, 1\njlt %r0, 10, L1\nexit\n');
    expect(cli('disasm', '--offsets', join(dir, 'p.bin')).out).toContain('jlt %r0, 10, -2');
  });

  it('prints one-line errors without a stack trace, and the trace only with --debug', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-err-'));
    const src = join(dir, 'bad.s');
    writeFileSync(src, 'mov %r0, 0\nor %r0, %r50\nexit\n');
    const r = cli('asm', src);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`scx-sim: ${src}:2:9: expected a register %r0..%r10, found '%r50'\n`);
    expect(r.err).not.toMatch(STACK_LINE);
    expect(cli('asm', src, '--debug').err).toMatch(STACK_LINE);

    const missing = cli('disasm', join(dir, 'nope.bin'));
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`scx-sim: ${join(dir, 'nope.bin')}: no such file\n`);

    writeFileSync(join(dir, 'odd.bin'), Uint8Array.of(1, 2, 3));
    expect(cli('disasm', join(dir, 'odd.bin')).err).toBe(
      `scx-sim: ${join(dir, 'odd.bin')}: at byte offset 0: program is 3 bytes, expected a multiple of 8\n`,
    );
    const usage = cli('conformance');
    expect(usage.code).toBe(2);
    expect(usage.err).not.toMatch(STACK_LINE);
  });
});
