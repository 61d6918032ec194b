import type { CommandModule } from 'yargs';
import { runSuite } from '../bpf/conformance.ts';
import { DEFAULT_ENGINE, ENGINES, type EngineName } from '../bpf/engine.ts';
import { ExitStatus } from './exit.ts';

interface Args {
  dir: string;
  engine: EngineName;
  verbose: boolean;
}

export const conformanceCommand: CommandModule<object, Args> = {
  command: 'conformance <dir>',
  describe: 'run every bpf_conformance *.data file under DIR',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'folder (or single file) of *.data tests' })
      .option('engine', { choices: ENGINES, default: DEFAULT_ENGINE, describe: 'execution engine' })
      .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'print every file and its outcome' })
      .example('$0 conformance ../shared/bpf-conformance/tests', 'all 313 tests on the interpreter')
      .example('$0 conformance ../shared/bpf-conformance/negative', 'each file there must be rejected'),
  handler: (args) => {
    const summary = runSuite(args.dir, args.engine);
    for (const r of summary.results) {
      if (r.outcome === 'fail') process.stdout.write(`FAIL ${r.file}: ${r.reason}\n`);
      else if (args.verbose) process.stdout.write(`${r.outcome === 'pass' ? 'ok  ' : 'SKIP'} ${r.file}: ${r.reason}\n`);
    }
    const skipped = summary.skipped ? `, ${summary.skipped} skipped` : '';
    process.stdout.write(`${summary.passed} passed, ${summary.failed} failed${skipped}\n`);
    if (summary.failed > 0) throw new ExitStatus(1);
  },
};
