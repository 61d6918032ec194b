/**
 * What the verifier needs to know about a sched_ext program that only the sched_ext side knows:
 * which callback it is attached to, that callback's arguments (and which may be NULL), the kfuncs
 * it may call (context.ts, the same table the core enforces at run time), and which task_struct
 * fields a scheduler may write.
 */
import { fieldOf, unwrap, type CType, type PtrType, type RecordType } from '../../bpf/ctypes.ts';
import type { BpfObject, ProgramSpec } from '../../bpf/loader.ts';
import type { ProgramContext } from '../../bpf/verifier/analyze.ts';
import { KERNEL_TYPES, schedExtOps, taskStruct } from '../kernel-types.ts';
import { kfuncContextProblem, type KernelFlavour } from './context.ts';

/**
 * Callback arguments the kernel declares nullable (its ops stubs name them `*__nullable`):
 * dispatch's `prev` (no previous task) and yield's `to` (a plain yield).
 */
const NULLABLE: Readonly<Record<string, readonly string[]>> = { dispatch: ['prev'], yield: ['to'] };

/** task_struct bytes a sched_ext program may write (the kernel's bpf_scx_btf_struct_access). */
const WRITABLE_TASK_FIELDS = ['scx.slice', 'scx.dsq_vtime'].map((path) => {
  const f = fieldOf(taskStruct, path);
  return { offset: f.offset, end: f.offset + 8 };
});

const RECORDS = new Map(
  KERNEL_TYPES.filter((t): t is RecordType => t.kind === 'struct' || t.kind === 'union').map((t) => [t.name, t]),
);

/** The context of `prog` if a `sched_ext_ops` variable of `obj` attaches it to a callback. */
export function scxProgramContext(obj: BpfObject, prog: ProgramSpec, flavour: KernelFlavour): ProgramContext | undefined {
  for (const ops of obj.structOps) {
    if (ops.typeName !== 'sched_ext_ops') continue;
    for (const [callback, progName] of ops.callbacks) {
      if (progName !== prog.name) continue;
      const member = schedExtOps.members.find((m) => m.name === callback);
      if (!member) return undefined; // a member this kernel lacks; struct_ops attach reports it
      const proto = unwrap((unwrap(member.type) as PtrType).to);
      if (proto.kind !== 'func_proto') return undefined;
      const nullable = NULLABLE[callback] ?? [];
      return {
        name: callback,
        args: proto.params.map((p: { name: string; type: CType }) => ({ type: p.type, nullable: nullable.includes(p.name) })),
        sleepable: prog.kind?.sleepable ?? false,
        kfuncProblem: (kfunc, context) => kfuncContextProblem(kfunc, context, flavour),
        fieldWritable: (rec, offset, size) =>
          rec === taskStruct && WRITABLE_TASK_FIELDS.some((f) => offset >= f.offset && offset + size <= f.end),
        kernelType: (name) => RECORDS.get(name),
      };
    }
  }
  return undefined;
}
