import type { CommandModule } from 'yargs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { expandSuite, loadSuite } from '../harness/suite.ts';
import { runAll, writeResults } from '../harness/runner.ts';
import { terminalReport } from '../harness/report.ts';
import { ExitStatus } from './exit.ts';

interface RunArgs {
  suite: string;
  jobs: number;
  out?: string;
}

/** A stamp for the results folder: UTC, sortable, safe in file names. */
const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

const runSuiteCommand: CommandModule<object, RunArgs> = {
  command: 'run <suite>',
  describe: 'run a benchmark suite and write its results',
  builder: (y) =>
    y
      .positional('suite', { type: 'string', demandOption: true, describe: 'a suite file, e.g. bench/suites/default.json' })
      .option('jobs', { type: 'number', default: availableParallelism(), describe: 'worker threads (results are identical whatever the number)' })
      .option('out', { type: 'string', describe: 'results folder (default: results/<suite>/<UTC time>)' }),
  handler: async (args) => {
    const suite = loadSuite(args.suite);
    const runs = expandSuite(suite);
    const out = args.out ?? join('results', suite.name, stamp());
    const tty = process.stderr.isTTY === true;
    const outcomes = await runAll(runs, {
      jobs: Math.max(1, Math.floor(args.jobs)),
      onDone: (o, done, total) => {
        if (tty) {
          const width = 30;
          const filled = Math.round((width * done) / total);
          process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${o.id.padEnd(24)}`);
          if (done === total) process.stderr.write('\n');
        } else process.stderr.write(`run ${done}/${total} ${o.id} ${o.status}${o.error ? `: ${o.error}` : ''}\n`);
      },
    });
    writeResults(out, suite, outcomes);
    process.stdout.write(terminalReport(suite, outcomes, process.stdout.isTTY === true));
    process.stdout.write(`\nresults in ${out}\n`);
    const failed = outcomes.filter((o) => o.status === 'error').length;
    if (failed) {
      process.stderr.write(`scx-sim: ${failed} of ${outcomes.length} runs failed; their rows in results.csv say why\n`);
      throw new ExitStatus(1);
    }
  },
};

export const suiteCommand: CommandModule = {
  command: 'suite <command>',
  describe: 'benchmark suites',
  builder: (y) => y.command(runSuiteCommand).demandCommand(1, 'give a suite command'),
  handler: () => {},
};
