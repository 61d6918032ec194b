import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadRtApp, parseRtApp } from '../../src/workload/rtapp.ts';
import { WorkloadError } from '../../src/workload/builtin.ts';
import { checkTask, type ChildTask, type SimTask } from '../../src/sched/spec.ts';

const EXAMPLES = resolve(__dirname, '../../workloads/rt-app');
const FOREVER = Number.MAX_SAFE_INTEGER;
const parse = (json: string, nrCpus?: number) => parseRtApp(json, 'f.json', nrCpus === undefined ? {} : { nrCpus });

// Every expected value below is worked out by hand from rt-app's tutorial: us -> ns is x1000.
describe('rt-app files as tasks', () => {
  it('reads a periodic task with comments, global keys and the run duration', () => {
    const text = `{
      /* rt-app accepts C comments, "even with quotes" */
      "global": {
        "duration": 2, "calibration": "CPU0", "default_policy": "SCHED_OTHER", "pi_enabled": false,
        "logdir": "./", "log_basename": "rt-app", "log_size": "file", "ftrace": "none", "gnuplot": false,
        "lock_pages": false, "io_device": "/dev/null", "mem_buffer_size": 4194304, "cumulative_slack": false
      },
      "resources": {},
      // a line comment with /* and "
      "tasks": { "periodic": { "run": 3000, "timer": { "ref": "unique", "period": 10000, "mode": "absolute" } } }
    }`;
    expect(parse(text)).toEqual({
      tasks: [{ pid: 1, comm: 'periodic-0', arrival: 0, policy: 'normal', nice: 0, phases: [{ run: 3_000_000 }, { timer: 10_000_000 }], loops: Infinity }],
      durationNs: 2e9,
    });
    expect(parse('{"tasks": {"t": {"run": 1}}, "global": {"duration": -1}}')).toEqual({
      tasks: [{ pid: 1, comm: 't-0', arrival: 0, policy: 'normal', nice: 0, phases: [{ run: 1000 }], loops: Infinity }],
    });
  });

  it('expands instances, phases, loops, delays, affinity and priorities', () => {
    const text = `{ "tasks": {
      "worker": {
        "instance": 2, "delay": 500, "loop": 3, "cpus": [2, 3], "priority": -5,
        "phases": {
          "light": { "loop": 4, "run": 1000, "sleep": 9000 },
          "pinned": { "cpus": [0], "priority": 3, "runtime": 2000, "sleep0": 100, "sleep1": 200 },
          "back": { "run": 50, "yield": "" }
        }
      },
      "rt": { "policy": "SCHED_FIFO", "priority": 50, "phases": { "only": { "policy": "SCHED_FIFO", "priority": 50, "run": 100, "sleep": 900 } } },
      "rr": { "policy": "SCHED_RR", "run": 10, "sleep": 10, "loop": 2 },
      "bg": { "policy": "SCHED_IDLE", "priority": 7, "run": 5 },
      "template": { "instance": 0, "run": 1 }
    } }`;
    const worker = [
      { cpus: [2, 3] },
      { repeat: 4, phases: [{ run: 1_000_000 }, { sleep: 9_000_000 }] },
      { cpus: [0] },
      { nice: 3 },
      { run: 2_000_000 },
      { sleep: 100_000 },
      { sleep: 200_000 },
      { cpus: [2, 3] },
      { run: 50_000 },
      { yield: true },
    ];
    expect(parse(text).tasks).toEqual([
      { pid: 1, comm: 'worker-0', arrival: 500_000, policy: 'normal', nice: -5, cpus: [2, 3], phases: worker, loops: 3 },
      { pid: 2, comm: 'worker-1', arrival: 500_000, policy: 'normal', nice: -5, cpus: [2, 3], phases: worker, loops: 3 },
      { pid: 3, comm: 'rt-2', arrival: 0, policy: 'fifo', rtPriority: 50, phases: [{ run: 100_000 }, { sleep: 900_000 }], loops: Infinity },
      { pid: 4, comm: 'rr-3', arrival: 0, policy: 'rr', rtPriority: 10, phases: [{ run: 10_000 }, { sleep: 10_000 }], loops: 2 },
      { pid: 5, comm: 'bg-4', arrival: 0, policy: 'idle', phases: [{ run: 5000 }], loops: Infinity },
    ]);
  });

  it('uses the default policy and gives a phase without cpus every CPU when the task has none', () => {
    expect(parse('{"global": {"default_policy": "SCHED_FIFO"}, "tasks": {"t": {"run": 5}}}').tasks[0]).toEqual({
      pid: 1, comm: 't-0', arrival: 0, policy: 'fifo', rtPriority: 10, phases: [{ run: 5000 }], loops: Infinity,
    });
    const text = '{"tasks": {"t": {"phases": {"a": {"cpus": [1], "run": 10}, "b": {"run": 20}}}}}';
    expect(parse(text, 4).tasks[0].phases).toEqual([{ cpus: [1] }, { run: 10_000 }, { cpus: [0, 1, 2, 3] }, { run: 20_000 }]);
    expect(() => parse(text)).toThrow(
      "f.json: tasks.t.phases.b: rt-app runs this phase on every CPU (it has no 'cpus', nor has its task): give the machine's CPU count (nrCpus) or set the task's 'cpus'",
    );
    expect(() => parse(text, 1)).toThrow('f.json: tasks.t.phases.a.cpus[0]: CPU 1 does not exist (the machine has 1)');
    expect(() => parse(text, 0)).toThrow('f.json: nrCpus 0: expected a positive integer');
  });

  it('rounds run (not runtime) down to whole calibration loops, as rt-app does', () => {
    // 1000 us at 300 ns/loop: 3333 loops. 2000005 us: 2 s of 3333333 loops, then 5 us = 16 loops.
    const t = parse('{"global": {"calibration": 300}, "tasks": {"t": {"loop": 1, "run": 1000, "runtime": 1000, "run1": 2000005}}}').tasks[0];
    expect(t.phases).toEqual([{ run: 3333 * 300 }, { run: 1_000_000 }, { run: (2 * 3_333_333 + 16) * 300 }]);
    expect(t.loops).toBe(1);
  });

  it('models a mutex and a condition variable handshake, the mutex token posted once before the loop', () => {
    const text = `{ "tasks": {
      "producer": { "loop": 5, "run": 2000, "lock": "m", "signal": "ready", "unlock": "m", "sleep": 8000 },
      "consumer": { "lock": "m", "wait": { "ref": "ready", "mutex": "m" }, "unlock": "m", "run": 1500 }
    } }`;
    // One thread waits on "ready", so signal is a broadcast: woken if waiting, lost if not.
    expect(parse(text).tasks).toEqual([
      {
        pid: 1, comm: 'producer-0', arrival: 0, policy: 'normal', nice: 0, loops: 1,
        phases: [
          { post: 'mutex:m' },
          { repeat: 5, phases: [{ run: 2_000_000 }, { wait: 'mutex:m' }, { broadcast: 'cond:ready' }, { post: 'mutex:m' }, { sleep: 8_000_000 }] },
        ],
      },
      {
        pid: 2, comm: 'consumer-1', arrival: 0, policy: 'normal', nice: 0, loops: Infinity,
        phases: [{ wait: 'mutex:m' }, { post: 'mutex:m' }, { wait: 'cond:ready' }, { wait: 'mutex:m' }, { post: 'mutex:m' }, { run: 1_500_000 }],
      },
    ]);
  });

  it('signals a pool of waiters with post, and gives the token to the earliest thread', () => {
    const text = `{ "tasks": {
      "dispatcher": { "delay": 10, "run": 100, "lock": "q", "signal": "work", "unlock": "q", "sleep": 1000 },
      "worker": { "instance": 3, "lock": "q", "wait": { "ref": "work", "mutex": "q" }, "unlock": "q", "run": 2000 },
      "alarm": { "broad": "work", "sleep": 50000 }
    } }`;
    const worker = [{ wait: 'mutex:q' }, { post: 'mutex:q' }, { wait: 'cond:work' }, { wait: 'mutex:q' }, { post: 'mutex:q' }, { run: 2_000_000 }];
    const base = { arrival: 0, policy: 'normal', nice: 0 };
    expect(parse(text).tasks).toEqual([
      { ...base, pid: 1, comm: 'dispatcher-0', arrival: 10_000, loops: Infinity, phases: [{ run: 100_000 }, { wait: 'mutex:q' }, { post: 'cond:work' }, { post: 'mutex:q' }, { sleep: 1_000_000 }] },
      { ...base, pid: 2, comm: 'worker-1', loops: 1, phases: [{ post: 'mutex:q' }, { repeat: FOREVER, phases: worker }] },
      { ...base, pid: 3, comm: 'worker-2', loops: Infinity, phases: worker },
      { ...base, pid: 4, comm: 'worker-3', loops: Infinity, phases: worker },
      { ...base, pid: 5, comm: 'alarm-4', loops: Infinity, phases: [{ broadcast: 'cond:work' }, { sleep: 50_000_000 }] },
    ]);
  });

  it('plays ping-pong with sync', () => {
    const text = `{ "tasks": {
      "ping": { "lock": "m", "sync": { "ref": "ball", "mutex": "m" }, "unlock": "m", "run": 100 },
      "pong": { "lock": "m", "sync": { "ref": "ball", "mutex": "m" }, "unlock": "m", "run": 200 }
    } }`;
    const sync = [{ wait: 'mutex:m' }, { broadcast: 'cond:ball' }, { post: 'mutex:m' }, { wait: 'cond:ball' }, { wait: 'mutex:m' }, { post: 'mutex:m' }];
    expect(parse(text).tasks).toEqual([
      { pid: 1, comm: 'ping-0', arrival: 0, policy: 'normal', nice: 0, loops: 1, phases: [{ post: 'mutex:m' }, { repeat: FOREVER, phases: [...sync, { run: 100_000 }] }] },
      { pid: 2, comm: 'pong-1', arrival: 0, policy: 'normal', nice: 0, loops: Infinity, phases: [...sync, { run: 200_000 }] },
    ]);
  });

  it('maps suspend/resume, a two-task barrier and fork', () => {
    const text = `{ "tasks": {
      "sleeper": { "suspend": "sleeper", "run": 100 },
      "waker": { "run": 500, "resume": "sleeper", "barrier": "meet", "fork": "child", "sleep": 1000 },
      "partner": { "run": 700, "barrier": "meet" },
      "child": { "instance": 0, "policy": "SCHED_RR", "priority": 20, "cpus": [1], "loop": 2, "run": 50, "sleep": 10 }
    } }`;
    const child: ChildTask = { comm: 'child', policy: 'rr', rtPriority: 20, cpus: [1], phases: [{ run: 50_000 }, { sleep: 10_000 }], loops: 2 };
    const base = { arrival: 0, policy: 'normal', nice: 0, loops: Infinity };
    expect(parse(text).tasks).toEqual([
      { ...base, pid: 1, comm: 'sleeper-0', phases: [{ wait: 'cond:sleeper' }, { run: 100_000 }] },
      {
        ...base, pid: 2, comm: 'waker-1',
        phases: [{ run: 500_000 }, { broadcast: 'cond:sleeper' }, { post: 'barrier:"meet":"partner"' }, { wait: 'barrier:"meet":"waker"' }, { fork: child }, { sleep: 1_000_000 }],
      },
      { ...base, pid: 3, comm: 'partner-2', phases: [{ run: 700_000 }, { post: 'barrier:"meet":"waker"' }, { wait: 'barrier:"meet":"partner"' }] },
    ]);
  });

  it('carries a mutex token through a forked child and keeps phase order as written', () => {
    // Integer-like phase names would be reordered by JSON.parse; rt-app runs them as written.
    const text = `{ "tasks": {
      "parent": { "delay": 5, "phases": { "2": { "run": 1 }, "1": { "fork": "kid", "sleep": 1 } } },
      "kid": { "instance": 0, "loop": 1, "lock": "m", "run": 2, "unlock": "m" }
    } }`;
    const kid: ChildTask = { comm: 'kid', policy: 'normal', nice: 0, loops: 1, phases: [{ wait: 'mutex:m' }, { run: 2000 }, { post: 'mutex:m' }] };
    expect(parse(text).tasks).toEqual([
      { pid: 1, comm: 'parent-0', arrival: 5000, policy: 'normal', nice: 0, loops: 1, phases: [{ post: 'mutex:m' }, { repeat: FOREVER, phases: [{ run: 1000 }, { fork: kid }, { sleep: 1000 }] }] },
    ]);
  });

  it('reads the example files', () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(['handshake.json', 'mix.json', 'periodic.json']);
    expect(loadRtApp(join(EXAMPLES, 'periodic.json'))).toEqual({
      tasks: [{ pid: 1, comm: 'periodic-0', arrival: 0, policy: 'normal', nice: 0, phases: [{ run: 3_000_000 }, { timer: 10_000_000 }], loops: Infinity }],
      durationNs: 2e9,
    });
    const mix = loadRtApp(join(EXAMPLES, 'mix.json'), { nrCpus: 4 });
    expect(mix.durationNs).toBe(5e9);
    expect(mix.tasks.map((t) => [t.pid, t.comm, t.policy, t.nice ?? t.rtPriority, t.arrival])).toEqual([
      [1, 'hog-0', 'normal', 0, 0],
      [2, 'hog-1', 'normal', 0, 0],
      [3, 'niced_hog-2', 'normal', 10, 0],
      [4, 'rt_tick-3', 'fifo', 50, 0],
      [5, 'bursty-4', 'normal', 0, 100_000_000],
    ]);
    for (const f of files) for (const t of loadRtApp(join(EXAMPLES, f), { nrCpus: 4 }).tasks) expect(checkTask(t)).toBeUndefined();
    expect(() => loadRtApp(join(EXAMPLES, 'nope.json'))).toThrow(`${join(EXAMPLES, 'nope.json')}: no such file`);
  });

  it('decodes string escapes and a byte order mark', () => {
    expect(parse('\ufeff{"tasks": {"a\\u0062\\"c": {"run": 1}}}').tasks[0].comm).toBe('ab"c-0');
  });

  it('reads a file from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-rtapp-'));
    const file = join(dir, 'w.json');
    writeFileSync(file, '{"tasks": {"t": {"run": 7, "loop": 2}}}');
    expect(loadRtApp(file).tasks[0]).toMatchObject({ phases: [{ run: 7000 }], loops: 2 });
    writeFileSync(file, '{"tasks": {"t": {"run": -7}}}');
    expect(() => loadRtApp(file)).toThrow(`${file}: tasks.t.run: expected an integer in 0..2147483647 (us), found -7`);
  });
});

