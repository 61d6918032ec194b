import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCsvWorkload, parseCsvWorkload } from '../../src/workload/csv.ts';
import { WorkloadError } from '../../src/workload/builtin.ts';
import { checkTask, type ChildTask, type Phase, type Policy, type SimTask } from '../../src/sched/spec.ts';

const EXAMPLES = resolve(__dirname, '../../workloads/csv');

/** The message of the error parsing `text` throws, or a failure if it parses. */
function errorOf(text: string, file = 'tasks.csv'): string {
  try {
    parseCsvWorkload(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(WorkloadError);
    return (e as Error).message;
  }
  throw new Error(`expected an error, but it parsed:\n${text}`);
}

describe('CSV workloads: hand-written tables', () => {
  it('reads a minimal table, leaving defaults out', () => {
    const text = 'pid,comm,phases\n1,hog,run 10ms\n2,sleeper,run 1ms; sleep 4ms\n';
    expect(parseCsvWorkload(text, 't.csv')).toStrictEqual([
      { pid: 1, comm: 'hog', arrival: 0, phases: [{ run: 10_000_000 }] },
      { pid: 2, comm: 'sleeper', arrival: 0, phases: [{ run: 1_000_000 }, { sleep: 4_000_000 }] },
    ]);
  });

  it('reads every column in any order, with quoting, comments, blank lines, CRLF and a BOM', () => {
    const text = [
      '\uFEFF# the header follows',
      'loops,cpus,rt_priority,policy,nice,arrival,phases,comm,pid',
      '',
      '3, "0-1,4" ,,batch,-7,1.5ms,"run 2us;sleep 0",  "a, ""b""" ,42',
      '   # an indented comment',
      'inf,2,99,rr,,2s,run 1ms; yield,irq,7',
      ',,,,,,run 1,plain,8',
    ].join('\r\n');
    expect(parseCsvWorkload(text, 't.csv')).toStrictEqual([
      { pid: 42, comm: 'a, "b"', nice: -7, cpus: [0, 1, 4], policy: 'batch', arrival: 1_500_000, phases: [{ run: 2000 }, { sleep: 0 }], loops: 3 },
      { pid: 7, comm: 'irq', cpus: [2], policy: 'rr', rtPriority: 99, arrival: 2_000_000_000, phases: [{ run: 1_000_000 }, { yield: true }], loops: Infinity },
      { pid: 8, comm: 'plain', arrival: 0, phases: [{ run: 1 }] },
    ]);
  });

  it('reads every kind of step', () => {
    const program =
      'run 1s; sleep 250us; wait in; post out; post out x12; broadcast go; timer 10ms; timer 10ms deadline 3ms; yield; ' +
      'nice -20; nice 19; cpus 0,2-3; repeat 2 { run 1; repeat 3 { sleep 2 } }; fork kid { run 5 }; exit';
    const [task] = parseCsvWorkload(`pid,comm,phases\n1,all,"${program}"\n`, 't.csv');
    expect(task.phases).toStrictEqual([
      { run: 1_000_000_000 },
      { sleep: 250_000 },
      { wait: 'in' },
      { post: 'out' },
      { post: 'out', count: 12 },
      { broadcast: 'go' },
      { timer: 10_000_000 },
      { timer: 10_000_000, deadline: 3_000_000 },
      { yield: true },
      { nice: -20 },
      { nice: 19 },
      { cpus: [0, 2, 3] },
      { repeat: 2, phases: [{ run: 1 }, { repeat: 3, phases: [{ sleep: 2 }] }] },
      { fork: { comm: 'kid', phases: [{ run: 5 }] } },
      { exit: true },
    ]);
  });

  it('reads forks with options, nested, with punctuation needing no spaces', () => {
    const program = 'fork rt-kid policy=fifo rt_priority=10 cpus=1 { run 1ms };fork kid nice=-3 policy=ext loops=inf {fork grandkid loops=2{run 2ms;sleep 1ms};sleep 1s}';
    const [task] = parseCsvWorkload(`pid,comm,phases\n1,parent,${program}\n`, 't.csv');
    const expected: Phase[] = [
      { fork: { comm: 'rt-kid', policy: 'fifo', rtPriority: 10, cpus: [1], phases: [{ run: 1_000_000 }] } },
      {
        fork: {
          comm: 'kid',
          nice: -3,
          policy: 'ext',
          loops: Infinity,
          phases: [{ fork: { comm: 'grandkid', loops: 2, phases: [{ run: 2_000_000 }, { sleep: 1_000_000 }] } }, { sleep: 1_000_000_000 }],
        },
      },
    ];
    expect(task.phases).toStrictEqual(expected);
  });

  it('reads durations in every unit and CPU lists as Linux does', () => {
    const text = ['pid,comm,arrival,cpus,phases', '1,a,0,"3,0-2,2",run 1', '2,b,42,5-5,run 1', '3,c,1.5us,8191,run 1', '4,d,2.5ms,0,run 1', '5,e,3s,,run 1', '6,f,0.5,,run 0.4'].join('\n');
    const tasks = parseCsvWorkload(text, 't.csv');
    expect(tasks.map((t) => t.arrival)).toEqual([0, 42, 1500, 2_500_000, 3_000_000_000, 1]);
    expect(tasks.map((t) => t.cpus)).toEqual([[0, 1, 2, 3], [5], [8191], [0], undefined, undefined]);
    expect(tasks[5].phases).toEqual([{ run: 0 }]);
  });

  it('names the line a row starts on, after multi-line programs and comments', () => {
    const text = ['pid,comm,phases', '1,a,"run 1ms;', '  sleep 1ms;', '  run 2ms"', '# note', '2,b,"run 1ms;', ' sleep -1ms"'].join('\n');
    expect(errorOf(text)).toBe("tasks.csv:6: column 'phases': expected a duration like 5ms after 'sleep', found '-1ms'");
    const good = parseCsvWorkload(text.replace('-1ms', '1ms'), 't.csv');
    expect(good[0].phases).toEqual([{ run: 1e6 }, { sleep: 1e6 }, { run: 2e6 }]);
  });

  it('reads mixed line endings as they look, and counts a quoted CRLF as one line', () => {
    const text = 'pid,comm,phases\r\n1,a,run 1\n2,b,run 2\r3,c,"run 1;\r\nrun 2"\n\r\n4,d,run x\r\n';
    expect(errorOf(text)).toBe("tasks.csv:7: column 'phases': expected a duration like 5ms after 'run', found 'x'");
    expect(parseCsvWorkload(text.replace('run x', 'run 3'), 't.csv').map((t) => t.phases)).toEqual([[{ run: 1 }], [{ run: 2 }], [{ run: 1 }, { run: 2 }], [{ run: 3 }]]);
  });

  it('reads the README example as documented', () => {
    const readme = readFileSync(join(EXAMPLES, 'README.md'), 'utf8');
    const example = /```csv\n([\s\S]*?)```/.exec(readme)![1];
    expect(parseCsvWorkload(example, 'README.md')).toStrictEqual([
      { pid: 1, comm: 'render', arrival: 0, phases: [{ run: 3_000_000 }, { sleep: 2_000_000 }], loops: Infinity },
      { pid: 2, comm: 'build', nice: 10, cpus: [0, 1, 2, 3, 8], policy: 'batch', arrival: 10_000_000, phases: [{ run: 50_000_000 }, { exit: true }] },
      { pid: 3, comm: 'irq/24', cpus: [0], policy: 'fifo', rtPriority: 50, arrival: 0, phases: [{ timer: 1_000_000, deadline: 200_000 }, { run: 20_000 }], loops: Infinity },
    ]);
  });

  it('loads the example files', () => {
    const desktop = loadCsvWorkload(join(EXAMPLES, 'batch-interactive.csv'));
    const expected: SimTask[] = [
      {
        pid: 1,
        comm: 'make',
        policy: 'batch',
        arrival: 0,
        loops: 1,
        phases: [
          { repeat: 16, phases: [{ fork: { comm: 'cc1', nice: 10, policy: 'batch', loops: 1, phases: [{ run: 40e6 }, { sleep: 2e6 }, { run: 60e6 }] } }, { sleep: 5e6 }] },
          { sleep: 500e6 },
        ],
      },
      { pid: 10, comm: 'kwin_wayland', nice: -5, arrival: 0, loops: Infinity, phases: [{ timer: 16_667_000, deadline: 8e6 }, { run: 3e6 }] },
      { pid: 11, comm: 'pipewire', policy: 'fifo', rtPriority: 88, arrival: 0, loops: Infinity, phases: [{ timer: 5_333_000, deadline: 2e6 }, { run: 300_000 }] },
      { pid: 12, comm: 'vim', arrival: 100e6, loops: Infinity, phases: [{ sleep: 120e6 }, { run: 1_500_000 }, { repeat: 3, phases: [{ sleep: 40e6 }, { run: 300_000 }] }] },
      {
        pid: 13,
        comm: 'firefox',
        cpus: [0, 1, 2, 3],
        policy: 'ext',
        arrival: 0,
        loops: Infinity,
        phases: [{ run: 8e6 }, { sleep: 8e6 }, { nice: 5 }, { run: 20e6 }, { yield: true }, { nice: 0 }, { cpus: [0, 1] }, { run: 4e6 }, { cpus: [0, 1, 2, 3] }, { sleep: 30e6 }],
      },
      { pid: 14, comm: 'updatedb', nice: 19, policy: 'idle', arrival: 1e9, loops: 1, phases: [{ run: 900e6 }] },
    ];
    expect(desktop).toStrictEqual(expected);

    const web = loadCsvWorkload(join(EXAMPLES, 'web-server.csv'));
    expect(web.map((t) => t.pid)).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 200, 201, 300, 301, 400, 500]);
    expect(web[0].phases).toEqual([{ timer: 1e6 }, { run: 20_000 }, { post: 'req', count: 4 }]);
    expect(web[12]).toStrictEqual({ pid: 301, comm: 'ksoftirqd/1', cpus: [1], policy: 'fifo', rtPriority: 50, arrival: 250_000, loops: Infinity, phases: [{ timer: 500_000, deadline: 100_000 }, { run: 15_000 }] });

    const pipeline = loadCsvWorkload(join(EXAMPLES, 'pipeline.csv'));
    expect(pipeline.map((t) => t.comm)).toEqual(['reader', 'decoder', 'writer', 'coordinator', 'bsp-w0', 'bsp-w1', 'bsp-w2', 'bsp-w3', 'reducer']);
    expect(pipeline[4].phases).toEqual(pipeline[5].phases);
    expect(pipeline[4].phases).toEqual([{ wait: 'epoch' }, { repeat: 10, phases: [{ run: 500_000 }, { yield: true }] }, { post: 'done' }]);
    expect(pipeline[8]).toStrictEqual({ pid: 25, comm: 'reducer', cpus: [1, 3], arrival: 0, loops: Infinity, phases: [{ repeat: 4, phases: [{ wait: 'done' }] }, { run: 2e6 }] });
  });

  it('reports a file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-csv-'));
    expect(() => loadCsvWorkload(join(dir, 'none.csv'))).toThrow(`${join(dir, 'none.csv')}: no such file`);
    writeFileSync(join(dir, 'one.csv'), 'pid,comm,phases\n1,a,run 1\n');
    expect(loadCsvWorkload(join(dir, 'one.csv'))).toEqual([{ pid: 1, comm: 'a', arrival: 0, phases: [{ run: 1 }] }]);
  });
});

