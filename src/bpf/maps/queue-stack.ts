/**
 * BPF_MAP_TYPE_QUEUE and STACK (kernel/bpf/queue_stack_maps.c): no keys, values copied in by
 * push and out by pop/peek. Both are the kernel's ring of max_entries + 1 slots with a head (next
 * write) and a tail (oldest element): a queue pops at the tail (FIFO), a stack at head - 1 (LIFO).
 *
 * Push on a full map is -E2BIG unless flags has BPF_EXIST, which first drops the element at the
 * tail, the OLDEST one, for both kinds (so a full stack loses its bottom, not its top). BPF_NOEXIST
 * or unknown flags are -EINVAL. Pop and peek on an empty map zero the destination and return
 * -ENOENT, as the kernel does.
 *
 * The ring sits in the address space only so copies are copyWithin calls without allocation;
 * no program ever gets a pointer into it.
 */
import { BPF_EXIST, BPF_NOEXIST, BpfMap, E2BIG, copyBytes, EINVAL, ENOENT, MapType, NO_KEY, type MapEntry, type MapEnv, type MapSpec } from './map.ts';

export class QueueStackMap extends BpfMap {
  readonly isStack: boolean;
  private readonly base: number;
  /** max_entries + 1: one slot stays empty so full and empty differ. */
  private readonly slots: number;
  private head = 0;
  private tail = 0;

  constructor(spec: MapSpec, env: MapEnv) {
    super(spec, env);
    this.isStack = spec.type === MapType.STACK;
    this.slots = spec.maxEntries + 1;
    this.base = env.mem.alloc(`map ${spec.name} elements`, this.slots * spec.valueSize, { align: 8 }).start;
  }

  /** Number of elements. */
  get size(): number {
    return (this.head - this.tail + this.slots) % this.slots;
  }

  // -- kernel side ------------------------------------------------------------------------------

  override push(valueAddr: number, flags: number): number {
    return this.pushFrom(null, valueAddr, flags);
  }

  override pop(valueAddr: number): number {
    return this.get(null, valueAddr, true);
  }

  override peek(valueAddr: number): number {
    return this.get(null, valueAddr, false);
  }

  // -- user side: the syscall maps lookup to peek, update to push, lookup-and-delete to pop ------

  /** BPF_MAP_UPDATE_ELEM with a NULL key: push. */
  override updateUser(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkUserKey(key);
    this.pushUser(value, flags);
  }

  /** BPF_MAP_LOOKUP_ELEM with a NULL key: peek. */
  override lookupUser(key: Uint8Array, flags = 0): Uint8Array | undefined {
    this.checkUserKey(key);
    if (flags !== 0) this.userFail('lookup', EINVAL, `flags 0x${flags.toString(16)}`);
    return this.peekUser();
  }

  override deleteUser(key: Uint8Array): void {
    this.checkUserKey(key);
    this.checkUserWrite('delete');
    this.userFail('delete', EINVAL, `${this.typeName} maps have no keys; use popUser`);
  }

  pushUser(value: Uint8Array, flags = 0): void {
    this.checkUserWrite('push');
    this.checkUserValue(value, this.valueSize);
    const rc = this.pushFrom(value, 0, flags);
    if (rc !== 0) this.userFail('push', -rc, rc === -E2BIG ? `map is full (max_entries ${this.maxEntries})` : `flags 0x${flags.toString(16)}`);
  }

  /** BPF_MAP_LOOKUP_AND_DELETE_ELEM: the next element, or undefined when empty. */
  popUser(): Uint8Array | undefined {
    this.checkUserWrite('pop');
    const out = new Uint8Array(this.valueSize);
    return this.get(out, 0, true) === 0 ? out : undefined;
  }

  peekUser(): Uint8Array | undefined {
    this.checkUserRead('peek');
    const out = new Uint8Array(this.valueSize);
    return this.get(out, 0, false) === 0 ? out : undefined;
  }

  /** The elements in the order pop would return them, with empty keys. */
  override dump(): MapEntry[] {
    const out: MapEntry[] = [];
    const bytes = this.mem.bytes;
    const n = this.size;
    for (let i = 0; i < n; i++) {
      // Queue: from the tail forwards. Stack: from head - 1 backwards.
      const slot = this.isStack ? (this.head - 1 - i + 2 * this.slots) % this.slots : (this.tail + i) % this.slots;
      const at = this.base + slot * this.valueSize;
      out.push({ key: NO_KEY, value: bytes.slice(at, at + this.valueSize) });
    }
    return out;
  }

  // -- internals --------------------------------------------------------------------------------

  /** queue_stack_map_push_elem. `src` null: the value is at `off` in the address space. */
  private pushFrom(src: Uint8Array | null, off: number, flags: number): number {
    if (flags & BPF_NOEXIST || !(flags >= 0 && flags <= BPF_EXIST)) return -EINVAL;
    if (this.isFull()) {
      if (!(flags & BPF_EXIST)) return -E2BIG;
      // Make room by dropping the oldest element.
      if (++this.tail >= this.slots) this.tail = 0;
    }
    const bytes = this.mem.bytes;
    const dst = this.base + this.head * this.valueSize;
    copyBytes(bytes, dst, src ?? bytes, off, this.valueSize);
    if (++this.head >= this.slots) this.head = 0;
    return 0;
  }

  /** __queue_map_get / __stack_map_get. `dst` null: copy to `off` in the address space. */
  private get(dst: Uint8Array | null, off: number, remove: boolean): number {
    const bytes = this.mem.bytes;
    const out = dst ?? bytes;
    const vs = this.valueSize;
    if (this.head === this.tail) {
      out.fill(0, off, off + vs);
      return -ENOENT;
    }
    let slot: number;
    if (this.isStack) {
      slot = this.head === 0 ? this.slots - 1 : this.head - 1;
      if (remove) this.head = slot;
    } else {
      slot = this.tail;
      if (remove && ++this.tail >= this.slots) this.tail = 0;
    }
    const src = this.base + slot * vs;
    copyBytes(out, off, bytes, src, vs);
    return 0;
  }

  private isFull(): boolean {
    let h = this.head + 1;
    if (h >= this.slots) h = 0;
    return h === this.tail;
  }
}
