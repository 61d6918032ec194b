import { readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Write a file so that readers see either the old content or the new, never a torn one: the data
 * goes to a temporary file in the same folder, which is then renamed over the target.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Read a file a user named, turning a failure into the one-line error the caller's kind of input
 * uses (`make`): `FILE: no such file`, or `FILE: cannot read (reason)`.
 */
export function readUserFile(path: string, make: (message: string) => Error): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw make(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`}`);
  }
}