const H = 'pid,comm,arrival,phases\n';
/** A one-task file whose `phases` cell is `program`. */
const prog = (program: string) => `pid,comm,phases\n1,a,"${program}"\n`;
const STEP_LIST = 'a step (run, sleep, wait, post, broadcast, timer, yield, exit, nice, cpus, repeat, fork)';
const COLUMN_LIST = 'pid, comm, phases, arrival, nice, policy, rt_priority, cpus, loops';
const CPU_LIST = 'a CPU list like 0-3,8 (CPUs 0 to 8191, ranges low-high)';

describe('CSV workloads: every malformed input fails with one exact line', () => {
  it.each<[string, string, string]>([
    // The file and its header
    ['an empty file', '', `tasks.csv:1: expected a header row naming the columns (${COLUMN_LIST}), found an empty file`],
    ['only comments', '# nothing yet\n\n', `tasks.csv:1: expected a header row naming the columns (${COLUMN_LIST}), found only comments`],
    ['an unknown column', 'pid,comm,prio,phases\n1,a,3,run 1\n', `tasks.csv:1: expected a column name (${COLUMN_LIST}), found 'prio'`],
    ['an empty column name', 'pid,comm,,phases\n', `tasks.csv:1: expected a column name (${COLUMN_LIST}), found an empty cell`],
    ['a column named twice', 'pid,comm,phases,pid\n1,a,run 1,1\n', "tasks.csv:1: expected each column once, found 'pid' twice"],
    ['a missing required column', 'pid,comm,arrival\n1,a,0\n', "tasks.csv:1: expected the header to name the columns pid, comm, phases, found no 'phases'"],
    ['a header without rows', '# t\npid,comm,phases\n', 'tasks.csv:2: expected task rows after the header, found none'],
    // The CSV itself
    ['too few fields', `${H}1,a,0\n`, 'tasks.csv:2: expected 4 fields, one per header column, found 3'],
    ['too many fields', `${H}1,a,0,run 1,\n`, 'tasks.csv:2: expected 4 fields, one per header column, found 5'],
    ['an unterminated quote', `${H}1,a,0,run 1\n2,b,0,"run 1\n3,c,0,run 1\n`, 'tasks.csv:3: expected a \'"\' closing the quoted field, found the end of the file'],
    ['a quote inside an unquoted field', `${H}1,a"b,0,run 1\n`, 'tasks.csv:2: expected a field either wholly in quotes or without any, found \'a"\''],
    ['text after a closing quote', `${H}1,"a"b,0,run 1\n`, 'tasks.csv:2: expected \',\' or the end of the line after a closing \'"\', found \'b\''],
    // Cells
    ['a pid that is not an integer', `${H}1.5,a,0,run 1\n`, "tasks.csv:2: column 'pid': expected a pid from 1 to 4194304, found '1.5'"],
    ['pid 0', `${H}0,a,0,run 1\n`, "tasks.csv:2: column 'pid': expected a pid from 1 to 4194304, found '0'"],
    ['a duplicate pid', `${H}5,a,0,run 1\n# x\n5,b,0,run 1\n`, "tasks.csv:4: column 'pid': expected a pid not used before, found '5', already on line 2"],
    ['an empty comm', `${H}1,,0,run 1\n`, "tasks.csv:2: column 'comm': expected a name of 1 to 15 bytes without control characters, found an empty cell"],
    ['a comm of 16 bytes', `${H}1,sixteen-chars-xx,0,run 1\n`, "tasks.csv:2: column 'comm': expected a name of 1 to 15 bytes without control characters, found 'sixteen-chars-xx'"],
    ['a comm of 8 characters and 16 bytes', `${H}1,éééééééé,0,run 1\n`, "tasks.csv:2: column 'comm': expected a name of 1 to 15 bytes without control characters, found 'éééééééé'"],
    ['a comm with a control character', `${H}1,"a\tb",0,run 1\n`, "tasks.csv:2: column 'comm': expected a name of 1 to 15 bytes without control characters, found 'a\\tb'"],
    ['a negative duration', `# tasks\n${H}1,a,0,run 1\n2,b,1ms,run 1\n\n3,c,2ms,run 1\n4,d,-3ms,run 1\n`, "tasks.csv:7: column 'arrival': expected a duration like 5ms, found '-3ms'"],
    ['a space before the unit', `${H}1,a,5 ms,run 1\n`, "tasks.csv:2: column 'arrival': expected a duration like 5ms, found '5 ms'"],
    ['an unknown unit', `${H}1,a,5min,run 1\n`, "tasks.csv:2: column 'arrival': expected a duration like 5ms, found '5min'"],
    ['a duration too large', `${H}1,a,9999999999s,run 1\n`, "tasks.csv:2: column 'arrival': expected a duration under 104 days (2^53 ns), found '9999999999s'"],
    ['nice out of range', 'pid,comm,nice,phases\n1,a,20,run 1\n', "tasks.csv:2: column 'nice': expected a nice value from -20 to 19, found '20'"],
    ['an unknown policy', 'pid,comm,policy,phases\n1,a,deadline,run 1\n', "tasks.csv:2: column 'policy': expected a policy (normal, batch, idle, ext, fifo, rr), found 'deadline'"],
    ['a fifo task without a priority', 'pid,comm,policy,rt_priority,phases\n1,a,fifo,,run 1\n', "tasks.csv:2: column 'rt_priority': expected a priority from 1 to 99 for policy fifo, found an empty cell"],
    ['a priority out of range', 'pid,comm,policy,rt_priority,phases\n1,a,rr,100,run 1\n', "tasks.csv:2: column 'rt_priority': expected a priority from 1 to 99 for policy rr, found '100'"],
    ['a priority for a batch task', 'pid,comm,policy,rt_priority,phases\n1,a,batch,5,run 1\n', "tasks.csv:2: column 'rt_priority': expected no priority for policy batch (only fifo and rr have one), found '5'"],
    ['a priority for a default task', 'pid,comm,policy,rt_priority,phases\n1,a,,5,run 1\n', "tasks.csv:2: column 'rt_priority': expected no priority for policy normal (only fifo and rr have one), found '5'"],
    ['an rr task with no rt_priority column', 'pid,comm,policy,phases\n1,a,rr,run 1\n', "tasks.csv:2: column 'rt_priority': expected a priority from 1 to 99 for policy rr, found no such column"],
    ['a descending CPU range', 'pid,comm,cpus,phases\n1,a,4-2,run 1\n', `tasks.csv:2: column 'cpus': expected ${CPU_LIST}, found '4-2'`],
    ['a CPU list ending in a comma', 'pid,comm,cpus,phases\n1,a,"0-3,",run 1\n', `tasks.csv:2: column 'cpus': expected ${CPU_LIST}, found '0-3,'`],
    ['a CPU list with a space', 'pid,comm,cpus,phases\n1,a,"1, 2",run 1\n', `tasks.csv:2: column 'cpus': expected ${CPU_LIST}, found '1, 2'`],
    ['a CPU beyond 8191', 'pid,comm,cpus,phases\n1,a,0-9000,run 1\n', `tasks.csv:2: column 'cpus': expected ${CPU_LIST}, found '0-9000'`],
    ['a CPU list with a stride', 'pid,comm,cpus,phases\n1,a,0-7:2/4,run 1\n', `tasks.csv:2: column 'cpus': expected ${CPU_LIST}, found '0-7:2/4'`],
    ['zero loops', 'pid,comm,loops,phases\n1,a,0,run 1\n', "tasks.csv:2: column 'loops': expected 'inf' or a loop count from 1 to 1000000000, found '0'"],
    ['loops as a word', 'pid,comm,loops,phases\n1,a,forever,run 1\n', "tasks.csv:2: column 'loops': expected 'inf' or a loop count from 1 to 1000000000, found 'forever'"],
    // Programs
    ['an empty program', `${H}1,a,0,\n`, "tasks.csv:2: column 'phases': expected a program like 'run 3ms; sleep 2ms', found an empty cell"],
    ['an unknown step', prog('spin 3ms'), `tasks.csv:2: column 'phases': expected ${STEP_LIST}, found 'spin'`],
    ['a run without a duration', prog('run; sleep 1'), "tasks.csv:2: column 'phases': expected a duration like 5ms after 'run', found ';'"],
    ['a negative sleep', prog('sleep -1ms'), "tasks.csv:2: column 'phases': expected a duration like 5ms after 'sleep', found '-1ms'"],
    ['a trailing semicolon', prog('run 1;'), `tasks.csv:2: column 'phases': expected ${STEP_LIST}, found the end of the cell`],
    ['a missing semicolon', prog('run 1 sleep 1'), "tasks.csv:2: column 'phases': expected ';' between steps, found 'sleep'"],
    ['an unclosed block', prog('repeat 2 { run 1'), "tasks.csv:2: column 'phases': expected ';' between steps or '}' closing the repeat block, found the end of the cell"],
    ['a stray closing brace', prog('run 1 }'), "tasks.csv:2: column 'phases': expected ';' between steps, found '}'"],
    ['an empty block', prog('repeat 2 { }'), `tasks.csv:2: column 'phases': expected ${STEP_LIST}, found '}'`],
    ['repeat 0', prog('repeat 0 { run 1 }'), "tasks.csv:2: column 'phases': expected a count from 1 to 1000000000 after 'repeat', found '0'"],
    ['a repeat without a block', prog('repeat 2 run 1'), "tasks.csv:2: column 'phases': expected '{' opening the repeat block, found 'run'"],
    ['a bad event name', prog('wait 3pipe'), "tasks.csv:2: column 'phases': expected an event name after 'wait' (a letter or _, then letters, digits, _ . -), found '3pipe'"],
    ['a missing event name', prog('broadcast'), "tasks.csv:2: column 'phases': expected an event name after 'broadcast', found the end of the cell"],
    ['a post count of x0', prog('post out x0'), "tasks.csv:2: column 'phases': expected a count from x1 to x1000000000 after 'post out', found 'x0'"],
    ['a timer of period 0', prog('timer 0'), "tasks.csv:2: column 'phases': expected a positive duration like 5ms after 'timer', found '0'"],
    ['a deadline without a value', prog('timer 1ms deadline'), "tasks.csv:2: column 'phases': expected a positive duration like 5ms after 'deadline', found the end of the cell"],
    ['a step after exit', prog('exit; run 1'), "tasks.csv:2: column 'phases': expected nothing after 'exit' (the steps after it would never run), found 'run'"],
    ['a nice step out of range', prog('nice 20'), "tasks.csv:2: column 'phases': expected a nice value from -20 to 19 after 'nice', found '20'"],
    ['a bad cpus step', prog('cpus 3-1'), "tasks.csv:2: column 'phases': expected a CPU list like 0-3,8 after 'cpus' (CPUs 0 to 8191, ranges low-high), found '3-1'"],
    ['a fork without a comm', prog('fork { run 1 }'), "tasks.csv:2: column 'phases': expected the child's comm after 'fork', found '{'"],
    ['a fork with an option for a comm', prog('fork nice=1 { run 1 }'), "tasks.csv:2: column 'phases': expected the child's comm after 'fork', found 'nice=1'"],
    ['a fork comm too long', prog('fork a-very-long-child { run 1 }'), "tasks.csv:2: column 'phases': expected a name of 1 to 15 bytes without control characters as the child's comm after 'fork', found 'a-very-long-child'"],
    ['a fork without a block', prog('fork kid run 1'), "tasks.csv:2: column 'phases': fork 'kid': expected '{' or an option (nice=, policy=, rt_priority=, cpus=, loops=), found 'run'"],
    ['a fork option given twice', prog('fork kid nice=1 nice=2 { run 1 }'), "tasks.csv:2: column 'phases': fork 'kid': expected each option once, found 'nice=' twice"],
    ['a bad fork option value', prog('fork kid nice=30 { run 1 }'), "tasks.csv:2: column 'phases': fork 'kid', option 'nice=': expected a nice value from -20 to 19, found '30'"],
    ['an empty fork option value', prog('fork kid loops= { run 1 }'), "tasks.csv:2: column 'phases': fork 'kid', option 'loops=': expected 'inf' or a loop count from 1 to 1000000000, found nothing after '='"],
    ['a fifo child without a priority', prog('fork kid policy=fifo { run 1 }'), "tasks.csv:2: column 'phases': fork 'kid': expected a priority from 1 to 99 for policy fifo, found no 'rt_priority=' option"],
    ['blocks nested too deep', prog(`${'repeat 2 { '.repeat(33)}run 1${' }'.repeat(33)}`), "tasks.csv:2: column 'phases': expected at most 32 nested blocks, found more"],
  ])('%s', (_, text, message) => {
    expect(errorOf(text)).toBe(message);
  });

  it('accepts blocks nested exactly 32 deep', () => {
    const [task] = parseCsvWorkload(prog(`${'repeat 2 { '.repeat(32)}run 1${' }'.repeat(32)}`), 't.csv');
    let depth = 0;
    for (let p: readonly Phase[] = task.phases; 'repeat' in p[0]; p = p[0].phases) depth++;
    expect(depth).toBe(32);
  });
});

