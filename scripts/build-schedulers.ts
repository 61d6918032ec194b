/**
 * Compile schedulers/*.bpf.c with clang, and assemble schedulers/*.s with scx-sim's own
 * assembler (src/bpf/asm-object.ts), into the committed schedulers/*.bpf.o.
 *   npx tsx scripts/build-schedulers.ts          build (C needs clang 19 or newer)
 *   npx tsx scripts/build-schedulers.ts --check  rebuild in memory or a temporary folder and
 *                                                fail if a committed object is stale or missing
 * Builds are byte-for-byte reproducible: source paths are mapped to '.' (C) or recorded by base
 * name (assembler), so the checkout's location does not leak into the objects. The assembler
 * needs no clang, so its objects are always checked. Without clang, --check says why it skips the
 * C objects and passes unless SCX_SIM_REQUIRE_CLANG is set (CI sets it); a plain build fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/util/fs.ts';
import { assembleObject } from '../src/bpf/asm-object.ts';
import { ScxError } from '../src/util/errors.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = join(ROOT, 'schedulers');
export const CLANG_FLAGS = ['-target', 'bpf', '-mcpu=v3', '-O2', '-g', '-Wall', '-Werror', '-I', 'include'];

function findClang(): string | undefined {
  for (const cmd of ['clang-19', 'clang-20', 'clang-21', 'clang']) {
    const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
    const m = r.status === 0 ? /clang version (\d+)/.exec(r.stdout) : null;
    if (m && Number(m[1]) >= 19) return cmd;
  }
  return undefined;
}

function compile(clang: string, src: string, out: string): void {
  execFileSync(clang, [...CLANG_FLAGS, `-fdebug-prefix-map=${DIR}=.`, '-c', src, '-o', out], { cwd: DIR, stdio: 'inherit' });
}

/** Assemble schedulers/NAME.s into the bytes of NAME.bpf.o; errors read FILE:LINE:COL. */
function assemble(src: string): Uint8Array {
  try {
    return assembleObject(readFileSync(join(DIR, src), 'utf8'), { file: `schedulers/${src}` });
  } catch (e) {
    if (e instanceof ScxError) {
      process.stderr.write(`build-schedulers: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
}

const check = process.argv.includes('--check');
const asmSources = readdirSync(DIR).filter((f) => f.endsWith('.s')).sort();
const asmObject = (src: string) => src.replace(/\.s$/, '.bpf.o');
if (!check) {
  for (const src of asmSources) {
    writeFileAtomic(join(DIR, asmObject(src)), assemble(src));
    process.stdout.write(`schedulers/${asmObject(src)}\n`);
  }
} else {
  const stale = asmSources
    .filter((src) => {
      const committed = join(DIR, asmObject(src));
      return !existsSync(committed) || Buffer.compare(readFileSync(committed), assemble(src)) !== 0;
    })
    .map(asmObject);
  if (stale.length) {
    process.stderr.write(`build-schedulers --check: reassemble with 'npm run build:schedulers' and commit: ${stale.join(', ')}\n`);
    process.exit(1);
  }
  process.stdout.write(`build-schedulers --check: ${asmSources.length} assembled objects up to date\n`);
}

const sources = readdirSync(DIR).filter((f) => f.endsWith('.bpf.c')).sort();
const clang = findClang();
if (!clang) {
  const why = 'clang 19 or newer not found (apt-get install clang-19)';
  if (check && !process.env.SCX_SIM_REQUIRE_CLANG) {
    process.stdout.write(`build-schedulers --check skipped the C objects: ${why}\n`);
    process.exit(0);
  }
  process.stderr.write(`build-schedulers: ${why}\n`);
  process.exit(1);
}

if (!check) {
  for (const src of sources) {
    const obj = src.replace(/\.c$/, '.o');
    const tmp = mkdtempSync(join(tmpdir(), 'scx-build-'));
    compile(clang, src, join(tmp, obj));
    writeFileAtomic(join(DIR, obj), readFileSync(join(tmp, obj)));
    rmSync(tmp, { recursive: true, force: true });
    process.stdout.write(`schedulers/${obj}\n`);
  }
} else {
  const tmp = mkdtempSync(join(tmpdir(), 'scx-check-'));
  const stale: string[] = [];
  for (const src of sources) {
    const obj = src.replace(/\.c$/, '.o');
    compile(clang, src, join(tmp, obj));
    const committed = join(DIR, obj);
    if (!existsSync(committed)) stale.push(`${obj} (missing)`);
    else if (Buffer.compare(readFileSync(committed), readFileSync(join(tmp, obj))) !== 0) stale.push(`${obj} (stale)`);
  }
  rmSync(tmp, { recursive: true, force: true });
  if (stale.length) {
    process.stderr.write(`build-schedulers --check: rebuild with 'npm run build:schedulers' and commit: ${stale.join(', ')}\n`);
    process.exit(1);
  }
  process.stdout.write(`build-schedulers --check: ${sources.length} objects up to date (${clang})\n`);
}
