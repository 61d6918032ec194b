import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BPF_EXIST, BPF_F_ZERO_SEED, BloomFilterMap, EINVAL, ENOENT, MapType, jhash } from '../../../src/bpf/maps/index.ts';
import { testEnv, u32 } from './env.ts';

function bloom(maxEntries: number, opts: { k?: number; valueSize?: number; flags?: number; name?: string; seed?: number } = {}) {
  const t = testEnv(1, opts.seed ?? 0);
  const m = t.create<BloomFilterMap>({
    name: opts.name ?? 'b',
    type: MapType.BLOOM_FILTER,
    keySize: 0,
    valueSize: opts.valueSize ?? 4,
    maxEntries,
    flags: opts.flags ?? BPF_F_ZERO_SEED,
    mapExtra: BigInt(opts.k ?? 0),
  });
  return { t, m };
}

describe('bloom filter map', () => {
  it('sizes the bit array like bloom_map_alloc: max_entries * k * 7 / 5, at least 64, a power of two', () => {
    expect(bloom(100).m.nrHashFuncs).toBe(5); // map_extra 0: the default
    expect(bloom(100).m.bitsetMask).toBe(1023); // 100 * 5 / 5 * 7 = 700 -> 1024
    expect(bloom(1000).m.bitsetMask).toBe(8191); // 7000 -> 8192
    expect(bloom(10, { k: 3 }).m.bitsetMask).toBe(63); // 30 / 5 * 7 = 42 -> at least 64
    expect(bloom(1, { k: 1 }).m.bitsetMask).toBe(63); // 1 / 5 = 0 -> 64
    expect(bloom(1, { k: 1 }).m.bits.length).toBe(8);
    expect(bloom(100, { k: 15 }).m.nrHashFuncs).toBe(15);
  });

  it('sets the bits jhash chooses, seed + index per hash function', () => {
    const { t, m } = bloom(100, { k: 3 }); // 3 * 100 / 5 * 7 = 420 -> 512 bits
    expect(m.bitsetMask).toBe(511);
    const v = u32(0xcafe);
    expect(m.push(t.put(v), 0)).toBe(0);
    // value_size 4 hashes as one u32 word (jhash2), which is jhash over the same 4 bytes.
    const want = [0, 1, 2].map((i) => jhash(v, 0, 4, i) & 511);
    const set = [...Array(512).keys()].filter((i) => m.bit(i));
    expect(set).toEqual([...new Set(want)].sort((a, b) => a - b));
    // An odd value size hashes the bytes with jhash.
    const odd = bloom(100, { k: 2, valueSize: 3 }); // 200 / 5 * 7 = 280 -> 512 bits
    expect(odd.m.bitsetMask).toBe(511);
    odd.m.push(odd.t.put([1, 2, 3]), 0);
    const wantOdd = [0, 1].map((i) => jhash(Uint8Array.of(1, 2, 3), 0, 3, i) & 511);
    expect([...Array(512).keys()].filter((i) => odd.m.bit(i))).toEqual([...new Set(wantOdd)].sort((a, b) => a - b));
  });

  it('answers -ENOENT only when a bit is clear, so false positives happen exactly where the kernel has them', () => {
    const { t, m } = bloom(1, { k: 1 }); // one hash function over 64 bits
    const bitOf = (n: number): number => jhash(u32(n), 0, 4, 0) & 63;
    m.push(t.put(u32(1)), 0);
    let absent = 2;
    while (bitOf(absent) === bitOf(1)) absent++;
    let collide = 2;
    while (bitOf(collide) !== bitOf(1)) collide++;
    expect(m.peek(t.put(u32(1)))).toBe(0);
    expect(m.peek(t.put(u32(absent)))).toBe(-ENOENT);
    expect(m.peek(t.put(u32(collide)))).toBe(0); // never pushed: a false positive
    expect(m.mayContain(u32(absent))).toBe(false);
  });

  it('has no false negatives', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 15 }),
        fc.constantFrom(4, 5, 8, 13),
        fc.array(fc.uint8Array({ minLength: 13, maxLength: 13 }), { minLength: 1, maxLength: 80 }),
        (maxEntries, k, valueSize, values) => {
          const { t, m } = bloom(maxEntries, { k, valueSize, flags: 0, seed: 7 });
          for (const v of values) expect(m.push(t.put(v.subarray(0, valueSize)), 0)).toBe(0);
          for (const v of values) expect(m.peek(t.put(v.subarray(0, valueSize), 32))).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('takes only BPF_ANY for push and has no pop, lookup or delete', () => {
    const { t, m } = bloom(10);
    expect(m.push(t.put(u32(1)), BPF_EXIST)).toBe(-EINVAL);
    expect(() => m.pop(t.scratch)).toThrow("map 'b' (bloom_filter): bpf_map_pop_elem is not allowed on bloom_filter maps (the verifier rejects it)");
    expect(() => m.pushUser(u32(1), BPF_EXIST)).toThrow("map 'b' (bloom_filter): push: EINVAL (flags 0x2, expected BPF_ANY)");
    expect(() => m.deleteUser(new Uint8Array(0))).toThrow("map 'b' (bloom_filter): delete: EOPNOTSUPP (bloom filters cannot delete)");
    m.updateUser(new Uint8Array(0), u32(9)); // the syscall's update is a push
    expect(m.mayContain(u32(9))).toBe(true);
  });

  it('derives the hash seed from the run seed and the map name, not from randomness', () => {
    const a = bloom(10, { flags: 0, name: 'x', seed: 1 }).m.hashSeed;
    expect(bloom(10, { flags: 0, name: 'x', seed: 1 }).m.hashSeed).toBe(a);
    expect(bloom(10, { flags: 0, name: 'y', seed: 1 }).m.hashSeed).not.toBe(a);
    expect(bloom(10, { flags: 0, name: 'x', seed: 2 }).m.hashSeed).not.toBe(a);
    expect(bloom(10, { flags: BPF_F_ZERO_SEED, name: 'x', seed: 2 }).m.hashSeed).toBe(0);
  });
});
