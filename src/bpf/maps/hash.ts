/**
 * BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH (kernel/bpf/hashtab.c).
 *
 * Elements are slots of an ElementPool laid out like the kernel's htab_elem minus its header:
 *   [key, padded to 8][value, padded to 8]                  (hash, lru_hash)
 *   [key, padded to 8][cpu 0 value][cpu 1 value]...          (percpu variants, each padded to 8)
 * so the value of a hash element is at key + round_up(key_size, 8), as bpf_timer callbacks expect,
 * and a per-CPU element's copies are already in the syscall's layout.
 *
 * The index is our own chained hash table in typed arrays (bucket heads, per-slot hash and chain
 * link), hashed with jhash like the kernel (seed 0, as with BPF_F_ZERO_SEED): a lookup reads the
 * key straight from the address space and allocates nothing, whatever the key size. Iteration
 * order is insertion order (a doubly linked list over slots), never the bucket order, so it
 * depends only on the sequence of operations.
 *
 * Differences from the kernel, all deliberate:
 *  - An update of an existing element writes the value in place. The kernel links a new element
 *    and recycles the old one, so a pointer a program kept from an earlier lookup would see stale,
 *    later reused memory; here it keeps seeing the element's current value.
 *  - LRU is exact: every BPF lookup and every update makes the element the most recently used,
 *    and a full map evicts the least recently used one. The kernel approximates (per-CPU free
 *    lists, active/inactive lists with reference bits, BPF_F_NO_COMMON_LRU per-CPU lists), may
 *    evict a different element, and can even evict when an update then fails its flags check or
 *    replaces an existing key. User-space lookups do not count as use, as in the kernel.
 *  - Keys are iterated in insertion order, not bucket order (the kernel's depends on a random seed).
 */
import { jhash } from './jhash.ts';
import { ElementPool, grow } from './pool.ts';
import {
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_NO_PREALLOC,
  BPF_NOEXIST,
  BpfMap,
  E2BIG,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOMEM,
  MapType,
  copyBytes,
  roundUp8,
  type MapEnv,
  type MapSpec,
} from './map.ts';

/** Bucket arrays stop growing here; chains just get longer in larger maps. */
const MAX_BUCKETS = 1 << 22;

export class HashMap extends BpfMap {
  readonly percpu: boolean;
  readonly lru: boolean;
  readonly preallocated: boolean;
  /** round_up(key_size, 8): the value starts this far after the key. */
  readonly keyStride: number;
  /** round_up(value_size, 8): distance between per-CPU copies. */
  readonly valueStride: number;

  private readonly pool: ElementPool;
  private buckets: Int32Array;
  private bucketMask: number;
  private readonly maxBuckets: number;
  /** Per slot: jhash of the key, next slot in the bucket, insertion-order and LRU links. */
  private hashes: Int32Array;
  private chain: Int32Array;
  private ordPrev: Int32Array;
  private ordNext: Int32Array;
  private lruPrev: Int32Array;
  private lruNext: Int32Array;
  /** Per slot: bumped when the slot is freed, so iteration can tell a reused slot. */
  private gen: Uint32Array;
  private ordHead = -1;
  private ordTail = -1;
  /** Least recently used at the head, most recently used at the tail. */
  private lruHead = -1;
  private lruTail = -1;
  private count = 0;

  constructor(spec: MapSpec, env: MapEnv, maxEntries = spec.maxEntries) {
    super(spec, env, maxEntries);
    const t = spec.type;
    this.percpu = t === MapType.PERCPU_HASH || t === MapType.LRU_PERCPU_HASH;
    this.lru = t === MapType.LRU_HASH || t === MapType.LRU_PERCPU_HASH;
    this.preallocated = !(spec.flags & BPF_F_NO_PREALLOC);
    this.keyStride = roundUp8(spec.keySize);
    this.valueStride = roundUp8(spec.valueSize);
    const elemSize = this.keyStride + (this.percpu ? env.nrCpus : 1) * this.valueStride;
    this.pool = new ElementPool(env.mem, `map ${spec.name} elements`, elemSize, maxEntries, this.preallocated);
    this.maxBuckets = Math.min(pow2AtLeast(maxEntries), MAX_BUCKETS);
    const slots = Math.max(this.pool.capacity, 1);
    this.buckets = new Int32Array(Math.min(pow2AtLeast(slots), this.maxBuckets)).fill(-1);
    this.bucketMask = this.buckets.length - 1;
    this.hashes = new Int32Array(slots);
    this.chain = new Int32Array(slots);
    this.ordPrev = new Int32Array(slots);
    this.ordNext = new Int32Array(slots);
    this.lruPrev = new Int32Array(this.lru ? slots : 0);
    this.lruNext = new Int32Array(this.lru ? slots : 0);
    this.gen = new Uint32Array(slots);
    this.pool.onGrow = (capacity) => this.growSlots(capacity);
  }

