/**
 * What every BPF map shares: the uapi constants (map types, flags, errno values), the spec a map
 * is created from, the environment it lives in, the error type, and the abstract `BpfMap` whose
 * two faces are
 *  - the kernel side, called by helpers while a program runs: plain numbers in and out (addresses
 *    in the object's address space, 0 or -errno), no BigInt and no allocation per call;
 *  - the user side, called by the harness and tests: Uint8Arrays in and out, failures thrown as
 *    `MapError` naming the errno, like the bpf(2) syscall would return them.
 *
 * Values live in the address space so a program can keep a pointer to one; always read
 * `mem.bytes`/`mem.view` at the moment of use, because growing the memory replaces them.
 */
import type { AddressSpace } from '../memory.ts';
import { ScxError } from '../../util/errors.ts';

// ---------------------------------------------------------------------------------------------
// enum bpf_map_type (include/uapi/linux/bpf.h)

export const MapType = {
  UNSPEC: 0,
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  CGROUP_ARRAY: 8,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  SOCKMAP: 15,
  CPUMAP: 16,
  XSKMAP: 17,
  SOCKHASH: 18,
  CGROUP_STORAGE: 19,
  REUSEPORT_SOCKARRAY: 20,
  PERCPU_CGROUP_STORAGE: 21,
  QUEUE: 22,
  STACK: 23,
  SK_STORAGE: 24,
  DEVMAP_HASH: 25,
  STRUCT_OPS: 26,
  RINGBUF: 27,
  INODE_STORAGE: 28,
  TASK_STORAGE: 29,
  BLOOM_FILTER: 30,
  USER_RINGBUF: 31,
  CGRP_STORAGE: 32,
  ARENA: 33,
} as const;

const TYPE_NAMES: readonly string[] = Object.keys(MapType).map((k) => k.toLowerCase());

/** The kernel's name for a map type without the BPF_MAP_TYPE_ prefix, e.g. `lru_hash`. */
export function mapTypeName(type: number): string {
  return Number.isInteger(type) && type >= 0 && type < TYPE_NAMES.length ? TYPE_NAMES[type] : `type ${type}`;
}

// ---------------------------------------------------------------------------------------------
// Flags

/** Update flags (bpf_map_update_elem, bpf_map_push_elem). */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

/** map_flags at creation. */
export const BPF_F_NO_PREALLOC = 1 << 0;
export const BPF_F_NO_COMMON_LRU = 1 << 1;
export const BPF_F_NUMA_NODE = 1 << 2;
export const BPF_F_RDONLY = 1 << 3;
export const BPF_F_WRONLY = 1 << 4;
export const BPF_F_STACK_BUILD_ID = 1 << 5;
export const BPF_F_ZERO_SEED = 1 << 6;
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_WRONLY_PROG = 1 << 8;
export const BPF_F_CLONE = 1 << 9;
export const BPF_F_MMAPABLE = 1 << 10;
export const BPF_F_PRESERVE_ELEMS = 1 << 11;
export const BPF_F_INNER_MAP = 1 << 12;
export const BPF_F_LINK = 1 << 13;
export const BPF_F_PATH_FD = 1 << 14;
export const BPF_F_VTYPE_BTF_OBJ_FD = 1 << 15;
export const BPF_F_TOKEN_FD = 1 << 16;
export const BPF_F_SEGV_ON_FAULT = 1 << 17;
export const BPF_F_NO_USER_CONV = 1 << 18;
export const BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;

const FLAG_NAMES: readonly string[] = [
  'BPF_F_NO_PREALLOC',
  'BPF_F_NO_COMMON_LRU',
  'BPF_F_NUMA_NODE',
  'BPF_F_RDONLY',
  'BPF_F_WRONLY',
  'BPF_F_STACK_BUILD_ID',
  'BPF_F_ZERO_SEED',
  'BPF_F_RDONLY_PROG',
  'BPF_F_WRONLY_PROG',
  'BPF_F_CLONE',
  'BPF_F_MMAPABLE',
  'BPF_F_PRESERVE_ELEMS',
  'BPF_F_INNER_MAP',
  'BPF_F_LINK',
  'BPF_F_PATH_FD',
  'BPF_F_VTYPE_BTF_OBJ_FD',
  'BPF_F_TOKEN_FD',
  'BPF_F_SEGV_ON_FAULT',
  'BPF_F_NO_USER_CONV',
];

