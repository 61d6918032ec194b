/**
 * BPF_MAP_TYPE_ARRAY and PERCPU_ARRAY (kernel/bpf/arraymap.c): max_entries preallocated, zeroed
 * values indexed by a u32 key; every element always exists, so delete is -EINVAL and an update
 * with BPF_NOEXIST is -EEXIST.
 *
 * The values are one contiguous region, element i at `base + i * stride` (per-CPU: CPU c's copy
 * at `+ c * cpuStride`, the copies of one element side by side, which is also the syscall's
 * layout). `layout` publishes this so a compiler can inline lookups, as the kernel's
 * array_map_gen_lookup() does. Global data sections (.data, .bss, .rodata) are single-element
 * arrays: a program addresses their bytes directly at `base + offset`.
 *
 * BPF_F_RDONLY_PROG (frozen .rodata) puts the values in a read-only region, so a program's store
 * faults; the loader writes the initial bytes from the user side and then calls freeze().
 */
import {
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_MMAPABLE,
  BPF_F_RDONLY_PROG,
  BPF_NOEXIST,
  BpfMap,
  E2BIG,
  EEXIST,
  EINVAL,
  KERNEL_PAGE_SIZE,
  MapType,
  roundUp8,
  type ArrayLayout,
  type MapEnv,
  type MapSpec,
  u32Key,
} from './map.ts';

export class ArrayMap extends BpfMap {
  readonly percpu: boolean;
  /** round_up(value_size, 8), the kernel's elem_size. */
  readonly valueStride: number;
  readonly layout: ArrayLayout;
  private readonly base: number;
  private readonly stride: number;
  /** A u32 the kernel-side iteration hands out as the key pointer (the kernel uses its stack). */
  private readonly keyScratch: number;

  constructor(spec: MapSpec, env: MapEnv) {
    super(spec, env);
    this.percpu = spec.type === MapType.PERCPU_ARRAY;
    this.valueStride = roundUp8(spec.valueSize);
    this.stride = this.percpu ? this.valueStride * env.nrCpus : this.valueStride;
    const region = env.mem.alloc(`map ${spec.name} values`, this.stride * spec.maxEntries, {
      // Mappable arrays are page aligned in the kernel; keep that so a harness can mirror them.
      align: spec.flags & BPF_F_MMAPABLE ? KERNEL_PAGE_SIZE : 8,
      writable: !(spec.flags & BPF_F_RDONLY_PROG),
    });
    this.base = region.start;
    this.keyScratch = env.mem.alloc(`map ${spec.name} key`, 8).start;
    this.layout = {
      base: this.base,
      stride: this.stride,
      cpuStride: this.percpu ? this.valueStride : 0,
      maxEntries: spec.maxEntries,
    };
  }

  /** Address of element `index` (CPU `cpu`'s copy for per-CPU arrays); no bounds check. */
  valueAddr(index: number, cpu = 0): number {
    return this.base + index * this.stride + (this.percpu ? cpu * this.valueStride : 0);
  }

  // -- kernel side ------------------------------------------------------------------------------

  override lookup(keyAddr: number): number {
    const index = this.mem.view.getUint32(keyAddr, true);
    if (index >= this.maxEntries) return 0;
    const v = this.base + index * this.stride;
    return this.percpu ? v + this.env.currentCpu() * this.valueStride : v;
  }

  override lookupPercpu(keyAddr: number, cpu: number): number {
    if (!this.percpu) return this.unsupported('bpf_map_lookup_percpu_elem');
    if (cpu >>> 0 >= this.env.nrCpus) return 0;
    const index = this.mem.view.getUint32(keyAddr, true);
    if (index >= this.maxEntries) return 0;
    return this.base + index * this.stride + cpu * this.valueStride;
  }

  override update(keyAddr: number, valueAddr: number, flags: number): number {
    if (this.flags & BPF_F_RDONLY_PROG) {
      throw this.error('bpf_map_update_elem on a BPF_F_RDONLY_PROG map (the verifier rejects it)', EINVAL);
    }
    const index = this.mem.view.getUint32(keyAddr, true);
    const rc = this.checkUpdate(index, flags);
    if (rc !== 0) return rc;
    const dst = this.percpu ? this.base + index * this.stride + this.env.currentCpu() * this.valueStride : this.base + index * this.stride;
    const bytes = this.mem.bytes;
    this.fields.copyIn(bytes, dst, bytes, valueAddr);
    // The kernel frees the element's special fields after every update (array_map_update_elem).
    this.releaseValue(dst);
    return 0;
  }

