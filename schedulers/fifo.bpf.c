/* fifo: one global first-in first-out queue.
 *
 * A waking task goes straight to an idle CPU when the default CPU selection finds one;
 * otherwise it joins the tail of a shared queue, which every CPU consumes from the head.
 * Good at: throughput with little scheduler overhead, fairness in order of arrival.
 * Bad at: latency under load (a short task waits behind every long one queued before it),
 * and it ignores priorities (nice) and cache locality. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define SHARED_DSQ 0

BPF_STRUCT_OPS(fifo_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

	if (is_idle)
		scx_bpf_dsq_insert_compat(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	return cpu;
}

BPF_STRUCT_OPS(fifo_enqueue, struct task_struct *p, u64 enq_flags)
{
	scx_bpf_dsq_insert_compat(p, SHARED_DSQ, SCX_SLICE_DFL, enq_flags);
	return 0;
}

BPF_STRUCT_OPS(fifo_dispatch, s32 cpu, struct task_struct *prev)
{
	scx_bpf_dsq_move_to_local_compat(SHARED_DSQ);
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(fifo_init)
{
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

SCX_OPS_DEFINE(fifo_ops,
	       .select_cpu = (void *)fifo_select_cpu,
	       .enqueue = (void *)fifo_enqueue,
	       .dispatch = (void *)fifo_dispatch,
	       .init = (void *)fifo_init,
	       .name = "fifo");
