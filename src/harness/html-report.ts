/**
 * The files view of a suite's results: report.md and report.html in the results folder, with the
 * charts as SVG files in charts/ (linked from report.md, inlined in report.html). For each
 * workload and machine: two tables with one row per scheduler (means over seeds with the 95%
 * interval's half-width), and charts of wake-up latency percentiles, throughput, fairness, CPU
 * utilisation (overall and per CPU) and scheduler overhead.
 *
 * The charts are vega-lite specs compiled to vega and rendered headless to SVG strings in Node:
 * no browser, no canvas. Everything written is a function of the results alone (no clock, no
 * locale, no machine), so regenerating a report from the same folder gives byte-identical files.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { SCX_ENUMS } from '../sched/ext/constants.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { METRIC_DEFINITIONS, summarise, type Metrics, type Summary } from './metrics.ts';
import type { RunOutcome } from './run-one.ts';
import type { Suite } from './suite.ts';

/*
 * Without the optional `canvas` package vega estimates text widths from the font size; with it,
 * it measures them with whatever fonts the machine has. Always estimating keeps the SVGs (label
 * placement, chart sizes) the same on every machine, whether or not someone installs `canvas`.
 */
(vega as unknown as { textMetrics: { canvas(use: boolean): void } }).textMetrics.canvas(false);

/** One row of a group's tables and one series of its charts: a scheduler's runs of one status. */
interface Row {
  /** The scheduler's name in tables and charts (aborted rows say so). */
  series: string;
  /** Index of the scheduler in the suite: its colour. */
  si: number;
  status: RunOutcome['status'];
  runs: RunOutcome[];
}

/** One workload on one machine. */
interface Group {
  /** Anchor and chart file prefix; the w/t numbering of the run ids. */
  id: string;
  workload: string;
  topology: string;
  rows: Row[];
  /** Runs that did not complete cleanly (aborted or failed), in run order. */
  notOk: RunOutcome[];
}

interface Chart {
  /** File name in charts/. */
  file: string;
  title: string;
  /** Present when the chart has data to draw. */
  svg?: string;
  /** Why there is no chart, when there is none. */
  note?: string;
}

interface Table {
  title: string;
  head: { text: string; tip: string }[];
  rows: { row: Row; cells: string[] }[];
}

export interface ReportFiles {
  markdown: string;
  html: string;
  chartsDir: string;
  charts: string[];
}

// ---- numbers ----

/** Decimals that give four significant digits of the larger of the values, never an exponent. */
function decimalsFor(...values: number[]): number {
  const a = Math.max(...values.map(Math.abs));
  if (a === 0) return 0;
  return Math.min(6, Math.max(0, 3 - Math.floor(Math.log10(a))));
}

const fixed = (v: number, d: number) => {
  const s = v.toFixed(d);
  // -0.000 says "negative" about a value that rounds to nothing.
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
};

/** A metric over one row's runs: nulls dropped (and counted), the rest summarised. */
function statOf(runs: readonly RunOutcome[], value: (m: Metrics) => number | null): { s: Summary; dropped: number } {
  const values: number[] = [];
  for (const o of runs) {
    const v = o.metrics ? value(o.metrics) : null;
    if (v !== null && v !== undefined) values.push(v);
  }
  return { s: summarise(values), dropped: runs.length - values.length };
}

/** "mean ± half-width" in the column's unit; '-' for no value; "(n=k)" when seeds had none. */
function cellText(runs: readonly RunOutcome[], col: Column): string {
  const { s, dropped } = statOf(runs, col.value);
  if (s.mean === null) return '-';
  const mean = s.mean * col.scale;
  const half = s.ci95 ? ((s.ci95[1] - s.ci95[0]) / 2) * col.scale : null;
  const d = decimalsFor(mean, half ?? 0);
  const text = half === null ? fixed(mean, d) : `${fixed(mean, d)} ± ${fixed(half, d)}`;
  return dropped > 0 ? `${text} (n=${s.n})` : text;
}

// ---- tables ----

interface Column {
  title: string;
  key: keyof Metrics;
  value: (m: Metrics) => number | null;
  /** From the metric's unit to the column's. */
  scale: number;
}

const col = (title: string, key: keyof Metrics, scale = 1): Column => ({ title, key, value: (m) => m[key] as number | null, scale });

