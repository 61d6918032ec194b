import { describe, expect, it } from 'vitest';
import {
  BPF_F_MMAPABLE,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NO_PREALLOC,
  BPF_F_RDONLY,
  BPF_F_RDONLY_PROG,
  BPF_F_WRONLY,
  BPF_F_WRONLY_PROG,
  BPF_F_ZERO_SEED,
  E2BIG,
  EACCES,
  EINVAL,
  ENOMEM,
  ENOTSUPP,
  EOPNOTSUPP,
  HashMap,
  MapError,
  MapType,
  createMap,
  type MapSpec,
} from '../../../src/bpf/maps/index.ts';
import { testEnv } from './env.ts';

const T = MapType;

/** The MapError a spec is rejected with: [message, errno]. */
function rejection(spec: Partial<MapSpec> & Pick<MapSpec, 'type'>, nrCpus = 4): [string, number] {
  const { env } = testEnv(nrCpus);
  try {
    createMap({ name: 'tasks', keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, ...spec }, env);
  } catch (e) {
    if (e instanceof MapError) return [e.message, e.errno];
    throw e;
  }
  throw new Error('spec was accepted');
}

describe('createMap validates specs like the kernel map_create()', () => {
  it('checks array maps (array_map_alloc_check)', () => {
    expect(rejection({ type: T.ARRAY, keySize: 8 })).toEqual(["map 'tasks' (array): key_size 8, expected 4 (EINVAL)", EINVAL]);
    expect(rejection({ type: T.ARRAY, maxEntries: 0 })).toEqual(["map 'tasks' (array): max_entries 0, expected > 0 (EINVAL)", EINVAL]);
    expect(rejection({ type: T.ARRAY, valueSize: 0 })).toEqual(["map 'tasks' (array): value_size 0, expected > 0 (EINVAL)", EINVAL]);
    expect(rejection({ type: T.ARRAY, flags: BPF_F_NO_PREALLOC })).toEqual([
      "map 'tasks' (array): map_flags 0x1 (BPF_F_NO_PREALLOC) not allowed for array maps (EINVAL)",
      EINVAL,
    ]);
    expect(rejection({ type: T.PERCPU_ARRAY, flags: BPF_F_MMAPABLE })).toEqual([
      "map 'tasks' (percpu_array): map_flags 0x400 (BPF_F_MMAPABLE) not allowed for percpu_array maps (EINVAL)",
      EINVAL,
    ]);
    expect(rejection({ type: T.ARRAY, flags: BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG })[0]).toBe(
      "map 'tasks' (array): BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG exclude each other (EINVAL)",
    );
    expect(rejection({ type: T.PERCPU_ARRAY, valueSize: 32769 })).toEqual([
      "map 'tasks' (percpu_array): value_size 32769 exceeds the per-CPU limit of 32768 bytes (E2BIG)",
      E2BIG,
    ]);
  });

  it('checks hash maps (htab_map_alloc_check)', () => {
    expect(rejection({ type: T.HASH, keySize: 0 })).toEqual(["map 'tasks' (hash): key_size 0, expected > 0 (EINVAL)", EINVAL]);
    expect(rejection({ type: T.HASH, flags: BPF_F_MMAPABLE })[0]).toBe(
      "map 'tasks' (hash): map_flags 0x400 (BPF_F_MMAPABLE) not allowed for hash maps (EINVAL)",
    );
    expect(rejection({ type: T.HASH, flags: BPF_F_NO_COMMON_LRU })[0]).toBe("map 'tasks' (hash): BPF_F_NO_COMMON_LRU is only for LRU maps (EINVAL)");
    expect(rejection({ type: T.LRU_HASH, flags: BPF_F_NO_PREALLOC })).toEqual([
      "map 'tasks' (lru_hash): BPF_F_NO_PREALLOC is not supported by LRU maps (ENOTSUPP)",
      ENOTSUPP,
    ]);
    // 4 MiB kmalloc limit minus the 48-byte element header.
    expect(rejection({ type: T.HASH, keySize: 4, valueSize: 4194300 })).toEqual([
      "map 'tasks' (hash): key_size + value_size 4194304 exceeds the element limit of 4194255 bytes (E2BIG)",
      E2BIG,
    ]);
    expect(rejection({ type: T.PERCPU_HASH, valueSize: 32769 })[1]).toBe(E2BIG);
  });

  it('checks queue, stack, bloom filter and ring buffer maps', () => {
    expect(rejection({ type: T.QUEUE, keySize: 4 })).toEqual(["map 'tasks' (queue): key_size 4, expected 0 (EINVAL)", EINVAL]);
    expect(rejection({ type: T.STACK, keySize: 0, maxEntries: 0 })[0]).toBe("map 'tasks' (stack): max_entries 0, expected > 0 (EINVAL)");
    expect(rejection({ type: T.QUEUE, keySize: 0, flags: BPF_F_ZERO_SEED })[0]).toBe(
      "map 'tasks' (queue): map_flags 0x40 (BPF_F_ZERO_SEED) not allowed for queue maps (EINVAL)",
    );
    expect(rejection({ type: T.BLOOM_FILTER, keySize: 0, mapExtra: 0x15n })[0]).toBe(
      "map 'tasks' (bloom_filter): map_extra 0x15: only the low 4 bits (the number of hash functions) may be set (EINVAL)",
    );
    expect(rejection({ type: T.HASH, mapExtra: 5n })[0]).toBe("map 'tasks' (hash): map_extra 0x5 is only for bloom filters (EINVAL)");
    expect(rejection({ type: T.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 12288 })[0]).toBe(
      "map 'tasks' (ringbuf): max_entries 12288 is not a power of two (EINVAL)",
    );
    expect(rejection({ type: T.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 2048 })[0]).toBe(
      "map 'tasks' (ringbuf): max_entries 2048 is not a multiple of the 4096-byte page (EINVAL)",
    );
    expect(rejection({ type: T.RINGBUF, keySize: 0, valueSize: 8, maxEntries: 4096 })[0]).toBe("map 'tasks' (ringbuf): value_size 8, expected 0 (EINVAL)");
  });

  it('checks task and cgroup storage (bpf_local_storage_map_alloc_check)', () => {
    expect(rejection({ type: T.TASK_STORAGE, maxEntries: 0 })).toEqual([
      "map 'tasks' (task_storage): map_flags must include BPF_F_NO_PREALLOC (EINVAL)",
      EINVAL,
    ]);
    expect(rejection({ type: T.TASK_STORAGE, maxEntries: 16, flags: BPF_F_NO_PREALLOC })[0]).toBe(
      "map 'tasks' (task_storage): max_entries 16, expected 0 (EINVAL)",
    );
    expect(rejection({ type: T.TASK_STORAGE, maxEntries: 0, keySize: 8, flags: BPF_F_NO_PREALLOC })[0]).toBe(
      "map 'tasks' (task_storage): key_size 8, expected 4 (EINVAL)",
    );
    expect(rejection({ type: T.CGRP_STORAGE, maxEntries: 0, valueSize: 65408, flags: BPF_F_NO_PREALLOC })).toEqual([
      "map 'tasks' (cgrp_storage): value_size 65408 exceeds 65407 (E2BIG)",
      E2BIG,
    ]);
  });

  it('checks generic attributes before the type', () => {
    expect(rejection({ type: T.HASH, flags: BPF_F_RDONLY | BPF_F_WRONLY })[0]).toBe(
      "map 'tasks' (hash): BPF_F_RDONLY and BPF_F_WRONLY exclude each other (EINVAL)",
    );
    expect(rejection({ type: T.HASH, keySize: -1 })[0]).toBe("map 'tasks' (hash): key_size -1 is not a u32 (EINVAL)");
    expect(rejection({ type: T.HASH, maxEntries: 1.5 })[0]).toBe("map 'tasks' (hash): max_entries 1.5 is not a u32 (EINVAL)");
  });

  it('names unsupported and unknown map types', () => {
    expect(rejection({ type: T.LPM_TRIE })).toEqual(["map 'tasks' (lpm_trie): map type 11 is not implemented by scx-sim", EOPNOTSUPP]);
    expect(rejection({ type: T.STRUCT_OPS })[0]).toBe("map 'tasks' (struct_ops): struct_ops maps are created by the struct_ops loader, not createMap");
    expect(rejection({ type: 99 })).toEqual(["map 'tasks' (type 99): unknown map type 99 (EINVAL)", EINVAL]);
  });

  it('checks special fields like map_check_btf', () => {
    const timer = { kind: 'timer' as const, offset: 0, size: 16 };
    expect(rejection({ type: T.PERCPU_ARRAY, valueSize: 16, fields: [timer] })).toEqual([
      "map 'tasks' (percpu_array): timer fields are not supported in percpu_array maps (EOPNOTSUPP)",
      EOPNOTSUPP,
    ]);
    expect(rejection({ type: T.ARRAY, valueSize: 16, flags: BPF_F_RDONLY_PROG, fields: [timer] })).toEqual([
      "map 'tasks' (array): special fields need a map programs can read and write (EACCES)",
      EACCES,
    ]);
    expect(rejection({ type: T.ARRAY, valueSize: 8, fields: [timer] })[0]).toBe(
      "map 'tasks' (array): timer field at offset 0 (16 bytes) is outside the 8-byte value (EINVAL)",
    );
    expect(rejection({ type: T.HASH, valueSize: 32, fields: [timer, { kind: 'timer', offset: 16, size: 16 }] })).toEqual([
      "map 'tasks' (hash): more than one timer field in the value (E2BIG)",
      E2BIG,
    ]);
    expect(rejection({ type: T.HASH, valueSize: 32, fields: [timer, { kind: 'kptr', offset: 8, size: 8 }] })[0]).toBe(
      "map 'tasks' (hash): kptr field at offset 8 overlaps the previous field (EINVAL)",
    );
  });

  it('rounds LRU max_entries to a multiple of the CPU count with BPF_F_NO_COMMON_LRU', () => {
    const { env } = testEnv(4);
    const m = createMap({ name: 'l', type: T.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 10, flags: BPF_F_NO_COMMON_LRU }, env) as HashMap;
    expect(m.maxEntries).toBe(12);
  });

  it('reports a map that does not fit in the address space as ENOMEM', () => {
    const e = (() => {
      try {
        return rejection({ type: T.ARRAY, valueSize: 1 << 20, maxEntries: 8192 });
      } catch (err) {
        return err;
      }
    })() as [string, number];
    expect(e[1]).toBe(ENOMEM);
    expect(e[0]).toMatch(/^map 'tasks' \(array\): does not fit in memory: address space full: .*\(ENOMEM\)$/);
  });
});
