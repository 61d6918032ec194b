/* central: one CPU decides for all.
 *
 * Every runnable task waits in one FIFO queue. Only the central CPU (`central_cpu`, CPU 0 by
 * default) takes tasks out of it: its own dispatch() and a periodic BPF timer pinned to it
 * (every `tick_ns`, 1 ms by default) hand waiting tasks to CPUs that need one, straight into
 * their local DSQs (SCX_DSQ_LOCAL_ON | cpu), and kick them. A CPU needs a task when it is idle
 * or when its current task has run for `slice_ns` (5 ms) while others wait; the latter is
 * kicked with SCX_KICK_PREEMPT. Tasks run with an infinite slice, so the tick never preempts:
 * the central CPU does. The other CPUs' dispatch() decides nothing; when tasks are waiting it
 * only asks the central CPU to act (a preempting kick), then waits. A waking task's own CPU is
 * preferred when it is free, which keeps tasks where their cache is.
 * Good at: keeping scheduling work off the other CPUs (they run tasks, not policy), one place
 * for a global view, tick-free operation on the worker CPUs.
 * Bad at: everything waits for one CPU: wake-up latency grows when the central CPU is busy
 * (up to a timer period), the central CPU's own tasks are preempted whenever another CPU asks
 * for work, and it does not scale to many CPUs. Nice values are ignored. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define WAITING_DSQ 0
#define MAX_CPUS 1024

/* CPU 0: ops.init runs there, and the timer is pinned to the CPU that starts it. */
#define central_cpu 0
const volatile u64 tick_ns = 1000000;
const volatile u64 slice_ns = 5000000;

struct central_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct central_timer);
} central_timers SEC(".maps");

/* When each CPU's current task started running (0: idle or not ours). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, u64);
} started_at SEC(".maps");

/* Hand-offs made by the central CPU and requests from the others (read from user space). */
u64 nr_handoffs, nr_preempts, nr_requests;

/* Can `cpu` take a task now? Idle (claimed here) or running past its slice; nothing queued. */
static bool cpu_needs_task(s32 cpu, u64 now, bool *preempt)
{
	u32 k = cpu;
	u64 *start;

	if (scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL_ON | cpu) > 0)
		return false;
	if (scx_bpf_test_and_clear_cpu_idle(cpu)) {
		*preempt = false;
		return true;
	}
	/* Signed: a start stamped `now | 1` may lie 1 ns after now. */
	start = bpf_map_lookup_elem(&started_at, &k);
	if (start && *start && (s64)(now - *start) >= (s64)slice_ns) {
		*preempt = true;
		return true;
	}
	return false;
}

/* The CPU to hand `p` to, or -1: its previous CPU if that needs a task, else the first one. */
static s32 pick_cpu(struct task_struct *p, u64 now, bool skip_central, bool *preempt)
{
	s32 prev = scx_bpf_task_cpu(p);
	u32 nr_cpus = scx_bpf_nr_cpu_ids();
	s32 cpu;

	if (!(skip_central && prev == central_cpu) && bpf_cpumask_test_cpu(prev, p->cpus_ptr) &&
	    cpu_needs_task(prev, now, preempt))
		return prev;
	bpf_for(cpu, 0, nr_cpus) {
		if (cpu == prev || (skip_central && cpu == central_cpu))
			continue;
		if (bpf_cpumask_test_cpu(cpu, p->cpus_ptr) && cpu_needs_task(cpu, now, preempt))
			return cpu;
	}
	return -1;
}

/* Hand waiting tasks to the CPUs that need one, oldest task first. Runs on the central CPU
 * only; from its dispatch() it leaves itself out (it takes its own task afterwards). */
