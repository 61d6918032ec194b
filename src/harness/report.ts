/**
 * The terminal view of a suite's results: for each workload and machine, a table with one row
 * per scheduler (means over seeds, with the 95% confidence interval's half-width when there are
 * several), and a chart of wake-up latency percentiles per scheduler. Fits in 100 columns.
 */
import { blue, cyan, green, magenta, plot, red, reset, yellow } from 'asciichart';
import { summarise, type Metrics } from './metrics.ts';
import type { RunOutcome } from './run-one.ts';
import type { Suite } from './suite.ts';

interface Column {
  title: string;
  width: number;
  value: (m: Metrics) => number | null;
  format: (v: number) => string;
  /** Show the 95% interval's half-width (the columns a comparison turns on). */
  ci: boolean;
}

const ms = (ns: number) => (ns / 1e6).toFixed(3);
const COLUMNS: Column[] = [
  { title: 'lat p50 ms', width: 14, value: (m) => m.wakeupLatencyP50Ns, format: ms, ci: true },
  { title: 'lat p99 ms', width: 15, value: (m) => m.wakeupLatencyP99Ns, format: ms, ci: true },
  { title: 'wait ms/task', width: 15, value: (m) => m.waitMeanPerTaskNs, format: ms, ci: true },
  { title: 'done/s', width: 10, value: (m) => m.throughputTasksPerSec, format: (v) => v.toFixed(0), ci: false },
  { title: 'util %', width: 7, value: (m) => m.utilisation, format: (v) => (100 * v).toFixed(1), ci: false },
  { title: 'fair', width: 6, value: (m) => m.fairnessJain, format: (v) => v.toFixed(3), ci: false },
  { title: 'insn/ev', width: 8, value: (m) => m.bpfInsnsPerEvent, format: (v) => v.toFixed(1), ci: false },
];

/** The mean over seeds (with ±half-width of the 95% interval); '-' when the metric has no value. */
function cell(values: (number | null)[], c: Column): string {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return '-';
  const s = summarise(present);
  if (s.mean === null) return '-';
  if (!s.ci95 || !c.ci) return c.format(s.mean);
  return `${c.format(s.mean)}±${c.format((s.ci95[1] - s.ci95[0]) / 2)}`;
}

const PALETTE = [blue, green, red, magenta, cyan, yellow];

/** `color`: ANSI colours to tell the chart's lines apart (for a terminal, not a file). */
export function terminalReport(suite: Suite, outcomes: readonly RunOutcome[], color = false): string {
  const out: string[] = [`suite ${suite.name}: ${outcomes.length} runs, ${suite.seeds.length} seed${suite.seeds.length > 1 ? 's' : ''} each, ${(suite.durationNs / 1e9).toFixed(3)} s simulated`];
  for (const workload of suite.workloads) {
    for (const topology of suite.topologies) {
      out.push('', `${workload} on ${topology}`);
      out.push(`${'scheduler'.padEnd(22)}${COLUMNS.map((c) => c.title.padStart(c.width)).join('')}`);
      const series: number[][] = [];
      const names: string[] = [];
      for (const scheduler of suite.schedulers) {
        const runs = outcomes.filter((o) => o.workload === workload && o.topology === topology && o.scheduler === scheduler);
        const ok = runs.filter((o) => o.metrics);
        const label = scheduler.replace(/^.*\//, '').replace(/\.bpf\.o$/, '');
        const notes = [runs.some((o) => o.status === 'aborted') ? 'aborted' : '', runs.some((o) => o.status === 'error') ? 'error' : ''].filter(Boolean).join(',');
        if (ok.length === 0) {
          out.push(`${label.slice(0, 21).padEnd(22)}  no result${notes ? ` (${notes})` : ''}`);
          continue;
        }
        const cells = COLUMNS.map((c) => ` ${cell(ok.map((o) => c.value(o.metrics!)), c)}`.padStart(c.width));
        out.push(`${label.slice(0, 21).padEnd(22)}${cells.join('')}${notes ? `  ${notes}` : ''}`);
        const pct = (k: keyof Metrics) => {
          const s = summarise(ok.map((o) => o.metrics![k] as number | null).filter((v): v is number => v !== null));
          return s.mean === null ? 0 : s.mean / 1e6;
        };
        series.push([pct('wakeupLatencyP50Ns'), pct('wakeupLatencyP90Ns'), pct('wakeupLatencyP99Ns'), pct('wakeupLatencyP999Ns')]);
        names.push(label);
      }
      if (series.length > 0 && series.some((s) => s.some((v) => v > 0))) {
        out.push('', 'wake-up latency, ms, at p50 / p90 / p99 / p99.9 (one line per scheduler, in table order):');
        // asciichart draws each series across the x axis; stretching four points to 8 columns each
        // keeps the lines apart without inventing values in between (steps, not interpolation).
        const wide = series.map((s) => s.flatMap((v) => Array(8).fill(v) as number[]));
        const colors = series.map((_, i) => PALETTE[i % PALETTE.length]);
        out.push(plot(wide, { height: 8, format: (v) => v.toFixed(3).padStart(9), ...(color ? { colors } : {}) }));
        out.push(`  lines: ${names.map((n, i) => (color ? `${colors[i]}${n}${reset}` : n)).join(', ')}`);
      }
    }
  }
  return out.join('\n') + '\n';
}
