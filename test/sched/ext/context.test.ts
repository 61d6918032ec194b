import { describe, expect, it } from 'vitest';
import { checkKfuncContext } from '../../../src/sched/ext/context.ts';

const ok = (kfunc: string, cb: string, flavour: '6.12' | 'newer' = 'newer') => expect(() => checkKfuncContext(kfunc, cb, flavour)).not.toThrow();
const bad = (kfunc: string, cb: string, flavour: '6.12' | 'newer' = 'newer') => expect(() => checkKfuncContext(kfunc, cb, flavour)).toThrow(`${kfunc} called from ${cb}`);

describe('kfunc calling contexts (semantics doc §4.1-4.5)', () => {
  it('lets insertions happen only while enqueueing or dispatching', () => {
    for (const cb of ['select_cpu', 'enqueue', 'dispatch', 'cpu_release']) ok('scx_bpf_dsq_insert', cb);
    for (const cb of ['running', 'tick', 'init', 'timer']) bad('scx_bpf_dsq_insert', cb);
    expect(() => checkKfuncContext('scx_bpf_dsq_insert', 'tick')).toThrow('scx_bpf_dsq_insert called from tick, which allows REST kfuncs; it needs ENQUEUE|DISPATCH');
  });

  it('keeps dispatch-only kfuncs in dispatch (and the 6.12 aliases too)', () => {
    ok('scx_bpf_dsq_move_to_local', 'dispatch');
    bad('scx_bpf_consume', 'enqueue');
    ok('scx_bpf_dispatch_nr_slots', 'dispatch');
    bad('scx_bpf_dispatch_cancel', 'select_cpu');
  });

  it('allows moving between DSQs from dispatch and unlocked contexts such as timers', () => {
    ok('scx_bpf_dsq_move', 'dispatch');
    ok('scx_bpf_dsq_move', 'timer');
    bad('scx_bpf_dsq_move', 'enqueue');
  });

  it('creates DSQs only where the program may sleep', () => {
    for (const cb of ['init', 'init_task', 'cgroup_init', 'syscall']) ok('scx_bpf_create_dsq', cb);
    for (const cb of ['timer', 'enqueue', 'dispatch']) bad('scx_bpf_create_dsq', cb);
  });

  it('follows the kernel version for scx_bpf_select_cpu_dfl', () => {
    ok('scx_bpf_select_cpu_dfl', 'select_cpu', '6.12');
    bad('scx_bpf_select_cpu_dfl', 'enqueue', '6.12');
    ok('scx_bpf_select_cpu_dfl', 'enqueue', 'newer');
    bad('scx_bpf_select_cpu_dfl', 'running', 'newer');
  });

  it('lets "any" kfuncs run everywhere and dump only inside dump callbacks', () => {
    for (const cb of ['running', 'timer', 'init', 'select_cpu']) {
      ok('scx_bpf_kick_cpu', cb);
      ok('scx_bpf_error_bstr', cb);
      ok('scx_bpf_dsq_nr_queued', cb);
    }
    ok('scx_bpf_dump_bstr', 'dump_task');
    bad('scx_bpf_dump_bstr', 'running');
    ok('scx_bpf_reenqueue_local', 'cpu_release');
    bad('scx_bpf_reenqueue_local', 'dispatch');
  });
});
