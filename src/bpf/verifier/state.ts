/**
 * The abstract state the path-sensitive verifier (analyze.ts) carries along each path: what every
 * register and stack byte may hold, the references the path holds, and the locks it is inside.
 *
 * Pointers carry the ids the kernel's verifier uses: a `nullId` shared by every copy of a pointer
 * that may be NULL (one test against 0 settles all copies), and a `refId` naming an acquired
 * reference (a cpumask, a ring buffer record, an iterator) that some path must release. Ids are
 * only names: comparing two states maps one state's ids onto the other's.
 */
import { NUM_REGS, STACK_SIZE } from '../isa.ts';
import type { CType, RecordType } from '../ctypes.ts';
import type { MapField } from '../maps/map.ts';
import { Scalar } from './scalar.ts';
import { Tnum } from './tnum.ts';

/** A map as the verifier sees it: its shape, not its contents. */
export interface MapDesc {
  readonly name: string;
  /** enum bpf_map_type. */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Frozen for programs (`.rodata`, BPF_F_RDONLY_PROG). */
  readonly readonly: boolean;
  /** Spin locks, timers, kptrs in the value. */
  readonly fields: readonly MapField[];
}

/** One typed argument slot of a struct_ops context (the trampoline's u64 array). */
export interface CtxArg {
  readonly type: CType;
  /** The kernel declares the argument nullable (e.g. dispatch's `prev`). */
  readonly nullable: boolean;
}

export type PtrKind = 'stack' | 'ctx' | 'map' | 'mapval' | 'btf' | 'mem' | 'func';

/** A pointer. Every field is present on every pointer (one shape), unused ones at their default. */
export interface PtrReg {
  readonly k: PtrKind;
  readonly off: Scalar;
  /** stack: the index of the frame it points into (0 = outermost). */
  readonly frame: number;
  /** ctx, mapval, mem: bytes addressable from offset 0; btf: the struct's size. */
  readonly size: number;
  readonly writable: boolean;
  /** map, mapval: which map. */
  readonly map: MapDesc | null;
  /** btf: the kernel struct pointed to. */
  readonly rec: RecordType | null;
  /** btf: may be passed to kfuncs (an argument of the callback, a kfunc's result, an RCU field). */
  readonly trusted: boolean;
  /** > 0: may be NULL until tested; copies share the id. */
  readonly nullId: number;
  /** > 0: holds the acquired reference with this id. */
  readonly refId: number;
  /** func: the callback's first instruction. */
  readonly target: number;
  /** mem: a ring buffer record (bpf_ringbuf_reserve). */
  readonly ringbuf: boolean;
  /** ctx of a struct_ops program: the callback's arguments. */
  readonly args: readonly CtxArg[] | null;
}

/** An open-coded iterator living in stack slots (bpf_iter_num, bpf_iter_scx_dsq). */
export interface IterReg {
  readonly k: 'iter';
  /** The iterator struct's name, e.g. `bpf_iter_num`. */
  readonly type: string;
  readonly size: number;
  readonly refId: number;
  /**
   * Iterations taken (each non-NULL `next` adds one). States compare without it, except in the
   * infinite-loop check: a loop driven by an iterator ends when the iterator does.
   */
  readonly depth: number;
  /** `next` returned NULL: the loop over it is over, and it only yields NULL from now on. */
  readonly ended: boolean;
}

export type Reg =
  /** `voidExit`: r0 after a call to a subprogram that returned nothing, from that exit. */
  | { readonly k: 'uninit'; readonly voidExit?: number }
  /**
   * `id` > 0 links copies of one value (a move keeps the id): a comparison that narrows one
   * narrows them all, as the kernel's linked scalars do.
   */
  | { readonly k: 'scalar'; readonly v: Scalar; readonly id: number }
  /** A copy of a pointer whose reference was released: any use is a use after release. */
  | { readonly k: 'released'; readonly what: string; readonly pc: number }
  | PtrReg;

export type ValueReg = Exclude<Reg, { k: 'uninit' } | { k: 'released' }>;

