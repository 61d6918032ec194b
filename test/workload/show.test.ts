import { describe, expect, it } from 'vitest';
import type { SimTask } from '../../src/sched/spec.ts';
import { profileWorkload } from '../../src/workload/show.ts';

const MS = 1_000_000;

describe('workload profiles (each task as if alone)', () => {
  it('adds up demand, span and the demand over time', () => {
    const tasks: SimTask[] = [
      { pid: 1, comm: 'a', arrival: 0, phases: [{ run: 2 * MS }, { sleep: 3 * MS }], loops: 2 },
      { pid: 2, comm: 'b', arrival: MS, phases: [{ run: 4 * MS }], loops: 1 },
    ];
    // a runs 0-2 and 5-7 ms and ends at 10 ms (after its last sleep); b runs 1-5 ms.
    const p = profileWorkload(tasks, 100 * MS, 10);
    expect(p).toMatchObject({ tasks: 2, forked: 0, demandNs: 8 * MS, startNs: 0, endNs: 10 * MS, truncated: false, bucketNs: 10 * MS });
    expect(p.demand).toEqual([0.8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Finer buckets show the overlap: 1 ms buckets over the first 10 ms.
    expect(profileWorkload(tasks, 10 * MS, 10).demand).toEqual([1, 2, 1, 1, 1, 1, 1, 0, 0, 0]);
  });

  it('follows forks and periodic timers, and cuts endless tasks at the horizon', () => {
    const shell: SimTask = { pid: 1, comm: 'sh', arrival: 0, phases: [{ fork: { comm: 'c', phases: [{ run: MS }], loops: 1 } }, { run: MS }, { timer: 5 * MS }], loops: 2 };
    const p = profileWorkload([shell], 20 * MS, 4);
    // Children at 0 and 5 ms run 1 ms each; the shell runs 0-1 and 5-6 and ends at 10 ms.
    expect(p).toMatchObject({ tasks: 1, forked: 2, demandNs: 4 * MS, endNs: 10 * MS, truncated: false });
    expect(p.demand).toEqual([0.4, 0.4, 0, 0]);
    const hog = profileWorkload([{ pid: 1, comm: 'hog', arrival: 0, phases: [{ run: 1e12 }] }], 10 * MS, 2);
    expect(hog).toMatchObject({ demandNs: 10 * MS, endNs: 10 * MS, truncated: true });
    expect(hog.demand).toEqual([1, 1]);
  });
});
