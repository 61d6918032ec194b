/**
 * Creating maps: `createMap` checks a spec the way the kernel's map_create() does (the generic
 * attribute checks, then the type's map_alloc_check/map_alloc, then map_check_btf for special
 * fields) and throws a MapError that names the rule and the errno the kernel would return.
 * Supported: hash, array, percpu_hash, percpu_array, lru_hash, lru_percpu_hash, queue, stack,
 * ringbuf, task_storage, cgrp_storage, bloom_filter.
 */
import { MemoryError } from '../memory.ts';
import { ArrayMap } from './array.ts';
import { BloomFilterMap } from './bloom.ts';
import { HashMap } from './hash.ts';
import { LocalStorageMap } from './local-storage.ts';
import {
  BPF_F_ACCESS_MASK,
  BPF_F_CLONE,
  BPF_F_INNER_MAP,
  BPF_F_MMAPABLE,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE,
  BPF_F_PRESERVE_ELEMS,
  BPF_F_RDONLY,
  BPF_F_RDONLY_PROG,
  BPF_F_WRONLY,
  BPF_F_WRONLY_PROG,
  BPF_F_ZERO_SEED,
  BpfMap,
  E2BIG,
  EACCES,
  EINVAL,
  ENOMEM,
  ENOTSUPP,
  EOPNOTSUPP,
  HTAB_ELEM_HEADER,
  KERNEL_PAGE_SIZE,
  KMALLOC_MAX_SIZE,
  LOCAL_STORAGE_MAX_VALUE_SIZE,
  MapError,
  MapType,
  PCPU_MIN_UNIT_SIZE,
  errnoName,
  formatMapFlags,
  mapTypeName,
  roundUp8,
  u32Key,
  type MapEnv,
  type MapFieldKind,
  type MapSpec,
  type MapField,
} from './map.ts';
import { QueueStackMap } from './queue-stack.ts';
import { RingBufMap } from './ringbuf.ts';

export * from './map.ts';
export { ArrayMap } from './array.ts';
export { BloomFilterMap } from './bloom.ts';
export { HashMap } from './hash.ts';
export { LocalStorageMap } from './local-storage.ts';
export { QueueStackMap } from './queue-stack.ts';
export { RingBufMap } from './ringbuf.ts';
export { jhash, jhash2 } from './jhash.ts';

const ARRAY_FLAGS = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
const HTAB_FLAGS = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED;
const QUEUE_STACK_FLAGS = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK;
const BLOOM_FLAGS = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK;
const RINGBUF_FLAGS = BPF_F_NUMA_NODE;
const LOCAL_STORAGE_FLAGS = BPF_F_NO_PREALLOC | BPF_F_CLONE;

/** Map types with special fields allowed, per field kind (map_check_btf). */
const FIELD_MAP_TYPES: Record<MapFieldKind, readonly number[]> = {
  spin_lock: [MapType.HASH, MapType.ARRAY, MapType.CGROUP_STORAGE, MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE, MapType.CGRP_STORAGE],
  timer: [MapType.HASH, MapType.LRU_HASH, MapType.ARRAY],
  workqueue: [MapType.HASH, MapType.LRU_HASH, MapType.ARRAY],
  kptr: [
    MapType.HASH,
    MapType.PERCPU_HASH,
    MapType.LRU_HASH,
    MapType.LRU_PERCPU_HASH,
    MapType.ARRAY,
    MapType.PERCPU_ARRAY,
    MapType.SK_STORAGE,
    MapType.INODE_STORAGE,
    MapType.TASK_STORAGE,
    MapType.CGRP_STORAGE,
  ],
  refcount: [
    MapType.HASH,
    MapType.PERCPU_HASH,
    MapType.LRU_HASH,
    MapType.LRU_PERCPU_HASH,
    MapType.ARRAY,
    MapType.PERCPU_ARRAY,
    MapType.SK_STORAGE,
    MapType.INODE_STORAGE,
    MapType.TASK_STORAGE,
    MapType.CGRP_STORAGE,
  ],
  uptr: [MapType.TASK_STORAGE],
  list_head: [MapType.HASH, MapType.LRU_HASH, MapType.ARRAY],
  rb_root: [MapType.HASH, MapType.LRU_HASH, MapType.ARRAY],
};

