import { describe, expect, it } from 'vitest';
import { parseTopology, writeCpumask } from '../../src/sched/topology.ts';

describe('topology', () => {
  it('builds a flat machine from a CPU count', () => {
    const t = parseTopology('4');
    expect([t.spec, t.nrCpus, t.nodes, t.llcs, t.cores, t.threadsPerCore]).toEqual(['1n:1l:4c:1t', 4, 1, 1, 4, 1]);
    expect(t.cpus.map((c) => c.siblings)).toEqual([[0], [1], [2], [3]]);
  });

  it('numbers SMT siblings as Linux does on x86 and groups CPUs by LLC and node', () => {
    // 2 nodes x 2 LLCs x 2 cores x 2 threads: 8 cores, 16 CPUs; sibling of c is c + 8.
    const t = parseTopology('2n:2l:2c:2t');
    expect(t.nrCpus).toBe(16);
    expect(t.cpus.find((c) => c.id === 3)).toEqual({ id: 3, core: 3, llc: 1, node: 0, siblings: [3, 11] });
    expect(t.cpus.find((c) => c.id === 13)).toEqual({ id: 13, core: 5, llc: 2, node: 1, siblings: [5, 13] });
    expect(t.llcCpus).toEqual([
      [0, 1, 8, 9],
      [2, 3, 10, 11],
      [4, 5, 12, 13],
      [6, 7, 14, 15],
    ]);
    expect(t.nodeCpus).toEqual([
      [0, 1, 2, 3, 8, 9, 10, 11],
      [4, 5, 6, 7, 12, 13, 14, 15],
    ]);
    expect(parseTopology('2n:4c:2t').llcs).toBe(2);
    expect(parseTopology('server').nrCpus).toBe(64);
  });

  it('rejects malformed specs with the expected form', () => {
    expect(() => parseTopology('2n:x')).toThrow("topology '2n:x': expected a CPU count, NODESn:[LLCSl:]CORESc:THREADSt (e.g. 2n:4c:2t) or a preset");
    expect(() => parseTopology('0')).toThrow("topology '0': cores must be at least 1, found 0");
    expect(() => parseTopology('2048')).toThrow('2048 CPUs, the simulated kernel supports at most 1024');
  });

  it('writes cpumasks as the kernel lays them out', () => {
    const bytes = new Uint8Array(200).fill(0xff);
    writeCpumask(bytes, 8, [0, 9, 1023]);
    expect([...bytes.subarray(8, 10)]).toEqual([0b1, 0b10]);
    expect(bytes[8 + 127]).toBe(0x80);
    expect(bytes[7]).toBe(0xff);
    expect(bytes[8 + 128]).toBe(0xff);
  });
});
