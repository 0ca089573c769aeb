// Temporary directories for data dirs and scratch files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A new empty directory under the OS temp dir, named `concord-<prefix>-…`; the caller removes it. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `concord-${prefix}-`));
}