/** `0x401 (BPF_F_NO_PREALLOC|BPF_F_MMAPABLE)`: creation flags as hex and by name. */
export function formatMapFlags(flags: number): string {
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if ((flags >>> bit) & 1) names.push(FLAG_NAMES[bit] ?? `bit ${bit}`);
  }
  return `0x${(flags >>> 0).toString(16)} (${names.join('|')})`;
}

/** bpf_task_storage_get / bpf_cgrp_storage_get flag. */
export const BPF_LOCAL_STORAGE_GET_F_CREATE = 1;

/** Ring buffer flags (bpf_ringbuf_submit/discard/output) and bpf_ringbuf_query selectors. */
export const BPF_RB_NO_WAKEUP = 1;
export const BPF_RB_FORCE_WAKEUP = 2;
export const BPF_RB_AVAIL_DATA = 0;
export const BPF_RB_RING_SIZE = 1;
export const BPF_RB_CONS_POS = 2;
export const BPF_RB_PROD_POS = 3;
/** Ring buffer record header: u32 len (with these two bits), u32 pg_off. */
export const BPF_RINGBUF_BUSY_BIT = 0x8000_0000;
export const BPF_RINGBUF_DISCARD_BIT = 0x4000_0000;
export const BPF_RINGBUF_HDR_SZ = 8;

// ---------------------------------------------------------------------------------------------
// errno

export const EPERM = 1;
export const ENOENT = 2;
export const E2BIG = 7;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EOPNOTSUPP = 95;
/** Kernel-internal "operation not supported", returned by some map ops (not EOPNOTSUPP). */
export const ENOTSUPP = 524;

const ERRNO_NAMES: ReadonlyMap<number, string> = new Map([
  [EPERM, 'EPERM'],
  [ENOENT, 'ENOENT'],
  [E2BIG, 'E2BIG'],
  [EAGAIN, 'EAGAIN'],
  [ENOMEM, 'ENOMEM'],
  [EACCES, 'EACCES'],
  [EFAULT, 'EFAULT'],
  [EBUSY, 'EBUSY'],
  [EEXIST, 'EEXIST'],
  [EINVAL, 'EINVAL'],
  [ENOSPC, 'ENOSPC'],
  [EOPNOTSUPP, 'EOPNOTSUPP'],
  [ENOTSUPP, 'ENOTSUPP'],
]);

/** `EEXIST` for 17 or -17. */
export function errnoName(errno: number): string {
  const e = Math.abs(errno);
  return ERRNO_NAMES.get(e) ?? `errno ${e}`;
}

// ---------------------------------------------------------------------------------------------
// Kernel limits that map creation checks against (x86-64 values)

/** The kernel's page size: ring buffers must be a multiple of it (not the Wasm page). */
export const KERNEL_PAGE_SIZE = 4096;
/** PCPU_MIN_UNIT_SIZE: the largest per-CPU value. */
export const PCPU_MIN_UNIT_SIZE = 32768;
/** KMALLOC_MAX_SIZE with 4 KiB pages and MAX_PAGE_ORDER 10. */
export const KMALLOC_MAX_SIZE = 1 << 22;
/** sizeof(struct htab_elem) on x86-64: the hash element header in front of the key. */
export const HTAB_ELEM_HEADER = 48;
/** BPF_LOCAL_STORAGE_MAX_VALUE_SIZE: U16_MAX - sizeof(struct bpf_local_storage_elem) (128). */
export const LOCAL_STORAGE_MAX_VALUE_SIZE = 0xffff - 128;
/** RINGBUF_MAX_RECORD_SZ: a reservation larger than this fails. */
export const RINGBUF_MAX_RECORD_SZ = Math.floor(0xffff_ffff / 4);

