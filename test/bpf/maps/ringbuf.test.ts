import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BPF_RB_AVAIL_DATA,
  BPF_RB_CONS_POS,
  BPF_RB_FORCE_WAKEUP,
  BPF_RB_NO_WAKEUP,
  BPF_RB_PROD_POS,
  BPF_RB_RING_SIZE,
  EAGAIN,
  EINVAL,
  MapType,
  RingBufMap,
} from '../../../src/bpf/maps/index.ts';
import { hex, testEnv } from './env.ts';

function ring(size = 4096) {
  const t = testEnv();
  const m = t.create<RingBufMap>({ name: 'events', type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: size });
  return { t, m, view: () => t.mem.view };
}

describe('ring buffer map', () => {
  it('writes an 8-byte header with the BUSY bit, 8-byte aligned records, and delivers them in reservation order', () => {
    const { t, m, view } = ring();
    const a = m.reserve(10, 0);
    expect(a).toBe(m.data + 8);
    expect(view().getUint32(m.data, true)).toBe(0x8000_000a);
    expect(view().getUint32(m.data + 4, true)).toBe(0); // pg_off: page 0
    const b = m.reserve(3, 0);
    expect(b).toBe(m.data + 24 + 8); // 10 + 8 rounds up to 24
    expect(m.query(BPF_RB_PROD_POS)).toBe(40);
    t.mem.bytes.set([1, 2, 3], b);
    m.submit(b, 0);
    expect(m.drain()).toEqual([]); // the first record is still being written
    t.mem.bytes.fill(7, a, a + 10);
    m.submit(a, 0);
    expect(view().getUint32(m.data, true)).toBe(10);
    expect(m.query(BPF_RB_AVAIL_DATA)).toBe(40);
    expect(m.drain().map(hex)).toEqual(['07'.repeat(10), '010203']);
    expect([m.query(BPF_RB_AVAIL_DATA), m.query(BPF_RB_CONS_POS), m.query(BPF_RB_RING_SIZE), m.query(99)]).toEqual([0, 40, 4096, 0]);
  });

  it('skips discarded records but still consumes their space', () => {
    const { t, m } = ring();
    const a = m.reserve(8, 0);
    const b = m.reserve(8, 0);
    t.mem.bytes.fill(0xbb, b, b + 8);
    m.discard(a, 0);
    expect(t.mem.view.getUint32(a - 8, true)).toBe(0x4000_0008);
    m.submit(b, 0);
    expect(m.drain().map(hex)).toEqual(['bb'.repeat(8)]);
    expect(m.consumerPosition).toBe(32);
  });

  it('never lets outstanding records exceed size - 1 bytes', () => {
    const { m } = ring();
    expect(m.reserve(4088, 0)).toBe(0); // 4096 bytes with its header: the whole ring, one too many
    expect(m.reserve(4097, 0)).toBe(0);
    const a = m.reserve(4080, 0); // 4088 bytes
    expect(a).not.toBe(0);
    expect(m.reserve(0, 0)).toBe(0); // 8 more would make 4096
    expect(m.output(a, 1, 0)).toBe(-EAGAIN);
    m.submit(a, 0);
    expect(m.reserve(0, 0)).toBe(0); // committed but not consumed: still occupied
    expect(m.consume(() => {})).toBe(1);
    expect(m.reserve(0, 0)).not.toBe(0);
    expect(m.reserve(1, 1)).toBe(0); // bpf_ringbuf_reserve takes no flags
    expect(m.output(a, 1, 4)).toBe(-EINVAL);
  });

  it('shows a record that wraps around the end exactly as the double-mapped kernel ring would', () => {
    const { t, m } = ring();
    const first = m.reserve(4000, 0);
    t.mem.bytes.fill(0xa1, first, first + 4000);
    m.submit(first, 0);
    m.drain(); // consumer and producer at 4008
    // 100 bytes + header from offset 4008: the sample runs 80 bytes to the end, then 20 wrap.
    const s = m.reserve(100, 0);
    expect(s).toBe(m.data + 4016);
    t.mem.bytes.fill(0xb2, s, s + 50);
    t.mem.bytes.fill(0xc3, s + 95, s + 100);
    m.submit(s, 0);
    // Bytes the program left alone show the ring's old contents: zeros at 4066..4095, then the
    // first record's header (len 4000 = 0xfa0) and samples at offsets 0..14.
    const want = 'b2'.repeat(50) + '00'.repeat(30) + 'a00f000000000000' + 'a1'.repeat(7) + 'c3'.repeat(5);
    expect(m.dump().map((e) => hex(e.value))).toEqual([want]);
    // The ring's first bytes now hold the wrapped tail, as the aliased pages would.
    expect(hex(t.mem.bytes.slice(m.data + 15, m.data + 20))).toBe('c3'.repeat(5));
    expect(m.drain().map(hex)).toEqual([want]);
    // The record took round_up(100 + 8, 8) = 112 bytes: the next starts at 4120 % 4096 = 24.
    expect(m.reserve(1, 0)).toBe(m.data + 24 + 8);
  });

  it('counts the wakeups the kernel would send', () => {
    const { m } = ring();
    const a = m.reserve(8, 0);
    const b = m.reserve(8, 0);
    m.submit(b, 0); // not the record the consumer waits at
    expect(m.wakeups).toBe(0);
    m.submit(a, 0);
    expect(m.wakeups).toBe(1);
    m.drain();
    m.submit(m.reserve(8, 0), BPF_RB_NO_WAKEUP);
    expect(m.wakeups).toBe(1);
    m.submit(m.reserve(8, 0), BPF_RB_FORCE_WAKEUP);
    expect(m.wakeups).toBe(2);
  });

  it('stops consuming after max records and refuses to commit a record twice', () => {
    const { t, m } = ring();
    for (let i = 0; i < 3; i++) {
      t.put([i]);
      expect(m.output(t.scratch, 1, 0)).toBe(0);
    }
    const got: string[] = [];
    expect(m.consume((d) => got.push(hex(d)!), 2)).toBe(2);
    expect(got).toEqual(['00', '01']);
    expect(m.drain().map(hex)).toEqual(['02']);
    const r = m.reserve(4, 0);
    m.submit(r, 0);
    expect(() => m.submit(r, 0)).toThrow(`map 'events' (ringbuf): 0x${r.toString(16)} is not a reserved, uncommitted record`);
    expect(() => m.discard(m.data + 3, 0)).toThrow(/is not a reserved, uncommitted record/);
    expect(() => m.lookupUser(new Uint8Array(0))).toThrow("map 'events' (ringbuf): lookup: ENOTSUPP");
    expect(m.contains(r)).toBe(true);
    expect(m.contains(m.data + 2 * 4096)).toBe(false);
  });

  it('agrees with a model of positions and contents over random reserve/commit/consume sequences', () => {
    type Op = { kind: 'reserve'; size: number } | { kind: 'commit'; pick: number; discard: boolean } | { kind: 'consume' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), size: fc.oneof(fc.nat(40), fc.nat(1500)) }),
      fc.record({ kind: fc.constant('commit' as const), pick: fc.nat(), discard: fc.boolean() }),
      fc.record({ kind: fc.constant('consume' as const) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 20, maxLength: 200, size: 'max' }), (ops) => {
        const { t, m } = ring();
        const R = 4096;
        type Rec = { id: number; addr: number; size: number; len: number; state: 'busy' | 'sub' | 'disc' };
        const recs: Rec[] = []; // not yet consumed, in reservation order
        let prod = 0;
        let cons = 0;
        let nextId = 0;
        const fill = (id: number, size: number): Uint8Array => Uint8Array.from({ length: size }, (_, j) => (id * 7 + j) & 0xff);
        for (const op of ops) {
          if (op.kind === 'reserve') {
            const len = Math.ceil((op.size + 8) / 8) * 8;
            const ok = prod + len - cons <= R - 1;
            const addr = m.reserve(op.size, 0);
            expect(addr).toBe(ok ? m.data + (prod % R) + 8 : 0);
            if (ok) {
              const id = nextId++;
              t.mem.bytes.set(fill(id, op.size), addr); // contiguous, even when it wraps
              recs.push({ id, addr, size: op.size, len, state: 'busy' });
              prod += len;
            }
          } else if (op.kind === 'commit') {
            const busy = recs.filter((r) => r.state === 'busy');
            if (busy.length === 0) continue;
            const r = busy[op.pick % busy.length];
            if (op.discard) m.discard(r.addr, 0);
            else m.submit(r.addr, 0);
            r.state = op.discard ? 'disc' : 'sub';
          } else {
            const want: string[] = [];
            while (recs.length && recs[0].state !== 'busy') {
              const r = recs.shift()!;
              cons += r.len;
              if (r.state === 'sub') want.push(hex(fill(r.id, r.size))!);
            }
            expect(m.drain().map(hex)).toEqual(want);
          }
          expect(m.query(BPF_RB_PROD_POS)).toBe(prod);
          expect(m.query(BPF_RB_CONS_POS)).toBe(cons);
        }
      }),
      { numRuns: 150 },
    );
  });
});
