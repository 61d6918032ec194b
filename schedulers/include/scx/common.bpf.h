/* Writing sched_ext schedulers for scx-sim: program and map macros, BPF helpers (by their
 * kernel ids), the sched_ext and generic kfuncs, and the sched_ext constants (Linux 6.12 values).
 *
 * Upstream scx headers read the sched_ext constants from the running kernel through
 * `const volatile u64 __SCX_*` .rodata variables; the simulator fills those too, but plain
 * constants keep these headers simple. */
#ifndef SCX_SIM_COMMON_BPF_H
#define SCX_SIM_COMMON_BPF_H

/* Angle brackets: a build may put another vmlinux.h first on the include path. */
#include <vmlinux.h>

/* ---- sections, maps, externs ---- */
#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __ksym __attribute__((section(".ksyms")))
#define __weak __attribute__((weak))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __kptr __attribute__((btf_type_tag("kptr")))
#define private(name) SEC(".data." #name) __attribute__((aligned(8)))
#define bpf_ksym_exists(sym) (!!(sym))

enum bpf_map_type_ids {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_QUEUE = 22,
	BPF_MAP_TYPE_STACK = 23,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_EXIST 2
#define BPF_F_NO_PREALLOC 1
#define BPF_LOCAL_STORAGE_GET_F_CREATE 1
#define BPF_F_TIMER_ABS 1
#define BPF_F_TIMER_CPU_PIN 2
#define CLOCK_MONOTONIC 1
#define CLOCK_BOOTTIME 7

/* ---- helpers, by kernel id ---- */
static void *(*const bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*const bpf_map_update_elem)(void *map, const void *key, const void *value, u64 flags) = (void *)2;
static long (*const bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static u64 (*const bpf_ktime_get_ns)(void) = (void *)5;
static long (*const bpf_trace_printk)(const char *fmt, u32 fmt_size, ...) = (void *)6;
static u32 (*const bpf_get_prandom_u32)(void) = (void *)7;
static u32 (*const bpf_get_smp_processor_id)(void) = (void *)8;
static u64 (*const bpf_get_current_pid_tgid)(void) = (void *)14;
static u64 (*const bpf_get_current_task)(void) = (void *)35;
static long (*const bpf_map_push_elem)(void *map, const void *value, u64 flags) = (void *)87;
static long (*const bpf_map_pop_elem)(void *map, void *value) = (void *)88;
static long (*const bpf_map_peek_elem)(void *map, void *value) = (void *)89;
static long (*const bpf_spin_lock)(struct bpf_spin_lock *lock) = (void *)93;
static long (*const bpf_spin_unlock)(struct bpf_spin_lock *lock) = (void *)94;
static long (*const bpf_probe_read_kernel)(void *dst, u32 size, const void *src) = (void *)113;
static long (*const bpf_probe_read_kernel_str)(void *dst, u32 size, const void *src) = (void *)115;
static u64 (*const bpf_ktime_get_boot_ns)(void) = (void *)125;
static long (*const bpf_ringbuf_output)(void *ringbuf, void *data, u64 size, u64 flags) = (void *)130;
static void *(*const bpf_ringbuf_reserve)(void *ringbuf, u64 size, u64 flags) = (void *)131;
static void (*const bpf_ringbuf_submit)(void *data, u64 flags) = (void *)132;
static void (*const bpf_ringbuf_discard)(void *data, u64 flags) = (void *)133;
static void *(*const bpf_task_storage_get)(void *map, struct task_struct *task, void *value, u64 flags) = (void *)156;
static long (*const bpf_task_storage_delete)(void *map, struct task_struct *task) = (void *)157;
static struct task_struct *(*const bpf_get_current_task_btf)(void) = (void *)158;
static long (*const bpf_for_each_map_elem)(void *map, void *callback_fn, void *callback_ctx, u64 flags) = (void *)164;
static long (*const bpf_timer_init)(struct bpf_timer *timer, void *map, u64 flags) = (void *)169;
static long (*const bpf_timer_set_callback)(struct bpf_timer *timer, void *callback_fn) = (void *)170;
static long (*const bpf_timer_start)(struct bpf_timer *timer, u64 nsecs, u64 flags) = (void *)171;
static long (*const bpf_timer_cancel)(struct bpf_timer *timer) = (void *)172;
static long (*const bpf_loop)(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags) = (void *)181;
static void *(*const bpf_kptr_xchg)(void *map_value, void *ptr) = (void *)194;
static void *(*const bpf_map_lookup_percpu_elem)(void *map, const void *key, u32 cpu) = (void *)195;

/* bpf_printk: the format lives on the stack so any string works. */
#define bpf_printk(fmt, ...)                                                   \
	({                                                                     \
		static const char ____fmt[] = fmt;                             \
		bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__);     \
	})

/* ---- struct_ops programs ---- */
/* BPF_STRUCT_OPS(name, typed args...) defines `int name(u64 *ctx)` in section struct_ops/name
 * that passes ctx[0..n-1] to the body as the declared arguments, as the kernel's trampoline
 * lays them out. */
#define ___scx_nth(_0, _1, _2, _3, _4, _5, N, ...) N
#define ___scx_argc(...) ___scx_nth(_, ##__VA_ARGS__, 5, 4, 3, 2, 1, 0)
#define ___scx_join(a, b) a##b
#define ___scx_apply(m, n) ___scx_join(m, n)
#define ___scx_ctx0() ctx
#define ___scx_ctx1(a) ___scx_ctx0(), (void *)ctx[0]
#define ___scx_ctx2(a, b) ___scx_ctx1(a), (void *)ctx[1]
#define ___scx_ctx3(a, b, c) ___scx_ctx2(a, b), (void *)ctx[2]
#define ___scx_ctx4(a, b, c, d) ___scx_ctx3(a, b, c), (void *)ctx[3]
#define ___scx_ctx5(a, b, c, d, e) ___scx_ctx4(a, b, c, d), (void *)ctx[4]
#define ___scx_ctx(args...) ___scx_apply(___scx_ctx, ___scx_argc(args))(args)

#define ___SCX_PROG(sec, name, args...)                                        \
	SEC(sec) int name(unsigned long long *ctx);                            \
	static __always_inline int ____##name(unsigned long long *ctx, ##args); \
	int name(unsigned long long *ctx)                                      \
	{                                                                      \
		_Pragma("clang diagnostic push")                               \
		_Pragma("clang diagnostic ignored \"-Wint-conversion\"")       \
		return ____##name(___scx_ctx(args));                           \
		_Pragma("clang diagnostic pop")                                \
	}                                                                      \
	static __always_inline int ____##name(unsigned long long *ctx, ##args)

#define BPF_STRUCT_OPS(name, args...) ___SCX_PROG("struct_ops/" #name, name, ##args)
#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) ___SCX_PROG("struct_ops.s/" #name, name, ##args)

/* The ops table: a struct_ops variable with the kernel's link semantics. */
#define SCX_OPS_DEFINE(name, ...) SEC(".struct_ops.link") struct sched_ext_ops name = { __VA_ARGS__ }

/* ---- sched_ext constants (6.12) ---- */
#define SCHED_EXT 7
#define SCX_SLICE_DFL 20000000ULL
#define SCX_SLICE_INF 0xffffffffffffffffULL
#define SCX_DSQ_FLAG_BUILTIN (1ULL << 63)
#define SCX_DSQ_FLAG_LOCAL_ON (1ULL << 62)
#define SCX_DSQ_INVALID (SCX_DSQ_FLAG_BUILTIN | 0)
#define SCX_DSQ_GLOBAL (SCX_DSQ_FLAG_BUILTIN | 1)
#define SCX_DSQ_LOCAL (SCX_DSQ_FLAG_BUILTIN | 2)
#define SCX_DSQ_LOCAL_ON (SCX_DSQ_FLAG_BUILTIN | SCX_DSQ_FLAG_LOCAL_ON)
#define SCX_DSQ_LOCAL_CPU_MASK 0xffffffffULL
#define SCX_ENQ_WAKEUP 1ULL
#define SCX_ENQ_HEAD 0x10ULL
#define SCX_ENQ_CPU_SELECTED 0x400ULL
#define SCX_ENQ_PREEMPT (1ULL << 32)
#define SCX_ENQ_REENQ (1ULL << 40)
#define SCX_ENQ_LAST (1ULL << 41)
#define SCX_DEQ_SLEEP 1ULL
#define SCX_WAKE_FORK 4ULL
#define SCX_WAKE_TTWU 8ULL
#define SCX_WAKE_SYNC 16ULL
#define SCX_KICK_IDLE 1ULL
#define SCX_KICK_PREEMPT 2ULL
#define SCX_KICK_WAIT 4ULL
#define SCX_PICK_IDLE_CORE 1ULL
#define SCX_OPS_KEEP_BUILTIN_IDLE 1ULL
#define SCX_OPS_ENQ_LAST 2ULL
#define SCX_OPS_ENQ_EXITING 4ULL
#define SCX_OPS_SWITCH_PARTIAL 8ULL
#define SCX_OPS_HAS_CGROUP_WEIGHT (1ULL << 16)
#define SCX_TASK_QUEUED 1
#define PF_IDLE 0x2
#define PF_EXITING 0x4
#define PF_KTHREAD 0x200000

/* ---- sched_ext kfuncs (6.13+ names, with the 6.12 spellings) ---- */
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
void scx_bpf_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags) __ksym __weak;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym __weak;
void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
void scx_bpf_dispatch_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags) __ksym __weak;
bool scx_bpf_consume(u64 dsq_id) __ksym __weak;
bool scx_bpf_dsq_move(struct bpf_iter_scx_dsq *it, struct task_struct *p, u64 dsq_id, u64 enq_flags) __ksym __weak;
bool scx_bpf_dsq_move_vtime(struct bpf_iter_scx_dsq *it, struct task_struct *p, u64 dsq_id, u64 enq_flags) __ksym __weak;
void scx_bpf_dsq_move_set_slice(struct bpf_iter_scx_dsq *it, u64 slice) __ksym __weak;
void scx_bpf_dsq_move_set_vtime(struct bpf_iter_scx_dsq *it, u64 vtime) __ksym __weak;
u32 scx_bpf_dispatch_nr_slots(void) __ksym;
void scx_bpf_dispatch_cancel(void) __ksym;
u32 scx_bpf_reenqueue_local(void) __ksym;
s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym;
void scx_bpf_destroy_dsq(u64 dsq_id) __ksym;
s32 scx_bpf_dsq_nr_queued(u64 dsq_id) __ksym;
int bpf_iter_scx_dsq_new(struct bpf_iter_scx_dsq *it, u64 dsq_id, u64 flags) __ksym __weak;
struct task_struct *bpf_iter_scx_dsq_next(struct bpf_iter_scx_dsq *it) __ksym __weak;
void bpf_iter_scx_dsq_destroy(struct bpf_iter_scx_dsq *it) __ksym __weak;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags, bool *is_idle) __ksym;
bool scx_bpf_test_and_clear_cpu_idle(s32 cpu) __ksym;
s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, u64 flags) __ksym;
s32 scx_bpf_pick_any_cpu(const struct cpumask *cpus_allowed, u64 flags) __ksym;
const struct cpumask *scx_bpf_get_idle_cpumask(void) __ksym;
const struct cpumask *scx_bpf_get_idle_smtmask(void) __ksym;
void scx_bpf_put_idle_cpumask(const struct cpumask *cpumask) __ksym;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) __ksym;
void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym;
void scx_bpf_exit_bstr(s64 exit_code, char *fmt, unsigned long long *data, u32 data__sz) __ksym;
void scx_bpf_dump_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym __weak;
u32 scx_bpf_cpuperf_cap(s32 cpu) __ksym __weak;
u32 scx_bpf_cpuperf_cur(s32 cpu) __ksym __weak;
void scx_bpf_cpuperf_set(s32 cpu, u32 perf) __ksym __weak;
u32 scx_bpf_nr_cpu_ids(void) __ksym __weak;
const struct cpumask *scx_bpf_get_possible_cpumask(void) __ksym __weak;
const struct cpumask *scx_bpf_get_online_cpumask(void) __ksym __weak;
void scx_bpf_put_cpumask(const struct cpumask *cpumask) __ksym __weak;
bool scx_bpf_task_running(const struct task_struct *p) __ksym;
s32 scx_bpf_task_cpu(const struct task_struct *p) __ksym;
struct cgroup *scx_bpf_task_cgroup(struct task_struct *p) __ksym __weak;
u64 scx_bpf_now(void) __ksym __weak;

