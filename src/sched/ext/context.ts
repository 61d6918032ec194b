/**
 * Which sched_ext kfuncs a callback may call (semantics doc §4.1-4.5). Each callback opens a set
 * of kfunc groups; each kfunc needs one of its groups open; a call from anywhere else aborts the
 * scheduler, as the kernel's scx_kf_allowed() does.
 */
import { SCX_EXIT_ERROR, SchedulerAbort } from './dsq.ts';

export const KF = {
  SELECT_CPU: 1,
  ENQUEUE: 2,
  DISPATCH: 4,
  CPU_RELEASE: 8,
  REST: 16,
  UNLOCKED: 32,
  /** Sleepable callbacks and SYSCALL programs: what may allocate (scx_bpf_create_dsq). */
  SLEEPABLE: 64,
  /** dump, dump_cpu, dump_task: the only places scx_bpf_dump may write. */
  DUMP: 128,
} as const;

const GROUP_NAMES: [number, string][] = Object.entries(KF).map(([k, v]) => [v, k]);
const describeMask = (mask: number) =>
  GROUP_NAMES.filter(([bit]) => mask & bit)
    .map(([, n]) => n)
    .join('|') || 'none';

/** Kfunc groups each callback opens. cpu_release lets ENQUEUE/DISPATCH kfuncs nest inside it. */
const CALLBACK_GROUPS: Record<string, number> = {
  select_cpu: KF.SELECT_CPU | KF.ENQUEUE,
  enqueue: KF.ENQUEUE,
  dispatch: KF.DISPATCH,
  cpu_release: KF.CPU_RELEASE | KF.ENQUEUE | KF.DISPATCH,
  init: KF.UNLOCKED | KF.SLEEPABLE,
  exit: KF.UNLOCKED | KF.SLEEPABLE,
  init_task: KF.UNLOCKED | KF.SLEEPABLE,
  cgroup_init: KF.UNLOCKED | KF.SLEEPABLE,
  cgroup_exit: KF.UNLOCKED | KF.SLEEPABLE,
  cgroup_prep_move: KF.UNLOCKED | KF.SLEEPABLE,
  cgroup_cancel_move: KF.UNLOCKED,
  cgroup_set_weight: KF.UNLOCKED,
  cpu_online: KF.UNLOCKED | KF.SLEEPABLE,
  cpu_offline: KF.UNLOCKED | KF.SLEEPABLE,
  dump: KF.UNLOCKED | KF.DUMP,
  dump_cpu: KF.REST | KF.DUMP,
  dump_task: KF.REST | KF.DUMP,
  /** BPF timer callbacks and tracing programs: no rq lock, not sleepable. */
  timer: KF.UNLOCKED,
  /** SEC("syscall") programs run from user space: unlocked and sleepable. */
  syscall: KF.UNLOCKED | KF.SLEEPABLE,
};
for (const cb of [
  'dequeue',
  'tick',
  'runnable',
  'running',
  'stopping',
  'quiescent',
  'yield',
  'core_sched_before',
  'set_weight',
  'set_cpumask',
  'update_idle',
  'cpu_acquire',
  'enable',
  'disable',
  'exit_task',
  'cgroup_move',
]) {
  CALLBACK_GROUPS[cb] = KF.REST;
}

export type KernelFlavour = '6.12' | 'newer';

const ANY = -1;
const RQ_LOCKED = KF.SELECT_CPU | KF.ENQUEUE | KF.DISPATCH | KF.CPU_RELEASE | KF.REST;

/** Groups a kfunc needs (any one of them), by name; kfuncs not listed may be called anywhere. */
function kfuncGroups(name: string, flavour: KernelFlavour): number {
  switch (name) {
    case 'scx_bpf_dsq_insert':
    case 'scx_bpf_dsq_insert_vtime':
    case 'scx_bpf_dispatch':
    case 'scx_bpf_dispatch_vtime':
      return KF.ENQUEUE | KF.DISPATCH;
    case 'scx_bpf_dsq_move_to_local':
    case 'scx_bpf_consume':
    case 'scx_bpf_dispatch_nr_slots':
    case 'scx_bpf_dispatch_cancel':
      return KF.DISPATCH;
    case 'scx_bpf_dsq_move':
    case 'scx_bpf_dsq_move_vtime':
    case 'scx_bpf_dsq_move_set_slice':
    case 'scx_bpf_dsq_move_set_vtime':
    case 'scx_bpf_dispatch_from_dsq':
    case 'scx_bpf_dispatch_vtime_from_dsq':
    case 'scx_bpf_dispatch_from_dsq_set_slice':
    case 'scx_bpf_dispatch_from_dsq_set_vtime':
      return KF.DISPATCH | KF.UNLOCKED;
    case 'scx_bpf_reenqueue_local':
      return KF.CPU_RELEASE;
    case 'scx_bpf_create_dsq':
      return KF.SLEEPABLE;
    case 'scx_bpf_select_cpu_dfl':
      return flavour === '6.12' ? KF.SELECT_CPU : KF.SELECT_CPU | KF.ENQUEUE | KF.UNLOCKED;
    case 'scx_bpf_dump_bstr':
      return KF.DUMP;
    case 'scx_bpf_task_cgroup':
      return RQ_LOCKED;
    default:
      return ANY;
  }
}

/**
 * Why `kfunc` may not be called from `callback` (a sched_ext_ops member, or `timer` /
 * `syscall`), or null when it may. The verifier asks this at load time; the core at run time.
 */
export function kfuncContextProblem(kfunc: string, callback: string, flavour: KernelFlavour = 'newer'): string | null {
  const needs = kfuncGroups(kfunc, flavour);
  if (needs === ANY) return null;
  const open = CALLBACK_GROUPS[callback] ?? 0;
  if (open & needs) return null;
  return `${callback} allows ${describeMask(open)} kfuncs; ${kfunc} needs ${describeMask(needs)}`;
}

/**
 * Abort unless `kfunc` may be called from `callback` (a sched_ext_ops member, or `timer` /
 * `syscall`).
 */
export function checkKfuncContext(kfunc: string, callback: string, flavour: KernelFlavour = 'newer'): void {
  const problem = kfuncContextProblem(kfunc, callback, flavour);
  if (problem === null) return;
  const needs = kfuncGroups(kfunc, flavour);
  const open = CALLBACK_GROUPS[callback] ?? 0;
  throw new SchedulerAbort(
    SCX_EXIT_ERROR,
    'runtime error',
    `${kfunc} called from ${callback}, which allows ${describeMask(open)} kfuncs; it needs ${describeMask(needs)}`,
  );
}
