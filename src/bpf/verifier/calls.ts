/**
 * Calls to helpers and kfuncs as the verifier checks them: arguments against the prototypes
 * (HELPER_PROTOS; kfunc C prototypes and KF_* flags), results typed, references acquired and
 * released, spin locks and RCU sections, open-coded iterators, the kfuncs each sched_ext callback
 * may call, and callbacks (bpf_loop, bpf_for_each_map_elem, BPF timers).
 */
import { STACK_SIZE } from '../isa.ts';
import { unwrap, type CType, type RecordType } from '../ctypes.ts';
import { HELPER_PROTOS, HelperId, helperName, type HelperArg, type HelperProto } from '../kernel-helpers.ts';
import { KF } from '../kfuncs/kfunc.ts';
import { Scalar } from './scalar.ts';
import {
  B_ITER,
  B_UNINIT,
  UNINIT,
  UNKNOWN,
  cloneState,
  constant,
  describe,
  frameAt,
  isNull,
  isPtr,
  mapRegs,
  pointer,
  scalar,
  type IterReg,
  type MapDesc,
  type PtrReg,
  type Reg,
  type State,
} from './state.ts';
import {
  CONVERGE_CALLBACK,
  type Env,
  type Fork,
  MAX_VAR_SIZE,
  Reject,
  clobberCall,
  emptyState,
  need,
  pointeeSize,
  pushFrame,
  rootContext,
} from './env.ts';
import { checkMemArg, checkStack, kptrType, mapValueWhat, stackFrame } from './memory.ts';

// ---------------------------------------------------------------------------------------------
// Helpers

export function acquire(env: Env, st: State, pc: number, what: string): number {
  const id = env.nextId++;
  st.refs = [...st.refs, { id, pc, what }];
  return id;
}

/** Release reference `id`: every copy of its pointer becomes unusable. */
export function release(st: State, pc: number, id: number, what: string): void {
  st.refs = st.refs.filter((x) => x.id !== id);
  mapRegs(st, (r) => (isPtr(r) && r.refId === id ? { k: 'released', what, pc } : r));
}

const mapTypeOk = (proto: HelperProto, map: MapDesc): boolean => !proto.mapTypes || proto.mapTypes.includes(map.type);

/** A map value pointer exactly at a special field of kind `kind`; returns the field's offset. */
function fieldArg(pc: number, r: number, v: Reg, kind: 'spin_lock' | 'timer' | 'kptr', name: string): { p: PtrReg; offset: number } {
  if (v.k !== 'mapval') throw new Reject(pc, `argument type mismatch: ${name} expects a pointer to a struct bpf_${kind} inside a map value in r${r}, but r${r} is ${describe(v)}`);
  if (v.nullId) throw new Reject(pc, `r${r} is ${describe(v)}: passing a possibly NULL pointer to ${name}; test it against NULL first`);
  if (!v.off.isConst()) throw new Reject(pc, `r${r}: ${name} needs the ${kind} at a constant offset of the map value`);
  const offset = Number(v.off.smin);
  if (!v.map!.fields.some((f) => f.kind === kind && f.offset === offset)) {
    throw new Reject(pc, `argument type mismatch: r${r} points at offset ${offset} of ${mapValueWhat(v)}, where there is no ${kind === 'kptr' ? 'kptr' : `struct bpf_${kind}`}`);
  }
  return { p: v, offset };
}

