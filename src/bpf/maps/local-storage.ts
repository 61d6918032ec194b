/**
 * BPF_MAP_TYPE_TASK_STORAGE and CGRP_STORAGE (kernel/bpf/bpf_local_storage.c and the task/cgroup
 * front ends): one value per owner object, created on demand, freed with the owner.
 *
 * Owners are named by the address of their struct in the address space (a task_struct, a
 * cgroup), which is what a program passes to bpf_task_storage_get. The sched_ext core calls
 * dropOwner() when a task exits, as the kernel frees a task's storage in bpf_task_storage_free().
 *
 * The user side's key is that owner address as a little-endian u32 (the kernel's syscall takes a
 * pidfd or cgroup fd; the simulator has no file descriptors). keys() lists owners in the order
 * their storage was created.
 *
 * Values come from a growing ElementPool: an address stays valid until the storage is deleted.
 * An update of an existing value from the user side writes in place (the kernel allocates a new
 * element and unlinks the old, moving the value). The kernel's per-owner cache and locking have
 * no observable effect in a single-threaded simulator and are not modelled.
 */
import { ElementPool } from './pool.ts';
import {
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_NOEXIST,
  BpfMap,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOMEM,
  roundUp8,
  type MapEnv,
  type MapSpec,
  u32Key,
} from './map.ts';

export class LocalStorageMap extends BpfMap {
  private readonly pool: ElementPool;
  /** Owner address -> slot, in creation order (a JS Map iterates in insertion order). */
  private readonly slotOf = new Map<number, number>();

  constructor(spec: MapSpec, env: MapEnv) {
    super(spec, env);
    this.pool = new ElementPool(env.mem, `map ${spec.name} storage`, roundUp8(spec.valueSize), 0, false);
  }

  /** Number of owners with storage. */
  get size(): number {
    return this.slotOf.size;
  }

  /** Owners with storage, in creation order. */
  owners(): number[] {
    return [...this.slotOf.keys()];
  }

  // -- kernel side ------------------------------------------------------------------------------

  /**
   * bpf_task_storage_get / bpf_cgrp_storage_get: the owner's value, or with `create`
   * (BPF_LOCAL_STORAGE_GET_F_CREATE) a new one copied from `initAddr`, zeroed when that is 0.
   * 0 for a NULL owner, or when there is no memory left.
   */
  override storageGet(ownerAddr: number, initAddr: number, create: boolean): number {
    if (ownerAddr === 0) return 0;
    const s = this.slotOf.get(ownerAddr);
    if (s !== undefined) return this.pool.addr[s];
    if (!create) return 0;
    const slot = this.create(ownerAddr);
    if (slot < 0) return 0;
    const bytes = this.mem.bytes;
    if (initAddr !== 0) this.fields.copyIn(bytes, this.pool.addr[slot], bytes, initAddr);
    return this.pool.addr[slot];
  }

  /** bpf_task_storage_delete / bpf_cgrp_storage_delete: 0, -ENOENT, or -EINVAL for NULL. */
  override storageDelete(ownerAddr: number): number {
    if (ownerAddr === 0) return -EINVAL;
    const s = this.slotOf.get(ownerAddr);
    if (s === undefined) return -ENOENT;
    this.remove(ownerAddr, s);
    return 0;
  }

  /** The owner is gone (task exit, cgroup removal): free its storage. True if it had any. */
  override dropOwner(ownerAddr: number): boolean {
    const s = this.slotOf.get(ownerAddr);
    if (s === undefined) return false;
    this.remove(ownerAddr, s);
    return true;
  }

  // -- user side --------------------------------------------------------------------------------

  override lookupUser(key: Uint8Array, flags = 0): Uint8Array | undefined {
    this.checkUserRead('lookup');
    this.checkLookupFlags(flags);
    const s = this.slotOf.get(this.owner(key));
    return s === undefined ? undefined : this.copyOut(this.pool.addr[s]);
  }

  /** bpf_local_storage_update from the syscall. */
  override updateUser(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkUserWrite('update');
    const owner = this.owner(key);
    this.checkUserValue(value, this.valueSize);
    if (!(flags >= 0 && flags <= (BPF_EXIST | BPF_F_LOCK)) || (flags & ~BPF_F_LOCK) > BPF_EXIST || (flags & BPF_F_LOCK && !this.fields.hasSpinLock)) {
      this.userFail('update', EINVAL, `flags 0x${flags.toString(16)}`);
    }
    if (owner === 0) this.userFail('update', EINVAL, 'NULL owner');
    const op = flags & ~BPF_F_LOCK;
    let s = this.slotOf.get(owner);
    if (s !== undefined && op === BPF_NOEXIST) this.userFail('update', EEXIST, 'storage exists and flags has BPF_NOEXIST');
    if (s === undefined && op === BPF_EXIST) this.userFail('update', ENOENT, 'no storage and flags has BPF_EXIST');
    const existed = s !== undefined;
    if (s === undefined) {
      s = this.create(owner);
      if (s < 0) this.userFail('update', ENOMEM, 'address space exhausted');
    }
    const addr = this.pool.addr[s];
    this.fields.copyIn(this.mem.bytes, addr, value, 0);
    // Replacing a value frees the old one's special fields; BPF_F_LOCK updates in place.
    if (existed && !(flags & BPF_F_LOCK)) this.releaseValue(addr);
  }

  override deleteUser(key: Uint8Array): void {
    this.checkUserWrite('delete');
    if (this.storageDelete(this.owner(key)) !== 0) this.userFail('delete', ENOENT, 'no storage for this owner');
  }

  override keys(): Uint8Array[] {
    return this.owners().map(u32Key);
  }

  override release(): void {
    for (const s of this.slotOf.values()) this.releaseValue(this.pool.addr[s]);
  }

  // -- internals --------------------------------------------------------------------------------

  private owner(key: Uint8Array): number {
    this.checkUserKey(key);
    return (key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24)) >>> 0;
  }

  /** A zeroed value for `owner`: its slot, or -1 when the address space is full. */
  private create(owner: number): number {
    const s = this.pool.alloc();
    if (s < 0) return -1;
    const a = this.pool.addr[s];
    this.mem.bytes.fill(0, a, a + this.pool.elemSize);
    this.slotOf.set(owner, s);
    return s;
  }

  private remove(owner: number, s: number): void {
    this.releaseValue(this.pool.addr[s]);
    this.slotOf.delete(owner);
    this.pool.release(s);
  }
}
