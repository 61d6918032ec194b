/**
 * The `scx-sim` command line. Each command lives in its own module; this file wires them into
 * yargs and turns failures into one-line messages (stack traces only with --debug).
 */
import yargs, { type Argv } from 'yargs';
import { ScxError } from '../util/errors.ts';
import { asmCommand, disasmCommand } from './asm.ts';
import { conformanceCommand } from './conformance.ts';
import { demoCommand } from './demo.ts';
import { ExitStatus } from './exit.ts';

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  let usageError: string | undefined;
  const parser: Argv = yargs(argv)
    .scriptName('scx-sim')
    .usage('$0 <command> [options]\n\nSimulate and benchmark sched_ext BPF schedulers.')
    .option('debug', { type: 'boolean', describe: 'print stack traces of errors', default: false })
    .command(conformanceCommand)
    .command(asmCommand)
    .command(disasmCommand)
    .command(demoCommand)
    .demandCommand(1, 'give a command; see --help')
    .strict()
    .recommendCommands()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      usageError = msg;
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    return report(e, debug);
  }
  if (usageError !== undefined) {
    process.stderr.write(`scx-sim: ${usageError}\n`);
    return 2;
  }
  return Number(process.exitCode ?? 0);
}

function report(e: unknown, debug: boolean): number {
  if (e instanceof ExitStatus) return e.code;
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
