/**
 * Memory as the verifier checks it: loads and stores through each kind of pointer (stack slots
 * and spills, the context and a callback's arguments, map values and their special fields,
 * memory, kernel structs with their writable fields), and the buffers helpers and kfuncs take.
 */
import { STACK_SIZE } from '../isa.ts';
import { layout, unwrap, type CType, type RecordType } from '../ctypes.ts';
import { Scalar } from './scalar.ts';
import {
  B_DATA,
  B_ITER,
  B_SPILL,
  B_UNINIT,
  UNKNOWN,
  describe,
  frameAt,
  isNull,
  isPtr,
  pointer,
  scalar,
  type Frame,
  type MapDesc,
  type PtrReg,
  type Reg,
  type State,
} from './state.ts';
import {
  type Env,
  MAX_VAR_OFF,
  MAX_VAR_SIZE,
  RCU_KPTR_TYPES,
  RCU_SAFE_FIELDS,
  Reject,
  sizedUnknown,
} from './env.ts';
// ---------------------------------------------------------------------------------------------
// Memory

/** The accessed offsets [lo, hi] (first byte) of an access through a pointer. */
function range(p: { off: Scalar }, off: number): [number, number] {
  return [Number(p.off.smin) + off, Number(p.off.smax) + off];
}

const at = (lo: number, hi: number): string => (lo === hi ? `offset ${lo}` : `offsets ${lo}..${hi}`);

export function checkStack(pc: number, r: number, p: { off: Scalar }, off: number, size: number, verb: string): [number, number] {
  if (p.off.smax > MAX_VAR_OFF) {
    throw new Reject(pc, `unbounded memory access: the ${verb} through r${r} (a pointer to the stack) has an offset up to ${p.off.smax}; bound the index with 'if (i < N)' or '& (N - 1)' before using it`);
  }
  const [lo, hi] = range(p, off);
  if (lo < -STACK_SIZE || hi + size > 0) {
    throw new Reject(pc, `invalid stack access: ${verb} of ${size} bytes at ${at(lo, hi)} from r${r} is out of bounds of the ${STACK_SIZE}-byte frame [-${STACK_SIZE}, 0); keep it within the frame`);
  }
  if (lo === hi && ((lo % size) + size) % size !== 0) {
    throw new Reject(pc, `misaligned stack access: ${verb} of ${size} bytes at ${at(lo, hi)} is not a multiple of ${size}; align the slot to its size`);
  }
  return [lo, hi];
}

/** Bounds of an access into an object of `size` bytes (map value, memory, kernel struct, context). */
function checkObject(pc: number, r: number, p: PtrReg, off: number, size: number, verb: string, what: string): [number, number] {
  if (p.off.smax > MAX_VAR_OFF) {
    throw new Reject(pc, `unbounded memory access: the ${verb} through r${r} (${describe(p)}) has an offset the verifier cannot bound (${p.off.brief()}); bound the index with 'if (i < N)' or '& (N - 1)' before using it`);
  }
  const [lo, hi] = range(p, off);
  if (lo < 0 || hi + size > p.size) {
    throw new Reject(pc, `invalid access: ${verb} of ${size} bytes at ${at(lo, hi)} from r${r} is out of bounds of ${what} (${p.size} bytes); check the index against the size first`);
  }
  return [lo, hi];
}

/** The frame a stack pointer points into, recording the deepest access `lo` of its subprogram. */
export function stackFrame(env: Env, st: State, frame: number, lo: number): Frame {
  const fr = frameAt(st, frame);
  if (-lo > (env.depth.get(fr.subprog) ?? 0)) env.depth.set(fr.subprog, -lo);
  return fr;
}

export const mapValueWhat = (p: PtrReg): string => `the value of map '${p.map!.name}'`;

/** A special field (spin lock, timer, kptr) of a map value that [lo, hi + size) touches. */
function specialField(p: PtrReg, lo: number, hi: number, size: number) {
  for (const f of p.map?.fields ?? []) if (lo < f.offset + f.size && hi + size > f.offset) return f;
  return undefined;
}

