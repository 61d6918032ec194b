/**
 * A kfunc as the simulated kernel exports it: a name programs resolve by (libbpf strips any
 * `___flavour` suffix first), a C prototype that goes into the kernel BTF (whose FUNC id becomes
 * the call's immediate), the flags the kernel registers it with (what the verifier needs beyond
 * the prototype), and the implementation, called like a helper.
 */
import type { FuncProtoType } from '../ctypes.ts';
import type { HelperFn } from '../helpers.ts';

/** The kernel's KF_* kfunc flags (include/linux/btf.h), same bit values. */
export const KF = {
  /** Returns a reference the program must release. */
  ACQUIRE: 1 << 0,
  /** Releases the reference passed as its (only) pointer argument. */
  RELEASE: 1 << 1,
  /** May return NULL. */
  RET_NULL: 1 << 2,
  /** Pointer arguments must be trusted (referenced or passed in by the kernel). */
  TRUSTED_ARGS: 1 << 4,
  /** May sleep: only sleepable programs may call it. */
  SLEEPABLE: 1 << 5,
  /** Pointer arguments may also be RCU-protected pointers. */
  RCU: 1 << 7,
  /** Open-coded iterator constructor, step and destructor. */
  ITER_NEW: 1 << 8,
  ITER_NEXT: 1 << 9,
  ITER_DESTROY: 1 << 10,
} as const;

export interface KfuncDef {
  readonly name: string;
  readonly proto: FuncProtoType;
  readonly fn: HelperFn;
  /** KF_* bits; 0 when absent. */
  readonly flags?: number;
}
