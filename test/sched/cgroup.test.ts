import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fieldOf } from '../../src/bpf/ctypes.ts';
import { AddressSpace } from '../../src/bpf/memory.ts';
import { CgroupTree } from '../../src/sched/cgroup.ts';
import type { TsKernelApi, TsSchedulerDef } from '../../src/sched/ext/ops.ts';
import { tsFifo } from '../../src/sched/ext/ts-schedulers.ts';
import { cgroup, kernfsNode, scxInitTaskArgs, taskStruct } from '../../src/sched/kernel-types.ts';
import { simulate, type SchedulerSpec } from '../../src/sched/simulate.ts';
import { checkCgroups, checkTask, type CgroupSpec, type SimTask } from '../../src/sched/spec.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idleMachine, load, openObject } from '../../src/bpf/loader.ts';
import { openWorkload } from '../../src/workload/load.ts';
import { SimKernel } from '../../src/sched/kernel.ts';
import { fillScxEnums } from '../../src/sched/ext/constants.ts';

const MS = 1_000_000;
const OFF = {
  id: fieldOf(cgroup, 'self.id').offset,
  level: fieldOf(cgroup, 'level').offset,
  kn: fieldOf(cgroup, 'kn').offset,
  ancestors: fieldOf(cgroup, 'ancestors').offset,
  knId: fieldOf(kernfsNode, 'id').offset,
  initTaskCgroup: fieldOf(scxInitTaskArgs, 'cgroup').offset,
  pid: fieldOf(taskStruct, 'pid').offset,
};

/** A cgroup as BPF reads it: self.id, level, kn->id and ancestors[0..level]. */
function readCgroup(mem: AddressSpace, addr: number) {
  const v = mem.view;
  const level = v.getInt32(addr + OFF.level, true);
  const kn = Number(v.getBigUint64(addr + OFF.kn, true));
  const ancestors = Array.from({ length: level + 1 }, (_, i) => Number(v.getBigUint64(addr + OFF.ancestors + 8 * i, true)));
  return { id: v.getInt32(addr + OFF.id, true), level, knId: Number(v.getBigUint64(kn + OFF.knId, true)), ancestors };
}

const hog = (pid: number, cgroupPath?: string, arrival = 0): SimTask => ({ pid, comm: `hog${pid}`, arrival, phases: [{ run: 1e15 }], ...(cgroupPath ? { cgroup: cgroupPath } : {}) });

describe('cgroup objects', () => {
  it('the root and each declared cgroup, parents created first, with level, kn->id and ancestors', () => {
    const mem = new AddressSpace();
    const tree = new CgroupTree(mem, [{ path: '/web/api', weight: 300 }, { path: '/batch', weight: 50 }, { path: '/web', weight: 200 }]);
    expect(tree.all().map((c) => [c.path, c.id, c.level, c.weight])).toEqual([
      ['/', 1, 0, 100],
      ['/web', 2, 1, 200],
      ['/web/api', 3, 2, 300],
      ['/batch', 4, 1, 50],
    ]);
    const api = tree.get('/web/api')!;
    expect(readCgroup(mem, api.addr)).toEqual({ id: 3, level: 2, knId: 3, ancestors: [tree.root.addr, tree.get('/web')!.addr, api.addr] });
    expect(readCgroup(mem, tree.root.addr)).toEqual({ id: 1, level: 0, knId: 1, ancestors: [tree.root.addr] });
    expect(tree.ancestor(api, 1)).toBe(tree.get('/web'));
    expect(tree.ancestor(api, 3)).toBeUndefined();
    // Created on demand like mkdir -p, at the default weight.
    const created: unknown[] = [];
    const deep = tree.ensure('/new/deep', created as never);
    expect(created.map((c) => (c as { path: string }).path)).toEqual(['/new', '/new/deep']);
    expect([deep.level, deep.weight, tree.byId(deep.id)]).toEqual([2, 100, deep]);
  });

  it('declarations and task paths are validated with clear messages', () => {
    const bad: [CgroupSpec[], string][] = [
      [[{ path: '/a', weight: 0 }], "cgroups[0] '/a': weight 0: expected an integer from 1 to 10000"],
      [[{ path: '/a', weight: 10001 }], 'weight 10001'],
      [[{ path: '/a' }, { path: '/a' }], "cgroups[1]: '/a' is declared twice"],
      [[{ path: 'a' }], "cgroups[0].path: 'a': expected"],
      [[{ path: '/a//b' }], "'/a//b'"],
      [[{ path: '/' }], 'the root cgroup "/" cannot be declared'],
      [[{ path: '/a', wieght: 5 } as CgroupSpec], 'cgroups[0].wieght: unknown key'],
    ];
    for (const [list, msg] of bad) expect(checkCgroups(list)).toContain(msg);
    expect(checkCgroups([{ path: '/a', weight: 1 }, { path: '/a/b', weight: 10000 }])).toBeUndefined();
    expect(checkTask({ ...hog(1), cgroup: '/a/../b' })).toContain("cgroup: '/a/../b': expected");
    expect(checkTask({ ...hog(1), cgroup: '/' })).toBeUndefined();
    expect(() => simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks: [hog(1)], topology: '1', durationNs: MS, cgroups: [{ path: '/x', weight: -1 }] })).toThrow(/weight -1/);
    expect(() => simulate({ scheduler: { kind: 'builtin:eevdf' }, tasks: [hog(1, '/x y')], topology: '1', durationNs: MS })).toThrow(/task 1: cgroup: '\/x y'/);
  });
});