/** Dereferencing a scalar: NULL from a failed lookup or an ended iterator deserves its own words. */
function notAPointer(pc: number, r: number, base: Reg & { k: 'scalar' }): never {
  if (isNull(base)) {
    throw new Reject(pc, `r${r} is NULL on this path (a possibly NULL pointer that was not tested, or tested and found NULL): dereferencing a possibly NULL pointer; test it against NULL first`);
  }
  throw new Reject(pc, `r${r} is not a pointer (it holds ${describe({ k: 'scalar', v: base.v, id: 0 })}), so it cannot be dereferenced`);
}

export function load(env: Env, st: State, pc: number, r: number, base: Reg, off: number, size: number, signed: boolean): Reg {
  if (base.k === 'scalar') notAPointer(pc, r, base);
  if (base.k === 'uninit') throw new Reject(pc, `r${r} is read before it is written`);
  if (base.k === 'released') throw new Reject(pc, `r${r} is ${describe(base)}: a use after release`);
  if (base.nullId) throw new Reject(pc, `r${r} is ${describe(base)}: dereferencing a possibly NULL pointer; test it against NULL first`);
  switch (base.k) {
    case 'stack':
      return loadStack(env, st, pc, r, base, off, size, signed);
    case 'ctx':
      return loadCtx(env, pc, r, base, off, size, signed);
    case 'mapval': {
      const [lo, hi] = checkObject(pc, r, base, off, size, 'read', mapValueWhat(base));
      const f = specialField(base, lo, hi, size);
      if (f && f.kind !== 'kptr') throw new Reject(pc, `the ${f.kind} at offset ${f.offset} of ${mapValueWhat(base)} cannot be read directly; use its helpers`);
      if (f && f.kind === 'kptr') return kptrLoad(env, st, pc, base, f.offset, lo, hi, size);
      return scalar(sizedUnknown(size, signed));
    }
    case 'mem':
      checkObject(pc, r, base, off, size, 'read', `the ${base.ringbuf ? 'ring buffer record' : 'memory'}`);
      return scalar(sizedUnknown(size, signed));
    case 'btf':
      env.probeLoads[pc] = 1;
      return loadBtf(pc, r, base, off, size, signed);
    default:
      throw new Reject(pc, `r${r} is ${describe(base)}, which cannot be dereferenced`);
  }
}

/** Reading a kptr field gives an untrusted pointer that may be NULL (bpf_kptr_xchg takes it out owned). */
function kptrLoad(env: Env, st: State, pc: number, base: PtrReg, fieldOff: number, lo: number, hi: number, size: number): Reg {
  if (lo !== hi || lo !== fieldOff || size !== 8) throw new Reject(pc, `the kptr at offset ${fieldOff} of ${mapValueWhat(base)} must be read whole (8 bytes)`);
  const rec = kptrType(env, base.map!, fieldOff);
  if (!rec) return UNKNOWN;
  // RCU-protected kptrs (bpf_cpumask) read inside an RCU section (every non-sleepable program is one) may be passed to KF_RCU kfuncs.
  const rcu = RCU_KPTR_TYPES.has(rec.name) && (!env.options.program?.sleepable || st.rcuDepth > 0);
  return pointer('btf', { rec, size: rec.size, trusted: rcu, nullId: env.nextId++ });
}

export function kptrType(env: Env, map: MapDesc, offset: number): RecordType | undefined {
  const f = map.fields.find((x) => x.kind === 'kptr' && x.offset === offset);
  return f?.typeName ? env.options.program?.kernelType?.(f.typeName) : undefined;
}