describe('rt-app errors', () => {
  const cases: Array<[string, string]> = [
    // syntax, with line:column
    ['{"tasks": {"t": {"run": 5,}}}', "f.json:1:27: expected a key (a string), found \"}\""],
    ['{"tasks": {"t": {"run": 5}}', "f.json:1:28: expected ',' or '}', found end of input"],
    ['{\n  /* open', "f.json:2:10: expected '*/' closing the comment, found end of input"],
    ['{"tasks": {"t": {"run": 5, "run": 6}}}', 'f.json:1:28: duplicate key "run" (rt-app would keep only the last one): name repeated events apart, e.g. run0, run1'],
    ['{"tasks": {"t": {"run": 05}}}', "f.json:1:26: expected ',' or '}', found \"5\""],
    ['[]', "f.json: expected an object with 'tasks' (and 'global'), found an array"],
    // unknown and unsupported keys and events
    ['{"tasks": {"t": {"run": 5}}, "colour": 1}', "f.json: colour: unknown key (expected 'global', 'tasks' or 'resources')"],
    ['{"tasks": {"t": {"run": 5}}, "global": {"verbose": true}}', 'f.json: global.verbose: unknown key'],
    ['{"tasks": {"t": {"spin": 5}}}', 'f.json: tasks.t.spin: unknown key'],
    ['{"tasks": {"thread0": {"phases": {"p1": {"iorun": 5}}}}}', "f.json: tasks.thread0.phases.p1.iorun: unsupported event 'iorun': I/O load is not modelled"],
    ['{"tasks": {"t": {"mem0": 5}}}', "f.json: tasks.t.mem0: unsupported event 'mem': memory load is not modelled"],
    ['{"tasks": {"t": {"taskgroup": "/a", "run": 5}}}', "f.json: tasks.t.taskgroup: unsupported key 'taskgroup': task groups (cgroups) are not read from rt-app files (a JSON task list can declare cgroups)"],
    ['{"tasks": {"t": {"phases": {"p": {"util_min": 5, "run": 5}}}}}', "f.json: tasks.t.phases.p.util_min: unsupported key 'util_min': utilization clamping is not modelled"],
    ['{"tasks": {"t": {"policy": "SCHED_DEADLINE", "run": 5}}}', 'f.json: tasks.t.policy: SCHED_DEADLINE is not modelled'],
    ['{"tasks": {"t": {"policy": "SCHED_BATCH", "run": 5}}}', 'f.json: tasks.t.policy: expected one of SCHED_OTHER, SCHED_IDLE, SCHED_FIFO, SCHED_RR, found "SCHED_BATCH"'],
    ['{"tasks": {"t": {"run": 5, "timer": {"ref": "u", "period": 5, "slack": 1}}}}', 'f.json: tasks.t.timer.slack: unknown key (expected ref, period, mode)'],
    ['{"tasks": {"t": {"run": 5, "phases": {"p": {"run": 5}}}}}', "f.json: tasks.t.run: an event beside 'phases' (rt-app would ignore it): move it into a phase"],
    // negative values and wrong types
    ['{"tasks": {"t": {"sleep": -1}}}', 'f.json: tasks.t.sleep: expected an integer in 0..2147483647 (us), found -1'],
    ['{"tasks": {"t": {"delay": -5, "run": 1}}}', 'f.json: tasks.t.delay: expected an integer in 0..2147483647 (us), found -5'],
    ['{"tasks": {"t": {"run": "5"}}}', 'f.json: tasks.t.run: expected an integer in 0..2147483647 (us), found "5"'],
    ['{"tasks": {"t": {"run": 1.5}}}', 'f.json: tasks.t.run: expected an integer in 0..2147483647 (us), found 1.5'],
    ['{"tasks": {"t": {"run": 1e3}}}', 'f.json: tasks.t.run: expected an integer in 0..2147483647 (us), found 1e3'],
    ['{"tasks": {"t": {"run": 2147483648}}}', 'f.json: tasks.t.run: expected an integer in 0..2147483647 (us), found 2147483648'],
    ['{"tasks": {"t": {"instance": 1.0, "run": 1}}}', 'f.json: tasks.t.instance: expected an integer in 0..100000, found 1.0'],
    ['{"tasks": {"t": {"cpus": "0", "run": 1}}}', 'f.json: tasks.t.cpus: expected a non-empty array of CPU numbers, found "0"'],
    ['{"tasks": {"t": {"cpus": [0, -1], "run": 1}}}', 'f.json: tasks.t.cpus[1]: expected an integer in 0..2147483647, found -1'],
    ['{"tasks": {"t": {"priority": 20, "run": 1}}}', 'f.json: tasks.t.priority: expected an integer in -20..19 (nice), found 20'],
    ['{"tasks": {"t": {"policy": "SCHED_FIFO", "priority": 0, "run": 1}}}', 'f.json: tasks.t.priority: expected an integer in 1..99, found 0'],
    ['{"tasks": {"t": {"timer": {"ref": "unique", "period": 0}}}}', 'f.json: tasks.t.timer.period: expected an integer in 1..2147483647 (us), found 0'],
    ['{"tasks": {"t": {"timer": {"ref": "unique"}}}}', 'f.json: tasks.t.timer.period: missing'],
    ['{"tasks": {"t": {"run": 1, "timer": {"ref": "unique", "period": 5, "mode": "periodic"}}}}', 'f.json: tasks.t.timer.mode: expected "relative" or "absolute", found "periodic"'],
    ['{"tasks": {"t": {"lock": 5}}}', 'f.json: tasks.t.lock: expected a string, found 5'],
    ['{"tasks": {"t": {"wait": "c"}}}', 'f.json: tasks.t.wait: expected an object with ref, mutex, found "c"'],
    ['{"tasks": {"t": {"suspend": "", "run": 1}}}', 'f.json: tasks.t.suspend: expected a non-empty string, found ""'],
    ['{"tasks": {"t": {"loop": 0, "run": 1}}}', 'f.json: tasks.t.loop: expected -1 (forever) or a positive count, found 0'],
    ['{"tasks": {"t": {"phases": {"p": {"loop": -1, "run": 1}}}}}', 'f.json: tasks.t.phases.p.loop: expected an integer in 1..2147483647, found -1'],
    ['{"tasks": {"t": {"run": 1}}, "global": {"duration": 0}}', 'f.json: global.duration: expected -1 (no limit) or a positive number of seconds, found 0'],
    ['{"tasks": {"t": {"run": 1}}, "global": {"calibration": "fast"}}', 'f.json: global.calibration: expected "CPUn" or an integer (ns per loop), found "fast"'],
    ['{"tasks": {"t": {"run": 1}}, "global": {"gnuplot": "yes"}}', 'f.json: global.gnuplot: expected true or false, found "yes"'],
    // structure
    ['{"global": {}}', 'f.json: tasks: missing (rt-app requires it)'],
    ['{"tasks": {}}', 'f.json: tasks: expected an object of one or more tasks, found an object'],
    ['{"tasks": {"t": {"instance": 2}}}', 'f.json: tasks.t: no events (rt-app requires at least one)'],
    ['{"tasks": {"t": {"phases": {"p": {"loop": 2}}}}}', 'f.json: tasks.t.phases.p: no events (rt-app requires at least one)'],
    ['{"tasks": {"t": {"instance": 60000, "run": 1}, "u": {"instance": 60000, "run": 1}}}', 'f.json: tasks: 120000 threads (instances) in all; at most 100000'],
    // scheduling changes the model cannot follow
    ['{"tasks": {"t": {"phases": {"p": {"policy": "SCHED_FIFO", "run": 1}}}}}', 'f.json: tasks.t.phases.p.policy: changing the policy within a task is not modelled (the task is SCHED_OTHER)'],
    [
      '{"tasks": {"t": {"policy": "SCHED_RR", "priority": 30, "phases": {"p": {"policy": "SCHED_RR", "run": 1}}}}}',
      'f.json: tasks.t.phases.p.policy: changing the real-time priority within a task is not modelled (the task has 30, this phase 10)',
    ],
    // synchronisation
    ['{"tasks": {"t": {"lock": "m", "wait": {"ref": "c", "mutex": "m"}, "unlock": "m"}}}', "f.json: tasks.t.wait: no task signals 'c' (signal, broad, sync or resume), so this would wait forever"],
    ['{"tasks": {"t": {"wait": {"ref": "c", "mutex": "m"}, "signal": "c"}}}', "f.json: tasks.t.wait: wait on 'c' without holding its mutex 'm' (pthread_cond_wait needs it locked)"],
    ['{"tasks": {"t": {"lock": "m", "run": 1}}}', "f.json: tasks.t.lock: locks 'm' while already holding it (rt-app would deadlock)"],
    ['{"tasks": {"t": {"loop": 1, "lock": "m", "run": 1}}}', '' /* a single pass may end holding the mutex */],
    ['{"tasks": {"t": {"phases": {"a": {"loop": 2, "lock": "m", "run": 1}, "b": {"unlock": "m"}}}}}', "f.json: tasks.t.phases.a.lock: locks 'm' while already holding it (rt-app would deadlock)"],
    ['{"tasks": {"t": {"unlock": "m", "run": 1}}}', "f.json: tasks.t.unlock: unlocks 'm', which the task does not hold here"],
    ['{"tasks": {"t": {"run": 1}}, "global": {"pi_enabled": true}}', ''],
    ['{"tasks": {"t": {"lock": "m", "run": 1, "unlock": "m"}}, "global": {"pi_enabled": true}}', 'f.json: global.pi_enabled: priority inheritance is not modelled, and this file uses mutexes'],
    [
      '{"tasks": {"t": {"instance": 3, "lock": "m", "signal": "c", "wait": {"ref": "c", "mutex": "m"}, "unlock": "m"}}}',
      "f.json: tasks.t.signal: signals 'c', which it waits on too, while 2 other threads may wait on it: rt-app loses a signal nobody waits for, the model would keep it for the task itself",
    ],
    [
      '{"tasks": {"t": {"suspend": "m", "run": 1}, "u": {"lock": "m", "resume": "m", "unlock": "m"}}}',
      "f.json: tasks.t.suspend: 'm' is also a mutex that tasks lock, which rt-app's suspend/resume would wait for: not modelled",
    ],
    [
      '{"tasks": {"a": {"barrier": "b", "run": 1}, "c": {"instance": 2, "barrier": "b", "run": 1}}}',
      "f.json: tasks.a.barrier: barrier 'b' is used 2 times (a, c (2 instances)): only a barrier between two tasks, each once, single-instance and not forked, can be built from the model's events",
    ],
    [
      '{"tasks": {"a": {"barrier": "b", "run": 1}}}',
      "f.json: tasks.a.barrier: barrier 'b' is used once (a): only a barrier between two tasks, each once, single-instance and not forked, can be built from the model's events",
    ],
    // timers
    [
      '{"tasks": {"a": {"run": 1, "timer": {"ref": "tick", "period": 100}}, "b": {"run": 1, "timer": {"ref": "tick", "period": 100}}}}',
      "f.json: tasks.a.timer: timer 'tick' is shared by several threads (a, b): rt-app gives them one time base, which the model cannot express; a ref starting with 'unique' gives each thread its own",
    ],
    [
      '{"tasks": {"a": {"instance": 2, "run": 1, "timer": {"period": 100}}}}',
      "f.json: tasks.a.timer: timer 'unknown' is shared by several threads (a (2 instances)): rt-app gives them one time base, which the model cannot express; a ref starting with 'unique' gives each thread its own",
    ],
    [
      '{"tasks": {"a": {"phases": {"p": {"run": 1, "timer": {"ref": "unique", "period": 100}}, "q": {"run": 1, "timer": {"ref": "unique", "period": 200}}}}}}',
      "f.json: tasks.a.phases.q.timer: a timer (ref 'unique', period 200 us) unlike the task's first (tasks.a.phases.p.timer: ref 'unique', period 100 us): the model keeps one time base per task, so one task's timers must share one ref and one period",
    ],
    // fork
    ['{"tasks": {"a": {"fork": "nobody", "sleep": 1}}}', "f.json: tasks.a.fork: fork of unknown task 'nobody'"],
    ['{"tasks": {"a": {"fork": "b", "sleep": 1}, "b": {"instance": 0, "fork": "a", "run": 1}}}', 'f.json: tasks.b.fork: fork cycle a -> b -> a: a forked child carries its whole program, so this cannot be expressed'],
    ['{"tasks": {"a": {"fork": "a", "sleep": 1}}}', 'f.json: tasks.a.fork: fork cycle a -> a: a forked child carries its whole program, so this cannot be expressed'],
    [
      '{"tasks": {"a": {"fork": "b", "sleep": 1}, "b": {"instance": 0, "delay": 5, "run": 1}}}',
      "f.json: tasks.b.delay: task 'b' is forked (tasks.a.fork), and rt-app counts a forked task's delay from the start of the run, which is not modelled",
    ],
  ];

  it.each(cases)('%s', (json, message) => {
    if (message === '') {
      expect(() => parse(json)).not.toThrow();
      return;
    }
    let error: unknown;
    try {
      parse(json);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WorkloadError);
    expect((error as Error).message).toBe(message);
  });
});

