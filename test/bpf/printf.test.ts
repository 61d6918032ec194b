import { describe, expect, it } from 'vitest';
import { AddressSpace } from '../../src/bpf/memory.ts';
import { bpfFormat, readCString } from '../../src/bpf/printf.ts';

describe('bpf printf', () => {
  const mem = new AddressSpace();
  const str = mem.place('str', new TextEncoder().encode('comm\0tail'));

  it('formats integers with the kernel conversions and length modifiers', () => {
    expect(bpfFormat('%d %u %x %X %o', [-1n, 4294967295n, 255n, 255n, 8n], mem)).toBe('-1 4294967295 ff FF 10');
    // Without l/ll a conversion takes the low 32 bits.
    expect(bpfFormat('%d|%lld|%llu', [0xffffffff_00000005n, -1n, -1n], mem)).toBe('5|-1|18446744073709551615');
    expect(bpfFormat('%hhu %hd', [0x1ffn, 0x18000n], mem)).toBe('255 -32768');
  });

  it('applies width, precision and flags', () => {
    expect(bpfFormat('[%5d][%-5d][%05d][%+d][%#x][%.3u]', [42n, 42n, -42n, 7n, 255n, 7n], mem)).toBe('[   42][42   ][-0042][+7][0xff][007]');
  });

  it('reads strings from memory and marks bad pointers', () => {
    expect(bpfFormat('task %s!', [BigInt(str.start)], mem)).toBe('task comm!');
    expect(bpfFormat('%.2s', [BigInt(str.start)], mem)).toBe('co');
    expect(bpfFormat('%s', [0n], mem)).toBe('(efault)');
    expect(bpfFormat('%p %c%%', [0x1234n, 65n], mem)).toBe('0x1234 A%');
  });

  it('rejects what the kernel rejects', () => {
    expect(() => bpfFormat('%f', [1n], mem)).toThrow("unsupported conversion %f in format '%f'");
    expect(() => bpfFormat('%d %d', [1n], mem)).toThrow("format '%d %d' needs more than 1 arguments");
  });

  it('stops C strings at NUL, the limit, or unmapped memory', () => {
    expect(readCString(mem, str.start)).toBe('comm');
    expect(readCString(mem, str.start, 2)).toBe('co');
    expect(readCString(mem, 16)).toBeNull();
  });
});
