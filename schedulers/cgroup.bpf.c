/* cgroup: CPU time shared by cgroup weight, over a flat set of cgroups.
 *
 * Two levels of virtual time. Each cgroup has a vtime that advances by the CPU time its tasks
 * use divided by the cgroup's cpu.weight (100 = default); a CPU needing work takes the next
 * task of the cgroup with the smallest vtime among those with queued tasks, or keeps its
 * current task if that task's cgroup (charged up to now) is smaller still. Inside a cgroup,
 * tasks wait in the cgroup's own vtime DSQ (id = cgroup id), ordered by their own vtime, which
 * advances by run time over the task's weight (nice). So each busy cgroup gets CPU time in
 * proportion to its weight however many tasks it has, and its tasks share that by nice.
 * A cgroup that had no runnable task rejoins at most one slice behind the cgroup clock, and a
 * task that slept at most one slice behind its cgroup's task clock: idling earns little credit.
 *
 * Flat: every cgroup, the root cgroup (tasks in no cgroup) included, competes as a peer with
 * its own weight; nesting is ignored (a child does not share out its parent's weight, as
 * scx_flatcg's hierarchical weights would).
 *
 * Good at: isolating groups of tasks from each other (a cgroup with 100 hogs gets no more than
 * one with a single task of the same weight), proportional shares between services.
 * Bad at: many cgroups (dispatch scans them all, up to MAX_CGRPS = 64), hierarchies (flat),
 * latency (no wake-up boost beyond sleep credit), cache locality (one queue per cgroup, shared
 * by all CPUs). A cgroup's tasks may run on several CPUs at once before its vtime is charged
 * (charging happens when a task stops), so shares are exact only over many slices. */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

/* The cgroup kfuncs of kernel/bpf/helpers.c (common.bpf.h does not declare them). */
void bpf_cgroup_release(struct cgroup *cgrp) __ksym;

#define MAX_CGRPS 64
#define ENOMEM 12
#define ENOSPC 28

struct cgrp_ctx {
	u64 id;		/* cgroup id (kn->id); also its DSQ's id */
	u64 vtime;	/* the cgroup's virtual time */
	u64 tvtime_now; /* the largest vtime of a task of this cgroup that started running */
	u32 weight;	/* cpu.weight, 1..10000 */
	u32 nr_runnable;
	u32 live;
	u32 pad;
};

