import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Dsq, SCX_DSQ_GLOBAL, SCX_ENQ_HEAD, SCX_ENQ_PREEMPT, SchedulerAbort, describeDsq, vtimeBefore, SCX_DSQ_LOCAL_ON } from '../../../src/sched/ext/dsq.ts';

const t = (pid: number, dsqVtime = 0n) => ({ pid, dsqVtime });
const pids = (d: Dsq) => d.toArray().map((x) => x.pid);

describe('dispatch queues (semantics doc §2.3)', () => {
  it('appends FIFO inserts and puts HEAD and PREEMPT inserts first', () => {
    const d = new Dsq(0n, false);
    d.insertFifo(t(1), 0n);
    d.insertFifo(t(2), 0n);
    d.insertFifo(t(3), SCX_ENQ_HEAD);
    d.insertFifo(t(4), SCX_ENQ_PREEMPT);
    expect(pids(d)).toEqual([4, 3, 1, 2]);
  });

  it('orders vtime inserts ascending, wrap-safely, equal vtimes in insertion order', () => {
    const d = new Dsq(7n, false);
    const near = (1n << 64n) - 10n; // just before the wrap: earlier than 5
    d.insertVtime(t(1, 20n));
    d.insertVtime(t(2, 5n));
    d.insertVtime(t(3, 20n));
    d.insertVtime(t(4, near));
    d.insertVtime(t(5, 5n));
    expect(pids(d)).toEqual([4, 2, 5, 1, 3]);
    expect(vtimeBefore(near, 5n)).toBe(true);
  });

  it('aborts the scheduler when FIFO and vtime are mixed, or vtime is used on a built-in DSQ', () => {
    const d = new Dsq(1n, false);
    d.insertFifo(t(1), 0n);
    expect(() => d.insertVtime(t(2, 1n))).toThrow(new SchedulerAbort(1024, 'runtime error', 'cannot use vtime insert on DSQ 0x1, which holds FIFO tasks'));
    d.remove(d.peek()!);
    d.insertVtime(t(3, 1n)); // empty again: may switch order
    expect(() => d.insertFifo(t(4), 0n)).toThrow('which holds vtime-ordered tasks');
    const g = new Dsq(SCX_DSQ_GLOBAL, true);
    expect(() => g.insertVtime(t(5, 9n))).toThrow('cannot use vtime ordering on built-in SCX_DSQ_GLOBAL');
    expect(pids(g)).toEqual([5]); // inserted FIFO so the task is not lost
  });

  it('consumes the first eligible task and skips the others', () => {
    const d = new Dsq(0n, false);
    [1, 2, 3].forEach((p) => d.insertFifo(t(p), 0n));
    expect(d.takeFirst((x) => x.pid !== 1)?.pid).toBe(2);
    expect(pids(d)).toEqual([1, 3]);
  });

  it('shows iterators only the tasks inserted before they started', () => {
    const d = new Dsq(0n, false);
    d.insertFifo(t(1), 0n);
    d.insertFifo(t(2), 0n);
    const started = d.seq;
    d.insertFifo(t(3), SCX_ENQ_HEAD);
    expect(d.snapshot(started).map((x) => x.pid)).toEqual([1, 2]);
    expect(d.snapshot(started, true).map((x) => x.pid)).toEqual([2, 1]);
    expect(describeDsq(SCX_DSQ_LOCAL_ON | 3n)).toBe('SCX_DSQ_LOCAL_ON|3');
  });

  it('keeps vtime order under random inserts and removals', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.bigInt({ min: 0n, max: 1000n }), fc.boolean()), { maxLength: 60 }), (ops) => {
        const d = new Dsq(9n, false);
        let pid = 0;
        for (const [v, remove] of ops) {
          if (remove && d.length) d.remove(d.toArray()[Number(v) % d.length]);
          else d.insertVtime(t(pid++, v));
        }
        const vs = d.toArray().map((x) => x.dsqVtime);
        for (let i = 1; i < vs.length; i++) expect(vs[i - 1] <= vs[i]).toBe(true);
      }),
    );
  });
});
