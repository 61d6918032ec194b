/* pulse: round robin on one global FIFO queue, sliced by a BPF timer instead of the tick.
 *
 * Tasks run with an infinite slice, so the tick never preempts them. A periodic BPF timer
 * (every `period_ns`, 5 ms by default) looks at every CPU and, when tasks are waiting, kicks
 * with SCX_KICK_PREEMPT each CPU whose task has run for at least `slice_ns`. The kicked task
 * goes back to the tail of the queue.
 * Good at: fewer scheduler interventions than per-tick slicing when the machine is quiet; one
 * place (the timer) decides preemption, as central schedulers do.
 * Bad at: slices are only as precise as the timer period; the single shared queue ignores
 * cache locality and priorities. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define SHARED_DSQ 0
#define MAX_CPUS 1024

const volatile u64 period_ns = 5000000;
const volatile u64 slice_ns = 5000000;

struct pulse_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct pulse_timer);
} pulse_timers SEC(".maps");

/* When each CPU's current task started running (0: idle or not ours). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, u64);
} started_at SEC(".maps");

/* Kicks sent, for the curious (read from user space). */
u64 nr_kicks;

static int pulse_timerfn(void *map, int *key, struct pulse_timer *value)
{
	u64 now = bpf_ktime_get_ns();
	u32 nr_cpus = scx_bpf_nr_cpu_ids();
	s32 cpu;

	if (scx_bpf_dsq_nr_queued(SHARED_DSQ) > 0) {
		bpf_for(cpu, 0, nr_cpus) {
			u32 k = cpu;
			u64 *start = bpf_map_lookup_elem(&started_at, &k);

			if (start && *start && now - *start >= slice_ns) {
				scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
				__sync_fetch_and_add(&nr_kicks, 1);
			}
		}
	}
	bpf_timer_start(&value->timer, period_ns, 0);
	return 0;
}

BPF_STRUCT_OPS(pulse_enqueue, struct task_struct *p, u64 enq_flags)
{
	scx_bpf_dsq_insert_compat(p, SHARED_DSQ, SCX_SLICE_INF, enq_flags);
	return 0;
}

BPF_STRUCT_OPS(pulse_dispatch, s32 cpu, struct task_struct *prev)
{
	scx_bpf_dsq_move_to_local_compat(SHARED_DSQ);
	return 0;
}

BPF_STRUCT_OPS(pulse_running, struct task_struct *p)
{
	u32 k = bpf_get_smp_processor_id();
	u64 *start = bpf_map_lookup_elem(&started_at, &k);

	if (start)
		*start = bpf_ktime_get_ns() | 1;
	return 0;
}

BPF_STRUCT_OPS(pulse_stopping, struct task_struct *p, bool runnable)
{
	u32 k = bpf_get_smp_processor_id();
	u64 *start = bpf_map_lookup_elem(&started_at, &k);

	if (start)
		*start = 0;
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(pulse_init)
{
	u32 k = 0;
	struct pulse_timer *t;
	s32 ret;

	ret = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (ret)
		return ret;
	t = bpf_map_lookup_elem(&pulse_timers, &k);
	if (!t)
		return -2;
	bpf_timer_init(&t->timer, &pulse_timers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&t->timer, pulse_timerfn);
	return bpf_timer_start(&t->timer, period_ns, 0);
}

SCX_OPS_DEFINE(pulse_ops,
	       .enqueue = (void *)pulse_enqueue,
	       .dispatch = (void *)pulse_dispatch,
	       .running = (void *)pulse_running,
	       .stopping = (void *)pulse_stopping,
	       .init = (void *)pulse_init,
	       .name = "pulse");
