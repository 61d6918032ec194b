/**
 * Two results folders side by side: for every (scheduler, workload, topology) that both hold,
 * every scalar metric's mean over seeds in A and in B, the difference B - A, and whether that
 * difference is statistically significant. Like every report, it is made from the folders'
 * files alone (design.md §6), so results from different machines or commits can be compared.
 *
 * Matching. A combination is named by its scheduler, workload and topology exactly as the
 * suites wrote them (what results.csv shows). A folder holds a combination when at least one of
 * its runs was done: 'not run' rows (a stopped suite, a shard) are never results. A combination
 * that only one folder holds is listed as such, and one that neither ran is listed too; none is
 * dropped. Runs with status 'error' or 'not run' have no metrics: they are left out of the means
 * and counted. Aborted runs have metrics for the whole run (docs/metrics.md, "Scheduler exit")
 * and are included, and counted so that the report can flag them. Within one metric, runs where
 * the metric is null (it does not apply) are left out of that metric and counted.
 *
 * Metrics. Every numeric metric of METRIC_DEFINITIONS except `utilisationPerCpu` (a list) and
 * the exit's kind, reason and message (codes and text: a mean of them means nothing; the
 * aborted-run count says whether a scheduler exited).
 *
 * Significance rules, applied in this order to the per-seed values of one metric (A: the values
 * in folder A, B: in folder B):
 *   1. Neither side has a value:             'not applicable'.
 *   2. One side has no value:                'cannot judge'.
 *   3. Every value on both sides is equal, or both sides ran the same seeds and each seed gave
 *      the same value in A as in B: 'no change'. The simulator is deterministic, so this is
 *      what a rerun of the same scheduler, workload and seeds gives; nothing is left to test.
 *   4. A side has a single value:            'cannot judge' (one seed gives no spread to
 *      measure the difference against).
 *   5. Both sides are constant (zero variance) but differ: 'cannot judge'. The t statistic would
 *      be infinite; a difference with no spread at all says nothing about chance, because the
 *      seeds did not move the metric.
 *   6. Otherwise Welch's two-sample t-test (unequal variances, Welch-Satterthwaite degrees of
 *      freedom), two-sided: 'significant' when p < 0.05, else 'not significant'.
 * A significant change is 'better' or 'worse' by METRIC_DEFINITIONS[k].better; a metric with
 * no better direction (counts, context) is only 'changed'. The terminal view lists significant
 * changes and those that cannot be judged, and counts the rest (no change, not significant, not
 * applicable); --all lists every metric.
 *
 * Welch's test rather than Student's: nothing says two schedulers spread a metric alike.
 * Unpaired rather than paired: the two folders need not share seeds. With shared seeds a paired
 * test would be sharper, so this one errs on the side of "not significant". The test treats
 * the seeds' values as independent draws whose means are about normally distributed, the same
 * assumption as summarise's intervals; with 2-3 seeds only large shifts reach significance.
 */
import { METRIC_DEFINITIONS, studentTQuantile, studentTUpperTail, summarise, type Metrics } from './metrics.ts';
import type { RunOutcome } from './run-one.ts';
import type { Suite } from './suite.ts';

/** A results folder as readResults returns it. */
export interface ResultsFolder {
  suite: Suite;
  outcomes: readonly RunOutcome[];
}

export const SIGNIFICANCE_LEVEL = 0.05;

export type ComparedMetric = Exclude<keyof Metrics, 'utilisationPerCpu' | 'exitKind' | 'exitReason' | 'exitMessage'>;
const NOT_COMPARED = new Set<keyof Metrics>(['utilisationPerCpu', 'exitKind', 'exitReason', 'exitMessage']);
/** The metrics compared, in the order of METRIC_DEFINITIONS (the order of results.csv). */
export const COMPARED_METRICS: readonly ComparedMetric[] = (Object.keys(METRIC_DEFINITIONS) as (keyof Metrics)[]).filter((k): k is ComparedMetric => !NOT_COMPARED.has(k));

