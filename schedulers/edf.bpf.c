/* edf: earliest deadline first, with deadlines learnt from each task's wake-up period.
 *
 * Tasks wait in one queue ordered by absolute deadline (a vtime DSQ keyed by the deadline).
 * The simulated kernel, like Linux for SCHED_EXT tasks, tells BPF nothing of a task's period
 * or deadline, so they are learnt: the interval between a task's wake-ups is averaged in task
 * storage (1/4 weight to the newest) and taken as its period, and each wake-up sets the
 * deadline to wake time + period (an implicit deadline). Until a task has woken twice, and for
 * tasks that never sleep, the relative deadline is `default_deadline_ns` (100 ms, so work of
 * unknown urgency yields to periodic work due sooner). A job ends when its task sleeps; a task
 * that keeps running starts a new job (a new deadline) once it has run a whole period, or a
 * slice if it has no period; until then, sliced or preempted, it keeps its deadline (both come
 * back with a zero slice, so the run time is counted here, from running to stopping).
 * A waking task whose deadline is earlier than that of a running task preempts the CPU with
 * the latest deadline, as preemptive EDF must.
 * Good at: periodic real-time-like work (audio, control loops, frame rendering): on one CPU
 * EDF meets every deadline of an implicit-deadline set of utilisation up to 1.
 * Bad at: tasks whose deadline is shorter than their period are only protected through their
 * period; irregular sleepers get arbitrary deadlines; overload degrades badly (every task
 * misses, a domino effect); no weights (nice is ignored); the global queue ignores cache
 * locality. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define EDF_DSQ 0
#define MAX_CPUS 1024

const volatile u64 default_deadline_ns = 100000000;
const volatile u64 min_period_ns = 100000;
const volatile u64 max_period_ns = 1000000000;

struct task_ctx {
	u64 last_wake;  /* when it last woke up (0: never) */
	u64 period;     /* learnt period (0: not known yet) */
	u64 deadline;   /* absolute deadline of its current job */
	u64 started;    /* when it last started running */
	u64 used;       /* run time of its current job */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

/* The deadline of each CPU's current task (0: idle, or claimed by a preempting wake-up). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, u64);
} cpu_deadline SEC(".maps");

/* Preemptions for earlier deadlines (read from user space). */
u64 nr_preempts;

static u64 relative_deadline(struct task_ctx *tctx)
{
	return tctx->period ? tctx->period : default_deadline_ns;
}

static bool before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

/* Kick the allowed CPU whose task has the latest deadline, if that is later than p's. */
static void preempt_for(struct task_struct *p, u64 deadline)
{
	u32 nr_cpus = scx_bpf_nr_cpu_ids();
	s32 cpu, victim = -1;
	u64 latest = deadline;
	u64 *d;
	u32 k;

	bpf_for(cpu, 0, nr_cpus) {
		k = cpu;
		d = bpf_map_lookup_elem(&cpu_deadline, &k);
		if (d && *d && before(latest, *d) && bpf_cpumask_test_cpu(cpu, p->cpus_ptr)) {
			latest = *d;
			victim = cpu;
		}
	}
	if (victim < 0)
		return;
	k = victim;
	d = bpf_map_lookup_elem(&cpu_deadline, &k);
	if (d)
		*d = 0; /* claimed: the next wake-up looks elsewhere */
	__sync_fetch_and_add(&nr_preempts, 1);
	scx_bpf_kick_cpu(victim, SCX_KICK_PREEMPT);
}

BPF_STRUCT_OPS(edf_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

	if (is_idle)
		scx_bpf_dsq_insert_compat(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	return cpu;
}

BPF_STRUCT_OPS(edf_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	u64 now = bpf_ktime_get_ns();

	if (!tctx) {
		scx_bpf_dsq_insert_vtime_compat(p, EDF_DSQ, SCX_SLICE_DFL, now + default_deadline_ns, enq_flags);
		return 0;
	}
	/*
	 * runnable() set the deadline of a waking task. Back from a used-up slice or a preemption,
	 * a periodic task keeps its deadline until it has run a whole period (its job is not done);
	 * a task with no known period starts a new job every slice, so such tasks take turns.
	 */
	if (!(enq_flags & SCX_ENQ_WAKEUP) && tctx->used >= (tctx->period ? tctx->period : SCX_SLICE_DFL)) {
		tctx->deadline = now + relative_deadline(tctx);
		tctx->used = 0;
	}
	scx_bpf_dsq_insert_vtime_compat(p, EDF_DSQ, SCX_SLICE_DFL, tctx->deadline, enq_flags);
	if (enq_flags & SCX_ENQ_WAKEUP)
		preempt_for(p, tctx->deadline);
	return 0;
}

BPF_STRUCT_OPS(edf_dispatch, s32 cpu, struct task_struct *prev)
{
	scx_bpf_dsq_move_to_local_compat(EDF_DSQ);
	return 0;
}

BPF_STRUCT_OPS(edf_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	u64 now = bpf_ktime_get_ns();
	u64 interval;

	if (!tctx || !(enq_flags & SCX_ENQ_WAKEUP))
		return 0;
	if (tctx->last_wake) {
		interval = now - tctx->last_wake;
		if (interval < min_period_ns)
			interval = min_period_ns;
		if (interval > max_period_ns)
			interval = max_period_ns;
		tctx->period = tctx->period ? (3 * tctx->period + interval) / 4 : interval;
	}
	tctx->last_wake = now;
	tctx->deadline = now + relative_deadline(tctx);
	tctx->used = 0;
	return 0;
}

BPF_STRUCT_OPS(edf_running, struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	u32 k = bpf_get_smp_processor_id();
	u64 *d = bpf_map_lookup_elem(&cpu_deadline, &k);

	if (d)
		*d = tctx ? tctx->deadline | 1 : 0;
	if (tctx)
		tctx->started = bpf_ktime_get_ns();
	return 0;
}

BPF_STRUCT_OPS(edf_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	u32 k = bpf_get_smp_processor_id();
	u64 *d = bpf_map_lookup_elem(&cpu_deadline, &k);

	if (d)
		*d = 0;
	if (tctx)
		tctx->used += bpf_ktime_get_ns() - tctx->started;
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(edf_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!tctx)
		return -12;
	tctx->deadline = bpf_ktime_get_ns() + default_deadline_ns;
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(edf_init)
{
	return scx_bpf_create_dsq(EDF_DSQ, -1);
}

SCX_OPS_DEFINE(edf_ops,
	       .select_cpu = (void *)edf_select_cpu,
	       .enqueue = (void *)edf_enqueue,
	       .dispatch = (void *)edf_dispatch,
	       .runnable = (void *)edf_runnable,
	       .running = (void *)edf_running,
	       .stopping = (void *)edf_stopping,
	       .init_task = (void *)edf_init_task,
	       .init = (void *)edf_init,
	       .name = "edf");
