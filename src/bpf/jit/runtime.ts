/**
 * Instantiating a compiled module against its address space and running it. The imports turn
 * traps into the interpreter's fault messages and serve helper calls through the call area.
 */
import { MAX_CALL_FRAMES, STACK_SIZE, accessSize, type Insn } from '../isa.ts';
import { formatInsn } from '../asm.ts';
import { HelperCall, ProgramExit, type HelperDef, type HelperTable } from '../helpers.ts';
import { ScxError } from '../../util/errors.ts';
import { BpfRuntimeError, type RunResult } from '../interp.ts';
import { faultText } from '../faults.ts';
import { slotOfCodeAddress, type AddressSpace } from '../memory.ts';
import { COUNT_WORD, TrapKind, compileToWasm, type CompileOptions, type CompiledModule } from './compile.ts';

export interface JitOptions extends CompileOptions {
  /** Data that legacy packet loads read. */
  packet?: { addr: number; len: number };
}

/** Thrown through Wasm frames when a legacy packet load is out of bounds: the program returns 0. */
class PacketAbort {}

export class JitProgram {
  readonly compiled: CompiledModule;
  private readonly exports: {
    run: () => number;
    runCtx: (ctx: number) => number;
    callSub: (index: number, fp: number) => number;
    runSub: (index: number) => number;
  };
  private readonly countInsns: boolean;

  constructor(
    readonly insns: readonly Insn[],
    readonly mem: AddressSpace,
    private readonly options: JitOptions = {},
  ) {
    this.compiled = compileToWasm(insns, mem, options);
    this.countInsns = options.countInsns ?? true;
    const module = new WebAssembly.Module(this.compiled.bytes);
    const instance = new WebAssembly.Instance(module, { env: this.imports() });
    this.exports = instance.exports as unknown as JitProgram['exports'];
  }

  private fail(pc: number, reason: string): never {
    throw new BpfRuntimeError(pc, formatInsn(this.insns, pc), reason);
  }

  private imports(): Record<string, WebAssembly.ImportValue> {
    const { mem, insns, options } = this;
    const call = new HelperCall(mem);
    const lastFrame = mem.framePointer(MAX_CALL_FRAMES - 1);
    call.invoke = (slot, args) => {
      const index = this.subprogIndex(slot);
      if (index < 0) this.fail(call.pc, `callback target slot ${slot} is not the start of a function`);
      if (call.fp >= lastFrame) this.fail(call.pc, faultText.callDepth());
      const saved = [call.pc, call.fp];
      for (let i = 1; i <= 5; i++) mem.view.setBigUint64(mem.callArea + i * 8, BigInt.asUintN(64, args[i - 1] ?? 0n), true);
      this.exports.callSub(index, call.fp + STACK_SIZE);
      [call.pc, call.fp] = saved;
      return mem.view.getBigUint64(mem.callArea, true);
    };
    const serve = (def: HelperDef, pc: number, fp: number): void => {
      call.pc = pc;
      call.fp = fp;
      try {
        call.setResult(def.fn(call));
      } catch (e) {
        if (e instanceof ScxError && !(e instanceof BpfRuntimeError) && !(e instanceof ProgramExit)) this.fail(pc, `${def.name}: ${e.message}`);
        throw e;
      }
    };
    const env: Record<string, WebAssembly.ImportValue> = {
      memory: mem.memory,
      trap: (pc: number, kind: number, lo: number, hi: number): void => {
        const addr = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
        switch (kind as TrapKind) {
          case TrapKind.Memory: {
            const insn = insns[pc];
            const write = (insn.opcode & 0x07) === 0x02 || (insn.opcode & 0x07) === 0x03;
            const size = accessSize(insn.opcode);
            this.fail(pc, mem.checkAccess(addr, size, write) ?? `access of ${size} bytes at 0x${addr.toString(16)} outside the address space`);
            break;
          }
          case TrapKind.CallDepth:
            this.fail(pc, faultText.callDepth());
            break;
          case TrapKind.Misaligned:
            this.fail(pc, faultText.misalignedAtomic(addr));
            break;
          case TrapKind.InsnLimit:
            this.fail(pc, faultText.insnLimit(options.maxInsns ?? 0));
            break;
          case TrapKind.AddrSpaceCast:
            this.fail(pc, faultText.addrSpaceCast());
        }
      },
    };
    for (const imp of this.compiled.helperImports) {
      const table: HelperTable = (imp.kind === 'kfunc' ? options.kfuncs : options.helpers)!;
      const def = table.get(imp.id)!;
      env[imp.name] = (pc: number, fp: number) => serve(def, pc, fp);
    }
    if (this.compiled.usesCallx) {
      env.callx = (pc: number, lo: number, hi: number, fp: number): number => {
        const target = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
        const slot = slotOfCodeAddress(target);
        if (slot >= 0) {
          const index = this.subprogIndex(slot);
          if (index >= 0) return index;
        }
        const def = target < 0x8000_0000n ? options.helpers?.get(Number(target)) : undefined;
        if (!def) this.fail(pc, `unknown callx target 0x${target.toString(16)} (neither a helper id nor a function address)`);
        serve(def, pc, fp);
        return -1;
      };
    }
    if (this.compiled.usesPacket) {
      env.packet = (pc: number, srcLo: number): number => {
        const pkt = options.packet;
        if (!pkt) this.fail(pc, faultText.noPacket());
        const insn = insns[pc];
        const size = accessSize(insn.opcode);
        // The kernel adds register and immediate as 32-bit ints, wrapping.
        const offset = (insn.imm + ((insn.opcode & 0xe0) === 0x20 ? 0 : srcLo)) | 0;
        if (offset < 0 || offset + size > pkt.len) throw new PacketAbort();
        let v = 0;
        for (let i = 0; i < size; i++) v = v * 256 + mem.bytes[pkt.addr + offset + i];
        return v | 0;
      };
    }
    return env;
  }