export function callHelper(env: Env, pc: number, st: State, id: number): number | Fork {
  const proto = HELPER_PROTOS[id];
  const fname = helperName(id) ?? `helper ${id}`;
  if (!proto) {
    if (env.kernelMode) throw new Reject(pc, `unknown helper id ${id}: the simulated kernel has no prototype for it`);
    clobberCall(st, UNKNOWN);
    return pc + 1;
  }
  if (st.lock && id !== HelperId.spin_unlock) {
    throw new Reject(pc, `function calls are not allowed while holding a lock (taken at instruction ${st.lock.pc}): ${fname} would run under bpf_spin_lock; call bpf_spin_unlock first`);
  }
  const meta: HelperMeta = { map: null, mem: null, func: null, ctx: null, recordSize: 0, timerMap: null, kptr: null, release: null };
  for (let i = 0; i < proto.args.length; i++) helperArg(env, st, pc, id, fname, proto, proto.args[i], i + 1, meta);
  const { map, func, ctx, timerMap, kptr } = meta;
  if (timerMap && id === HelperId.timer_init && map && map !== timerMap) {
    throw new Reject(pc, `argument type mismatch: bpf_timer_init's map must be the map holding the timer ('${timerMap.name}')`);
  }
  if (meta.release && meta.release.id) release(st, pc, meta.release.id, meta.release.what);

  // The result.
  let r0: Reg = id === HelperId.get_smp_processor_id ? scalar(Scalar.range(0n, BigInt((env.options.nrCpuIds ?? 1024) - 1))) : UNKNOWN;
  switch (proto.ret) {
    case 'void':
      r0 = UNINIT;
      break;
    case 'mapValueOrNull':
      if (!map) throw new Reject(pc, `${fname} returns a map value but has no map argument`);
      r0 = pointer('mapval', { map, size: map.valueSize, writable: !map.readonly, nullId: env.nextId++ });
      break;
    case 'ringbufRecordOrNull': {
      const nullId = env.nextId++;
      const refId = acquire(env, st, pc, `the ring buffer record reserved by ${fname}`);
      r0 = pointer('mem', { size: meta.recordSize, writable: true, ringbuf: true, nullId, refId });
      break;
    }
    case 'task': {
      const rec = env.options.program?.kernelType?.('task_struct');
      r0 = rec ? pointer('btf', { rec, size: rec.size, trusted: true }) : UNKNOWN;
      break;
    }
    case 'kptrOrNull': {
      const rec = kptr ? kptrType(env, kptr.map, kptr.offset) : undefined;
      if (rec) {
        const nullId = env.nextId++;
        const refId = acquire(env, st, pc, `the struct ${rec.name} taken out by ${fname}`);
        r0 = pointer('btf', { rec, size: rec.size, trusted: true, nullId, refId });
      }
      break;
    }
  }
  clobberCall(st, r0);

  // Callbacks.
  if (func && proto.callback === 'timer') {
    if (timerMap) queueTimerCallback(env, func.target, timerMap);
    return pc + 1;
  }
  if (func && (proto.callback === 'loop' || proto.callback === 'forEachMapElem')) {
    // Zero calls: go on with the state as it is; one call: run the callback above this frame.
    const after = cloneState(st);
    let args: Reg[];
    if (proto.callback === 'loop') args = [scalar(Scalar.range(0n, 0xffff_ffffn)), ctx ?? UNINIT];
    else {
      if (!map) throw new Reject(pc, `${fname}: a callback over a map needs the map`);
      args = [
        pointer('map', { map }),
        pointer('mem', { size: map.keySize, writable: false }),
        pointer('mapval', { map, size: map.valueSize, writable: !map.readonly }),
        ctx ?? UNINIT,
      ];
    }
    env.prunePoint[func.target] = 1;
    env.converging[func.target] = CONVERGE_CALLBACK;
    const entry = pushFrame(env, pc, st, func.target, args, { what: `the ${fname} callback`, min: 0n, max: 1n, repeat: { target: func.target, args } });
    return { continue: st, continuePc: entry, other: { pc: pc + 1, state: after } };
  }
  return pc + 1;
}

/** What a helper call's arguments told, for checking later arguments and typing the result. */
interface HelperMeta {
  map: MapDesc | null;
  /** A buffer waiting for its size argument. */
  mem: { r: number; v: Reg; mode: 'read' | 'write'; nullOk: boolean } | null;
  func: PtrReg | null;
  ctx: Reg | null;
  recordSize: number;
  timerMap: MapDesc | null;
  kptr: { map: MapDesc; offset: number } | null;
  release: { id: number; what: string } | null;
}


