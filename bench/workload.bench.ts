/**
 * Generating and loading big workloads: 100,000 tasks in each input format and from the
 * generators, timed end to end (text -> SimTask[]), against the bound of 2 s. Writes
 * results/bench/workload.json. `npm run bench:workload`.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import { parseTaskList } from '../src/workload/builtin.ts';
import { parseCsvWorkload } from '../src/workload/csv.ts';
import { parseRtApp } from '../src/workload/rtapp.ts';
import { loadWorkload } from '../src/workload/load.ts';
import { parseTrace } from '../src/workload/trace-import.ts';
import { writeFileAtomic } from '../src/util/fs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'results/bench/workload.json');
const N = 100_000;

// Inputs built once, outside the timing: what a user would have on disk.
const csv = ['pid,comm,arrival,nice,phases,loops', ...Array.from({ length: N }, (_, i) => `${i + 1},t${i},${i * 1000},${(i % 40) - 20},run 1ms; sleep 2ms; post e${i % 100},10`)].join('\n');
const json = JSON.stringify(Array.from({ length: N }, (_, i) => ({ pid: i + 1, comm: `t${i}`, arrival: i * 1000, phases: [{ run: 1_000_000 }, { sleep: 2_000_000 }], loops: 10 })));
const rtapp = JSON.stringify({
  global: { duration: 10 },
  tasks: Object.fromEntries(Array.from({ length: N / 100 }, (_, i) => [`thread${i}`, { instance: 100, loop: 10, run: 1000, sleep: 2000 }])),
});

// A capture of 100,000 short-lived tasks on 4 CPUs: each is woken, runs 50 us and exits.
const us = (n: number) => `${Math.floor(n / 1e6)}.${String(n % 1e6).padStart(6, '0')}`;
const ftraceLines = ['# tracer: nop'];
for (let g = 0; g < N / 4; g++) {
  const t = 1e6 + g * 100;
  const pid = (cpu: number) => 1000 + 4 * g + cpu;
  for (let cpu = 0; cpu < 4; cpu++) {
    const c = String(cpu).padStart(3, '0');
    ftraceLines.push(`          <idle>-0       [${c}] dNh2.  ${us(t)}: sched_wakeup_new: comm=job pid=${pid(cpu)} prio=120 target_cpu=${c}`);
    ftraceLines.push(`          <idle>-0       [${c}] d..2.  ${us(t)}: sched_switch: prev_comm=swapper/${cpu} prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=job next_pid=${pid(cpu)} next_prio=120`);
  }
  for (let cpu = 0; cpu < 4; cpu++) {
    const c = String(cpu).padStart(3, '0');
    ftraceLines.push(`             job-${pid(cpu)}     [${c}] d..2.  ${us(t + 50)}: sched_switch: prev_comm=job prev_pid=${pid(cpu)} prev_prio=120 prev_state=X ==> next_comm=swapper/${cpu} next_pid=0 next_prio=120`);
  }
}
const ftrace = ftraceLines.join('\n') + '\n';

const cases: { name: string; load: () => unknown[] }[] = [
  { name: 'JSON task list', load: () => parseTaskList(json, 'big.json') },
  { name: 'CSV table', load: () => parseCsvWorkload(csv, 'big.csv') },
  { name: 'rt-app (1,000 tasks x 100 instances)', load: () => parseRtApp(rtapp, 'big-rt-app.json').tasks },
  { name: 'gen:server (open loop, read to the end)', load: () => loadWorkload(`gen:server,rate=10000,n=${N}`) },
  { name: 'gen:hackbench (1,000 groups x 50 x 2)', load: () => loadWorkload('gen:hackbench,groups=1000,fds=50,loops=20') },
  { name: 'ftrace text (one burst per task)', load: () => parseTrace(ftrace, 'big.txt').tasks },
  { name: 'gen:hogs', load: () => loadWorkload(`gen:hogs,n=${N}`) },
];

const rows: { workload: string; tasks: number; ms: number }[] = [];
for (const c of cases) {
  c.load(); // warm-up: V8 compiles the parser
  const t0 = performance.now();
  const tasks = c.load();
  rows.push({ workload: c.name, tasks: tasks.length, ms: performance.now() - t0 });
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileAtomic(OUT, JSON.stringify(rows, null, 2) + '\n');
for (const r of rows) process.stdout.write(`${r.workload.padEnd(44)} ${String(r.tasks).padStart(7)} tasks ${r.ms.toFixed(0).padStart(6)} ms${r.ms > 2000 ? '  OVER the 2 s bound' : ''}\n`);
process.stdout.write(`\nwritten to ${OUT}\n`);