/** Field kinds a value may hold at most once (btf_get_field_type's seen_mask). */
const UNIQUE_FIELDS: ReadonlySet<MapFieldKind> = new Set(['spin_lock', 'timer', 'workqueue', 'refcount']);

/**
 * Check a spec like the kernel's map_create() and return the effective max_entries (LRU maps
 * with BPF_F_NO_COMMON_LRU round it to a multiple of the CPU count). Throws MapError.
 */
export function validateMapSpec(spec: MapSpec, nrCpus: number): number {
  const fail = (detail: string, errno: number): never => {
    throw new MapError(spec.name, spec.type, `${detail} (${errnoName(errno)})`, errno);
  };
  const { type, keySize, valueSize, maxEntries, flags } = spec;
  const extra = spec.mapExtra ?? 0n;
  const u32 = (what: string, v: number): void => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) fail(`${what} ${v} is not a u32`, EINVAL);
  };
  u32('key_size', keySize);
  u32('value_size', valueSize);
  u32('max_entries', maxEntries);
  u32('map_flags', flags);
  if (extra < 0n || extra >= 1n << 64n) fail(`map_extra ${extra} is not a u64`, EINVAL);

  // map_create(): checks common to all types.
  if (type !== MapType.BLOOM_FILTER && type !== MapType.ARENA && extra !== 0n) {
    fail(`map_extra 0x${extra.toString(16)} is only for bloom filters`, EINVAL);
  }
  if ((flags & (BPF_F_RDONLY | BPF_F_WRONLY)) === (BPF_F_RDONLY | BPF_F_WRONLY)) {
    fail('BPF_F_RDONLY and BPF_F_WRONLY exclude each other', EINVAL);
  }
  const rejectBits = (bad: number): void => {
    if (bad) fail(`map_flags ${formatMapFlags(bad)} not allowed for ${mapTypeName(type)} maps`, EINVAL);
  };
  const disallowed = (allowed: number): void => rejectBits(flags & ~allowed);
  // bpf_map_flags_access_ok()
  const accessOk = (): void => {
    if ((flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) === (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) {
      fail('BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG exclude each other', EINVAL);
    }
  };
  const nonZero = (what: string, v: number): void => {
    if (v === 0) fail(`${what} 0, expected > 0`, EINVAL);
  };
  const exactly = (what: string, v: number, want: number): void => {
    if (v !== want) fail(`${what} ${v}, expected ${want}`, EINVAL);
  };

  let effectiveMax = maxEntries;
  switch (type) {
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY: {
      // array_map_alloc_check()
      const percpu = type === MapType.PERCPU_ARRAY;
      nonZero('max_entries', maxEntries);
      exactly('key_size', keySize, 4);
      nonZero('value_size', valueSize);
      disallowed(ARRAY_FLAGS);
      accessOk();
      if (percpu && flags & BPF_F_NUMA_NODE) fail('BPF_F_NUMA_NODE not allowed for percpu_array maps', EINVAL);
      if (percpu) rejectBits(flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP));
      if (flags & BPF_F_PRESERVE_ELEMS) fail('BPF_F_PRESERVE_ELEMS is only for perf_event_array maps', EINVAL);
      if (valueSize > 0x7fff_ffff) fail(`value_size ${valueSize} exceeds INT_MAX`, E2BIG);
      if (percpu && valueSize > PCPU_MIN_UNIT_SIZE) fail(`value_size ${valueSize} exceeds the per-CPU limit of ${PCPU_MIN_UNIT_SIZE} bytes`, E2BIG);
      break;
    }
    case MapType.HASH:
    case MapType.PERCPU_HASH:
    case MapType.LRU_HASH:
    case MapType.LRU_PERCPU_HASH: {
      // htab_map_alloc_check()
      const percpu = type === MapType.PERCPU_HASH || type === MapType.LRU_PERCPU_HASH;
      const lru = type === MapType.LRU_HASH || type === MapType.LRU_PERCPU_HASH;
      disallowed(HTAB_FLAGS);
      accessOk();
      if (!lru && flags & BPF_F_NO_COMMON_LRU) fail('BPF_F_NO_COMMON_LRU is only for LRU maps', EINVAL);
      if (lru && flags & BPF_F_NO_PREALLOC) fail('BPF_F_NO_PREALLOC is not supported by LRU maps', ENOTSUPP);
      if (flags & BPF_F_NUMA_NODE && (percpu || flags & BPF_F_NO_COMMON_LRU)) fail('BPF_F_NUMA_NODE not allowed with per-CPU values or LRU lists', EINVAL);
      nonZero('max_entries', maxEntries);
      nonZero('key_size', keySize);
      nonZero('value_size', valueSize);
      if (keySize + valueSize >= KMALLOC_MAX_SIZE - HTAB_ELEM_HEADER) {
        fail(`key_size + value_size ${keySize + valueSize} exceeds the element limit of ${KMALLOC_MAX_SIZE - HTAB_ELEM_HEADER - 1} bytes`, E2BIG);
      }
      if (percpu && roundUp8(valueSize) > PCPU_MIN_UNIT_SIZE) fail(`value_size ${valueSize} exceeds the per-CPU limit of ${PCPU_MIN_UNIT_SIZE} bytes`, E2BIG);
      // htab_map_alloc(): per-CPU LRU lists get the same number of elements each.
      if (flags & BPF_F_NO_COMMON_LRU) {
        effectiveMax = Math.ceil(maxEntries / nrCpus) * nrCpus;
        if (effectiveMax > 0xffff_ffff) effectiveMax = Math.floor(maxEntries / nrCpus) * nrCpus;
      }
      if (effectiveMax > 2 ** 31) fail(`max_entries ${effectiveMax} exceeds 2^31`, E2BIG);
      break;
    }
    case MapType.QUEUE:
    case MapType.STACK:
      // queue_stack_map_alloc_check()
      nonZero('max_entries', maxEntries);
      exactly('key_size', keySize, 0);
      nonZero('value_size', valueSize);
      disallowed(QUEUE_STACK_FLAGS);
      accessOk();
      if (valueSize > KMALLOC_MAX_SIZE) fail(`value_size ${valueSize} exceeds KMALLOC_MAX_SIZE ${KMALLOC_MAX_SIZE}`, E2BIG);
      break;
    case MapType.BLOOM_FILTER:
      // bloom_map_alloc_check(), then bloom_map_alloc()
      if (valueSize > KMALLOC_MAX_SIZE) fail(`value_size ${valueSize} exceeds KMALLOC_MAX_SIZE ${KMALLOC_MAX_SIZE}`, E2BIG);
      exactly('key_size', keySize, 0);
      nonZero('value_size', valueSize);
      nonZero('max_entries', maxEntries);
      disallowed(BLOOM_FLAGS);
      accessOk();
      if (extra & ~0xfn) fail(`map_extra 0x${extra.toString(16)}: only the low 4 bits (the number of hash functions) may be set`, EINVAL);
      break;
    case MapType.RINGBUF:
      // ringbuf_map_alloc()
      disallowed(RINGBUF_FLAGS);
      exactly('key_size', keySize, 0);
      exactly('value_size', valueSize, 0);
      if (maxEntries === 0 || (maxEntries & (maxEntries - 1)) !== 0) fail(`max_entries ${maxEntries} is not a power of two`, EINVAL);
      if (maxEntries % KERNEL_PAGE_SIZE !== 0) fail(`max_entries ${maxEntries} is not a multiple of the ${KERNEL_PAGE_SIZE}-byte page`, EINVAL);
      break;
    case MapType.TASK_STORAGE:
    case MapType.CGRP_STORAGE:
      // bpf_local_storage_map_alloc_check(); the kernel also demands BTF for key and value,
      // which a spec does not carry.
      disallowed(LOCAL_STORAGE_FLAGS);
      if (!(flags & BPF_F_NO_PREALLOC)) fail('map_flags must include BPF_F_NO_PREALLOC', EINVAL);
      exactly('max_entries', maxEntries, 0);
      exactly('key_size', keySize, 4);
      nonZero('value_size', valueSize);
      if (valueSize > LOCAL_STORAGE_MAX_VALUE_SIZE) fail(`value_size ${valueSize} exceeds ${LOCAL_STORAGE_MAX_VALUE_SIZE}`, E2BIG);
      break;
    case MapType.STRUCT_OPS:
      throw new MapError(spec.name, type, 'struct_ops maps are created by the struct_ops loader, not createMap', EOPNOTSUPP);
    default:
      if (Number.isInteger(type) && type > MapType.UNSPEC && type <= MapType.ARENA) {
        throw new MapError(spec.name, type, `map type ${type} is not implemented by scx-sim`, EOPNOTSUPP);
      }
      throw new MapError(spec.name, type, `unknown map type ${type} (EINVAL)`, EINVAL);
  }
  checkFields(spec, fail);
  return effectiveMax;
}

