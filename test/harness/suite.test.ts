import { describe, expect, it } from 'vitest';
import { expandSuite, parseSuite } from '../../src/harness/suite.ts';

const good = {
  name: 'tiny',
  schedulers: ['builtin:eevdf', '../../schedulers/fifo.bpf.o'],
  workloads: ['gen:hogs,n=2', 'w.csv'],
  topologies: ['2'],
  seeds: [1, 2],
  duration: '100ms',
};

describe('suites', () => {
  it('expand to one run per combination, seeds varying fastest, paths relative to the suite file', () => {
    const runs = expandSuite(parseSuite(JSON.stringify(good), '/repo/bench/suites/tiny.json'));
    expect(runs.map((r) => r.id)).toEqual(['s0-w0-t0-seed1', 's0-w0-t0-seed2', 's0-w1-t0-seed1', 's0-w1-t0-seed2', 's1-w0-t0-seed1', 's1-w0-t0-seed2', 's1-w1-t0-seed1', 's1-w1-t0-seed2']);
    expect(runs[6]).toMatchObject({ index: 6, scheduler: '../../schedulers/fifo.bpf.o', schedulerPath: '/repo/schedulers/fifo.bpf.o', workloadPath: '/repo/bench/suites/w.csv', durationNs: 100_000_000, hz: 1000 });
    expect(runs[0]).toMatchObject({ schedulerPath: 'builtin:eevdf', workloadPath: 'gen:hogs,n=2' });
  });

  it('names the key and what was wrong', () => {
    const bad = (patch: object) => () => parseSuite(JSON.stringify({ ...good, ...patch }), 's.json');
    expect(bad({ colour: 'red' })).toThrow('s.json: .colour: unknown key (expected one of name, schedulers, workloads, topologies, seeds, duration, hz)');
    expect(bad({ schedulers: [] })).toThrow('s.json: .schedulers: expected a non-empty list of strings, found []');
    expect(bad({ workloads: ['a', 'a'] })).toThrow("s.json: .workloads[1]: 'a' is listed twice");
    expect(bad({ topologies: ['9x'] })).toThrow('s.json: .topologies[0]: ');
    expect(bad({ seeds: [1, -2] })).toThrow('s.json: .seeds: expected a non-empty list of non-negative integers, found [1,-2]');
    expect(bad({ duration: '0s' })).toThrow('s.json: .duration: expected more than 0, found "0s"');
    expect(bad({ name: 'a b' })).toThrow(`s.json: .name: expected a name of letters, digits, '.', '_' or '-', found "a b"`);
    expect(() => parseSuite('{', 's.json')).toThrow('s.json: not JSON');
  });
});
