/* latency: priority and short slices for tasks that sleep often.
 *
 * Each task's run burst (CPU time from a wake-up until it sleeps again) is tracked in task
 * storage as a moving average. A task whose average and current bursts are both under
 * `interactive_ns` (1 ms) is interactive: it waits in a high-priority queue that every CPU
 * consumes before the normal one, runs with a short slice (`short_slice_ns`, 1 ms, so a task
 * that turns CPU-bound is caught quickly), and when it wakes with no CPU idle it preempts a
 * CPU running a non-interactive task that has run for at least `min_run_ns` (250 us). Other
 * tasks share a normal queue by weighted virtual time with `slice_ns` (5 ms) slices.
 * Good at: wake-up latency of interactive tasks (editors, servers' request threads) next to
 * CPU hogs; fairness between the hogs by weight.
 * Bad at: CPU-bound tasks lose CPU whenever an interactive one wakes (throughput, cache);
 * many interactive tasks can starve the normal queue; a task is judged by its past, so one
 * that changes behaviour is misplaced until the average catches up. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define INTERACTIVE_DSQ 0
#define NORMAL_DSQ 1
#define MAX_CPUS 1024

const volatile u64 interactive_ns = 1000000;
const volatile u64 short_slice_ns = 1000000;
const volatile u64 slice_ns = 5000000;
const volatile u64 min_run_ns = 250000;

struct task_ctx {
	u64 avg_burst;   /* moving average of completed bursts (ns), 1/4 weight to the newest */
	u64 burst;       /* CPU time since the last wake-up */
	u64 started;     /* when it last started running */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

/* Per CPU: whether its current task is interactive (1), not (2) or none of ours (0), and
 * since when it runs. */
struct cpu_ctx {
	u64 kind;
	u64 since;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

/* The normal queue's virtual clock. */
static u64 vtime_now;
/* Preemptions for interactive wake-ups (read from user space). */
u64 nr_preempts;

static bool is_interactive(struct task_ctx *tctx)
{
	return tctx->avg_burst < interactive_ns && tctx->burst < interactive_ns;
}

static struct task_ctx *ctx_of(struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctxs, p, 0, 0);
}

/* A CPU running a non-interactive task for at least min_run_ns, allowed for p, or -1. */
static s32 victim_cpu(struct task_struct *p, u64 now)
{
	u32 nr_cpus = scx_bpf_nr_cpu_ids();
	s32 cpu;

	bpf_for(cpu, 0, nr_cpus) {
		u32 k = cpu;
		struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctxs, &k);

		if (c && c->kind == 2 && now - c->since >= min_run_ns && bpf_cpumask_test_cpu(cpu, p->cpus_ptr)) {
			c->kind = 1; /* one preemption per CPU until it switches */
			return cpu;
		}
	}
	return -1;
}

BPF_STRUCT_OPS(latency_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	struct task_ctx *tctx = ctx_of(p);
	bool is_idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

	if (is_idle)
		scx_bpf_dsq_insert_compat(p, SCX_DSQ_LOCAL, tctx && is_interactive(tctx) ? short_slice_ns : slice_ns, 0);
	return cpu;
}

BPF_STRUCT_OPS(latency_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = ctx_of(p);
	u64 vtime = p->scx.dsq_vtime;
	s32 cpu;

	if (tctx && is_interactive(tctx)) {
		scx_bpf_dsq_insert_compat(p, INTERACTIVE_DSQ, short_slice_ns, enq_flags);
		if (enq_flags & SCX_ENQ_WAKEUP) {
			cpu = victim_cpu(p, bpf_ktime_get_ns());
			if (cpu >= 0) {
				__sync_fetch_and_add(&nr_preempts, 1);
				scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
			}
		}
		return 0;
	}
	/* Sleep credit is capped at one slice. */
	if ((s64)(vtime - (vtime_now - slice_ns)) < 0)
		vtime = vtime_now - slice_ns;
	scx_bpf_dsq_insert_vtime_compat(p, NORMAL_DSQ, slice_ns, vtime, enq_flags);
	return 0;
}

BPF_STRUCT_OPS(latency_dispatch, s32 cpu, struct task_struct *prev)
{
	if (scx_bpf_dsq_move_to_local_compat(INTERACTIVE_DSQ))
		return 0;
	scx_bpf_dsq_move_to_local_compat(NORMAL_DSQ);
	return 0;
}

BPF_STRUCT_OPS(latency_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = ctx_of(p);

	if (tctx && (enq_flags & SCX_ENQ_WAKEUP))
		tctx->burst = 0;
	return 0;
}

BPF_STRUCT_OPS(latency_running, struct task_struct *p)
{
	struct task_ctx *tctx = ctx_of(p);
	u32 k = bpf_get_smp_processor_id();
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctxs, &k);
	u64 now = bpf_ktime_get_ns();

	if (!tctx)
		return 0;
	tctx->started = now;
	if (c) {
		c->kind = is_interactive(tctx) ? 1 : 2;
		c->since = now;
	}
	if ((s64)(p->scx.dsq_vtime - vtime_now) > 0)
		vtime_now = p->scx.dsq_vtime;
	return 0;
}

BPF_STRUCT_OPS(latency_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = ctx_of(p);
	u32 k = bpf_get_smp_processor_id();
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctxs, &k);
	u64 ran;

	if (c)
		c->kind = 0;
	if (!tctx)
		return 0;
	ran = bpf_ktime_get_ns() - tctx->started;
	tctx->burst += ran;
	/* Virtual time by weight (100 = nice 0), for the normal queue. */
	p->scx.dsq_vtime += ran * 100 / p->scx.weight;
	return 0;
}

BPF_STRUCT_OPS(latency_quiescent, struct task_struct *p, u64 deq_flags)
{
	struct task_ctx *tctx = ctx_of(p);

	/* A burst ends when the task sleeps. */
	if (tctx && (deq_flags & SCX_DEQ_SLEEP))
		tctx->avg_burst = (3 * tctx->avg_burst + tctx->burst) / 4;
	return 0;
}

BPF_STRUCT_OPS(latency_enable, struct task_struct *p)
{
	p->scx.dsq_vtime = vtime_now;
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(latency_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!tctx)
		return -12;
	/* New tasks start on the edge: one long burst makes them normal. */
	tctx->avg_burst = interactive_ns / 2;
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(latency_init)
{
	s32 ret = scx_bpf_create_dsq(INTERACTIVE_DSQ, -1);

	if (ret)
		return ret;
	return scx_bpf_create_dsq(NORMAL_DSQ, -1);
}

SCX_OPS_DEFINE(latency_ops,
	       .select_cpu = (void *)latency_select_cpu,
	       .enqueue = (void *)latency_enqueue,
	       .dispatch = (void *)latency_dispatch,
	       .runnable = (void *)latency_runnable,
	       .running = (void *)latency_running,
	       .stopping = (void *)latency_stopping,
	       .quiescent = (void *)latency_quiescent,
	       .init_task = (void *)latency_init_task,
	       .enable = (void *)latency_enable,
	       .init = (void *)latency_init,
	       .name = "latency");
