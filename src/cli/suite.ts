import type { CommandModule } from 'yargs';
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandSuite, loadSuite, type RunSpec } from '../harness/suite.ts';
import { mergeShards, notRun, runAll, writeResults } from '../harness/runner.ts';
import { terminalReport } from '../harness/report.ts';
import { writeReports } from '../harness/html-report.ts';
import type { RunOutcome } from '../harness/run-one.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { ScxError } from '../util/errors.ts';
import { ExitStatus } from './exit.ts';

interface RunArgs {
  suite: string;
  jobs: number;
  out?: string;
  resume: boolean;
  shard?: string;
}

/** A stamp for the results folder: UTC, sortable, safe in file names. */
const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/** `i/n`: the runs whose index is i-1 modulo n. */
function parseShard(text: string): { i: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const i = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!(n >= 1 && i >= 1 && i <= n)) throw new ScxError(`--shard ${text}: expected i/n with 1 <= i <= n, e.g. 1/2`);
  return { i, n };
}

/** Outcomes already in a folder being resumed: runs that produced a result are not run again. */
function previous(out: string, suiteText: string, runs: readonly RunSpec[]): Map<number, RunOutcome> {
  const done = new Map<number, RunOutcome>();
  const suiteFile = join(out, 'suite.json');
  if (!existsSync(suiteFile)) return done;
  if (readFileSync(suiteFile, 'utf8') !== suiteText) throw new ScxError(`${suiteFile}: --resume needs the same suite as the folder was started with, and this one differs`);
  for (const r of runs) {
    const file = join(out, 'runs', `${r.id}.json`);
    if (!existsSync(file)) continue;
    const o = JSON.parse(readFileSync(file, 'utf8')) as RunOutcome;
    if (o.status === 'ok' || o.status === 'aborted') done.set(r.index, o);
  }
  return done;
}

const runSuiteCommand: CommandModule<object, RunArgs> = {
  command: 'run <suite>',
  describe: 'run a benchmark suite and write its results',
  builder: (y) =>
    y
      .positional('suite', { type: 'string', demandOption: true, describe: 'a suite file, e.g. bench/suites/default.json' })
      .option('jobs', { type: 'number', default: availableParallelism(), describe: 'worker threads (results are identical whatever the number)' })
      .option('out', { type: 'string', describe: 'results folder (default: results/<suite>/<UTC time>)' })
      .option('resume', { type: 'boolean', default: false, describe: 'with --out: keep the runs the folder already has, do the rest' })
      .option('shard', { type: 'string', describe: 'i/n: only the runs whose index is i-1 modulo n (combine shards with suite merge)' }),
  handler: async (args) => {
    const suite = loadSuite(args.suite);
    if (args.resume && !args.out) throw new ScxError('--resume needs --out, the folder to resume');
    const all = expandSuite(suite);
    const shard = args.shard ? parseShard(args.shard) : undefined;
    const out = args.out ?? join('results', suite.name, stamp());
    const suiteText = JSON.stringify(suite, null, 2) + '\n';
    const kept = args.resume ? previous(out, suiteText, all) : new Map<number, RunOutcome>();
    const todo = all.filter((r) => (!shard || r.index % shard.n === shard.i - 1) && !kept.has(r.index));
    writeResults(out, suite, all.map((r) => kept.get(r.index) ?? notRun(r)));
    const tty = process.stderr.isTTY === true;
    const stop = new AbortController();
    const onSigint = () => {
      if (!stop.signal.aborted) process.stderr.write('\nstopping: runs in progress are dropped, finished ones are kept\n');
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    let whole: RunOutcome[];
    // The handler stays until the results are written: a late Ctrl-C must not cut a write.
    try {
      const outcomes = await runAll(todo, {
        jobs: Math.max(1, Math.floor(args.jobs)),
        signal: stop.signal,
        onDone: (o, done, total) => {
          // Each finished run is saved at once, so a stop or a crash keeps it.
          writeFileAtomic(join(out, 'runs', `${o.id}.json`), JSON.stringify(o, null, 2) + '\n');
          if (tty) {
            const width = 30;
            const filled = Math.round((width * done) / total);
            process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${o.id.padEnd(24)}`);
            if (done === total) process.stderr.write('\n');
          } else process.stderr.write(`run ${done}/${total} ${o.id} ${o.status}${o.error ? `: ${o.error}` : ''}\n`);
        },
      });
      // The folder's view of the whole suite: kept runs, new ones, and 'not run' for the rest.
      const byIndex = new Map<number, RunOutcome>(kept);
      for (const o of outcomes) if (o.status !== 'not run') byIndex.set(o.index, o);
      whole = all.map((r) => byIndex.get(r.index) ?? notRun(r));
      writeResults(out, suite, whole);
    } finally {
      process.off('SIGINT', onSigint);
    }
    const missing = whole.filter((o) => o.status === 'not run').length;
    if (missing === 0) {
      process.stdout.write(terminalReport(suite, whole, process.stdout.isTTY === true));
      await writeReports(out, suite, whole);
    }
    process.stdout.write(`\nresults in ${out}${missing === 0 ? ` (report.html, report.md)` : ''}\n`);
    const failed = whole.filter((o) => o.status === 'error').length;
    if (failed) process.stderr.write(`scx-sim: ${failed} of ${whole.length} runs failed; their rows in results.csv say why\n`);
    if (missing) {
      const why = stop.signal.aborted ? 'stopped' : 'outside this shard';
      process.stderr.write(`scx-sim: ${missing} of ${whole.length} runs not done (${why}); results.csv marks them 'not run'. ${stop.signal.aborted ? `Finish with: scx-sim suite run ${args.suite} --resume --out ${out}` : 'Combine the shards with: scx-sim suite merge OUT DIR...'}\n`);
      throw new ExitStatus(stop.signal.aborted ? 130 : failed ? 1 : 0);
    }
    if (failed) throw new ExitStatus(1);
  },
};

interface MergeArgs {
  out: string;
  dirs: string[];
}

export const mergeCommand: CommandModule<object, MergeArgs> = {
  command: 'merge <out> <dirs..>',
  describe: 'combine the results folders of shards of one suite into one',
  builder: (y) =>
    y.positional('out', { type: 'string', demandOption: true, describe: 'the folder to write' }).positional('dirs', { type: 'string', array: true, demandOption: true, describe: 'shard results folders' }),
  handler: async (args) => {
    const { suite, outcomes } = mergeShards(args.dirs);
    writeResults(args.out, suite, outcomes);
    const missing = outcomes.filter((o) => o.status === 'not run').length;
    process.stdout.write(`merged ${args.dirs.length} folders into ${args.out}: ${outcomes.length - missing} of ${outcomes.length} runs\n`);
    if (missing) {
      process.stderr.write(`scx-sim: ${missing} runs are in none of the folders; results.csv marks them 'not run'\n`);
      throw new ExitStatus(1);
    }
  },
};

export const suiteCommand: CommandModule = {
  command: 'suite <command>',
  describe: 'benchmark suites',
  builder: (y) => y.command(runSuiteCommand).command(mergeCommand).demandCommand(1, 'give a suite command'),
  handler: () => {},
};
