import { describe, expect, it } from 'vitest';
import { BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, EEXIST, EINVAL, HashMap, MapType } from '../../../src/bpf/maps/index.ts';
import { hex, testEnv, u32, u64 } from './env.ts';

const keyHex = (n: number): string => hex(u32(n))!;

describe('LRU hash map (exact LRU)', () => {
  it('evicts the least recently used element when a new key arrives in a full map', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.LRU_HASH, maxEntries: 3 });
    for (const k of [1, 2, 3]) m.updateUser(u32(k), u64(k));
    m.updateUser(u32(4), u64(4));
    expect(m.keys().map(hex)).toEqual([2, 3, 4].map(keyHex));
    m.updateUser(u32(5), u64(5));
    expect(m.keys().map(hex)).toEqual([3, 4, 5].map(keyHex));
    expect(m.size).toBe(3);
  });

  it('counts program lookups and all updates as use, but not user-space lookups', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.LRU_HASH, maxEntries: 3 });
    for (const k of [1, 2, 3]) m.updateUser(u32(k), u64(k));
    expect(m.lookup(t.put(u32(1)))).not.toBe(0); // 1 becomes most recent
    m.lookupUser(u32(2)); // no effect, as htab_lru_map_lookup_elem_sys
    expect(m.lruOrder().map(hex)).toEqual([2, 3, 1].map(keyHex));
    m.update(t.put(u32(2)), t.put(u64(22), 64), BPF_EXIST);
    expect(m.lruOrder().map(hex)).toEqual([3, 1, 2].map(keyHex));
    m.update(t.put(u32(9)), t.put(u64(9), 64), BPF_ANY); // evicts 3
    expect(m.lookupUser(u32(3))).toBeUndefined();
    expect(m.lruOrder().map(hex)).toEqual([1, 2, 9].map(keyHex));
    // Iteration order stays insertion order, independent of recency.
    expect(m.keys().map(hex)).toEqual([1, 2, 9].map(keyHex));
  });

  it('reuses the evicted element slot, so the new value takes its address', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.LRU_HASH, maxEntries: 2 });
    m.updateUser(u32(1), u64(1));
    m.updateUser(u32(2), u64(2));
    const a1 = m.lookup(t.put(u32(1)));
    m.lookup(t.put(u32(2)));
    m.updateUser(u32(3), u64(3));
    expect(m.lookup(t.put(u32(3)))).toBe(a1);
    expect(t.mem.view.getBigUint64(a1, true)).toBe(3n);
  });

  it('does not evict when an update fails its flags check or replaces a key', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.LRU_HASH, maxEntries: 2 });
    m.updateUser(u32(1), u64(1));
    m.updateUser(u32(2), u64(2));
    expect(m.update(t.put(u32(2)), t.put(u64(5), 64), BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.update(t.put(u32(2)), t.put(u64(5), 64), BPF_ANY)).toBe(0);
    expect(m.keys().map(hex)).toEqual([1, 2].map(keyHex));
    // LRU maps take no BPF_F_LOCK (htab_lru_map_update_elem: flags > BPF_EXIST).
    expect(m.update(t.put(u32(2)), t.put(u64(5), 64), BPF_F_LOCK)).toBe(-EINVAL);
  });

  it('releases the special fields of an evicted element', () => {
    const t = testEnv();
    const m = t.create<HashMap>({ type: MapType.LRU_HASH, valueSize: 16, maxEntries: 1, fields: [{ kind: 'kptr', offset: 8, size: 8 }] });
    m.updateUser(u32(1), new Uint8Array(16));
    const v = m.lookup(t.put(u32(1)));
    t.mem.view.setUint32(v + 8, 0x1234, true);
    m.updateUser(u32(2), new Uint8Array(16));
    expect(t.released).toEqual([v]);
    expect(t.mem.view.getUint32(v + 8, true)).toBe(0);
  });

  it('works per CPU too (lru_percpu_hash)', () => {
    const t = testEnv(2);
    const m = t.create<HashMap>({ type: MapType.LRU_PERCPU_HASH, valueSize: 8, maxEntries: 2 });
    t.setCpu(1);
    for (const k of [1, 2]) m.update(t.put(u32(k)), t.put(u64(k), 64), BPF_ANY);
    m.lookupPercpu(t.put(u32(1)), 0); // counts as use
    m.update(t.put(u32(3)), t.put(u64(3), 64), BPF_ANY);
    expect(m.keys().map(hex)).toEqual([1, 3].map(keyHex));
    expect(m.lookupUserPerCpu(u32(3))!.map(hex)).toEqual(['0000000000000000', '0300000000000000']);
  });
});
