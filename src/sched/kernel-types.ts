/**
 * The kernel structures a sched_ext scheduler can see, as the simulator lays them out in each
 * loaded object's memory. Field names and types are the kernel's (CO-RE relocations in compiled
 * schedulers are resolved against them by name); the order and the set of fields are the
 * simulator's own, so nothing may depend on a particular vmlinux.h layout.
 *
 * The simulator reads and writes tasks and cpumasks through offsets computed from these same
 * declarations (`fieldOf`), and the kernel BTF is generated from them: one source of truth.
 */
import { C, VOID, array, define, enumType, funcProto, ptr, struct, typedef, type CType, type RecordType } from '../bpf/ctypes.ts';
import { boolT as bool, bpfCpumask, bpfIterNum, cpumask, cpumaskT, s32T as s32, u32T as u32, u64T as u64 } from '../bpf/kfuncs/types.ts';

export { NR_CPUS } from '../bpf/kfuncs/types.ts';

export const TASK_COMM_LEN = 16;
export const SCX_OPS_NAME_LEN = 128;

const u8 = typedef('u8', C.u8);
const s64 = typedef('s64', C.s64);
const pidT = typedef('pid_t', typedef('__kernel_pid_t', C.s32));


const listHead = struct('list_head');
define(listHead, [
  ['next', ptr(listHead)],
  ['prev', ptr(listHead)],
]);

export const taskStruct = struct('task_struct');
export const dispatchQ = struct('scx_dispatch_q', [
  ['id', u64],
  ['nr', u32],
  ['seq', u32],
]);

export const schedEntity = struct('sched_entity', [
  ['exec_start', u64],
  ['sum_exec_runtime', u64],
  ['prev_sum_exec_runtime', u64],
  ['vruntime', u64],
  ['deadline', u64],
  ['min_vruntime', u64],
  ['on_rq', u8],
  ['nr_migrations', u64],
]);

export const schedExtEntity = struct('sched_ext_entity', [
  ['dsq', ptr(dispatchQ)],
  ['dsq_seq', u32],
  ['dsq_flags', u32],
  ['flags', u32],
  ['weight', u32],
  ['sticky_cpu', s32],
  ['holding_cpu', s32],
  ['kf_mask', u32],
  ['runnable_at', C.ulong],
  ['core_sched_at', u64],
  ['ddsp_dsq_id', u64],
  ['ddsp_enq_flags', u64],
  ['slice', u64],
  ['dsq_vtime', u64],
  ['disallow', bool],
  ['tasks_node', listHead],
]);

export const mmStruct = struct('mm_struct', [['users', u32]]);
export const kernfsNode = struct('kernfs_node', [['id', u64]]);
export const cgroupSubsysState = struct('cgroup_subsys_state', [['id', C.s32]]);
export const cgroup = struct('cgroup');

define(taskStruct, [
  ['__state', C.u32],
  ['flags', C.u32],
  ['on_cpu', C.s32],
  ['on_rq', C.s32],
  ['prio', C.s32],
  ['static_prio', C.s32],
  ['normal_prio', C.s32],
  ['rt_priority', C.u32],
  ['se', schedEntity],
  ['scx', schedExtEntity],
  ['policy', C.u32],
  ['nr_cpus_allowed', C.s32],
  ['cpus_ptr', ptr(cpumask, true)],
  ['cpus_mask', cpumaskT],
  ['migration_disabled', C.u16],
  ['mm', ptr(mmStruct)],
  ['pid', pidT],
  ['tgid', pidT],
  ['real_parent', ptr(taskStruct)],
  ['group_leader', ptr(taskStruct)],
  ['start_time', u64],
  ['comm', array(C.char, TASK_COMM_LEN)],
  ['sched_task_group', ptr(cgroup)],
]);

define(cgroup, [
  ['self', cgroupSubsysState],
  ['level', C.s32],
  ['kn', ptr(kernfsNode)],
  // The kernel's flexible array of ancestors, root first; the simulator sizes each cgroup's.
  ['ancestors', array(ptr(cgroup), 0)],
]);

export const scxExitKind = enumType('scx_exit_kind', [
  ['SCX_EXIT_NONE', 0],
  ['SCX_EXIT_DONE', 1],
  ['SCX_EXIT_UNREG', 64],
  ['SCX_EXIT_UNREG_BPF', 65],
  ['SCX_EXIT_UNREG_KERN', 66],
  ['SCX_EXIT_SYSRQ', 67],
  ['SCX_EXIT_ERROR', 1024],
  ['SCX_EXIT_ERROR_BPF', 1025],
  ['SCX_EXIT_ERROR_STALL', 1026],
]);

export const scxExitInfo = struct('scx_exit_info', [
  ['kind', scxExitKind],
  ['exit_code', s64],
  ['flags', u64],
  ['reason', ptr(C.char, true)],
  ['bt', ptr(C.ulong)],
  ['bt_len', u32],
  ['msg', ptr(C.char)],
  ['dump', ptr(C.char)],
]);

