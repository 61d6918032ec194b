import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Phase, SimTask, TaskSource } from '../../src/sched/spec.ts';
import { GENERATORS, generate, generatorHelp } from '../../src/workload/generators.ts';
import { WorkloadError } from '../../src/workload/builtin.ts';

// ---- independent views of a generated workload ----

function list(spec: string, seed = 1): SimTask[] {
  const out = generate(spec, seed);
  if (!Array.isArray(out)) throw new Error(`${spec}: expected a task list`);
  return out;
}

function drain(source: SimTask[] | TaskSource): SimTask[] {
  if (Array.isArray(source)) throw new Error('expected a TaskSource');
  const out: SimTask[] = [];
  for (let t = source.next(); t; t = source.next()) out.push(t);
  return out;
}

/** Every phase, inside repeats and forked children too, with how often one pass of the task runs it. */
function walk(phases: readonly Phase[], visit: (p: Phase, times: number) => void, times = 1): void {
  for (const p of phases) {
    visit(p, times);
    if ('repeat' in p) walk(p.phases, visit, times * p.repeat);
    if ('fork' in p) walk(p.fork.phases, visit, times);
  }
}

/** Tokens posted and taken per event in one pass of every task. */
function eventCounts(tasks: readonly SimTask[]): Map<string, { posts: number; waits: number }> {
  const counts = new Map<string, { posts: number; waits: number }>();
  const at = (e: string) => counts.get(e) ?? counts.set(e, { posts: 0, waits: 0 }).get(e)!;
  for (const t of tasks) {
    walk(t.phases, (p, times) => {
      if ('post' in p) at(p.post).posts += times * (p.count ?? 1);
      if ('wait' in p) at(p.wait).waits += times;
    });
  }
  return counts;
}

/** What every generated workload must satisfy, whatever its parameters. */
function checkStructure(tasks: readonly SimTask[]): void {
  expect(tasks.map((t) => t.pid)).toEqual(tasks.map((_, i) => i + 1));
  const posted = new Set<string>();
  const waited = new Set<string>();
  for (const t of tasks) {
    expect(t.comm.length).toBeGreaterThan(0);
    expect(t.comm.length).toBeLessThanOrEqual(15);
    expect(Number.isSafeInteger(t.arrival) && t.arrival >= 0).toBe(true);
    expect(t.phases.length).toBeGreaterThan(0);
    walk(t.phases, (p) => {
      if ('run' in p) expect(Number.isSafeInteger(p.run) && p.run > 0).toBe(true);
      if ('sleep' in p) expect(Number.isSafeInteger(p.sleep) && p.sleep > 0).toBe(true);
      if ('post' in p) posted.add(p.post);
      if ('broadcast' in p) posted.add(p.broadcast);
      if ('wait' in p) waited.add(p.wait);
      if ('fork' in p) expect(p.fork.comm.length).toBeLessThanOrEqual(15);
    });
  }
  for (const e of waited) expect(posted, `nobody posts ${e}`).toContain(e);
}

/**
 * A reference executor for the wait/post/fork/repeat semantics of spec.ts, with a CPU per task
 * (no scheduler): it shows a workload finishes (no deadlock), and when each burst ran.
 */
