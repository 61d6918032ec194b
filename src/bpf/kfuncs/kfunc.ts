/**
 * A kfunc as the simulated kernel exports it: a name programs resolve by (libbpf strips any
 * `___flavour` suffix first), a C prototype that goes into the kernel BTF (whose FUNC id becomes
 * the call's immediate), and the implementation, called like a helper.
 */
import type { FuncProtoType } from '../ctypes.ts';
import type { HelperFn } from '../helpers.ts';

export interface KfuncDef {
  readonly name: string;
  readonly proto: FuncProtoType;
  readonly fn: HelperFn;
}
