/**
 * The BPF-backed side of the SchedExtOps seam (design.md §2): a loaded object's
 * `struct sched_ext_ops` variable, its members matched BY NAME against the simulated kernel's
 * `sched_ext_ops` (as libbpf does: unknown members must be zero), the data fields validated as
 * the kernel's enable path does, and each callback invoked with its arguments laid out as the
 * kernel's BPF trampoline does: an array of u64 slots whose address is r1.
 */
import { unwrap, type PtrType } from '../../bpf/ctypes.ts';
import { LoadError, type LoadedObject, type StructOpsVar } from '../../bpf/loader.ts';
import type { Executable } from '../../bpf/engine.ts';
import { schedExtOps, SCX_OPS_NAME_LEN } from '../kernel-types.ts';

/** Callbacks in the kernel's order, with their argument counts (from the kernel type itself). */
export const CALLBACKS: readonly { name: string; args: number }[] = schedExtOps.members
  .filter((m) => m.type.kind === 'ptr' && unwrap((m.type as PtrType).to).kind === 'func_proto')
  .map((m) => {
    const proto = unwrap((m.type as PtrType).to);
    return { name: m.name, args: proto.kind === 'func_proto' ? proto.params.length : 0 };
  });
export type CallbackName = string;
const CALLBACK_INDEX = new Map(CALLBACKS.map((c, i) => [c.name, i]));

/** Callbacks that may be sleepable (struct_ops.s/): the kernel's list. */
const SLEEPABLE = new Set(['init_task', 'init', 'exit', 'cgroup_init', 'cgroup_exit', 'cgroup_prep_move', 'cpu_online', 'cpu_offline']);

/** SCX_OPS_* flags the 6.12 baseline accepts. */
export const SCX_OPS_ALL_FLAGS_612 = 0x1000fn;
export const SCX_OPS_ENQ_LAST = 2n;
const MAX_TIMEOUT_MS = 30_000;

export class BpfSchedExtOps {
  readonly name: string;
  readonly flags: bigint;
  /** 0 in the object means the kernel default (30 s). */
  readonly timeoutMs: number;
  readonly dispatchMaxBatch: number;
  readonly exitDumpLen: number;
  readonly hotplugSeq: bigint;
  private readonly progs: (Executable | undefined)[];
  private readonly ctx: number;