export interface WelchTest {
  /** (mean(b) - mean(a)) / se: positive when b's mean is larger. */
  t: number;
  /** Welch-Satterthwaite degrees of freedom (not an integer in general). */
  df: number;
  /** Two-sided: P(|T| >= |t|). */
  p: number;
}

interface Moments {
  n: number;
  mean: number;
  /** Sample variance over n: the squared standard error of the mean. */
  varOfMean: number;
}

const constant = (x: readonly number[]) => x.every((v) => v === x[0]);

function moments(x: readonly number[]): Moments {
  const s = summarise(x);
  return { n: s.n, mean: s.mean!, varOfMean: s.stdev! ** 2 / s.n };
}

/**
 * Welch's two-sample t-test of mean(b) - mean(a). null when it cannot be computed: fewer than
 * two values on a side, or no spread on either side (the standard error is 0).
 */
export function welch(a: readonly number[], b: readonly number[]): WelchTest | null {
  const r = welchWithSe(a, b);
  return r && { t: r.t, df: r.df, p: r.p };
}

function welchWithSe(a: readonly number[], b: readonly number[]): (WelchTest & { se: number }) | null {
  if (a.length < 2 || b.length < 2) return null;
  // Tested on the values, not on the variance: a mean rounded by an ulp leaves a variance of 1e-33
  // for values that are all equal, and a t in the trillions.
  if (constant(a) && constant(b)) return null;
  const x = moments(a);
  const y = moments(b);
  const se2 = x.varOfMean + y.varOfMean;
  if (!(se2 > 0)) return null;
  const se = Math.sqrt(se2);
  const t = (y.mean - x.mean) / se;
  const df = (se2 * se2) / (x.varOfMean ** 2 / (x.n - 1) + y.varOfMean ** 2 / (y.n - 1));
  const p = Math.min(1, 2 * studentTUpperTail(Math.abs(t), df));
  return { t, df, p, se };
}

export type Significance = 'significant' | 'not significant' | 'no change' | 'cannot judge' | 'not applicable';

/** One metric of one combination on one side. */
export interface SideStats {
  /** Runs with a value for this metric (runs without metrics and null values left out). */
  n: number;
  /** Runs with metrics whose value of this metric is null. */
  missing: number;
  mean: number | null;
  /** Sample standard deviation; null below two values. */
  stdev: number | null;
  /** The per-seed values, in the folder's seed order. */
  values: number[];
  /** The seed of each value. */
  seeds: number[];
}

export interface MetricComparison {
  metric: ComparedMetric;
  unit: string;
  better: 'lower' | 'higher' | null;
  a: SideStats;
  b: SideStats;
  /** mean(B) - mean(A); null when a side has no value. */
  diff: number | null;
  /** diff / |mean(A)|; null when a side has no value, or mean(A) is 0 and mean(B) is not. */
  relDiff: number | null;
  /** Welch's test; null where rules 1-5 decide. */
  test: WelchTest | null;
  /** The 95% confidence interval of diff (Welch): where the test was made. */
  ci95: [number, number] | null;
  significance: Significance;
  /** For a significant change of a metric with a better direction. */
  direction: 'better' | 'worse' | null;
  /** Why significance cannot be judged. */
  reason: string | null;
}

export interface RunCounts {
  /** The runs the folder's suite has for the combination. */
  runs: number;
  /** Runs that finished (ok or aborted): the ones with metrics. */
  completed: number;
  aborted: number;
  errors: number;
  notRun: number;
}

export interface CombinationComparison {
  scheduler: string;
  workload: string;
  topology: string;
  a: RunCounts;
  b: RunCounts;
  metrics: MetricComparison[];
}

export interface OnlyInOne {
  scheduler: string;
  workload: string;
  topology: string;
  runs: RunCounts;
  /** Runs the other folder's suite has for the combination, none of them done. */
  notRunInOther: number;
}