function execute(tasks: readonly SimTask[]) {
  interface Frame {
    phases: readonly Phase[];
    i: number;
    left: number;
  }
  interface X {
    pid: number;
    comm: string;
    frames: Frame[];
    loopsLeft: number;
    done: boolean;
  }
  let now = 0;
  let seq = 0;
  const queue: { at: number; seq: number; x: X }[] = [];
  const sems = new Map<string, { tokens: number; waiters: X[] }>();
  const sem = (e: string) => sems.get(e) ?? sems.set(e, { tokens: 0, waiters: [] }).get(e)!;
  const runs: { pid: number; comm: string; start: number; end: number }[] = [];
  const all: X[] = [];
  let nextPid = Math.max(0, ...tasks.map((t) => t.pid)) + 1;
  let forks = 0;
  const start = (pid: number, comm: string, phases: readonly Phase[], loops: number | undefined, at: number): void => {
    const x: X = { pid, comm, frames: [{ phases, i: 0, left: 1 }], loopsLeft: loops ?? Infinity, done: false };
    all.push(x);
    queue.push({ at, seq: seq++, x });
  };
  const advance = (x: X): void => {
    for (let steps = 0; ; steps++) {
      if (steps > 1e6) throw new Error(`${x.comm}: a loop that takes no time`);
      const f = x.frames[x.frames.length - 1];
      if (f.i >= f.phases.length) {
        if (x.frames.length > 1) {
          if (--f.left > 0) f.i = 0;
          else x.frames.pop();
          continue;
        }
        if (--x.loopsLeft > 0) {
          f.i = 0;
          continue;
        }
        x.done = true;
        return;
      }
      const p = f.phases[f.i++];
      if ('run' in p) {
        runs.push({ pid: x.pid, comm: x.comm, start: now, end: now + p.run });
        queue.push({ at: now + p.run, seq: seq++, x });
        return;
      } else if ('sleep' in p) {
        queue.push({ at: now + p.sleep, seq: seq++, x });
        return;
      } else if ('wait' in p) {
        const s = sem(p.wait);
        if (s.tokens > 0) s.tokens--;
        else return void s.waiters.push(x);
      } else if ('post' in p) {
        const s = sem(p.post);
        for (let c = p.count ?? 1; c > 0; c--) {
          const w = s.waiters.shift();
          if (w) queue.push({ at: now, seq: seq++, x: w });
          else s.tokens++;
        }
      } else if ('fork' in p) {
        forks++;
        start(nextPid++, p.fork.comm, p.fork.phases, p.fork.loops, now);
      } else if ('repeat' in p) {
        if (p.repeat > 0) x.frames.push({ phases: p.phases, i: 0, left: p.repeat });
      } else if ('exit' in p) {
        x.done = true;
        return;
      } else if ('timer' in p || 'broadcast' in p) {
        throw new Error('not modelled here');
      }
    }
  };
  for (const t of tasks) start(t.pid, t.comm, t.phases, t.loops, t.arrival);
  while (queue.length) {
    let best = 0;
    for (let i = 1; i < queue.length; i++) if (queue[i].at < queue[best].at || (queue[i].at === queue[best].at && queue[i].seq < queue[best].seq)) best = i;
    const e = queue.splice(best, 1)[0];
    now = e.at;
    advance(e.x);
  }
  const leftover = [...sems].filter(([, s]) => s.tokens > 0).map(([e, s]) => `${e}:${s.tokens}`);
  return { end: now, stuck: all.filter((x) => !x.done).map((x) => x.comm), runs, forks, leftover };
}

const seed = fc.integer({ min: 0, max: 0xffffffff });

// ---- the parser ----

