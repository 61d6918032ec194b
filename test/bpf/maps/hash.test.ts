import { describe, expect, it } from 'vitest';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_NO_PREALLOC,
  BPF_NOEXIST,
  E2BIG,
  EEXIST,
  EINVAL,
  ENOENT,
  HashMap,
  MapType,
} from '../../../src/bpf/maps/index.ts';
import { hex, testEnv, u32, u64 } from './env.ts';

describe('hash map', () => {
  it('honours BPF_NOEXIST, BPF_EXIST and BPF_ANY (check_flags)', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.HASH, maxEntries: 4 });
    const k = t.put(u32(42));
    const v = t.put(u64(1), 64);
    expect(m.update(k, v, BPF_EXIST)).toBe(-ENOENT);
    expect(m.update(k, v, BPF_NOEXIST)).toBe(0);
    expect(m.update(k, v, BPF_NOEXIST)).toBe(-EEXIST);
    t.put(u64(2), 64);
    expect(m.update(k, v, BPF_EXIST)).toBe(0);
    expect(hex(m.lookupUser(u32(42)))).toBe('0200000000000000');
    t.put(u64(3), 64);
    expect(m.update(k, v, BPF_ANY)).toBe(0);
    expect(hex(m.lookupUser(u32(42)))).toBe('0300000000000000');
    expect(m.update(k, v, 3)).toBe(-EINVAL);
    expect(m.update(k, v, 2 ** 32)).toBe(-EINVAL); // a flag bit above 32 is still unknown
    expect(m.update(k, v, BPF_F_LOCK)).toBe(-EINVAL); // no spin lock in the value
    expect(m.size).toBe(1);
  });

  it('refuses a new key when full with E2BIG but still replaces existing keys', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.HASH, maxEntries: 2 });
    const v = t.put(u64(9), 64);
    expect(m.update(t.put(u32(1)), v, BPF_ANY)).toBe(0);
    expect(m.update(t.put(u32(2)), v, BPF_ANY)).toBe(0);
    expect(m.update(t.put(u32(3)), v, BPF_ANY)).toBe(-E2BIG);
    expect(m.update(t.put(u32(2)), v, BPF_ANY)).toBe(0);
    expect(m.delete(t.put(u32(3)))).toBe(-ENOENT);
    expect(m.delete(t.put(u32(1)))).toBe(0);
    expect(m.update(t.put(u32(3)), v, BPF_ANY)).toBe(0);
    expect(() => m.updateUser(u32(4), u64(0))).toThrow("map 'm' (hash): update: E2BIG (map is full (max_entries 2))");
    expect(() => m.updateUser(u32(3), u64(0), BPF_NOEXIST)).toThrow("map 'm' (hash): update: EEXIST (key exists and flags has BPF_NOEXIST)");
    expect(() => m.deleteUser(u32(7))).toThrow("map 'm' (hash): delete: ENOENT (no such key)");
    expect(() => m.lookupUser(u64(1))).toThrow("map 'm' (hash): key of 8 bytes, expected 4");
  });

  it('keeps a value at one address for the life of its element and updates in place', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.HASH, maxEntries: 8 });
    const k = t.put(u32(5));
    m.update(k, t.put(u64(1), 64), BPF_ANY);
    const a = m.lookup(k);
    t.mem.view.setBigUint64(a, 77n, true);
    expect(hex(m.lookupUser(u32(5)))).toBe('4d00000000000000');
    m.update(k, t.put(u64(2), 64), BPF_ANY);
    expect(m.lookup(k)).toBe(a);
    expect(t.mem.view.getBigUint64(a, true)).toBe(2n);
    // The key sits right before the value (what bpf_timer callbacks are given).
    expect(m.keyAddrOfValue(a)).toBe(a - 8);
    expect(t.mem.view.getUint32(a - 8, true)).toBe(5);
    // A freed slot is reused by the next insertion (LIFO free list).
    m.delete(k);
    expect(m.lookup(k)).toBe(0);
    m.updateUser(u32(6), u64(3));
    expect(m.lookup(t.put(u32(6)))).toBe(a);
  });

  it('iterates keys in insertion order; re-inserting moves a key to the end', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.HASH, maxEntries: 8 });
    for (const k of [30, 10, 20]) m.updateUser(u32(k), u64(k));
    m.updateUser(u32(10), u64(11)); // an update keeps the position
    expect(m.keys().map(hex)).toEqual(['1e000000', '0a000000', '14000000']);
    m.deleteUser(u32(30));
    m.updateUser(u32(30), u64(1));
    expect(m.keys().map(hex)).toEqual(['0a000000', '14000000', '1e000000']);
    expect(m.dump().map((e) => [hex(e.key), hex(e.value)])).toEqual([
      ['0a000000', '0b00000000000000'],
      ['14000000', '1400000000000000'],
      ['1e000000', '0100000000000000'],
    ]);
  });

  it('compares whole keys of any size, including odd ones', () => {
    const t = testEnv();
    for (const keySize of [1, 3, 13, 40]) {
      const m = t.create<HashMap>({ type: MapType.HASH, keySize, valueSize: 4, maxEntries: 64 });
      const key = (i: number): Uint8Array => Uint8Array.from({ length: keySize }, (_, j) => (j === keySize - 1 ? i : 7));
      for (let i = 0; i < 50; i++) m.updateUser(key(i), u32(i * 3));
      for (let i = 0; i < 50; i++) expect(hex(m.lookupUser(key(i)))).toBe(hex(u32(i * 3)));
      expect(m.lookupUser(key(200))).toBeUndefined();
      expect(m.keyStride).toBe(Math.ceil(keySize / 8) * 8);
    }
  });

  it('grows a BPF_F_NO_PREALLOC map on demand without moving existing values', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.HASH, maxEntries: 1000, flags: BPF_F_NO_PREALLOC });
    const addrs: number[] = [];
    for (let i = 0; i < 1000; i++) {
      expect(m.update(t.put(u32(i)), t.put(u64(i), 64), BPF_NOEXIST)).toBe(0);
      addrs.push(m.lookup(t.put(u32(i))));
    }
    expect(m.update(t.put(u32(1000)), t.put(u64(0), 64), BPF_ANY)).toBe(-E2BIG);
    for (let i = 0; i < 1000; i++) {
      const a = m.lookup(t.put(u32(i)));
      expect(a).toBe(addrs[i]);
      expect(t.mem.view.getBigUint64(a, true)).toBe(BigInt(i));
    }
  });

  it('keeps per-CPU values apart (percpu_hash)', () => {
    const t = testEnv(2);
    const m = t.create<HashMap>({ type: MapType.PERCPU_HASH, valueSize: 4, maxEntries: 4 });
    const k = t.put(u32(1));
    t.setCpu(1);
    // A new element from a program: this CPU's copy set, the others zeroed (pcpu_init_value).
    expect(m.update(k, t.put(u32(0xaa), 64), BPF_ANY)).toBe(0);
    expect(hex(m.lookupUser(u32(1)))).toBe('0000000000000000' + 'aa00000000000000');
    const a1 = m.lookup(k);
    t.setCpu(0);
    const a0 = m.lookup(k);
    expect(a1 - a0).toBe(8);
    t.mem.view.setUint32(a0, 0xbb, true);
    expect(m.update(k, t.put(u32(0xcc), 64), BPF_EXIST)).toBe(0); // CPU 0's copy only
    expect(m.lookupUserPerCpu(u32(1))!.map(hex)).toEqual(['cc000000', 'aa000000']);
    expect(m.lookupPercpu(k, 1)).toBe(a1);
    expect(m.lookupPercpu(k, 2)).toBe(0);
    expect(m.update(k, t.put(u32(0), 64), BPF_F_LOCK)).toBe(-EINVAL);
    // The syscall writes every CPU's padded value.
    const all = Uint8Array.of(1, 0, 0, 0, 9, 9, 9, 9, 2, 0, 0, 0, 8, 8, 8, 8);
    m.updateUser(u32(2), all);
    expect(hex(m.lookupUser(u32(2)))).toBe(hex(all));
  });

  it('releases special fields on delete and overwrite, keeps them under BPF_F_LOCK', () => {
    const t = testEnv();
    const fields = [
      { kind: 'spin_lock' as const, offset: 0, size: 4 },
      { kind: 'timer' as const, offset: 8, size: 16 },
    ];
    const m = t.create<HashMap>({ type: MapType.HASH, valueSize: 32, maxEntries: 4, fields });
    m.updateUser(u32(1), new Uint8Array(32).fill(1));
    const v = m.lookup(t.put(u32(1)));
    t.mem.bytes.fill(0xee, v + 8, v + 24);
    expect(m.update(t.put(u32(1)), t.put(new Uint8Array(32).fill(2), 64), BPF_F_LOCK)).toBe(0);
    expect(t.released).toEqual([]); // in place, timer kept
    expect(t.mem.bytes[v + 8]).toBe(0xee);
    expect(t.mem.bytes[v + 4]).toBe(2);
    expect(m.update(t.put(u32(1)), t.put(new Uint8Array(32).fill(3), 64), BPF_ANY)).toBe(0);
    expect(t.released).toEqual([v]);
    expect(t.mem.bytes[v + 8]).toBe(0);
    t.mem.bytes.fill(0xee, v + 8, v + 24);
    m.deleteUser(u32(1));
    expect(t.released).toEqual([v, v]);
    expect(t.mem.bytes[v + 8]).toBe(0);
  });

  it('lets bpf_for_each_map_elem callbacks delete elements', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.HASH, maxEntries: 8 });
    for (const k of [1, 2, 3, 4]) m.updateUser(u32(k), u64(k * 10));
    const seen: number[] = [];
    const n = m.forEachElem((k, v) => {
      const key = t.mem.view.getUint32(k, true);
      seen.push(key);
      expect(t.mem.view.getBigUint64(v, true)).toBe(BigInt(key * 10));
      if (key === 1) m.delete(k); // the current element
      if (key === 2) m.delete(t.put(u32(3), 100)); // a later one: skipped
      return 0;
    });
    expect(seen).toEqual([1, 2, 4]);
    expect(n).toBe(3);
    expect(m.keys().map(hex)).toEqual(['02000000', '04000000']);
  });
});
