/**
 * BPF_MAP_TYPE_BLOOM_FILTER (kernel/bpf/bloom_filter.c). push adds a value, peek answers 0 for
 * "maybe present" and -ENOENT for "definitely absent"; there are no keys, lookups or deletes.
 *
 * Everything that decides which bits a value sets is the kernel's:
 *  - k = map_extra & 0xf hash functions, 5 when zero;
 *  - bits = max_entries * k * 7 / 5 (7/5 approximating 1/ln 2, the optimum), at least 64,
 *    rounded up to a power of two; 2^32 bits if any step overflows u32 or exceeds 2^31;
 *  - hash i of a value = jhash2(value as u32 words, seed + i) when value_size is a multiple of 4,
 *    else jhash(value bytes, seed + i), masked to the bit count.
 * The seed is 0 with BPF_F_ZERO_SEED. Otherwise the kernel draws a random one; we derive it from
 * the run seed (MapEnv.seed) and the map name, so a run is reproducible yet filters differ.
 */
import { jhash, jhash2 } from './jhash.ts';
import { BPF_ANY, BPF_F_ZERO_SEED, BpfMap, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, type MapEnv, type MapSpec } from './map.ts';

export class BloomFilterMap extends BpfMap {
  readonly nrHashFuncs: number;
  /** Bit count - 1 (u32). */
  readonly bitsetMask: number;
  readonly hashSeed: number;
  /** The bit array: bit b is bit (b & 7) of byte b >> 3, as set_bit() lays it out on x86-64. */
  readonly bits: Uint8Array;
  /** value_size / 4 when value_size is a multiple of 4 (hash with jhash2), else 0. */
  private readonly alignedU32Count: number;

  constructor(spec: MapSpec, env: MapEnv) {
    super(spec, env);
    const k = Number(this.mapExtra & 0xfn) || 5;
    this.nrHashFuncs = k;
    let nrBits = spec.maxEntries * k;
    let bytes: number;
    // The kernel's u32 arithmetic: either product overflowing, or more than 2^31 bits.
    if (nrBits > 0xffff_ffff || Math.floor(nrBits / 5) * 7 > 2 ** 31) {
      // BITS_TO_BYTES(U32_MAX) with mask U32_MAX: effectively 2^32 bits.
      bytes = 2 ** 29;
      this.bitsetMask = 0xffff_ffff;
    } else {
      nrBits = Math.floor(nrBits / 5) * 7;
      nrBits = nrBits <= 64 ? 64 : 2 ** Math.ceil(Math.log2(nrBits));
      bytes = nrBits / 8;
      this.bitsetMask = nrBits - 1;
    }
    try {
      this.bits = new Uint8Array(Math.ceil(bytes / 8) * 8);
    } catch {
      throw this.error(`bit array of ${bytes} bytes does not fit in memory`, ENOMEM);
    }
    this.alignedU32Count = spec.valueSize % 4 === 0 ? spec.valueSize / 4 : 0;
    const name = new TextEncoder().encode(spec.name);
    this.hashSeed = spec.flags & BPF_F_ZERO_SEED ? 0 : jhash(name, 0, name.length, env.seed ?? 0);
  }

  // -- kernel side ------------------------------------------------------------------------------

  override push(valueAddr: number, flags: number): number {
    return this.add(null, valueAddr, flags);
  }

  override peek(valueAddr: number): number {
    return this.test(null, valueAddr) ? 0 : -ENOENT;
  }

  // -- user side --------------------------------------------------------------------------------

  pushUser(value: Uint8Array, flags = BPF_ANY): void {
    this.checkUserWrite('push');
    this.checkUserValue(value, this.valueSize);
    if (this.add(value, 0, flags) !== 0) this.userFail('push', EINVAL, `flags 0x${flags.toString(16)}, expected BPF_ANY`);
  }

  /** BPF_MAP_UPDATE_ELEM with a NULL key: push. */
  override updateUser(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    this.checkUserKey(key);
    this.pushUser(value, flags);
  }

  /** The syscall's lookup of a bloom filter: false means definitely absent. */
  mayContain(value: Uint8Array): boolean {
    this.checkUserRead('lookup');
    this.checkUserValue(value, this.valueSize);
    return this.test(value, 0);
  }

  override lookupUser(_key: Uint8Array): Uint8Array | undefined {
    return this.userFail('lookup', EINVAL, 'a bloom filter is queried by value: use mayContain(value)');
  }

  override deleteUser(_key: Uint8Array): void {
    this.userFail('delete', EOPNOTSUPP, 'bloom filters cannot delete');
  }

  /** Bit `i` of the bit array (for tests and inspection). */
  bit(i: number): boolean {
    return ((this.bits[i >>> 3] >> (i & 7)) & 1) === 1;
  }

  /** Which bit hash function `index` selects for a value (src null: the address space). */
  bitFor(src: Uint8Array | null, off: number, index: number): number {
    const bytes = src ?? this.mem.bytes;
    const seed = (this.hashSeed + index) >>> 0;
    const h = this.alignedU32Count ? jhash2(bytes, off, this.alignedU32Count, seed) : jhash(bytes, off, this.valueSize, seed);
    return (h & this.bitsetMask) >>> 0;
  }

  // -- internals --------------------------------------------------------------------------------

  private add(src: Uint8Array | null, off: number, flags: number): number {
    if (flags !== BPF_ANY) return -EINVAL;
    for (let i = 0; i < this.nrHashFuncs; i++) {
      const b = this.bitFor(src, off, i);
      this.bits[b >>> 3] |= 1 << (b & 7);
    }
    return 0;
  }

  private test(src: Uint8Array | null, off: number): boolean {
    for (let i = 0; i < this.nrHashFuncs; i++) {
      const b = this.bitFor(src, off, i);
      if (((this.bits[b >>> 3] >> (b & 7)) & 1) === 0) return false;
    }
    return true;
  }
}
