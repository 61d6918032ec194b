/**
 * The committed reference report (results/REPORT.md, report.html, results.csv, charts/) is
 * exactly what `npm run report` produces from the default suite: regenerated here in memory and
 * compared file by file. When a scheduler, the simulator or the suite changes, run
 * `npm run report`, read the new numbers against bench/report/analysis.md, and commit both.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceReport } from '../../src/harness/reference-report.ts';

const ROOT = resolve(__dirname, '../..');

describe('the committed reference report', () => {
  it('is what npm run report regenerates, byte for byte', { timeout: 600_000 }, async () => {
    const cwd = process.cwd();
    process.chdir(ROOT);
    let files: Map<string, string>;
    try {
      ({ files } = await referenceReport('bench/suites/default.json', 'bench/report/analysis.md', availableParallelism()));
    } finally {
      process.chdir(cwd);
    }
    const committedCharts = readdirSync(join(ROOT, 'results/charts')).map((f) => `charts/${f}`);
    expect([...files.keys()].filter((f) => f.startsWith('charts/')).sort()).toEqual(committedCharts.sort());
    for (const [name, content] of files) {
      const committed = readFileSync(join(ROOT, 'results', name), 'utf8');
      // Compare lengths first: a failing toBe on megabytes of text is unreadable.
      expect(committed.length, `${name} differs: run npm run report`).toBe(content.length);
      expect(committed === content, `${name} differs: run npm run report`).toBe(true);
    }
  });
});