/** Check one helper argument (register r) against its prototype kind, noting what it tells. */
function helperArg(env: Env, st: State, pc: number, id: number, fname: string, proto: HelperProto, kind: HelperArg, r: number, meta: HelperMeta): void {
  const v = need(st, pc, r);
  function mismatch(wanted: string): never {
    if (isPtr(v) && v.nullId) throw new Reject(pc, `r${r} is ${describe(v)}: passing a possibly NULL pointer to ${fname}; test it against NULL first`);
    throw new Reject(pc, `argument type mismatch: ${fname} expects ${wanted} in r${r}, but r${r} is ${describe(v)}`);
  }
  switch (kind) {
    case 'anything':
      return;
    case 'map':
      if (v.k !== 'map') mismatch('a map (lddw of a map)');
      meta.map = v.map!;
      if (!mapTypeOk(proto, meta.map)) throw new Reject(pc, `argument type mismatch: ${fname} cannot be used with map '${meta.map.name}' of this type`);
      return;
    case 'key':
      if (!meta.map) throw new Reject(pc, `${fname}: the key comes before its map`);
      return checkMemArg(env, st, pc, r, v, meta.map.keySize, 'read');
    case 'value':
    case 'valueOut':
    case 'valueOrNull':
      if (!meta.map) throw new Reject(pc, `${fname}: the value comes before its map`);
      return checkMemArg(env, st, pc, r, v, meta.map.valueSize, kind === 'valueOut' ? 'write' : 'read', kind === 'valueOrNull');
    case 'mem':
    case 'memOut':
    case 'memOrNull':
      meta.mem = { r, v, mode: kind === 'memOut' ? 'write' : 'read', nullOk: kind === 'memOrNull' };
      return;
    case 'size':
    case 'sizeOrZero': {
      if (v.k !== 'scalar') mismatch('a size (a scalar)');
      if (kind === 'size' && v.v.umin === 0n && v.v.umax < MAX_VAR_SIZE) throw new Reject(pc, `the size in r${r} may be 0 (${v.v.brief()}); ${fname} needs at least one byte`);
      const m = meta.mem;
      if (!m) throw new Reject(pc, `${fname}: a size without a buffer`);
      checkMemArg(env, st, pc, m.r, m.v, v.v, m.mode, m.nullOk, r);
      meta.mem = null;
      return;
    }
    case 'constSize':
      if (v.k !== 'scalar' || !v.v.isConst()) mismatch('a constant size');
      meta.recordSize = Number(v.v.umin);
      return;
    case 'spinLock': {
      const { p, offset } = fieldArg(pc, r, v, 'spin_lock', fname);
      const key = `${p.map!.name}@${offset}`;
      if (id === HelperId.spin_lock) {
        if (st.lock) throw new Reject(pc, `a lock is already held (taken at instruction ${st.lock.pc}); only one bpf_spin_lock may be held at a time`);
        st.lock = { pc, key };
      } else {
        if (!st.lock) throw new Reject(pc, `bpf_spin_unlock without taking a lock: no bpf_spin_lock is held on this path; lock before unlocking`);
        if (st.lock.key !== key) throw new Reject(pc, `bpf_spin_unlock of a different lock than the one taken at instruction ${st.lock.pc}`);
        st.lock = null;
      }
      return;
    }
    case 'timer':
      meta.timerMap = fieldArg(pc, r, v, 'timer', fname).p.map!;
      if (id === HelperId.timer_init) meta.map = null; // the next argument names the map
      return;
    case 'kptr': {
      const { p, offset } = fieldArg(pc, r, v, 'kptr', fname);
      meta.kptr = { map: p.map!, offset };
      return;
    }
    case 'ringbufRecord':
      if (v.k !== 'mem' || !v.ringbuf) mismatch('a ring buffer record from bpf_ringbuf_reserve');
      if (v.nullId) throw new Reject(pc, `r${r} is ${describe(v)}: test the reservation against NULL before submitting it`);
      if (!v.off.isConst() || v.off.smin !== 0n) throw new Reject(pc, `r${r}: ${fname} needs the record pointer as reserved, not an offset into it`);
      meta.release = { id: v.refId, what: 'the ring buffer record' };
      return;
    case 'task':
    case 'taskOrNull':
      if (kind === 'taskOrNull' && isNull(v)) return;
      if (v.k !== 'btf' || v.rec!.name !== 'task_struct') mismatch('a struct task_struct pointer');
      if (v.nullId && kind === 'task') mismatch('a task_struct pointer that is not NULL');
      if (!v.trusted) throw new Reject(pc, `argument type mismatch: r${r} is ${describe(v)}; ${fname} needs a trusted task (a callback argument or bpf_get_current_task_btf)`);
      return;
    case 'btfOrNull':
      if (isNull(v)) return;
      if (v.k !== 'btf') mismatch('a referenced kernel object or NULL');
      if (v.nullId) mismatch('an object that is not NULL');
      if (!v.refId) throw new Reject(pc, `r${r} is ${describe(v)}, which was not acquired: only a referenced object can be stored with ${fname}`);
      meta.release = { id: v.refId, what: `the struct ${v.rec!.name} reference` };
      return;
    case 'func':
      if (v.k !== 'func') mismatch('a callback function (lddw func)');
      meta.func = v;
      return;
    case 'stackOrNull':
      if (!isNull(v) && v.k !== 'stack') mismatch('a pointer to the stack or NULL');
      meta.ctx = v;
      return;
  }
}