describe('gen: spec strings', () => {
  const fails = (spec: string, message: string) => {
    let err: unknown;
    try {
      generate(spec, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WorkloadError);
    expect((err as Error).message).toBe(message);
  };

  it('names the key in every error, on one line', () => {
    fails('hackbench,groups=1', 'hackbench,groups=1: expected gen:NAME,key=value,...');
    fails('gen:nope', "gen:nope: unknown generator 'nope' (have: schbench, hackbench, server, build, mix, periodic, shell)");
    fails('gen:hackbench,colour=red', "gen:hackbench,colour=red: unknown parameter 'colour' (have: groups, fds, loops, send, recv)");
    fails('gen:mix,__proto__=1', "gen:mix,__proto__=1: unknown parameter '__proto__' (have: interactive, hogs, burst, think, cycles, nice, hognice)");
    fails('gen:hackbench,groups', "gen:hackbench,groups: expected key=value, found 'groups'");
    fails('gen:hackbench,', "gen:hackbench,: expected key=value, found ''");
    fails('gen:hackbench,groups=2,groups=3', 'gen:hackbench,groups=2,groups=3: groups= given twice');
    fails('gen:server,n=10', 'gen:server,n=10: missing rate=');
    fails('gen:server,rate=100', 'gen:server,rate=100: missing n= or duration= (an open-loop source needs an end)');
    fails('gen:server,rate=0,n=5', 'gen:server,rate=0,n=5: rate=0: expected a number > 0');
    fails('gen:server,rate=fast,n=5', 'gen:server,rate=fast,n=5: rate=fast: expected a number > 0');
    fails('gen:server,rate=10,n=0', 'gen:server,rate=10,n=0: n=0: expected an integer >= 1');
    fails('gen:server,rate=10,n=5,cv=2', 'gen:server,rate=10,n=5,cv=2: cv= applies only with service=lognormal');
    fails('gen:server,rate=10,n=5,service=gamma', 'gen:server,rate=10,n=5,service=gamma: service=gamma: expected one of exp, lognormal, bimodal');
    fails('gen:server,rate=10,n=5,service=bimodal,p=1.5', 'gen:server,rate=10,n=5,service=bimodal,p=1.5: p=1.5: expected a number in 0..1');
    fails('gen:server,rate=10,n=5,mean=0', 'gen:server,rate=10,n=5,mean=0: mean=0: expected a duration >= 1ns');
    fails('gen:schbench,m=0', 'gen:schbench,m=0: m=0: expected an integer in 1..1024');
    fails('gen:schbench,t=1.5', 'gen:schbench,t=1.5: t=1.5: expected an integer in 1..1024');
    fails('gen:schbench,run=5q', "gen:schbench,run=5q: run '5q': expected a number with an optional ns/us/ms/s suffix");
    fails('gen:hackbench,groups=1000,fds=1000', 'gen:hackbench,groups=1000,fds=1000: groups= and fds= make 2000000 tasks, more than 100000');
    fails('gen:build,j=2', 'gen:build,j=2: missing jobs=');
    fails('gen:build,jobs=3,layers=2', 'gen:build,jobs=3,layers=2: layers= applies only with shape=layered');
    fails('gen:build,jobs=2,shape=layered,layers=3', 'gen:build,jobs=2,shape=layered,layers=3: layers=3 is more than jobs=2');
    fails('gen:build,jobs=3,shape=edges', 'gen:build,jobs=3,shape=edges: missing edges=');
    fails('gen:build,jobs=3,shape=edges,edges=0>1;1>2;2>0', 'gen:build,jobs=3,shape=edges,edges=0>1;1>2;2>0: edges: 0>1>2>0 is a cycle');
    fails('gen:build,jobs=3,shape=edges,edges=0>5', "gen:build,jobs=3,shape=edges,edges=0>5: edges: '0>5': job 5 is not in 0..2");
    fails('gen:build,jobs=3,shape=edges,edges=1>1', "gen:build,jobs=3,shape=edges,edges=1>1: edges: '1>1': a job cannot need itself");
    fails('gen:build,jobs=3,shape=edges,edges=0-1', "gen:build,jobs=3,shape=edges,edges=0-1: edges: '0-1': expected A>B (job B needs job A)");
    fails('gen:mix,interactive=0,hogs=0', 'gen:mix,interactive=0,hogs=0: interactive=0 and hogs=0: no tasks');
    fails('gen:periodic,runtime=1ms', 'gen:periodic,runtime=1ms: missing period=');
    fails('gen:periodic,period=10ms,runtime=20ms', 'gen:periodic,period=10ms,runtime=20ms: runtime=20ms is longer than the deadline (10ms): every activation would miss');
    fails('gen:periodic,period=10ms,runtime=1ms,deadline=20ms', 'gen:periodic,period=10ms,runtime=1ms,deadline=20ms: deadline=20ms is longer than period=10ms');
    fails('gen:periodic,period=10ms,runtime=1ms,prio=5', 'gen:periodic,period=10ms,runtime=1ms,prio=5: prio= applies only with policy=fifo|rr');
    fails('gen:shell,pipe=65', 'gen:shell,pipe=65: pipe=65: expected an integer in 1..64');
    expect(() => generate('gen:mix', 1.5)).toThrow('seed 1.5: expected an integer');
  });

  it('takes the same parameters as values through GENERATORS[name].make', () => {
    expect(GENERATORS.hackbench.make({ groups: 1, fds: 1, loops: 2, send: 1000, recv: '2us' }, 1)).toEqual(list('gen:hackbench,groups=1,fds=1,loops=2,send=1us,recv=2us'));
    expect(() => GENERATORS.hackbench.make({ groups: 0 }, 1)).toThrow('gen:hackbench: groups=0: expected an integer in 1..1000');
    expect(() => GENERATORS.build.make({ jobs: 2, shape: 'edges', edges: '0>1;1>0' }, 1)).toThrow('gen:build: edges: 0>1>0 is a cycle');
  });

  it('documents every parameter, and the defaults pass their own checks', () => {
    const needs: Record<string, string> = { server: 'rate=1000,n=10', build: 'jobs=10', periodic: 'period=10ms,runtime=1ms' };
    for (const [name, g] of Object.entries(GENERATORS)) {
      expect(g.describe.length).toBeGreaterThan(10);
      for (const p of g.params) expect(p.doc.length, `${name}.${p.key}`).toBeGreaterThan(3);
      const spec = needs[name] ? `gen:${name},${needs[name]}` : `gen:${name}`;
      const out = generate(spec, 7);
      checkStructure(Array.isArray(out) ? out : drain(out));
      expect(generatorHelp()).toContain(`gen:${name}: `);
    }
  });
});

// ---- one block per generator ----

describe('schbench', () => {
  it('wakes each worker on its own event and waits for every reply', () => {
    const tasks = list('gen:schbench,m=1,t=2,run=100us,sleep=1ms,rounds=3', 5);
    expect(tasks[0].arrival).toBeGreaterThanOrEqual(0);
    expect(tasks[0].arrival).toBeLessThan(1e6);
    expect(tasks.map((t) => (t.pid === 1 ? { ...t, arrival: 0 } : t))).toEqual([
      { pid: 1, comm: 'msg0', arrival: 0, loops: 3, phases: [{ post: 'schbench.m0.w0' }, { post: 'schbench.m0.w1' }, { repeat: 2, phases: [{ wait: 'schbench.m0.reply' }] }, { sleep: 1e6 }] },
      { pid: 2, comm: 'worker0.0', arrival: 0, loops: 3, phases: [{ wait: 'schbench.m0.w0' }, { run: 1e5 }, { post: 'schbench.m0.reply' }] },
      { pid: 3, comm: 'worker0.1', arrival: 0, loops: 3, phases: [{ wait: 'schbench.m0.w1' }, { run: 1e5 }, { post: 'schbench.m0.reply' }] },
    ]);
    // Each round: both workers run together, then the pause: 3 x (100us + 1ms) after the start.
    const ex = execute(tasks);
    expect(ex.stuck).toEqual([]);
    expect(ex.end).toBe(tasks[0].arrival + 3 * 1.1e6);
    expect(ex.runs.map((r) => r.start - tasks[0].arrival)).toEqual([0, 0, 1.1e6, 1.1e6, 2.2e6, 2.2e6]);
  });

  it('balances posts and waits each round, and finishes every round', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 4 }), seed, (m, t, run, sleep, rounds, s) => {
        const tasks = list(`gen:schbench,m=${m},t=${t},run=${run},sleep=${sleep},rounds=${rounds}`, s);
        checkStructure(tasks);
        expect(tasks.length).toBe(m * (t + 1));
        for (const [e, c] of eventCounts(tasks)) expect(c.posts, e).toBe(c.waits);
        const ex = execute(tasks);
        expect(ex.stuck).toEqual([]);
        expect(ex.leftover).toEqual([]);
        expect(ex.runs.length).toBe(run > 0 ? m * t * rounds : 0);
      }),
    );
  });

  it('spreads message threads by the seed', () => {
    const starts = (s: number) => list('gen:schbench,m=8', s).filter((t) => t.comm.startsWith('msg')).map((t) => t.arrival);
    expect(starts(1)).toEqual(starts(1));
    expect(starts(1)).not.toEqual(starts(2));
  });
});