  /** Number of elements. */
  get size(): number {
    return this.count;
  }

  // -- kernel side ------------------------------------------------------------------------------

  override lookup(keyAddr: number): number {
    const s = this.find(null, keyAddr);
    if (s < 0) return 0;
    if (this.lru) this.touch(s);
    const v = this.pool.addr[s] + this.keyStride;
    return this.percpu ? v + this.env.currentCpu() * this.valueStride : v;
  }

  override lookupPercpu(keyAddr: number, cpu: number): number {
    if (!this.percpu) return this.unsupported('bpf_map_lookup_percpu_elem');
    if (cpu >>> 0 >= this.env.nrCpus) return 0;
    const s = this.find(null, keyAddr);
    if (s < 0) return 0;
    if (this.lru) this.touch(s);
    return this.pool.addr[s] + this.keyStride + cpu * this.valueStride;
  }

  override update(keyAddr: number, valueAddr: number, flags: number): number {
    return this.upsert(null, keyAddr, null, valueAddr, flags, false);
  }

  override delete(keyAddr: number): number {
    const s = this.find(null, keyAddr);
    if (s < 0) return -ENOENT;
    this.remove(s);
    return 0;
  }

  override forEachElem(cb: (keyAddr: number, valueAddr: number) => number): number {
    // Snapshot (slot, generation) so the callback may delete elements, the current one included.
    const snap = new Int32Array(this.count * 2);
    let n = 0;
    for (let s = this.ordHead; s >= 0; s = this.ordNext[s]) {
      snap[n++] = s;
      snap[n++] = this.gen[s];
    }
    const cpuOff = this.percpu ? this.env.currentCpu() * this.valueStride : 0;
    let visited = 0;
    for (let i = 0; i < n; i += 2) {
      const s = snap[i];
      if (this.gen[s] !== snap[i + 1] >>> 0) continue;
      visited++;
      const k = this.pool.addr[s];
      if (cb(k, k + this.keyStride + cpuOff) !== 0) break;
    }
    return visited;
  }

  override keyAddrOfValue(valueAddr: number): number {
    return this.percpu ? 0 : valueAddr - this.keyStride;
  }

  // -- user side --------------------------------------------------------------------------------

  override lookupUser(key: Uint8Array, flags = 0): Uint8Array | undefined {
    this.checkUserRead('lookup');
    this.checkLookupFlags(flags);
    this.checkUserKey(key);
    const s = this.find(key, 0);
    if (s < 0) return undefined;
    const v = this.pool.addr[s] + this.keyStride;
    return this.percpu ? this.copyOutPercpu(v, this.valueStride) : this.copyOut(v);
  }

  /** Per-CPU maps: each CPU's value (value_size bytes) as its own array. */
  lookupUserPerCpu(key: Uint8Array): Uint8Array[] | undefined {
    if (!this.percpu) throw this.error('lookupUserPerCpu needs a per-CPU map', EINVAL);
    const all = this.lookupUser(key);
    return all && this.splitPerCpu(all, this.valueStride);
  }

  override updateUser(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkUserWrite('update');
    this.checkUserKey(key);
    this.checkUserValue(value, this.percpu ? this.env.nrCpus * this.valueStride : this.valueSize);
    const rc = this.upsert(key, 0, value, 0, flags, true);
    if (rc !== 0) this.userFail('update', -rc, this.why(-rc, flags));
  }

  override deleteUser(key: Uint8Array): void {
    this.checkUserWrite('delete');
    this.checkUserKey(key);
    const s = this.find(key, 0);
    if (s < 0) this.userFail('delete', ENOENT, 'no such key');
    this.remove(s);
  }

  override keys(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const bytes = this.mem.bytes;
    for (let s = this.ordHead; s >= 0; s = this.ordNext[s]) {
      const k = this.pool.addr[s];
      out.push(bytes.slice(k, k + this.keySize));
    }
    return out;
  }

  /** LRU maps: keys from least to most recently used (the eviction order). */
  lruOrder(): Uint8Array[] {
    if (!this.lru) throw this.error('lruOrder needs an LRU map', EINVAL);
    const out: Uint8Array[] = [];
    const bytes = this.mem.bytes;
    for (let s = this.lruHead; s >= 0; s = this.lruNext[s]) {
      const k = this.pool.addr[s];
      out.push(bytes.slice(k, k + this.keySize));
    }
    return out;
  }