/** A BPF timer callback runs on its own, from a timer, with (map, key, value) in r1..r3. */
function queueTimerCallback(env: Env, target: number, map: MapDesc): void {
  const key = `timer:${target}:${map.name}`;
  if (env.roots.has(key)) return;
  const root = emptyState(target, { what: 'a BPF timer callback', min: 0n, max: 0n, context: 'timer' });
  root.regs[1] = pointer('map', { map });
  root.regs[2] = pointer('mem', { size: map.keySize, writable: false });
  root.regs[3] = pointer('mapval', { map, size: map.valueSize, writable: !map.readonly });
  env.roots.set(key, root);
}

// ---------------------------------------------------------------------------------------------
// Kfuncs

const isScalarType = (t: CType): boolean => {
  const u = unwrap(t);
  return u.kind === 'int' || u.kind === 'enum';
};

/** Does a pointer to `have` (at byte `off`) point at a `want`: itself, or a member nested at that offset? */
function structMatches(have: RecordType, off: number, want: RecordType): boolean {
  if (off === 0 && have === want) return true;
  for (const m of have.members) {
    const t = unwrap(m.type);
    if ((t.kind === 'struct' || t.kind === 'union') && t.complete && off >= m.offset && off < m.offset + t.size) {
      if (structMatches(t, off - m.offset, want)) return true;
    }
  }
  return false;
}

