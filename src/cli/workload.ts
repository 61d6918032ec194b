import type { CommandModule } from 'yargs';
import { plot } from 'asciichart';
import { loadWorkload, parseDuration } from '../workload/builtin.ts';
import { profileWorkload } from '../workload/show.ts';

interface ShowArgs {
  workload: string;
  cpus: number;
  horizon: string;
  json: boolean;
}

const sec = (ns: number) => `${(ns / 1e9).toFixed(3)} s`;

const showCommand: CommandModule<object, ShowArgs> = {
  command: 'show <workload>',
  describe: 'what a workload asks of a machine: tasks, CPU demand, span, utilisation, demand over time',
  builder: (y) =>
    y
      .positional('workload', { type: 'string', demandOption: true, describe: 'a workload file or gen:NAME,key=value,...' })
      .option('cpus', { type: 'number', default: 4, describe: 'CPUs to compute the utilisation for' })
      .option('horizon', { type: 'string', default: '10s', describe: 'how far to follow tasks that never end' })
      .option('json', { type: 'boolean', default: false }),
  handler: (args) => {
    const tasks = loadWorkload(args.workload);
    const p = profileWorkload(tasks, parseDuration(args.horizon, 'horizon'));
    const span = p.endNs - p.startNs;
    const utilisation = span > 0 ? p.demandNs / (span * args.cpus) : 0;
    if (args.json) {
      process.stdout.write(JSON.stringify({ ...p, utilisation, cpus: args.cpus }, null, 2) + '\n');
      return;
    }
    const lines = [
      `workload ${args.workload}`,
      `tasks ${p.tasks}${p.forked ? ` (+${p.forked} forked)` : ''}, span ${sec(p.startNs)} .. ${sec(p.endNs)}${p.truncated ? ' (cut at the horizon: some tasks still had work)' : ''}`,
      `CPU demand ${sec(p.demandNs)}, utilisation on ${args.cpus} CPUs ${(100 * utilisation).toFixed(1)}% (each task as if alone, waits satisfied at once)`,
    ];
    if (p.demandNs > 0) {
      lines.push('', `demand over time, in CPUs (${(p.bucketNs / 1e6).toFixed(2)} ms per column):`);
      lines.push(plot(p.demand, { height: 10, format: (v) => v.toFixed(2).padStart(8) }));
    }
    process.stdout.write(lines.join('\n') + '\n');
  },
};

export const workloadCommand: CommandModule = {
  command: 'workload <command>',
  describe: 'inspect workloads',
  builder: (y) => y.command(showCommand).demandCommand(1, 'give a workload command'),
  handler: () => {},
};
