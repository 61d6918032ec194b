/**
 * Task weights. The kernel's sched_prio_to_weight table (nice -20..19; nice 0 = 1024, each step
 * about 1.25x) drives the fair class; sched_ext shows BPF a scaled weight in [1, 10000] with
 * 100 = nice 0: clamp(round(weight * 100 / 1024), 1, 10000), rounding half up
 * (semantics doc §3.7). SCHED_IDLE tasks use kernel weight 3.
 */
import { ScxError } from '../util/errors.ts';

/** sched_prio_to_weight[nice + 20]. */
export const PRIO_TO_WEIGHT: readonly number[] = [
  88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586, 1277, 1024,
  820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
];

export const NICE_0_WEIGHT = 1024;
export const WEIGHT_IDLEPRIO = 3;

export function niceToWeight(nice: number): number {
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new ScxError(`nice ${nice}: expected an integer in -20..19`);
  return PRIO_TO_WEIGHT[nice + 20];
}

/** The weight sched_ext shows in p->scx.weight for a kernel weight. */
export function scxWeight(kernelWeight: number): number {
  return Math.min(10000, Math.max(1, Math.floor((kernelWeight * 100 + 512) / 1024)));
}

/** static_prio of a normal task: 120 + nice. */
export const staticPrio = (nice: number): number => 120 + nice;
