/**
 * The sched_ext enum constants of the simulated kernel (Linux 6.12 values, semantics doc §2.1,
 * §3), by name. Schedulers built with the 2024+ scx headers do not compile these in: they read
 * them from `const volatile u64 __SCX_<NAME>` variables in .rodata that user space fills from the
 * running kernel's BTF before load (SCX_ENUM_INIT). The simulator fills them from this table.
 */
import { ScxError } from '../../util/errors.ts';
import type { BpfObject } from '../../bpf/loader.ts';

const bit = (n: number) => 1n << BigInt(n);

export const SCX_ENUMS: Readonly<Record<string, bigint>> = {
  // enum scx_public_consts
  SCX_OPS_NAME_LEN: 128n,
  SCX_SLICE_DFL: 20_000_000n,
  SCX_SLICE_INF: (1n << 64n) - 1n,
  // enum scx_dsq_id_flags
  SCX_DSQ_FLAG_BUILTIN: bit(63),
  SCX_DSQ_FLAG_LOCAL_ON: bit(62),
  SCX_DSQ_INVALID: bit(63),
  SCX_DSQ_GLOBAL: bit(63) | 1n,
  SCX_DSQ_LOCAL: bit(63) | 2n,
  SCX_DSQ_LOCAL_ON: bit(63) | bit(62),
  SCX_DSQ_LOCAL_CPU_MASK: 0xffff_ffffn,
  // enum scx_ent_flags and the task states in p->scx.flags
  SCX_TASK_QUEUED: 1n,
  SCX_TASK_STATE_SHIFT: 8n,
  SCX_TASK_STATE_BITS: 2n,
  SCX_TASK_STATE_MASK: 0x300n,
  SCX_TASK_CURSOR: bit(31),
  SCX_TASK_NONE: 0n,
  SCX_TASK_INIT: 1n,
  SCX_TASK_READY: 2n,
  SCX_TASK_ENABLED: 3n,
  SCX_TASK_NR_STATES: 4n,
  // enum scx_kick_flags
  SCX_KICK_IDLE: 1n,
  SCX_KICK_PREEMPT: 2n,
  SCX_KICK_WAIT: 4n,
  // enum scx_enq_flags
  SCX_ENQ_WAKEUP: 1n,
  SCX_ENQ_HEAD: 0x10n,
  SCX_ENQ_CPU_SELECTED: 0x400n,
  SCX_ENQ_PREEMPT: bit(32),
  SCX_ENQ_REENQ: bit(40),
  SCX_ENQ_LAST: bit(41),
  SCX_ENQ_CLEAR_OPSS: bit(56),
  SCX_ENQ_DSQ_PRIQ: bit(57),
  // enum scx_deq_flags
  SCX_DEQ_SLEEP: 1n,
  SCX_DEQ_CORE_SCHED_EXEC: bit(32),
  // enum scx_pick_idle_cpu_flags
  SCX_PICK_IDLE_CORE: 1n,
  // enum scx_wake_flags
  SCX_WAKE_FORK: 4n,
  SCX_WAKE_TTWU: 8n,
  SCX_WAKE_SYNC: 16n,
  // DSQ iterator flags
  SCX_DSQ_ITER_REV: bit(16),
  // enum scx_ops_flags
  SCX_OPS_KEEP_BUILTIN_IDLE: 1n,
  SCX_OPS_ENQ_LAST: 2n,
  SCX_OPS_ENQ_EXITING: 4n,
  SCX_OPS_SWITCH_PARTIAL: 8n,
  SCX_OPS_HAS_CGROUP_WEIGHT: bit(16),
  // enum scx_exit_kind
  SCX_EXIT_NONE: 0n,
  SCX_EXIT_DONE: 1n,
  SCX_EXIT_UNREG: 64n,
  SCX_EXIT_UNREG_BPF: 65n,
  SCX_EXIT_UNREG_KERN: 66n,
  SCX_EXIT_SYSRQ: 67n,
  SCX_EXIT_ERROR: 1024n,
  SCX_EXIT_ERROR_BPF: 1025n,
  SCX_EXIT_ERROR_STALL: 1026n,
  // exit codes
  SCX_ECODE_RSN_HOTPLUG: bit(32),
  SCX_ECODE_ACT_RESTART: bit(48),
  // enum scx_cpu_preempt_reason
  SCX_CPU_PREEMPT_RT: 0n,
  SCX_CPU_PREEMPT_DL: 1n,
  SCX_CPU_PREEMPT_STOP: 2n,
  SCX_CPU_PREEMPT_UNKNOWN: 3n,
  // other public constants
  SCX_DSP_DFL_MAX_BATCH: 32n,
  SCX_DSP_MAX_LOOPS: 32n,
  SCX_CPUPERF_ONE: 1024n,
  SCX_TASK_ITER_BATCH: 32n,
};

/**
 * Fill every `.rodata` variable named `__SCX_<NAME>` with the kernel's value, as SCX_ENUM_INIT
 * does before load. A name the kernel does not have is an error, as it is for scx's loaders.
 */
export function fillScxEnums(obj: BpfObject): void {
  for (const g of obj.globals) {
    if (!g.name.startsWith('__SCX_') || !g.section.startsWith('.rodata')) continue;
    const name = g.name.slice(2);
    const value = SCX_ENUMS[name];
    if (value === undefined) throw new ScxError(`${obj.file}: .rodata variable ${g.name}: the simulated kernel (6.12) has no sched_ext constant ${name}`);
    if (g.size !== 8 && g.size !== 4) throw new ScxError(`${obj.file}: .rodata variable ${g.name} is ${g.size} bytes, expected a u64 (or u32)`);
    obj.setGlobal(g.name, g.size === 4 ? value & 0xffff_ffffn : value);
  }
}
