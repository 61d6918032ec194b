/* batch: the run order kept in a BPF queue map, handed to CPUs in batches.
 *
 * The scheduler's own record of waiting work is a BPF_MAP_TYPE_QUEUE of pids, in arrival
 * order. When a CPU runs out of work, its dispatch() pops a batch of pids (its share of the
 * backlog: the number waiting divided by the number of CPUs, at least 1 and at most
 * `batch_size`, 8) and moves those tasks into its local DSQ in one go, so the CPU then runs
 * the whole batch back to back without calling the scheduler again. A map of pids cannot hold
 * the tasks themselves, and the simulated kernel has no bpf_task_from_pid(), so a waiting
 * task is parked in a FIFO DSQ and found there by pid with the DSQ iterator. A waking task
 * goes straight to an idle CPU when the default selection finds one. If the queue map is full
 * a task goes to the global DSQ instead; if pids and parked tasks ever disagree, the parked
 * tasks are taken in FIFO order, so nothing is stranded.
 * Good at: few scheduler invocations per context switch (dispatch overhead amortised over a
 * batch), throughput of CPU-bound work, long uninterrupted slices (`slice_ns`, 20 ms).
 * Bad at: latency: a task at the end of a batch waits for every task before it on that CPU
 * even when another CPU becomes idle (no stealing from local DSQs); nice values are ignored. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define PARKED_DSQ 0
#define MAX_BATCH 32
#define MAX_PENDING 16384

const volatile u32 batch_size = 8;
const volatile u64 slice_ns = 20000000;

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, MAX_PENDING);
	__type(value, u32);
} pending SEC(".maps");

/* Batches handed out, tasks in them, and tasks that went to the global DSQ instead (read from
 * user space). */
u64 nr_batches, nr_batched, nr_overflow;

BPF_STRUCT_OPS(batch_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

	if (is_idle)
		scx_bpf_dsq_insert_compat(p, SCX_DSQ_LOCAL, slice_ns, 0);
	return cpu;
}

BPF_STRUCT_OPS(batch_enqueue, struct task_struct *p, u64 enq_flags)
{
	u32 pid = p->pid;

	if (bpf_map_push_elem(&pending, &pid, 0)) {
		__sync_fetch_and_add(&nr_overflow, 1);
		scx_bpf_dsq_insert_compat(p, SCX_DSQ_GLOBAL, slice_ns, enq_flags);
		return 0;
	}
	scx_bpf_dsq_insert_compat(p, PARKED_DSQ, slice_ns, enq_flags);
	return 0;
}

BPF_STRUCT_OPS(batch_dispatch, s32 cpu, struct task_struct *prev)
{
	u32 pids[MAX_BATCH] = {};
	struct bpf_iter_scx_dsq it;
	struct task_struct *p;
	s32 waiting = scx_bpf_dsq_nr_queued(PARKED_DSQ);
	u32 want, n = 0, moved = 0, i;

	if (waiting <= 0)
		return 0;
	want = (u32)waiting / scx_bpf_nr_cpu_ids();
	if (want < 1)
		want = 1;
	if (want > batch_size)
		want = batch_size;
	if (want > MAX_BATCH)
		want = MAX_BATCH;
	bpf_for(i, 0, want) {
		u32 pid;

		if (i >= MAX_BATCH || bpf_map_pop_elem(&pending, &pid))
			break;
		pids[i] = pid;
		n++;
	}

	if (n) {
		bpf_iter_scx_dsq_new(&it, PARKED_DSQ, 0);
		while ((p = bpf_iter_scx_dsq_next(&it))) {
			u32 pid = p->pid;

			bpf_for(i, 0, n) {
				if (i >= MAX_BATCH || pids[i] != pid)
					continue;
				pids[i] = 0;
				if (bpf_cpumask_test_cpu(cpu, p->cpus_ptr)) {
					if (scx_bpf_dsq_move(&it, p, SCX_DSQ_LOCAL, 0))
						moved++;
				} else {
					/* Not for this CPU: back to the end of the line. */
					bpf_map_push_elem(&pending, &pid, 0);
				}
				break;
			}
			if (moved == n)
				break;
		}
		bpf_iter_scx_dsq_destroy(&it);
	}

	if (moved) {
		__sync_fetch_and_add(&nr_batches, 1);
		__sync_fetch_and_add(&nr_batched, moved);
		return 0;
	}
	/* Pids and parked tasks disagree (or nothing here may run): plain FIFO from the DSQ. */
	scx_bpf_dsq_move_to_local_compat(PARKED_DSQ);
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(batch_init)
{
	return scx_bpf_create_dsq(PARKED_DSQ, -1);
}

SCX_OPS_DEFINE(batch_ops,
	       .select_cpu = (void *)batch_select_cpu,
	       .enqueue = (void *)batch_enqueue,
	       .dispatch = (void *)batch_dispatch,
	       .init = (void *)batch_init,
	       .name = "batch");
