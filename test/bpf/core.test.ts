import { describe, expect, it } from 'vitest';
import { CoreKind, indexByName, patchInstruction, resolveRelocation, type CoreBtf, type CoreType } from '../../src/bpf/core.ts';
import { assemble } from '../../src/bpf/asm.ts';

/** A tiny BTF built by hand: ids are array positions, 0 is void. */
function btf(types: Partial<CoreType>[]): CoreBtf {
  const all: CoreType[] = [{ kind: 'void' as const }, ...types].map((t) => ({
    kind: 'void' as const,
    name: '',
    size: 0,
    type: 0,
    signed: false,
    members: [],
    nelems: 0,
    values: [],
    params: [],
    ...t,
  }));
  return { count: all.length, type: (id) => all[id] };
}
const m = (name: string, type: number, bitOffset: number, bitSize = 0) => ({ name, type, bitOffset, bitSize });

// Local (what the compiler saw):
//  1 int, 2 u64, 3 struct sched_ext_entity { u64 slice @0; u64 dsq_vtime @64 }
//  4 struct task_struct { int pid @0; struct sched_ext_entity scx @64; unsigned flags:3 @32 }
//  5 unsigned int, 6 enum scx_exit_kind { NONE=0, ERROR=1024 }, 7 struct gone { int x }
const local = btf([
  { kind: 'int', name: 'int', size: 4, signed: true },
  { kind: 'int', name: 'u64', size: 8 },
  { kind: 'struct', name: 'sched_ext_entity', size: 16, members: [m('slice', 2, 0), m('dsq_vtime', 2, 64)] },
  { kind: 'struct', name: 'task_struct', size: 24, members: [m('pid', 1, 0), m('scx', 3, 64), m('flags', 5, 32, 3)] },
  { kind: 'int', name: 'unsigned int', size: 4 },
  { kind: 'enum', name: 'scx_exit_kind', size: 4, values: [{ name: 'SCX_EXIT_NONE', value: 0n }, { name: 'SCX_EXIT_ERROR', value: 1024n }] },
  { kind: 'struct', name: 'gone', size: 4, members: [m('x', 1, 0)] },
]);
// Target (the simulated kernel): fields in another order, scx inside an anonymous union,
// flags a full u32, dsq_vtime before slice, an extra enumerator, no struct gone.
//  1 int, 2 u64, 3 struct sched_ext_entity { u64 dsq_vtime @0; u64 pad @64; u64 slice @128 }
//  4 union (anon) { struct sched_ext_entity scx } 5 unsigned int
//  6 struct task_struct { u64 junk @0; unsigned flags @64; int pid @96; union {scx} @128 }
//  7 enum scx_exit_kind { DONE=1, NONE=0, ERROR=1024 }
const target = btf([
  { kind: 'int', name: 'int', size: 4, signed: true },
  { kind: 'int', name: 'u64', size: 8 },
  { kind: 'struct', name: 'sched_ext_entity', size: 24, members: [m('dsq_vtime', 2, 0), m('pad', 2, 64), m('slice', 2, 128)] },
  { kind: 'union', name: '', size: 24, members: [m('scx', 3, 0)] },
  { kind: 'int', name: 'unsigned int', size: 4 },
  { kind: 'struct', name: 'task_struct', size: 40, members: [m('junk', 2, 0), m('flags', 5, 64), m('pid', 1, 96), m('', 4, 128)] },
  {
    kind: 'enum',
    name: 'scx_exit_kind',
    size: 4,
    values: [{ name: 'SCX_EXIT_DONE', value: 1n }, { name: 'SCX_EXIT_NONE', value: 0n }, { name: 'SCX_EXIT_ERROR', value: 1024n }],
  },
]);
const index = indexByName(target);
const resolve = (typeId: number, access: string, kind: number) => resolveRelocation({ insn: 0, typeId, access, kind }, local, target, index);