// ---------------------------------------------------------------------------------------------
// Spec, environment, errors

/**
 * A special field of a map value, found by the loader in the value's BTF (struct bpf_spin_lock,
 * struct bpf_timer, __kptr, ...). Copies into the value skip these bytes, like the kernel's
 * copy_map_value(), and freeing an element releases them (bpf_obj_free_fields()).
 */
export type MapFieldKind = 'spin_lock' | 'timer' | 'workqueue' | 'kptr' | 'refcount' | 'list_head' | 'rb_root' | 'uptr';

export interface MapField {
  readonly kind: MapFieldKind;
  readonly offset: number;
  readonly size: number;
  /** kptr: the struct it points to (the verifier types what bpf_kptr_xchg returns). */
  readonly typeName?: string;
}

export interface MapSpec {
  readonly name: string;
  /** enum bpf_map_type. */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** map_flags. */
  readonly flags: number;
  /** map_extra: bloom filters keep the number of hash functions in its low 4 bits. */
  readonly mapExtra?: bigint;
  /** The value's special fields, sorted by offset; none when absent. */
  readonly fields?: readonly MapField[];
}

export interface MapEnv {
  readonly mem: AddressSpace;
  /** num_possible_cpus(): how many copies a per-CPU map keeps. */
  readonly nrCpus: number;
  /** The CPU the running program is on (smp_processor_id()), for per-CPU maps. */
  currentCpu(): number;
  /**
   * Where the kernel would draw a random hash seed (bloom filters without BPF_F_ZERO_SEED), the
   * map derives one from this run seed and its name instead, so runs are reproducible.
   */
  readonly seed?: number;
  /**
   * Called when a value holding timers, workqueues, kptrs or graph roots is freed, overwritten or
   * evicted (where the kernel calls bpf_obj_free_fields()), before those fields are zeroed: the
   * timer subsystem cancels, kptr owners drop their reference. `valueAddr` is the value's start.
   */
  releaseFields?(map: BpfMap, valueAddr: number): void;
}

/**
 * A map error for a user: spec validation, a failed user-side operation, or a kernel-side call
 * the verifier would have rejected. The message names the map and its type; `errno` is what the
 * kernel would return (0 when the error has no kernel counterpart).
 */
export class MapError extends ScxError {
  constructor(
    readonly mapName: string,
    readonly mapType: number,
    detail: string,
    readonly errno = 0,
  ) {
    super(`map '${mapName}' (${mapTypeName(mapType)}): ${detail}`);
  }
}

/** One element as the user side sees it. */
export interface MapEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** Address layout of an array map, for code that computes element addresses itself (JIT). */
export interface ArrayLayout {
  /** Address of element 0 (CPU 0's copy for per-CPU arrays). */
  readonly base: number;
  /** Bytes between consecutive indexes. */
  readonly stride: number;
  /** Bytes between consecutive CPUs' copies of one element (0 for plain arrays). */
  readonly cpuStride: number;
  readonly maxEntries: number;
}

export const roundUp8 = (n: number): number => Math.ceil(n / 8) * 8;

/** A u32 key (array index, owner address) as little-endian bytes. */
export function u32Key(n: number): Uint8Array {
  const k = new Uint8Array(4);
  new DataView(k.buffer).setUint32(0, n, true);
  return k;
}

/** The key of maps without keys (queue, stack, bloom filter, ring buffer). */
export const NO_KEY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------
// Special-field aware copies

/**
 * Copy `len` bytes from `src[srcOff..]` to `dst[dstOff..]` without allocating, like memmove.
 * Short copies (the usual map value) are a plain loop: copyWithin/set cost more per call than they
 * save. A program may pass a pointer into a map value as the source, so overlap is handled.
 */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, len: number): void {
  if (len > 64) {
    if (src === dst) dst.copyWithin(dstOff, srcOff, srcOff + len);
    else dst.set(src.subarray(srcOff, srcOff + len), dstOff);
  } else if (src === dst && dstOff > srcOff && dstOff < srcOff + len) {
    for (let i = len - 1; i >= 0; i--) dst[dstOff + i] = src[srcOff + i];
  } else {
    for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
  }
}

