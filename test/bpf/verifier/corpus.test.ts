/**
 * The C half of the negative corpus (test/fixtures/verifier/manifest.json): each object is a
 * sched_ext scheduler with one unsafe callback, and loading it must fail in the verifier with the
 * manifest's phrase, pointing (through BTF line info) at the manifest's source line.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LoadError, idleMachine, loadObject } from '../../../src/bpf/loader.ts';
import { SimKernel } from '../../../src/sched/kernel.ts';

interface ManifestCase {
  file: string;
  source?: string;
  kind: string;
  program?: string;
  line: number;
  expect: string;
  category: string;
}

const FIXTURES = resolve(__dirname, '../../fixtures/verifier');
const manifest: ManifestCase[] = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8'));
const cases = manifest.filter((c) => c.kind === 'c');

describe('the verifier rejects the C negative corpus', () => {
  it('has 64 C cases covering every category', () => {
    expect(cases.length).toBe(64);
    expect(new Set(cases.map((c) => c.category)).size).toBeGreaterThanOrEqual(12);
  });

  for (const c of cases) {
    it(`${c.file}: '${c.expect}' at ${c.source}:${c.line}`, { timeout: c.expect === 'complex' ? 120_000 : 10_000 }, () => {
      const bytes = new Uint8Array(readFileSync(join(FIXTURES, c.file)));
      let message = '';
      try {
        loadObject(bytes, c.file, new SimKernel(), idleMachine(4));
      } catch (e) {
        if (!(e instanceof LoadError)) throw e;
        message = e.message;
      }
      expect(message, `${c.file} loaded`).not.toBe('');
      expect(message).toContain(`program '${c.program}'`);
      expect(message.toLowerCase()).toContain(c.expect.toLowerCase());
      const name = c.source!.split('/').pop();
      expect(message.endsWith(`(./${name}:${c.line})`), message).toBe(true);
    });
  }
});
