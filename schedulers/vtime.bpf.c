/* vtime: weighted fair sharing by virtual time.
 *
 * Each task's virtual time advances by the CPU time it used divided by its weight (nice), and
 * the queue is ordered by virtual time, so CPU time is shared in proportion to weight. A task
 * that slept is placed at most one slice behind the global virtual clock, so sleeping earns
 * little credit.
 * Good at: proportional fairness between CPU-bound tasks of different nice values.
 * Bad at: latency-sensitive tasks get no boost beyond their sleep credit, and the single
 * shared queue ignores cache locality. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define SHARED_DSQ 0

/* The global virtual clock: the largest vtime of any task that started running. */
static u64 vtime_now;

static bool vtime_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

BPF_STRUCT_OPS(vtime_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

	if (is_idle)
		scx_bpf_dsq_insert_compat(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	return cpu;
}

BPF_STRUCT_OPS(vtime_enqueue, struct task_struct *p, u64 enq_flags)
{
	u64 vtime = p->scx.dsq_vtime;

	/* Sleep credit is capped at one slice. */
	if (vtime_before(vtime, vtime_now - SCX_SLICE_DFL))
		vtime = vtime_now - SCX_SLICE_DFL;
	scx_bpf_dsq_insert_vtime_compat(p, SHARED_DSQ, SCX_SLICE_DFL, vtime, enq_flags);
	return 0;
}

BPF_STRUCT_OPS(vtime_dispatch, s32 cpu, struct task_struct *prev)
{
	scx_bpf_dsq_move_to_local_compat(SHARED_DSQ);
	return 0;
}

BPF_STRUCT_OPS(vtime_running, struct task_struct *p)
{
	if (vtime_before(vtime_now, p->scx.dsq_vtime))
		vtime_now = p->scx.dsq_vtime;
	return 0;
}

BPF_STRUCT_OPS(vtime_stopping, struct task_struct *p, bool runnable)
{
	/* Charge the time used, scaled by the inverse of the weight (100 = nice 0). */
	p->scx.dsq_vtime += (SCX_SLICE_DFL - p->scx.slice) * 100 / p->scx.weight;
	return 0;
}

BPF_STRUCT_OPS(vtime_enable, struct task_struct *p)
{
	p->scx.dsq_vtime = vtime_now;
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(vtime_init)
{
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

SCX_OPS_DEFINE(vtime_ops,
	       .select_cpu = (void *)vtime_select_cpu,
	       .enqueue = (void *)vtime_enqueue,
	       .dispatch = (void *)vtime_dispatch,
	       .running = (void *)vtime_running,
	       .stopping = (void *)vtime_stopping,
	       .enable = (void *)vtime_enable,
	       .init = (void *)vtime_init,
	       .name = "vtime");