/** map_check_btf(): special fields inside the value, allowed for this map type. */
function checkFields(spec: MapSpec, fail: (detail: string, errno: number) => never): void {
  const fields = spec.fields ?? [];
  if (fields.length === 0) return;
  const sorted = [...fields].sort((a, b) => a.offset - b.offset);
  const seen = new Set<MapFieldKind>();
  let end = 0;
  for (const f of sorted) {
    if (!Number.isInteger(f.offset) || !Number.isInteger(f.size) || f.offset < 0 || f.size <= 0 || f.offset + f.size > spec.valueSize) {
      fail(`${f.kind} field at offset ${f.offset} (${f.size} bytes) is outside the ${spec.valueSize}-byte value`, EINVAL);
    }
    if (f.offset < end) fail(`${f.kind} field at offset ${f.offset} overlaps the previous field`, EINVAL);
    end = f.offset + f.size;
    if (UNIQUE_FIELDS.has(f.kind) && seen.has(f.kind)) fail(`more than one ${f.kind} field in the value`, E2BIG);
    seen.add(f.kind);
  }
  if (spec.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) fail('special fields need a map programs can read and write', EACCES);
  for (const kind of seen) {
    if (!FIELD_MAP_TYPES[kind].includes(spec.type)) fail(`${kind} fields are not supported in ${mapTypeName(spec.type)} maps`, EOPNOTSUPP);
  }
}

