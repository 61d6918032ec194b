import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LatencyStats } from '../../src/sched/latency.ts';

/** The exact quantile the histogram approximates: the value of rank ceil(q * n). */
const exactQuantile = (sorted: number[], q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];

describe('latency distributions in bounded memory', () => {
  it('keeps count, sum, min and max exactly, and quantiles within 1/32 of the exact ones', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 10_000_000 })), { minLength: 1, maxLength: 300 }), fc.double({ min: 0.01, max: 0.99, noNaN: true }), (values, q) => {
        const s = new LatencyStats();
        for (const v of values) s.add(v);
        const sorted = [...values].sort((a, b) => a - b);
        expect([s.count, s.sum, s.min, s.max]).toEqual([values.length, values.reduce((a, b) => a + b, 0), sorted[0], sorted[sorted.length - 1]]);
        const exact = exactQuantile(sorted, q);
        const got = s.quantile(q);
        if (exact < 64) expect(got).toBe(exact);
        else expect(Math.abs(got - exact)).toBeLessThanOrEqual(exact / 32);
      }),
      { numRuns: 500 },
    );
  });

  it('merges like adding every value again, and stays small however many values it holds', () => {
    const a = new LatencyStats();
    const b = new LatencyStats();
    const all = new LatencyStats();
    for (let i = 0; i < 100_000; i++) {
      const v = (i * 7919) % 5_000_000;
      (i % 2 ? a : b).add(v);
      all.add(v);
    }
    a.merge(b);
    expect(a.summary()).toEqual(all.summary());
    // 100,000 values up to 5 ms fit in well under a thousand buckets.
    expect((all as unknown as { buckets: Uint32Array }).buckets.length).toBeLessThan(1024);
    expect(new LatencyStats().summary()).toEqual({ count: 0, mean: 0, min: 0, max: 0, p50: 0, p90: 0, p99: 0 });
    expect(() => all.add(-1)).toThrow('latency -1 ns: expected a non-negative integer');
  });
});
