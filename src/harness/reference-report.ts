/**
 * The reference report committed in results/ (issue 9): the default suite run in full, its
 * tables and charts, preceded by the hand-written analysis (bench/report/analysis.md) and the
 * findings derived from the numbers (analysis.ts). Everything is a pure function of the suite,
 * the scheduler objects and the seeds, so `npm run report` regenerates the committed files byte
 * for byte, whatever the number of worker threads.
 */
import { readFileSync } from 'node:fs';
import { ScxError } from '../util/errors.ts';
import { findings, parseProse } from './analysis.ts';
import { buildReport } from './html-report.ts';
import { resultsCsv, runAll } from './runner.ts';
import { expandSuite, loadSuite } from './suite.ts';

export interface ReferenceReport {
  /** Path relative to the results folder -> content. */
  files: Map<string, string>;
  runs: number;
}

export async function referenceReport(suiteFile: string, analysisFile: string, jobs: number, onDone?: (done: number, total: number) => void): Promise<ReferenceReport> {
  const suite = loadSuite(suiteFile);
  let analysisText: string;
  try {
    analysisText = readFileSync(analysisFile, 'utf8');
  } catch {
    throw new ScxError(`${analysisFile}: cannot read the report's analysis`);
  }
  const runs = expandSuite(suite);
  const outcomes = await runAll(runs, { jobs, onDone: onDone && ((_o, done, total) => onDone(done, total)) });
  const bad = outcomes.filter((o) => o.status !== 'ok');
  if (bad.length) {
    // The reference report shows clean runs only: an aborted or failed run is a bug to fix first.
    throw new ScxError(`${bad.length} of ${outcomes.length} runs did not complete cleanly, e.g. ${bad[0].id} (${bad[0].status}${bad[0].error ? `: ${bad[0].error}` : bad[0].metrics?.exitMessage ? `: ${bad[0].metrics.exitMessage}` : ''})`);
  }
  const report = await buildReport(suite, outcomes, [...parseProse(analysisText, analysisFile), ...findings(suite, outcomes)]);
  const files = new Map<string, string>();
  files.set('REPORT.md', report.markdown);
  files.set('report.html', report.html);
  files.set('results.csv', resultsCsv(outcomes));
  for (const [name, svg] of report.charts) files.set(`charts/${name}`, svg);
  return { files, runs: outcomes.length };
}