const RELEASED_KINDS: ReadonlySet<MapFieldKind> = new Set(['timer', 'workqueue', 'kptr', 'list_head', 'rb_root', 'uptr']);

/**
 * How to copy a value of this map: the byte ranges that are plain data (everything outside the
 * special fields), precomputed so a copy is a few copyBytes calls with no allocation.
 */
export class ValueFields {
  /** [offset, length] pairs of plain-data ranges within the value. */
  readonly runs: Int32Array;
  /** [offset, size] pairs of special fields. */
  readonly specials: Int32Array;
  readonly hasSpinLock: boolean;
  /** Some field needs releasing when the value is freed (see MapEnv.releaseFields). */
  readonly needsRelease: boolean;

  constructor(
    readonly valueSize: number,
    fields: readonly MapField[],
  ) {
    const sorted = [...fields].sort((a, b) => a.offset - b.offset);
    const runs: number[] = [];
    const specials: number[] = [];
    let at = 0;
    for (const f of sorted) {
      if (f.offset > at) runs.push(at, f.offset - at);
      specials.push(f.offset, f.size);
      at = f.offset + f.size;
    }
    if (valueSize > at) runs.push(at, valueSize - at);
    this.runs = Int32Array.from(runs);
    this.specials = Int32Array.from(specials);
    this.hasSpinLock = sorted.some((f) => f.kind === 'spin_lock');
    this.needsRelease = sorted.some((f) => RELEASED_KINDS.has(f.kind));
  }

  /**
   * copy_map_value(): copy the plain bytes of a value from `src[srcOff..]` to `dst` in `bytes`,
   * leaving special fields untouched. `src` may be `bytes` itself (a kernel-side copy).
   */
  copyIn(bytes: Uint8Array, dst: number, src: Uint8Array, srcOff: number): void {
    const runs = this.runs;
    for (let i = 0; i < runs.length; i += 2) {
      const off = runs[i];
      const len = runs[i + 1];
      copyBytes(bytes, dst + off, src, srcOff + off, len);
    }
  }

  /** Zero the special fields of the value at `addr` (they are zero in a fresh element). */
  zeroSpecials(bytes: Uint8Array, addr: number): void {
    const s = this.specials;
    for (let i = 0; i < s.length; i += 2) bytes.fill(0, addr + s[i], addr + s[i] + s[i + 1]);
  }
}

// ---------------------------------------------------------------------------------------------
// The base class

