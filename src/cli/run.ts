import type { CommandModule } from 'yargs';
import { DEFAULT_ENGINE, ENGINES, type EngineName } from '../bpf/engine.ts';
import { readInput } from '../bpf/program-file.ts';
import { simulate, type SchedulerSpec } from '../sched/simulate.ts';
import { parseTopology } from '../sched/topology.ts';
import { parseDuration } from '../workload/builtin.ts';
import { openWorkload } from '../workload/load.ts';
import { ExitStatus } from './exit.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { perfettoJson } from '../harness/perfetto.ts';

interface Args {
  scheduler: string;
  workload: string;
  cpus?: number;
  topology?: string;
  duration?: string;
  engine: EngineName;
  seed: number;
  hz: number;
  trace?: string;
  events?: string;
  json: boolean;
}

const ms = (ns: number) => (ns / 1e6).toFixed(2);

export const runCommand: CommandModule<object, Args> = {
  command: 'run',
  describe: 'simulate a scheduler on a workload and print a summary',
  builder: (y) =>
    y
      .option('scheduler', { type: 'string', demandOption: true, describe: 'a .bpf.o sched_ext object, or builtin:eevdf' })
      .option('workload', { type: 'string', demandOption: true, describe: 'gen:NAME,key=value,... | tasks.json | tasks.csv | rt-app.json | trace.txt (see workloads/README.md)' })
      .option('cpus', { type: 'number', describe: 'a flat machine of N CPUs' })
      .option('topology', { type: 'string', describe: 'e.g. 2n:4c:2t, 2n:2l:4c:2t, or a preset (laptop, desktop, server)' })
      .option('duration', { type: 'string', describe: 'simulated time (ns/us/ms/s); default: what the workload asks for (rt-app duration, a trace\'s span), else 1s' })
      .option('engine', { choices: ENGINES, default: DEFAULT_ENGINE, describe: 'BPF execution engine' })
      .option('seed', { type: 'number', default: 1, describe: 'seed of the run (bpf_get_prandom_u32)' })
      .option('hz', { type: 'number', default: 1000, describe: 'tick frequency' })
      .option('trace', { type: 'string', describe: 'write the schedule as a Perfetto / Chrome trace-event JSON file (open it in ui.perfetto.dev)' })
      .option('events', { type: 'string', describe: 'write the raw event log (wake-ups, switches, migrations, exits, kicks, DSQ depths) as JSON' })
      .option('json', { type: 'boolean', default: false })
      .example('$0 run --scheduler schedulers/vtime.bpf.o --workload gen:bursts,n=16,run=3ms,sleep=2ms --cpus 4 --duration 2s', '')
      .example('$0 run --scheduler builtin:eevdf --workload gen:hogs,n=4 --topology laptop', ''),
  handler: (args) => {
    const scheduler: SchedulerSpec =
      args.scheduler === 'builtin:eevdf' ? { kind: 'builtin:eevdf' } : { kind: 'bpf', file: args.scheduler, bytes: new Uint8Array(readInput(args.scheduler)) };
    const topology = args.topology ?? String(args.cpus ?? 4);
    const workload = openWorkload(args.workload, { seed: args.seed, nrCpus: parseTopology(topology).nrCpus });
    const r = simulate({
      scheduler,
      tasks: workload.tasks,
      cgroups: workload.cgroups,
      topology,
      durationNs: args.duration !== undefined ? parseDuration(args.duration) : (workload.durationNs ?? 1e9),
      engine: args.engine,
      seed: args.seed,
      hz: args.hz,
      trace: args.trace !== undefined || args.events !== undefined,
    });
    if (r.trace) {
      if (args.trace !== undefined) writeFileAtomic(args.trace, perfettoJson({ ...r, trace: r.trace }));
      if (args.events !== undefined) writeFileAtomic(args.events, JSON.stringify(r.trace) + '\n');
      delete r.trace;
    }
    if (args.json) {
      process.stdout.write(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
    } else {
      const out: string[] = [`${r.scheduler} on ${r.topology}, ${ms(r.durationNs)} ms simulated`];
      if (r.exit) {
        out.push(`scheduler aborted at ${ms(r.exit.atNs)} ms: ${r.exit.reason}: ${r.exit.msg}`, 'its tasks ran in the fair class (EEVDF) from then on');
        if (r.exit.dump) out.push('', 'debug dump:', ...r.exit.dump.trimEnd().split('\n').map((l) => `  ${l}`));
      }
      out.push('', `${'pid'.padStart(6)} ${'comm'.padEnd(16)} ${'run ms'.padStart(10)} ${'wait ms'.padStart(10)} ${'wakeups'.padStart(8)} ${'mean lat ms'.padStart(12)} ${'p99 lat ms'.padStart(11)} ${'migr'.padStart(6)}`);
      for (const t of r.tasks) {
        const lat = t.wakeupLatency;
        out.push(`${String(t.pid).padStart(6)} ${t.comm.padEnd(16)} ${ms(t.runtime).padStart(10)} ${ms(t.wait).padStart(10)} ${String(lat.count).padStart(8)} ${ms(lat.mean).padStart(12)} ${ms(lat.quantile(0.99)).padStart(11)} ${String(t.migrations).padStart(6)}`);
      }
      const busy = r.cpus.reduce((n, c) => n + c.busy, 0);
      out.push('', `CPU utilisation ${((100 * busy) / (r.durationNs * r.cpus.length)).toFixed(1)}%, ${r.cpus.reduce((n, c) => n + c.switches, 0)} context switches`);
      if (r.callbacks) out.push(`callbacks: ${Object.entries(r.callbacks).map(([k, v]) => `${k} ${v}`).join(', ')}; ${r.bpfInsns} BPF instructions`);
      process.stdout.write(out.join('\n') + '\n');
    }
    if (r.exit) throw new ExitStatus(3);
  },
};
