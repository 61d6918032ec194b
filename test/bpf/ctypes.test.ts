import { describe, expect, it } from 'vitest';
import { C, array, define, fieldOf, layout, ptr, struct, union } from '../../src/bpf/ctypes.ts';

describe('C layout for the BPF target', () => {
  it('aligns members naturally and pads the struct to its alignment', () => {
    // char a; (pad 7) u64 b; u16 c; (pad 2) u32 d; char e[3]; (pad 5) -> 32 bytes
    const s = struct('s', [
      ['a', C.char],
      ['b', C.u64],
      ['c', C.u16],
      ['d', C.u32],
      ['e', array(C.char, 3)],
    ]);
    expect(s.members.map((m) => m.offset)).toEqual([0, 8, 16, 20, 24]);
    expect(layout(s)).toEqual({ size: 32, align: 8 });
  });

  it('overlays union members and sizes the union by its largest member', () => {
    const u = union('u', [
      ['x', C.u32],
      ['y', array(C.u16, 5)],
    ]);
    expect(u.members.map((m) => m.offset)).toEqual([0, 0]);
    expect(layout(u)).toEqual({ size: 12, align: 4 });
  });

  it('follows member paths through nested records and arrays', () => {
    const inner = struct('inner', [
      ['a', C.u32],
      ['b', array(C.u64, 4)],
    ]);
    const outer = struct('outer', [
      ['flag', C.bool],
      ['in', inner],
    ]);
    expect(fieldOf(outer, 'in.b[2]').offset).toBe(8 + 8 + 16);
    expect(() => fieldOf(outer, 'in.c')).toThrow("struct inner has no member 'c' (in 'in.c')");
    expect(() => fieldOf(outer, 'in.b[4]')).toThrow("index 4 is past the array's 4 elements");
  });

  it('lets a struct point to itself before it is defined', () => {
    const node = struct('node');
    define(node, [
      ['next', ptr(node)],
      ['v', C.s32],
    ]);
    expect(layout(node)).toEqual({ size: 16, align: 8 });
    expect(() => layout(struct('later'))).toThrow('struct later is used by value before it is defined');
  });
});
