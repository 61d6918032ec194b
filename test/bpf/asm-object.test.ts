import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AsmError, assemble } from '../../src/bpf/asm.ts';
import { assembleObject, isObjectSource, parseObject } from '../../src/bpf/asm-object.ts';
import { encodeBtfExt, withStrings } from '../../src/bpf/btf-ext-write.ts';
import { BtfBuilder, parseBtf, parseBtfExt } from '../../src/bpf/btf.ts';
import { parseElf, R_BPF_64_32, R_BPF_64_64, SHN_UNDEF, SHT_PROGBITS, STB_GLOBAL, STB_LOCAL, STT_FUNC, STT_OBJECT } from '../../src/bpf/elf.ts';
import { ElfWriter } from '../../src/bpf/elf-write.ts';
import { CALL_LOCAL, OP_CALL, encode } from '../../src/bpf/isa.ts';
import { LoadError, idleMachine, load, openObject, type Machine } from '../../src/bpf/loader.ts';
import type { ArrayMap } from '../../src/bpf/maps/array.ts';
import { MapType } from '../../src/bpf/maps/map.ts';
import type { HelperFn } from '../../src/bpf/helpers.ts';
import { schedExtOpsOf } from '../../src/sched/ext/bpf-ops.ts';
import { scxKfuncs } from '../../src/sched/ext/kfunc-protos.ts';
import { SimKernel } from '../../src/sched/kernel.ts';

const ROOT = resolve(__dirname, '../..');
const SOURCE = readFileSync(join(ROOT, 'schedulers/fifo-asm.s'), 'utf8');
const machine: Machine = { ...idleMachine(4), isTask: () => true };
const SCX_DSQ_LOCAL = 0x8000000000000002n;

/** The 1-based line of the first line of `source` containing `text`. */
const lineOf = (source: string, text: string): number => source.split('\n').findIndex((l) => l.includes(text)) + 1;

const errorOf = (source: string): string => {
  try {
    assembleObject(source, { file: 'x.s' });
  } catch (e) {
    expect(e).toBeInstanceOf(AsmError);
    return (e as Error).message;
  }
  throw new Error('assembled without an error');
};

/** A minimal scheduler: enqueue only, with `body` as its code. */
const tiny = (body: string, extra = '') => `.license "GPL"\n${extra}.program e\n${body}\n.ops o enqueue=e name="t"\n`;

describe('ElfWriter', () => {
  it('writes what parseElf reads back: sections, local-first symbols, relocations by final index', () => {
    const w = new ElfWriter();
    const code = w.addSection({ name: 'prog', type: SHT_PROGBITS, flags: 6, data: new Uint8Array(16).fill(7), align: 8 });
    const ext = w.addSymbol({ name: 'ext', value: 0, size: 0, type: 0, bind: STB_GLOBAL, shndx: SHN_UNDEF });
    w.addSymbol({ name: 'f', value: 8, size: 8, type: STT_FUNC, bind: STB_GLOBAL, shndx: code });
    w.addSymbol({ name: 'local', value: 0, size: 0, type: 0, bind: STB_LOCAL, shndx: code });
    w.addRelocations(code, [{ offset: 8, type: R_BPF_64_32, symbol: ext }]);
    const elf = parseElf(w.build(), 'w.o');
    expect(elf.sections.map((s) => s.name)).toEqual(['', '.strtab', 'prog', '.relprog', '.symtab']);
    expect([...elf.section('prog')!.data]).toEqual(new Array(16).fill(7));
    // The local symbol was added last but comes first; sh_info names the first global.
    expect(elf.symbols.map((s) => s.name)).toEqual(['', 'local', 'ext', 'f']);
    expect(elf.section('.symtab')!.info).toBe(2);
    const [r] = elf.relocationsFor(code);
    expect(r).toEqual({ offset: 8, type: R_BPF_64_32, symbol: 2 });
    expect(elf.symbols[3]).toMatchObject({ value: 8, size: 8, type: STT_FUNC, shndx: code });
  });
});

