/**
 * The prose of a reference report: a hand-written analysis (a small Markdown subset read from a
 * file) and findings derived from the numbers themselves, so that what the report says about the
 * results is regenerated with them and cannot go stale.
 *
 * Findings compare every scheduler with a baseline (builtin:eevdf) per workload and machine on a
 * few headline metrics, with the significance rules of compare.ts (Welch's t-test over seeds,
 * p < 0.05): a scheduler is called better or worse only when the difference is significant.
 */
import { ScxError } from '../util/errors.ts';
import { compareMetric, side, type ComparedMetric } from './compare.ts';
import type { TextSection } from './html-report.ts';
import { METRIC_DEFINITIONS } from './metrics.ts';
import type { RunOutcome } from './run-one.ts';
import type { Suite } from './suite.ts';

/** The metrics findings speak about, in this order. */
const HEADLINE: readonly ComparedMetric[] = ['wakeupLatencyP99Ns', 'waitMeanPerTaskNs', 'turnaroundMeanNs', 'fairnessJain', 'deadlineMissRatio', 'migrationsPerSec'];

const TITLES: Partial<Record<ComparedMetric, string>> = {
  wakeupLatencyP99Ns: 'p99 wake-up latency',
  waitMeanPerTaskNs: 'runqueue wait per task',
  turnaroundMeanNs: 'mean turnaround',
  fairnessJain: 'fairness (Jain)',
  deadlineMissRatio: 'deadline misses',
  migrationsPerSec: 'migrations',
};

/** Three significant digits, never an exponent. */
const sig = (x: number, suffix: string): string => `${Number(x.toPrecision(3))}${suffix}`;

/** A value in the metric's natural unit, three significant digits. */
function show(k: ComparedMetric, v: number): string {
  const unit = METRIC_DEFINITIONS[k].unit;
  if (unit === 'ns') return v >= 1e9 ? sig(v / 1e9, ' s') : v >= 1e6 ? sig(v / 1e6, ' ms') : sig(v / 1e3, ' µs');
  if (unit === 'ratio') return k === 'deadlineMissRatio' ? sig(v * 100, '%') : sig(v, '');
  if (unit === '1/s') return sig(v, '/s');
  return sig(v, '');
}

/** A relative difference: whole percent, one decimal below 1%. */
const percent = (rel: number): string => {
  const p = rel * 100;
  return `${p >= 0 ? '+' : ''}${Math.abs(p) < 1 ? p.toFixed(1) : p.toFixed(0)}%`;
};

/** Untestable differences (no spread over the seeds) are listed from this relative size up. */
const UNTESTED_SHOWN = 0.1;