/* The cgroups, by slot, and the slot of each cgroup id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CGRPS);
	__type(key, u32);
	__type(value, struct cgrp_ctx);
} cgrps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CGRPS);
	__type(key, u64);
	__type(value, u32);
} cgrp_slots SEC(".maps");

/* Per task: its cgroup as of when it last started running, and since when it runs. */
struct task_ctx {
	u64 cgid;
	u64 started_at;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

/* The cgroup clock: the largest vtime of a cgroup picked to run. */
static u64 cvtime_now;

static bool vtime_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

static __always_inline struct cgrp_ctx *cgrp_ctx_of(u64 cgid)
{
	u32 *slot = bpf_map_lookup_elem(&cgrp_slots, &cgid);

	if (!slot)
		return NULL;
	return bpf_map_lookup_elem(&cgrps, slot);
}

/* The state of p's cgroup; p must be an argument of the calling callback. */
static __always_inline struct cgrp_ctx *task_cgrp_ctx(struct task_struct *p)
{
	struct cgroup *cgrp = scx_bpf_task_cgroup(p);
	u64 cgid = cgrp->kn->id;
	struct cgrp_ctx *cg;

	bpf_cgroup_release(cgrp);
	cg = cgrp_ctx_of(cgid);
	if (!cg)
		scx_bpf_error("cgroup %llu of %d has no state", cgid, p->pid);
	return cg;
}

BPF_STRUCT_OPS(cgroup_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

	/* An idle CPU takes the task at once; its cgroup is charged all the same. */
	if (is_idle)
		scx_bpf_dsq_insert_compat(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	return cpu;
}

BPF_STRUCT_OPS(cgroup_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct cgrp_ctx *cg = task_cgrp_ctx(p);
	u64 vtime = p->scx.dsq_vtime;

	if (!cg)
		return 0;
	/* Sleep credit is capped at one slice of the cgroup's task clock. */
	if (vtime_before(vtime, cg->tvtime_now - SCX_SLICE_DFL))
		vtime = cg->tvtime_now - SCX_SLICE_DFL;
	scx_bpf_dsq_insert_vtime_compat(p, cg->id, SCX_SLICE_DFL, vtime, enq_flags);
	return 0;
}

BPF_STRUCT_OPS(cgroup_dispatch, s32 cpu, struct task_struct *prev)
{
	struct cgrp_ctx *cg;
	struct task_ctx *taskc;
	u64 best_id = 0, best_vtime = 0;
	bool found = false;
	s32 i;

	/* The cgroup with queued tasks and the smallest vtime. */
	bpf_for(i, 0, MAX_CGRPS) {
		u32 key = i;

		cg = bpf_map_lookup_elem(&cgrps, &key);
		if (!cg || !cg->live || scx_bpf_dsq_nr_queued(cg->id) <= 0)
			continue;
		if (!found || vtime_before(cg->vtime, best_vtime)) {
			best_id = cg->id;
			best_vtime = cg->vtime;
			found = true;
		}
	}
	/*
	 * prev, if still runnable, is not queued yet: it goes on (the core refills its slice) when
	 * its cgroup, charged for the run so far, is still the furthest behind. Its cgroup comes from
	 * task storage: scx_bpf_task_cgroup() answers only for a callback's task arguments, and
	 * dispatch's prev is not one.
	 */
	if (prev && (prev->scx.flags & SCX_TASK_QUEUED) &&
	    (taskc = bpf_task_storage_get(&task_ctxs, prev, NULL, 0)) && (cg = cgrp_ctx_of(taskc->cgid))) {
		u64 vtime = cg->vtime + (bpf_ktime_get_ns() - taskc->started_at) * 100 / cg->weight;

		if (!found || !vtime_before(best_vtime, vtime))
			return 0;
	}
	if (!found)
		return 0;
	if (scx_bpf_dsq_move_to_local_compat(best_id)) {
		if (vtime_before(cvtime_now, best_vtime))
			cvtime_now = best_vtime;
		return 0;
	}
	/* None of its tasks may run here (affinity): take any cgroup's that can. */
	bpf_for(i, 0, MAX_CGRPS) {
		u32 key = i;

		cg = bpf_map_lookup_elem(&cgrps, &key);
		if (cg && cg->live && cg->id != best_id && scx_bpf_dsq_move_to_local_compat(cg->id))
			return 0;
	}
	return 0;
}

BPF_STRUCT_OPS(cgroup_runnable, struct task_struct *p, u64 enq_flags)
{
	struct cgrp_ctx *cg = task_cgrp_ctx(p);

	if (!cg)
		return 0;
	/* A cgroup becoming busy again rejoins at most one slice behind the cgroup clock. */
	if (cg->nr_runnable++ == 0 && vtime_before(cg->vtime, cvtime_now - SCX_SLICE_DFL))
		cg->vtime = cvtime_now - SCX_SLICE_DFL;
	return 0;
}

BPF_STRUCT_OPS(cgroup_quiescent, struct task_struct *p, u64 deq_flags)
{
	struct cgrp_ctx *cg = task_cgrp_ctx(p);

	if (cg && cg->nr_runnable > 0)
		cg->nr_runnable--;
	return 0;
}

BPF_STRUCT_OPS(cgroup_running, struct task_struct *p)
{
	struct task_ctx *taskc = bpf_task_storage_get(&task_ctxs, p, NULL, 0);
	struct cgrp_ctx *cg = task_cgrp_ctx(p);

	if (!taskc || !cg) {
		scx_bpf_error("no task or cgroup state for %d", p->pid);
		return 0;
	}
	taskc->cgid = cg->id;
	taskc->started_at = bpf_ktime_get_ns();
	if (vtime_before(cg->tvtime_now, p->scx.dsq_vtime))
		cg->tvtime_now = p->scx.dsq_vtime;
	return 0;
}

BPF_STRUCT_OPS(cgroup_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *taskc = bpf_task_storage_get(&task_ctxs, p, NULL, 0);
	struct cgrp_ctx *cg = task_cgrp_ctx(p);
	u64 used;

	if (!taskc || !cg)
		return 0;
	/*
	 * Charged by the clock, not by slice left: a task kept running through dispatch had its
	 * slice refilled without a stopping/running pair.
	 */
	used = bpf_ktime_get_ns() - taskc->started_at;
	/* The task pays by its weight inside the cgroup, the cgroup by its weight among cgroups. */
	p->scx.dsq_vtime += used * 100 / p->scx.weight;
	cg->vtime += used * 100 / cg->weight;
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(cgroup_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct task_ctx *taskc = bpf_task_storage_get(&task_ctxs, p, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!taskc)
		return -ENOMEM;
	taskc->cgid = args->cgroup->kn->id;
	taskc->started_at = bpf_ktime_get_ns();
	return 0;
}

BPF_STRUCT_OPS_SLEEPABLE(cgroup_cgroup_init, struct cgroup *cgrp, struct scx_cgroup_init_args *args)
{
	u64 cgid = cgrp->kn->id;
	struct cgrp_ctx *cg;
	u32 slot = MAX_CGRPS;
	s32 i, ret;

	bpf_for(i, 0, MAX_CGRPS) {
		u32 key = i;

		cg = bpf_map_lookup_elem(&cgrps, &key);
		if (cg && !cg->live) {
			slot = i;
			break;
		}
	}
	cg = bpf_map_lookup_elem(&cgrps, &slot);
	if (!cg)
		return -ENOSPC;
	ret = scx_bpf_create_dsq(cgid, -1);
	if (ret)
		return ret;
	cg->id = cgid;
	cg->vtime = cvtime_now;
	cg->tvtime_now = 0;
	cg->weight = args->weight;
	cg->nr_runnable = 0;
	cg->live = 1;
	return bpf_map_update_elem(&cgrp_slots, &cgid, &slot, BPF_ANY);
}

BPF_STRUCT_OPS_SLEEPABLE(cgroup_cgroup_exit, struct cgroup *cgrp)
{
	u64 cgid = cgrp->kn->id;
	struct cgrp_ctx *cg = cgrp_ctx_of(cgid);

	if (!cg)
		return 0;
	cg->live = 0;
	bpf_map_delete_elem(&cgrp_slots, &cgid);
	scx_bpf_destroy_dsq(cgid);
	return 0;
}

BPF_STRUCT_OPS(cgroup_cgroup_set_weight, struct cgroup *cgrp, u32 weight)
{
	struct cgrp_ctx *cg = cgrp_ctx_of(cgrp->kn->id);

	if (cg)
		cg->weight = weight;
	return 0;
}

SCX_OPS_DEFINE(cgroup_ops,
	       .select_cpu = (void *)cgroup_select_cpu,
	       .enqueue = (void *)cgroup_enqueue,
	       .dispatch = (void *)cgroup_dispatch,
	       .runnable = (void *)cgroup_runnable,
	       .running = (void *)cgroup_running,
	       .stopping = (void *)cgroup_stopping,
	       .quiescent = (void *)cgroup_quiescent,
	       .init_task = (void *)cgroup_init_task,
	       .cgroup_init = (void *)cgroup_cgroup_init,
	       .cgroup_exit = (void *)cgroup_cgroup_exit,
	       .cgroup_set_weight = (void *)cgroup_cgroup_set_weight,
	       .flags = SCX_OPS_HAS_CGROUP_WEIGHT,
	       .name = "cgroup");