describe('hackbench', () => {
  it('is one receiver reading what one sender wrote (G=1 F=1 L=2)', () => {
    const tasks = list('gen:hackbench,groups=1,fds=1,loops=2,send=1us,recv=2us');
    expect(tasks).toEqual([
      { pid: 1, comm: 'receiver0.0', arrival: 0, phases: [{ repeat: 2, phases: [{ wait: 'hackbench.g0.r0' }, { run: 2000 }] }, { exit: true }] },
      { pid: 2, comm: 'sender0.0', arrival: 0, phases: [{ repeat: 2, phases: [{ run: 1000 }, { post: 'hackbench.g0.r0' }] }, { exit: true }] },
    ]);
    // Sender writes at 1us and 2us; the receiver reads 1..3us and, the second message waiting, 3..5us.
    const ex = execute(tasks);
    expect(ex.runs.map((r) => [r.comm, r.start, r.end])).toEqual([
      ['sender0.0', 0, 1000],
      ['sender0.0', 1000, 2000],
      ['receiver0.0', 1000, 3000],
      ['receiver0.0', 3000, 5000],
    ]);
    expect(ex.end).toBe(5000);
  });

  it('has each sender write to every receiver of its own group only', () => {
    const tasks = list('gen:hackbench,groups=2,fds=2,loops=3,send=0,recv=1us');
    expect(tasks.map((t) => t.comm)).toEqual(['receiver0.0', 'receiver0.1', 'sender0.0', 'sender0.1', 'receiver1.0', 'receiver1.1', 'sender1.0', 'sender1.1']);
    expect(tasks[6].phases).toEqual([{ repeat: 3, phases: [{ post: 'hackbench.g1.r0' }, { post: 'hackbench.g1.r1' }] }, { exit: true }]);
    expect(tasks[5].phases).toEqual([{ repeat: 6, phases: [{ wait: 'hackbench.g1.r1' }, { run: 1000 }] }, { exit: true }]);
  });

  it('delivers every message and ends with every task exited', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 50 }), (g, f, l, send, recv) => {
        const tasks = list(`gen:hackbench,groups=${g},fds=${f},loops=${l},send=${send},recv=${recv}`);
        checkStructure(tasks);
        const counts = eventCounts(tasks);
        expect(counts.size).toBe(g * f);
        for (const [e, c] of counts) expect([e, c.posts, c.waits]).toEqual([e, f * l, f * l]);
        const ex = execute(tasks);
        expect(ex.stuck).toEqual([]);
        expect(ex.leftover).toEqual([]);
        expect(ex.runs.filter((r) => r.comm.startsWith('receiver')).length).toBe(g * f * f * l);
      }),
    );
  });

  it('has no randomness: the seed changes nothing', () => {
    expect(list('gen:hackbench', 1)).toEqual(list('gen:hackbench', 2));
  });
});