const label = (s: string) => s.replace(/^.*\//, '').replace(/\.bpf\.o$/, '');

/**
 * Per workload and machine, one bullet: for each headline metric on which the schedulers differ,
 * the baseline's mean and the schedulers significantly better or worse than it.
 */
export function findings(suite: Suite, outcomes: readonly RunOutcome[], baseline = 'builtin:eevdf'): TextSection[] {
  if (!suite.schedulers.includes(baseline)) throw new ScxError(`findings: the suite has no scheduler '${baseline}' to compare with`);
  const sections: TextSection[] = [];
  const items: string[] = [];
  suite.workloads.forEach((workload) =>
    suite.topologies.forEach((topology) => {
      const runsOf = (scheduler: string) => outcomes.filter((o) => o.scheduler === scheduler && o.workload === workload && o.topology === topology && o.status === 'ok');
      const base = runsOf(baseline);
      const lines: string[] = [];
      for (const k of HEADLINE) {
        const baseSide = side(base, k);
        if (baseSide.mean === null) continue;
        const better: string[] = [];
        const worse: string[] = [];
        const untestable: string[] = [];
        const means: number[] = [];
        let tested = false;
        for (const s of suite.schedulers) {
          const sd = side(runsOf(s), k);
          if (sd.mean === null) continue;
          means.push(sd.mean);
          if (s === baseline) continue;
          const c = compareMetric(k, baseSide, sd);
          const what = `${label(s)} ${show(k, sd.mean)}${c.relDiff === null ? '' : ` (${percent(c.relDiff)})`}`;
          if (c.direction === 'better') better.push(what);
          else if (c.direction === 'worse') worse.push(what);
          else if (c.significance === 'cannot judge' && (c.relDiff === null ? c.diff !== null && c.diff !== 0 : Math.abs(c.relDiff) >= UNTESTED_SHOWN)) untestable.push(what);
          else if (c.significance === 'not significant') tested = true;
        }
        // A metric every scheduler gives the same value says nothing about them.
        if (means.every((m) => m === means[0])) continue;
        const parts: string[] = [];
        if (better.length) parts.push(`better: ${better.join(', ')}`);
        if (worse.length) parts.push(`worse: ${worse.join(', ')}`);
        if (untestable.length) parts.push(`different, but the seeds do not vary it, so untested: ${untestable.join(', ')}`);
        if (!parts.length) {
          parts.push(
            tested
              ? `no significant difference (means ${show(k, Math.min(...means))} to ${show(k, Math.max(...means))})`
              : `every difference under ${UNTESTED_SHOWN * 100}% and untested (means ${show(k, Math.min(...means))} to ${show(k, Math.max(...means))})`,
          );
        } else if (tested && !better.length && !worse.length) parts.push('no other difference is significant');
        lines.push(`${TITLES[k]} (${label(baseline)} ${show(k, baseSide.mean)}): ${parts.join('; ')}`);
      }
      items.push(`\`${workload}\` on \`${topology}\`: ${lines.length ? `${lines.join('. ')}.` : 'every scheduler gives the same values on these metrics.'}`);
    }),
  );
  sections.push({
    id: 'findings',
    heading: 'Findings',
    blocks: [
      {
        kind: 'p',
        text: `Derived from the numbers below when the report is generated. Each scheduler is compared with ${label(baseline)} on the same workload, machine and seeds; "significantly" means Welch's t-test over the seeds gives p < 0.05 (compare.ts), and the percentage is the difference of the means relative to ${label(baseline)}. Where the seeds do not vary a metric for a scheduler or the baseline, no test is possible: such differences of 10% or more are listed as untested (the simulator is deterministic, so they are exact for these seeds, but say nothing about other ones). A metric on which every scheduler has the same mean is left out.`,
      },
      { kind: 'ul', items },
    ],
  });
  return sections;
}

/**
 * Hand-written prose in a Markdown subset: `## Heading` starts a section, `- ` lines form a
 * list, other non-blank lines join into paragraphs (a blank line ends one). Inline `code` and
 * **bold** pass through. Anything else Markdown has is refused, naming the file and line.
 */
export function parseProse(text: string, file: string): TextSection[] {
  const sections: TextSection[] = [];
  let para: string[] = [];
  let list: string[] | null = null;
  const current = (lineNo: number): TextSection => {
    const s = sections[sections.length - 1];
    if (!s) throw new ScxError(`${file}:${lineNo}: expected a '## Heading' before any text`);
    return s;
  };
  const flush = (lineNo: number) => {
    if (para.length) current(lineNo).blocks.push({ kind: 'p', text: para.join(' ') });
    if (list) current(lineNo).blocks.push({ kind: 'ul', items: list });
    para = [];
    list = null;
  };
  text.split('\n').forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trimEnd();
    if (line.startsWith('## ')) {
      flush(lineNo);
      const heading = line.slice(3).trim();
      sections.push({ id: heading.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, ''), heading, blocks: [] });
      return;
    }
    if (/^(#|>|\||```|\d+\. |!\[|\* )/.test(line)) throw new ScxError(`${file}:${lineNo}: expected a '## Heading', a '- ' item or a paragraph, found '${line.slice(0, 20)}'`);
    if (line === '') return flush(lineNo);
    if (line.startsWith('- ')) {
      if (para.length) flush(lineNo);
      (list ??= []).push(line.slice(2).trim());
      return;
    }
    if (list && /^\s+\S/.test(raw)) {
      list[list.length - 1] += ` ${line.trim()}`;
      return;
    }
    if (list) flush(lineNo);
    para.push(line.trim());
  });
  flush(text.split('\n').length);
  return sections;
}