export interface NotRun {
  scheduler: string;
  workload: string;
  topology: string;
}

export interface FolderSummary {
  suite: string;
  seeds: number[];
  durationNs: number;
  hz: number;
}

export interface Comparison {
  a: FolderSummary;
  b: FolderSummary;
  significanceLevel: number;
  /** Differences between the folders' settings that bear on the comparison. */
  notes: string[];
  /** Combinations in both folders, grouped by workload and topology, then by scheduler. */
  combinations: CombinationComparison[];
  onlyInA: OnlyInOne[];
  onlyInB: OnlyInOne[];
  /** In both suites, but no run of it was done in either folder. */
  notRunInEither: NotRun[];
}

const keyOf = (o: { scheduler: string; workload: string; topology: string }) => JSON.stringify([o.workload, o.topology, o.scheduler]);

function group(outcomes: readonly RunOutcome[]): Map<string, RunOutcome[]> {
  const m = new Map<string, RunOutcome[]>();
  for (const o of outcomes) {
    const k = keyOf(o);
    const list = m.get(k);
    if (list) list.push(o);
    else m.set(k, [o]);
  }
  return m;
}

const done = (runs: readonly RunOutcome[] | undefined) => runs !== undefined && runs.some((o) => o.status !== 'not run');
const hasMetrics = (o: RunOutcome) => (o.status === 'ok' || o.status === 'aborted') && o.metrics !== undefined;

function counts(runs: readonly RunOutcome[]): RunCounts {
  const of = (s: RunOutcome['status']) => runs.filter((o) => o.status === s).length;
  return { runs: runs.length, completed: runs.filter(hasMetrics).length, aborted: of('aborted'), errors: of('error'), notRun: of('not run') };
}

export function side(runs: readonly RunOutcome[], k: ComparedMetric): SideStats {
  const values: number[] = [];
  const seeds: number[] = [];
  let missing = 0;
  for (const o of runs) {
    if (!hasMetrics(o)) continue;
    const v = o.metrics![k];
    if (typeof v === 'number' && Number.isFinite(v)) {
      values.push(v);
      seeds.push(o.seed);
    } else missing++;
  }
  const s = summarise(values);
  return { n: values.length, missing, mean: s.mean, stdev: s.stdev, values, seeds };
}

/** Rule 3: nothing moved, either across seeds or between the folders seed by seed. */
function unchanged(a: SideStats, b: SideStats): boolean {
  if (constant([...a.values, ...b.values])) return true;
  if (a.n !== b.n) return false;
  const bySeed = new Map(b.seeds.map((s, i) => [s, b.values[i]]));
  return bySeed.size === b.n && a.seeds.every((s, i) => bySeed.get(s) === a.values[i]);
}

/** The rules of the top-of-file comment, for one metric. */
export function compareMetric(k: ComparedMetric, a: SideStats, b: SideStats): MetricComparison {
  const def = METRIC_DEFINITIONS[k];
  // Every field in place, in the order --json prints them.
  const base: MetricComparison = { metric: k, unit: def.unit, better: def.better ?? null, a, b, diff: null, relDiff: null, test: null, ci95: null, significance: 'not applicable', direction: null, reason: null };
  if (a.mean === null && b.mean === null) return base;
  if (a.mean === null || b.mean === null) return { ...base, significance: 'cannot judge', reason: `no value in ${a.mean === null ? 'A' : 'B'}` };
  const diff = b.mean - a.mean;
  const relDiff = a.mean !== 0 ? diff / Math.abs(a.mean) : diff === 0 ? 0 : null;
  // The same values summed in another seed order can differ in the last bit.
  if (unchanged(a, b)) return { ...base, diff: 0, relDiff: 0, significance: 'no change' };
  const judged = { ...base, diff, relDiff };
  if (a.n < 2 || b.n < 2) {
    const which = a.n < 2 && b.n < 2 ? 'A and B' : a.n < 2 ? 'A' : 'B';
    return { ...judged, significance: 'cannot judge', reason: `one seed in ${which}` };
  }
  const test = welchWithSe(a.values, b.values);
  if (!test) return { ...judged, significance: 'cannot judge', reason: 'no spread in A or in B' };
  const half = studentTQuantile(0.975, test.df) * test.se;
  const significant = test.p < SIGNIFICANCE_LEVEL;
  let direction: 'better' | 'worse' | null = null;
  if (significant && def.better) direction = (diff < 0) === (def.better === 'lower') ? 'better' : 'worse';
  return {
    ...judged,
    test: { t: test.t, df: test.df, p: test.p },
    ci95: [diff - half, diff + half],
    significance: significant ? 'significant' : 'not significant',
    direction,
  };
}