export abstract class BpfMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  /** Effective max_entries (LRU maps with BPF_F_NO_COMMON_LRU round it like the kernel). */
  readonly maxEntries: number;
  readonly flags: number;
  readonly mapExtra: bigint;
  readonly spec: MapSpec;
  protected readonly env: MapEnv;
  protected readonly mem: AddressSpace;
  protected readonly fields: ValueFields;
  /** bpf_map_freeze() was called: the user side may no longer write. */
  frozen = false;

  constructor(spec: MapSpec, env: MapEnv, maxEntries = spec.maxEntries) {
    this.spec = spec;
    this.name = spec.name;
    this.type = spec.type;
    this.keySize = spec.keySize;
    this.valueSize = spec.valueSize;
    this.maxEntries = maxEntries;
    this.flags = spec.flags;
    this.mapExtra = spec.mapExtra ?? 0n;
    this.env = env;
    this.mem = env.mem;
    this.fields = new ValueFields(spec.valueSize, spec.fields ?? []);
  }

  get typeName(): string {
    return mapTypeName(this.type);
  }

  // -- kernel side: what helpers call; the verifier guarantees the argument kinds ---------------

  /** bpf_map_lookup_elem: the value's address, or 0. */
  lookup(_keyAddr: number): number {
    return this.unsupported('bpf_map_lookup_elem');
  }

  /** bpf_map_update_elem: 0 or -errno. */
  update(_keyAddr: number, _valueAddr: number, _flags: number): number {
    return this.unsupported('bpf_map_update_elem');
  }

  /** bpf_map_delete_elem: 0 or -errno. */
  delete(_keyAddr: number): number {
    return this.unsupported('bpf_map_delete_elem');
  }

  /** bpf_map_lookup_percpu_elem: `cpu`'s copy of the value, or 0. */
  lookupPercpu(_keyAddr: number, _cpu: number): number {
    return this.unsupported('bpf_map_lookup_percpu_elem');
  }

  /** bpf_map_push_elem: 0 or -errno. */
  push(_valueAddr: number, _flags: number): number {
    return this.unsupported('bpf_map_push_elem');
  }

  /** bpf_map_pop_elem: copies the element to `valueAddr`; 0 or -errno. */
  pop(_valueAddr: number): number {
    return this.unsupported('bpf_map_pop_elem');
  }

  /** bpf_map_peek_elem: 0 or -errno. */
  peek(_valueAddr: number): number {
    return this.unsupported('bpf_map_peek_elem');
  }

  /**
   * bpf_for_each_map_elem: calls `cb(keyAddr, valueAddr)` per element until it returns non-zero;
   * returns how many elements were visited.
   */
  forEachElem(_cb: (keyAddr: number, valueAddr: number) => number): number {
    return this.unsupported('bpf_for_each_map_elem');
  }

  /** bpf_ringbuf_reserve: the sample's address, or 0. */
  reserve(_size: number, _flags: number): number {
    return this.unsupported('bpf_ringbuf_reserve');
  }

  /** bpf_ringbuf_submit: always 0 (the helper's return value). */
  submit(_sampleAddr: number, _flags: number): number {
    return this.unsupported('bpf_ringbuf_submit');
  }

  /** bpf_ringbuf_discard: always 0. */
  discard(_sampleAddr: number, _flags: number): number {
    return this.unsupported('bpf_ringbuf_discard');
  }

  /** bpf_ringbuf_output: 0 or -errno. */
  output(_dataAddr: number, _size: number, _flags: number): number {
    return this.unsupported('bpf_ringbuf_output');
  }

  /** bpf_ringbuf_query. */
  query(_flag: number): number {
    return this.unsupported('bpf_ringbuf_query');
  }

  /**
   * bpf_task_storage_get / bpf_cgrp_storage_get: the owner's value address or 0; `create` is
   * BPF_LOCAL_STORAGE_GET_F_CREATE (the helper returns NULL for any other flag bit itself).
   */
  storageGet(_ownerAddr: number, _initAddr: number, _create: boolean): number {
    return this.unsupported('bpf_task_storage_get');
  }

  /** bpf_task_storage_delete / bpf_cgrp_storage_delete: 0 or -errno. */
  storageDelete(_ownerAddr: number): number {
    return this.unsupported('bpf_task_storage_delete');
  }

  /** The owner object is gone (task exit): free its local storage. True if there was any. */
  dropOwner(_ownerAddr: number): boolean {
    return false;
  }

  /**
   * The key address the kernel passes to a timer callback for the value at `valueAddr`, or 0 if
   * the address is not the start of one of this map's values.
   */
  keyAddrOfValue(_valueAddr: number): number {
    return 0;
  }

  // -- user side: the bpf(2) syscall's view -----------------------------------------------------

  /** BPF_MAP_LOOKUP_ELEM: a copy of the value (per-CPU maps: every CPU's, each padded to 8). */
  lookupUser(_key: Uint8Array, _flags = 0): Uint8Array | undefined {
    return this.userFail('lookup', ENOTSUPP);
  }

  /** BPF_MAP_UPDATE_ELEM. */
  updateUser(_key: Uint8Array, _value: Uint8Array, _flags = BPF_ANY): void {
    this.userFail('update', ENOTSUPP);
  }

  /** BPF_MAP_DELETE_ELEM. */
  deleteUser(_key: Uint8Array): void {
    this.userFail('delete', ENOTSUPP);
  }

  /** Every key, in an order that depends only on the operations done so far. */
  keys(): Uint8Array[] {
    return [];
  }

  /** Every element with a copy of its value, in `keys()` order. */
  dump(): MapEntry[] {
    const out: MapEntry[] = [];
    for (const key of this.keys()) {
      const value = this.lookupUser(key);
      if (value) out.push({ key, value });
    }
    return out;
  }

  /** BPF_MAP_FREEZE: the user side may not write any more (libbpf freezes .rodata after load). */
  freeze(): void {
    this.frozen = true;
  }

  /**
   * The object is being unloaded: release the special fields of every live value (timers stop,
   * kptrs are dropped), as the kernel does when the map is freed.
   */
  release(): void {}

  // -- helpers for subclasses -------------------------------------------------------------------

  protected error(detail: string, errno = 0): MapError {
    return new MapError(this.name, this.type, detail, errno);
  }

  /** A kernel-side call the verifier rejects for this map type. */
  protected unsupported(helper: string): never {
    throw this.error(`${helper} is not allowed on ${this.typeName} maps (the verifier rejects it)`, EINVAL);
  }

  /** A failed user-side operation. */
  protected userFail(op: string, errno: number, why?: string): never {
    const e = Math.abs(errno);
    throw this.error(`${op}: ${errnoName(e)}${why ? ` (${why})` : ''}`, e);
  }

  protected checkUserKey(key: Uint8Array, size = this.keySize): void {
    if (key.length !== size) throw this.error(`key of ${key.length} bytes, expected ${size}`, EINVAL);
  }

  protected checkUserValue(value: Uint8Array, size: number): void {
    if (value.length !== size) throw this.error(`value of ${value.length} bytes, expected ${size}`, EINVAL);
  }

  /** User-side writes: refused once frozen or for BPF_F_RDONLY maps (EPERM, like the syscall). */
  protected checkUserWrite(op: string): void {
    if (this.frozen) this.userFail(op, EPERM, 'map is frozen');
    if (this.flags & BPF_F_RDONLY) this.userFail(op, EPERM, 'map was created with BPF_F_RDONLY');
  }

  protected checkUserRead(op: string): void {
    if (this.flags & BPF_F_WRONLY) this.userFail(op, EPERM, 'map was created with BPF_F_WRONLY');
  }

  /**
   * Release a value's special fields, as bpf_obj_free_fields() does when an element is freed or
   * overwritten: tell the environment, then zero them.
   */
  protected releaseValue(addr: number): void {
    if (this.fields.specials.length === 0) return;
    if (this.fields.needsRelease) this.env.releaseFields?.(this, addr);
    this.fields.zeroSpecials(this.mem.bytes, addr);
  }

  /** A copy of one value for the user, special fields zeroed (check_and_init_map_value). */
  protected copyOut(addr: number): Uint8Array {
    const out = this.mem.bytes.slice(addr, addr + this.valueSize);
    if (this.fields.specials.length) this.fields.zeroSpecials(out, 0);
    return out;
  }

  /** Every CPU's copy, each `stride` bytes with its padding, as the syscall returns them. */
  protected copyOutPercpu(addr: number, stride: number): Uint8Array {
    const n = this.env.nrCpus;
    const out = this.mem.bytes.slice(addr, addr + n * stride);
    if (this.fields.specials.length) {
      for (let c = 0; c < n; c++) this.fields.zeroSpecials(out, c * stride);
    }
    return out;
  }

  /** Split a per-CPU copy (each CPU's value padded to `stride`) into one value per CPU. */
  protected splitPerCpu(all: Uint8Array, stride: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let c = 0; c < this.env.nrCpus; c++) out.push(all.slice(c * stride, c * stride + this.valueSize));
    return out;
  }

  /** The flags of a user-side lookup: 0, or BPF_F_LOCK when the value has a spin lock. */
  protected checkLookupFlags(flags: number): void {
    if (flags & ~BPF_F_LOCK || (flags & BPF_F_LOCK && !this.fields.hasSpinLock)) {
      this.userFail('lookup', EINVAL, `flags 0x${flags.toString(16)}`);
    }
  }
}