export const UNINIT: Reg = { k: 'uninit' };
export const scalar = (v: Scalar, id = 0): Reg => ({ k: 'scalar', v, id });
export const UNKNOWN: Reg = scalar(Scalar.unknown());

const PTR_DEFAULTS = {
  frame: 0,
  size: 0,
  writable: false,
  map: null,
  rec: null,
  trusted: false,
  nullId: 0,
  refId: 0,
  target: -1,
  ringbuf: false,
  args: null,
} as const;

/** A pointer of kind `k`; fields not given take their defaults. */
export function pointer(k: PtrKind, fields: Partial<Omit<PtrReg, 'k'>> = {}): PtrReg {
  return { k, off: fields.off ?? constant(0n), ...PTR_DEFAULTS, ...fields } as PtrReg;
}

/** A scalar known to be 0: what NULL is once a pointer has been tested (or a literal NULL). */
export const isNull = (r: Reg): boolean => r.k === 'scalar' && r.v.isConst() && r.v.umin === 0n;

export const isPtr = (r: Reg): r is PtrReg =>
  r.k === 'stack' || r.k === 'ctx' || r.k === 'map' || r.k === 'mapval' || r.k === 'btf' || r.k === 'mem' || r.k === 'func';

/**
 * Scalar.const without its general reduction (a constant is already reduced in every view);
 * the constructor trusts its caller, and test/bpf/verifier/analyze.test.ts checks that the two
 * agree. Constants are on the hot path of every counted loop.
 */
export function constant(v: bigint): Scalar {
  const u = BigInt.asUintN(64, v);
  const lo = u & 0xffff_ffffn;
  return new Scalar(Tnum.const(u), u, u, BigInt.asIntN(64, u), BigInt.asIntN(64, u), lo, lo, BigInt.asIntN(32, lo), BigInt.asIntN(32, lo));
}

/** The value a register or stack byte holds, for messages. */
export function describe(r: Reg | IterReg): string {
  switch (r.k) {
    case 'uninit':
      return 'nothing';
    case 'scalar':
      return r.v.isConst() ? `the scalar ${BigInt.asIntN(64, r.v.umin)}` : 'a scalar';
    case 'released':
      return `${r.what}, already released at instruction ${r.pc}`;
    case 'iter':
      return `a ${r.type} iterator`;
    case 'stack':
      return 'a pointer to the stack';
    case 'ctx':
      return 'the context pointer';
    case 'map':
      return `a pointer to map '${r.map!.name}'`;
    case 'mapval':
      return `${r.nullId ? 'a possibly NULL ' : 'a '}pointer to a value of map '${r.map!.name}'`;
    case 'btf':
      return `${r.nullId ? 'a possibly NULL ' : 'a '}${r.trusted ? '' : 'untrusted '}pointer to struct ${r.rec!.name}`;
    case 'mem':
      return `${r.nullId ? 'a possibly NULL ' : 'a '}pointer to ${r.ringbuf ? 'a ring buffer record' : 'memory'} of ${r.size} bytes`;
    case 'func':
      return `the address of the function at instruction ${r.target}`;
  }
}

// Stack byte kinds.
export const B_UNINIT = 0;
export const B_DATA = 1;
export const B_SPILL = 2;
/** Part of an iterator; the IterReg sits in `spills` at the iterator's first slot. */
export const B_ITER = 3;

export interface Frame {
  regs: Reg[];
  /** Byte i is frame offset i - 512. */
  bytes: Uint8Array;
  /** The register spilled in each 8-byte slot whose bytes are all B_SPILL, or an iterator. */
  spills: (Reg | IterReg | undefined)[];
  /** First instruction of the subprogram running in this frame. */
  subprog: number;
  /** The `call local` (or helper call, for callbacks) that made this frame (-1 for the outermost). */
  callsite: number;
  /** A callback frame: the r0 range its exit must return, and what to call it in messages. */
  callback: CallbackInfo | null;
}

