import { describe, expect, it } from 'vitest';
import { BPF_EXIST, BPF_F_NO_PREALLOC, BPF_NOEXIST, EINVAL, ENOENT, LocalStorageMap, MapType } from '../../../src/bpf/maps/index.ts';
import { hex, testEnv, u32, u64 } from './env.ts';

function storage(fields?: { kind: 'kptr'; offset: number; size: number }[]) {
  const t = testEnv();
  const m = t.create<LocalStorageMap>({ name: 'task_ctx', type: MapType.TASK_STORAGE, keySize: 4, valueSize: 12, maxEntries: 0, flags: BPF_F_NO_PREALLOC, fields });
  // Two "task_structs" in the address space.
  const task1 = t.mem.alloc('task 1', 64).start;
  const task2 = t.mem.alloc('task 2', 64).start;
  return { t, m, task1, task2 };
}

describe('task storage map', () => {
  it('creates on demand with the CREATE flag, zeroed or copied from init, and returns the same value after', () => {
    const { t, m, task1, task2 } = storage();
    expect(m.storageGet(task1, 0, false)).toBe(0);
    const v1 = m.storageGet(task1, 0, true);
    expect(v1).not.toBe(0);
    expect(hex(t.mem.bytes.slice(v1, v1 + 12))).toBe('00'.repeat(12));
    expect(m.storageGet(task1, 0, false)).toBe(v1);
    expect(m.storageGet(task1, t.put(new Uint8Array(12).fill(5)), true)).toBe(v1); // exists: init ignored
    expect(t.mem.bytes[v1]).toBe(0);
    const v2 = m.storageGet(task2, t.put(new Uint8Array(12).fill(9)), true);
    expect(hex(m.lookupUser(u32(task2)))).toBe('09'.repeat(12));
    expect(v2).not.toBe(v1);
    expect(m.storageGet(0, 0, true)).toBe(0); // NULL task
    expect(m.owners()).toEqual([task1, task2]);
  });

  it('deletes explicitly and when the owner goes away; a freed value is reused zeroed', () => {
    const { t, m, task1, task2 } = storage();
    const v1 = m.storageGet(task1, 0, true);
    t.mem.bytes.fill(0xff, v1, v1 + 12);
    expect(m.storageDelete(task1)).toBe(0);
    expect(m.storageDelete(task1)).toBe(-ENOENT);
    expect(m.storageDelete(0)).toBe(-EINVAL);
    expect(m.storageGet(task1, 0, false)).toBe(0);
    expect(m.storageGet(task2, 0, true)).toBe(v1);
    expect(hex(t.mem.bytes.slice(v1, v1 + 12))).toBe('00'.repeat(12));
    expect(m.dropOwner(task2)).toBe(true);
    expect(m.dropOwner(task2)).toBe(false);
    expect(m.size).toBe(0);
  });

  it('keeps each value at its address while many others come and go', () => {
    const { m } = storage();
    const addrs = new Map<number, number>();
    for (let owner = 0x100000; owner < 0x100000 + 500 * 64; owner += 64) addrs.set(owner, m.storageGet(owner, 0, true));
    for (const [owner] of addrs) if ((owner >> 6) % 2) m.dropOwner(owner);
    for (const [owner, a] of addrs) expect(m.storageGet(owner, 0, false)).toBe((owner >> 6) % 2 ? 0 : a);
  });

  it('releases kptr fields when a task exits', () => {
    const { t, m, task1 } = storage([{ kind: 'kptr', offset: 0, size: 8 }]);
    const v = m.storageGet(task1, 0, true);
    t.mem.view.setBigUint64(v, 0x12345n, true);
    m.dropOwner(task1);
    expect(t.released).toEqual([v]);
  });

  it('serves the user side by owner address, with the update flags of bpf_local_storage_update', () => {
    const { m, task1, task2 } = storage();
    expect(() => m.updateUser(u32(task1), new Uint8Array(12), BPF_EXIST)).toThrow("map 'task_ctx' (task_storage): update: ENOENT (no storage and flags has BPF_EXIST)");
    m.updateUser(u32(task1), new Uint8Array(12).fill(1), BPF_NOEXIST);
    expect(() => m.updateUser(u32(task1), new Uint8Array(12), BPF_NOEXIST)).toThrow("map 'task_ctx' (task_storage): update: EEXIST (storage exists and flags has BPF_NOEXIST)");
    m.updateUser(u32(task2), new Uint8Array(12).fill(2));
    expect(m.keys().map(hex)).toEqual([hex(u32(task1)), hex(u32(task2))]);
    expect(m.dump().map((e) => hex(e.value))).toEqual(['01'.repeat(12), '02'.repeat(12)]);
    m.deleteUser(u32(task1));
    expect(() => m.deleteUser(u32(task1))).toThrow("map 'task_ctx' (task_storage): delete: ENOENT (no storage for this owner)");
    expect(() => m.lookupUser(u64(task2))).toThrow("map 'task_ctx' (task_storage): key of 8 bytes, expected 4");
    expect(() => m.lookup(0)).toThrow('bpf_map_lookup_elem is not allowed on task_storage maps');
  });
});
