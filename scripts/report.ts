/**
 * `npm run report`: run the default suite and write the reference report into results/
 * (REPORT.md, report.html, charts/, results.csv), replacing the committed one. Charts the new
 * report no longer draws are removed. test/harness/reference-report.test.ts checks that the
 * committed files are exactly what this produces.
 */
import { availableParallelism } from 'node:os';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { referenceReport } from '../src/harness/reference-report.ts';
import { writeFileAtomic } from '../src/util/fs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'results');
// Relative paths: the report names its suite file, and must not depend on where the checkout is.
process.chdir(ROOT);
const { files, runs } = await referenceReport('bench/suites/default.json', 'bench/report/analysis.md', availableParallelism(), (done, total) => {
  if (done % 50 === 0 || done === total) process.stderr.write(`run ${done}/${total}\n`);
});
mkdirSync(join(OUT, 'charts'), { recursive: true });
for (const f of readdirSync(join(OUT, 'charts'))) if (!files.has(`charts/${f}`)) rmSync(join(OUT, 'charts', f));
for (const [name, content] of files) writeFileAtomic(join(OUT, name), content);
process.stdout.write(`${runs} runs; wrote ${files.size} files to ${OUT} (REPORT.md, report.html, results.csv, charts/)\n`);