const LATENCY_COLUMNS: Column[] = [
  col('p50 µs', 'wakeupLatencyP50Ns', 1e-3),
  col('p90 µs', 'wakeupLatencyP90Ns', 1e-3),
  col('p99 µs', 'wakeupLatencyP99Ns', 1e-3),
  col('p99.9 µs', 'wakeupLatencyP999Ns', 1e-3),
  col('max µs', 'wakeupLatencyMaxNs', 1e-3),
  col('wait ms/task', 'waitMeanPerTaskNs', 1e-6),
  col('turnaround ms', 'turnaroundMeanNs', 1e-6),
];

const THROUGHPUT_COLUMNS: Column[] = [
  col('exited/s', 'throughputTasksPerSec'),
  col('CPU util %', 'utilisation', 100),
  col('Jain', 'fairnessJain'),
  col('switches/s', 'contextSwitchesPerSec'),
  col('migrations/s', 'migrationsPerSec'),
  col('deadline miss %', 'deadlineMissRatio', 100),
  col('callbacks/event', 'callbacksPerEvent'),
  col('BPF insns/event', 'bpfInsnsPerEvent'),
];

const STATUS_TEXT: Record<RunOutcome['status'], string> = { ok: 'ok', aborted: 'aborted', error: 'failed', 'not run': 'not run' };
/** CSS classes of the statuses (a class cannot hold a space). */
const STATUS_CLASS: Record<RunOutcome['status'], string> = { ok: 'ok', aborted: 'aborted', error: 'error', 'not run': 'not-run' };
/** Statuses whose runs have metrics. */
const hasMetrics = (row: Row) => row.status === 'ok' || row.status === 'aborted';

function tableOf(title: string, columns: readonly Column[], rows: readonly Row[]): Table {
  return {
    title,
    head: [
      { text: 'scheduler', tip: 'the scheduler as named in the suite' },
      { text: 'status', tip: 'ok: completed; aborted: the sched_ext scheduler exited during the run; failed: no result; not run: the suite was stopped or sharded before it' },
      { text: 'runs', tip: 'runs (seeds) in this row' },
      ...columns.map((c) => ({ text: c.title, tip: METRIC_DEFINITIONS[c.key].description })),
    ],
    rows: rows.map((row) => ({
      row,
      cells: [row.series, STATUS_TEXT[row.status], String(row.runs.length), ...columns.map((c) => (hasMetrics(row) ? cellText(row.runs, c) : '-'))],
    })),
  };
}

// ---- grouping ----

