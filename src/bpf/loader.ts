/**
 * Loading a clang-built BPF object the way libbpf does, into one address space:
 *
 *  open:  parse the ELF and its BTF; find programs (by SEC() name), `.text` subprograms, maps in
 *         `.maps`, global data (`.data`, `.bss`, `.rodata`, `.data.*`, `.rodata.*`), externs in
 *         `.ksyms` and `.kconfig`, and struct_ops variables. Global data can then be changed, as
 *         a libbpf skeleton's user does before load (e.g. `.rodata` knobs).
 *  load:  create the maps, freeze `.rodata`, link each program with the `.text` functions it
 *         calls or takes the address of, apply the ELF relocations (maps, globals, kfuncs, ksym
 *         existence, kconfig) and the CO-RE relocations, check the structure of every program,
 *         and prepare it on the chosen engine.
 *
 * Everything the object needs from the machine (kernel BTF, kfuncs, time, CPUs, timers) comes
 * from a `Kernel` and a `Machine`; this module knows nothing about scheduling.
 */
import { ScxError } from '../util/errors.ts';
import { formatInsn } from './asm.ts';
import { CORE_KIND_NAMES, CORE_POISON_HELPER, essentialName, indexByName, patchInstruction, resolveRelocation, type CoreBtf, type CoreResult } from './core.ts';
import { parseElf, R_BPF_64_64, R_BPF_64_ABS32, R_BPF_64_ABS64, SHN_UNDEF, SHT_NOBITS, SHT_PROGBITS, STB_WEAK, STT_FUNC, STT_SECTION, type ElfFile, type ElfRelocation, type ElfSection, type ElfSymbol } from './elf.ts';
import { prepare, DEFAULT_ENGINE, type EngineName, type Executable } from './engine.ts';
import { BpfRuntimeError } from './interp.ts';
import { HelperError, helperTable, type ArrayLookupInline, type HelperDef, type HelperTable } from './helpers.ts';
import { CALL_HELPER, CALL_KFUNC, CALL_LOCAL, INSN_SIZE, OP_CALL, OP_LDDW, PSEUDO_FUNC, PSEUDO_MAP_VALUE, PSEUDO_MAP_FD, PSEUDO_BTF_ID, decode, splitImm64, type Insn } from './isa.ts';
import { HelperId, allocKernelWords, kernelHelpers, type KernelWords, type TimerService, type TimerState } from './kernel-helpers.ts';
import type { KfuncDef } from './kfuncs/kfunc.ts';
import { AddressSpace, codeAddress } from './memory.ts';
import { createGlobalDataMap, createMap } from './maps/index.ts';
import { KMALLOC_MAX_SIZE, type BpfMap, type MapEnv } from './maps/map.ts';
import { RingBufMap } from './maps/ringbuf.ts';
import { ArrayMap as ArrayMapClass, type ArrayMap } from './maps/array.ts';
import { sectionKind, type SectionKind } from './sections.ts';
import { analyze, type GlobalFunc, type KfuncDesc, type MapDesc, type ProgramContext, type VerifierMaps } from './verifier/analyze.ts';
import { C, array, ptr } from './ctypes.ts';
import { BPF_F_RDONLY_PROG } from './maps/map.ts';
import { objectBtf, type LineInfo, type ObjectBtf, type BtfVarInfo } from './btf-view.ts';

export class LoadError extends ScxError {}

/** What the simulated kernel offers every object. */
export interface Kernel {
  /** Target of CO-RE relocations. */
  btf: CoreBtf;
  /** Kernel BTF id of an exported kfunc, by its name without `___flavour`. */
  kfuncId(name: string): number | undefined;
  /** Kfunc implementations bound to one object's memory. */
  kfuncs(mem: AddressSpace, machine: Machine): KfuncDef[];
  /** Value of a `.kconfig` extern (CONFIG_HZ, LINUX_KERNEL_VERSION, ...). */
  kconfig(name: string): bigint | undefined;
  /**
   * What the verifier needs to know about a program's attachment (its callback's arguments, the
   * kfuncs it may call, the fields it may write); undefined for programs verified as plain ones.
   */
  programContext?(obj: BpfObject, prog: ProgramSpec): ProgramContext | undefined;
}

/** What the machine being simulated offers while programs run. */
export interface Machine {
  nrCpus: number;
  currentCpu(): number;
  random(): number;
  trace(line: string): void;
  timers: TimerService;
  isTask(addr: number): boolean;
}

/**
 * A machine for loading without simulating: one CPU, a fixed clock, no timers firing. Tools
 * (inspect, benchmarks) and tests start from it and override what they need.
 */
