/**
 * The simulated machine's CPUs: NUMA nodes, last-level caches, cores and SMT threads.
 *
 * Spec strings: `8` (8 CPUs, one node, one LLC, no SMT), `2n:4c:2t` (2 nodes of 4 cores with 2
 * threads each, one LLC per node) or `2n:2l:4c:2t` (2 nodes, 2 LLCs per node, 4 cores per LLC,
 * 2 threads per core), or a preset name. CPUs are numbered as Linux does on x86: the first
 * thread of every core, then the second thread of every core, so the SMT sibling of CPU c is
 * c + (number of cores).
 */
import { ScxError } from '../util/errors.ts';
import { NR_CPUS } from './kernel-types.ts';

export class TopologyError extends ScxError {}

export interface CpuInfo {
  id: number;
  core: number;
  llc: number;
  node: number;
  /** CPUs sharing this CPU's core, itself included, ascending. */
  siblings: number[];
}

export interface Topology {
  /** The spec it was built from, normalised: `2n:2l:4c:2t`. */
  spec: string;
  nrCpus: number;
  nodes: number;
  llcs: number;
  cores: number;
  threadsPerCore: number;
  cpus: CpuInfo[];
  /** CPU ids per LLC and per node, ascending. */
  llcCpus: number[][];
  nodeCpus: number[][];
}

export const TOPOLOGY_PRESETS: Record<string, string> = {
  laptop: '1n:1l:4c:2t',
  desktop: '1n:1l:8c:2t',
  server: '2n:2l:8c:2t',
  'epyc-like': '2n:4l:4c:2t',
};

export function parseTopology(spec: string): Topology {
  const text = TOPOLOGY_PRESETS[spec] ?? spec.trim();
  let nodes = 1;
  let llcsPerNode = 1;
  let coresPerLlc: number;
  let threads = 1;
  if (/^\d+$/.test(text)) {
    coresPerLlc = Number(text);
  } else {
    const m = /^(\d+)n:(?:(\d+)l:)?(\d+)c:(\d+)t$/.exec(text);
    if (!m) {
      throw new TopologyError(
        `topology '${spec}': expected a CPU count, NODESn:[LLCSl:]CORESc:THREADSt (e.g. 2n:4c:2t) or a preset (${Object.keys(TOPOLOGY_PRESETS).join(', ')})`,
      );
    }
    nodes = Number(m[1]);
    llcsPerNode = m[2] === undefined ? 1 : Number(m[2]);
    coresPerLlc = Number(m[3]);
    threads = Number(m[4]);
  }
  for (const [what, n] of [
    ['nodes', nodes],
    ['LLCs per node', llcsPerNode],
    ['cores', coresPerLlc],
    ['threads per core', threads],
  ] as const) {
    if (n < 1) throw new TopologyError(`topology '${spec}': ${what} must be at least 1, found ${n}`);
  }
  const cores = nodes * llcsPerNode * coresPerLlc;
  const nrCpus = cores * threads;
  if (nrCpus > NR_CPUS) throw new TopologyError(`topology '${spec}': ${nrCpus} CPUs, the simulated kernel supports at most ${NR_CPUS}`);

  const cpus: CpuInfo[] = [];
  for (let t = 0; t < threads; t++) {
    for (let core = 0; core < cores; core++) {
      const llc = Math.floor(core / coresPerLlc);
      cpus.push({ id: t * cores + core, core, llc, node: Math.floor(llc / llcsPerNode), siblings: [] });
    }
  }
  for (const c of cpus) c.siblings = Array.from({ length: threads }, (_, t) => t * cores + c.core);
  const group = (key: (c: CpuInfo) => number, n: number) => {
    const out: number[][] = Array.from({ length: n }, () => []);
    for (const c of cpus) out[key(c)].push(c.id);
    return out;
  };
  return {
    spec: `${nodes}n:${llcsPerNode}l:${coresPerLlc}c:${threads}t`,
    nrCpus,
    nodes,
    llcs: nodes * llcsPerNode,
    cores,
    threadsPerCore: threads,
    cpus,
    llcCpus: group((c) => c.llc, nodes * llcsPerNode),
    nodeCpus: group((c) => c.node, nodes),
  };
}

/** Write a set of CPUs as a kernel `struct cpumask` (little-endian bit array) at `bytes[at..]`. */
export function writeCpumask(bytes: Uint8Array, at: number, cpus: Iterable<number>): void {
  bytes.fill(0, at, at + NR_CPUS / 8);
  for (const cpu of cpus) bytes[at + (cpu >> 3)] |= 1 << (cpu & 7);
}
