# fifo-asm: fifo.bpf.c's policy, written in BPF assembly (assembled by `scx-sim asm`).
#
# One global first-in first-out queue (user DSQ 0, created in init). A waking task goes
# straight to the local DSQ of an idle CPU when the default CPU selection finds one; otherwise
# it joins the tail of the shared queue, which every CPU's dispatch consumes from the head.
# Array map `stats` counts the two paths: [0] tasks placed directly on an idle CPU,
# [1] tasks queued in the shared DSQ.
# Good at: throughput with little scheduler overhead, fairness in order of arrival.
# Bad at: latency under load (a short task waits behind every long one queued before it),
# and it ignores priorities (nice) and cache locality.
#
# Callbacks get r1 = an array of u64 arguments (the kernel's trampoline layout). The constants
# are the 6.12 kernel's: SCX_DSQ_LOCAL = 0x8000000000000002, SCX_SLICE_DFL = 20000000 ns.

.license "GPL"
.map stats array key=4 value=8 max=2

# s32 select_cpu(struct task_struct *p, s32 prev_cpu, u64 wake_flags)
.program fifo_asm_select_cpu
    ldxdw %r6, [%r1]                # p
    ldxdw %r2, [%r1+8]              # prev_cpu
    ldxdw %r3, [%r1+16]             # wake_flags
    stb [%r10-1], 0                 # bool is_idle = false
    mov %r4, %r10
    add %r4, -1                     # &is_idle
    mov %r1, %r6
    call kfunc scx_bpf_select_cpu_dfl
    mov %r7, %r0                    # the CPU to return
    ldxb %r1, [%r10-1]
    jeq %r1, 0, done                # not idle: enqueue will queue the task
    mov %r1, %r6
    lddw %r2, 0x8000000000000002    # SCX_DSQ_LOCAL of the selected CPU
    mov %r3, 20000000               # SCX_SLICE_DFL
    mov %r4, 0
    call kfunc scx_bpf_dsq_insert
    mov %r1, 0
    call local count                # stats[0]++: placed on an idle CPU
done:
    mov32 %r0, %r7
    exit

# stats[r1]++: a subprogram (bpf-to-bpf call, its own stack frame) of this program only.
count:
    stxw [%r10-4], %r1
    lddw %r1, map stats
    mov %r2, %r10
    add %r2, -4
    call 1                          # bpf_map_lookup_elem
    jeq %r0, 0, count_out
    mov %r1, 1
    lock add [%r0], %r1
count_out:
    mov %r0, 0
    exit

# void enqueue(struct task_struct *p, u64 enq_flags)
.program fifo_asm_enqueue
    ldxdw %r4, [%r1+8]              # enq_flags
    ldxdw %r1, [%r1]                # p
    mov %r2, 0                      # the shared DSQ
    mov %r3, 20000000               # SCX_SLICE_DFL
    call kfunc scx_bpf_dsq_insert
    stw [%r10-8], 1                 # stats[1]++: queued (inline this time)
    lddw %r1, map stats
    mov %r2, %r10
    add %r2, -8
    call 1                          # bpf_map_lookup_elem
    jeq %r0, 0, out
    mov %r1, 1
    lock add [%r0], %r1
out:
    mov %r0, 0
    exit

# void dispatch(s32 cpu, struct task_struct *prev)
.program fifo_asm_dispatch
    mov %r1, 0                      # the shared DSQ
    call kfunc scx_bpf_dsq_move_to_local
    mov %r0, 0
    exit

# s32 init(void): create the shared DSQ on any NUMA node
.program fifo_asm_init sleepable
    mov %r1, 0
    mov %r2, -1
    call kfunc scx_bpf_create_dsq
    exit

.ops fifo_asm_ops select_cpu=fifo_asm_select_cpu enqueue=fifo_asm_enqueue
.ops fifo_asm_ops dispatch=fifo_asm_dispatch init=fifo_asm_init
.ops fifo_asm_ops name="fifo_asm"