/**
 * An independent check that a task is what spec.ts describes, for the fuzz test: whatever the
 * parser accepts must be a task the machine can take.
 */
function problemsOf(t: SimTask | ChildTask, pids: Set<number> | undefined): string[] {
  const bad: string[] = [];
  const int = (v: unknown, lo: number, hi: number) => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  const cpuList = (c: readonly number[]) => c.length > 0 && c.every((x, i) => int(x, 0, 8191) && (i === 0 || x > c[i - 1]));
  if ('pid' in t && pids) {
    if (!int(t.pid, 1, 4_194_304) || pids.has(t.pid)) bad.push(`pid ${t.pid}`);
    pids.add(t.pid);
    if (!int(t.arrival, 0, Number.MAX_SAFE_INTEGER)) bad.push(`arrival ${t.arrival}`);
  }
  if (typeof t.comm !== 'string' || t.comm === '' || Buffer.byteLength(t.comm) > 15 || /[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(t.comm)) bad.push(`comm ${JSON.stringify(t.comm)}`);
  if (t.nice !== undefined && !int(t.nice, -20, 19)) bad.push(`nice ${t.nice}`);
  if (t.cpus !== undefined && !cpuList(t.cpus)) bad.push(`cpus ${t.cpus}`);
  const policies: Policy[] = ['normal', 'batch', 'idle', 'ext', 'fifo', 'rr'];
  if (t.policy !== undefined && !policies.includes(t.policy)) bad.push(`policy ${t.policy}`);
  const rt = t.policy === 'fifo' || t.policy === 'rr';
  if (rt ? !int(t.rtPriority, 1, 99) : t.rtPriority !== undefined) bad.push(`rtPriority ${t.rtPriority}`);
  if (t.loops !== undefined && t.loops !== Infinity && !int(t.loops, 1, Number.MAX_SAFE_INTEGER)) bad.push(`loops ${t.loops}`);
  const program = (ps: readonly Phase[]): void => {
    if (ps.length === 0) bad.push('an empty program');
    ps.forEach((p, i) => {
      const keys = Object.keys(p).sort().join(',');
      const name = (s: unknown) => typeof s === 'string' && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s);
      const ns = (v: unknown, lo = 0) => int(v, lo, Number.MAX_SAFE_INTEGER);
      let ok: boolean;
      if ('run' in p) ok = keys === 'run' && ns(p.run);
      else if ('sleep' in p) ok = keys === 'sleep' && ns(p.sleep);
      else if ('wait' in p) ok = keys === 'wait' && name(p.wait);
      else if ('post' in p) ok = (keys === 'post' || keys === 'count,post') && name(p.post) && (p.count === undefined || ns(p.count, 1));
      else if ('broadcast' in p) ok = keys === 'broadcast' && name(p.broadcast);
      else if ('timer' in p) ok = (keys === 'timer' || keys === 'deadline,timer') && ns(p.timer, 1) && (p.deadline === undefined || ns(p.deadline, 1));
      else if ('yield' in p) ok = keys === 'yield' && p.yield === true;
      else if ('exit' in p) ok = keys === 'exit' && p.exit === true && i === ps.length - 1;
      else if ('nice' in p) ok = keys === 'nice' && int(p.nice, -20, 19);
      else if ('cpus' in p) ok = keys === 'cpus' && cpuList(p.cpus);
      else if ('fork' in p) {
        ok = keys === 'fork';
        bad.push(...problemsOf(p.fork, undefined));
      } else {
        ok = keys === 'phases,repeat' && ns(p.repeat, 1);
        program(p.phases);
      }
      if (!ok) bad.push(`step ${JSON.stringify(p)}`);
    });
  };
  program(t.phases);
  return bad;
}