describe('rt-app input fuzzing', () => {
  // Valid files to start from: the examples and a file using every event.
  const everything = `{
    "global": { "duration": 3, "calibration": 250, "default_policy": "SCHED_OTHER" },
    "tasks": {
      "a": { "instance": 2, "delay": 10, "cpus": [0, 1], "loop": 4, "phases": {
        "p0": { "loop": 3, "cpus": [1], "priority": 2, "run": 100, "runtime": 50, "sleep": 20, "yield": "" },
        "p1": { "lock": "m", "wait": { "ref": "c", "mutex": "m" }, "unlock": "m", "timer": { "ref": "unique", "period": 1000 } },
        "p2": { "fork": "kid", "suspend": "s" }
      } },
      "b": { "policy": "SCHED_FIFO", "priority": 40, "run": 10, "lock": "m", "signal": "c", "broad": "c", "unlock": "m", "resume": "s", "barrier": "x" },
      "d": { "lock": "m2", "sync": { "ref": "pp", "mutex": "m2" }, "unlock": "m2", "barrier": "x", "sleep": 5 },
      "e": { "lock": "m2", "sync": { "ref": "pp", "mutex": "m2" }, "unlock": "m2" },
      "kid": { "instance": 0, "policy": "SCHED_RR", "loop": 2, "run": 7 }
    }
  }`;
  const seeds = [everything, ...readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).map((f) => readFileSync(join(EXAMPLES, f), 'utf8'))];
  const strip = (s: string) => s.replace(/\/\*[\s\S]*?\*\//g, '');

  it('starts from valid files', () => {
    for (const s of seeds) expect(() => parseRtApp(s, 'seed.json', { nrCpus: 4 })).not.toThrow();
  });

  /** Either the whole file is taken, as tasks the machine accepts, or a WorkloadError says why not. */
  const outcome = (text: string, nrCpus: number | undefined): void => {
    let r: ReturnType<typeof parseRtApp>;
    try {
      r = parseRtApp(text, 'fuzz.json', nrCpus === undefined ? {} : { nrCpus });
    } catch (e) {
      if (!(e instanceof WorkloadError)) throw e;
      expect(e.message.startsWith('fuzz.json')).toBe(true);
      return;
    }
    r.tasks.forEach((t: SimTask, k) => {
      expect(t.pid).toBe(k + 1);
      expect(Number.isSafeInteger(t.arrival) && t.arrival >= 0).toBe(true);
      expect(checkTask(t)).toBeUndefined();
    });
    if (r.durationNs !== undefined) expect(r.durationNs > 0).toBe(true);
  };

  it('takes a file whole or refuses it with a WorkloadError under character edits and truncation', () => {
    const alphabet = '{}[]:,"-019.e /*\nabtnul';
    fc.assert(
      fc.property(
        fc.nat(seeds.length - 1),
        fc.array(fc.tuple(fc.nat(10_000), fc.constantFrom(...alphabet), fc.constantFrom('set', 'insert', 'delete')), { maxLength: 6 }),
        fc.option(fc.nat(10_000), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
        (which, edits, cut, nrCpus) => {
          let text = seeds[which];
          for (const [at, ch, op] of edits) {
            const k = at % (text.length + 1);
            text = op === 'set' ? text.slice(0, k) + ch + text.slice(k + 1) : op === 'insert' ? text.slice(0, k) + ch + text.slice(k) : text.slice(0, k) + text.slice(k + 1);
          }
          if (cut !== undefined) text = text.slice(0, cut % (text.length + 1));
          outcome(text, nrCpus);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('takes a file whole or refuses it with a WorkloadError when values and keys are replaced', () => {
    const interesting = fc.oneof(
      fc.constantFrom(-1, 0, 1, 2, 10, 1.5, 2147483647, 2147483648, -2147483649, 1e300, '', 'm', 'c', 'x', 's', 'kid', 'a', 'unique', 'tick', 'SCHED_FIFO', 'SCHED_IDLE', 'CPU0', true, false, null),
      fc.constantFrom([], [0], [3, 1], [-1], {}, { ref: 'c', mutex: 'm' }, { ref: 'unique', period: 100 }, { period: 5 }, { run: 5 }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const keys = fc.constantFrom('run', 'run9', 'runtime', 'sleep', 'timer', 'lock', 'unlock', 'wait', 'signal', 'broad', 'sync', 'barrier', 'suspend', 'resume', 'yield', 'fork', 'mem', 'loop', 'instance', 'delay', 'cpus', 'policy', 'priority', 'phases', 'duration', 'calibration', 'taskgroup', '__proto__', 'constructor', 'zz');
    const op = fc.record({ at: fc.nat(1000), kind: fc.constantFrom('value', 'key', 'delete'), value: interesting, key: keys });
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.array(op, { minLength: 1, maxLength: 4 }), fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }), (which, ops, nrCpus) => {
        const doc = JSON.parse(strip(seeds[which])) as unknown;
        for (const o of ops) {
          // Every (object or array, key) slot in the document, in a fixed order.
          const slots: Array<[Record<string, unknown>, string]> = [];
          const walk = (v: unknown): void => {
            if (typeof v !== 'object' || v === null) return;
            for (const k of Object.keys(v)) {
              slots.push([v as Record<string, unknown>, k]);
              walk((v as Record<string, unknown>)[k]);
            }
          };
          walk(doc);
          if (slots.length === 0) break;
          const [holder, k] = slots[o.at % slots.length];
          // A copy: fast-check may hand the same value to several operations, which must not tie the document into a cycle.
          if (o.kind === 'value') holder[k] = structuredClone(o.value);
          else if (o.kind === 'delete' && !Array.isArray(holder)) delete holder[k];
          else if (o.kind === 'key' && !Array.isArray(holder)) {
            const v = holder[k];
            delete holder[k];
            Object.defineProperty(holder, o.key, { value: v, enumerable: true, configurable: true, writable: true });
          }
        }
        outcome(JSON.stringify(doc), nrCpus);
      }),
      { numRuns: 3000 },
    );
  });
});
