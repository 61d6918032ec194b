import { describe, expect, it } from 'vitest';
import {
  ArrayMap,
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_MMAPABLE,
  BPF_F_RDONLY_PROG,
  BPF_NOEXIST,
  E2BIG,
  EEXIST,
  EINVAL,
  MapError,
  MapType,
  createGlobalDataMap,
} from '../../../src/bpf/maps/index.ts';
import { hex, testEnv, u32, u64 } from './env.ts';

describe('array map', () => {
  it('lays values out contiguously, 8-byte strided, and publishes the layout', () => {
    const t = testEnv();
    const m = t.create<ArrayMap>({ type: MapType.ARRAY, valueSize: 12, maxEntries: 3 });
    expect(m.layout.stride).toBe(16);
    expect(m.layout.cpuStride).toBe(0);
    expect(m.layout.maxEntries).toBe(3);
    const k = t.put(u32(2));
    expect(m.lookup(k)).toBe(m.layout.base + 32);
    expect(m.lookup(t.put(u32(3)))).toBe(0); // index == max_entries
    expect(m.lookup(t.put(u32(0xffffffff)))).toBe(0);
    // Values start zeroed.
    expect(hex(m.lookupUser(u32(1)))).toBe('000000000000000000000000');
  });

  it('shows what a program wrote at a looked-up address to the user side', () => {
    const t = testEnv();
    const m = t.create<ArrayMap>({ type: MapType.ARRAY, valueSize: 8, maxEntries: 2 });
    const v = m.lookup(t.put(u32(1)));
    t.mem.view.setBigUint64(v, 0x1122334455667788n, true);
    expect(hex(m.lookupUser(u32(1)))).toBe('8877665544332211');
    expect(hex(m.lookupUser(u32(0)))).toBe('0000000000000000');
  });

  it('follows array_map_update_elem: flags, E2BIG past the end, EEXIST for NOEXIST, delete EINVAL', () => {
    const t = testEnv();
    const m = t.create<ArrayMap>({ type: MapType.ARRAY, valueSize: 8, maxEntries: 2 });
    const val = t.put(u64(7), 64);
    expect(m.update(t.put(u32(1)), val, BPF_ANY)).toBe(0);
    expect(m.update(t.put(u32(1)), val, BPF_EXIST)).toBe(0);
    expect(m.update(t.put(u32(1)), val, BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.update(t.put(u32(2)), val, BPF_ANY)).toBe(-E2BIG);
    expect(m.update(t.put(u32(2)), val, 3)).toBe(-EINVAL); // unknown flags are checked first
    expect(m.update(t.put(u32(0)), val, BPF_F_LOCK)).toBe(-EINVAL); // no bpf_spin_lock in the value
    expect(m.delete(t.put(u32(0)))).toBe(-EINVAL);
    expect(hex(m.lookupUser(u32(1)))).toBe('0700000000000000');
  });

  it('throws MapError with the errno name on the user side', () => {
    const t = testEnv();
    const m = t.create<ArrayMap>({ name: 'stats', type: MapType.ARRAY, valueSize: 8, maxEntries: 2 });
    expect(() => m.updateUser(u32(5), u64(1))).toThrow("map 'stats' (array): update: E2BIG (index 5 >= max_entries 2)");
    expect(() => m.updateUser(u32(0), u64(1), BPF_NOEXIST)).toThrow("map 'stats' (array): update: EEXIST (array elements always exist (BPF_NOEXIST))");
    expect(() => m.deleteUser(u32(0))).toThrow("map 'stats' (array): delete: EINVAL (array elements cannot be deleted)");
    expect(() => m.lookupUser(u64(0))).toThrow("map 'stats' (array): key of 8 bytes, expected 4");
    expect(() => m.updateUser(u32(0), u32(1))).toThrow("map 'stats' (array): value of 4 bytes, expected 8");
    expect(m.lookupUser(u32(2))).toBeUndefined();
    try {
      m.updateUser(u32(9), u64(1));
    } catch (e) {
      expect(e).toBeInstanceOf(MapError);
      expect((e as MapError).errno).toBe(E2BIG);
    }
    expect(m.keys().map(hex)).toEqual(['00000000', '01000000']);
  });

  it('keeps one copy per CPU: a program sees and updates only its own', () => {
    const t = testEnv(3);
    const m = t.create<ArrayMap>({ type: MapType.PERCPU_ARRAY, valueSize: 4, maxEntries: 2 });
    expect(m.layout.stride).toBe(24);
    expect(m.layout.cpuStride).toBe(8);
    const key = t.put(u32(1));
    const seen = [0, 1, 2].map((cpu) => {
      t.setCpu(cpu);
      return m.lookup(key);
    });
    expect(new Set(seen).size).toBe(3);
    t.setCpu(1);
    expect(m.update(key, t.put(u32(0xabcd), 64), BPF_ANY)).toBe(0);
    t.setCpu(2);
    t.mem.view.setUint32(m.lookup(key), 5, true);
    // The syscall's view: every CPU's value, each padded to 8 bytes.
    expect(hex(m.lookupUser(u32(1)))).toBe('0000000000000000' + 'cdab000000000000' + '0500000000000000');
    expect(m.lookupUserPerCpu(u32(1))!.map(hex)).toEqual(['00000000', 'cdab0000', '05000000']);
    expect(m.lookupPercpu(key, 1)).toBe(seen[1]);
    expect(m.lookupPercpu(key, 3)).toBe(0); // cpu >= nr_cpu_ids
    // User updates write every CPU's copy.
    const all = new Uint8Array(24);
    all.set(u32(1), 0);
    all.set(u32(2), 8);
    all.set(u32(3), 16);
    m.updateUser(u32(0), all);
    t.setCpu(2);
    expect(t.mem.view.getUint32(m.lookup(t.put(u32(0))), true)).toBe(3);
    expect(() => m.updateUser(u32(0), u32(1))).toThrow("map 'm' (percpu_array): value of 4 bytes, expected 24");
  });

  it('makes a frozen .rodata array read-only to programs and to the user side', () => {
    const t = testEnv();
    const data = Uint8Array.of(1, 2, 3, 4, 5);
    const ro = createGlobalDataMap('.rodata', data, t.env, { readonly: true });
    expect(ro.flags).toBe(BPF_F_MMAPABLE | BPF_F_RDONLY_PROG);
    expect(ro.layout.base % 4096).toBe(0); // mmapable arrays are page aligned
    const base = ro.valueAddr(0);
    expect([...t.mem.bytes.subarray(base, base + 5)]).toEqual([1, 2, 3, 4, 5]);
    expect(t.mem.checkAccess(BigInt(base + 2), 1, false)).toBeNull();
    expect(t.mem.checkAccess(BigInt(base + 2), 1, true)).toContain('is read-only');
    expect(() => ro.updateUser(u32(0), data)).toThrow("map '.rodata' (array): update: EPERM (map is frozen)");
    expect(() => ro.update(t.put(u32(0)), t.put(data, 8), 0)).toThrow(/BPF_F_RDONLY_PROG/);
    const bss = createGlobalDataMap('.bss', new Uint8Array(16), t.env);
    expect(t.mem.checkAccess(BigInt(bss.valueAddr(0)), 8, true)).toBeNull();
    bss.updateUser(u32(0), new Uint8Array(16).fill(9)); // not frozen
  });

  it('iterates with bpf_for_each_map_elem semantics and maps values back to keys', () => {
    const t = testEnv();
    const m = t.create<ArrayMap>({ type: MapType.ARRAY, valueSize: 8, maxEntries: 5 });
    const keys: number[] = [];
    // Stop after the element with index 2: three visited, the stopping one counted.
    expect(m.forEachElem((k, v) => {
      keys.push(t.mem.view.getUint32(k, true));
      expect(v).toBe(m.valueAddr(keys.at(-1)!));
      return keys.length === 3 ? 1 : 0;
    })).toBe(3);
    expect(keys).toEqual([0, 1, 2]);
    const k = m.keyAddrOfValue(m.valueAddr(4));
    expect(t.mem.view.getUint32(k, true)).toBe(4);
    expect(m.keyAddrOfValue(m.valueAddr(4) + 1)).toBe(0);
    expect(m.keyAddrOfValue(m.valueAddr(5))).toBe(0);
  });

  it('skips special fields on update and releases them, as copy_map_value and bpf_obj_free_fields do', () => {
    const t = testEnv();
    const m = t.create<ArrayMap>({ type: MapType.ARRAY, valueSize: 32, maxEntries: 1, fields: [{ kind: 'timer', offset: 8, size: 16 }] });
    const v = m.valueAddr(0);
    t.mem.bytes.fill(0xee, v + 8, v + 24); // the timer subsystem's state
    const src = new Uint8Array(32).fill(0x11);
    m.updateUser(u32(0), src);
    // Plain bytes copied, the timer released and zeroed.
    expect(t.released).toEqual([v]);
    expect(hex(t.mem.bytes.slice(v, v + 32))).toBe('11'.repeat(8) + '00'.repeat(16) + '11'.repeat(8));
    // User lookups never show special fields.
    t.mem.bytes.fill(0xee, v + 8, v + 24);
    expect(hex(m.lookupUser(u32(0)))).toBe('11'.repeat(8) + '00'.repeat(16) + '11'.repeat(8));
    m.release();
    expect(t.released).toEqual([v, v]);
  });

  it('accepts BPF_F_LOCK when the value has a spin lock', () => {
    const t = testEnv();
    const m = t.create<ArrayMap>({ type: MapType.ARRAY, valueSize: 16, maxEntries: 1, fields: [{ kind: 'spin_lock', offset: 0, size: 4 }] });
    expect(m.update(t.put(u32(0)), t.put(new Uint8Array(16).fill(3), 8), BPF_F_LOCK)).toBe(0);
    expect(hex(m.lookupUser(u32(0), BPF_F_LOCK))).toBe('00000000' + '03'.repeat(12));
    expect(() => m.lookupUser(u32(0), 1)).toThrow("map 'm' (array): lookup: EINVAL (flags 0x1)");
  });
});