  override delete(_keyAddr: number): number {
    return -EINVAL;
  }

  override forEachElem(cb: (keyAddr: number, valueAddr: number) => number): number {
    const cpuOff = this.percpu ? this.env.currentCpu() * this.valueStride : 0;
    let visited = 0;
    for (let i = 0; i < this.maxEntries; i++) {
      visited++;
      this.mem.view.setUint32(this.keyScratch, i, true);
      if (cb(this.keyScratch, this.base + i * this.stride + cpuOff) !== 0) break;
    }
    return visited;
  }

  override keyAddrOfValue(valueAddr: number): number {
    if (this.percpu) return 0;
    const off = valueAddr - this.base;
    if (off < 0 || off % this.stride !== 0 || off / this.stride >= this.maxEntries) return 0;
    this.mem.view.setUint32(this.keyScratch, off / this.stride, true);
    return this.keyScratch;
  }

  // -- user side --------------------------------------------------------------------------------

  override lookupUser(key: Uint8Array, flags = 0): Uint8Array | undefined {
    this.checkUserRead('lookup');
    this.checkLookupFlags(flags);
    const index = this.userIndex(key);
    if (index >= this.maxEntries) return undefined;
    const v = this.base + index * this.stride;
    return this.percpu ? this.copyOutPercpu(v, this.valueStride) : this.copyOut(v);
  }

  /** Per-CPU arrays: each CPU's value (value_size bytes) as its own array. */
  lookupUserPerCpu(key: Uint8Array): Uint8Array[] | undefined {
    if (!this.percpu) throw this.error('lookupUserPerCpu needs a per-CPU map', EINVAL);
    const all = this.lookupUser(key);
    return all && this.splitPerCpu(all, this.valueStride);
  }

  /**
   * BPF_MAP_UPDATE_ELEM. Per-CPU arrays take every CPU's value, each padded to 8 bytes
   * (bpf_percpu_array_update), and refuse BPF_F_LOCK.
   */
  override updateUser(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkUserWrite('update');
    const index = this.userIndex(key);
    this.checkUserValue(value, this.percpu ? this.env.nrCpus * this.valueStride : this.valueSize);
    const rc = this.percpu && flags & BPF_F_LOCK ? -EINVAL : this.checkUpdate(index, flags);
    if (rc !== 0) this.userFail('update', -rc, this.why(-rc, index, flags));
    const bytes = this.mem.bytes;
    const v = this.base + index * this.stride;
    if (!this.percpu) {
      this.fields.copyIn(bytes, v, value, 0);
      this.releaseValue(v);
      return;
    }
    for (let c = 0; c < this.env.nrCpus; c++) {
      const dst = v + c * this.valueStride;
      this.fields.copyIn(bytes, dst, value, c * this.valueStride);
      bytes.set(value.subarray(c * this.valueStride + this.valueSize, (c + 1) * this.valueStride), dst + this.valueSize);
      this.releaseValue(dst);
    }
  }

  override deleteUser(key: Uint8Array): void {
    this.checkUserWrite('delete');
    this.userIndex(key);
    this.userFail('delete', EINVAL, 'array elements cannot be deleted');
  }

  override keys(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.maxEntries; i++) out.push(u32Key(i));
    return out;
  }

  override release(): void {
    if (this.fields.specials.length === 0) return;
    for (let i = 0; i < this.maxEntries; i++) {
      for (let c = 0; c < (this.percpu ? this.env.nrCpus : 1); c++) this.releaseValue(this.base + i * this.stride + c * this.valueStride);
    }
  }

  // -- internals --------------------------------------------------------------------------------

  /** The checks of array_map_update_elem, in its order: 0 or -errno. */
  private checkUpdate(index: number, flags: number): number {
    if (!(flags >= 0 && flags <= (BPF_EXIST | BPF_F_LOCK)) || (flags & ~BPF_F_LOCK) > BPF_EXIST) return -EINVAL;
    if (index >= this.maxEntries) return -E2BIG;
    if (flags & BPF_NOEXIST) return -EEXIST;
    if (flags & BPF_F_LOCK && !this.fields.hasSpinLock) return -EINVAL;
    return 0;
  }

  private userIndex(key: Uint8Array): number {
    this.checkUserKey(key);
    return (key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24)) >>> 0;
  }

  private why(errno: number, index: number, flags: number): string {
    if (errno === E2BIG) return `index ${index} >= max_entries ${this.maxEntries}`;
    if (errno === EEXIST) return 'array elements always exist (BPF_NOEXIST)';
    return `flags 0x${flags.toString(16)}`;
  }
}
