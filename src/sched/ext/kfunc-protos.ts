/**
 * The sched_ext kfuncs the simulated kernel exports (semantics doc §4), and the cgroup kfuncs
 * (bpf_cgroup_*, which need the core's cgroups), with their C prototypes
 * for the kernel BTF: 6.13+ names and the 6.12 spellings. Their behaviour belongs to the
 * sched_ext core, which supplies an implementation per name; without one (an object loaded for
 * inspection, not simulated) a call fails with a clear error.
 */
import { C, VOID, funcProto, ptr, type CType } from '../../bpf/ctypes.ts';
import { HelperError, type HelperFn } from '../../bpf/helpers.ts';
import { KF, type KfuncDef } from '../../bpf/kfuncs/kfunc.ts';
import { boolT, cpumask, s32T, u32T, u64T } from '../../bpf/kfuncs/types.ts';
import { bpfIterScxDsq, cgroup, taskStruct } from '../kernel-types.ts';

const task = ptr(taskStruct);
const ctask = ptr(taskStruct, true);
const cgrp = ptr(cgroup);
const cmask = ptr(cpumask, true);
const it = ptr(bpfIterScxDsq);
const s64T = C.s64;
const str = ptr(C.char);
const data = ptr(C.u64);

const proto = (ret: CType, ...params: [string, CType][]) => funcProto(ret, params.map(([name, type]) => ({ name, type })));

/** Name -> prototype. */
export const SCX_KFUNC_PROTOS: Record<string, ReturnType<typeof proto>> = {
  scx_bpf_dsq_insert: proto(VOID, ['p', task], ['dsq_id', u64T], ['slice', u64T], ['enq_flags', u64T]),
  scx_bpf_dsq_insert_vtime: proto(VOID, ['p', task], ['dsq_id', u64T], ['slice', u64T], ['vtime', u64T], ['enq_flags', u64T]),
  scx_bpf_dsq_move_to_local: proto(boolT, ['dsq_id', u64T]),
  scx_bpf_dispatch: proto(VOID, ['p', task], ['dsq_id', u64T], ['slice', u64T], ['enq_flags', u64T]),
  scx_bpf_dispatch_vtime: proto(VOID, ['p', task], ['dsq_id', u64T], ['slice', u64T], ['vtime', u64T], ['enq_flags', u64T]),
  scx_bpf_consume: proto(boolT, ['dsq_id', u64T]),
  scx_bpf_dsq_move: proto(boolT, ['it__iter', it], ['p', task], ['dsq_id', u64T], ['enq_flags', u64T]),
  scx_bpf_dsq_move_vtime: proto(boolT, ['it__iter', it], ['p', task], ['dsq_id', u64T], ['enq_flags', u64T]),
  scx_bpf_dsq_move_set_slice: proto(VOID, ['it__iter', it], ['slice', u64T]),
  scx_bpf_dsq_move_set_vtime: proto(VOID, ['it__iter', it], ['vtime', u64T]),
  scx_bpf_dispatch_from_dsq: proto(boolT, ['it__iter', it], ['p', task], ['dsq_id', u64T], ['enq_flags', u64T]),
  scx_bpf_dispatch_vtime_from_dsq: proto(boolT, ['it__iter', it], ['p', task], ['dsq_id', u64T], ['enq_flags', u64T]),
  scx_bpf_dispatch_from_dsq_set_slice: proto(VOID, ['it__iter', it], ['slice', u64T]),
  scx_bpf_dispatch_from_dsq_set_vtime: proto(VOID, ['it__iter', it], ['vtime', u64T]),
  scx_bpf_dispatch_nr_slots: proto(u32T),
  scx_bpf_dispatch_cancel: proto(VOID),
  scx_bpf_reenqueue_local: proto(u32T),
  scx_bpf_create_dsq: proto(s32T, ['dsq_id', u64T], ['node', s32T]),
  scx_bpf_destroy_dsq: proto(VOID, ['dsq_id', u64T]),
  scx_bpf_dsq_nr_queued: proto(s32T, ['dsq_id', u64T]),
  bpf_iter_scx_dsq_new: proto(C.s32, ['it', it], ['dsq_id', u64T], ['flags', u64T]),
  bpf_iter_scx_dsq_next: proto(task, ['it', it]),
  bpf_iter_scx_dsq_destroy: proto(VOID, ['it', it]),
  scx_bpf_select_cpu_dfl: proto(s32T, ['p', task], ['prev_cpu', s32T], ['wake_flags', u64T], ['is_idle', ptr(boolT)]),
  scx_bpf_test_and_clear_cpu_idle: proto(boolT, ['cpu', s32T]),
  scx_bpf_pick_idle_cpu: proto(s32T, ['cpus_allowed', cmask], ['flags', u64T]),
  scx_bpf_pick_any_cpu: proto(s32T, ['cpus_allowed', cmask], ['flags', u64T]),
  scx_bpf_get_idle_cpumask: proto(cmask),
  scx_bpf_get_idle_smtmask: proto(cmask),
  scx_bpf_put_idle_cpumask: proto(VOID, ['cpumask', cmask]),
  scx_bpf_kick_cpu: proto(VOID, ['cpu', s32T], ['flags', u64T]),
  scx_bpf_error_bstr: proto(VOID, ['fmt', str], ['data', data], ['data__sz', u32T]),
  scx_bpf_exit_bstr: proto(VOID, ['exit_code', s64T], ['fmt', str], ['data', data], ['data__sz', u32T]),
  scx_bpf_dump_bstr: proto(VOID, ['fmt', str], ['data', data], ['data__sz', u32T]),
  scx_bpf_cpuperf_cap: proto(u32T, ['cpu', s32T]),
  scx_bpf_cpuperf_cur: proto(u32T, ['cpu', s32T]),
  scx_bpf_cpuperf_set: proto(VOID, ['cpu', s32T], ['perf', u32T]),
  scx_bpf_nr_cpu_ids: proto(u32T),
  scx_bpf_get_possible_cpumask: proto(cmask),
  scx_bpf_get_online_cpumask: proto(cmask),
  scx_bpf_put_cpumask: proto(VOID, ['cpumask', cmask]),
  scx_bpf_task_running: proto(boolT, ['p', ctask]),
  scx_bpf_task_cpu: proto(s32T, ['p', ctask]),
  scx_bpf_task_cgroup: proto(ptr(cgroup), ['p', task]),
  scx_bpf_now: proto(u64T),
  // The cgroup kfuncs of kernel/bpf/helpers.c: generic, but only the sched_ext core has cgroups.
  bpf_cgroup_acquire: proto(ptr(cgroup), ['cgrp', cgrp]),
  bpf_cgroup_release: proto(VOID, ['cgrp', cgrp]),
  bpf_cgroup_ancestor: proto(ptr(cgroup), ['cgrp', cgrp], ['level', C.s32]),
  bpf_cgroup_from_id: proto(ptr(cgroup), ['cgid', u64T]),
};

