/**
 * Program section names by libbpf's SEC() conventions: which kind of program a section holds,
 * whether it is sleepable, and whether the simulator can run it. Programs the simulator cannot
 * attach (tracing, networking) are listed by `inspect`, not rejected.
 */

export interface SectionKind {
  /** libbpf's name for the program type, e.g. `struct_ops`, `tracing`, `kprobe`. */
  type: string;
  sleepable: boolean;
  /** The simulator can run it: struct_ops callbacks and syscall programs. */
  runnable: boolean;
}

/** Section prefixes, longest first so `struct_ops.s/` wins over `struct_ops`. */
const PREFIXES: [string, string, boolean, boolean][] = [
  // prefix, type, sleepable, runnable
  ['struct_ops.s/', 'struct_ops', true, true],
  ['struct_ops/', 'struct_ops', false, true],
  ['struct_ops.s', 'struct_ops', true, true],
  ['struct_ops', 'struct_ops', false, true],
  ['syscall', 'syscall', true, true],
  ['fentry.s/', 'tracing', true, false],
  ['fexit.s/', 'tracing', true, false],
  ['fmod_ret.s/', 'tracing', true, false],
  ['fentry/', 'tracing', false, false],
  ['fexit/', 'tracing', false, false],
  ['fmod_ret/', 'tracing', false, false],
  ['freplace/', 'ext', false, false],
  ['tp_btf/', 'tracing', false, false],
  ['iter.s/', 'tracing', true, false],
  ['iter/', 'tracing', false, false],
  ['lsm.s/', 'lsm', true, false],
  ['lsm_cgroup/', 'lsm', false, false],
  ['lsm/', 'lsm', false, false],
  ['kprobe.multi/', 'kprobe', false, false],
  ['kretprobe.multi/', 'kprobe', false, false],
  ['kprobe/', 'kprobe', false, false],
  ['kretprobe/', 'kprobe', false, false],
  ['uprobe.multi.s/', 'kprobe', true, false],
  ['uprobe.multi/', 'kprobe', false, false],
  ['uprobe.s/', 'kprobe', true, false],
  ['uprobe/', 'kprobe', false, false],
  ['uretprobe.s/', 'kprobe', true, false],
  ['uretprobe/', 'kprobe', false, false],
  ['ksyscall/', 'kprobe', false, false],
  ['kretsyscall/', 'kprobe', false, false],
  ['usdt/', 'kprobe', false, false],
  ['raw_tracepoint.w/', 'raw_tracepoint_writable', false, false],
  ['raw_tp.w/', 'raw_tracepoint_writable', false, false],
  ['raw_tracepoint/', 'raw_tracepoint', false, false],
  ['raw_tp/', 'raw_tracepoint', false, false],
  ['tracepoint/', 'tracepoint', false, false],
  ['tp/', 'tracepoint', false, false],
  ['perf_event', 'perf_event', false, false],
  ['xdp.frags/', 'xdp', false, false],
  ['xdp/', 'xdp', false, false],
  ['xdp', 'xdp', false, false],
  ['tcx/', 'sched_cls', false, false],
  ['tc/', 'sched_cls', false, false],
  ['tc', 'sched_cls', false, false],
  ['classifier', 'sched_cls', false, false],
  ['action', 'sched_act', false, false],
  ['netkit/', 'sched_cls', false, false],
  ['socket', 'socket_filter', false, false],
  ['sk_reuseport', 'sk_reuseport', false, false],
  ['cgroup_skb/', 'cgroup_skb', false, false],
  ['cgroup/', 'cgroup', false, false],
  ['sockops', 'sock_ops', false, false],
  ['sk_skb', 'sk_skb', false, false],
  ['sk_msg', 'sk_msg', false, false],
  ['sk_lookup', 'sk_lookup', false, false],
  ['lirc_mode2', 'lirc_mode2', false, false],
  ['flow_dissector', 'flow_dissector', false, false],
  ['lwt_in', 'lwt_in', false, false],
  ['lwt_out', 'lwt_out', false, false],
  ['lwt_xmit', 'lwt_xmit', false, false],
  ['lwt_seg6local', 'lwt_seg6local', false, false],
  ['netfilter', 'netfilter', false, false],
];

/** The kind of program a section holds, or undefined when libbpf would not recognise it. */
export function sectionKind(section: string): SectionKind | undefined {
  for (const [prefix, type, sleepable, runnable] of PREFIXES) {
    const exact = !prefix.endsWith('/');
    if (exact ? section === prefix || section.startsWith(`${prefix}/`) : section.startsWith(prefix)) {
      return { type, sleepable, runnable };
    }
  }
  return undefined;
}