function loadStack(env: Env, st: State, pc: number, r: number, base: PtrReg, off: number, size: number, signed: boolean): Reg {
  const [lo, hi] = checkStack(pc, r, base, off, size, 'read');
  const fr = stackFrame(env, st, base.frame, lo);
  const first = lo + STACK_SIZE;
  if (lo === hi && size === 8 && fr.bytes[first] === B_SPILL && fr.spills[first >> 3]) return fr.spills[first >> 3] as Reg;
  for (let i = first; i < hi + STACK_SIZE + size; i++) {
    const b = fr.bytes[i];
    if (b === B_UNINIT) {
      throw new Reject(pc, `invalid read from stack: byte ${i - STACK_SIZE} of the ${size}-byte read at ${lo === hi ? lo : `${lo}..${hi}`} is uninitialized; write the whole slot before reading it`);
    }
    if (b === B_ITER) throw new Reject(pc, `invalid read from stack: offset ${(i & ~7) - STACK_SIZE} holds an iterator, which only its kfuncs may touch`);
    if (b === B_SPILL && fr.spills[i >> 3]!.k !== 'scalar') {
      throw new Reject(pc, `invalid read from stack: a partial read of a spilled pointer at ${(i & ~7) - STACK_SIZE}; read the whole 8-byte slot`);
    }
  }
  return scalar(sizedUnknown(size, signed));
}

function loadCtx(env: Env, pc: number, r: number, base: PtrReg, off: number, size: number, signed: boolean): Reg {
  const what = base.args ? `the context (${base.args.length} callback argument${base.args.length === 1 ? '' : 's'}, ${base.size} bytes)` : 'the context';
  const [lo, hi] = checkObject(pc, r, base, off, size, 'read', what);
  if (!base.args) return scalar(sizedUnknown(size, signed));
  if (lo !== hi) throw new Reject(pc, `r${r}: a variable-offset read of the callback's arguments is not allowed; read each argument at its constant offset`);
  const arg = base.args[lo >> 3];
  const t = unwrap(arg.type);
  if (t.kind !== 'ptr') return scalar(sizedUnknown(size, signed));
  if (size !== 8 || lo % 8 !== 0) throw new Reject(pc, `r${r}: a partial read of pointer argument ${lo >> 3} of the callback; read all 8 bytes`);
  const to = unwrap(t.to);
  if (to.kind !== 'struct' && to.kind !== 'union') return UNKNOWN;
  return pointer('btf', { rec: to, size: to.complete ? to.size : 0, trusted: true, nullId: arg.nullable ? env.nextId++ : 0 });
}

/** The member of `rec` holding bytes [off, off + size), descending into nested structs and arrays. */
function memberAt(rec: RecordType, off: number, size: number): { type: CType; offset: number; name: string } | null {
  for (const m of rec.members) {
    const t = unwrap(m.type);
    let msize: number;
    try {
      msize = layout(t).size;
    } catch {
      continue;
    }
    if (off < m.offset || off + size > m.offset + Math.max(msize, 0)) continue;
    if ((t.kind === 'struct' || t.kind === 'union') && !(off === m.offset && size === msize)) {
      const inner = memberAt(t, off - m.offset, size);
      return inner ? { ...inner, offset: inner.offset + m.offset } : null;
    }
    return { type: t, offset: m.offset, name: m.name };
  }
  return null;
}

function loadBtf(pc: number, r: number, base: PtrReg, off: number, size: number, signed: boolean): Reg {
  if (!base.off.isConst()) {
    throw new Reject(pc, `r${r} is ${describe(base)} with a variable offset (${base.off.brief()}): kernel structs are read at constant offsets only; copy the field with bpf_probe_read_kernel`);
  }
  const rec = base.rec!;
  const [lo] = checkObject(pc, r, base, off, size, 'read', `struct ${rec.name}`);
  const m = memberAt(rec, lo, size);
  if (m && m.type.kind === 'ptr' && m.offset === lo && size === 8) {
    const to = unwrap(m.type.to);
    if ((to.kind === 'struct' || to.kind === 'union') && to.complete) {
      const safe = base.trusted && (RCU_SAFE_FIELDS[rec.name] ?? []).includes(m.name);
      return pointer('btf', { rec: to, size: to.size, trusted: safe });
    }
    return UNKNOWN;
  }
  return scalar(sizedUnknown(size, signed));
}