describe('BTF.ext writer', () => {
  it('writes func and line info that parseBtfExt reads back, with strings added to .BTF', () => {
    const b = new BtfBuilder();
    const int = b.addInt('int', 4, { signed: true });
    const fn = b.addFunc('f', b.addFuncProto(int, []));
    const { btf: bytes, offsetOf } = withStrings(b.encode(), ['sec', 'a.s', 'exit', 'int']);
    expect(offsetOf('int')).toBe(1); // reused, not added again
    const btf = parseBtf(bytes, 't');
    const ext = parseBtfExt(
      encodeBtfExt(new Map([['sec', [{ insn: 0, typeId: fn }]]]), new Map([['sec', [{ insn: 3, file: 'a.s', line: 12, column: 5, text: 'exit' }]]]), offsetOf),
      't',
      btf,
    );
    expect(ext.funcInfo.get('sec')).toEqual([{ insn: 0, typeId: fn }]);
    expect(ext.lineInfo.get('sec')).toEqual([{ insn: 3, file: 'a.s', line: 12, column: 5, text: 'exit' }]);
  });
});

describe('schedulers/fifo-asm.s as a BPF object', () => {
  const bytes = assembleObject(SOURCE, { file: 'schedulers/fifo-asm.s' });

  it('is the committed schedulers/fifo-asm.bpf.o', () => {
    expect(Buffer.compare(Buffer.from(bytes), readFileSync(join(ROOT, 'schedulers/fifo-asm.bpf.o')))).toBe(0);
  });

  it('opens with its programs, map, struct_ops callbacks and license as written', () => {
    const obj = openObject(bytes, 'fifo-asm.bpf.o');
    expect(obj.license).toBe('GPL');
    expect(obj.programs.map((p) => [p.name, p.section])).toEqual([
      ['fifo_asm_select_cpu', 'struct_ops/fifo_asm_select_cpu'],
      ['fifo_asm_enqueue', 'struct_ops/fifo_asm_enqueue'],
      ['fifo_asm_dispatch', 'struct_ops/fifo_asm_dispatch'],
      ['fifo_asm_init', 'struct_ops.s/fifo_asm_init'],
    ]);
    expect(obj.programs[3].kind).toMatchObject({ type: 'struct_ops', sleepable: true });
    // Each program's code is what the plain assembler makes of its lines (symbolic forms aside).
    const dispatchBody = SOURCE.split('.program fifo_asm_dispatch\n')[1].split('\n\n')[0];
    expect(encode(obj.programs[2].sectionInsns)).toEqual(encode(assemble(dispatchBody.replace('kfunc scx_bpf_dsq_move_to_local', 'local -1'))));
    expect(obj.mapVars.map((v) => obj.btf.mapSpec(v))).toEqual([
      expect.objectContaining({ name: 'stats', type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 }),
    ]);
    expect(obj.structOps).toHaveLength(1);
    expect(obj.structOps[0]).toMatchObject({ name: 'fifo_asm_ops', section: '.struct_ops.link', typeName: 'sched_ext_ops' });
    expect([...obj.structOps[0].callbacks]).toEqual([
      ['select_cpu', 'fifo_asm_select_cpu'],
      ['enqueue', 'fifo_asm_enqueue'],
      ['dispatch', 'fifo_asm_dispatch'],
      ['init', 'fifo_asm_init'],
    ]);
    // The data members the core reads, at the offsets clang gives vmlinux.h's sched_ext_ops.
    expect(obj.structOps[0].data.length).toBe(424);
    expect(obj.structOps[0].fields.get('name')).toEqual({ offset: 296, size: 128, kind: 'array' });
    expect(obj.structOps[0].fields.get('flags')).toEqual({ offset: 272, size: 8, kind: 'int' });
    // kfuncs: undefined globals with FUNC externs in .ksyms, as clang emits them.
    expect(obj.elf.symbols.filter((s) => s.shndx === SHN_UNDEF && s.bind === STB_GLOBAL).map((s) => s.name)).toEqual([
      'scx_bpf_select_cpu_dfl',
      'scx_bpf_dsq_insert',
      'scx_bpf_dsq_move_to_local',
      'scx_bpf_create_dsq',
    ]);
    expect(obj.btf.datasec('.ksyms')!.map((v) => v.name)).toHaveLength(4);
    expect(obj.elf.symbols.find((s) => s.name === 'stats')).toMatchObject({ type: STT_OBJECT, value: 0, size: 32 });
  });

  it('loads, verified in kernel mode, with every instruction mapped to its line of the .s file', () => {
    const loaded = load(openObject(bytes, 'fifo-asm.bpf.o'), new SimKernel(), machine);
    const ops = schedExtOpsOf(loaded);
    expect(ops.name).toBe('fifo_asm');
    expect(ops.has('select_cpu') && ops.has('enqueue') && ops.has('dispatch') && ops.has('init')).toBe(true);
    const prog = loaded.programs.get('fifo_asm_enqueue')!;
    expect(prog.kfuncs).toEqual(['scx_bpf_dsq_insert']);
    expect(prog.insnsProcessed).toBeGreaterThan(0);
    const lock = prog.insns.findIndex((i) => i.opcode === 0xdb);
    const lockLine = lineOf(SOURCE.split('.program fifo_asm_enqueue')[1], 'lock add') + lineOf(SOURCE, '.program fifo_asm_enqueue') - 1;
    expect(prog.lines[lock]).toEqual({ file: 'fifo-asm.s', line: lockLine, column: 5, text: '    lock add [%r0], %r1' });
    // The subprogram `count`, linked after select_cpu's own code, keeps its lines too.
    const sel = loaded.programs.get('fifo_asm_select_cpu')!;
    const subLine = lineOf(SOURCE, 'stxw [%r10-4], %r1');
    expect(sel.lines.some((l) => l?.line === subLine)).toBe(true);
  });

  it('runs: places woken tasks on idle CPUs directly, queues the rest, and counts both in its array map', () => {
    const calls: string[] = [];
    let idle = 1;
    const fake: Record<string, HelperFn> = {
      scx_bpf_create_dsq: (c) => (calls.push(`create_dsq(${c.u64(1)}, ${c.i32(2)})`), 0),
      scx_bpf_select_cpu_dfl: (c) => {
        c.mem.view.setUint8(c.ptr(4), idle);
        return 3;
      },
      scx_bpf_dsq_insert: (c) => (calls.push(`insert(0x${c.u64(2).toString(16)}, ${c.u64(3)}, ${c.u64(4)})`), 0),
      scx_bpf_dsq_move_to_local: (c) => (calls.push(`move_to_local(${c.u64(1)})`), 1),
    };
    const loaded = load(openObject(bytes, 'fifo-asm.bpf.o'), new SimKernel({ scx: () => scxKfuncs(fake) }), machine);
    const ops = schedExtOpsOf(loaded);
    const p = loaded.mem.alloc('task', 64).start;
    expect(ops.call('init')).toBe(0);
    expect(ops.call('select_cpu', p, 1, 0)).toBe(3);
    idle = 0;
    expect(ops.call('select_cpu', p, 1, 0)).toBe(3);
    ops.call('enqueue', p, 8);
    ops.call('enqueue', p, 0);
    ops.call('dispatch', 2, 0);
    expect(calls).toEqual([
      'create_dsq(0, -1)',
      `insert(0x${SCX_DSQ_LOCAL.toString(16)}, 20000000, 0)`,
      'insert(0x0, 20000000, 8)',
      'insert(0x0, 20000000, 0)',
      'move_to_local(0)',
    ]);
    const stats = loaded.maps.get('stats') as ArrayMap;
    const count = (i: number) => loaded.mem.view.getBigUint64(stats.valueAddr(i), true);
    expect([count(0), count(1)]).toEqual([1n, 2n]);
  });
});

