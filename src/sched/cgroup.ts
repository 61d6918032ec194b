/**
 * Cgroups as a sched_ext scheduler sees them: a tree of `struct cgroup` objects in the kernel
 * memory of the loaded object (kernel-types.ts), rooted at the root cgroup (level 0, path "/").
 * Each cgroup has its kernfs node (whose `id` is the kernel's cgroup id, cgroup_id()), its depth
 * (`level`) and `ancestors[0..level]` (root first, itself last), and a cpu.weight the core passes
 * to ops.cgroup_init.
 *
 * Cgroups are created parents first and never removed during a run, so the creation order is
 * the order ops.cgroup_init needs (parents before children) and its reverse the order of
 * ops.cgroup_exit. Ids count from 1 (the root) in creation order.
 */
import { fieldOf } from '../bpf/ctypes.ts';
import type { AddressSpace } from '../bpf/memory.ts';
import { cgroup, kernfsNode } from './kernel-types.ts';
import { CGROUP_WEIGHT_DFL, checkCgroups, type CgroupSpec } from './spec.ts';
import { ScxError } from '../util/errors.ts';

const F = {
  id: fieldOf(cgroup, 'self.id').offset,
  level: fieldOf(cgroup, 'level').offset,
  kn: fieldOf(cgroup, 'kn').offset,
  ancestors: fieldOf(cgroup, 'ancestors').offset,
  knId: fieldOf(kernfsNode, 'id').offset,
} as const;

export interface Cgroup {
  readonly path: string;
  /** cgroup_id(): the kernfs node id (and css id). */
  readonly id: number;
  readonly level: number;
  readonly weight: number;
  readonly parent: Cgroup | undefined;
  /** The struct cgroup's address in kernel memory. */
  readonly addr: number;
  /** ops.cgroup_init succeeded for it (so ops.cgroup_exit is due at teardown). */
  initialized: boolean;
}

export class CgroupTree {
  readonly root: Cgroup;
  private readonly byPath = new Map<string, Cgroup>();
  private readonly byAddr = new Map<number, Cgroup>();
  private readonly list: Cgroup[] = [];
  private readonly weights = new Map<string, number>();

  /** The root cgroup and every declared one (with their parents), in kernel memory `mem`. */
  constructor(
    private readonly mem: AddressSpace,
    declared: readonly CgroupSpec[] = [],
  ) {
    const problem = checkCgroups(declared);
    if (problem) throw new ScxError(problem);
    for (const c of declared) this.weights.set(c.path, c.weight ?? CGROUP_WEIGHT_DFL);
    this.root = this.make('/', undefined);
    for (const c of declared) this.ensure(c.path);
  }

  /** Every cgroup, parents before children (the order of creation). */
  all(): readonly Cgroup[] {
    return this.list;
  }

  get(path: string): Cgroup | undefined {
    return this.byPath.get(path);
  }

  at(addr: number): Cgroup | undefined {
    return this.byAddr.get(addr);
  }

  byId(id: number): Cgroup | undefined {
    return this.list[id - 1];
  }

  /** The ancestor of `c` at `level` (c itself at its own level), or undefined below the root or past c. */
  ancestor(c: Cgroup, level: number): Cgroup | undefined {
    if (!Number.isInteger(level) || level < 0 || level > c.level) return undefined;
    let a: Cgroup = c;
    while (a.level > level) a = a.parent!;
    return a;
  }

  /**
   * The cgroup at `path` (a path checkCgroupPath accepts), created with any missing parents
   * (as `mkdir -p` would); `created` receives the new cgroups, parents first.
   */
  ensure(path: string, created?: Cgroup[]): Cgroup {
    const have = this.byPath.get(path);
    if (have) return have;
    const cut = path.lastIndexOf('/');
    const parent = this.ensure(cut === 0 ? '/' : path.slice(0, cut), created);
    const c = this.make(path, parent);
    created?.push(c);
    return c;
  }

  private make(path: string, parent: Cgroup | undefined): Cgroup {
    const level = parent ? parent.level + 1 : 0;
    const id = this.list.length + 1;
    // The struct with its ancestors array sized for its level, then its kernfs node.
    const size = F.ancestors + 8 * (level + 1);
    const knAt = Math.ceil(size / 8) * 8;
    const region = this.mem.alloc(`cgroup ${path}`, knAt + kernfsNode.size, { align: 8, writable: false });
    const addr = region.start;
    const v = this.mem.view;
    v.setInt32(addr + F.id, id, true);
    v.setInt32(addr + F.level, level, true);
    v.setBigUint64(addr + F.kn, BigInt(addr + knAt), true);
    v.setBigUint64(addr + knAt + F.knId, BigInt(id), true);
    const c: Cgroup = { path, id, level, weight: parent ? (this.weights.get(path) ?? CGROUP_WEIGHT_DFL) : CGROUP_WEIGHT_DFL, parent, addr, initialized: false };
    for (let a: Cgroup | undefined = c; a; a = a.parent) v.setBigUint64(addr + F.ancestors + 8 * a.level, BigInt(a.addr), true);
    this.byPath.set(path, c);
    this.byAddr.set(addr, c);
    this.list.push(c);
    return c;
  }
}