export interface CallbackInfo {
  readonly what: string;
  readonly min: bigint;
  readonly max: bigint;
  /** A root verified on its own with its own kfunc rules (`timer`); else the program's. */
  readonly context?: string;
  /**
   * A callback a helper may call again and again (bpf_loop, bpf_for_each_map_elem): its first
   * instruction and the registers each call starts with.
   */
  readonly repeat?: { readonly target: number; readonly args: readonly Reg[] };
}

/** An acquired reference: what it is and where the path took it. */
export interface Ref {
  readonly id: number;
  readonly pc: number;
  readonly what: string;
}

/** The current frame, the frames of its callers (outermost first), and what the path holds. */
export interface State extends Frame {
  callers: Frame[];
  /** References held; replaced, never mutated, so clones may share it. */
  refs: readonly Ref[];
  /** The spin lock held: where it was taken, and the lock's identity (map name and offset). */
  lock: { readonly pc: number; readonly key: string } | null;
  /** bpf_rcu_read_lock sections open, with the pc of the outermost. */
  rcuDepth: number;
  rcuPc: number;
  /**
   * Repeated calls of a callback made so far on this path. Like an iterator's depth, states
   * compare without it, except in the infinite-loop check.
   */
  repeats: number;
}

export const cloneFrame = (f: Frame): Frame => ({
  regs: f.regs,
  bytes: f.bytes.slice(),
  spills: f.spills.slice(),
  subprog: f.subprog,
  callsite: f.callsite,
  callback: f.callback,
});

export const cloneState = (s: State): State => ({
  regs: s.regs.slice(),
  bytes: s.bytes.slice(),
  spills: s.spills.slice(),
  subprog: s.subprog,
  callsite: s.callsite,
  callback: s.callback,
  callers: s.callers.length ? s.callers.map(cloneFrame) : [],
  refs: s.refs,
  lock: s.lock,
  rcuDepth: s.rcuDepth,
  rcuPc: s.rcuPc,
  repeats: s.repeats,
});

export function newFrame(subprog: number, callsite: number, frameIndex: number, callback: CallbackInfo | null): Frame {
  const regs: Reg[] = new Array(NUM_REGS).fill(UNINIT);
  regs[10] = pointer('stack', { frame: frameIndex });
  return { regs, bytes: new Uint8Array(STACK_SIZE), spills: new Array(STACK_SIZE / 8).fill(undefined), subprog, callsite, callback };
}

/** Frame `index` of a state (0 = outermost): the current frame or one of its callers'. */
export const frameAt = (s: State, index: number): Frame => (index === s.callers.length ? s : s.callers[index]);

/**
 * Rewrite every register and spill of every frame (the current frame's registers in place;
 * callers' register arrays are copied first, since clones share them).
 */
export function mapRegs(s: State, f: (r: Reg) => Reg): void {
  const apply = (fr: Frame, own: boolean): void => {
    let regs = fr.regs;
    for (let i = 0; i < regs.length; i++) {
      const n = f(regs[i]);
      if (n !== regs[i]) {
        if (!own && regs === fr.regs) regs = fr.regs = regs.slice();
        regs[i] = n;
      }
    }
    for (let i = 0; i < fr.spills.length; i++) {
      const sp = fr.spills[i];
      if (!sp || sp.k === 'iter') continue;
      const n = f(sp);
      if (n !== sp) fr.spills[i] = n;
    }
  };
  apply(s, true);
  for (const c of s.callers) apply(c, false);
}

/** Old-to-new id correspondence built while comparing two states. */
class IdMap {
  private readonly fwd = new Map<number, number>();
  private readonly back = new Map<number, number>();
  match(oldId: number, newId: number): boolean {
    if (oldId === 0 || newId === 0) return oldId === newId;
    const f = this.fwd.get(oldId);
    if (f !== undefined) return f === newId;
    if (this.back.has(newId)) return false;
    this.fwd.set(oldId, newId);
    this.back.set(newId, oldId);
    return true;
  }
}

const hasIds = (r: Reg | IterReg): boolean =>
  r.k === 'scalar' ? r.id !== 0 : r.k === 'iter' ? r.refId !== 0 : isPtr(r) ? r.nullId !== 0 || r.refId !== 0 : false;