describe('cgroup callbacks and kfuncs (semantics doc §1.4, §4.5)', () => {
  /** tsFifo plus a log of init, cgroup_*, init_task and what scx_bpf_task_cgroup returns. */
  function recorder(log: string[], extra: (api: TsKernelApi) => Partial<TsSchedulerDef['callbacks']> = () => ({})) {
    return (api: TsKernelApi): TsSchedulerDef => {
      const base = tsFifo(api);
      const { mem } = api.km;
      const path = new Map<number, string>();
      const name = (addr: number) => path.get(addr) ?? `?${addr}`;
      const pid = (p: number) => mem.view.getInt32(p + OFF.pid, true);
      return {
        ...base,
        callbacks: {
          ...base.callbacks,
          init: () => {
            log.push('init');
            return base.callbacks.init!();
          },
          cgroup_init: (cgrp, args) => {
            const c = readCgroup(mem, cgrp);
            const parent = c.level > 0 ? name(c.ancestors[c.level - 1]) : '';
            path.set(cgrp, c.level === 0 ? '/' : `${parent === '/' ? '' : parent}/${c.id}`);
            log.push(`cgroup_init id=${c.id} level=${c.level} weight=${mem.view.getUint32(args, true)}`);
          },
          cgroup_exit: (cgrp) => void log.push(`cgroup_exit id=${readCgroup(mem, cgrp).id}`),
          init_task: (p, args) => {
            const cg = Number(mem.view.getBigUint64(args + OFF.initTaskCgroup, true));
            log.push(`init_task ${pid(p)} cgroup=${readCgroup(mem, cg).id}`);
          },
          enqueue: (p, flags) => {
            const cg = Number(api.kfunc('scx_bpf_task_cgroup', p));
            log.push(`enqueue ${pid(p)} task_cgroup=${readCgroup(mem, cg).id}`);
            api.kfunc('bpf_cgroup_release', cg);
            base.callbacks.enqueue!(p, flags);
          },
          ...extra(api),
        },
      };
    };
  }

  it('cgroup_init for every cgroup, root first and parents before children, after init and before any init_task; init_task and scx_bpf_task_cgroup see the task\'s cgroup', () => {
    const log: string[] = [];
    const tasks = [hog(1, '/a/b'), hog(2), { ...hog(3, '/c'), phases: [{ run: MS }, { fork: { comm: 'child', phases: [{ run: MS }] } }, { sleep: 1e12 }] }];
    const r = simulate({
      scheduler: { kind: 'ts', make: recorder(log) },
      tasks,
      topology: '1',
      durationNs: 100 * MS,
      cgroups: [{ path: '/c', weight: 50 }, { path: '/a/b', weight: 400 }],
      checkInvariants: true,
    });
    expect(r.exit).toBeUndefined();
    // Ids follow creation: / 1, /c 2, /a 3 (an undeclared parent, default weight), /a/b 4.
    expect(log.slice(0, 5)).toEqual(['init', 'cgroup_init id=1 level=0 weight=100', 'cgroup_init id=2 level=1 weight=50', 'cgroup_init id=3 level=1 weight=100', 'cgroup_init id=4 level=2 weight=400']);
    expect(log).toContain('init_task 1 cgroup=4');
    expect(log).toContain('init_task 2 cgroup=1');
    expect(log).toContain('init_task 3 cgroup=2');
    // A forked child starts in its parent's cgroup.
    expect(log).toContain('init_task 4 cgroup=2');
    expect(log.filter((l) => l.startsWith('enqueue'))).toEqual(expect.arrayContaining(['enqueue 1 task_cgroup=4', 'enqueue 2 task_cgroup=1', 'enqueue 3 task_cgroup=2']));
    expect(r.callbacks).toMatchObject({ cgroup_init: 4 });
  });

  it('a cgroup first named by an arriving task is created then, with cgroup_init at the default weight before the task\'s init_task', () => {
    const log: string[] = [];
    simulate({ scheduler: { kind: 'ts', make: recorder(log) }, tasks: [hog(1), hog(2, '/late/x', 5 * MS)], topology: '1', durationNs: 10 * MS });
    const at = log.indexOf('init_task 2 cgroup=3');
    expect(log.slice(at - 2, at + 1)).toEqual(['cgroup_init id=2 level=1 weight=100', 'cgroup_init id=3 level=2 weight=100', 'init_task 2 cgroup=3']);
  });

  it('bpf_cgroup_ancestor and bpf_cgroup_from_id find cgroups; NULL past the tree', () => {
    const got: number[] = [];
    const make = recorder([], (api) => ({
      running: (p) => {
        const { mem } = api.km;
        const cg = Number(api.kfunc('scx_bpf_task_cgroup', p));
        for (const level of [0, 1, 2, 3]) {
          const a = Number(api.kfunc('bpf_cgroup_ancestor', cg, level));
          got.push(a === 0 ? 0 : readCgroup(mem, a).id);
          if (a) api.kfunc('bpf_cgroup_release', a);
        }
        const byId = Number(api.kfunc('bpf_cgroup_from_id', 2));
        got.push(byId === 0 ? 0 : readCgroup(mem, byId).level, Number(api.kfunc('bpf_cgroup_from_id', 99)));
        api.kfunc('bpf_cgroup_release', cg);
      },
    }));
    simulate({ scheduler: { kind: 'ts', make }, tasks: [{ ...hog(1, '/a/b'), phases: [{ run: MS }] }], topology: '1', durationNs: 5 * MS });
    expect(got).toEqual([1, 2, 3, 0, 1, 0]);
  });

  it('scx_bpf_task_cgroup on a task that is not the callback\'s argument aborts the scheduler', () => {
    let other = 0;
    const make = recorder([], (api) => ({
      running: (p) => {
        if (other && other !== p) api.kfunc('scx_bpf_task_cgroup', other);
        other = p;
      },
    }));
    const r = simulate({ scheduler: { kind: 'ts', make }, tasks: [hog(1), hog(2)], topology: '1', durationNs: 100 * MS });
    expect(r.exit?.msg).toMatch(/^scx_bpf_task_cgroup: hog1\[1\] is not an argument of ops\.running$/);
  });

  it('cgroup_exit at teardown, children before parents, before the tasks are disabled', () => {
    const log: string[] = [];
    const make = recorder(log, (api) => ({
      dispatch: () => {
        // Abort on the first dispatch.
        const { mem } = api.km;
        mem.bytes.set(new TextEncoder().encode('stop\0'), api.scratch);
        api.kfunc('scx_bpf_error_bstr', api.scratch, api.scratch + 32, 0);
      },
      disable: () => void log.push('disable'),
    }));
    const r = simulate({ scheduler: { kind: 'ts', make }, tasks: [hog(1, '/a/b'), hog(2, '/c')], topology: '1', durationNs: 10 * MS });
    expect(r.exit?.msg).toBe('stop');
    const exits = log.filter((l) => l.startsWith('cgroup_exit') || l === 'disable');
    expect(exits).toEqual(['cgroup_exit id=4', 'cgroup_exit id=3', 'cgroup_exit id=2', 'cgroup_exit id=1', 'disable', 'disable']);
  });

  it('a failing cgroup_init at load aborts the scheduler', () => {
    const make = recorder([], () => ({ cgroup_init: (cgrp) => (cgrp ? -12 : 0) }));
    const r = simulate({ scheduler: { kind: 'ts', make }, tasks: [hog(1)], topology: '1', durationNs: MS });
    expect(r.exit?.msg).toBe('ops.cgroup_init() failed (-12) for cgroup /');
  });
});