const BASE = [
  'pid,comm,arrival,nice,policy,rt_priority,cpus,phases,loops',
  '1,web,0,,,,,run 3ms; sleep 2ms,inf',
  '# a comment',
  '2,"db, main",1.5ms,-5,batch,,"0-3,8","repeat 3 { run 1ms; wait pipe }; post pipe x3",10',
  '3,irq/9,0,,fifo,50,0,timer 1ms deadline 200us; run 20us,',
  '',
  '4,mk,2s,19,idle,,,"fork cc nice=10 policy=rr rt_priority=3 cpus=1-2 loops=2 { run 1us; broadcast go }; yield; nice 3; cpus 0; exit",1',
  '5,"multi",7,,ext,,,"run 1;',
  '  sleep 1",',
].join('\n');

const ALPHABET = [',', '"', ';', '{', '}', '#', '\n', '\r', ' ', '\t', '-', '0', '9', 'x', '=', 'a', 's', 'm', '.', 'é', '\0', '\u2028', '\x85'];
const POOL = ['-3ms', '0', 'inf', 'x0', 'x3', '99', '100', '-21', '20', 'fifo', 'rr', 'ext', 'deadline', 'exit', '{', '}', ';', '""', '"', '1e3', '0-3,8', '3-1', 'repeat', 'fork', 'kid', 'nice=1', 'rt_priority=5', '9999999999s', '', '#', ' ', 'pid', 'comm'];