static void hand_out(bool skip_central)
{
	struct bpf_iter_scx_dsq it;
	struct task_struct *p;
	u64 now = bpf_ktime_get_ns();
	u32 budget = scx_bpf_nr_cpu_ids();

	if (scx_bpf_dsq_nr_queued(WAITING_DSQ) <= 0)
		return;
	if (bpf_iter_scx_dsq_new(&it, WAITING_DSQ, 0))
		goto out;
	while ((p = bpf_iter_scx_dsq_next(&it))) {
		bool preempt = false;
		s32 cpu;

		/* Each CPU takes at most one task per pass, so a pass visits at most nr_cpus. */
		if (!budget--)
			break;
		cpu = pick_cpu(p, now, skip_central, &preempt);
		if (cpu < 0) {
			/* Nothing needs a task that could run anywhere: nobody needs one. */
			if (p->nr_cpus_allowed >= scx_bpf_nr_cpu_ids())
				break;
			continue;
		}
		if (scx_bpf_dsq_move(&it, p, SCX_DSQ_LOCAL_ON | cpu, 0)) {
			__sync_fetch_and_add(&nr_handoffs, 1);
			if (preempt)
				__sync_fetch_and_add(&nr_preempts, 1);
		}
		/* Kicked even if the move failed: an idle CPU claimed above must look again. */
		scx_bpf_kick_cpu(cpu, preempt ? SCX_KICK_PREEMPT : 0);
	}
out:
	bpf_iter_scx_dsq_destroy(&it);
}

static int central_timerfn(void *map, int *key, struct central_timer *value)
{
	if (bpf_get_smp_processor_id() == central_cpu)
		hand_out(false);
	bpf_timer_start(&value->timer, tick_ns, BPF_F_TIMER_CPU_PIN);
	return 0;
}

BPF_STRUCT_OPS(central_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	/* No decision here: the task stays on its CPU's runqueue until the central CPU acts. */
	return prev_cpu;
}

BPF_STRUCT_OPS(central_enqueue, struct task_struct *p, u64 enq_flags)
{
	scx_bpf_dsq_insert_compat(p, WAITING_DSQ, SCX_SLICE_INF, enq_flags);
	/* Wake the central CPU if it sleeps; when it is busy, the timer will come. */
	if (scx_bpf_test_and_clear_cpu_idle(central_cpu))
		scx_bpf_kick_cpu(central_cpu, 0);
	return 0;
}

BPF_STRUCT_OPS(central_dispatch, s32 cpu, struct task_struct *prev)
{
	if (cpu != central_cpu) {
		/* Decide nothing: ask the central CPU to hand out the waiting tasks, then wait. */
		if (scx_bpf_dsq_nr_queued(WAITING_DSQ) > 0) {
			__sync_fetch_and_add(&nr_requests, 1);
			scx_bpf_kick_cpu(central_cpu, SCX_KICK_PREEMPT);
		}
		return 0;
	}
	hand_out(true);
	scx_bpf_dsq_move_to_local_compat(WAITING_DSQ);
	return 0;
}

BPF_STRUCT_OPS(central_running, struct task_struct *p)
{
	u32 k = bpf_get_smp_processor_id();
	u64 *start = bpf_map_lookup_elem(&started_at, &k);

	if (start)
		*start = bpf_ktime_get_ns() | 1;
	return 0;
}

BPF_STRUCT_OPS(central_stopping, struct task_struct *p, bool runnable)
{
	u32 k = bpf_get_smp_processor_id();
	u64 *start = bpf_map_lookup_elem(&started_at, &k);

	if (start)
		*start = 0;
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(central_init)
{
	u32 k = 0;
	struct central_timer *t;
	s32 ret;

	ret = scx_bpf_create_dsq(WAITING_DSQ, -1);
	if (ret)
		return ret;
	t = bpf_map_lookup_elem(&central_timers, &k);
	if (!t)
		return -2;
	bpf_timer_init(&t->timer, &central_timers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&t->timer, central_timerfn);
	/* Pinned to the CPU init runs on, the central one. */
	return bpf_timer_start(&t->timer, tick_ns, BPF_F_TIMER_CPU_PIN);
}

SCX_OPS_DEFINE(central_ops,
	       .select_cpu = (void *)central_select_cpu,
	       .enqueue = (void *)central_enqueue,
	       .dispatch = (void *)central_dispatch,
	       .running = (void *)central_running,
	       .stopping = (void *)central_stopping,
	       .init = (void *)central_init,
	       .name = "central");