describe('CO-RE relocation by member name', () => {
  it('finds fields at their target offsets, through anonymous unions', () => {
    expect(resolve(4, '0:0', CoreKind.FIELD_BYTE_OFFSET)).toMatchObject({ value: 12n, local: 0n, spec: 'struct task_struct.pid' });
    // scx.slice: union at 16 bytes + slice at 16 bytes.
    expect(resolve(4, '0:1:0', CoreKind.FIELD_BYTE_OFFSET)).toMatchObject({ value: 32n, local: 8n, spec: 'struct task_struct.scx.slice' });
    expect(resolve(4, '0:1:1', CoreKind.FIELD_BYTE_OFFSET).value).toBe(16n);
    expect(resolve(4, '0:1:1', CoreKind.FIELD_BYTE_SIZE).value).toBe(8n);
    expect(resolve(4, '0:0', CoreKind.FIELD_SIGNED).value).toBe(1n);
  });

  it('computes bitfield loads and shifts', () => {
    // Local flags:3 at bit 32: 4-byte load at offset 4; lshift = 64 - (32+3-32) = 61, rshift = 61.
    expect(resolve(4, '0:2', CoreKind.FIELD_BYTE_OFFSET).local).toBe(4n);
    // Target flags is a whole unsigned int at bit 64: byte 8, 4 bytes, shifts 32 and 32.
    expect(resolve(4, '0:2', CoreKind.FIELD_BYTE_OFFSET).value).toBe(8n);
    expect(resolve(4, '0:2', CoreKind.FIELD_LSHIFT_U64)).toMatchObject({ value: 32n, local: 61n });
    expect(resolve(4, '0:2', CoreKind.FIELD_RSHIFT_U64)).toMatchObject({ value: 32n, local: 61n });
  });

  it('answers existence questions with 0 and poisons what cannot resolve', () => {
    expect(resolve(7, '0:0', CoreKind.FIELD_EXISTS).value).toBe(0n);
    expect(resolve(7, '0', CoreKind.TYPE_EXISTS).value).toBe(0n);
    const poisoned = resolve(7, '0:0', CoreKind.FIELD_BYTE_OFFSET);
    expect(poisoned.value).toBeNull();
    expect(poisoned.failure).toBe('no struct gone.x in the kernel BTF');
  });

  it('resolves enum values and type facts by name', () => {
    expect(resolve(6, '1', CoreKind.ENUMVAL_VALUE)).toMatchObject({ value: 1024n, spec: 'enum scx_exit_kind::SCX_EXIT_ERROR' });
    expect(resolve(6, '0', CoreKind.ENUMVAL_EXISTS).value).toBe(1n);
    expect(resolve(4, '0', CoreKind.TYPE_SIZE)).toMatchObject({ value: 40n, local: 24n });
    expect(resolve(4, '0', CoreKind.TYPE_ID_TARGET).value).toBe(6n);
    expect(resolve(4, '0', CoreKind.TYPE_ID_LOCAL).value).toBe(4n);
    expect(resolve(1, '0', CoreKind.TYPE_MATCHES).value).toBe(1n);
  });

  it('ignores ___flavour suffixes and reports ambiguity', () => {
    const flavoured = btf([
      { kind: 'int', name: 'int', size: 4, signed: true },
      { kind: 'struct', name: 'task_struct___old', size: 4, members: [m('pid', 1, 0)] },
    ]);
    expect(resolveRelocation({ insn: 0, typeId: 2, access: '0:0', kind: CoreKind.FIELD_BYTE_OFFSET }, flavoured, target, index).value).toBe(12n);
    const twoKernels = btf([
      { kind: 'int', name: 'int', size: 4, signed: true },
      { kind: 'struct', name: 'task_struct', size: 8, members: [m('pid', 1, 0)] },
      { kind: 'struct', name: 'task_struct___v2', size: 8, members: [m('x', 1, 0), m('pid', 1, 32)] },
    ]);
    expect(() => resolveRelocation({ insn: 0, typeId: 4, access: '0:0', kind: CoreKind.FIELD_BYTE_OFFSET }, local, twoKernels, indexByName(twoKernels))).toThrow(
      'byte_off relocation for struct task_struct.pid is ambiguous: kernel types 2 and 3 give 0 and 4',
    );
  });

  it('patches loads, ALU immediates and lddw, adjusting the access size to the kernel field', () => {
    const insns = assemble('ldxw %r0, [%r1+4]\nadd %r1, 8\nlddw %r2, 24\nexit\n');
    expect(patchInstruction(insns, 0, { value: 8n, local: 4n, localSize: 4, targetSize: 8, spec: '' })).toBeNull();
    expect(insns[0]).toMatchObject({ opcode: 0x79, off: 8 });
    expect(patchInstruction(insns, 1, { value: 32n, local: 8n, spec: '' })).toBeNull();
    expect(insns[1].imm).toBe(32);
    expect(patchInstruction(insns, 2, { value: 40n, local: 24n, spec: '' })).toBeNull();
    expect(insns[2].imm).toBe(40);
    expect(patchInstruction(insns, 1, { value: 1n, local: 8n, spec: '' })).toBe('the immediate is 32, but the relocation expected 8');
    expect(patchInstruction(insns, 2, { value: null, local: 40n, spec: '' })).toBeNull();
    expect(insns[2]).toMatchObject({ opcode: 0x85, imm: 0xbad2310 });
    expect(insns[3]).toMatchObject({ opcode: 0x05, off: 0 });
  });
});