export function store(env: Env, st: State, pc: number, r: number, base: Reg, off: number, size: number, value: Reg): void {
  if (base.k === 'scalar') notAPointer(pc, r, base);
  if (base.k === 'uninit') throw new Reject(pc, `r${r} is read before it is written`);
  if (base.k === 'released') throw new Reject(pc, `r${r} is ${describe(base)}: a use after release`);
  if (base.nullId) throw new Reject(pc, `r${r} is ${describe(base)}: dereferencing a possibly NULL pointer; test it against NULL first`);
  const leak = (where: string): never => {
    throw new Reject(pc, `storing ${describe(value)} into ${where} leaks a kernel address; store scalars only`);
  };
  switch (base.k) {
    case 'stack':
      return storeStack(env, st, pc, r, base, off, size, value);
    case 'ctx':
      if (!base.writable) throw new Reject(pc, `r${r} is the context pointer, which is read-only here; write to the stack instead`);
      if (value.k !== 'scalar') leak('the context');
      checkObject(pc, r, base, off, size, 'write', 'the context');
      return;
    case 'mapval': {
      if (base.map!.readonly) throw new Reject(pc, `${mapValueWhat(base)} is read-only (frozen for programs, like .rodata); write to .data or .bss, or to a map`);
      const [lo, hi] = checkObject(pc, r, base, off, size, 'write', mapValueWhat(base));
      const f = specialField(base, lo, hi, size);
      if (f) throw new Reject(pc, `the ${f.kind} at offset ${f.offset} of ${mapValueWhat(base)} cannot be written directly; use its helpers${f.kind === 'kptr' ? ' (bpf_kptr_xchg)' : ''}`);
      if (value.k !== 'scalar' && env.kernelMode) leak(mapValueWhat(base));
      return;
    }
    case 'mem':
      if (!base.writable) throw new Reject(pc, `r${r} is ${describe(base)}, which is read-only`);
      if (value.k !== 'scalar' && env.kernelMode) leak('this memory');
      checkObject(pc, r, base, off, size, 'write', `the ${base.ringbuf ? 'ring buffer record' : 'memory'}`);
      return;
    case 'btf': {
      const rec = base.rec!;
      if (!base.off.isConst()) throw new Reject(pc, `r${r} is ${describe(base)} with a variable offset: kernel structs are written at constant offsets only`);
      const [lo] = checkObject(pc, r, base, off, size, 'write', `struct ${rec.name}`);
      const m = memberAt(rec, lo, size);
      const field = m ? `${rec.name}.${m.name}` : `struct ${rec.name} at offset ${lo}`;
      if (!base.trusted || !env.options.program?.fieldWritable?.(rec, lo, size)) {
        throw new Reject(pc, `${field} is read-only: a scheduler may write only the fields the kernel allows (p->scx.slice, p->scx.dsq_vtime); keep other state in a map or task storage`);
      }
      if (value.k !== 'scalar') leak(field);
      return;
    }
    default:
      throw new Reject(pc, `r${r} is ${describe(base)}, which cannot be written through`);
  }
}

