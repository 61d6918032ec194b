import type { CommandModule } from 'yargs';
import { readResults } from '../harness/runner.ts';
import { writeReports } from '../harness/html-report.ts';

interface Args {
  dir: string;
}

/** Reports are made from the results folder's files alone, so they can be redone after the fact. */
export const reportCommand: CommandModule<object, Args> = {
  command: 'report <dir>',
  describe: 'write report.md, report.html and charts/ for a results folder',
  builder: (y) => y.positional('dir', { type: 'string', demandOption: true, describe: 'a results folder written by `scx-sim suite run`' }),
  handler: async (args) => {
    const { suite, outcomes } = readResults(args.dir);
    const files = await writeReports(args.dir, suite, outcomes);
    process.stdout.write(`${files.markdown}\n${files.html}\n${files.charts.length} charts in ${files.chartsDir}\n`);
  },
};