describe('server', () => {
  it('is one-shot requests in order of arrival', () => {
    const reqs = drain(generate('gen:server,rate=1000,n=3,service=bimodal,p=1,long=2ms', 9));
    expect(reqs.map((r) => ({ ...r, arrival: 0 }))).toEqual([0, 1, 2].map((i) => ({ pid: i + 1, comm: `req${i}`, arrival: 0, phases: [{ run: 2e6 }, { exit: true }] })));
    expect(reqs[0].arrival).toBeLessThanOrEqual(reqs[1].arrival);
    expect(reqs[1].arrival).toBeLessThanOrEqual(reqs[2].arrival);
    // p=0: every request takes the short time.
    expect(drain(generate('gen:server,rate=1000,n=5,service=bimodal,p=0,short=30us', 9)).map((r) => r.phases[0])).toEqual(Array(5).fill({ run: 30_000 }));
  });

  it('stops at n= or at duration=, whichever comes first', () => {
    expect(drain(generate('gen:server,rate=1e6,n=10', 1)).length).toBe(10);
    const inSecond = drain(generate('gen:server,rate=2000,duration=1s', 3));
    expect(inSecond.every((r) => r.arrival < 1e9)).toBe(true);
    // Poisson(2000): within 5 standard deviations (224).
    expect(Math.abs(inSecond.length - 2000)).toBeLessThan(224);
    expect(drain(generate('gen:server,rate=2000,duration=1s,n=50', 3))).toEqual(inSecond.slice(0, 50));
  });

  it('arrives in order with unique pids, for any parameters', () => {
    const service = fc.oneof(fc.constant('exp'), fc.constant('lognormal,cv=2'), fc.constant('bimodal,p=0.3'));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 300 }), service, seed, (rate, n, svc, s) => {
        const reqs = drain(generate(`gen:server,rate=${rate},n=${n},service=${svc}`, s));
        checkStructure(reqs);
        expect(reqs.length).toBe(n);
        for (let i = 1; i < reqs.length; i++) expect(reqs[i].arrival).toBeGreaterThanOrEqual(reqs[i - 1].arrival);
        for (const r of reqs) expect(r.phases[1]).toEqual({ exit: true });
      }),
    );
  });

  it('has the requested mean service time and arrival rate (n=20000)', () => {
    // Each distribution with a coefficient of variation at most 1.5, so the standard error of the
    // mean is at most 1.1% and 5% is more than four of them.
    const cases = fc.oneof(
      fc.record({ kind: fc.constant('exp'), mean: fc.integer({ min: 1000, max: 1e7 }) }).map(({ mean }) => ({ svc: `service=exp,mean=${mean}`, mean })),
      fc.record({ mean: fc.integer({ min: 1000, max: 1e7 }), cv: fc.double({ min: 0, max: 1.5, noNaN: true }) }).map(({ mean, cv }) => ({ svc: `service=lognormal,mean=${mean},cv=${cv.toFixed(3)}`, mean })),
      fc.record({ short: fc.integer({ min: 1000, max: 1e5 }), ratio: fc.integer({ min: 1, max: 10 }), p: fc.double({ min: 0.05, max: 0.95, noNaN: true }) }).map(({ short, ratio, p }) => {
        const q = Number(p.toFixed(3));
        return { svc: `service=bimodal,short=${short},long=${short * ratio},p=${q}`, mean: q * short * ratio + (1 - q) * short };
      }),
    );
    fc.assert(
      fc.property(cases, fc.integer({ min: 100, max: 1e6 }), seed, ({ svc, mean }, rate, s) => {
        const reqs = drain(generate(`gen:server,rate=${rate},n=20000,${svc}`, s));
        const sum = reqs.reduce((acc, r) => acc + (r.phases[0] as { run: number }).run, 0);
        expect(Math.abs(sum / reqs.length / mean - 1)).toBeLessThan(0.05);
        // Exponential gaps: the mean gap is within 5% of 1/rate (the last arrival over n).
        expect(Math.abs(reqs[reqs.length - 1].arrival / reqs.length / (1e9 / rate) - 1)).toBeLessThan(0.05);
      }),
      { numRuns: 20 },
    );
  });

  it('is the same for the same seed, different for another, and keeps arrivals when only service changes', () => {
    const a = (spec: string, s: number) => drain(generate(spec, s));
    expect(a('gen:server,rate=5000,n=100', 4)).toEqual(a('gen:server,rate=5000,n=100', 4));
    expect(a('gen:server,rate=5000,n=100', 4)).not.toEqual(a('gen:server,rate=5000,n=100', 5));
    const arrivals = (spec: string) => a(spec, 4).map((r) => r.arrival);
    expect(arrivals('gen:server,rate=5000,n=100,service=lognormal,mean=1ms')).toEqual(arrivals('gen:server,rate=5000,n=100'));
  });
});