  override release(): void {
    for (let s = this.ordHead; s >= 0; s = this.ordNext[s]) this.releaseSlot(s);
  }

  // -- internals --------------------------------------------------------------------------------

  /**
   * Insert or overwrite. The key and value come from `keySrc`/`valSrc` at the given offsets; null
   * means the address space (a program's call), an array is the caller's (the user side). The
   * address space is named by null rather than by `mem.bytes` because allocating an element may
   * grow the memory, which replaces that array. `allCpus` is the syscall's per-CPU form (a value
   * for every CPU) as opposed to a program's (this CPU only).
   */
  private upsert(keySrc: Uint8Array | null, keyOff: number, valSrc: Uint8Array | null, valOff: number, flags: number, allCpus: boolean): number {
    // Every accepted combination is within 0..6; this also refuses bits above 32, which the
    // bitwise tests below would not see.
    if (!(flags >= 0 && flags <= (BPF_EXIST | BPF_F_LOCK))) return -EINVAL;
    // Only plain hash maps take BPF_F_LOCK, and only with a spin lock in the value.
    if (flags & BPF_F_LOCK && (this.percpu || this.lru || !this.fields.hasSpinLock)) return -EINVAL;
    const op = flags & ~BPF_F_LOCK;
    if (op > BPF_EXIST) return -EINVAL;
    const h = this.hash(keySrc ?? this.mem.bytes, keyOff);
    const s = this.findHashed(keySrc, keyOff, h);
    if (s >= 0 && op === BPF_NOEXIST) return -EEXIST;
    if (s < 0 && op === BPF_EXIST) return -ENOENT;
    if (s >= 0) {
      this.writeValue(s, valSrc, valOff, allCpus, false);
      // An overwrite frees the old value's special fields (timers, kptrs), except under
      // BPF_F_LOCK, where the kernel too updates in place and keeps them.
      if (!(flags & BPF_F_LOCK)) this.releaseSlot(s);
      if (this.lru) this.touch(s);
      return 0;
    }
    let slot = this.pool.alloc();
    if (slot < 0) {
      if (this.lru && this.lruHead >= 0) {
        this.remove(this.lruHead);
        slot = this.pool.alloc();
      }
      if (slot < 0) return this.pool.used < this.maxEntries ? -ENOMEM : -E2BIG;
    }
    const bytes = this.mem.bytes;
    const k = this.pool.addr[slot];
    copyBytes(bytes, k, keySrc ?? bytes, keyOff, this.keySize);
    this.writeValue(slot, valSrc, valOff, allCpus, true);
    this.link(slot, h);
    this.count++;
    return 0;
  }

  /**
   * Copy a value into slot `s`. Per-CPU maps: from a program, this CPU's copy (a new element's
   * other copies are zeroed, pcpu_init_value()); from the syscall, every CPU's padded copy.
   */
  private writeValue(s: number, src: Uint8Array | null, off: number, allCpus: boolean, fresh: boolean): void {
    const bytes = this.mem.bytes;
    const from = src ?? bytes;
    const v = this.pool.addr[s] + this.keyStride;
    if (!this.percpu) {
      this.fields.copyIn(bytes, v, from, off);
      return;
    }
    const stride = this.valueStride;
    if (allCpus) {
      for (let c = 0; c < this.env.nrCpus; c++) this.copyLong(bytes, v + c * stride, from, off + c * stride);
      return;
    }
    if (fresh) bytes.fill(0, v, v + this.env.nrCpus * stride);
    this.fields.copyIn(bytes, v + this.env.currentCpu() * stride, from, off);
  }

  /** copy_map_value_long(): the value and its padding up to the 8-byte stride. */
  private copyLong(bytes: Uint8Array, dst: number, src: Uint8Array, off: number): void {
    this.fields.copyIn(bytes, dst, src, off);
    const from = off + this.valueSize;
    const to = off + this.valueStride;
    if (to === from) return;
    copyBytes(bytes, dst + this.valueSize, src, from, to - from);
  }

  private releaseSlot(s: number): void {
    if (this.fields.specials.length === 0) return;
    const v = this.pool.addr[s] + this.keyStride;
    if (!this.percpu) {
      this.releaseValue(v);
      return;
    }
    for (let c = 0; c < this.env.nrCpus; c++) this.releaseValue(v + c * this.valueStride);
  }

  private hash(src: Uint8Array, off: number): number {
    return jhash(src, off, this.keySize, 0) | 0;
  }