/** Validate `spec` and create the map, its storage placed in `env.mem`. */
export function createMap(spec: MapSpec, env: MapEnv): BpfMap {
  const maxEntries = validateMapSpec(spec, env.nrCpus);
  try {
    switch (spec.type) {
      case MapType.ARRAY:
      case MapType.PERCPU_ARRAY:
        return new ArrayMap(spec, env);
      case MapType.HASH:
      case MapType.PERCPU_HASH:
      case MapType.LRU_HASH:
      case MapType.LRU_PERCPU_HASH:
        return new HashMap(spec, env, maxEntries);
      case MapType.QUEUE:
      case MapType.STACK:
        return new QueueStackMap(spec, env);
      case MapType.BLOOM_FILTER:
        return new BloomFilterMap(spec, env);
      case MapType.RINGBUF:
        return new RingBufMap(spec, env);
      default:
        return new LocalStorageMap(spec, env);
    }
  } catch (e) {
    // The address space (4 GiB at most) or the host ran out: the kernel's -ENOMEM.
    if (e instanceof MemoryError || e instanceof RangeError) {
      throw new MapError(spec.name, spec.type, `does not fit in memory: ${e.message} (ENOMEM)`, ENOMEM);
    }
    throw e;
  }
}

export interface GlobalDataOptions {
  /** `.rodata`: BPF_F_RDONLY_PROG, values in a read-only region, frozen after the data is written. */
  readonly readonly?: boolean;
  /** Spin locks, timers and kptrs among the section's variables. */
  readonly fields?: readonly MapField[];
}

/**
 * A global data section (.data, .bss, .rodata, .data.<name>) as libbpf creates it: a
 * single-element BPF_F_MMAPABLE array whose value is the section's bytes. A program addresses
 * them at `map.valueAddr(0) + offset`.
 */
export function createGlobalDataMap(name: string, data: Uint8Array, env: MapEnv, options: GlobalDataOptions = {}): ArrayMap {
  const flags = BPF_F_MMAPABLE | (options.readonly ? BPF_F_RDONLY_PROG : 0);
  const map = createMap({ name, type: MapType.ARRAY, keySize: 4, valueSize: data.length, maxEntries: 1, flags, fields: options.fields }, env) as ArrayMap;
  map.updateUser(u32Key(0), data);
  if (options.readonly) map.freeze();
  return map;
}