/** Dependency edges as the tasks express them: job A posts build.depB when B needs A. */
function buildEdges(tasks: readonly SimTask[]): [number, number][] {
  const edges: [number, number][] = [];
  for (const t of tasks.slice(1)) {
    const from = Number(t.comm.slice(2));
    for (const p of t.phases) if ('post' in p && p.post.startsWith('build.dep')) edges.push([from, Number(p.post.slice(9))]);
  }
  return edges;
}

/** Depth-first search with three colours (the generator uses Kahn's algorithm). */
function hasCycle(n: number, edges: readonly [number, number][]): boolean {
  const out: number[][] = Array.from({ length: n }, () => []);
  for (const [a, b] of edges) out[a].push(b);
  const colour = new Uint8Array(n);
  const visit = (v: number): boolean => {
    colour[v] = 1;
    for (const w of out[v]) if (colour[w] === 1 || (colour[w] === 0 && visit(w))) return true;
    colour[v] = 2;
    return false;
  };
  for (let v = 0; v < n; v++) if (colour[v] === 0 && visit(v)) return true;
  return false;
}

describe('build', () => {
  it('starts a job when its dependencies are done and a token is free (jobs=3, j=2)', () => {
    const tasks = list('gen:build,jobs=3,j=2,shape=edges,edges=0>2;1>2,cost=10ms,cv=0');
    const job = (i: number, waits: Phase[], posts: Phase[]): SimTask => ({
      pid: i + 2,
      comm: `cc${i}`,
      arrival: 0,
      phases: [...waits, { wait: 'build.slot' }, { run: 1e7 }, { post: 'build.slot' }, ...posts, { post: 'build.done' }, { exit: true }],
    });
    expect(tasks).toEqual([
      { pid: 1, comm: 'make', arrival: 0, phases: [{ post: 'build.slot', count: 2 }, { repeat: 3, phases: [{ wait: 'build.done' }] }, { exit: true }] },
      job(0, [], [{ post: 'build.dep2' }]),
      job(1, [], [{ post: 'build.dep2' }]),
      job(2, [{ wait: 'build.dep2' }, { wait: 'build.dep2' }], []),
    ]);
    const ex = execute(tasks);
    expect(ex.runs.map((r) => [r.comm, r.start, r.end])).toEqual([
      ['cc0', 0, 1e7],
      ['cc1', 0, 1e7],
      ['cc2', 1e7, 2e7],
    ]);
    expect(ex.leftover).toEqual(['build.slot:2']);
  });

  it('hands a token to the job that has been ready longest (jobs=3, j=1)', () => {
    // cc2 needs nothing and queues for the token at 0; cc1 queues only when cc0 finishes.
    const ex = execute(list('gen:build,jobs=3,j=1,shape=edges,edges=0>1,cost=1ms,cv=0'));
    expect(ex.runs.map((r) => [r.comm, r.start])).toEqual([
      ['cc0', 0],
      ['cc2', 1e6],
      ['cc1', 2e6],
    ]);
  });

  it('generates acyclic graphs and a schedule that respects them and the token count', () => {
    const shape = fc.oneof(
      fc.constant('random'),
      fc.integer({ min: 1, max: 6 }).map((l) => `layered,layers=${l}`),
    );
    fc.assert(
      fc.property(fc.integer({ min: 6, max: 30 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 }), shape, seed, (jobs, j, deps, sh, s) => {
        const tasks = list(`gen:build,jobs=${jobs},j=${j},deps=${deps},shape=${sh},cost=1ms`, s);
        checkStructure(tasks);
        const edges = buildEdges(tasks);
        // Generated edges point forward, which is why a cycle cannot happen.
        for (const [a, b] of edges) expect(a).toBeLessThan(b);
        expect(hasCycle(jobs, edges)).toBe(false);
        for (const [e, c] of eventCounts(tasks)) {
          if (e === 'build.slot') expect([c.posts, c.waits]).toEqual([j + jobs, jobs]);
          else expect([e, c.posts]).toEqual([e, c.waits]);
        }
        const ex = execute(tasks);
        expect(ex.stuck).toEqual([]);
        const run = new Map(ex.runs.map((r) => [Number(r.comm.slice(2)), r]));
        for (const [a, b] of edges) expect(run.get(b)!.start).toBeGreaterThanOrEqual(run.get(a)!.end);
        for (const r of ex.runs) expect(ex.runs.filter((q) => q.start <= r.start && r.start < q.end).length).toBeLessThanOrEqual(j);
      }),
    );
  });

  it('accepts user edges exactly when they make no cycle', () => {
    const edge = (n: number) => fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 })).filter(([a, b]) => a !== b);
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }).chain((n) => fc.tuple(fc.constant(n), fc.array(edge(n), { minLength: 1, maxLength: 12 }))),
        ([n, edges]) => {
          const spec = `gen:build,jobs=${n},shape=edges,edges=${edges.map(([a, b]) => `${a}>${b}`).join(';')}`;
          if (hasCycle(n, edges)) {
            let message = '';
            try {
              generate(spec, 1);
            } catch (e) {
              message = (e as Error).message;
            }
            const named = /edges: ([\d>]+) is a cycle$/.exec(message);
            expect(named, message).not.toBeNull();
            // The cycle it names is made of the user's own edges.
            const path = named![1].split('>').map(Number);
            expect(path[0]).toBe(path[path.length - 1]);
            for (let i = 1; i < path.length; i++) expect(edges).toContainEqual([path[i - 1], path[i]]);
          } else {
            const tasks = list(spec);
            const want = [...new Set(edges.map((e) => e.join('>')))].sort();
            expect(buildEdges(tasks).map((e) => e.join('>')).sort()).toEqual(want);
            expect(execute(tasks).stuck).toEqual([]);
          }
        },
      ),
    );
  });

  it('draws the graph and the costs from the seed', () => {
    expect(list('gen:build,jobs=20', 1)).toEqual(list('gen:build,jobs=20', 1));
    expect(buildEdges(list('gen:build,jobs=20,cv=0', 1))).not.toEqual(buildEdges(list('gen:build,jobs=20,cv=0', 2)));
    const costs = (s: number) => list('gen:build,jobs=20,shape=layered,deps=0', s).map((t) => t.phases.find((p) => 'run' in p));
    expect(costs(1)).not.toEqual(costs(2));
  });
});

