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

describe('scx-sim inspect', () => {
  const obj = join(ROOT, 'test/fixtures/loader/basic.bpf.o');

  it('lists programs, maps, struct_ops wiring and CO-RE relocations', () => {
    const r = cli('inspect', obj, '--json');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out);
    expect(d.programs.map((p: { name: string; instructions: number }) => [p.name, p.instructions])).toEqual([
      ['test_select', 64],
      ['test_enqueue', 16],
    ]);
    expect(d.maps.find((m: { name: string }) => m.name === 'counts')).toEqual({ name: 'counts', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4, flags: '0x0 ()' });
    expect(d.structOps[0].callbacks).toEqual({ select_cpu: 'test_select', enqueue: 'test_enqueue' });
    expect(d.structOps[0].fields).toMatchObject({ timeout_ms: 5000, name: 'test' });
    expect(d.coreRelocations.length).toBe(4);
  });

  it('interleaves C source lines with the disassembly', () => {
    const r = cli('inspect', obj, '--disasm');
    expect(r.code).toBe(0);
    expect(r.out).toContain('; bpf_loop(5, add_cb, &sum, 0);  (./basic.bpf.c:71)');
    expect(r.out).toContain('call 181  # bpf_loop');
  });

  it('reports a corrupt object in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-inspect-'));
    const bad = join(dir, 'bad.o');
    const bytes = readFileSync(obj);
    bytes[18] = 62;
    writeFileSync(bad, bytes);
    const r = cli('inspect', bad);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`scx-sim: ${bad}: not a BPF object: e_machine is 62 (x86-64), expected 247 (BPF)\n`);
  });
});

describe('scx-sim run', () => {
  it('simulates a BPF scheduler and prints a summary', () => {
    const r = cli('run', '--scheduler', join(ROOT, 'schedulers/vtime.bpf.o'), '--workload', 'gen:bursts,n=6,run=3ms,sleep=2ms', '--cpus', '2', '--duration', '200ms');
    expect(r.code).toBe(0);
    expect(r.out).toContain('vtime.bpf.o on 1n:1l:2c:1t, 200.00 ms simulated');
    expect(r.out).toMatch(/callbacks: init 1, enable 6, select_cpu \d+/);
  });

  it('runs the built-in fair class and writes JSON', () => {
    const r = cli('run', '--scheduler', 'builtin:eevdf', '--workload', 'gen:hogs,n=2', '--cpus', '1', '--duration', '100ms', '--json');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out);
    expect(d.tasks.map((t: { runtime: number }) => t.runtime)).toEqual([50_000_000, 50_000_000]);
  });

  it('reports a bad workload in one line', () => {
    const r = cli('run', '--scheduler', 'builtin:eevdf', '--workload', 'gen:nope,n=1');
    expect(r.code).toBe(1);
    expect(r.err).toBe("scx-sim: gen:nope,n=1: unknown generator 'nope' (have: hogs, bursts, schbench, hackbench, server, build, mix, periodic, shell)\n");
  });
});

describe('scx-sim verify', () => {
  it('accepts a committed scheduler, listing each program with the instructions the verifier processed', () => {
    const r = cli('verify', 'schedulers/vtime.bpf.o');
    expect(r.code).toBe(0);
    expect(r.out).toContain('schedulers/vtime.bpf.o: verified (kernel mode), 7 programs');
    expect(r.out).toMatch(/vtime_enqueue\s+struct_ops\/vtime_enqueue\s+\d+ insns, \d+ processed/);
  });

  it('rejects an unsafe object with the instruction, the reason and the C line, exit status 1, no stack trace', () => {
    const r = cli('verify', 'test/fixtures/verifier/c/null-map-lookup.bpf.o');
    expect(r.code).toBe(1);
    expect(r.err).toContain("program 'null_lookup_dispatch': instruction 7 (ldxdw %r1, [%r0]): r0 is a possibly NULL pointer");
    expect(r.err.trimEnd().endsWith('(./null-map-lookup.bpf.c:22)')).toBe(true);
    expect(r.err).not.toMatch(STACK_LINE);
  });

  it('prints the state before each instruction with --log, the C source line where it changes', () => {
    const r = cli('verify', '--log', 'test/fixtures/verifier/c/null-map-lookup.bpf.o');
    expect(r.code).toBe(1);
    expect(r.out).toContain('null_lookup_dispatch: ; *cnt += 1; /* REJECT: cnt may be NULL */  (./null-map-lookup.bpf.c:22)');
    expect(r.out).toMatch(/null_lookup_dispatch:\s+7: ldxdw %r1, \[%r0\]\s+; r0=mapval:dispatches\|null r10=fp0/);
  });

  it('verifies an assembler source with object directives as the object it assembles to', () => {
    const r = cli('verify', 'schedulers/fifo-asm.s');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^schedulers\/fifo-asm\.s: verified \(kernel mode\), \d+ programs/);
  });

  it('verifies assembler text, and --permissive drops the Linux-only rules', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-verify-'));
    const file = join(dir, 'cmp.s');
    // Comparing two stack pointers: memory safe, but Linux (without CAP_PERFMON) refuses it.
    writeFileSync(file, 'mov %r2, %r10\nmov %r0, 0\njeq %r2, %r10, out\nmov %r0, 1\nout:\nexit\n');
    const strict = cli('verify', file);
    expect(strict.code).toBe(1);
    expect(strict.err).toContain('instruction 2 (jeq %r2, %r10, +1): r2 is a pointer to the stack: pointer comparison is prohibited');
    const permissive = cli('verify', '--permissive', file);
    expect(permissive.code).toBe(0);
    expect(permissive.out).toContain('verified (permissive mode), 5 insns');
  });
});