describe('schedulers/cgroup.bpf.c: CPU time shared by cgroup weight', () => {
  const file = 'schedulers/cgroup.bpf.o';
  const bytes = new Uint8Array(readFileSync(file));
  const bpf = (f: string): SchedulerSpec => ({ kind: 'bpf', file: f, bytes: new Uint8Array(readFileSync(f)) });
  // Cgroup /a: one hog, weight 100; cgroup /b: six hogs, weight 300; two CPUs.
  const tasks = [hog(1, '/a'), ...Array.from({ length: 6 }, (_, i) => hog(2 + i, '/b'))];
  const cgroups = [
    { path: '/a', weight: 100 },
    { path: '/b', weight: 300 },
  ];
  const shareOfA = (scheduler: SchedulerSpec, cg: CgroupSpec[] = cgroups) => {
    const r = simulate({ scheduler, tasks, topology: '2', durationNs: 2000 * MS, cgroups: cg });
    expect(r.exit).toBeUndefined();
    const a = r.tasks[0].runtime;
    const all = r.tasks.reduce((n, t) => n + t.runtime, 0);
    expect(all).toBe(2 * 2000 * MS);
    return a / all;
  };

  it('loads, which verifies every program in kernel mode (scx_bpf_task_cgroup released on every path)', () => {
    const obj = openObject(bytes, file);
    fillScxEnums(obj);
    const loaded = load(obj, new SimKernel(), idleMachine(2));
    expect([...loaded.programs.keys()]).toContain('cgroup_cgroup_init');
  });

  it('splits CPU time 1:3 by cgroup weight whatever the task counts, where eevdf and vtime split by task count', () => {
    const cgShare = shareOfA({ kind: 'bpf', file, bytes });
    expect(cgShare).toBeGreaterThan(0.24);
    expect(cgShare).toBeLessThan(0.26);
    // Without cgroup weights: about one task's share in seven.
    for (const s of [{ kind: 'builtin:eevdf' } as const, bpf('schedulers/vtime.bpf.o')]) {
      const share = shareOfA(s);
      expect(share).toBeGreaterThan(0.12);
      expect(share).toBeLessThan(0.18);
    }
    // Equal weights: half each, again whatever the task counts.
    const equal = shareOfA({ kind: 'bpf', file, bytes }, [{ path: '/a' }, { path: '/b' }]);
    expect(equal).toBeGreaterThan(0.48);
    expect(equal).toBeLessThan(0.52);
  });
});