type Mutation = { kind: 'char'; at: number; op: 0 | 1 | 2; ch: string } | { kind: 'line'; a: number; b: number; op: 0 | 1 | 2 } | { kind: 'word'; at: number; value: string };

function mutate(text: string, m: Mutation): string {
  if (m.kind === 'char') {
    const at = m.at % (text.length + 1);
    return text.slice(0, at) + (m.op === 2 ? '' : m.ch) + text.slice(m.op === 0 ? at : at + 1);
  }
  if (m.kind === 'line') {
    const lines = text.split('\n');
    const a = m.a % lines.length;
    const b = m.b % lines.length;
    if (m.op === 0) lines.splice(b, 0, lines[a]);
    else if (m.op === 1) lines.splice(a, 1);
    else [lines[a], lines[b]] = [lines[b], lines[a]];
    return lines.join('\n');
  }
  const words = [...text.matchAll(/[^,;\s{}"]+/g)];
  if (words.length === 0) return text;
  const w = words[m.at % words.length];
  return text.slice(0, w.index) + m.value + text.slice(w.index + w[0].length);
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('char' as const), at: fc.nat(), op: fc.constantFrom(0 as const, 1 as const, 2 as const), ch: fc.constantFrom(...ALPHABET) }),
  fc.record({ kind: fc.constant('line' as const), a: fc.nat(), b: fc.nat(), op: fc.constantFrom(0 as const, 1 as const, 2 as const) }),
  fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: fc.constantFrom(...POOL) }),
);

