import { describe, expect, it } from 'vitest';
import { findings, parseProse } from '../../src/harness/analysis.ts';
import type { Metrics } from '../../src/harness/metrics.ts';
import type { RunOutcome } from '../../src/harness/run-one.ts';
import type { Suite } from '../../src/harness/suite.ts';

const suite: Suite = { name: 't', file: 't.json', schedulers: ['builtin:eevdf', 'a.bpf.o', 'b.bpf.o'], workloads: ['w'], topologies: ['4'], seeds: [1, 2, 3], durationNs: 1e9, hz: 1000 };

/** A run whose metrics are null except the given ones. */
function run(scheduler: string, seed: number, m: Partial<Metrics>): RunOutcome {
  return { index: 0, id: `${scheduler}-${seed}`, scheduler, workload: 'w', topology: '4', seed, durationNs: 1e9, status: 'ok', metrics: m as Metrics };
}

describe('findings', () => {
  it('names schedulers significantly better or worse than the baseline, and only those', () => {
    const p99 = { 'builtin:eevdf': [1.0e6, 1.1e6, 1.2e6], 'a.bpf.o': [2.0e6, 2.1e6, 2.2e6], 'b.bpf.o': [1.05e6, 1.2e6, 1.0e6] };
    const outcomes = Object.entries(p99).flatMap(([s, vs]) => vs.map((v, i) => run(s, i + 1, { wakeupLatencyP99Ns: v })));
    const [section] = findings(suite, outcomes);
    const item = (section.blocks[1] as { items: string[] }).items[0];
    expect(item).toBe('`w` on `4`: p99 wake-up latency (builtin:eevdf 1.1 ms): worse: a 2.1 ms (+91%).');
  });

  it('says so when nobody differs significantly, and leaves out metrics every scheduler ties on', () => {
    const outcomes = ['builtin:eevdf', 'a.bpf.o', 'b.bpf.o'].flatMap((s, j) =>
      [1, 2, 3].map((seed) => run(s, seed, { wakeupLatencyP99Ns: 1e6 + ((seed * 7 + j * 3) % 5) * 1e4, fairnessJain: 1 })),
    );
    const item = (findings(suite, outcomes)[0].blocks[1] as { items: string[] }).items[0];
    expect(item).toMatch(/^`w` on `4`: p99 wake-up latency \(builtin:eevdf [\d.]+ ms\): no significant difference \(means [\d.]+ ms to [\d.]+ ms\)\.$/);
    expect(item).not.toContain('fairness');
  });

  it('lists differences the seeds do not vary as untested, from 10% up', () => {
    const p99 = { 'builtin:eevdf': 1e6, 'a.bpf.o': 3e6, 'b.bpf.o': 1.05e6 };
    const outcomes = Object.entries(p99).flatMap(([s, v]) => [1, 2, 3].map((seed) => run(s, seed, { wakeupLatencyP99Ns: v })));
    const item = (findings(suite, outcomes)[0].blocks[1] as { items: string[] }).items[0];
    expect(item).toBe('`w` on `4`: p99 wake-up latency (builtin:eevdf 1 ms): different, but the seeds do not vary it, so untested: a 3 ms (+200%).');
  });

  it('lists untested differences from a baseline of 0 without a percentage', () => {
    const miss = { 'builtin:eevdf': 0, 'a.bpf.o': 0.1, 'b.bpf.o': 0 };
    const outcomes = Object.entries(miss).flatMap(([s, v]) => [1, 2, 3].map((seed) => run(s, seed, { deadlineMissRatio: v })));
    const item = (findings(suite, outcomes)[0].blocks[1] as { items: string[] }).items[0];
    expect(item).toBe('`w` on `4`: deadline misses (builtin:eevdf 0%): different, but the seeds do not vary it, so untested: a 10%.');
  });

  it('refuses a suite without the baseline', () => {
    expect(() => findings({ ...suite, schedulers: ['a.bpf.o'] }, [])).toThrow("no scheduler 'builtin:eevdf'");
  });
});

describe('parseProse', () => {
  it('reads headings, paragraphs (joined lines), lists with continuation lines', () => {
    const text = '## One\n\nFirst line\nsecond line.\n\n- item `a`\n  continued\n- item **b**\n\n## Two\n\nText.\n';
    expect(parseProse(text, 'x.md')).toEqual([
      { id: 'one', heading: 'One', blocks: [{ kind: 'p', text: 'First line second line.' }, { kind: 'ul', items: ['item `a` continued', 'item **b**'] }] },
      { id: 'two', heading: 'Two', blocks: [{ kind: 'p', text: 'Text.' }] },
    ]);
  });

  it('refuses what it does not render, naming the line', () => {
    expect(() => parseProse('## A\n\n| table |\n', 'x.md')).toThrow("x.md:3: expected a '## Heading', a '- ' item or a paragraph, found '| table |'");
    expect(() => parseProse('text first\n', 'x.md')).toThrow("x.md:2: expected a '## Heading' before any text");
  });
});