describe('assembled objects in the verifier and at run time', () => {
  it('names the .s line of a verifier rejection', () => {
    const src = tiny(
      [
        '    stw [%r10-4], 0',
        '    lddw %r1, map m',
        '    mov %r2, %r10',
        '    add %r2, -4',
        '    call 1',
        '    ldxdw %r1, [%r0]              # r0 may be NULL',
        '    mov %r0, 0',
        '    exit',
      ].join('\n'),
      '.map m array key=4 value=8 max=1\n',
    );
    const bytes = assembleObject(src, { file: 'dir/bad.s' });
    const line = lineOf(src, 'may be NULL');
    expect(() => load(openObject(bytes, 'bad.bpf.o'), new SimKernel(), machine)).toThrow(LoadError);
    expect(() => load(openObject(bytes, 'bad.bpf.o'), new SimKernel(), machine)).toThrow(new RegExp(`NULL.*\\(bad\\.s:${line}\\)$`));
  });

  it('leave kfuncs to the loader, which names one the kernel lacks', () => {
    const bytes = assembleObject(tiny('    mov %r0, 0\n    call kfunc scx_bpf_no_such_kfunc\n    exit'), { file: 'k.s' });
    expect(() => load(openObject(bytes, 'k.bpf.o'), new SimKernel(), machine)).toThrow(/kfunc 'scx_bpf_no_such_kfunc' is not provided/);
  });
});