const summary = (s: Suite): FolderSummary => ({ suite: s.name, seeds: [...s.seeds], durationNs: s.durationNs, hz: s.hz });

/** Compare results folder B against A (differences are B - A). */
export function compareResults(a: ResultsFolder, b: ResultsFolder): Comparison {
  const ga = group(a.outcomes);
  const gb = group(b.outcomes);
  // Order: workload and topology as first seen (A's before B's), then scheduler likewise, so
  // that a group's schedulers sit together whichever folder holds them.
  const order = new Map<string, number>();
  const groupOrder = new Map<string, number>();
  for (const o of [...a.outcomes, ...b.outcomes]) {
    const g = JSON.stringify([o.workload, o.topology]);
    if (!groupOrder.has(g)) groupOrder.set(g, groupOrder.size);
    const k = keyOf(o);
    if (!order.has(k)) order.set(k, order.size);
  }
  const rank = (k: string) => {
    const [w, t] = JSON.parse(k) as string[];
    return groupOrder.get(JSON.stringify([w, t]))! * order.size + order.get(k)!;
  };
  const keys = [...order.keys()].sort((x, y) => rank(x) - rank(y));

  const combinations: CombinationComparison[] = [];
  const onlyInA: OnlyInOne[] = [];
  const onlyInB: OnlyInOne[] = [];
  const notRunInEither: NotRun[] = [];
  for (const k of keys) {
    const ra = ga.get(k);
    const rb = gb.get(k);
    const head = ra?.[0] ?? rb![0];
    const name = { scheduler: head.scheduler, workload: head.workload, topology: head.topology };
    if (done(ra) && done(rb)) combinations.push({ ...name, a: counts(ra!), b: counts(rb!), metrics: COMPARED_METRICS.map((m) => compareMetric(m, side(ra!, m), side(rb!, m))) });
    else if (done(ra)) onlyInA.push({ ...name, runs: counts(ra!), notRunInOther: rb?.length ?? 0 });
    else if (done(rb)) onlyInB.push({ ...name, runs: counts(rb!), notRunInOther: ra?.length ?? 0 });
    else notRunInEither.push(name);
  }

  const notes: string[] = [];
  if (a.suite.durationNs !== b.suite.durationNs) {
    notes.push(`the runs' durations differ (A ${a.suite.durationNs / 1e6} ms, B ${b.suite.durationNs / 1e6} ms): counts and totals grow with duration`);
  }
  if (a.suite.hz !== b.suite.hz) notes.push(`the tick frequencies differ (A ${a.suite.hz} Hz, B ${b.suite.hz} Hz)`);
  return { a: summary(a.suite), b: summary(b.suite), significanceLevel: SIGNIFICANCE_LEVEL, notes, combinations, onlyInA, onlyInB, notRunInEither };
}

// ---- the terminal view ----

const WIDTH = { indent: 2, metric: 22, value: 12, rel: 8, p: 8 };

