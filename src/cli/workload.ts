import type { CommandModule } from 'yargs';
import { plot } from 'asciichart';
import { parseDuration } from '../workload/builtin.ts';
import { loadWorkload } from '../workload/load.ts';
import { profileWorkload } from '../workload/show.ts';
import { generatorHelp } from '../workload/generators.ts';

interface ShowArgs {
  workload: string;
  cpus: number;
  horizon: string;
  seed: number;
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
      .option('seed', { type: 'number', default: 1, describe: 'seed for generators' })
      .option('json', { type: 'boolean', default: false }),
  handler: (args) => {
    const horizon = parseDuration(args.horizon, 'horizon');
    const tasks = loadWorkload(args.workload, { seed: args.seed, nrCpus: args.cpus }).filter((t) => t.arrival < horizon);
    const p = profileWorkload(tasks, horizon);
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

const generatorsCommand: CommandModule = {
  command: 'generators',
  describe: 'the gen:NAME workload generators and their parameters',
  handler: () => {
    process.stdout.write(`${generatorHelp()}\n\ngen:hogs: N CPU-bound tasks\n  n=int (required), nice=int (default 0)\n\ngen:bursts: N tasks alternating a burst and a sleep, starts staggered over one cycle\n  n=int (required), run=duration (required), sleep=duration (required), nice=int (default 0)\n`);
  },
};

export const workloadCommand: CommandModule = {
  command: 'workload <command>',
  describe: 'inspect workloads',
  builder: (y) => y.command(showCommand).command(generatorsCommand).demandCommand(1, 'give a workload command'),
  handler: () => {},
};