/** KF_* flags as kernel/sched/ext.c registers them; kfuncs not listed have none. */
export const SCX_KFUNC_FLAGS: Record<string, number> = {
  scx_bpf_dsq_insert: KF.RCU,
  scx_bpf_dsq_insert_vtime: KF.RCU,
  scx_bpf_dispatch: KF.RCU,
  scx_bpf_dispatch_vtime: KF.RCU,
  scx_bpf_dsq_move: KF.RCU,
  scx_bpf_dsq_move_vtime: KF.RCU,
  scx_bpf_dispatch_from_dsq: KF.RCU,
  scx_bpf_dispatch_vtime_from_dsq: KF.RCU,
  scx_bpf_create_dsq: KF.SLEEPABLE,
  bpf_iter_scx_dsq_new: KF.ITER_NEW,
  bpf_iter_scx_dsq_next: KF.ITER_NEXT | KF.RET_NULL,
  bpf_iter_scx_dsq_destroy: KF.ITER_DESTROY,
  scx_bpf_select_cpu_dfl: KF.RCU,
  scx_bpf_pick_idle_cpu: KF.RCU,
  scx_bpf_pick_any_cpu: KF.RCU,
  scx_bpf_get_idle_cpumask: KF.ACQUIRE,
  scx_bpf_get_idle_smtmask: KF.ACQUIRE,
  scx_bpf_put_idle_cpumask: KF.RELEASE,
  scx_bpf_get_possible_cpumask: KF.ACQUIRE,
  scx_bpf_get_online_cpumask: KF.ACQUIRE,
  scx_bpf_put_cpumask: KF.RELEASE,
  scx_bpf_task_running: KF.RCU,
  scx_bpf_task_cpu: KF.RCU,
  scx_bpf_task_cgroup: KF.RCU | KF.ACQUIRE,
  bpf_cgroup_acquire: KF.ACQUIRE | KF.RCU | KF.RET_NULL,
  bpf_cgroup_release: KF.RELEASE,
  bpf_cgroup_ancestor: KF.ACQUIRE | KF.RCU | KF.RET_NULL,
  bpf_cgroup_from_id: KF.ACQUIRE | KF.RET_NULL,
};

/**
 * The sched_ext kfuncs with the given implementations; names without one fail when called,
 * saying that only a running simulation provides them.
 */
export function scxKfuncs(impl: Partial<Record<string, HelperFn>> = {}): KfuncDef[] {
  for (const name of Object.keys(impl)) {
    if (!(name in SCX_KFUNC_PROTOS)) throw new Error(`no sched_ext kfunc named ${name}`);
  }
  return Object.entries(SCX_KFUNC_PROTOS).map(([name, p]) => ({
    name,
    proto: p,
    flags: SCX_KFUNC_FLAGS[name] ?? 0,
    fn:
      impl[name] ??
      (() => {
        throw new HelperError(`${name} needs the sched_ext core of a running simulation`);
      }),
  }));
}