  constructor(
    readonly loaded: LoadedObject,
    readonly ops: StructOpsVar,
  ) {
    const file = loaded.object.file;
    const where = `${file}: struct_ops '${ops.name}'`;
    if (ops.typeName !== 'sched_ext_ops') throw new LoadError(`${where}: type struct ${ops.typeName}, expected struct sched_ext_ops`);
    const view = new DataView(ops.data.buffer, ops.data.byteOffset, ops.data.byteLength);
    const num = (field: string): bigint => {
      const f = ops.fields.get(field);
      if (!f) return 0n;
      if (f.size === 8) return view.getBigUint64(f.offset, true);
      if (f.size === 4) return BigInt(view.getUint32(f.offset, true));
      throw new LoadError(`${where}: member '${field}' is ${f.size} bytes, expected 4 or 8`);
    };
    // Members the simulated kernel does not have must be zero (libbpf drops them).
    for (const [field, f] of ops.fields) {
      if (schedExtOps.members.some((m) => m.name === field)) continue;
      if (ops.data.subarray(f.offset, f.offset + f.size).some((b) => b !== 0)) {
        throw new LoadError(`${where}: member '${field}' is set, but the simulated kernel's sched_ext_ops has no such member`);
      }
    }
    for (const cb of ops.callbacks.keys()) {
      if (!CALLBACK_INDEX.has(cb)) throw new LoadError(`${where}: callback '${cb}' is not a sched_ext_ops callback of the simulated kernel`);
    }
    const nameField = ops.fields.get('name');
    const nameBytes = nameField ? ops.data.subarray(nameField.offset, nameField.offset + Math.min(nameField.size, SCX_OPS_NAME_LEN)) : new Uint8Array();
    const nul = nameBytes.indexOf(0);
    this.name = new TextDecoder().decode(nameBytes.subarray(0, nul < 0 ? nameBytes.length : nul));
    if (!/^[A-Za-z0-9_.]+$/.test(this.name)) throw new LoadError(`${where}: name '${this.name}' must be non-empty and only letters, digits, '_' and '.' (EINVAL)`);
    this.flags = num('flags');
    const unknown = this.flags & ~SCX_OPS_ALL_FLAGS_612;
    if (unknown) throw new LoadError(`${where}: flags 0x${this.flags.toString(16)} include unknown bits 0x${unknown.toString(16)} (EINVAL)`);
    const timeout = Number(num('timeout_ms'));
    if (timeout > MAX_TIMEOUT_MS) throw new LoadError(`${where}: timeout_ms ${timeout} exceeds ${MAX_TIMEOUT_MS} (E2BIG)`);
    this.timeoutMs = timeout || MAX_TIMEOUT_MS;
    const batch = Number(num('dispatch_max_batch'));
    if (batch > 0x7fff_ffff) throw new LoadError(`${where}: dispatch_max_batch ${batch} exceeds INT_MAX (E2BIG)`);
    this.dispatchMaxBatch = batch || 32;
    this.exitDumpLen = Number(num('exit_dump_len')) || 32768;
    this.hotplugSeq = num('hotplug_seq');
    if (this.flags & SCX_OPS_ENQ_LAST && !ops.callbacks.has('enqueue')) {
      throw new LoadError(`${where}: SCX_OPS_ENQ_LAST requires an enqueue callback`);
    }

    this.progs = CALLBACKS.map((cb) => {
      const progName = ops.callbacks.get(cb.name);
      if (!progName) return undefined;
      const prog = loaded.programs.get(progName);
      if (!prog) throw new LoadError(`${where}: callback '${cb.name}' points at '${progName}', which is not a program of the object`);
      if (prog.kind?.type !== 'struct_ops') throw new LoadError(`${where}: callback '${cb.name}' is '${progName}' in section '${prog.section}', expected a struct_ops/ program`);
      if (prog.kind.sleepable && !SLEEPABLE.has(cb.name)) throw new LoadError(`${where}: callback '${cb.name}' may not be sleepable (section '${prog.section}')`);
      return prog.exe;
    });
    // The argument array: kernel memory the program may read but not write.
    this.ctx = loaded.mem.alloc('struct_ops ctx', 8 * 6, { writable: false }).start;
  }

  has(cb: CallbackName): boolean {
    const i = CALLBACK_INDEX.get(cb);
    return i !== undefined && this.progs[i] !== undefined;
  }

  /**
   * Call a callback with up to five integer arguments (addresses, CPU ids, flags below 2^53;
   * negative values are sign-extended). Returns r0's low 32 bits as a signed int.
   */
  call(cb: CallbackName, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0): number {
    const i = CALLBACK_INDEX.get(cb);
    const exe = i === undefined ? undefined : this.progs[i];
    if (!exe) throw new LoadError(`${this.loaded.object.file}: callback '${cb}' is not implemented`);
    const view = this.loaded.mem.view;
    const at = this.ctx;
    setU64(view, at, a0);
    setU64(view, at + 8, a1);
    setU64(view, at + 16, a2);
    setU64(view, at + 24, a3);
    setU64(view, at + 32, a4);
    return exe.runCtx(at);
  }

  /** The full 64-bit r0 of the last call. */
  lastR0(): bigint {
    return this.loaded.mem.view.getBigUint64(this.loaded.mem.callArea, true);
  }

  /** BPF instructions the last call executed. */
  lastInsnCount(cb: CallbackName): number {
    const i = CALLBACK_INDEX.get(cb);
    return i === undefined ? 0 : (this.progs[i]?.lastInsnCount() ?? 0);
  }
}

/** Store an integer as a u64 without BigInt: negative values as two's complement. */
function setU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v >>> 0, true);
  view.setUint32(at + 4, Math.floor(v / 0x1_0000_0000) >>> 0, true);
}

/** The single struct_ops variable of type sched_ext_ops in an object. */
export function schedExtOpsOf(loaded: LoadedObject): BpfSchedExtOps {
  const vars = loaded.object.structOps.filter((s) => s.typeName === 'sched_ext_ops');
  if (vars.length !== 1) {
    throw new LoadError(`${loaded.object.file}: expected one struct sched_ext_ops variable in .struct_ops(.link), found ${vars.length}`);
  }
  return new BpfSchedExtOps(loaded, vars[0]);
}

