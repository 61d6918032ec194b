/**
 * The simulated kernel as loaded BPF objects see it: its BTF (the structures of
 * kernel-types.ts plus a FUNC per kfunc), the kfuncs it exports, and its configuration values.
 */
import { CTypeBtfBuilder as BtfBuilder } from '../bpf/btf-build.ts';
import type { Btf } from '../bpf/btf.ts';
import { cpumaskKfuncs, iterNumKfuncs, rcuKfuncs } from '../bpf/kfuncs/generic.ts';
import type { KfuncDef } from '../bpf/kfuncs/kfunc.ts';
import { idleMachine, type BpfObject, type Kernel, type Machine, type ProgramSpec } from '../bpf/loader.ts';
import type { ProgramContext } from '../bpf/verifier/analyze.ts';
import { scxProgramContext } from './ext/verify-context.ts';
import { AddressSpace } from '../bpf/memory.ts';
import { KERNEL_TYPES, NR_CPUS } from './kernel-types.ts';
import { scxKfuncs } from './ext/kfunc-protos.ts';

/** Makes the kfuncs of one object (bound to its memory and the machine). */
export type KfuncProvider = (mem: AddressSpace, machine: Machine) => KfuncDef[];

const GENERIC_KFUNCS: KfuncProvider[] = [
  (mem) => iterNumKfuncs(mem),
  (mem, machine) => cpumaskKfuncs({ mem, nrCpuIds: machine.nrCpus, currentCpu: () => machine.currentCpu() }),
  () => rcuKfuncs(),
];

export interface KernelConfig {
  /** Linux version the kernel presents, e.g. [6, 12, 0]. */
  version?: [number, number, number];
  hz?: number;
  /**
   * The sched_ext kfuncs, bound to one object (the simulator's core provides them); without it,
   * the kfuncs exist (objects load and can be inspected) but fail when called.
   */
  scx?: KfuncProvider;
}

export class SimKernel implements Kernel {
  readonly btf: Btf;
  private readonly funcIds = new Map<string, number>();
  private readonly providers: KfuncProvider[];
  private readonly config = new Map<string, bigint>();
  private readonly flavour: '6.12' | 'newer';

  constructor(cfg: KernelConfig = {}) {
    this.providers = [...GENERIC_KFUNCS, cfg.scx ?? (() => scxKfuncs())];
    const builder = new BtfBuilder();
    for (const t of KERNEL_TYPES) builder.add(t);
    // Prototypes do not depend on the object: list them once against a scratch memory.
    const scratch = new AddressSpace();
    const probe = idleMachine();
    for (const provider of this.providers) {
      for (const k of provider(scratch, probe)) {
        if (this.funcIds.has(k.name)) throw new Error(`kfunc ${k.name} is defined twice`);
        this.funcIds.set(k.name, builder.addFunc(k.name, k.proto));
      }
    }
    this.btf = builder.build();
    const [major, minor, patch] = cfg.version ?? [6, 12, 0];
    this.flavour = major === 6 && minor === 12 ? '6.12' : 'newer';
    this.config.set('LINUX_KERNEL_VERSION', BigInt((major << 16) + (minor << 8) + Math.min(patch, 255)));
    this.config.set('CONFIG_HZ', BigInt(cfg.hz ?? 1000));
    this.config.set('CONFIG_NR_CPUS', BigInt(NR_CPUS));
    this.config.set('CONFIG_SMP', 1n);
    this.config.set('CONFIG_SCHED_CLASS_EXT', 1n);
    this.config.set('CONFIG_EXT_GROUP_SCHED', 1n);
  }

  kfuncId(name: string): number | undefined {
    return this.funcIds.get(name);
  }

  kfuncNames(): string[] {
    return [...this.funcIds.keys()];
  }

  kfuncs(mem: AddressSpace, machine: Machine): KfuncDef[] {
    return this.providers.flatMap((p) => p(mem, machine));
  }

  programContext(obj: BpfObject, prog: ProgramSpec): ProgramContext | undefined {
    return scxProgramContext(obj, prog, this.flavour);
  }

  kconfig(name: string): bigint | undefined {
    return this.config.get(name);
  }
}