function ptrFieldsMatch(n: PtrReg, o: PtrReg, ids: IdMap): boolean {
  return (
    n.frame === o.frame &&
    n.size === o.size &&
    n.writable === o.writable &&
    n.map === o.map &&
    n.rec === o.rec &&
    n.trusted === o.trusted &&
    n.target === o.target &&
    n.ringbuf === o.ringbuf &&
    n.args === o.args &&
    ids.match(o.nullId, n.nullId) &&
    ids.match(o.refId, n.refId)
  );
}

function regIncluded(n: Reg | IterReg, o: Reg | IterReg, exact: boolean, ids: IdMap): boolean {
  if (o.k === 'uninit' && !exact) return true; // the old path never read it, or it would have failed
  // Registers are immutable and shared between clones: the same object is the same value, once
  // its ids map consistently.
  if (n === o && !hasIds(n)) return true;
  if (n.k !== o.k) return false;
  switch (n.k) {
    case 'uninit':
      return true;
    case 'scalar': {
      const os = o as { v: Scalar; id: number };
      // A link the old state relied on must exist in the new one too.
      if (os.id && !ids.match(-os.id, n.id ? -n.id : 0)) return false;
      return exact ? n.v.equals(os.v) : n.v.isSubsetOf(os.v);
    }
    case 'released':
      return true;
    case 'iter': {
      const oi = o as IterReg;
      return n.type === oi.type && n.ended === oi.ended && ids.match(oi.refId, n.refId);
    }
    default: {
      const op = o as PtrReg;
      if (!ptrFieldsMatch(n, op, ids)) return false;
      return exact ? n.off.equals(op.off) : n.off.isSubsetOf(op.off);
    }
  }
}

/**
 * Is every concrete state `n` stands for also one `o` stands for (exact: are they equal)? Used for
 * pruning (a state included in a completely verified one needs no more work) and loop detection.
 */
export function stateIncluded(n: State, o: State, exact: boolean): boolean {
  // States in different call contexts never prune each other.
  if (n.subprog !== o.subprog || n.callsite !== o.callsite || n.callers.length !== o.callers.length) return false;
  if (n.rcuDepth !== o.rcuDepth || (n.lock === null) !== (o.lock === null) || (n.lock && n.lock.key !== o.lock!.key)) return false;
  if (n.refs.length !== o.refs.length) return false;
  for (let f = 0; f < n.callers.length; f++) {
    if (n.callers[f].callsite !== o.callers[f].callsite || n.callers[f].subprog !== o.callers[f].subprog) return false;
  }
  const ids = new IdMap();
  if (!frameIncluded(n, o, exact, ids)) return false;
  for (let f = 0; f < n.callers.length; f++) if (!frameIncluded(n.callers[f], o.callers[f], exact, ids)) return false;
  // Each old reference must correspond to a new one of the same kind.
  for (const r of o.refs) {
    if (!n.refs.some((x) => x.what === r.what && ids.match(r.id, x.id))) return false;
  }
  return true;
}

/**
 * Are the two frames' stack byte kinds identical? Most compared states share their stack layout,
 * so four bytes at a time settle it before the byte-by-byte rules are needed.
 */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, STACK_SIZE / 4);
  const y = new Uint32Array(b.buffer, b.byteOffset, STACK_SIZE / 4);
  for (let i = 0; i < STACK_SIZE / 4; i++) if (x[i] !== y[i]) return false;
  return true;
}

