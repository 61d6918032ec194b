/**
 * The address space of one loaded object (design.md §3): a single `WebAssembly.Memory` that holds
 * everything a BPF program can point at (stack frames, map values, global data, ring buffers, ctx
 * argument arrays, the simulator's task structs), so the interpreter and JIT-compiled code see the
 * same bytes and a BPF pointer is simply an address in it.
 *
 * Layout, growing upwards:
 *   [0, GUARD_SIZE)            unmapped: NULL and small-offset-from-NULL accesses fault
 *   helper call area           r0..r5 exchanged with helpers as 64-bit words
 *   stack frames               MAX_CALL_FRAMES x STACK_SIZE, frame 0 lowest
 *   regions placed by the runtime, in allocation order
 *
 * Only addresses inside a mapped region are valid; the interpreter checks every access against the
 * region table, so it can name the fault precisely.
 */
import { MAX_CALL_FRAMES, STACK_SIZE } from './isa.ts';
import { ScxError } from '../util/errors.ts';

export const PAGE_SIZE = 65536;
/** Default cap of one object's address space. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
export const GUARD_SIZE = PAGE_SIZE;
/**
 * Eight u64 words: r0 (the result) and r1..r5 (the arguments) of a helper or kfunc call, then the
 * instruction count of the last JIT run and a spare word.
 */
export const CALL_AREA_SIZE = 8 * 8;

/**
 * Code addresses: `lddw func` loads one and `callx` calls through it. They live far outside the
 * data memory so that using one as a data pointer faults.
 */
export const CODE_BASE = 0xffff_ffff_0000_0000n;
export const codeAddress = (slot: number): bigint => CODE_BASE + BigInt(slot) * 8n;
/** The slot a code address names, or -1 if the value is not a code address. */
export function slotOfCodeAddress(value: bigint): number {
  if (value < CODE_BASE || (value - CODE_BASE) % 8n !== 0n) return -1;
  return Number((value - CODE_BASE) / 8n);
}

export interface Region {
  readonly name: string;
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  readonly writable: boolean;
}

export interface AllocOptions {
  align?: number;
  writable?: boolean;
}

export class MemoryError extends ScxError {}

export class AddressSpace {
  readonly memory: WebAssembly.Memory;
  /** Views over `memory.buffer`; replaced when the memory grows. */
  bytes!: Uint8Array;
  view!: DataView;
  readonly regions: Region[] = [];
  readonly callArea: number;
  /** Address of the lowest byte of stack frame 0. */
  readonly stackBase: number;
  private brk: number;

  /**
   * @param maxBytes the most this address space may grow to: a corrupt or careless object (a map
   * of a billion entries) fails to load with a clear error instead of exhausting the machine.
   */
  constructor(initialBytes = 4 * PAGE_SIZE, readonly maxBytes = DEFAULT_MAX_BYTES) {
    const initial = Math.max(1, Math.ceil(initialBytes / PAGE_SIZE));
    this.memory = new WebAssembly.Memory({ initial, maximum: Math.max(initial, Math.floor(maxBytes / PAGE_SIZE)) });
    this.refreshViews();
    this.brk = GUARD_SIZE;
    // The call area is the runtime's scratch, not data a program may address: no region maps it.
    this.callArea = this.reserve(CALL_AREA_SIZE, 8);
    this.stackBase = this.brk = alignUp(this.brk, STACK_SIZE);
    for (let frame = 0; frame < MAX_CALL_FRAMES; frame++) {
      this.alloc(`stack frame ${frame}`, STACK_SIZE, { align: 8 });
    }
  }

  /** The frame pointer (r10) of call frame `depth`: one past the frame's highest byte. */
  framePointer(depth: number): number {
    return this.stackBase + (depth + 1) * STACK_SIZE;
  }

  /** Reserve `size` zeroed bytes as a new region. */
  alloc(name: string, size: number, options: AllocOptions = {}): Region {
    if (!Number.isInteger(size) || size < 0) throw new MemoryError(`cannot allocate ${size} bytes for ${name}`);
    const start = alignUp(this.brk, options.align ?? 8);
    const end = start + size;
    if (end > this.maxBytes) throw new MemoryError(`address space full: ${name} needs ${size} bytes at 0x${start.toString(16)}, past the ${this.maxBytes}-byte limit`);
    this.ensure(end);
    const region: Region = { name, start, end, writable: options.writable ?? true };
    this.regions.push(region);
    this.brk = end;
    return region;
  }

  /** Reserve zeroed bytes for the runtime's own use, invisible to programs (no region). */
  reserve(size: number, align = 8): number {
    const start = alignUp(this.brk, align);
    if (start + size > this.maxBytes) throw new MemoryError(`address space full: ${size} runtime bytes do not fit under the ${this.maxBytes}-byte limit`);
    this.ensure(start + size);
    this.brk = start + size;
    return start;
  }

  /** Copy bytes into a new region. */
  place(name: string, data: Uint8Array, options: AllocOptions = {}): Region {
    const region = this.alloc(name, data.length, options);
    this.bytes.set(data, region.start);
    return region;
  }

  /** The region holding [addr, addr+size), or undefined. Regions are sorted by address. */
  regionAt(addr: number, size: number): Region | undefined {
    const regions = this.regions;
    let lo = 0;
    let hi = regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = regions[mid];
      if (addr < r.start) hi = mid - 1;
      else if (addr >= r.end) lo = mid + 1;
      else return addr + size <= r.end ? r : undefined;
    }
    return undefined;
  }

  /** Why an access is invalid, or null if it is fine. */
  checkAccess(addr: bigint, size: number, write: boolean): string | null {
    const what = `${write ? 'write' : 'read'} of ${size} byte${size === 1 ? '' : 's'} at 0x${addr.toString(16)}`;
    if (addr < BigInt(GUARD_SIZE)) return `${what}: NULL pointer dereference`;
    if (addr >= 0x1_0000_0000n) return `${what}: address outside the 32-bit address space`;
    const a = Number(addr);
    const region = this.regionAt(a, size);
    if (!region) {
      const near = this.regionAt(a, 1);
      return near ? `${what}: crosses the end of ${near.name}` : `${what}: not mapped`;
    }
    if (write && !region.writable) return `${what}: ${region.name} is read-only`;
    return null;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    try {
      this.memory.grow(Math.ceil((end - have) / PAGE_SIZE));
    } catch (e) {
      if (e instanceof RangeError) throw new MemoryError(`address space full: cannot grow to ${end} bytes (${e.message})`);
      throw e;
    }
    this.refreshViews();
  }

  private refreshViews(): void {
    this.bytes = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }
}

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
