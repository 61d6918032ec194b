/* llc: one FIFO queue per last-level cache, with work stealing between them.
 *
 * A task waits in the queue of the LLC of the CPU it was last placed on, and CPUs take work
 * from their own LLC's queue first, so a task keeps running under the cache it warmed. Only a
 * CPU whose LLC queue is empty steals, from the other LLCs in turn (next index first). A
 * waking task goes straight to an idle CPU when the default selection finds one (it prefers
 * the previous CPU's LLC); a task queued while some CPU that may run it is idle kicks that
 * CPU, which then steals if its own LLC has nothing.
 * Topology: the simulated kernel shows BPF no cache topology, so it comes from two read-only
 * constants a loader may set: `llc_cores` (cores per LLC, default 2) and `smt_threads`
 * (threads per core, default 2). CPUs are numbered as Linux does on x86 (first threads of all
 * cores, then the second threads), so CPU c is on core c % cores and LLC core / llc_cores.
 * The defaults describe the default suite's `1n:2l:2c:2t` and give one LLC on its flat
 * `4`; on other machines set them (or the LLC queues only approximate the real caches).
 * Good at: cache locality and few cross-LLC migrations on multi-LLC machines, while still
 * using every CPU.
 * Bad at: an LLC with more runnable tasks than CPUs waits while another LLC's CPUs are busy
 * with their own (no balancing beyond stealing when empty); FIFO order ignores nice values. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define MAX_LLCS 64

const volatile u32 llc_cores = 2;
const volatile u32 smt_threads = 2;

/* Tasks taken from another LLC's queue (read from user space). */
u64 nr_steals;

static u32 nr_cores(void)
{
	u32 nr_cpus = scx_bpf_nr_cpu_ids();

	if (smt_threads > 1 && nr_cpus % smt_threads == 0)
		return nr_cpus / smt_threads;
	return nr_cpus;
}

static u32 nr_llcs(void)
{
	u32 per = llc_cores ? llc_cores : 1;
	u32 n = (nr_cores() + per - 1) / per;

	return n > MAX_LLCS ? MAX_LLCS : n;
}

/* The LLC of `cpu`, which is also the id of its queue. */
static u32 llc_of(s32 cpu)
{
	u32 per = llc_cores ? llc_cores : 1;
	u32 llc = ((u32)cpu % nr_cores()) / per;

	return llc < MAX_LLCS ? llc : MAX_LLCS - 1;
}

BPF_STRUCT_OPS(llc_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

	if (is_idle)
		scx_bpf_dsq_insert_compat(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	return cpu;
}

BPF_STRUCT_OPS(llc_enqueue, struct task_struct *p, u64 enq_flags)
{
	s32 idle;

	scx_bpf_dsq_insert_compat(p, llc_of(scx_bpf_task_cpu(p)), SCX_SLICE_DFL, enq_flags);
	/* The core wakes no CPU for a task on a shared queue: an idle one that could run it is
	 * kicked, and steals it if its own LLC has nothing. */
	idle = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (idle >= 0)
		scx_bpf_kick_cpu(idle, SCX_KICK_IDLE);
	return 0;
}

BPF_STRUCT_OPS(llc_dispatch, s32 cpu, struct task_struct *prev)
{
	u32 own = llc_of(cpu);
	u32 n = nr_llcs();
	u32 i;

	if (scx_bpf_dsq_move_to_local_compat(own))
		return 0;
	/* Steal: the other LLCs in turn, starting after our own. */
	bpf_for(i, 1, n) {
		u32 victim = own + i;

		if (victim >= n)
			victim -= n;
		if (scx_bpf_dsq_move_to_local_compat(victim)) {
			__sync_fetch_and_add(&nr_steals, 1);
			return 0;
		}
	}
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(llc_init)
{
	u32 n = nr_llcs();
	u32 i;
	s32 ret;

	bpf_for(i, 0, n) {
		ret = scx_bpf_create_dsq(i, -1);
		if (ret)
			return ret;
	}
	return 0;
}

SCX_OPS_DEFINE(llc_ops,
	       .select_cpu = (void *)llc_select_cpu,
	       .enqueue = (void *)llc_enqueue,
	       .dispatch = (void *)llc_dispatch,
	       .init = (void *)llc_init,
	       .name = "llc");
