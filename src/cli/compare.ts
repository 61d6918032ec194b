import type { CommandModule } from 'yargs';
import { comparisonReport, compareResults, SIGNIFICANCE_LEVEL } from '../harness/compare.ts';
import { readResults } from '../harness/runner.ts';

interface Args {
  a: string;
  b: string;
  all: boolean;
  json: boolean;
}

// The rules of src/harness/compare.ts's top comment, for the user; the two must say the same.
const RULES = `For every scheduler, workload and topology in both folders (matched by name as the suites wrote
them), and every numeric metric: the mean over seeds in A and in B, and the difference B - A.
Runs that failed or were not run are left out and counted; aborted runs are included and
counted; a run where a metric is null (does not apply) is left out of that metric. Combinations
that only one folder ran, or neither, are listed as such.

Significance, for each metric, from the per-seed values, in this order:
  1. no value on either side                            not applicable
  2. no value on one side                               cannot judge
  3. every value on both sides equal, or the same       no change (what a deterministic rerun
     seeds on both sides giving the same values            gives: nothing to test)
  4. one seed on a side                                 cannot judge (no spread to weigh by)
  5. each side constant, the two differ                 cannot judge (no spread)
  6. otherwise Welch's two-sided t-test (unequal variances, Welch-Satterthwaite degrees of
     freedom): significant when p < ${SIGNIFICANCE_LEVEL}, else not significant.
A significant change is better or worse by the metric's direction (docs/metrics.md), or just
changed for a metric that has none. The seeds' values are taken as independent draws; the
folders need not share seeds. The table lists significant changes and changes that cannot be
judged, and counts the others; --all lists every metric.`;

export const compareCommand: CommandModule<object, Args> = {
  command: 'compare <a> <b>',
  describe: 'compare two results folders metric by metric, with significance over seeds',
  builder: (y) =>
    y
      .positional('a', { type: 'string', demandOption: true, describe: 'the baseline results folder (from scx-sim suite run)' })
      .positional('b', { type: 'string', demandOption: true, describe: 'the results folder compared with it' })
      .option('all', { type: 'boolean', default: false, describe: 'list every metric, not only the changes' })
      .option('json', { type: 'boolean', default: false, describe: 'print the full comparison as JSON' })
      .example('$0 compare results/default/20261201T100000Z results/default/20261202T100000Z', '')
      .epilogue(RULES),
  handler: (args) => {
    const a = readResults(args.a);
    const b = readResults(args.b);
    const c = compareResults(a, b);
    if (args.json) {
      process.stdout.write(JSON.stringify({ ...c, a: { dir: args.a, ...c.a }, b: { dir: args.b, ...c.b } }, null, 2) + '\n');
      return;
    }
    process.stdout.write(comparisonReport(c, { all: args.all, dirA: args.a, dirB: args.b }));
  },
};