describe('mix', () => {
  it('puts hogs beside interactive tasks', () => {
    expect(list('gen:mix,interactive=0,hogs=2,hognice=5')).toEqual([
      { pid: 1, comm: 'hog0', arrival: 0, nice: 5, phases: [{ run: 1e15 }] },
      { pid: 2, comm: 'hog1', arrival: 0, nice: 5, phases: [{ run: 1e15 }] },
    ]);
    const [edit, hog] = list('gen:mix,interactive=1,hogs=1,cycles=3,nice=-5');
    expect(edit.comm).toBe('edit0');
    expect(edit.nice).toBe(-5);
    expect(edit.phases.map((p) => Object.keys(p)[0])).toEqual(['run', 'sleep', 'run', 'sleep', 'run', 'sleep']);
    expect(edit.loops).toBeUndefined();
    expect(hog).toEqual({ pid: 2, comm: 'hog0', arrival: 0, phases: [{ run: 1e15 }] });
  });

  it('has short bursts and long sleeps with the requested means', () => {
    const [edit] = list('gen:mix,interactive=1,hogs=0,cycles=20000,burst=200us,think=30ms', 3);
    const mean = (k: 'run' | 'sleep') => edit.phases.reduce((s, p) => s + ((p as Record<string, number>)[k] ?? 0), 0) / 20000;
    // Exponential: standard error 0.7% at n=20000.
    expect(Math.abs(mean('run') / 2e5 - 1)).toBeLessThan(0.04);
    expect(Math.abs(mean('sleep') / 3e7 - 1)).toBeLessThan(0.04);
  });

  it('is well formed for any counts, and seeded', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 10 }), seed, (k, b, cycles, s) => {
        fc.pre(k + b > 0);
        const tasks = list(`gen:mix,interactive=${k},hogs=${b},cycles=${cycles}`, s);
        checkStructure(tasks);
        expect(tasks.filter((t) => t.comm.startsWith('edit')).map((t) => t.phases.length)).toEqual(Array(k).fill(2 * cycles));
        expect(tasks.filter((t) => t.comm.startsWith('hog')).length).toBe(b);
        expect(list(`gen:mix,interactive=${k},hogs=${b},cycles=${cycles}`, s)).toEqual(tasks);
      }),
    );
    expect(list('gen:mix', 1)).not.toEqual(list('gen:mix', 2));
    // A stream per task: adding tasks does not change the first ones.
    expect(list('gen:mix,interactive=5,hogs=0', 1).slice(0, 3)).toEqual(list('gen:mix,interactive=3,hogs=0', 1));
  });
});

