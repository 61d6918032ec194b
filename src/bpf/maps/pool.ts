/**
 * Fixed-size elements in the address space, handed out by slot number. A slot's address never
 * changes while it is in use, so a BPF program may keep a pointer to its value.
 *
 * Preallocated pools (hash maps without BPF_F_NO_PREALLOC) reserve every slot in one region at
 * creation, like the kernel's prealloc_init(). Growing pools (BPF_F_NO_PREALLOC hash maps, local
 * storage) add regions of doubling size when the free list runs dry, so an unused map costs
 * nothing. The address space never frees, so freed slots go on a LIFO free list and are reused:
 * which slot the next allocation gets depends only on the order of allocations and frees.
 */
import type { AddressSpace } from '../memory.ts';
import { MemoryError } from '../memory.ts';

const FIRST_CHUNK = 16;

export class ElementPool {
  /** Address of each slot that has one (index < capacity). */
  addr: Uint32Array;
  /** Slots with an address. */
  capacity = 0;
  /** Slots in use. */
  used = 0;
  private free: Int32Array;
  private nFree = 0;
  private chunks = 0;

  /**
   * @param limit most slots ever in use (max_entries); 0 = unlimited.
   * @param prealloc reserve all `limit` slots now.
   */
  constructor(
    private readonly mem: AddressSpace,
    private readonly regionName: string,
    readonly elemSize: number,
    readonly limit: number,
    prealloc: boolean,
  ) {
    // Sized by addChunk, after the region is placed: an oversized map fails there first.
    this.addr = new Uint32Array(1);
    this.free = new Int32Array(1);
    if (prealloc && limit > 0) this.addChunk(limit);
  }

  /** A free slot, or -1 when `limit` slots are in use or the address space is full. */
  alloc(): number {
    if (this.limit > 0 && this.used >= this.limit) return -1;
    if (this.nFree === 0) {
      const want = Math.max(FIRST_CHUNK, this.capacity);
      const room = this.limit > 0 ? this.limit - this.capacity : want;
      if (room <= 0) return -1;
      try {
        this.addChunk(Math.min(want, room));
      } catch (e) {
        if (e instanceof MemoryError) return -1;
        throw e;
      }
    }
    this.used++;
    return this.free[--this.nFree];
  }

  release(slot: number): void {
    this.used--;
    this.free[this.nFree++] = slot;
  }

  /** Called after a growth so owners can size their per-slot arrays: the new capacity. */
  onGrow: ((capacity: number) => void) | undefined;

  private addChunk(n: number): void {
    const region = this.mem.alloc(`${this.regionName}${this.chunks ? ` ${this.chunks}` : ''}`, n * this.elemSize, { align: 8 });
    this.chunks++;
    const first = this.capacity;
    const cap = first + n;
    if (cap > this.addr.length) {
      const size = Math.max(cap, this.addr.length * 2);
      this.addr = grow(this.addr, size);
      this.free = grow(this.free, size);
    }
    for (let i = 0; i < n; i++) this.addr[first + i] = region.start + i * this.elemSize;
    // Push in reverse so slots are handed out in ascending address order.
    for (let s = cap - 1; s >= first; s--) this.free[this.nFree++] = s;
    this.capacity = cap;
    this.onGrow?.(cap);
  }
}

/** A copy of a typed array with room for `size` elements (the rest zero). */
export function grow<T extends Int32Array | Uint32Array | Uint8Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}
