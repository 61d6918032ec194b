import { describe, expect, it } from 'vitest';
import { assemble } from '../../../src/bpf/asm.ts';
import { helperTable } from '../../../src/bpf/helpers.ts';
import { OP_EXIT, OP_LDDW, type Insn } from '../../../src/bpf/isa.ts';
import { checkStructure, type StructureOptions } from '../../../src/bpf/verifier/structure.ts';

const check = (src: string, options?: StructureOptions) => checkStructure(assemble(src), options);
const rejects = (src: string, message: string, options?: StructureOptions) =>
  expect(() => check(src, options)).toThrow(message);

describe('structural checks', () => {
  it('accepts a minimal program and reports its subprograms', () => {
    const shape = check('mov %r0, 0\ncall local f\nexit\nf:\nmov %r0, 1\nexit\n');
    expect(shape.subprogs).toEqual([0, 3]);
    expect(shape.reachable).toEqual([true, true, true, true, true]);
  });

  it('rejects an empty program', () => {
    expect(() => checkStructure([])).toThrow('the program has no instructions');
  });

  it('rejects execution falling off the end', () => {
    rejects('mov %r0, 0\n', 'instruction 0 (mov %r0, 0): execution falls off the end of the program');
    rejects('mov %r0, 0\njeq %r0, 0, -2\n', 'instruction 1 (jeq %r0, 0, -2): execution falls off the end');
  });

  it('rejects jumps outside the program or into the middle of lddw', () => {
    rejects('mov %r0, 0\nja +5\nexit\n', 'instruction 1 (ja +5): jump target 7 is outside the program (0..2)');
    rejects('mov %r0, 0\nja +1\nlddw %r0, 1\nexit\n', 'instruction 1 (ja +1): jump target 3 is the second half of the lddw at 2');
  });

  it('rejects a truncated or malformed lddw', () => {
    const lddw: Insn = { opcode: OP_LDDW, dst: 0, src: 0, off: 0, imm: 1 };
    expect(() => checkStructure([lddw])).toThrow('lddw is missing its second slot');
    const badSecond: Insn = { opcode: 0, dst: 1, src: 0, off: 0, imm: 0 };
    const exit: Insn = { opcode: OP_EXIT, dst: 0, src: 0, off: 0, imm: 0 };
    expect(() => checkStructure([lddw, badSecond, exit])).toThrow('instruction 0 (.insn opcode=0x18 dst=0 src=0 off=0 imm=1): the second slot of lddw must have opcode, registers and offset 0');
  });

  it('requires r0 to be set on every path to exit', () => {
    rejects('exit\n', 'instruction 0 (exit): r0 is not set at exit');
    rejects('jeq %r1, 0, +1\nmov %r0, 1\nexit\n', 'instruction 2 (exit): r0 is not set at exit');
    check('mov %r0, 0\njeq %r1, 0, +1\nmov %r0, 1\nexit\n');
  });

  it('rejects reads of registers no path has written', () => {
    rejects('mov %r0, %r3\nexit\n', 'instruction 0 (mov %r0, %r3): r3 is read before it is written');
    rejects('or %r0, %r10\nexit\n', 'r0 is read before it is written');
    // r1 holds ctx at entry; r2 only when the caller says it passes two arguments.
    check('mov %r0, %r1\nexit\n');
    rejects('mov %r0, %r2\nexit\n', 'r2 is read before it is written');
    check('mov %r0, %r2\nexit\n', { entryArgs: 2 });
  });

  it('treats r1..r5 as scratched by calls and r6..r9 as unset in a callee', () => {
    rejects('mov %r1, 1\ncall 5\nmov %r0, %r1\nexit\n', 'instruction 2 (mov %r0, %r1): r1 is read before it is written');
    rejects('mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\nexit\n', 'instruction 3 (mov %r0, %r6): r6 is read before it is written');
    check('mov %r6, 1\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r0, %r5\nexit\n');
  });

  it('keeps r10 read-only', () => {
    rejects('mov %r10, 0\nmov %r0, 0\nexit\n', 'instruction 0 (mov %r10, 0): r10 is the frame pointer and is read-only');
    rejects('mov %r0, 0\nldxdw %r10, [%r1]\nexit\n', 'r10 is the frame pointer and is read-only');
  });

  it('keeps control flow inside each subprogram', () => {
    rejects('mov %r0, 0\ncall local f\nf:\nmov %r0, 1\nexit\n', 'instruction 1 (call local +0): execution falls through into the subprogram at 2');
    rejects('mov %r0, 0\ncall local f\nja g\nf:\nmov %r0, 1\ng:\nexit\n', 'instruction 2 (ja +1): jump to 4 leaves its subprogram (which starts at 0)');
  });

  it('checks helper and kfunc ids against the tables it is given', () => {
    const helpers = helperTable([{ id: 5, name: 'ktime_get_ns', fn: () => 0 }]);
    check('call 5\nexit\n', { helpers });
    rejects('call 6\nexit\n', 'instruction 0 (call 6): unknown helper id 6', { helpers });
    rejects('call kfunc 77\nexit\n', 'unknown kfunc BTF id 77', { kfuncs: new Map() });
  });

  it('needs a loader for map and BTF lddw forms', () => {
    rejects('lddw %r1, map_fd 3\nmov %r0, 0\nexit\n', 'lddw of a map or BTF object needs an object loader');
    check('lddw %r1, map_fd 3\nmov %r0, 0\nexit\n', { pseudoResolved: true });
  });

  it('rejects in kernel mode what the ISA allows but Linux does not', () => {
    const cases: [string, string][] = [
      ['mov %r0, 0\nja +1\nmov %r0, 1\nexit\n', 'instruction 2 (mov %r0, 1): unreachable instruction'],
      ['mov %r0, 1\ndiv %r0, 0\nexit\n', 'division by zero'],
      ['mov %r0, 1\nmod32 %r0, 0\nexit\n', 'division by zero'],
      ['mov %r0, 1\nlsh %r0, 64\nexit\n', 'invalid shift by 64 (must be 0..63)'],
      ['mov %r0, 1\narsh32 %r0, -1\nexit\n', 'invalid shift by -1 (must be 0..31)'],
      ['mov %r2, 5\ncallx %r2\nexit\n', 'callx is not supported by the kernel verifier'],
    ];
    for (const [src, message] of cases) {
      rejects(src, message, { mode: 'kernel' });
      check(src, { mode: 'permissive' });
    }
  });

  it('marks unreachable instructions in permissive mode instead of rejecting them', () => {
    const shape = check('mov %r0, 0\nja +1\nmov %r0, 1\nexit\n', { mode: 'permissive' });
    expect(shape.reachable).toEqual([true, true, false, true]);
  });
});