describe('periodic', () => {
  it('is a timer with a deadline, then the work', () => {
    expect(list('gen:periodic,n=2,period=10ms,runtime=2ms,deadline=5ms,align=sync,policy=fifo,prio=10')).toEqual([
      { pid: 1, comm: 'periodic0', arrival: 0, policy: 'fifo', rtPriority: 10, phases: [{ timer: 1e7, deadline: 5e6 }, { run: 2e6 }] },
      { pid: 2, comm: 'periodic1', arrival: 0, policy: 'fifo', rtPriority: 10, phases: [{ timer: 1e7, deadline: 5e6 }, { run: 2e6 }] },
    ]);
    expect(list('gen:periodic,n=1,period=4ms,runtime=1ms,align=sync,policy=ext')).toEqual([{ pid: 1, comm: 'periodic0', arrival: 0, policy: 'ext', phases: [{ timer: 4e6, deadline: 4e6 }, { run: 1e6 }] }]);
  });

  it('spreads first activations over a period and jitters runtimes from the seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1000, max: 1e8 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), seed, (n, period, rFrac, jitter, s) => {
        const runtime = Math.max(1, Math.floor(period * rFrac));
        const j = jitter.toFixed(3);
        const tasks = list(`gen:periodic,n=${n},period=${period},runtime=${runtime},jitter=${j}`, s);
        checkStructure(tasks);
        for (const t of tasks) {
          expect(t.arrival).toBeLessThan(period);
          expect(t.phases[0]).toEqual({ timer: period, deadline: period });
          const run = (t.phases[1] as { run: number }).run;
          expect(Math.abs(run - runtime)).toBeLessThanOrEqual(Number(j) * runtime + 1);
        }
      }),
    );
    const p = (s: number) => list('gen:periodic,n=4,period=10ms,runtime=1ms,jitter=0.2', s);
    expect(p(3)).toEqual(p(3));
    expect(p(3).map((t) => t.arrival)).not.toEqual(p(4).map((t) => t.arrival));
    expect(p(3).map((t) => t.phases[1])).not.toEqual(p(4).map((t) => t.phases[1]));
  });
});

describe('shell', () => {
  it('forks a command and waits for it, line after line', () => {
    const [sh] = list('gen:shell,cmds=2,work=100us,cmd=1ms,cv=0,loops=3', 2);
    expect(sh.arrival).toBeLessThan(1.1e6);
    const child = (comm: string) => ({ fork: { comm, phases: [{ run: 1e6 }, { post: 'shell.s0' }, { exit: true }] } });
    expect({ ...sh, arrival: 0 }).toEqual({
      pid: 1,
      comm: 'sh0',
      arrival: 0,
      loops: 3,
      phases: [{ run: 1e5 }, child('ls'), { wait: 'shell.s0' }, { run: 1e5 }, child('grep'), { wait: 'shell.s0' }],
    });
    // 3 loops x 2 lines x (100us of shell + 1ms of child), back to back.
    const ex = execute([sh]);
    expect(ex.forks).toBe(6);
    expect(ex.stuck).toEqual([]);
    expect(ex.end - sh.arrival).toBe(6 * 1.1e6);
    expect(ex.runs.filter((r) => r.comm === 'grep').map((r) => r.start - sh.arrival)).toEqual([1.2e6, 3.4e6, 5.6e6]);
  });

  it('forks a pipeline together and waits for all of it', () => {
    const [sh] = list('gen:shell,cmds=1,pipe=3,work=0,cmd=1ms,cv=0');
    expect(sh.phases.map((p) => ('fork' in p ? p.fork.comm : p))).toEqual(['ls', 'grep', 'sed', { repeat: 3, phases: [{ wait: 'shell.s0' }] }]);
  });

  it('reaps every child and ends, for any script', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 100 }), seed, (shells, cmds, pipe, loops, work, s) => {
        const tasks = list(`gen:shell,shells=${shells},cmds=${cmds},pipe=${pipe},loops=${loops},work=${work},cmd=10us`, s);
        checkStructure(tasks);
        for (const [e, c] of eventCounts(tasks)) expect([e, c.posts]).toEqual([e, c.waits]);
        const ex = execute(tasks);
        expect(ex.stuck).toEqual([]);
        expect(ex.leftover).toEqual([]);
        expect(ex.forks).toBe(shells * cmds * pipe * loops);
      }),
    );
  });

  it('draws command runtimes from the seed', () => {
    expect(list('gen:shell,shells=2', 5)).toEqual(list('gen:shell,shells=2', 5));
    expect(list('gen:shell,shells=2', 5)).not.toEqual(list('gen:shell,shells=2', 6));
  });
});
