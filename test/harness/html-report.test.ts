/**
 * The files report end to end: a small suite is run and written like `scx-sim suite run` does,
 * the reports are made from the folder, and report.html is opened in headless Chromium to check
 * that every chart really draws (not only that an <svg> string is there).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildReport, writeReports } from '../../src/harness/html-report.ts';
import { readResults, runAll, writeResults } from '../../src/harness/runner.ts';
import type { RunOutcome } from '../../src/harness/run-one.ts';
import { expandSuite, type Suite } from '../../src/harness/suite.ts';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/scx-sim.js');
const CHROMIUM = '/usr/bin/chromium';
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });

const SUITE: Suite = {
  name: 'report-test',
  file: join(ROOT, 'test/harness/report-test.json'),
  schedulers: ['builtin:eevdf', join(ROOT, 'schedulers/fifo.bpf.o')],
  workloads: ['gen:server,rate=5000,n=300', 'gen:hackbench,groups=1,fds=4,loops=40'],
  topologies: ['2', '1n:1l:2c:2t'],
  seeds: [1, 2],
  durationNs: 100_000_000,
  hz: 1000,
};

/** Every file of the report, by path relative to the folder: what must not change between generations. */
function reportFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const f of ['report.md', 'report.html']) files.set(f, readFileSync(join(dir, f)));
  for (const f of readdirSync(join(dir, 'charts')).sort()) files.set(`charts/${f}`, readFileSync(join(dir, 'charts', f)));
  return files;
}