export function idleMachine(nrCpus = 1): Machine {
  return {
    nrCpus,
    currentCpu: () => 0,
    random: () => 0,
    trace: () => {},
    timers: { arm: () => {}, disarm: () => {}, running: () => undefined },
    isTask: () => false,
  };
}

export interface LoadOptions {
  engine?: EngineName;
  /**
   * Verify as strictly as Linux (default), or for memory safety only (permissive). Every program
   * is verified before it can run, either way.
   */
  mode?: 'kernel' | 'permissive';
  /** Called for every instruction the verifier processes, with the state it runs in (`verify --log`). */
  verifierLog?(program: string, pc: number, insn: string, line: LineInfo | undefined, state: string): void;
}

/** One global-data or map variable as the object declares it. */
export interface GlobalVar {
  name: string;
  section: string;
  offset: number;
  size: number;
}

export interface ProgramSpec {
  name: string;
  section: string;
  kind: SectionKind | undefined;
  /** Instructions of the section's function, before linking. */
  sectionInsns: Insn[];
  /** Byte offset of the function within its section. */
  offset: number;
}

export interface CoreRecord {
  program: string;
  insn: number;
  kind: string;
  spec: string;
  local: bigint;
  /** The value patched in, or null when the instruction was poisoned. */
  value: bigint | null;
  failure?: string;
}

export interface LoadedProgram {
  name: string;
  section: string;
  kind: SectionKind | undefined;
  insns: Insn[];
  /** C source line of each instruction, when BTF line info has one. */
  lines: (LineInfo | undefined)[];
  helpers: number[];
  kfuncs: string[];
  /** Instructions the verifier processed to accept the program (its complexity). */
  insnsProcessed: number;
  /** Wall-clock time the verifier took (for benchmarks; never part of a result). */
  verifyMs: number;
  exe: Executable;
}

export interface StructOpsVar {
  name: string;
  section: string;
  /** The struct's type name in the object's BTF, e.g. `sched_ext_ops`. */
  typeName: string;
  /** Raw bytes of the variable in the object's layout. */
  data: Uint8Array;
  /** Callback member -> program name. */
  callbacks: Map<string, string>;
  /** Data members with their offset and size in `data`. */
  fields: Map<string, { offset: number; size: number; kind: string }>;
}

const DATA_SECTION = /^\.(data|bss|rodata)(\..+)?$/;

/** A BPF object after `open`: inspectable, its global data still writable by the user. */
export class BpfObject {
  readonly programs: ProgramSpec[] = [];
  readonly mapVars: BtfVarInfo[] = [];
  readonly globals: GlobalVar[] = [];
  readonly structOps: StructOpsVar[] = [];
  readonly license: string;
  /** Section -> initial bytes for global data. */
  readonly dataInit = new Map<string, Uint8Array>();
  /** Sections that are neither programs nor understood data, with why they were skipped. */
  readonly skipped: { section: string; reason: string }[] = [];

  constructor(
    readonly file: string,
    readonly elf: ElfFile,
    readonly btf: ObjectBtf,
  ) {
    this.license = readLicense(elf);
  }

