import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST, E2BIG, EINVAL, ENOENT, MapType, QueueStackMap } from '../../../src/bpf/maps/index.ts';
import { hex, testEnv, u32 } from './env.ts';

const NO_KEY = new Uint8Array(0);

function setup(type: number, maxEntries = 3) {
  const t = testEnv();
  const m = t.create<QueueStackMap>({ type, keySize: 0, valueSize: 4, maxEntries });
  const val = t.scratch + 64;
  const push = (n: number, flags = BPF_ANY): number => {
    t.mem.view.setUint32(val, n, true);
    return m.push(val, flags);
  };
  const pop = (): number | string => {
    const rc = m.pop(val);
    return rc === 0 ? t.mem.view.getUint32(val, true) : `rc ${rc}, value ${t.mem.view.getUint32(val, true)}`;
  };
  return { t, m, val, push, pop };
}

describe('queue and stack maps', () => {
  it('pop in FIFO order from a queue and LIFO order from a stack', () => {
    const q = setup(MapType.QUEUE);
    const s = setup(MapType.STACK);
    for (const n of [1, 2, 3]) {
      expect(q.push(n)).toBe(0);
      expect(s.push(n)).toBe(0);
    }
    expect([q.pop(), q.pop(), q.pop()]).toEqual([1, 2, 3]);
    expect([s.pop(), s.pop(), s.pop()]).toEqual([3, 2, 1]);
  });

  it('refuse a push to a full map with E2BIG; BPF_EXIST drops the oldest element, for both kinds', () => {
    const q = setup(MapType.QUEUE);
    const s = setup(MapType.STACK);
    for (const m of [q, s]) {
      for (const n of [1, 2, 3]) m.push(n);
      expect(m.push(4)).toBe(-E2BIG);
      expect(m.push(4, BPF_EXIST)).toBe(0);
      expect(m.m.size).toBe(3);
    }
    expect([q.pop(), q.pop(), q.pop()]).toEqual([2, 3, 4]);
    // The stack lost its bottom (1), not its top.
    expect([s.pop(), s.pop(), s.pop()]).toEqual([4, 3, 2]);
  });

  it('reject BPF_NOEXIST and unknown flags with EINVAL', () => {
    const q = setup(MapType.QUEUE);
    expect(q.push(1, BPF_NOEXIST)).toBe(-EINVAL);
    expect(q.push(1, 3)).toBe(-EINVAL);
    expect(q.push(1, 4)).toBe(-EINVAL);
    expect(q.m.size).toBe(0);
  });

  it('zero the destination and return ENOENT when empty; peek leaves the element', () => {
    const q = setup(MapType.QUEUE);
    q.t.mem.view.setUint32(q.val, 0xdead, true);
    expect(q.pop()).toBe(`rc ${-ENOENT}, value 0`);
    q.push(7);
    q.push(8);
    expect(q.m.peek(q.val)).toBe(0);
    expect(q.t.mem.view.getUint32(q.val, true)).toBe(7);
    expect(q.m.size).toBe(2);
    const s = setup(MapType.STACK);
    s.push(7);
    s.push(8);
    expect(s.m.peek(s.val)).toBe(0);
    expect(s.t.mem.view.getUint32(s.val, true)).toBe(8);
  });

  it('agree with an array model over long sequences (ring wrap-around)', () => {
    for (const type of [MapType.QUEUE, MapType.STACK]) {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 5 }),
          fc.array(fc.oneof(fc.constant(-1), fc.constant(-2), fc.nat(1000), fc.nat(1000).map((n) => n + 10_000)), { minLength: 10, maxLength: 100, size: 'max' }),
          (max, ops) => {
            const m = setup(type, max);
            const model: number[] = []; // oldest first
            for (const op of ops) {
              if (op === -1) {
                const want = model.length === 0 ? `rc ${-ENOENT}, value 0` : type === MapType.QUEUE ? model.shift() : model.pop();
                expect(m.pop()).toBe(want);
              } else if (op === -2) {
                const rc = m.m.peek(m.val);
                expect(rc === 0 ? m.t.mem.view.getUint32(m.val, true) : undefined).toBe(type === MapType.QUEUE ? model[0] : model.at(-1));
              } else {
                const replace = op >= 10_000;
                const full = model.length === max;
                expect(m.push(op, replace ? BPF_EXIST : BPF_ANY)).toBe(full && !replace ? -E2BIG : 0);
                if (!full || replace) {
                  if (full) model.shift();
                  model.push(op);
                }
              }
              expect(m.m.size).toBe(model.length);
            }
            const order = type === MapType.QUEUE ? model : [...model].reverse();
            expect(m.m.dump().map((e) => new DataView(e.value.buffer).getUint32(0, true))).toEqual(order);
          },
        ),
        { numRuns: 100 },
      );
    }
  });

  it('map the syscall onto push, peek and pop', () => {
    const { m } = setup(MapType.QUEUE, 2);
    m.updateUser(NO_KEY, u32(5));
    m.pushUser(u32(6));
    expect(() => m.pushUser(u32(7))).toThrow("map 'm' (queue): push: E2BIG (map is full (max_entries 2))");
    expect(() => m.pushUser(u32(7), BPF_NOEXIST)).toThrow("map 'm' (queue): push: EINVAL (flags 0x1)");
    expect(hex(m.lookupUser(NO_KEY))).toBe('05000000');
    expect(hex(m.popUser())).toBe('05000000');
    expect(hex(m.peekUser())).toBe('06000000');
    expect(() => m.deleteUser(NO_KEY)).toThrow("map 'm' (queue): delete: EINVAL (queue maps have no keys; use popUser)");
    expect(() => m.lookupUser(u32(0))).toThrow("map 'm' (queue): key of 4 bytes, expected 0");
    expect(hex(m.popUser())).toBe('06000000');
    expect(m.popUser()).toBeUndefined();
    expect(m.keys()).toEqual([]);
  });

  it('rejects the calls the verifier would not allow on these maps', () => {
    const { m, t } = setup(MapType.QUEUE);
    expect(() => m.lookup(t.scratch)).toThrow("map 'm' (queue): bpf_map_lookup_elem is not allowed on queue maps (the verifier rejects it)");
  });
});
