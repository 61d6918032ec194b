import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Dsq, SCX_DSQ_GLOBAL, SCX_ENQ_HEAD, SCX_ENQ_PREEMPT, SchedulerAbort, describeDsq, vtimeBefore, SCX_DSQ_LOCAL_ON } from '../../../src/sched/ext/dsq.ts';

const t = (pid: number, dsqVtime = 0n) => ({ pid, dsqVtime });
const pids = (d: Dsq) => d.toArray().map((x) => x.pid);

describe('dispatch queues (semantics doc §2.3)', () => {
  it('appends FIFO inserts and puts HEAD and PREEMPT inserts first', () => {
    const d = new Dsq(0n, false);
    d.insertFifo(t(1), 0);
    d.insertFifo(t(2), 0);
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
    d.insertFifo(t(1), 0);
    expect(() => d.insertVtime(t(2, 1n))).toThrow(new SchedulerAbort(1024, 'runtime error', 'cannot use vtime insert on DSQ 0x1, which holds FIFO tasks'));
    d.remove(d.peek()!);
    d.insertVtime(t(3, 1n)); // empty again: may switch order
    expect(() => d.insertFifo(t(4), 0)).toThrow('which holds vtime-ordered tasks');
    const g = new Dsq(SCX_DSQ_GLOBAL, true);
    expect(() => g.insertVtime(t(5, 9n))).toThrow('cannot use vtime ordering on built-in SCX_DSQ_GLOBAL');
    expect(pids(g)).toEqual([5]); // inserted FIFO so the task is not lost
  });

  it('consumes the first eligible task and skips the others', () => {
    const d = new Dsq(0n, false);
    [1, 2, 3].forEach((p) => d.insertFifo(t(p), 0));
    expect(d.takeFirst((x) => x.pid !== 1)?.pid).toBe(2);
    expect(pids(d)).toEqual([1, 3]);
  });

  it('shows iterators only the tasks inserted before they started', () => {
    const d = new Dsq(0n, false);
    d.insertFifo(t(1), 0);
    d.insertFifo(t(2), 0);
    const started = d.seq;
    d.insertFifo(t(3), SCX_ENQ_HEAD);
    expect(d.snapshot(started).map((x) => x.pid)).toEqual([1, 2]);
    expect(d.snapshot(started, true).map((x) => x.pid)).toEqual([2, 1]);
    expect(describeDsq(SCX_DSQ_LOCAL_ON | 3n)).toBe('SCX_DSQ_LOCAL_ON|3');
  });

  it('keeps vtime order under random inserts, head takes and removals, across u64 wrap-around', () => {
    // The model: a list kept in order by the spec's rule (after every vtime not wrap-safely later).
    const near = (2n ** 64n) - 300n;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 599 }), fc.integer({ min: 0, max: 9 })), { maxLength: 400 }), (ops) => {
        const d = new Dsq(9n, false);
        const model: { pid: number; v: bigint }[] = [];
        let pid = 0;
        for (const [x, op] of ops) {
          const v = BigInt.asUintN(64, near + BigInt(x));
          if (op < 5 || model.length === 0) {
            const task = t(pid++, v);
            d.insertVtime(task);
            let i = 0;
            while (i < model.length && !vtimeBefore(v, model[i].v)) i++;
            model.splice(i, 0, { pid: task.pid, v });
          } else if (op < 8) {
            expect(d.shift()?.pid).toBe(model.shift()!.pid);
          } else {
            const i = x % model.length;
            expect(d.remove(d.toArray()[i])).toBe(true);
            model.splice(i, 1);
          }
          expect(d.toArray().map((q) => q.pid)).toEqual(model.map((m) => m.pid));
        }
      }),
    );
  });
});