function storeStack(env: Env, st: State, pc: number, r: number, base: PtrReg, off: number, size: number, value: Reg): void {
  const [lo, hi] = checkStack(pc, r, base, off, size, 'write');
  const fr = stackFrame(env, st, base.frame, lo);
  if (value.k === 'stack' && value.frame > base.frame) {
    throw new Reject(pc, `storing a pointer to a callee's stack into a caller's frame is prohibited: it would dangle once the callee returns; store scalars or the caller's own pointers`);
  }
  const first = lo + STACK_SIZE;
  if (value.k !== 'scalar' && (size !== 8 || lo !== hi)) {
    throw new Reject(pc, `storing part of ${describe(value)} (${size} bytes${lo === hi ? '' : ' at a variable offset'}) is prohibited; spill pointers as whole 8-byte slots`);
  }
  for (let i = first; i < hi + STACK_SIZE + size; i++) {
    if (fr.bytes[i] === B_ITER) throw new Reject(pc, `invalid write to stack: offset ${(i & ~7) - STACK_SIZE} holds an iterator, which only its kfuncs may touch`);
  }
  // Overwriting part of a spilled pointer would leave the rest readable as data (a leak).
  if (env.kernelMode && (size !== 8 || lo !== hi || (first & 7) !== 0)) {
    for (let i = first; i < hi + STACK_SIZE + size; i++) {
      const sp = fr.spills[i >> 3];
      if (fr.bytes[i] === B_SPILL && sp && sp.k !== 'scalar') {
        throw new Reject(pc, `attempt to corrupt a spilled pointer on the stack at ${(i & ~7) - STACK_SIZE}: a ${size}-byte write over part of it would leave the rest readable; overwrite the whole 8-byte slot`);
      }
    }
  }
  // Bytes of partly overwritten spill slots turn into plain data.
  const unspill = (slot: number): void => {
    if (!fr.spills[slot]) return;
    fr.spills[slot] = undefined;
    for (let i = slot * 8; i < slot * 8 + 8; i++) if (fr.bytes[i] === B_SPILL) fr.bytes[i] = B_DATA;
  };
  if (lo !== hi) {
    // Any of these bytes may be written: written ones stay data, unwritten ones stay unknown.
    for (let i = first; i < hi + STACK_SIZE + size; i++) {
      unspill(i >> 3);
      if (fr.bytes[i] !== B_UNINIT) fr.bytes[i] = B_DATA;
    }
    return;
  }
  if (size === 8 && (first & 7) === 0) {
    fr.spills[first >> 3] = value;
    fr.bytes.fill(B_SPILL, first, first + 8);
    return;
  }
  for (let i = first; i < first + size; i++) {
    unspill(i >> 3);
    fr.bytes[i] = B_DATA;
  }
}

/**
 * A helper or kfunc memory argument: `size` bytes (or up to `size`, a Scalar, for variable sizes)
 * at the pointer must be inside its object; for reads, initialised; for writes, writable (stack
 * bytes written become data).
 */
