import { describe, expect, it } from 'vitest';
import { CTypeBtfBuilder } from '../../src/bpf/btf-build.ts';
import { encodeBtf, parseBtf } from '../../src/bpf/btf.ts';
import { C, VOID, array, define, enumType, funcProto, ptr, struct, typedef, union } from '../../src/bpf/ctypes.ts';

describe('BTF from C type declarations', () => {
  // struct node { u64 key; const char *name; struct node *next; unsigned int vals[3];
  //               union word { unsigned int w; unsigned short h; } u; enum kind k; };
  const u64 = typedef('u64', C.u64);
  const kind = enumType('kind', [['BIG', 1n << 40n]], 8);
  const word = union('word', [
    ['w', C.u32],
    ['h', C.u16],
  ]);
  const node = struct('node');
  define(node, [
    ['key', u64],
    ['name', ptr(C.char, true)],
    ['next', ptr(node)],
    ['vals', array(C.u32, 3)],
    ['u', word],
    ['k', kind],
  ]);

  it('numbers a type before the types it refers to, and each type once', () => {
    const b = new CTypeBtfBuilder();
    expect(b.add(node)).toBe(1);
    expect(b.add(node)).toBe(1);
    const btf = b.build();
    // Depth first in member order: a const pointer's const follows its pointee; every array
    // has its own `int` index type after its element type.
    expect(btf.types.slice(1).map((t) => `${t.kind} ${t.name}`.trim())).toEqual([
      'struct node',
      'typedef u64',
      'int unsigned long long',
      'ptr',
      'int char',
      'const',
      'ptr',
      'array',
      'int unsigned int',
      'int int',
      'union word',
      'int unsigned short',
      'enum64 kind',
    ]);
    expect(btf.describe(1)).toBe('struct node');
    expect(btf.typeById(4).type).toBe(6);
    expect(btf.typeById(6).type).toBe(5);
    expect(btf.typeById(7).type).toBe(1);
    expect(btf.typeById(8)).toMatchObject({ elemType: 9, indexType: 10, nelems: 3 });
  });

  it('keeps the layout ctypes computed', () => {
    const b = new CTypeBtfBuilder();
    const id = b.add(node);
    const btf = b.build();
    expect(btf.typeById(id).members.map((m) => [m.name, m.bitOffset / 8, btf.describe(m.type)])).toEqual(
      node.members.map((m, i) => [m.name, m.offset, ['u64', 'const char *', 'struct node *', 'unsigned int[3]', 'union word', 'enum kind'][i]]),
    );
    expect(btf.sizeOf(id)).toBe(node.size);
    expect(btf.typeById(btf.findByName('enum64', 'kind')!)).toMatchObject({ size: 8, encoding: 0, values: [{ name: 'BIG', value: 1n << 40n }] });
    expect(btf.typeById(btf.findByName('int', 'char')!)).toMatchObject({ size: 1, bits: 8, encoding: 1 | 2 });
  });

  it('adds kfuncs as global FUNCs and encodes to a BTF that parses back the same', () => {
    const b = new CTypeBtfBuilder();
    const fn = b.addFunc('kf', funcProto(VOID, [{ name: 'n', type: ptr(node) }]));
    const btf = b.build();
    expect(btf.describe(fn)).toBe('void kf(struct node *)');
    expect(btf.typeById(fn).linkage).toBe(1);
    expect(parseBtf(encodeBtf(btf.types), 'again').types).toEqual(btf.types);
  });
});