  private find(src: Uint8Array | null, off: number): number {
    return this.findHashed(src, off, this.hash(src ?? this.mem.bytes, off));
  }

  /** The slot holding the key at `src[off..]` (null: the address space), or -1. */
  private findHashed(src: Uint8Array | null, off: number, h: number): number {
    const bytes = this.mem.bytes;
    const key = src ?? bytes;
    const addr = this.pool.addr;
    const n = this.keySize;
    let s = this.buckets[h & this.bucketMask];
    while (s >= 0) {
      if (this.hashes[s] === h) {
        const k = addr[s];
        let i = 0;
        while (i < n && bytes[k + i] === key[off + i]) i++;
        if (i === n) return s;
      }
      s = this.chain[s];
    }
    return -1;
  }

  private link(s: number, h: number): void {
    this.hashes[s] = h;
    const b = h & this.bucketMask;
    this.chain[s] = this.buckets[b];
    this.buckets[b] = s;
    this.ordPrev[s] = this.ordTail;
    this.ordNext[s] = -1;
    if (this.ordTail >= 0) this.ordNext[this.ordTail] = s;
    else this.ordHead = s;
    this.ordTail = s;
    if (this.lru) this.lruAppend(s);
  }

  /** Delete slot `s`: release its special fields, unlink it everywhere, free it. */
  private remove(s: number): void {
    this.releaseSlot(s);
    const b = this.hashes[s] & this.bucketMask;
    if (this.buckets[b] === s) this.buckets[b] = this.chain[s];
    else {
      let p = this.buckets[b];
      while (this.chain[p] !== s) p = this.chain[p];
      this.chain[p] = this.chain[s];
    }
    const prev = this.ordPrev[s];
    const next = this.ordNext[s];
    if (prev >= 0) this.ordNext[prev] = next;
    else this.ordHead = next;
    if (next >= 0) this.ordPrev[next] = prev;
    else this.ordTail = prev;
    if (this.lru) this.lruUnlink(s);
    this.gen[s]++;
    this.pool.release(s);
    this.count--;
  }

  /** Make `s` the most recently used element. */
  private touch(s: number): void {
    if (this.lruTail === s) return;
    this.lruUnlink(s);
    this.lruAppend(s);
  }

  private lruAppend(s: number): void {
    this.lruPrev[s] = this.lruTail;
    this.lruNext[s] = -1;
    if (this.lruTail >= 0) this.lruNext[this.lruTail] = s;
    else this.lruHead = s;
    this.lruTail = s;
  }

  private lruUnlink(s: number): void {
    const prev = this.lruPrev[s];
    const next = this.lruNext[s];
    if (prev >= 0) this.lruNext[prev] = next;
    else this.lruHead = next;
    if (next >= 0) this.lruPrev[next] = prev;
    else this.lruTail = prev;
  }

  /** The pool added slots: widen the per-slot arrays and, while allowed, the bucket array. */
  private growSlots(capacity: number): void {
    if (capacity > this.hashes.length) {
      const size = Math.max(capacity, this.hashes.length * 2);
      this.hashes = grow(this.hashes, size);
      this.chain = grow(this.chain, size);
      this.ordPrev = grow(this.ordPrev, size);
      this.ordNext = grow(this.ordNext, size);
      this.gen = grow(this.gen, size);
      if (this.lru) {
        this.lruPrev = grow(this.lruPrev, size);
        this.lruNext = grow(this.lruNext, size);
      }
    }
    const want = Math.min(pow2AtLeast(capacity), this.maxBuckets);
    if (want > this.buckets.length) this.rehash(want);
  }

  /** Rebuild the chains for a bigger bucket array, in insertion order (deterministic). */
  private rehash(n: number): void {
    this.buckets = new Int32Array(n).fill(-1);
    this.bucketMask = n - 1;
    for (let s = this.ordHead; s >= 0; s = this.ordNext[s]) {
      const b = this.hashes[s] & this.bucketMask;
      this.chain[s] = this.buckets[b];
      this.buckets[b] = s;
    }
  }

  private why(errno: number, flags: number): string {
    switch (errno) {
      case EEXIST:
        return 'key exists and flags has BPF_NOEXIST';
      case ENOENT:
        return 'no such key and flags has BPF_EXIST';
      case E2BIG:
        return `map is full (max_entries ${this.maxEntries})`;
      case ENOMEM:
        return 'address space exhausted';
      case EINVAL:
        return `flags 0x${flags.toString(16)}`;
      default:
        return '';
    }
  }
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