describe('CSV workloads: fuzzing', () => {
  it('the fuzz base is valid', () => {
    const tasks = parseCsvWorkload(BASE, 'fuzz.csv');
    expect(tasks).toHaveLength(5);
    const pids = new Set<number>();
    for (const t of tasks) expect(problemsOf(t, pids)).toEqual([]);
  });

  it('every mutated file parses into valid tasks or fails with FILE:LINE: and one line', () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        const text = ms.reduce(mutate, BASE);
        let key: string;
        try {
          const tasks = parseCsvWorkload(text, 'fuzz.csv');
          const pids = new Set<number>();
          expect(tasks.flatMap((t) => problemsOf(t, pids))).toEqual([]);
          // And the machine's own check agrees.
          expect(tasks.map(checkTask).filter((p) => p !== undefined)).toEqual([]);
          key = 'ok';
        } catch (e) {
          if (!(e instanceof WorkloadError)) throw new Error(`not a WorkloadError for ${JSON.stringify(text)}: ${(e as Error).stack}`);
          const m = /^fuzz\.csv:(\d+): \S/.exec(e.message);
          expect(m, e.message).not.toBeNull();
          expect(e.message).not.toMatch(/[\n\r\u2028\u2029]/);
          const line = Number(m![1]);
          expect(line).toBeGreaterThanOrEqual(1);
          expect(line).toBeLessThanOrEqual(text.split(/\r\n|\r|\n/).length);
          key = e.message.replace(/'[^']*'|\d+/g, '_').slice(0, 70);
        }
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }),
      { numRuns: 5000, seed: 6 },
    );
    // The mutations reach every layer: many distinct failures, and some files still parse.
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(100);
    expect(outcomes.size).toBeGreaterThan(40);
  });
});