describe('object directives', () => {
  it('are what makes a source an object; plain sources assemble to bare instructions as before', () => {
    expect(isObjectSource(SOURCE)).toBe(true);
    expect(isObjectSource('mov %r0, 0\nexit\n')).toBe(false);
    expect(isObjectSource('  # .program x\nexit\n')).toBe(false);
    // The symbolic forms exist only in objects.
    expect(() => assemble('lddw %r1, map m\nexit\n', { file: 'p.s' })).toThrow("p.s:1:11: expected a 64-bit immediate, found 'map m'");
    expect(() => assemble('call kfunc foo\nexit\n', { file: 'p.s' })).toThrow("p.s:1:12: expected an immediate, found 'foo'");
    const [call] = parseObject(tiny('    call kfunc foo\n    exit')).programs[0].insns;
    expect(call).toEqual({ opcode: OP_CALL, dst: 0, src: CALL_LOCAL, off: 0, imm: -1 });
  });

  it('declare maps of other types and flags as libbpf encodes them', () => {
    const src = tiny('    mov %r0, 0\n    exit', '.map h hash key=16 value=12 max=64 flags=1\n.map rb ringbuf max=4096\n.map q queue value=8 max=8\n');
    const obj = openObject(assembleObject(src), 'm.o');
    expect(obj.mapVars.map((v) => obj.btf.mapSpec(v))).toEqual([
      expect.objectContaining({ name: 'h', type: MapType.HASH, keySize: 16, valueSize: 12, maxEntries: 64, flags: 1 }),
      expect.objectContaining({ name: 'rb', type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 }),
      expect.objectContaining({ name: 'q', type: MapType.QUEUE, keySize: 0, valueSize: 8, maxEntries: 8 }),
    ]);
    expect(obj.elf.relocationsFor(obj.elf.section('.maps')!.index)).toEqual([]);
    const loaded = load(obj, new SimKernel(), machine);
    expect([...loaded.maps.keys()]).toEqual(['h', 'rb', 'q']);
  });

  it('set struct_ops data members and relocate map references', () => {
    const src = tiny('    lddw %r1, map m\n    mov %r0, 0\n    exit', '.map m array key=4 value=4 max=1\n') + '.ops o flags=4 timeout_ms=5000 dispatch_max_batch=7\n';
    const obj = openObject(assembleObject(src), 'o.o');
    const [r] = obj.elf.relocationsFor(obj.elf.section('struct_ops/e')!.index);
    expect(r).toMatchObject({ offset: 0, type: R_BPF_64_64 });
    expect(obj.elf.symbols[r.symbol].name).toBe('m');
    const ops = schedExtOpsOf(load(obj, new SimKernel(), machine));
    expect([ops.name, ops.flags, ops.timeoutMs, ops.dispatchMaxBatch]).toEqual(['t', 4n, 5000, 7]);
  });

  const cases: [string, string, string][] = [
    ['an instruction before any .program', 'mov %r0, 0\n.program p\nexit\n', "x.s:1:1: expected a .program directive before the first instruction or label, found 'mov'"],
    ['an unknown map type', '.map m arry key=4 value=8 max=1\n', "x.s:1:8: expected a map type (array, hash, percpu_array, queue, ringbuf, ...), found 'arry'"],
    ['a map without max', '.map m array key=4 value=8\n', 'x.s:1:27: expected max=N (max_entries), found end of line'],
    ['a bad map attribute', '.map m array key=4 vale=8 max=1\n', "x.s:1:20: expected a map attribute key=, value=, max= or flags=, found 'vale=8'"],
    ['a size that is not a number', '.map m array key=four value=8 max=1\n', "x.s:1:18: expected a key size in bytes (an unsigned 32-bit number), found 'four'"],
    ['a license without quotes', '.license GPL\n', "x.s:1:10: expected a quoted license string such as \"GPL\", found 'GPL'"],
    ['an unterminated string', '.license "GPL\n', 'x.s:1:14: expected a closing double quote, found end of line'],
    ['an unknown ops member', '.program p\nexit\n.ops o enqueu=p\n', "x.s:3:8: expected a sched_ext_ops member (select_cpu, enqueue, dequeue, dispatch, ..., dispatch_max_batch, flags, timeout_ms, exit_dump_len, hotplug_seq, name) as MEMBER=VALUE, found 'enqueu=p'"],
    ['a callback naming no program', '.program p\nexit\n.ops o enqueue=q\n', "x.s:3:16: expected a program defined with .program for o.enqueue, found 'q'"],
    ['a member set twice', '.program p\nexit\n.ops o enqueue=p\n.ops o enqueue=p\n', "x.s:4:8: expected each member of 'o' set once, found a second 'enqueue'"],
    ['an unquoted name', '.program p\nexit\n.ops o name=fifo\n', "x.s:3:13: expected a quoted name such as \"mine\", found 'fifo'"],
    ['a name too long', `.program p\nexit\n.ops o name="${'n'.repeat(128)}"\n`, 'x.s:3:13: expected a name of at most 127 bytes, found 128 bytes'],
    ['a program defined twice', '.program p\nexit\n.program p\nexit\n', "x.s:3:10: expected a name not defined before (line 1 defines 'p'), found 'p'"],
    ['a map name used by a program', '.map p array key=4 value=4 max=1\n.program p\nexit\n', "x.s:2:10: expected a name not defined before (line 1 defines 'p'), found 'p'"],
    ['an empty program', '.program p\n.program q\nexit\n', "x.s:1:1: expected instructions for program 'p', found none"],
    ['a reference to an undeclared map', '.program p\n  lddw %r1, map nope\nexit\n', "x.s:2:17: expected a map declared with .map, found 'nope'"],
    ['a kfunc named like a program', '.program p\n  call kfunc p\nexit\n', "x.s:2:14: expected a kfunc name (not one defined in this file), found 'p'"],
    ['a bad kfunc name', '.program p\n  call kfunc 9x\nexit\n', "x.s:2:14: expected an immediate, found '9x'"],
    ['a label jumping into another program', '.program p\n  ja done\n.program q\ndone:\n  exit\n', "x.s:2:6: expected a defined label, found 'done'"],
    ['a bad instruction inside a program', '.program p\n  mov %r0, %r99\n  exit\n', "x.s:2:12: expected a register %r0..%r10, found '%r99'"],
    ['a sleepable typo', '.program p sleepy\nexit\n', "x.s:1:12: expected 'sleepable' or end of line, found 'sleepy'"],
    ['ops flags beyond 64 bits', '.program p\nexit\n.ops o flags=0x10000000000000000\n', "x.s:3:14: expected a value for flags (an unsigned 64-bit number), found '0x10000000000000000'"],
    ['a second license', '.license "GPL"\n.license "GPL"\n', "x.s:2:1: expected one .license (line 1 has it), found a second '.license'"],
  ];
  for (const [what, src, message] of cases) {
    it(`reject ${what} with FILE:LINE:COL`, () => {
      expect(errorOf(src)).toBe(message);
    });
  }
});