/** ns as ns, us, ms or s: one scale for a row, chosen by its larger mean. */
function timeScale(ns: number): [number, string] {
  const a = Math.abs(ns);
  if (a >= 1e9) return [1e9, 's'];
  if (a >= 1e6) return [1e6, 'ms'];
  if (a >= 1e3) return [1e3, 'us'];
  return [1, 'ns'];
}

function plain(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  // Counts, and means of counts that happen to be whole.
  if (Number.isInteger(v) && a < 1e6) return String(v);
  if (a >= 1e9) return `${(v / 1e9).toPrecision(4)} G`;
  if (a >= 1e6) return `${(v / 1e6).toPrecision(4)} M`;
  if (a >= 1e4) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(3);
  return v.toPrecision(4);
}

function formatter(m: MetricComparison): (v: number) => string {
  if (m.unit !== 'ns') return plain;
  const [div, unit] = timeScale(Math.max(Math.abs(m.a.mean ?? 0), Math.abs(m.b.mean ?? 0)));
  return (v) => `${div === 1 ? v.toFixed(0) : (v / div).toFixed(3)} ${unit}`;
}

const signed = (s: string) => (s.startsWith('-') || s === '0' || /^0(\.0+)? /.test(s) ? s : `+${s}`);

function percent(r: number): string {
  const pc = 100 * r;
  return `${pc > 0 ? '+' : ''}${Math.abs(pc) < 1000 ? pc.toFixed(1) : pc.toFixed(0)}%`;
}

/** What the verdict column says. */
export function verdict(m: MetricComparison): string {
  switch (m.significance) {
    case 'significant':
      return m.direction ?? 'changed';
    case 'cannot judge':
      // Short forms: the column has 22 characters left of the 100.
      return `cannot judge: ${m.reason?.startsWith('one seed') ? '1 seed' : m.reason?.startsWith('no spread') ? 'constant' : 'no value'}`;
    default:
      return m.significance;
  }
}

function row(m: MetricComparison): string {
  const f = formatter(m);
  const cell = (v: number | null, w: number) => (v === null ? '-' : f(v)).padStart(w);
  const diff = m.diff === null ? '-' : signed(f(m.diff));
  const p = m.test === null ? '-' : m.test.p < 0.001 ? '<0.001' : m.test.p.toFixed(3);
  return [
    ' '.repeat(WIDTH.indent),
    m.metric.padEnd(WIDTH.metric),
    cell(m.a.mean, WIDTH.value),
    cell(m.b.mean, WIDTH.value),
    diff.padStart(WIDTH.value),
    (m.relDiff === null ? '-' : percent(m.relDiff)).padStart(WIDTH.rel),
    p.padStart(WIDTH.p),
    `  ${verdict(m)}`,
  ].join('');
}

const HEADER = [' '.repeat(WIDTH.indent), 'metric'.padEnd(WIDTH.metric), 'mean A'.padStart(WIDTH.value), 'mean B'.padStart(WIDTH.value), 'B - A'.padStart(WIDTH.value), 'B/A-1'.padStart(WIDTH.rel), 'p'.padStart(WIDTH.p), '  verdict'].join('');

function runsText(c: RunCounts): string {
  const kept = c.aborted ? `${c.aborted} aborted` : '';
  const out = [c.errors ? `${c.errors} failed` : '', c.notRun ? `${c.notRun} not run` : ''].filter(Boolean).join(', ');
  const extra = [kept, out ? `left out: ${out}` : ''].filter(Boolean).join('; ');
  return `${c.runs} run${c.runs === 1 ? '' : 's'}${extra ? ` (${extra})` : ''}`;
}