// A writer for the round trip: the grammar of the README, produced independently of the parser.
function dur(ns: number): string {
  for (const [unit, f] of [['s', 1e9], ['ms', 1e6], ['us', 1e3]] as const) if (ns > 0 && ns % f === 0) return `${ns / f}${unit}`;
  return `${ns}`;
}

function cpuText(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j] + 1) j++;
    parts.push(j === i ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

function programText(ps: readonly Phase[]): string {
  return ps
    .map((p): string => {
      if ('run' in p) return `run ${dur(p.run)}`;
      if ('sleep' in p) return `sleep ${dur(p.sleep)}`;
      if ('wait' in p) return `wait ${p.wait}`;
      if ('post' in p) return `post ${p.post}${p.count === undefined ? '' : ` x${p.count}`}`;
      if ('broadcast' in p) return `broadcast ${p.broadcast}`;
      if ('timer' in p) return `timer ${dur(p.timer)}${p.deadline === undefined ? '' : ` deadline ${dur(p.deadline)}`}`;
      if ('yield' in p) return 'yield';
      if ('exit' in p) return 'exit';
      if ('nice' in p) return `nice ${p.nice}`;
      if ('cpus' in p) return `cpus ${cpuText(p.cpus)}`;
      if ('fork' in p) {
        const c = p.fork;
        const opts = [
          c.nice === undefined ? '' : ` nice=${c.nice}`,
          c.policy === undefined ? '' : ` policy=${c.policy}`,
          c.rtPriority === undefined ? '' : ` rt_priority=${c.rtPriority}`,
          c.cpus === undefined ? '' : ` cpus=${cpuText(c.cpus)}`,
          c.loops === undefined ? '' : ` loops=${c.loops === Infinity ? 'inf' : c.loops}`,
        ].join('');
        return `fork ${c.comm}${opts} { ${programText(c.phases)} }`;
      }
      return `repeat ${p.repeat} {${programText(p.phases)}}`;
    })
    .join('; ');
}

function csvCell(s: string): string {
  return /[",\r\n]|^#/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const nsArb = fc.oneof(fc.nat(5000), fc.nat(5000).map((x) => x * 1000), fc.nat(5000).map((x) => x * 1e6), fc.integer({ min: 1, max: 100 }).map((x) => x * 1e9));
const eventArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,6}$/);
const cpusArb = fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 6 }).map((c) => [...c].sort((a, b) => a - b));
const policyArb = fc.constantFrom<Policy | undefined>(undefined, 'normal', 'batch', 'idle', 'ext', 'fifo', 'rr');
const loopsArb = fc.constantFrom(undefined, 1, 7, Infinity);
const commUnit = fc.constantFrom('a', 'Z', '0', '-', '/', ':', '.', '_', ',', '"', '#', ' ', 'é', '=');
const rowCommArb = fc.string({ unit: commUnit, minLength: 1, maxLength: 15 }).filter((s) => s.trim() === s && Buffer.byteLength(s) <= 15);
const childCommArb = fc.string({ unit: commUnit, minLength: 1, maxLength: 15 }).filter((s) => !/[\s=]/.test(s) && Buffer.byteLength(s) <= 15);

