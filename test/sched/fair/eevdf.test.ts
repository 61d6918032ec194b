import { describe, expect, it } from 'vitest';
import { FairRunqueue, baseSlice, calcDeltaFair, type FairEntity } from '../../../src/sched/fair/eevdf.ts';

const MS = 1_000_000;
const entity = (id: number, weight: number, slice = 3 * MS): FairEntity => ({ id, weight, vruntime: 0, deadline: 0, vlag: 0, slice });

/** Run the queue for `ms` 1-ms ticks, rescheduling when the running entity passes its deadline. */
function run(rq: FairRunqueue, ms: number, service: Map<number, number>): void {
  for (let i = 0; i < ms; i++) {
    if (!rq.curr) rq.setCurr(rq.pick()!);
    const c = rq.curr!;
    service.set(c.id, (service.get(c.id) ?? 0) + MS);
    if (rq.updateCurr(MS)) rq.setCurr(rq.pick()!);
  }
}

describe('EEVDF runqueue', () => {
  it('scales the base slice by CPU count like the kernel (0.75 ms x (1 + log2 min(n, 8)))', () => {
    expect([1, 2, 4, 8, 64].map(baseSlice)).toEqual([750_000, 1_500_000, 2_250_000, 3_000_000, 3_000_000]);
    expect(calcDeltaFair(MS, 1024)).toBe(MS);
    expect(calcDeltaFair(MS, 2048)).toBe(MS / 2);
  });

  it('places a new entity at the average vruntime with half a slice to its deadline', () => {
    const rq = new FairRunqueue();
    const a = entity(1, 1024);
    rq.enqueue(a, true);
    rq.setCurr(a);
    // a at 2 ms of vruntime, past its initial 1.5 ms deadline: renewed to 2 + 3 = 5 ms.
    expect(rq.updateCurr(2 * MS)).toBe(true);
    expect(a.deadline).toBe(5 * MS);
    const b = entity(2, 1024);
    rq.enqueue(b, true);
    expect([b.vruntime, b.deadline]).toEqual([2 * MS, 2 * MS + 1.5 * MS]);
    // Both at V = 2 ms, both eligible: b's 3.5 ms deadline is the earliest.
    expect(rq.eligible(b)).toBe(true);
    expect(rq.pick()).toBe(b);
  });

  it('shares CPU time in proportion to weight', () => {
    const rq = new FairRunqueue();
    const light = entity(1, 1024);
    const heavy = entity(2, 2048);
    rq.enqueue(light, true);
    rq.enqueue(heavy, true);
    const service = new Map<number, number>();
    run(rq, 3000, service);
    const ratio = service.get(2)! / service.get(1)!;
    expect(Math.abs(ratio - 2)).toBeLessThan(0.02);
  });

  it('keeps lag across a sleep: an entity that was owed time is placed behind V', () => {
    const rq = new FairRunqueue();
    const a = entity(1, 1024);
    const b = entity(2, 1024);
    rq.enqueue(a, true);
    rq.enqueue(b, true);
    rq.setCurr(a);
    rq.updateCurr(2 * MS); // a ran 2 ms; b none: V = 1 ms, b is 1 ms behind
    rq.dequeueSleep(b);
    expect(b.vlag).toBe(1 * MS);
    rq.updateCurr(4 * MS); // a alone at 6 ms
    rq.enqueue(b, false);
    // Lag 1 ms scaled by (1024 + 1024) / 1024 so that after joining, b is still 1 ms behind V.
    expect(b.vruntime).toBe(6 * MS - 2 * MS);
    expect(rq.avgVruntime() - b.vruntime).toBe(1 * MS);
    expect(rq.shouldPreempt(b)).toBe(true);
  });

  it('clamps lag and does not let an ineligible waker preempt', () => {
    const rq = new FairRunqueue();
    const a = entity(1, 1024);
    rq.enqueue(a, true);
    rq.setCurr(a);
    const b = entity(2, 1024);
    b.vlag = -50 * MS; // far ahead: clamped to -max(2 * slice, tick) = -6 ms on the next sleep; here placed ahead of V
    rq.enqueue(b, false);
    expect(rq.eligible(b)).toBe(false);
    expect(rq.shouldPreempt(b)).toBe(false);
    rq.dequeueSleep(b);
    expect(b.vlag).toBe(-6 * MS);
  });
});
