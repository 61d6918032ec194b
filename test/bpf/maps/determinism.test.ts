import { describe, expect, it } from 'vitest';
import { AddressSpace, PAGE_SIZE } from '../../../src/bpf/memory.ts';
import { BPF_ANY, BPF_F_NO_PREALLOC, HashMap, LocalStorageMap, MapType, RingBufMap, createMap, type MapEnv } from '../../../src/bpf/maps/index.ts';
import { hex } from './env.ts';

/** One fixed sequence of operations over several map types; returns everything observable. */
function run(): string[] {
  const mem = new AddressSpace(PAGE_SIZE); // one Wasm page: creation and growth must grow memory
  let cpu = 0;
  const env: MapEnv = { mem, nrCpus: 2, currentCpu: () => cpu };
  const scratch = mem.alloc('scratch', 4096).start;
  const h = createMap({ name: 'h', type: MapType.HASH, keySize: 8, valueSize: 1000, maxEntries: 300, flags: BPF_F_NO_PREALLOC }, env) as HashMap;
  const s = createMap({ name: 's', type: MapType.TASK_STORAGE, keySize: 4, valueSize: 40, maxEntries: 0, flags: BPF_F_NO_PREALLOC }, env) as LocalStorageMap;
  const r = createMap({ name: 'r', type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 8192, flags: 0 }, env) as RingBufMap;
  const out: string[] = [];
  for (let i = 0; i < 300; i++) {
    cpu = i % 2;
    // Key and value live in the address space, read by the map after it may have grown memory.
    mem.view.setBigUint64(scratch, BigInt(i * 7919), true);
    mem.bytes.fill(i & 0xff, scratch + 8, scratch + 1008);
    expect(h.update(scratch, scratch + 8, BPF_ANY)).toBe(0);
    if (i % 3 === 0) {
      mem.view.setBigUint64(scratch, BigInt((i >> 1) * 7919), true);
      h.delete(scratch);
    }
    out.push(String(s.storageGet(0x200000 + (i % 37) * 64, 0, true)));
    if (i % 5 === 0) s.dropOwner(0x200000 + ((i * 3) % 37) * 64);
    const rec = r.reserve(i % 50, 0);
    if (rec) r.submit(rec, 0);
    if (i % 7 === 0) out.push(r.drain().map(hex).join(','));
  }
  // Every surviving value holds what was written, though memory grew many times meanwhile.
  for (const e of h.dump()) {
    const i = Number(new DataView(e.key.buffer).getBigUint64(0, true)) / 7919;
    expect(e.value.every((b) => b === (i & 0xff))).toBe(true);
  }
  out.push(h.keys().map(hex).join(','), s.owners().join(','), String(mem.memory.buffer.byteLength));
  return out;
}

describe('maps are deterministic', () => {
  it('produce identical addresses, orders and contents for the same operations', () => {
    const a = run();
    expect(run()).toEqual(a);
    expect(Number(a.at(-1))).toBeGreaterThan(4 * PAGE_SIZE);
  });
});
