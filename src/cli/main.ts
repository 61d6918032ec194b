/**
 * The `scx-sim` command line. Each command lives in its own module; this file wires them into
 * yargs and turns failures into one-line messages (stack traces only with --debug).
 */
import yargs, { type Argv } from 'yargs';
import { ScxError } from '../util/errors.ts';
import { asmCommand, disasmCommand } from './asm.ts';
import { conformanceCommand } from './conformance.ts';
import { demoCommand } from './demo.ts';
import { inspectCommand } from './inspect.ts';
import { verifyCommand } from './verify.ts';
import { runCommand } from './run.ts';
import { workloadCommand } from './workload.ts';
import { mergeCommand, suiteCommand } from './suite.ts';
import { reportCommand } from './report.ts';
import { compareCommand } from './compare.ts';
import { ExitStatus } from './exit.ts';

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  // Piped into `head` and the like: stop quietly when the reader has gone.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const parser: Argv = yargs(argv)
    .scriptName('scx-sim')
    .usage('$0 <command> [options]\n\nSimulate and benchmark sched_ext BPF schedulers.')
    .option('debug', { type: 'boolean', describe: 'print stack traces of errors', default: false })
    .command(conformanceCommand)
    .command(asmCommand)
    .command(disasmCommand)
    .command(runCommand)
    .command(workloadCommand)
    .command(suiteCommand)
    .command(mergeCommand)
    .command(reportCommand)
    .command(compareCommand)
    .command(inspectCommand)
    .command(verifyCommand)
    .command(demoCommand)
    .demandCommand(1, 'give a command')
    .strict()
    .recommendCommands()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // Throwing stops yargs; returning would let it run the handler anyway.
      throw err ?? new UsageError(msg);
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    return report(e, debug);
  }
  return Number(process.exitCode ?? 0);
}

/** Wrong command-line usage: reported with exit status 2, like other command-line tools. */
class UsageError extends ScxError {}

function report(e: unknown, debug: boolean): number {
  if (e instanceof ExitStatus) return e.code;
  if (e instanceof UsageError) {
    process.stderr.write(`scx-sim: ${e.message}\n(see scx-sim --help)\n`);
    return 2;
  }
  if (e instanceof ScxError) {
    process.stderr.write(`scx-sim: ${e.message}\n`);
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`scx-sim: internal error: ${err.message}\n`);
  process.stderr.write(debug && err.stack ? `${err.stack}\n` : '(run again with --debug for the stack trace)\n');
  return 70;
}