  /** Set a global variable's bytes before load (e.g. a `const volatile` knob in .rodata). */
  setGlobal(name: string, value: Uint8Array | bigint | number): void {
    const g = this.globals.find((x) => x.name === name);
    if (!g) throw new LoadError(`${this.file}: no global variable '${name}' (have: ${this.globals.map((x) => x.name).join(', ') || 'none'})`);
    const bytes = this.dataInit.get(g.section)!;
    if (typeof value === 'object') {
      if (value.length !== g.size) throw new LoadError(`${this.file}: '${name}' is ${g.size} bytes, got ${value.length}`);
      bytes.set(value, g.offset);
      return;
    }
    const v = BigInt.asUintN(64, BigInt(value));
    for (let i = 0; i < g.size; i++) bytes[g.offset + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  }
}

export function openObject(bytes: Uint8Array, file: string): BpfObject {
  const elf = parseElf(bytes, file);
  const btf = objectBtf(elf, file);
  const obj = new BpfObject(file, elf, btf);
  for (const sec of elf.sections) {
    if (sec.type === SHT_NOBITS || sec.type === SHT_PROGBITS) {
      if (isExec(sec)) collectPrograms(obj, sec);
      else if (DATA_SECTION.test(sec.name)) collectGlobals(obj, sec);
    }
  }
  for (const v of btf.datasec('.maps') ?? []) obj.mapVars.push(v);
  for (const name of ['.struct_ops', '.struct_ops.link']) {
    const sec = elf.section(name);
    if (sec) collectStructOps(obj, sec);
  }
  return obj;
}

function isExec(sec: ElfSection): boolean {
  return (Number(sec.flags) & 0x4) !== 0 && sec.size > 0;
}

function readLicense(elf: ElfFile): string {
  const sec = elf.section('license');
  if (!sec) return '';
  const end = sec.data.indexOf(0);
  return new TextDecoder().decode(sec.data.subarray(0, end < 0 ? sec.data.length : end));
}

function collectPrograms(obj: BpfObject, sec: ElfSection): void {
  if (sec.size % INSN_SIZE !== 0) {
    throw new LoadError(`${obj.file}: section '${sec.name}' (index ${sec.index}) at offset 0x${sec.offset.toString(16)}: ${sec.size} bytes is not a whole number of instructions`);
  }
  const insns = decode(sec.data);
  if (sec.name === '.text') return;
  const funcs = obj.elf.symbols.filter((s) => s.shndx === sec.index && s.type === STT_FUNC);
  if (funcs.length === 0) {
    obj.skipped.push({ section: sec.name, reason: 'executable section without a function symbol' });
    return;
  }
  for (const f of funcs) {
    if (f.value % INSN_SIZE !== 0 || f.size % INSN_SIZE !== 0) {
      throw new LoadError(`${obj.file}: function '${f.name}' at ${sec.name}+0x${f.value.toString(16)} (${f.size} bytes) is not aligned to whole instructions`);
    }
    obj.programs.push({ name: f.name, section: sec.name, kind: sectionKind(sec.name), sectionInsns: insns, offset: f.value });
  }
}

function collectGlobals(obj: BpfObject, sec: ElfSection): void {
  // The section becomes one array map value, which the kernel caps at KMALLOC_MAX_SIZE.
  if (sec.size > KMALLOC_MAX_SIZE) {
    throw new LoadError(`${obj.file}: section '${sec.name}' (index ${sec.index}) is ${sec.size} bytes; global data is limited to ${KMALLOC_MAX_SIZE} bytes per section`);
  }
  const init = sec.type === SHT_NOBITS ? new Uint8Array(sec.size) : new Uint8Array(sec.data);
  obj.dataInit.set(sec.name, init);
  for (const v of obj.btf.datasec(sec.name) ?? []) {
    obj.globals.push({ name: v.name, section: sec.name, offset: v.offset, size: v.size });
  }
}

function collectStructOps(obj: BpfObject, sec: ElfSection): void {
  const relocs = obj.elf.relocationsFor(sec.index);
  for (const v of obj.btf.datasec(sec.name) ?? []) {
    const members = obj.btf.members(v.typeId);
    const data = sec.data.slice(v.offset, v.offset + v.size);
    const callbacks = new Map<string, string>();
    const fields = new Map<string, { offset: number; size: number; kind: string }>();
    for (const m of members) {
      if (m.isFuncPtr) {
        const r = relocs.find((x) => x.offset === v.offset + m.offset);
        if (r) {
          const sym = obj.elf.symbols[r.symbol];
          callbacks.set(m.name, sym.name);
        }
      } else {
        fields.set(m.name, { offset: m.offset, size: m.size, kind: m.kind });
      }
    }
    obj.structOps.push({ name: v.name, section: sec.name, typeName: obj.btf.typeName(v.typeId), data, callbacks, fields });
  }
}

/** An object after `load`: maps created, programs relocated, checked and ready to run. */
export class LoadedObject {
  readonly mem = new AddressSpace();
  readonly maps = new Map<string, BpfMap>();
  readonly programs = new Map<string, LoadedProgram>();
  readonly coreRecords: CoreRecord[] = [];
  readonly words: KernelWords;
  /** Address of each map's `struct bpf_map` stand-in, which `lddw map_fd` loads. */
  private readonly mapByAddr = new Map<number, BpfMap>();
  private readonly mapAddr = new Map<BpfMap, number>();
  /** Global data section -> map holding it. */
  private readonly dataMaps = new Map<string, BpfMap>();
  readonly timerStates = new Map<number, TimerState>();

  constructor(
    readonly object: BpfObject,
    readonly kernel: Kernel,
    readonly machine: Machine,
  ) {
    this.words = allocKernelWords(this.mem);
  }

  mapAt(addr: number): BpfMap | undefined {
    return this.mapByAddr.get(addr);
  }

  addressOfMap(map: BpfMap): number {
    return this.mapAddr.get(map)!;
  }

  /** The map holding a global data section's bytes. */
  dataMap(section: string): BpfMap | undefined {
    return this.dataMaps.get(section);
  }

  isDataMap(map: BpfMap): boolean {
    return [...this.dataMaps.values()].includes(map);
  }

