import { describe, expect, it } from 'vitest';
import { PRIO_TO_WEIGHT, WEIGHT_IDLEPRIO, niceToWeight, scxWeight } from '../../src/sched/weights.ts';

describe('weights', () => {
  it('matches every nice:kernel/scx pair of the semantics doc §3.7', () => {
    // Copied from the specification's table (nice:kernel/scx), not from the implementation.
    const doc =
      '-20:88761/8668 -19:71755/7007 -18:56483/5516 -17:46273/4519 -16:36291/3544 -15:29154/2847 -14:23254/2271 -13:18705/1827 -12:14949/1460 -11:11916/1164 ' +
      '-10:9548/932 -9:7620/744 -8:6100/596 -7:4904/479 -6:3906/381 -5:3121/305 -4:2501/244 -3:1991/194 -2:1586/155 -1:1277/125 ' +
      '0:1024/100 1:820/80 2:655/64 3:526/51 4:423/41 5:335/33 6:272/27 7:215/21 8:172/17 9:137/13 ' +
      '10:110/11 11:87/8 12:70/7 13:56/5 14:45/4 15:36/4 16:29/3 17:23/2 18:18/2 19:15/1';
    for (const entry of doc.split(' ')) {
      const [, nice, kernel, scx] = /^(-?\d+):(\d+)\/(\d+)$/.exec(entry)!.map(Number);
      expect(niceToWeight(nice), `nice ${nice}`).toBe(kernel);
      expect(scxWeight(kernel), `nice ${nice}`).toBe(scx);
    }
    expect(PRIO_TO_WEIGHT).toHaveLength(40);
  });

  it('gives SCHED_IDLE weight 1 and refuses nice outside -20..19', () => {
    expect(scxWeight(WEIGHT_IDLEPRIO)).toBe(1);
    expect(() => niceToWeight(20)).toThrow('nice 20: expected an integer in -20..19');
  });
});