  private subprogIndex(slot: number): number {
    let start = 0;
    for (let i = 0; i < this.compiled.subprogs.length; i++) {
      if (start === slot) return i;
      start += this.compiled.subprogs[i];
    }
    return -1;
  }

  /** Run with r1..r5 = `args`; the same contract as the interpreter's `run`. */
  run(args: readonly bigint[] = []): RunResult {
    const { view, callArea } = this.mem;
    for (let i = 1; i <= 5; i++) view.setBigUint64(callArea + i * 8, BigInt.asUintN(64, args[i - 1] ?? 0n), true);
    try {
      this.exports.run();
    } catch (e) {
      if (e instanceof PacketAbort) return { r0: 0n, insns: this.lastInsnCount() };
      throw e;
    }
    return { r0: view.getBigUint64(callArea, true), insns: this.lastInsnCount() };
  }

  /**
   * The hot path: r1 = `ctx` (an address), r2..r5 = 0. Returns r0's low 32 bits as a signed
   * int; the full r0 is in the call area's first word.
   */
  runCtx(ctx: number): number {
    return this.exports.runCtx(ctx);
  }

  /**
   * Run the function starting at `slot` as a top-level invocation (e.g. a BPF timer callback)
   * with r1..r5 = `args`.
   */
  runFunction(slot: number, args: readonly bigint[] = []): RunResult {
    const index = this.subprogIndex(slot);
    if (index < 0) throw new BpfRuntimeError(slot, slot < this.insns.length ? formatInsn(this.insns, slot) : '<end>', 'not the start of a function');
    const { view, callArea } = this.mem;
    for (let i = 1; i <= 5; i++) view.setBigUint64(callArea + i * 8, BigInt.asUintN(64, args[i - 1] ?? 0n), true);
    this.exports.runSub(index);
    return { r0: view.getBigUint64(callArea, true), insns: this.lastInsnCount() };
  }

  /** Instructions the last run executed (0 when counting is off). */
  lastInsnCount(): number {
    if (!this.countInsns) return 0;
    const { view, callArea } = this.mem;
    return view.getUint32(callArea + COUNT_WORD, true) + view.getUint32(callArea + COUNT_WORD + 4, true) * 0x1_0000_0000;
  }
}