  registerMap(name: string, map: BpfMap): void {
    // A small region stands for the kernel's struct bpf_map: its address identifies the map.
    const addr = this.mem.alloc(`map ${name}`, 8, { writable: false }).start;
    this.maps.set(name, map);
    this.mapByAddr.set(addr, map);
    this.mapAddr.set(map, addr);
  }

  registerDataMap(section: string, map: BpfMap): void {
    this.registerMap(section, map);
    this.dataMaps.set(section, map);
  }

  /**
   * The CPU running a program: the kernel word the simulator sets before each call, which the
   * JIT also reads inline (bpf_get_smp_processor_id, per-CPU array lookups).
   */
  currentCpu(): number {
    return this.mem.view.getUint32(this.words.cpuAddr, true);
  }

  mapEnv(): MapEnv {
    return { mem: this.mem, nrCpus: this.machine.nrCpus, currentCpu: () => this.currentCpu() };
  }

  /** bpf_map_lookup_elem's inline form: every array map of the object. */
  arrayLookupInline(): ArrayLookupInline {
    const maps = [...this.maps.values()]
      .filter((m): m is ArrayMap => m instanceof ArrayMapClass)
      .map((m) => ({ addr: this.addressOfMap(m), ...m.layout }));
    return { kind: 'arrayLookup', cpuAddr: this.words.cpuAddr, maps };
  }
}

/** Open and load in one step. */
export function loadObject(bytes: Uint8Array, file: string, kernel: Kernel, machine: Machine, options: LoadOptions = {}): LoadedObject {
  return load(openObject(bytes, file), kernel, machine, options);
}

export function load(obj: BpfObject, kernel: Kernel, machine: Machine, options: LoadOptions = {}): LoadedObject {
  try {
    return loadUnchecked(obj, kernel, machine, options);
  } catch (e) {
    // Errors from maps, memory or BTF name what failed but not always the object: add it.
    if (e instanceof ScxError && !(e instanceof LoadError) && !e.message.startsWith(obj.file)) {
      throw new LoadError(`${obj.file}: ${e.message}`);
    }
    throw e;
  }
}

function loadUnchecked(obj: BpfObject, kernel: Kernel, machine: Machine, options: LoadOptions): LoadedObject {
  const loaded = new LoadedObject(obj, kernel, machine);
  const where = (sec: ElfSection, off: number) => `${obj.file}: section '${sec.name}' (index ${sec.index}) at offset 0x${off.toString(16)}`;

  // Global data: one single-element array map per section; .rodata is frozen for programs.
  for (const [section, init] of obj.dataInit) {
    const readonly = section.startsWith('.rodata');
    loaded.registerDataMap(section, createGlobalDataMap(section, init, loaded.mapEnv(), { readonly, fields: obj.btf.dataFields(section) }));
  }
  // BTF-defined maps.
  for (const v of obj.mapVars) {
    const spec = obj.btf.mapSpec(v);
    const map = createMap(spec, loaded.mapEnv());
    loaded.registerMap(v.name, map);
  }
  const kconfig = buildKconfig(obj, loaded, kernel);

  const targetIndex = indexByName(kernel.btf);
  const kfuncDefs = kernel.kfuncs(loaded.mem, { ...machine, currentCpu: () => loaded.currentCpu() });
  const kfuncTable = helperTable(
    kfuncDefs.map((d) => ({ id: kernel.kfuncId(d.name) ?? 0, name: d.name, fn: d.fn })).filter((d) => d.id > 0),
  );
  const poisonedKfunc: HelperDef = {
    id: 0,
    name: 'missing kfunc',
    fn: () => {
      throw new HelperError('called a weak kfunc that the simulated kernel does not provide');
    },
  };
  const kfuncs = new Map(kfuncTable);
  kfuncs.set(0, poisonedKfunc);
  const kfuncById = new Map<number, KfuncDesc>();
  for (const d of kfuncDefs) {
    const id = kernel.kfuncId(d.name);
    if (id) kfuncById.set(id, { name: d.name, proto: d.proto, flags: d.flags ?? 0 });
  }
  const verifierMaps = mapsForVerifier(loaded);

  for (const prog of obj.programs) {
    const linked = linkProgram(obj, loaded, prog, kconfig, where);
    // CO-RE relocations, per original section, applied where the instruction was linked.
    for (const section of new Set([prog.section, '.text'])) {
      for (const relo of obj.btf.coreRelocations(section)) {
        const at = linked.linkedSlot(section, relo.insn);
        if (at < 0) continue;
        const site = `${obj.file}: program '${prog.name}', CO-RE relocation at ${section}+0x${(relo.insn * INSN_SIZE).toString(16)}`;
        let result: CoreResult;
        try {
          result = resolveRelocation(relo, obj.btf.core, kernel.btf, targetIndex);
        } catch (e) {
          if (e instanceof ScxError) throw new LoadError(`${site}: ${e.message}`);
          throw e;
        }
        const problem = patchInstruction(linked.insns, at, result);
        if (problem) throw new LoadError(`${site} (${result.spec}): ${problem}`);
        loaded.coreRecords.push({ program: prog.name, insn: at, kind: CORE_KIND_NAMES[relo.kind], spec: result.spec, local: result.local, value: result.value, failure: result.failure });
        if (result.value === null) linked.poisonNotes.set(at, `CO-RE relocation failed: ${result.failure}`);
      }
    }
    // Helpers by id, kfuncs by kernel BTF id, plus the poison call for failed CO-RE relocations.
    const helperDefs = kernelHelpers(
      {
        mem: loaded.mem,
        words: loaded.words,
        mapAt: (a) => loaded.mapAt(a),
        random: () => machine.random(),
        trace: (line) => machine.trace(line),
        timers: machine.timers,
        timerStates: loaded.timerStates,
        isTask: (a) => machine.isTask(a),
        ringbufOfSample: (a) => [...loaded.maps.values()].find((m) => m instanceof RingBufMap && m.contains(a)),
      },
      prog.name,
    );
    const lookup = helperDefs.findIndex((d) => d.id === HelperId.map_lookup_elem);
    helperDefs[lookup] = { ...helperDefs[lookup], inline: loaded.arrayLookupInline() };
    helperDefs.push({
      id: CORE_POISON_HELPER,
      name: 'CO-RE poison',
      fn: (c) => {
        throw new HelperError(linked.poisonNotes.get(c.pc) ?? 'CO-RE relocation failed');
      },
    });
    const helpers = helperTable(helperDefs);
    checkUnknownCalls(obj, prog, linked.insns, helpers, kfuncs);
    const verifyStart = performance.now();
    const verdict = analyze(linked.insns, {
      mode: options.mode ?? 'kernel',
      helpers,
      kfuncs,
      pseudoResolved: true,
      program: kernel.programContext?.(obj, prog),
      maps: verifierMaps,
      kfunc: (id) => kfuncById.get(id),
      globalFuncs: linked.globalFuncs,
      log: options.verifierLog && ((pc, state) => options.verifierLog!(prog.name, pc, formatInsn(linked.insns, pc), linked.lines[pc], state)),
    });
    const verifyMs = performance.now() - verifyStart;
    if (!verdict.ok) {
      const line = linked.lines[verdict.pc];
      const at = line ? ` (${line.file}:${line.line})` : '';
      throw new LoadError(`${obj.file}: program '${prog.name}': ${verdict.message}${at}`);
    }
    const exe = withSourceLines(prepare(options.engine ?? DEFAULT_ENGINE, linked.insns, loaded.mem, { helpers, kfuncs, probeLoads: verdict.probeLoads }), prog.name, linked.lines);
    loaded.programs.set(prog.name, {
      name: prog.name,
      section: prog.section,
      kind: prog.kind,
      insns: linked.insns,
      lines: linked.lines,
      helpers: [...new Set(linked.insns.filter((i) => i.opcode === OP_CALL && i.src === CALL_HELPER).map((i) => i.imm))].sort((a, b) => a - b),
      kfuncs: [...linked.kfuncNames].sort(),
      insnsProcessed: verdict.insnsProcessed,
      verifyMs,
      exe,
    });
  }
  return loaded;
}

/** A fault while a loaded program runs, naming the program and the C source line. */
export class ProgramFault extends ScxError {
  constructor(
    readonly program: string,
    readonly fault: BpfRuntimeError,
    readonly line: LineInfo | undefined,
  ) {
    super(`program '${program}', ${fault.message}${line ? ` at ${line.file}:${line.line}: ${line.text.trim()}` : ''}`);
  }
}

/** Faults carry the instruction index; add the program and its C source line. */
function withSourceLines(exe: Executable, program: string, lines: (LineInfo | undefined)[]): Executable {
  const mapped = <T>(run: () => T): T => {
    try {
      return run();
    } catch (e) {
      if (e instanceof BpfRuntimeError) throw new ProgramFault(program, e, lines[e.pc]);
      throw e;
    }
  };
  return {
    run: (args) => mapped(() => exe.run(args)),
    runCtx: (ctx) => mapped(() => exe.runCtx(ctx)),
    runFunction: (slot, args) => mapped(() => exe.runFunction(slot, args)),
    lastInsnCount: () => exe.lastInsnCount(),
  };
}

/** `.kconfig` externs: a data area filled from the kernel's configuration. */
function buildKconfig(obj: BpfObject, loaded: LoadedObject, kernel: Kernel): Map<string, number> {
  const vars = obj.btf.datasec('.kconfig') ?? [];
  const addrs = new Map<string, number>();
  if (vars.length === 0) return addrs;
  const size = vars.reduce((n, v) => Math.max(n, v.offset + v.size), 0);
  const data = new Uint8Array(Math.max(size, 8));
  for (const v of vars) {
    const value = kernel.kconfig(v.name);
    const weak = obj.elf.symbols.some((s) => s.name === v.name && s.bind === STB_WEAK);
    if (value === undefined && !weak) throw new LoadError(`${obj.file}: extern '${v.name}' in .kconfig: the simulated kernel has no such config value`);
    const x = BigInt.asUintN(64, value ?? 0n);
    for (let i = 0; i < v.size; i++) data[v.offset + i] = Number((x >> BigInt(8 * i)) & 0xffn);
  }
  const map = createGlobalDataMap('.kconfig', data, loaded.mapEnv(), { readonly: true });
  loaded.registerDataMap('.kconfig', map);
  const base = (map as ArrayMap).valueAddr(0, 0);
  for (const v of vars) addrs.set(v.name, base + v.offset);
  return addrs;
}

interface Linked {
  insns: Insn[];
  lines: (LineInfo | undefined)[];
  /** Where an instruction of a section ended up in `insns`, or -1 if it was not linked in. */
  linkedSlot(section: string, sectionSlot: number): number;
  kfuncNames: Set<string>;
  poisonNotes: Map<number, string>;
  /** Global (non-static) functions by their first linked instruction. */
  globalFuncs: Map<number, GlobalFunc>;
}

/**
 * Build one program: its own function, then every `.text` function it reaches through calls or
 * `lddw func`, with calls, function addresses and data references relocated.
 */
function linkProgram(
  obj: BpfObject,
  loaded: LoadedObject,
  prog: ProgramSpec,
  kconfig: Map<string, number>,
  where: (sec: ElfSection, off: number) => string,
): Linked {
  const { elf } = obj;
  const progSec = elf.section(prog.section)!;
  const text = elf.section('.text');
  const textInsns = text ? decode(text.data) : [];
  const progSym = elf.symbols.find((s) => s.shndx === progSec.index && s.type === STT_FUNC && s.value === prog.offset)!;
  const progStart = prog.offset / INSN_SIZE;
  const progEnd = progSym.size ? progStart + progSym.size / INSN_SIZE : prog.sectionInsns.length;

  // Functions of .text by start slot, with their length.
  const textFuncs = new Map<number, number>();
  for (const s of elf.symbols) {
    if (!text || s.shndx !== text.index || s.type !== STT_FUNC) continue;
    if (s.value % INSN_SIZE !== 0 || s.size % INSN_SIZE !== 0) {
      throw new LoadError(`${obj.file}: function '${s.name}' at .text+0x${s.value.toString(16)} (${s.size} bytes) is not aligned to whole instructions`);
    }
    textFuncs.set(s.value / INSN_SIZE, Math.max(1, s.size / INSN_SIZE));
  }
  const relocsOf = (sec: ElfSection | undefined) => {
    const m = new Map<number, ElfRelocation>();
    if (sec) for (const r of elf.relocationsFor(sec.index)) m.set(r.offset / INSN_SIZE, r);
    return m;
  };
  const progRelocs = relocsOf(progSec);
  const textRelocs = relocsOf(text);

  const insns: Insn[] = prog.sectionInsns.slice(progStart, progEnd).map((i) => ({ ...i }));
  const origin: { section: string; slot: number }[] = insns.map((_, i) => ({ section: prog.section, slot: progStart + i }));
  const placed = new Map<number, number>(); // .text function start -> linked slot
  const kfuncNames = new Set<string>();
  const poisonNotes = new Map<number, string>();

  /** Place a .text function (once) and return its linked slot. */
  const place = (textSlot: number, from: string): number => {
    const known = placed.get(textSlot);
    if (known !== undefined) return known;
    const len = textFuncs.get(textSlot);
    if (len === undefined) throw new LoadError(`${from}: target .text+0x${(textSlot * INSN_SIZE).toString(16)} is not the start of a function`);
    const at = insns.length;
    placed.set(textSlot, at);
    for (let i = 0; i < len; i++) {
      insns.push({ ...textInsns[textSlot + i] });
      origin.push({ section: '.text', slot: textSlot + i });
    }
    return at;
  };

  // Relocate, growing `insns` as .text functions are appended (the loop sees them too).
  for (let pc = 0; pc < insns.length; pc++) {
    const { section, slot } = origin[pc];
    const sec = section === '.text' ? text! : progSec;
    const relocs = section === '.text' ? textRelocs : progRelocs;
    const insn = insns[pc];
    const here = where(sec, slot * INSN_SIZE);
    const r = relocs.get(slot);
    if (insn.opcode === OP_CALL && insn.src === CALL_LOCAL) {
      let target: number;
      if (r) {
        const sym = elf.symbols[r.symbol];
        if (sym.shndx === SHN_UNDEF) {
          // An extern function: a kfunc.
          resolveKfunc(loaded, insn, sym, here, kfuncNames);
          continue;
        }
        if (!text || sym.shndx !== text.index) throw new LoadError(`${here}: call to '${sym.name}', which is not in .text`);
        target = place(sym.value / INSN_SIZE + insn.imm + 1, here);
      } else {
        // A call inside the same section: relative to the instruction's original position.
        const targetSlot = slot + insn.imm + 1;
        if (section === '.text') target = place(targetSlot, here);
        else {
          if (targetSlot < progStart || targetSlot >= progEnd) throw new LoadError(`${here}: call target outside the program`);
          target = targetSlot - progStart;
        }
      }
      insns[pc] = { ...insn, imm: target - pc - 1 };
      continue;
    }
    if (!r) continue;
    const sym = elf.symbols[r.symbol];
    if (insn.opcode === OP_LDDW) {
      if (r.type !== R_BPF_64_64) throw new LoadError(`${here}: lddw with relocation type ${r.type}, expected R_BPF_64_64 (1)`);
      relocateLddw(obj, loaded, insns, pc, sym, kconfig, here, place, kfuncNames);
      if (insns[pc].src === PSEUDO_FUNC) insns[pc] = { ...insns[pc], imm: insns[pc].imm - pc - 1 };
      pc++;
      continue;
    }
    if (insn.opcode === OP_CALL && sym.shndx === SHN_UNDEF) {
      resolveKfunc(loaded, insn, sym, here, kfuncNames);
      continue;
    }
    if (r.type === R_BPF_64_ABS64 || r.type === R_BPF_64_ABS32) continue;
    throw new LoadError(`${here}: relocation type ${r.type} against '${sym.name}' on an instruction that takes none`);
  }

  // Kfunc calls were marked with the kernel BTF id in place; give them their final form.
  for (let pc = 0; pc < insns.length; pc++) {
    const insn = insns[pc];
    if (insn.opcode === OP_CALL && insn.src === CALL_KFUNC && insn.off === -1) insns[pc] = { ...insn, off: 0 };
  }

  const lines = origin.map((o) => obj.btf.lineAt(o.section, o.slot));
  const linkedSlot = (section: string, slot: number): number => {
    if (section === prog.section) return slot >= progStart && slot < progEnd ? slot - progStart : -1;
    if (section !== '.text') return -1;
    for (const [start, at] of placed) {
      if (slot >= start && slot < start + textFuncs.get(start)!) return at + (slot - start);
    }
    return -1;
  };
  // Global functions, which the verifier checks on their own (BTF func info says which are).
  const globalFuncs = new Map<number, GlobalFunc>();
  for (const [textSlot, at] of placed) {
    const info = obj.btf.funcAt('.text', textSlot);
    if (info?.global) {
      globalFuncs.set(at, { name: info.name, params: info.params.map((p) => (p.pointer ? ptr(array(C.u8, p.size)) : C.u64)) });
    }
  }
  return { insns, lines, linkedSlot, kfuncNames, poisonNotes, globalFuncs };
}

/** The loaded object's maps as the verifier sees them, by the addresses programs hold. */
function mapsForVerifier(loaded: LoadedObject): VerifierMaps {
  const descs = new Map<BpfMap, MapDesc>();
  const desc = (m: BpfMap): MapDesc => {
    let d = descs.get(m);
    if (!d) {
      d = {
        name: m.name,
        type: m.type,
        keySize: m.keySize,
        valueSize: m.valueSize,
        maxEntries: m.maxEntries,
        readonly: (m.flags & BPF_F_RDONLY_PROG) !== 0,
        fields: m.spec.fields ?? [],
      };
      descs.set(m, d);
    }
    return d;
  };
  const dataRanges = [...loaded.maps.values()]
    .filter((m): m is ArrayMap => m instanceof ArrayMapClass && m.maxEntries === 1 && loaded.isDataMap(m))
    .map((m) => ({ map: m, start: m.valueAddr(0, 0) }));
  return {
    mapAt: (addr) => {
      const m = loaded.mapAt(addr);
      return m && desc(m);
    },
    valueAt: (addr) => {
      const r = dataRanges.find((x) => addr >= x.start && addr < x.start + x.map.valueSize);
      return r && { map: desc(r.map), offset: addr - r.start };
    },
  };
}

function resolveKfunc(loaded: LoadedObject, insn: Insn, sym: ElfSymbol, here: string, names: Set<string>): void {
  const name = essentialName(sym.name);
  const id = loaded.kernel.kfuncId(name);
  names.add(name);
  if (id === undefined) {
    if (sym.bind !== STB_WEAK) throw new LoadError(`${here}: kfunc '${sym.name}' is not provided by the simulated kernel`);
    // A weak kfunc the kernel lacks: calling it faults; bpf_ksym_exists() guards it.
    Object.assign(insn, { src: CALL_KFUNC, imm: 0, off: -1 });
    return;
  }
  Object.assign(insn, { src: CALL_KFUNC, imm: id, off: -1 });
}

function relocateLddw(
  obj: BpfObject,
  loaded: LoadedObject,
  insns: Insn[],
  pc: number,
  sym: ElfSymbol,
  kconfig: Map<string, number>,
  here: string,
  place: (textSlot: number, from: string) => number,
  kfuncNames: Set<string>,
): void {
  const { elf } = obj;
  const insn = insns[pc];
  const setImm = (src: number, value: bigint) => {
    const [lo, hi] = splitImm64(value);
    insns[pc] = { ...insn, src, imm: lo };
    insns[pc + 1] = { ...insns[pc + 1], imm: hi };
  };
  if (sym.shndx === SHN_UNDEF) {
    // An extern: kconfig value, or a ksym whose address says whether it exists.
    const kc = kconfig.get(sym.name);
    if (kc !== undefined) {
      setImm(PSEUDO_MAP_VALUE, BigInt(kc + insn.imm));
      return;
    }
    const name = essentialName(sym.name);
    const id = loaded.kernel.kfuncId(name);
    kfuncNames.add(name);
    if (id === undefined && sym.bind !== STB_WEAK) throw new LoadError(`${here}: extern '${sym.name}' is not provided by the simulated kernel`);
    // bpf_ksym_exists(): non-zero iff the kernel has it; the value is otherwise opaque.
    setImm(PSEUDO_BTF_ID, id === undefined ? 0n : codeAddress(0x100000 + id));
    return;
  }
  const sec = elf.sections[sym.shndx];
  if (!sec) throw new LoadError(`${here}: symbol '${sym.name}' names section ${sym.shndx}, which does not exist`);
  if (sec.name === '.maps') {
    const v = obj.mapVars.find((m) => m.offset === sym.value && m.name === sym.name) ?? obj.mapVars.find((m) => m.offset === sym.value + insn.imm);
    if (!v) throw new LoadError(`${here}: '${sym.name}' is not a map in .maps`);
    setImm(PSEUDO_MAP_FD, BigInt(loaded.addressOfMap(loaded.maps.get(v.name)!)));
    return;
  }
  if (isExec(sec)) {
    if (sec.name !== '.text') throw new LoadError(`${here}: address of '${sym.name}' in '${sec.name}'; only .text functions can be referenced`);
    const byteOff = (sym.type === STT_SECTION ? 0 : sym.value) + insn.imm;
    const at = place(byteOff / INSN_SIZE, here);
    insns[pc] = { ...insn, src: PSEUDO_FUNC, imm: at };
    insns[pc + 1] = { ...insns[pc + 1], imm: 0 };
    return;
  }
  const map = loaded.dataMap(sec.name);
  if (!map) throw new LoadError(`${here}: reference to '${sym.name}' in section '${sec.name}', which holds no data the program can use`);
  const base = (map as ArrayMap).valueAddr(0, 0);
  setImm(PSEUDO_MAP_VALUE, BigInt(base + (sym.type === STT_SECTION ? 0 : sym.value) + insn.imm));
}

function checkUnknownCalls(obj: BpfObject, prog: ProgramSpec, insns: Insn[], helpers: HelperTable, kfuncs: HelperTable): void {
  insns.forEach((insn, pc) => {
    if (insn.opcode !== OP_CALL) return;
    if (insn.src === CALL_HELPER && !helpers.has(insn.imm)) {
      throw new LoadError(`${obj.file}: program '${prog.name}', instruction ${pc}: unknown helper id ${insn.imm} (the simulated kernel has no such helper)`);
    }
    if (insn.src === CALL_KFUNC && !kfuncs.has(insn.imm)) {
      throw new LoadError(`${obj.file}: program '${prog.name}', instruction ${pc}: kfunc with BTF id ${insn.imm} is unknown`);
    }
  });
}