/** Short scheduler names (file names without .bpf.o), unless two would read the same. */
function schedulerLabels(schedulers: readonly string[]): string[] {
  const short = schedulers.map((s) => s.replace(/^.*\//, '').replace(/\.bpf\.o$/, ''));
  return short.map((s, i) => (short.indexOf(s) === short.lastIndexOf(s) ? s : schedulers[i]));
}

function groupsOf(suite: Suite, outcomes: readonly RunOutcome[]): Group[] {
  const labels = schedulerLabels(suite.schedulers);
  const groups: Group[] = [];
  suite.workloads.forEach((workload, wi) =>
    suite.topologies.forEach((topology, ti) => {
      const mine = outcomes.filter((o) => o.workload === workload && o.topology === topology);
      const rows: Row[] = [];
      suite.schedulers.forEach((scheduler, si) => {
        const runs = mine.filter((o) => o.scheduler === scheduler);
        // Aborted runs finished in the fair class: a row of their own, never averaged with clean ones.
        for (const status of ['ok', 'aborted', 'error', 'not run'] as const) {
          const some = runs.filter((o) => o.status === status);
          if (some.length > 0) rows.push({ series: status === 'aborted' ? `${labels[si]} (aborted)` : labels[si], si, status, runs: some });
        }
      });
      groups.push({ id: `w${wi}-t${ti}`, workload, topology, rows, notOk: mine.filter((o) => o.status !== 'ok') });
    }),
  );
  return groups;
}

// ---- charts ----

/** Vega's tableau20 as (dark, light) pairs: a scheduler's colour, and its aborted runs' paler one. */
const PALETTE: readonly [string, string][] = [
  ['#4c78a8', '#9ecae9'],
  ['#f58518', '#ffbf79'],
  ['#54a24b', '#88d27a'],
  ['#e45756', '#ff9d98'],
  ['#b279a2', '#d6a5c9'],
  ['#439894', '#83bcb6'],
  ['#b79a20', '#f2cf5b'],
  ['#d67195', '#fcbfd2'],
  ['#9e765f', '#d8b5a5'],
  ['#79706e', '#bab0ac'],
];

const colourOf = (row: Row) => PALETTE[row.si % PALETTE.length][row.status === 'aborted' ? 1 : 0];

const CONFIG = {
  font: 'sans-serif',
  title: { anchor: 'start', fontSize: 13, subtitleFontSize: 11, subtitleColor: '#555' },
  axis: { labelFontSize: 11, titleFontSize: 11 },
  legend: { labelFontSize: 11, titleFontSize: 11 },
  view: { stroke: null },
} as const;

/*
 * Chart data go through six significant digits: the drawing cannot show more, and the SVG text
 * (coordinates, ARIA descriptions) then does not hinge on the last bits of a float.
 */
const round6 = (v: number) => Number(v.toPrecision(6));

interface Point {
  series: string;
  mean: number;
  lo: number | null;
  hi: number | null;
}

/** The chartable rows' mean and 95% interval of one metric, scaled; rows without a value are left out. */
function pointsOf(rows: readonly Row[], value: (m: Metrics) => number | null, scale: number): Point[] {
  const out: Point[] = [];
  for (const row of rows) {
    if (!hasMetrics(row)) continue;
    const { s } = statOf(row.runs, value);
    if (s.mean === null) continue;
    // Every charted metric is non-negative: the whisker stops at 0 (the tables give the interval as computed).
    out.push({ series: row.series, mean: round6(s.mean * scale), lo: s.ci95 ? round6(Math.max(0, s.ci95[0]) * scale) : null, hi: s.ci95 ? round6(s.ci95[1] * scale) : null });
  }
  return out;
}

/** The colour scale of the series present, in table order, so a scheduler keeps its colour in every chart. */
function colourScale(rows: readonly Row[], present: ReadonlySet<string>) {
  const shown = rows.filter((r) => present.has(r.series));
  return { domain: shown.map((r) => r.series), range: shown.map(colourOf) };
}

/** Whiskers of the 95% interval; the same axis title as the bars, or vega-lite would join the two. */
const errorBars = (yTitle: string) => ({
  transform: [{ filter: 'isValid(datum.lo)' }],
  mark: { type: 'errorbar', ticks: true, color: '#222' },
  encoding: { y: { field: 'lo', type: 'quantitative', title: yTitle }, y2: { field: 'hi' } },
});

/** One bar per scheduler with its 95% interval. */
function barSpec(title: string, subtitle: string[], yTitle: string, rows: readonly Row[], points: readonly Point[]): TopLevelSpec {
  const scale = colourScale(rows, new Set(points.map((p) => p.series)));
  return {
    title: { text: title, subtitle },
    data: { values: points as Point[] },
    width: { step: 44 },
    height: 200,
    encoding: { x: { field: 'series', type: 'nominal', sort: scale.domain, axis: { title: null, labelAngle: -30, labelLimit: 160 } } },
    layer: [
      { mark: 'bar', encoding: { y: { field: 'mean', type: 'quantitative', title: yTitle }, color: { field: 'series', type: 'nominal', scale, legend: null } } },
      errorBars(yTitle),
    ],
    config: CONFIG,
  } as TopLevelSpec;
}

const PERCENTILES: [string, keyof Metrics][] = [
  ['p50', 'wakeupLatencyP50Ns'],
  ['p90', 'wakeupLatencyP90Ns'],
  ['p99', 'wakeupLatencyP99Ns'],
  ['p99.9', 'wakeupLatencyP999Ns'],
];

/** Grouped bars: percentile on x, one bar per scheduler within it. */
function latencySpec(subtitle: string[], rows: readonly Row[]): TopLevelSpec | string {
  const raw = PERCENTILES.flatMap(([pct, key]) => pointsOf(rows, (m) => m[key] as number | null, 1).map((p) => ({ ...p, pct })));
  if (raw.length === 0) return 'no wake-up was followed by running in any run';
  if (!raw.some((p) => p.mean > 0)) return 'every wake-up ran at once (latency 0 at every percentile, for every scheduler)';
  // Microseconds unless the tail reaches tens of milliseconds.
  const ms = Math.max(...raw.map((p) => p.mean)) >= 1e7;
  const k = ms ? 1e-6 : 1e-3;
  const unit = ms ? 'ms' : 'µs';
  const values = raw.map((p) => ({ ...p, mean: round6(p.mean * k), lo: p.lo === null ? null : round6(p.lo * k), hi: p.hi === null ? null : round6(p.hi * k) }));
  const scale = colourScale(rows, new Set(values.map((p) => p.series)));
  return {
    title: { text: 'wake-up latency percentiles', subtitle },
    data: { values },
    width: Math.max(280, 4 * (scale.domain.length * 16 + 24)),
    height: 220,
    encoding: {
      x: { field: 'pct', type: 'ordinal', sort: PERCENTILES.map(([p]) => p), axis: { title: null, labelAngle: 0 } },
      xOffset: { field: 'series', type: 'nominal', sort: scale.domain },
    },
    layer: [
      { mark: 'bar', encoding: { y: { field: 'mean', type: 'quantitative', title: unit }, color: { field: 'series', type: 'nominal', scale, legend: { title: null, orient: 'bottom', columns: 4 } } } },
      errorBars(unit),
    ],
    config: CONFIG,
  } as TopLevelSpec;
}

/** A heat map: one row per scheduler, one cell per CPU, shaded by the mean busy share over seeds. */
function perCpuSpec(subtitle: string[], rows: readonly Row[]): TopLevelSpec | string {
  const values: { series: string; cpu: number; busy: number }[] = [];
  const series: string[] = [];
  for (const row of rows) {
    if (!hasMetrics(row)) continue;
    const lists = row.runs.map((o) => o.metrics?.utilisationPerCpu ?? []);
    const cpus = Math.max(0, ...lists.map((l) => l.length));
    if (cpus === 0) continue;
    series.push(row.series);
    for (let c = 0; c < cpus; c++) values.push({ series: row.series, cpu: c, busy: round6((100 * lists.reduce((a, l) => a + (l[c] ?? 0), 0)) / lists.length) });
  }
  if (values.length === 0) return 'no run has a result';
  if (!values.some((v) => v.busy > 0)) return 'no CPU was busy in any run';
  const cpus = Math.max(...values.map((v) => v.cpu)) + 1;
  return {
    title: { text: 'utilisation per CPU', subtitle },
    data: { values },
    width: { step: Math.max(6, Math.min(28, Math.floor(448 / cpus))) },
    height: { step: 22 },
    mark: { type: 'rect', stroke: 'white', strokeWidth: cpus > 32 ? 0 : 1 },
    encoding: {
      x: { field: 'cpu', type: 'ordinal', title: 'CPU', axis: { labelAngle: 0, labelOverlap: 'parity' } },
      y: { field: 'series', type: 'nominal', sort: series, title: null },
      color: { field: 'busy', type: 'quantitative', title: 'busy %', scale: { domain: [0, 100], scheme: 'blues' } },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/**
 * CPU utilisation over the run, one line per scheduler: each run's timeline (stretches between
 * progress samples, which fall on events, not exactly on the grid) is spread onto a grid of
 * TIMELINE_CELLS equal cells by overlap, then averaged over the seeds.
 */
const TIMELINE_CELLS = 20;
function timelineSpec(subtitle: string[], rows: readonly Row[], durationNs: number): TopLevelSpec | string {
  const values: { series: string; ms: number; busy: number }[] = [];
  const cell = durationNs / TIMELINE_CELLS;
  for (const row of rows) {
    const lines = row.runs.map((o) => o.utilisationOverTime).filter((l): l is [number, number][] => l !== undefined && l.length > 0);
    if (lines.length === 0) continue;
    for (let k = 0; k < TIMELINE_CELLS; k++) {
      const lo = k * cell;
      const hi = lo + cell;
      let sum = 0;
      for (const line of lines) {
        let start = 0;
        let acc = 0;
        for (const [end, u] of line) {
          acc += u * Math.max(0, Math.min(end, hi) - Math.max(start, lo));
          start = end;
        }
        sum += acc / cell;
      }
      values.push({ series: row.series, ms: round6((hi / 1e6)), busy: round6((100 * sum) / lines.length) });
    }
  }
  if (values.length === 0) return 'no run has a timeline';
  if (!values.some((v) => v.busy > 0)) return 'no CPU was busy in any run';
  return {
    title: { text: 'CPU utilisation over time', subtitle },
    data: { values },
    width: 360,
    height: 200,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'ms', type: 'quantitative', title: 'simulated time, ms (end of each twentieth)' },
      y: { field: 'busy', type: 'quantitative', title: 'busy % of all CPUs', scale: { domain: [0, 100] } },
      color: { field: 'series', type: 'nominal', scale: colourScale(rows, new Set(values.map((v) => v.series))), legend: { title: null, orient: 'bottom', columns: 4 } },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/**
 * A bar chart of one metric, or why there is none: no scheduler has a value (`noValue`), or every
 * value is 0 (`allZero`). Bars of height 0 would be a chart that draws nothing.
 */
function metricBars(title: string, subtitle: string[], yTitle: string, rows: readonly Row[], key: keyof Metrics, scale: number, noValue: string, allZero: string): TopLevelSpec | string {
  const points = pointsOf(rows, (m) => m[key] as number | null, scale);
  if (points.length === 0) return noValue;
  if (!points.some((p) => p.mean !== 0)) return allZero;
  return barSpec(title, subtitle, yTitle, rows, points);
}

/*
 * Vega numbers clip paths and gradients from counters global to the process, so the ids in an
 * SVG depend on what was rendered before it, and two charts inlined in one page could share an
 * id. Renumbering each chart's ids under its own prefix, in order of appearance, fixes both.
 */
function renumberIds(svg: string, prefix: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) if (!ids.has(m[1])) ids.set(m[1], `${prefix}-${ids.size + 1}`);
  if (ids.size === 0) return svg;
  return svg.replace(/(\sid="|url\(#|href="#)([^")]+)/g, (whole, head: string, id: string) => (ids.has(id) ? `${head}${ids.get(id)}` : whole));
}

async function renderSvg(spec: TopLevelSpec, idPrefix: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return renumberIds(await view.toSVG(), idPrefix);
  } finally {
    view.finalize();
  }
}

/** Lines of at most `width` characters, broken after commas: a long workload spec would set a chart's width. */
function wrapAtCommas(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const part of text.split(/(?<=,)/)) {
    if (line !== '' && line.length + part.length > width) {
      lines.push(line);
      line = '';
    }
    line += part;
  }
  return [...lines, line];
}

async function chartsOf(suite: Suite, g: Group): Promise<Chart[]> {
  const seeds = suite.seeds.length;
  const where = wrapAtCommas(`${g.workload} on ${g.topology}`, 48);
  const subtitle = [...where, seeds > 1 ? `mean of ${seeds} seeds, whiskers: 95% confidence interval` : 'one seed'];
  const heatSubtitle = [...where, seeds > 1 ? `mean of ${seeds} seeds` : 'one seed'];
  const specs: [string, string, TopLevelSpec | string][] = [
    ['latency', 'wake-up latency percentiles', latencySpec(subtitle, g.rows)],
    ['throughput', 'throughput', metricBars('throughput', subtitle, 'tasks exited per second', g.rows, 'throughputTasksPerSec', 1, 'no run has a result', 'no task exited in any run')],
    ['fairness', 'fairness', metricBars("fairness (Jain's index)", subtitle, 'Jain index (1 = fair)', g.rows, 'fairnessJain', 1, 'no task was runnable throughout (fairness applies to none)', 'every index is 0')],
    ['utilisation', 'CPU utilisation', metricBars('CPU utilisation', subtitle, 'busy % of all CPUs', g.rows, 'utilisation', 100, 'no run has a result', 'no CPU was busy in any run')],
    ['utilisation-per-cpu', 'utilisation per CPU', perCpuSpec(heatSubtitle, g.rows)],
    ['utilisation-over-time', 'CPU utilisation over time', timelineSpec(heatSubtitle, g.rows, suite.durationNs)],
    ['overhead', 'scheduler overhead', metricBars('scheduler overhead', subtitle, 'BPF instructions per event', g.rows, 'bpfInsnsPerEvent', 1, 'no BPF scheduler ran (builtin schedulers execute no BPF)', 'the BPF schedulers executed no instructions')],
  ];
  const charts: Chart[] = [];
  for (const [kind, title, spec] of specs) {
    const file = `${g.id}-${kind}.svg`;
    if (typeof spec === 'string') charts.push({ file, title, note: spec });
    else charts.push({ file, title, svg: await renderSvg(spec, `${g.id}-${kind}`) });
  }
  return charts;
}

// ---- text ----

const exitKindName = (kind: number) => Object.entries(SCX_ENUMS).find(([name, v]) => name.startsWith('SCX_EXIT_') && v === BigInt(kind))?.[0];

/** Why a run is not ok, on one line. */
function whyNotOk(o: RunOutcome): string {
  if (o.status === 'error') return `failed: ${o.error ?? 'no reason recorded'}`;
  if (o.status === 'not run') return 'not run: the suite was stopped, or this folder is one shard (suite run --resume or suite merge completes it)';
  const m = o.metrics;
  if (!m || m.exitKind === null) return 'aborted';
  const name = exitKindName(m.exitKind);
  const at = m.exitAtNs === null ? '' : ` at ${fixed(m.exitAtNs / 1e6, 3)} ms`;
  const msg = m.exitMessage ? `: ${m.exitMessage}` : '';
  return `aborted${at}: ${name ? `${name} (${m.exitKind})` : `exit kind ${m.exitKind}`}, ${m.exitReason ?? 'no reason'}${msg}; the run went on in the fair class`;
}

const runName = (o: RunOutcome, labels: Map<string, string>) => `${labels.get(o.scheduler) ?? o.scheduler}, seed ${o.seed} (${o.id})`;

function suiteFacts(suite: Suite, outcomes: readonly RunOutcome[]): { facts: [string, string][]; counts: string } {
  const by = (s: RunOutcome['status']) => outcomes.filter((o) => o.status === s).length;
  const counts = (['ok', 'aborted', 'error', 'not run'] as const).filter((s) => s === 'ok' || by(s) > 0).map((s) => `${by(s)} ${STATUS_TEXT[s]}`).join(', ');
  return {
    facts: [
      ['suite file', suite.file],
      ['schedulers', suite.schedulers.join(', ')],
      ['workloads', suite.workloads.join('; ')],
      ['topologies', suite.topologies.join(', ')],
      ['seeds', suite.seeds.join(', ')],
      ['simulated time', `${fixed(suite.durationNs / 1e6, 3)} ms per run, ${suite.hz} Hz tick`],
    ],
    counts: `${outcomes.length} runs: ${counts}`,
  };
}

const INTRO =
  'Each row is one scheduler over the seeds: the mean, ± the half-width of the 95% confidence interval (Student t) when there are several seeds. ' +
  "'-': the metric does not apply (no samples). (n=k): only k seeds had a value. " +
  'Aborted runs (the sched_ext scheduler exited, the rest of the run was the fair class) have rows of their own and are not averaged with clean runs. ' +
  'Definitions: docs/metrics.md.';

// ---- Markdown ----

const mdCell = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replace(/[\r\n]+/g, ' ');
const mdCode = (s: string) => (s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``);

function mdTable(t: Table): string[] {
  const out = [`**${t.title}**`, '', `| ${t.head.map((h) => mdCell(h.text)).join(' | ')} |`, `|${t.head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of t.rows) out.push(`| ${r.cells.map(mdCell).join(' | ')} |`);
  return out;
}

function markdown(
  suite: Suite,
  outcomes: readonly RunOutcome[],
  groups: readonly Group[],
  tables: Map<string, Table[]>,
  charts: Map<string, Chart[]>,
  labels: Map<string, string>,
  preface: readonly TextSection[],
): string {
  const { facts, counts } = suiteFacts(suite, outcomes);
  const out = [`# Suite ${suite.name}`, '', ...facts.map(([k, v]) => `- ${k}: ${mdCell(v)}`), `- ${counts}`, '', INTRO, '', ...mdSections(preface)];
  for (const g of groups) {
    out.push(`## ${mdCode(g.workload)} on ${mdCode(g.topology)}`, '');
    for (const t of tables.get(g.id)!) out.push(...mdTable(t), '');
    if (g.notOk.length > 0) {
      out.push('**Runs not ok**', '');
      for (const o of g.notOk) out.push(`- ${mdCell(runName(o, labels))}: ${mdCell(whyNotOk(o))}`);
      out.push('');
    }
    for (const c of charts.get(g.id)!) {
      if (c.svg) out.push(`![${c.title}, ${mdCell(g.workload).replace(/[[\]]/g, '\\$&')} on ${g.topology}](charts/${c.file})`, '');
      else out.push(`*${c.title}: no chart: ${c.note}.*`, '');
    }
  }
  out.push('## Columns', '');
  for (const c of [...LATENCY_COLUMNS, ...THROUGHPUT_COLUMNS]) out.push(`- **${c.title}**: ${METRIC_DEFINITIONS[c.key].description} (\`${c.key}\`)`);
  return out.join('\n') + '\n';
}

// ---- HTML ----

const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; background: #fff; margin: 2rem auto; max-width: 1480px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.2rem; margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
code { font: 13px ui-monospace, monospace; background: #f4f4f4; padding: 0 .2em; border-radius: 3px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .5rem 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
p.intro, p.note { color: #444; max-width: 60rem; }
nav ol { columns: 2; padding-left: 1.5rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .3rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e4e4e4; white-space: nowrap; }
th { text-align: right; font-weight: 600; background: #fafafa; border-bottom: 2px solid #ccc; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
td { text-align: right; }
tr.aborted td { background: #fff4e0; }
tr.error td { background: #fde8e8; color: #8a1c1c; }
tr.not-run td { color: #777; font-style: italic; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .4em; border-radius: 2px; vertical-align: -.05em; }
ul.notok li { margin: .2rem 0; }
ul.notok .aborted { color: #8a5300; }
ul.notok .error { color: #8a1c1c; }
ul.notok .not-run { color: #777; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem 2rem; align-items: flex-start; }
figure { margin: 0; }
figure svg { display: block; max-width: 100%; height: auto; }
figure.empty { color: #666; font-style: italic; max-width: 18rem; }
dl.columns dt { font-weight: 600; }
dl.columns dd { margin: 0 0 .4rem 1.2rem; color: #444; }
`;

function htmlTable(t: Table): string {
  const head = t.head.map((h) => `<th title="${esc(h.tip)}">${esc(h.text)}</th>`).join('');
  const body = t.rows
    .map(({ row, cells }) => {
      const [first, ...rest] = cells;
      const swatch = !hasMetrics(row) ? '' : `<span class="swatch" style="background:${colourOf(row)}"></span>`;
      return `<tr class="${STATUS_CLASS[row.status]}"><td>${swatch}${esc(first)}</td>${rest.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<h3>${esc(t.title)}</h3>\n<div class="scroll"><table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}

function html(
  suite: Suite,
  outcomes: readonly RunOutcome[],
  groups: readonly Group[],
  tables: Map<string, Table[]>,
  charts: Map<string, Chart[]>,
  labels: Map<string, string>,
  preface: readonly TextSection[],
): string {
  const { facts, counts } = suiteFacts(suite, outcomes);
  const out = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>scx-sim suite ${esc(suite.name)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    `<h1>Suite ${esc(suite.name)}</h1>`,
    `<dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}<dt>runs</dt><dd>${esc(counts)}</dd></dl>`,
    `<p class="intro">${esc(INTRO)}</p>`,
    `<nav><ol>${[...preface.map((p) => `<li><a href="#${esc(p.id)}">${inlineHtml(p.heading)}</a></li>`), ...groups.map((g) => `<li><a href="#${g.id}"><code>${esc(g.workload)}</code> on <code>${esc(g.topology)}</code></a>${g.notOk.length ? ` (${g.notOk.length} not ok)` : ''}</li>`)].join('')}</ol></nav>`,
    ...htmlSections(preface),
  ];
  for (const g of groups) {
    out.push(`<section id="${g.id}">`, `<h2><code>${esc(g.workload)}</code> on <code>${esc(g.topology)}</code></h2>`);
    for (const t of tables.get(g.id)!) out.push(htmlTable(t));
    if (g.notOk.length > 0) {
      out.push('<h3>Runs not ok</h3>', '<ul class="notok">');
      for (const o of g.notOk) out.push(`<li class="${STATUS_CLASS[o.status]}">${esc(runName(o, labels))}: ${esc(whyNotOk(o))}</li>`);
      out.push('</ul>');
    }
    out.push('<div class="charts">');
    for (const c of charts.get(g.id)!) {
      if (c.svg) out.push(`<figure>${c.svg}</figure>`);
      else out.push(`<figure class="empty"><p>${esc(c.title)}: no chart: ${esc(c.note ?? '')}.</p></figure>`);
    }
    out.push('</div>', '</section>');
  }
  out.push('<section id="columns">', '<h2>Columns</h2>', '<dl class="columns">');
  for (const c of [...LATENCY_COLUMNS, ...THROUGHPUT_COLUMNS]) out.push(`<dt>${esc(c.title)}</dt><dd>${esc(METRIC_DEFINITIONS[c.key].description)} (<code>${c.key}</code>)</dd>`);
  out.push('</dl>', '</section>', '</body>', '</html>');
  return out.join('\n') + '\n';
}

// ---- the report ----

export interface Report {
  markdown: string;
  html: string;
  /** Chart file name in charts/ -> SVG. */
  charts: Map<string, string>;
}

/**
 * Prose placed before the per-workload sections (the reference report's analysis and findings):
 * paragraphs and bullet lists whose text may hold `code` and **bold**, rendered to both formats.
 */
export interface TextSection {
  /** HTML anchor. */
  id: string;
  heading: string;
  blocks: ({ kind: 'p'; text: string } | { kind: 'ul'; items: string[] })[];
}

function mdSections(sections: readonly TextSection[]): string[] {
  const out: string[] = [];
  for (const s of sections) {
    out.push(`## ${s.heading}`, '');
    for (const b of s.blocks) {
      if (b.kind === 'p') out.push(b.text, '');
      else out.push(...b.items.map((i) => `- ${i}`), '');
    }
  }
  return out;
}

/** Inline markup of TextSection text: `code` and **bold**, everything else escaped. */
function inlineHtml(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => (part.startsWith('`') && part.endsWith('`') && part.length > 1 ? `<code>${esc(part.slice(1, -1))}</code>` : esc(part).replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')))
    .join('');
}

function htmlSections(sections: readonly TextSection[]): string[] {
  const out: string[] = [];
  for (const s of sections) {
    out.push(`<section id="${esc(s.id)}">`, `<h2>${inlineHtml(s.heading)}</h2>`);
    for (const b of s.blocks) {
      if (b.kind === 'p') out.push(`<p>${inlineHtml(b.text)}</p>`);
      else out.push('<ul>', ...b.items.map((i) => `<li>${inlineHtml(i)}</li>`), '</ul>');
    }
    out.push('</section>');
  }
  return out;
}

/** The report's files as strings, without writing anything. */
export async function buildReport(suite: Suite, outcomes: readonly RunOutcome[], preface: readonly TextSection[] = []): Promise<Report> {
  const groups = groupsOf(suite, outcomes);
  const names = schedulerLabels(suite.schedulers);
  const labels = new Map(suite.schedulers.map((s, i) => [s, names[i]]));
  const tables = new Map<string, Table[]>();
  const charts = new Map<string, Chart[]>();
  for (const g of groups) {
    tables.set(g.id, [tableOf('Latency and waiting', LATENCY_COLUMNS, g.rows), tableOf('Throughput, utilisation, fairness and overhead', THROUGHPUT_COLUMNS, g.rows)]);
    charts.set(g.id, await chartsOf(suite, g));
  }
  const svgs = new Map<string, string>();
  for (const list of charts.values()) for (const c of list) if (c.svg) svgs.set(c.file, c.svg);
  return {
    markdown: markdown(suite, outcomes, groups, tables, charts, labels, preface),
    html: html(suite, outcomes, groups, tables, charts, labels, preface),
    charts: svgs,
  };
}

/**
 * Write report.md, report.html and charts/*.svg into a results folder, each file atomically.
 * Charts of an earlier report that this one no longer draws are removed, so charts/ always
 * matches report.md.
 */
export async function writeReports(dir: string, suite: Suite, outcomes: readonly RunOutcome[], preface: readonly TextSection[] = [], markdownName = 'report.md'): Promise<ReportFiles> {
  const report = await buildReport(suite, outcomes, preface);
  const chartsDir = join(dir, 'charts');
  mkdirSync(chartsDir, { recursive: true });
  for (const f of readdirSync(chartsDir)) if (f.endsWith('.svg') && !report.charts.has(f)) rmSync(join(chartsDir, f), { force: true });
  const charts: string[] = [];
  for (const [file, svg] of report.charts) {
    writeFileAtomic(join(chartsDir, file), svg);
    charts.push(join(chartsDir, file));
  }
  const markdownFile = join(dir, markdownName);
  const htmlFile = join(dir, 'report.html');
  writeFileAtomic(markdownFile, report.markdown);
  writeFileAtomic(htmlFile, report.html);
  return { markdown: markdownFile, html: htmlFile, chartsDir, charts };
}
