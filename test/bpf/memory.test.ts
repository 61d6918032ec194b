import { describe, expect, it } from 'vitest';
import { MAX_CALL_FRAMES, STACK_SIZE } from '../../src/bpf/isa.ts';
import { AddressSpace, GUARD_SIZE, PAGE_SIZE, codeAddress, slotOfCodeAddress } from '../../src/bpf/memory.ts';

describe('AddressSpace', () => {
  it('leaves the low guard unmapped and lays out eight 512-byte stack frames', () => {
    const mem = new AddressSpace();
    expect(mem.checkAccess(0n, 1, false)).toBe('read of 1 byte at 0x0: NULL pointer dereference');
    expect(mem.checkAccess(BigInt(GUARD_SIZE - 8), 8, false)).toContain('NULL pointer dereference');
    for (let d = 0; d < MAX_CALL_FRAMES; d++) {
      const fp = mem.framePointer(d);
      expect(mem.regionAt(fp - STACK_SIZE, STACK_SIZE)?.name).toBe(`stack frame ${d}`);
    }
    // A frame's bytes do not spill into its neighbour: an 8-byte access straddling two frames faults.
    expect(mem.checkAccess(BigInt(mem.framePointer(0) - 4), 8, true)).toContain('crosses the end of stack frame 0');
  });

  it('places aligned regions in address order, growing the memory and keeping its contents', () => {
    const mem = new AddressSpace(PAGE_SIZE);
    const a = mem.place('a', Uint8Array.of(1, 2, 3));
    const big = mem.alloc('big', 5 * PAGE_SIZE, { align: 64 });
    expect(big.start % 64).toBe(0);
    expect(big.start).toBeGreaterThanOrEqual(a.end);
    expect(mem.memory.buffer.byteLength).toBeGreaterThanOrEqual(big.end);
    expect([...mem.bytes.subarray(a.start, a.end)]).toEqual([1, 2, 3]);
    expect(mem.regionAt(big.end - 1, 1)).toBe(big);
    expect(mem.regionAt(big.end - 1, 2)).toBeUndefined();
  });

  it('refuses writes to read-only regions and addresses beyond 32 bits', () => {
    const mem = new AddressSpace();
    const ro = mem.place('rodata', Uint8Array.of(9), { writable: false });
    expect(mem.checkAccess(BigInt(ro.start), 1, false)).toBeNull();
    expect(mem.checkAccess(BigInt(ro.start), 1, true)).toContain('rodata is read-only');
    expect(mem.checkAccess(1n << 40n, 1, false)).toContain('outside the 32-bit address space');
  });

  it('keeps the helper call area out of the program-visible regions', () => {
    const mem = new AddressSpace();
    expect(mem.checkAccess(BigInt(mem.callArea), 8, true)).toBe(`write of 8 bytes at 0x${mem.callArea.toString(16)}: not mapped`);
  });

  it('maps code addresses to slots and back', () => {
    expect(slotOfCodeAddress(codeAddress(17))).toBe(17);
    expect(slotOfCodeAddress(codeAddress(17) + 1n)).toBe(-1);
    expect(slotOfCodeAddress(5n)).toBe(-1);
  });
});