export const scxInitTaskArgs = struct('scx_init_task_args', [
  ['fork', bool],
  ['cgroup', ptr(cgroup)],
]);
export const scxExitTaskArgs = struct('scx_exit_task_args', [['cancelled', bool]]);
export const scxCpuAcquireArgs = struct('scx_cpu_acquire_args', []);
export const scxCpuPreemptReason = enumType('scx_cpu_preempt_reason', [
  ['SCX_CPU_PREEMPT_RT', 0],
  ['SCX_CPU_PREEMPT_DL', 1],
  ['SCX_CPU_PREEMPT_STOP', 2],
  ['SCX_CPU_PREEMPT_UNKNOWN', 3],
]);
export const scxCpuReleaseArgs = struct('scx_cpu_release_args', [
  ['reason', scxCpuPreemptReason],
  ['task', ptr(taskStruct)],
]);
export const scxDumpCtx = struct('scx_dump_ctx', [
  ['kind', scxExitKind],
  ['exit_code', s64],
  ['reason', ptr(C.char, true)],
  ['at_ns', u64],
  ['at_jiffies', u64],
]);
export const scxCgroupInitArgs = struct('scx_cgroup_init_args', [['weight', u32]]);

const task = ptr(taskStruct);
const cgrp = ptr(cgroup);
const op = (ret: CType, ...params: [string, CType][]) => ptr(funcProto(ret, params.map(([name, type]) => ({ name, type }))));

/**
 * `struct sched_ext_ops` as of the 6.12 baseline (with cgroup support): callbacks in the
 * kernel's order, then the data fields. Objects built against other versions load as long as
 * their member names are known here (libbpf drops unknown members that are zero).
 */
export const schedExtOps = struct('sched_ext_ops', [
  ['select_cpu', op(s32, ['p', task], ['prev_cpu', s32], ['wake_flags', u64])],
  ['enqueue', op(VOID, ['p', task], ['enq_flags', u64])],
  ['dequeue', op(VOID, ['p', task], ['deq_flags', u64])],
  ['dispatch', op(VOID, ['cpu', s32], ['prev', task])],
  ['tick', op(VOID, ['p', task])],
  ['runnable', op(VOID, ['p', task], ['enq_flags', u64])],
  ['running', op(VOID, ['p', task])],
  ['stopping', op(VOID, ['p', task], ['runnable', bool])],
  ['quiescent', op(VOID, ['p', task], ['deq_flags', u64])],
  ['yield', op(bool, ['from', task], ['to', task])],
  ['core_sched_before', op(bool, ['a', task], ['b', task])],
  ['set_weight', op(VOID, ['p', task], ['weight', u32])],
  ['set_cpumask', op(VOID, ['p', task], ['cpumask', ptr(cpumask, true)])],
  ['update_idle', op(VOID, ['cpu', s32], ['idle', bool])],
  ['cpu_acquire', op(VOID, ['cpu', s32], ['args', ptr(scxCpuAcquireArgs)])],
  ['cpu_release', op(VOID, ['cpu', s32], ['args', ptr(scxCpuReleaseArgs)])],
  ['init_task', op(s32, ['p', task], ['args', ptr(scxInitTaskArgs)])],
  ['exit_task', op(VOID, ['p', task], ['args', ptr(scxExitTaskArgs)])],
  ['enable', op(VOID, ['p', task])],
  ['disable', op(VOID, ['p', task])],
  ['dump', op(VOID, ['ctx', ptr(scxDumpCtx)])],
  ['dump_cpu', op(VOID, ['ctx', ptr(scxDumpCtx)], ['cpu', s32], ['idle', bool])],
  ['dump_task', op(VOID, ['ctx', ptr(scxDumpCtx)], ['p', task])],
  ['cgroup_init', op(s32, ['cgrp', cgrp], ['args', ptr(scxCgroupInitArgs)])],
  ['cgroup_exit', op(VOID, ['cgrp', cgrp])],
  ['cgroup_prep_move', op(s32, ['p', task], ['from', cgrp], ['to', cgrp])],
  ['cgroup_move', op(VOID, ['p', task], ['from', cgrp], ['to', cgrp])],
  ['cgroup_cancel_move', op(VOID, ['p', task], ['from', cgrp], ['to', cgrp])],
  ['cgroup_set_weight', op(VOID, ['cgrp', cgrp], ['weight', u32])],
  ['cpu_online', op(VOID, ['cpu', s32])],
  ['cpu_offline', op(VOID, ['cpu', s32])],
  ['init', op(s32)],
  ['exit', op(VOID, ['info', ptr(scxExitInfo)])],
  ['dispatch_max_batch', u32],
  ['flags', u64],
  ['timeout_ms', u32],
  ['exit_dump_len', u32],
  ['hotplug_seq', u64],
  ['name', array(C.char, SCX_OPS_NAME_LEN)],
]);

/** The DSQ iterator's state, kept in the BPF program's stack. */
export const bpfIterScxDsq = struct('bpf_iter_scx_dsq', [['__opaque', array(u64, 6)]]);

/** Every named record and enum, for the kernel BTF. */
export const KERNEL_TYPES: (RecordType | CType)[] = [
  taskStruct,
  cpumask,
  bpfCpumask,
  schedExtEntity,
  schedEntity,
  dispatchQ,
  cgroup,
  kernfsNode,
  mmStruct,
  scxExitInfo,
  scxExitKind,
  scxInitTaskArgs,
  scxExitTaskArgs,
  scxCpuAcquireArgs,
  scxCpuReleaseArgs,
  scxCpuPreemptReason,
  scxDumpCtx,
  scxCgroupInitArgs,
  schedExtOps,
  bpfIterNum,
  bpfIterScxDsq,
];
