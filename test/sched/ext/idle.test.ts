import { describe, expect, it } from 'vitest';
import { IdleTracker, SCX_WAKE_SYNC } from '../../../src/sched/ext/idle.ts';
import { parseTopology } from '../../../src/sched/topology.ts';

const any = () => true;

describe('default CPU selection (semantics doc §6.5, newest order)', () => {
  it('prefers a fully idle core on SMT machines, starting with prev\'s own', () => {
    // 1 LLC, 4 cores x 2 threads: siblings c and c + 4.
    const idle = new IdleTracker(parseTopology('1n:1l:4c:2t'));
    expect(idle.selectCpuDfl(any, 1, 0)).toEqual({ cpu: 1, isIdle: true });
    // Core 1 now has a busy thread: prev 5 (its sibling) is idle but its core is not, so a
    // fully idle core wins over prev.
    const r = idle.selectCpuDfl(any, 5, 0);
    expect(r.isIdle).toBe(true);
    expect([0, 2, 3, 4, 6, 7]).toContain(r.cpu);
    expect(idle.coreIdle(r.cpu)).toBe(false); // claimed
  });

  it('falls back to prev, then prev\'s sibling, then any idle CPU, then prev without idling', () => {
    const idle = new IdleTracker(parseTopology('1n:1l:2c:2t')); // cores {0,2}, {1,3}
    for (const c of [0, 1, 2, 3]) idle.setIdle(c, false);
    idle.setIdle(2, true); // only 2 idle: no fully idle core
    expect(idle.selectCpuDfl(any, 2, 0)).toEqual({ cpu: 2, isIdle: true }); // prev itself
    idle.setIdle(2, true);
    expect(idle.selectCpuDfl(any, 0, 0)).toEqual({ cpu: 2, isIdle: true }); // prev's sibling
    idle.setIdle(3, true);
    expect(idle.selectCpuDfl(any, 0, 0)).toEqual({ cpu: 3, isIdle: true }); // any idle
    expect(idle.selectCpuDfl(any, 0, 0)).toEqual({ cpu: 0, isIdle: false }); // none left
  });

  it('searches prev\'s LLC, then its node, before the rest of the machine', () => {
    // 2 nodes x 2 LLCs x 2 cores, no SMT: LLCs {0,1} {2,3} {4,5} {6,7}; nodes {0..3} {4..7}.
    const idle = new IdleTracker(parseTopology('2n:2l:2c:1t'));
    for (let c = 0; c < 8; c++) idle.setIdle(c, false);
    idle.setIdle(3, true);
    idle.setIdle(6, true);
    idle.setIdle(1, true);
    // prev 0 is busy: its LLC-mate 1 comes first.
    expect(idle.selectCpuDfl(any, 0, 0).cpu).toBe(1);
    // Then its node (CPU 3) before the other node (CPU 6).
    expect(idle.selectCpuDfl(any, 0, 0).cpu).toBe(3);
    expect(idle.selectCpuDfl(any, 0, 0).cpu).toBe(6);
  });

  it('respects affinity and the synchronous wake-up rules', () => {
    const idle = new IdleTracker(parseTopology('4'));
    const only2 = (c: number) => c === 2;
    expect(idle.selectCpuDfl(only2, 0, 0)).toEqual({ cpu: 2, isIdle: true });
    // WAKE_SYNC: prev shares the waker's LLC and is idle: take prev.
    expect(idle.selectCpuDfl(any, 1, SCX_WAKE_SYNC, { cpu: 3, localDsqEmpty: true, exiting: false })).toEqual({ cpu: 1, isIdle: true });
    // prev busy: the waker's CPU, reported idle without being claimed, when its local DSQ is empty.
    idle.setIdle(0, false);
    const r = idle.selectCpuDfl(any, 0, SCX_WAKE_SYNC, { cpu: 3, localDsqEmpty: true, exiting: false });
    expect(r).toEqual({ cpu: 3, isIdle: true });
    expect(idle.isIdle(3)).toBe(true);
  });

  it('claims and picks idle CPUs like the kfuncs, whole cores first', () => {
    const idle = new IdleTracker(parseTopology('1n:1l:2c:2t'));
    expect(idle.testAndClear(0)).toBe(true);
    expect(idle.testAndClear(0)).toBe(false);
    expect(idle.idleSmtCpus()).toEqual([1, 3]);
    expect(idle.pickIdle([0, 1, 2, 3], any, true)).toBe(1); // the only fully idle core
    expect(idle.pickIdle([0, 1, 2, 3], any, true)).toBe(-16); // no whole core left
    expect(idle.pickIdle([0, 1, 2, 3], any)).toBe(2);
    expect(idle.idleCpus()).toEqual([3]);
  });
});