export function callKfunc(env: Env, pc: number, st: State, id: number): number | Fork {
  const k = env.options.kfunc?.(id);
  if (!k) {
    if (env.kernelMode && env.options.kfunc) throw new Reject(pc, `unknown kfunc BTF id ${id}`);
    clobberCall(st, UNKNOWN);
    return pc + 1;
  }
  const { name, proto, flags } = k;
  if (name === 'bpf_rcu_read_lock' || name === 'bpf_rcu_read_unlock') {
    if (st.lock) throw new Reject(pc, `function calls are not allowed while holding a lock (taken at instruction ${st.lock.pc}); call bpf_spin_unlock first`);
    if (name === 'bpf_rcu_read_lock') {
      if (st.rcuDepth++ === 0) st.rcuPc = pc;
    } else {
      if (st.rcuDepth === 0) throw new Reject(pc, 'bpf_rcu_read_unlock without taking a lock: no bpf_rcu_read_lock is open on this path');
      if (--st.rcuDepth === 0) st.rcuPc = -1;
    }
    clobberCall(st, UNINIT);
    return pc + 1;
  }
  if (st.lock) throw new Reject(pc, `function calls are not allowed while holding a lock (taken at instruction ${st.lock.pc}): ${name} would run under bpf_spin_lock; call bpf_spin_unlock first`);
  const program = env.options.program;
  if (program && env.kernelMode) {
    const context = rootContext(st) ?? program.name;
    const problem = program.kfuncProblem?.(name, context);
    if (problem) throw new Reject(pc, `${name} is not allowed from ${context === 'timer' ? 'a BPF timer callback' : `ops.${context}`}: ${problem}`);
    if (flags & KF.SLEEPABLE && (!program.sleepable || context === 'timer')) {
      throw new Reject(pc, `${name} is not allowed from ${context === 'timer' ? 'a BPF timer callback' : `ops.${context}`}: it may sleep, and this program is not sleepable`);
    }
  }
  let releaseRef: { id: number; what: string } | null = null;
  let iterLoc: IterLoc | null = null;
  const params = proto.params;
  for (let i = 0; i < params.length; i++) {
    const r = i + 1;
    const param = params[i];
    if (/__szk?$/.test(param.name)) continue; // the size of the previous buffer, checked with it
    const v = need(st, pc, r);
    const t = unwrap(param.type);
    const argName = `${name}'s argument '${param.name}' (r${r})`;
    if (isScalarType(t)) {
      if (v.k !== 'scalar') throw new Reject(pc, `argument type mismatch: ${argName} is a scalar, but r${r} is ${describe(v)}`);
      continue;
    }
    if (t.kind !== 'ptr') throw new Reject(pc, `${argName}: arguments of this type are not supported`);
    const to = unwrap(t.to);
    if ((to.kind === 'struct' || to.kind === 'union') && to.name.startsWith('bpf_iter_')) {
      iterLoc = iterArg(env, st, pc, r, v, to, name, flags);
      continue;
    }
    if (to.kind === 'struct' || to.kind === 'union') {
      const nullable = param.name.endsWith('__nullable');
      if (nullable && isNull(v)) continue;
      if (v.k !== 'btf') throw new Reject(pc, `argument type mismatch: ${argName} must be a pointer to struct ${to.name}, but r${r} is ${describe(v)}`);
      if (v.nullId && !nullable) throw new Reject(pc, `r${r} is ${describe(v)}: passing a possibly NULL pointer as ${argName}; test it against NULL first`);
      if (!v.off.isConst() || !structMatches(v.rec!, Number(v.off.smin), to)) {
        throw new Reject(pc, `argument type mismatch: ${argName} must be a pointer to struct ${to.name}, but r${r} is ${describe(v)}${v.off.isConst() && v.off.smin !== 0n ? ` at offset ${v.off.smin}` : ''}`);
      }
      if (!v.trusted) throw new Reject(pc, `argument type mismatch: ${argName} must be trusted (an argument of the callback or an acquired reference), but r${r} is ${describe(v)}`);
      if (flags & KF.RELEASE) {
        if (!v.refId) throw new Reject(pc, `r${r} is ${describe(v)}, which was not acquired: ${name} releases a reference, and this pointer holds none; release only what you acquired`);
        releaseRef = { id: v.refId, what: `the struct ${v.rec!.name} reference` };
      }
      continue;
    }
    // A pointer to plain memory; its size is the next parameter when that is named `*__sz`.
    const next = params[i + 1];
    if (next && /__szk?$/.test(next.name)) {
      const sz = need(st, pc, r + 1);
      if (sz.k !== 'scalar') throw new Reject(pc, `argument type mismatch: ${name}'s argument '${next.name}' (r${r + 1}) is a size, but r${r + 1} is ${describe(sz)}`);
      checkMemArg(env, st, pc, r, v, sz.v, 'read', param.name.endsWith('__nullable'));
    } else {
      checkMemArg(env, st, pc, r, v, pointeeSize(to), 'read', param.name.endsWith('__nullable'));
    }
  }
  if (releaseRef) {
    const { id: refId, what } = releaseRef as { id: number; what: string };
    release(st, pc, refId, what);
  }

  // The result.
  const ret = unwrap(proto.ret);
  let r0: Reg;
  if (ret.kind === 'void') r0 = UNINIT;
  else if (ret.kind !== 'ptr') r0 = UNKNOWN;
  else {
    const to = unwrap(ret.to);
    const nullId = flags & KF.RET_NULL ? env.nextId++ : 0;
    if ((to.kind === 'struct' || to.kind === 'union') && to.complete) {
      const refId = flags & KF.ACQUIRE ? acquire(env, st, pc, `the struct ${to.name} reference from ${name}`) : 0;
      r0 = pointer('btf', { rec: to, size: to.size, trusted: true, nullId, refId });
    } else {
      r0 = pointer('mem', { size: pointeeSize(to), writable: !(ret.const ?? false) && !(flags & KF.ITER_NEXT), nullId });
    }
  }
  const loc = iterLoc as IterLoc | null;
  if (flags & KF.ITER_NEXT && isPtr(r0) && loc) {
    const it = frameAt(st, loc.frame).spills[loc.slot] as IterReg;
    if (it.ended) {
      // An ended iterator only yields NULL.
      clobberCall(st, scalar(constant(0n)));
      return pc + 1;
    }
    // The iterator ends (NULL) or yields one more element, one iteration deeper.
    const ended = cloneState(st);
    clobberCall(ended, scalar(constant(0n)));
    frameAt(ended, loc.frame).spills[loc.slot] = { ...it, ended: true };
    clobberCall(st, { ...r0, nullId: 0 });
    frameAt(st, loc.frame).spills[loc.slot] = { ...it, depth: it.depth + 1 };
    return { continue: st, continuePc: pc + 1, other: { pc: pc + 1, state: ended } };
  }
  clobberCall(st, r0);
  return pc + 1;
}