/* Insert and move under whichever name the kernel has (6.12 vs 6.13+). */
#define scx_bpf_dsq_insert_compat(p, dsq, slice, flags)                        \
	(bpf_ksym_exists(scx_bpf_dsq_insert) ? scx_bpf_dsq_insert(p, dsq, slice, flags) \
					     : scx_bpf_dispatch(p, dsq, slice, flags))
#define scx_bpf_dsq_insert_vtime_compat(p, dsq, slice, vtime, flags)            \
	(bpf_ksym_exists(scx_bpf_dsq_insert_vtime)                              \
		 ? scx_bpf_dsq_insert_vtime(p, dsq, slice, vtime, flags)        \
		 : scx_bpf_dispatch_vtime(p, dsq, slice, vtime, flags))
#define scx_bpf_dsq_move_to_local_compat(dsq)                                  \
	(bpf_ksym_exists(scx_bpf_dsq_move_to_local) ? scx_bpf_dsq_move_to_local(dsq) \
						    : scx_bpf_consume(dsq))

/* scx_bpf_error/exit: pack the arguments into a u64 array for the *_bstr kfuncs. */
#define ___scx_bstr(call, fmt, args...)                                        \
	({                                                                     \
		static char ___fmt[] = fmt;                                    \
		unsigned long long ___param[] = { 0, ##args };                 \
		call(___fmt, &___param[1], sizeof(___param) - 8);              \
	})
#define scx_bpf_error(fmt, args...)                                            \
	___scx_bstr(scx_bpf_error_bstr, __FILE__ ":%d: " fmt, __LINE__, ##args)
#define scx_bpf_exit(code, fmt, args...)                                       \
	({                                                                     \
		static char ___fmt[] = fmt;                                    \
		unsigned long long ___param[] = { 0, ##args };                 \
		scx_bpf_exit_bstr(code, ___fmt, &___param[1], sizeof(___param) - 8); \
	})

/* ---- generic kfuncs ---- */
struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
struct bpf_cpumask *bpf_cpumask_acquire(struct bpf_cpumask *cpumask) __ksym;
void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
u32 bpf_cpumask_first(const struct cpumask *cpumask) __ksym;
u32 bpf_cpumask_first_zero(const struct cpumask *cpumask) __ksym;
void bpf_cpumask_set_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
void bpf_cpumask_clear_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __ksym;
bool bpf_cpumask_test_and_set_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
bool bpf_cpumask_test_and_clear_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
void bpf_cpumask_setall(struct bpf_cpumask *cpumask) __ksym;
void bpf_cpumask_clear(struct bpf_cpumask *cpumask) __ksym;
bool bpf_cpumask_and(struct bpf_cpumask *dst, const struct cpumask *src1, const struct cpumask *src2) __ksym;
void bpf_cpumask_or(struct bpf_cpumask *dst, const struct cpumask *src1, const struct cpumask *src2) __ksym;
void bpf_cpumask_xor(struct bpf_cpumask *dst, const struct cpumask *src1, const struct cpumask *src2) __ksym;
bool bpf_cpumask_equal(const struct cpumask *src1, const struct cpumask *src2) __ksym;
bool bpf_cpumask_intersects(const struct cpumask *src1, const struct cpumask *src2) __ksym;
bool bpf_cpumask_subset(const struct cpumask *src1, const struct cpumask *src2) __ksym;
bool bpf_cpumask_empty(const struct cpumask *cpumask) __ksym;
bool bpf_cpumask_full(const struct cpumask *cpumask) __ksym;
void bpf_cpumask_copy(struct bpf_cpumask *dst, const struct cpumask *src) __ksym;
u32 bpf_cpumask_any_distribute(const struct cpumask *cpumask) __ksym;
u32 bpf_cpumask_weight(const struct cpumask *cpumask) __ksym;
void bpf_rcu_read_lock(void) __ksym;
void bpf_rcu_read_unlock(void) __ksym;
int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
#define cast_mask(m) ((const struct cpumask *)(m))

/* bpf_for(i, start, end): i runs over [start, end) through the kernel's numeric iterator, so
 * the verifier sees a bounded loop. bpf_repeat(n): n times. */
#define bpf_for(i, start, end)                                                 \
	for (struct bpf_iter_num ___it __attribute__((cleanup(bpf_iter_num_destroy))), \
	     *___p __attribute__((unused)) = (bpf_iter_num_new(&___it, (start), (end)), (void *)0); \
	     ({                                                                \
		     int *___t = bpf_iter_num_next(&___it);                    \
		     ___t && ((i) = *___t, 1);                                 \
	     });)
#define bpf_repeat(n)                                                          \
	for (struct bpf_iter_num ___it __attribute__((cleanup(bpf_iter_num_destroy))), \
	     *___p __attribute__((unused)) = (bpf_iter_num_new(&___it, 0, (n)), (void *)0); \
	     bpf_iter_num_next(&___it);)

#endif