function frameIncluded(n: Frame, o: Frame, exact: boolean, ids: IdMap): boolean {
  if (n.callback !== o.callback) return false;
  // Kinds first: a cheap test that rejects most candidates before any range is compared.
  for (let r = 0; r < NUM_REGS; r++) {
    const ok = o.regs[r].k;
    if (ok !== n.regs[r].k && (exact || ok !== 'uninit')) return false;
  }
  for (let r = 0; r < NUM_REGS; r++) if (!regIncluded(n.regs[r], o.regs[r], exact, ids)) return false;
  if (!sameBytes(n.bytes, o.bytes)) for (let i = 0; i < STACK_SIZE; i++) {
    const ob = o.bytes[i];
    const nb = n.bytes[i];
    if (exact || ob === B_ITER || nb === B_ITER) {
      if (nb !== ob) return false;
      continue;
    }
    if (ob === B_UNINIT) continue;
    if (ob === B_DATA) {
      if (nb === B_DATA) continue;
      if (nb === B_SPILL && n.spills[i >> 3]!.k === 'scalar') continue;
      return false;
    }
    if (nb !== B_SPILL) return false;
  }
  for (let s = 0; s < STACK_SIZE / 8; s++) {
    const os = o.spills[s];
    if (!os) continue;
    const ns = n.spills[s];
    if (!ns || !regIncluded(ns, os, exact, ids)) return false;
  }
  return true;
}

/** Does some iterator, or a repeated callback, stand at a different iteration in the two states? */
export function iterationsDiffer(n: State, o: State): boolean {
  if (n.repeats !== o.repeats) return true;
  const frames = (a: Frame, b: Frame): boolean => {
    for (let s = 0; s < STACK_SIZE / 8; s++) {
      const x = a.spills[s];
      const y = b.spills[s];
      if (x && y && x.k === 'iter' && y.k === 'iter' && x.depth !== y.depth) return true;
    }
    return false;
  };
  if (frames(n, o)) return true;
  for (let f = 0; f < n.callers.length && f < o.callers.length; f++) if (frames(n.callers[f], o.callers[f])) return true;
  return false;
}

/**
 * Do the two states differ only in scalar values (same pointers, stack layout, references)? At an
 * iterator's `next` call such states are one loop iteration apart: the verifier widens the scalars
 * that differ instead of walking every iteration.
 */
export function sameShape(n: State, o: State): boolean {
  if (n.subprog !== o.subprog || n.callsite !== o.callsite || n.callers.length !== o.callers.length) return false;
  if (n.rcuDepth !== o.rcuDepth || (n.lock === null) !== (o.lock === null) || n.refs.length !== o.refs.length) return false;
  const ids = new IdMap();
  const shape = (a: Reg | IterReg | undefined, b: Reg | IterReg | undefined): boolean => {
    if (!a || !b) return a === b;
    if (a.k === 'scalar' || b.k === 'scalar') return a.k === b.k;
    return regIncluded(a, b, false, ids) && regIncluded(b, a, false, new IdMap());
  };
  const frames = (a: Frame, b: Frame): boolean => {
    for (let r = 0; r < NUM_REGS; r++) if (!shape(a.regs[r], b.regs[r])) return false;
    for (let i = 0; i < STACK_SIZE; i++) if (a.bytes[i] !== b.bytes[i]) return false;
    for (let s = 0; s < STACK_SIZE / 8; s++) if (!shape(a.spills[s], b.spills[s])) return false;
    return true;
  };
  if (!frames(n, o)) return false;
  for (let f = 0; f < n.callers.length; f++) if (!frames(n.callers[f], o.callers[f])) return false;
  return true;
}

/** Replace in `n` every scalar that differs from the one in the same place of `o` by unknown. */
export function widenScalars(n: State, o: State): void {
  const widen = (a: Reg | IterReg | undefined, b: Reg | IterReg | undefined): Reg | IterReg | undefined =>
    a && b && a.k === 'scalar' && b.k === 'scalar' && !a.v.equals(b.v) ? UNKNOWN : a;
  const frames = (a: Frame, b: Frame): void => {
    for (let r = 0; r < NUM_REGS; r++) a.regs[r] = widen(a.regs[r], b.regs[r]) as Reg;
    for (let s = 0; s < STACK_SIZE / 8; s++) a.spills[s] = widen(a.spills[s], b.spills[s]);
  };
  n.regs = n.regs.slice();
  frames(n, o);
  for (let f = 0; f < n.callers.length; f++) {
    n.callers[f].regs = n.callers[f].regs.slice();
    frames(n.callers[f], o.callers[f]);
  }
}