describe('scx-sim asm', () => {
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/scx-sim.js'), ...args], { encoding: 'utf8', cwd: ROOT });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('writes an object source as a BPF object, the same wherever the source is', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-asm-obj-'));
    writeFileSync(join(dir, 'fifo-asm.s'), SOURCE);
    const r = cli('asm', join(dir, 'fifo-asm.s'));
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${join(dir, 'fifo-asm.bpf.o')}: BPF object, ${readFileSync(join(ROOT, 'schedulers/fifo-asm.bpf.o')).length} bytes\n`);
    expect(Buffer.compare(readFileSync(join(dir, 'fifo-asm.bpf.o')), readFileSync(join(ROOT, 'schedulers/fifo-asm.bpf.o')))).toBe(0);
  });

  it('reports directive errors as FILE:LINE:COL without a stack trace, and refuses an object from a plain source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-asm-err-'));
    writeFileSync(join(dir, 'bad.s'), '.license "GPL"\n.map m arry key=4 value=4 max=1\n');
    const r = cli('asm', join(dir, 'bad.s'));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`scx-sim: ${join(dir, 'bad.s')}:2:8: expected a map type (array, hash, percpu_array, queue, ringbuf, ...), found 'arry'\n`);
    writeFileSync(join(dir, 'plain.s'), 'mov %r0, 0\nexit\n');
    const p = cli('asm', join(dir, 'plain.s'), '-o', join(dir, 'plain.o'));
    expect(p.code).toBe(1);
    expect(p.err).toContain('needs .program directives');
  });
});