/** Policy and priority together, as the schema requires. */
const schedArb = fc.tuple(policyArb, fc.integer({ min: 1, max: 99 })).map(([policy, prio]) => ({ policy, rtPriority: policy === 'fifo' || policy === 'rr' ? prio : undefined }));

const { program: programArb } = fc.letrec<{ program: Phase[]; step: Phase }>((tie) => ({
  program: fc
    .array(tie('step'), { minLength: 1, maxLength: 4 })
    // exit ends a block
    .map((ps) => ps.filter((p, i) => !('exit' in p) || i === ps.length - 1)),
  step: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nsArb.map((run): Phase => ({ run })),
    nsArb.map((sleep): Phase => ({ sleep })),
    eventArb.map((wait): Phase => ({ wait })),
    fc.tuple(eventArb, fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined })).map(([post, count]): Phase => (count === undefined ? { post } : { post, count })),
    eventArb.map((broadcast): Phase => ({ broadcast })),
    fc.tuple(nsArb.filter((n) => n > 0), fc.option(nsArb.filter((n) => n > 0), { nil: undefined })).map(([timer, deadline]): Phase => (deadline === undefined ? { timer } : { timer, deadline })),
    fc.constant<Phase>({ yield: true }),
    fc.constant<Phase>({ exit: true }),
    fc.integer({ min: -20, max: 19 }).map((nice): Phase => ({ nice })),
    cpusArb.map((cpus): Phase => ({ cpus })),
    fc.tuple(fc.integer({ min: 1, max: 100 }), tie('program') as fc.Arbitrary<Phase[]>).map(([repeat, phases]): Phase => ({ repeat, phases })),
    fc
      .record({ comm: childCommArb, nice: fc.option(fc.integer({ min: -20, max: 19 }), { nil: undefined }), cpus: fc.option(cpusArb, { nil: undefined }), sched: schedArb, loops: loopsArb, phases: tie('program') as fc.Arbitrary<Phase[]> })
      .map(({ sched, ...c }): Phase => ({ fork: { ...c, ...sched } })),
  ),
}));

const COLUMNS = ['pid', 'comm', 'arrival', 'nice', 'policy', 'rt_priority', 'cpus', 'phases', 'loops'];

describe('CSV workloads: round trip', () => {
  it('reads back any task list written in the documented syntax', () => {
    const taskArb = fc.record({
      pid: fc.integer({ min: 1, max: 4_194_304 }),
      comm: rowCommArb,
      arrival: nsArb,
      nice: fc.option(fc.integer({ min: -20, max: 19 }), { nil: undefined }),
      cpus: fc.option(cpusArb, { nil: undefined }),
      sched: schedArb,
      phases: programArb,
      loops: loopsArb,
    });
    const tasksArb = fc.uniqueArray(taskArb, { minLength: 1, maxLength: 6, selector: (t) => t.pid }).map((ts) => ts.map(({ sched, ...t }): SimTask => ({ ...t, ...sched })));
    fc.assert(
      fc.property(tasksArb, fc.shuffledSubarray(COLUMNS, { minLength: COLUMNS.length }), (tasks, columns) => {
        const cell = (t: SimTask, c: string): string => {
          switch (c) {
            case 'pid':
              return `${t.pid}`;
            case 'comm':
              return t.comm;
            case 'arrival':
              return dur(t.arrival);
            case 'nice':
              return t.nice === undefined ? '' : `${t.nice}`;
            case 'policy':
              return t.policy ?? '';
            case 'rt_priority':
              return t.rtPriority === undefined ? '' : `${t.rtPriority}`;
            case 'cpus':
              return t.cpus === undefined ? '' : cpuText(t.cpus);
            case 'phases':
              return programText(t.phases);
            default:
              return t.loops === undefined ? '' : t.loops === Infinity ? 'inf' : `${t.loops}`;
          }
        };
        const text = [columns.join(','), ...tasks.map((t) => columns.map((c) => csvCell(cell(t, c))).join(','))].join('\n');
        expect(parseCsvWorkload(text, 'rt.csv')).toEqual(tasks);
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