/** Short names for schedulers (file names without .bpf.o), unless two would read the same. */
function labeller(names: readonly string[]): (s: string) => string {
  const short = (s: string) => s.replace(/^.*\//, '').replace(/\.bpf\.o$/, '');
  const unique = new Set(names.map(short)).size === new Set(names).size;
  return unique ? short : (s) => s;
}

function folderLine(tag: string, dir: string, f: FolderSummary): string {
  return `${tag}: ${dir}  (suite ${f.suite}, seeds ${f.seeds.join(',')}, ${f.durationNs / 1e6} ms)`;
}

export interface TerminalOptions {
  /** Every metric; by default only significant changes and changes that cannot be judged. */
  all?: boolean;
  dirA?: string;
  dirB?: string;
}

/** The comparison as text for a terminal, in 100 columns (a long scheduler or workload name aside). */
export function comparisonReport(c: Comparison, o: TerminalOptions = {}): string {
  const out = [folderLine('A', o.dirA ?? 'A', c.a), folderLine('B', o.dirB ?? 'B', c.b)];
  for (const n of c.notes) out.push(`note: ${n}`);
  out.push(`B - A over seeds; a change is significant when Welch's two-sided t-test gives p < ${c.significanceLevel} (see --help)`);
  const label = labeller([...c.combinations, ...c.onlyInA, ...c.onlyInB, ...c.notRunInEither].map((x) => x.scheduler));
  type Group = { workload: string; topology: string; lines: string[] };
  const groups: Group[] = [];
  const lines = (x: { workload: string; topology: string }) => {
    let g = groups.find((e) => e.workload === x.workload && e.topology === x.topology);
    if (!g) groups.push((g = { workload: x.workload, topology: x.topology, lines: [] }));
    return g.lines;
  };
  // Each list is in compareResults' order. A combination not compared is shown under its workload
  // and machine, after the compared ones, rather than in a list of its own at the end.
  for (const cc of c.combinations) {
    const l = lines(cc);
    l.push('', `${label(cc.scheduler)}: A ${runsText(cc.a)}, B ${runsText(cc.b)}`);
    // A change that cannot be judged is still a change (by rule 3 it is never equal values): hiding
    // it in a count would hide, say, every deterministic difference of a one-seed comparison.
    const shown = o.all ? cc.metrics : cc.metrics.filter((m) => m.significance === 'significant' || m.significance === 'cannot judge');
    if (shown.length) l.push(HEADER, ...shown.map(row));
    const rest = cc.metrics.filter((m) => !shown.includes(m));
    if (rest.length) {
      const by = new Map<string, number>();
      for (const m of rest) by.set(m.significance, (by.get(m.significance) ?? 0) + 1);
      const parts = (['no change', 'not significant', 'not applicable'] as const).filter((s) => by.has(s)).map((s) => `${by.get(s)} ${s}`);
      l.push(`  ${shown.length ? `and ${rest.length} more` : 'no significant change'}: ${parts.join(', ')}`);
    }
  }
  const only = (x: OnlyInOne, here: string, other: string) => {
    const gone = x.notRunInOther ? ` (${other}: ${x.notRunInOther} not run)` : '';
    lines(x).push('', `${label(x.scheduler)}: only in ${here}, ${runsText(x.runs)}${gone}`);
  };
  for (const x of c.onlyInA) only(x, 'A', 'B');
  for (const x of c.onlyInB) only(x, 'B', 'A');
  for (const x of c.notRunInEither) lines(x).push('', `${label(x.scheduler)}: not run in either folder`);
  for (const g of groups) {
    const title = `${g.workload} on ${g.topology}`;
    out.push('', title, '='.repeat(Math.min(title.length, 100)), ...g.lines.slice(1));
  }
  const n = c.combinations.length;
  out.push(
    '',
    `${n} combination${n === 1 ? '' : 's'} compared` +
      `${c.onlyInA.length ? `, ${c.onlyInA.length} only in A` : ''}${c.onlyInB.length ? `, ${c.onlyInB.length} only in B` : ''}` +
      `${c.notRunInEither.length ? `, ${c.notRunInEither.length} run in neither` : ''}` +
      `${o.all ? '' : '; --all shows every metric, --json everything'}`,
  );
  return out.join('\n') + '\n';
}