describe('cgroups in JSON task lists', () => {
  it('an object with "cgroups" and "tasks" declares cgroups (workloads/json/cgroups.json), an array does not', () => {
    const w = openWorkload('workloads/json/cgroups.json');
    expect(w.format).toBe('json');
    expect(w.cgroups).toEqual([
      { path: '/service', weight: 300 },
      { path: '/batch', weight: 100 },
    ]);
    const tasks = w.tasks as SimTask[];
    expect(tasks.map((t) => t.cgroup)).toEqual(['/service', ...Array(6).fill('/batch')]);
    // The cgroup scheduler gives /service (weight 300, one task) a whole CPU of two: more than 3/4
    // of the machine is not one task's to take.
    const r = simulate({ scheduler: { kind: 'bpf', file: 'schedulers/cgroup.bpf.o', bytes: new Uint8Array(readFileSync('schedulers/cgroup.bpf.o')) }, tasks, cgroups: w.cgroups, topology: '2', durationNs: 1000 * MS });
    expect(r.tasks[0].runtime).toBeGreaterThan(0.97 * 1000 * MS);
    // rt-app files stay objects whose "tasks" is an object.
    expect(openWorkload('workloads/rt-app/periodic.json').format).toBe('rt-app');
  });

  it('names the bad entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scx-cgroups-'));
    const bad = (doc: unknown) => {
      const file = join(dir, 'w.json');
      writeFileSync(file, JSON.stringify(doc));
      return () => openWorkload(file);
    };
    const task = { pid: 1, comm: 'a', phases: [{ run: 5 }] };
    expect(bad({ cgroups: [{ path: '/a', weight: 0 }], tasks: [task] })).toThrow(/w\.json: cgroups\[0\] '\/a': weight 0: expected an integer from 1 to 10000$/);
    expect(bad({ cgroups: {}, tasks: [task] })).toThrow(/w\.json: \.cgroups: expected an array/);
    expect(bad({ cgroup: [], tasks: [task] })).toThrow(/w\.json: \.cgroup: unknown key/);
    expect(bad({ tasks: [{ ...task, cgroup: 'a' }] })).toThrow(/w\.json: \.tasks\[0\]: cgroup: 'a': expected "\/" or an absolute path/);
    expect(bad([{ ...task, cgroup: 7 }])).toThrow(/w\.json: \[0\]\.cgroup: expected a cgroup path/);
  });
});