describe('the HTML and Markdown report', () => {
  let dir: string;
  let outcomes: RunOutcome[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scx-report-'));
    outcomes = await runAll(expandSuite(SUITE), { jobs: 1 });
    writeResults(dir, SUITE, outcomes);
    await writeReports(dir, SUITE, outcomes);
  }, 120_000);

  it('writes tables per workload and machine, and links every chart it wrote', () => {
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const charts = readdirSync(join(dir, 'charts')).sort();
    const linked = [...md.matchAll(/\]\(charts\/([^)]+)\)/g)].map((m) => m[1]).sort();
    expect(linked).toEqual(charts);
    // Latency, utilisation, per-CPU utilisation and overhead draw in every group: both workloads wake tasks and use CPU, and fifo runs BPF.
    for (const w of [0, 1]) for (const t of [0, 1]) for (const kind of ['latency', 'utilisation', 'utilisation-per-cpu', 'overhead']) expect(charts).toContain(`w${w}-t${t}-${kind}.svg`);
    expect(charts).toContain('w0-t0-throughput.svg');
    expect(charts).toContain('w1-t0-fairness.svg');
    for (const w of SUITE.workloads) for (const t of SUITE.topologies) expect(md).toContain(`## \`${w}\` on \`${t}\``);
    // builtin:eevdf runs no BPF: '-' in its overhead columns; fifo's have a mean ± half-width over the two seeds.
    const eevdf = md.split('\n').filter((l) => l.startsWith('| builtin:eevdf | ok | 2 |'));
    expect(eevdf).toHaveLength(8);
    expect(eevdf[1].endsWith('| - | - |')).toBe(true);
    const fifo = md.split('\n').filter((l) => l.startsWith('| fifo | ok | 2 |'));
    expect(fifo[1]).toMatch(/\| \d+(\.\d+)? ± \d+(\.\d+)? \|$/);

    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    // One self-contained file: the charts inline, nothing loaded, nothing run.
    expect(html.match(/<svg /g)).toHaveLength(charts.length);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|\ssrc=|href="(?!#)|url\((?!#)/i);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/)/);
    // Ids stay unique across the inlined charts (vega numbers its clip paths per process).
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives byte-identical files when made again, in this process and by `scx-sim report`', async () => {
    const first = reportFiles(dir);
    await writeReports(dir, SUITE, outcomes);
    expect(reportFiles(dir)).toEqual(first);
    const r = cli('report', dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${join(dir, 'report.md')}\n${join(dir, 'report.html')}\n${first.size - 2} charts in ${join(dir, 'charts')}\n`);
    expect(reportFiles(dir)).toEqual(first);
    // From the files alone: what readResults gives back makes the same report.
    const back = readResults(dir);
    expect((await buildReport(back.suite, back.outcomes)).html).toBe(first.get('report.html')!.toString('utf8'));
  }, 60_000);

  it('shows aborted, failed and unfinished runs with their reasons, apart from clean ones', async () => {
    const changed = outcomes.map((o) => structuredClone(o));
    const fifo = changed.filter((o) => o.scheduler === SUITE.schedulers[1] && o.workload === SUITE.workloads[0] && o.topology === '2');
    fifo[0].status = 'aborted';
    Object.assign(fifo[0].metrics!, { exitKind: 1026, exitReason: 'runnable task stall', exitMessage: 'server[7] failed to run for 0.030s', exitAtNs: 42_500_000 });
    fifo[1] = Object.assign(fifo[1], { status: 'error', error: '/x/fifo.bpf.o: no such file', metrics: undefined });
    const eevdf = changed.find((o) => o.scheduler === 'builtin:eevdf' && o.workload === SUITE.workloads[1] && o.topology === '2')!;
    Object.assign(eevdf, { status: 'not run', metrics: undefined });
    const { markdown, html } = await buildReport(SUITE, changed);
    expect(markdown).toContain('- 16 runs: 13 ok, 1 aborted, 1 failed, 1 not run');
    expect(markdown).toContain('| fifo (aborted) | aborted | 1 |');
    expect(markdown).toMatch(/\| fifo \| failed \| 1 \| - \| - \|/);
    expect(markdown).toContain('| builtin:eevdf | not run | 1 |');
    expect(markdown).toContain(`- fifo, seed 1 (${fifo[0].id}): aborted at 42.500 ms: SCX_EXIT_ERROR_STALL (1026), runnable task stall: server[7] failed to run for 0.030s; the run went on in the fair class`);
    expect(markdown).toContain(`- fifo, seed 2 (${fifo[1].id}): failed: /x/fifo.bpf.o: no such file`);
    expect(markdown).toContain(`(${eevdf.id}): not run:`);
    expect(html).toContain('<tr class="aborted"><td><span class="swatch" style="background:#ffbf79"></span>fifo (aborted)</td>');
    expect(html).toContain('<tr class="error"><td>fifo</td><td>failed</td>');
    expect(html).toContain(`<li class="aborted">fifo, seed 1 (${fifo[0].id}): aborted at 42.500 ms: SCX_EXIT_ERROR_STALL (1026)`);
    // The aborted run is a series of its own in the charts, in its paler colour.
    expect(html).toContain('fifo (aborted)</text>');
  });

  it('fails on a folder that is not a results folder with one line naming the missing file', () => {
    const empty = mkdtempSync(join(tmpdir(), 'scx-report-empty-'));
    const r = cli('report', empty);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`scx-sim: ${join(empty, 'suite.json')}: no such file (is this a results folder?)\n`);
  });

  // CI installs chromium and sets SCX_SIM_REQUIRE_CHROMIUM, so there the check can never be skipped.
  if (!existsSync(CHROMIUM) && process.env.SCX_SIM_REQUIRE_CHROMIUM) throw new Error(`${CHROMIUM} is required (SCX_SIM_REQUIRE_CHROMIUM is set) but missing`);
  const noChromium = !existsSync(CHROMIUM);
  if (noChromium) console.log(`html-report.test.ts: skipping the browser check: ${CHROMIUM} does not exist (CI installs Debian's chromium; apt-get install chromium)`);

  it.skipIf(noChromium)('draws every chart in headless Chromium without a console error, and saves a screenshot', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1480, height: 1000 } });
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${join(dir, 'report.html')}`, { waitUntil: 'load' });
      const svgs = await page.evaluate(() =>
        Array.from(document.querySelectorAll('svg')).map((svg) => {
          const box = svg.getBoundingClientRect();
          // Data marks only (vega's role-mark groups), not axes, legends or titles.
          const marks = Array.from(svg.querySelectorAll<SVGGraphicsElement>('g.role-mark > path, g.role-mark > rect, g.role-mark > circle, g.role-mark > line'));
          const drawn = marks.filter((m) => {
            const b = m.getBBox();
            return b.width > 0 && b.height > 0;
          });
          return { title: svg.querySelector('.role-title-text')?.textContent ?? '?', width: box.width, height: box.height, marks: marks.length, drawn: drawn.length };
        }),
      );
      expect(svgs).toHaveLength(readdirSync(join(dir, 'charts')).length);
      for (const s of svgs) {
        expect(s.width, s.title).toBeGreaterThan(100);
        expect(s.height, s.title).toBeGreaterThan(100);
        expect(s.drawn, s.title).toBeGreaterThan(0);
      }
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(50_000);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
