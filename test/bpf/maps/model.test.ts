/**
 * Hash and LRU maps against a reference model: a JS Map (insertion order) plus, for LRU, a
 * recency list. Random operation sequences over a small key space, so fills, collisions,
 * evictions and slot reuse all happen.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST, E2BIG, EEXIST, ENOENT, HashMap, MapType } from '../../../src/bpf/maps/index.ts';
import { testEnv, u32 } from './env.ts';

type Op =
  | { kind: 'update'; key: number; value: number; flags: number; user: boolean }
  | { kind: 'delete'; key: number; user: boolean }
  | { kind: 'lookup'; key: number; user: boolean }
  | { kind: 'write'; key: number; value: number };

const opArb = (keys: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({
      kind: fc.constant('update' as const),
      key: fc.nat(keys - 1),
      value: fc.nat(0xffff_ffff),
      flags: fc.constantFrom(BPF_ANY, BPF_NOEXIST, BPF_EXIST),
      user: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.nat(keys - 1), user: fc.boolean() }),
    fc.record({ kind: fc.constant('lookup' as const), key: fc.nat(keys - 1), user: fc.boolean() }),
    // A program writes through a pointer from lookup.
    fc.record({ kind: fc.constant('write' as const), key: fc.nat(keys - 1), value: fc.nat(0xffff_ffff) }),
  );

class Model {
  readonly values = new Map<number, number>();
  /** Least recent first. */
  readonly recency: number[] = [];
  constructor(
    readonly max: number,
    readonly lru: boolean,
  ) {}

  private touch(k: number): void {
    const i = this.recency.indexOf(k);
    if (i >= 0) this.recency.splice(i, 1);
    this.recency.push(k);
  }

  update(k: number, v: number, flags: number): number {
    const exists = this.values.has(k);
    if (exists && flags === BPF_NOEXIST) return -EEXIST;
    if (!exists && flags === BPF_EXIST) return -ENOENT;
    if (!exists && this.values.size >= this.max) {
      if (!this.lru) return -E2BIG;
      const victim = this.recency.shift()!;
      this.values.delete(victim);
    }
    this.values.set(k, v);
    this.touch(k);
    return 0;
  }

  delete(k: number): number {
    if (!this.values.has(k)) return -ENOENT;
    this.values.delete(k);
    this.recency.splice(this.recency.indexOf(k), 1);
    return 0;
  }

  lookup(k: number, user: boolean): number | undefined {
    const v = this.values.get(k);
    if (v !== undefined && !user) this.touch(k);
    return v;
  }
}

function check(type: number, prealloc: boolean, keys = 12, maxMax = 8): void {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: maxMax }), fc.array(opArb(keys), { minLength: 20, maxLength: 150, size: 'max' }), (max, ops) => {
      const t = testEnv(2);
      const lru = type === MapType.LRU_HASH;
      const m = t.create<HashMap>({ type, keySize: 4, valueSize: 4, maxEntries: max, flags: prealloc ? 0 : 1 });
      const model = new Model(max, lru);
      const kAddr = t.scratch;
      const vAddr = t.scratch + 64;
      for (const op of ops) {
        t.mem.view.setUint32(kAddr, op.key, true);
        switch (op.kind) {
          case 'update': {
            const want = model.update(op.key, op.value, op.flags);
            if (op.user) {
              let got = 0;
              try {
                m.updateUser(u32(op.key), u32(op.value), op.flags);
              } catch (e) {
                got = -(e as { errno: number }).errno;
              }
              expect(got).toBe(want);
            } else {
              t.mem.view.setUint32(vAddr, op.value, true);
              expect(m.update(kAddr, vAddr, op.flags)).toBe(want);
            }
            break;
          }
          case 'delete':
            expect(op.user ? (m.lookupUser(u32(op.key)) ? (m.deleteUser(u32(op.key)), 0) : -ENOENT) : m.delete(kAddr)).toBe(model.delete(op.key));
            break;
          case 'lookup': {
            const want = model.lookup(op.key, op.user);
            if (op.user) {
              const got = m.lookupUser(u32(op.key));
              expect(got ? new DataView(got.buffer).getUint32(0, true) : undefined).toBe(want);
            } else {
              const a = m.lookup(kAddr);
              expect(a === 0 ? undefined : t.mem.view.getUint32(a, true)).toBe(want);
            }
            break;
          }
          case 'write': {
            const a = m.lookup(kAddr);
            const had = model.lookup(op.key, false);
            expect(a !== 0).toBe(had !== undefined);
            if (a !== 0) {
              t.mem.view.setUint32(a, op.value, true);
              model.values.set(op.key, op.value);
            }
            break;
          }
        }
        expect(m.size).toBe(model.values.size);
      }
      const keys = m.keys().map((k) => new DataView(k.buffer).getUint32(0, true));
      expect(keys).toEqual([...model.values.keys()]);
      if (lru) expect(m.lruOrder().map((k) => new DataView(k.buffer).getUint32(0, true))).toEqual(model.recency);
      for (const e of m.dump()) {
        expect(new DataView(e.value.buffer).getUint32(0, true)).toBe(model.values.get(new DataView(e.key.buffer).getUint32(0, true)));
      }
    }),
    { numRuns: 150 },
  );
}

describe('hash maps agree with a reference model', () => {
  it('hash (preallocated)', () => check(MapType.HASH, true));
  it('hash (BPF_F_NO_PREALLOC)', () => check(MapType.HASH, false));
  // Enough keys that the element pool grows (first chunk: 16) and the buckets are rehashed.
  it('hash (BPF_F_NO_PREALLOC, growing)', () => check(MapType.HASH, false, 48, 40));
  it('lru_hash', () => check(MapType.LRU_HASH, true));
});