/** Where an iterator lives: the frame index and its first stack slot. */
interface IterLoc {
  frame: number;
  slot: number;
}

/** An open-coded iterator argument: created by ITER_NEW in uninitialised stack, used, destroyed. */
function iterArg(env: Env, st: State, pc: number, r: number, v: Reg, to: RecordType, name: string, flags: number): IterLoc | null {
  if (v.k !== 'stack' || !v.off.isConst()) {
    throw new Reject(pc, `argument type mismatch: ${name} expects a struct ${to.name} on the stack at a constant offset in r${r}, but r${r} is ${describe(v)}`);
  }
  const size = to.size;
  const [lo] = checkStack(pc, r, v, 0, 8, 'use');
  if (lo + size > 0) throw new Reject(pc, `invalid stack access: the ${size}-byte struct ${to.name} at offset ${lo} is out of bounds of the frame`);
  const fr = stackFrame(env, st, v.frame, lo);
  const first = lo + STACK_SIZE;
  const slot = first >> 3;
  const existing = fr.bytes[first] === B_ITER ? (fr.spills[slot] as IterReg | undefined) : undefined;
  if (flags & KF.ITER_NEW) {
    for (let i = first; i < first + size; i++) {
      if (fr.bytes[i] === B_ITER) throw new Reject(pc, `${name}: the stack at offset ${lo} already holds a live iterator; destroy it before creating another there`);
    }
    const refId = acquire(env, st, pc, `the ${to.name} iterator created by ${name}`);
    for (let i = first; i < first + size; i++) fr.bytes[i] = B_ITER;
    for (let s = slot; s < slot + size / 8; s++) fr.spills[s] = undefined;
    fr.spills[slot] = { k: 'iter', type: to.name, size, refId, depth: 0, ended: false };
    return null;
  }
  if (!existing || existing.type !== to.name) {
    throw new Reject(pc, `${name} expects an initialized struct ${to.name} at offset ${lo} (r${r}), created by its _new kfunc${existing ? `, but it holds a ${existing.type}` : ''}`);
  }
  if (flags & KF.ITER_DESTROY) {
    st.refs = st.refs.filter((x) => x.id !== existing.refId);
    fr.bytes.fill(B_UNINIT, first, first + size);
    fr.spills[slot] = undefined;
  }
  return { frame: v.frame, slot };
}