export function checkMemArg(env: Env, st: State, pc: number, r: number, p: Reg, size: number | Scalar, mode: 'read' | 'write', nullOk = false, sizeReg = r + 1): void {
  if (nullOk && isNull(p)) return;
  if (p.k === 'released') throw new Reject(pc, `r${r} is ${describe(p)}: a use after release`);
  if (!isPtr(p)) throw new Reject(pc, `argument type mismatch: r${r} must point to memory, but it is ${describe(p)}`);
  if (p.nullId && !nullOk) throw new Reject(pc, `r${r} is ${describe(p)}: passing a possibly NULL pointer where memory is required; test it against NULL first`);
  let max: number;
  if (typeof size === 'number') max = size;
  else {
    if (size.umax >= MAX_VAR_SIZE) {
      throw new Reject(pc, `the size in r${sizeReg} for the buffer in r${r} is unbounded (${size.brief()}): the verifier cannot tell how many bytes are accessed; bound it with 'if (n <= sizeof(buf))' or '& (N - 1)'`);
    }
    max = Number(size.umax);
  }
  if (max === 0) return;
  switch (p.k) {
    case 'stack': {
      const [lo, hi] = range(p, 0);
      if (lo < -STACK_SIZE || hi + max > 0) {
        throw new Reject(pc, `invalid stack access: ${max} bytes at ${at(lo, hi)} from r${r} are out of bounds of the ${STACK_SIZE}-byte frame; pass a buffer at least as large as the size`);
      }
      const fr = stackFrame(env, st, p.frame, lo);
      // Which bytes a write at a variable offset fills is unknown, so, as Linux does, such a
      // buffer must be initialised already.
      const variable = lo !== hi;
      for (let i = lo + STACK_SIZE; i < hi + STACK_SIZE + max; i++) {
        const b = fr.bytes[i];
        if (b === B_ITER) throw new Reject(pc, `r${r}: offset ${(i & ~7) - STACK_SIZE} of the stack holds an iterator, which only its kfuncs may touch`);
        if (mode === 'read' || variable) {
          if (b === B_UNINIT) {
            throw new Reject(pc, `invalid read from stack: byte ${i - STACK_SIZE} of the ${max}-byte buffer passed in r${r} (at ${at(lo, hi)}) is uninitialized; initialise the whole buffer (padding too) first${variable && mode === 'write' ? ', since a buffer at a variable offset is not known to be filled' : ''}`);
          }
          if (b === B_SPILL && fr.spills[i >> 3]!.k !== 'scalar' && env.kernelMode) {
            throw new Reject(pc, `r${r}: the buffer holds a spilled pointer at ${(i & ~7) - STACK_SIZE}, which would leak its address`);
          }
        }
      }
      if (mode === 'write' && env.kernelMode) {
        // A write covering only part of a spilled pointer's slot would leave the rest readable.
        for (let slot = (lo + STACK_SIZE) >> 3; slot <= (hi + STACK_SIZE + max - 1) >> 3; slot++) {
          const sp = fr.spills[slot];
          const start = slot * 8;
          const covered = start >= lo + STACK_SIZE && start + 8 <= hi + STACK_SIZE + max && !variable;
          if (sp && sp.k !== 'scalar' && fr.bytes[start] === B_SPILL && !covered) {
            throw new Reject(pc, `attempt to corrupt a spilled pointer on the stack at ${start - STACK_SIZE}: the buffer in r${r} covers only part of it`);
          }
        }
      }
      // Checked first, then written: a slot's spill must still be there while its bytes are checked.
      if (mode === 'write') {
        for (let i = lo + STACK_SIZE; i < hi + STACK_SIZE + max; i++) {
          if (fr.spills[i >> 3]) fr.spills[i >> 3] = undefined;
          fr.bytes[i] = B_DATA;
        }
      }
      if (mode === 'write') {
        // Slots whose spilled register was overwritten keep their other bytes as plain data.
        for (let i = (lo + STACK_SIZE) & ~7; i < hi + STACK_SIZE + max; i++) if (fr.bytes[i] === B_SPILL && !fr.spills[i >> 3]) fr.bytes[i] = B_DATA;
      }
      return;
    }
    case 'mapval': {
      if (mode === 'write' && p.map!.readonly) throw new Reject(pc, `r${r} points into ${mapValueWhat(p)}, which is read-only (frozen for programs, like .rodata); pass a writable buffer`);
      const [lo, hi] = checkObject(pc, r, p, 0, max, mode, mapValueWhat(p));
      const f = specialField(p, lo, hi, max);
      if (f) throw new Reject(pc, `the ${max}-byte buffer in r${r} covers the ${f.kind} at offset ${f.offset} of ${mapValueWhat(p)}, which helpers may not read or write; pass a buffer that leaves it out`);
      return;
    }
    case 'mem':
      if (mode === 'write' && !p.writable) throw new Reject(pc, `r${r} is ${describe(p)}, which is read-only`);
      checkObject(pc, r, p, 0, max, mode, 'the memory');
      return;
    case 'ctx':
      if (mode === 'write' && !p.writable) throw new Reject(pc, `r${r} is the context pointer, which is read-only here`);
      checkObject(pc, r, p, 0, max, mode, 'the context');
      return;
    default:
      throw new Reject(pc, `argument type mismatch: r${r} must point to memory (stack, map value), but it is ${describe(p)}`);
  }
}
