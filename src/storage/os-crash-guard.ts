// The KV state machine's LMDB environment commits without fsync (see openKvEnv). Such an environment
// survives the crash of its process, since every commit is in the kernel's page cache, but not the
// crash of the operating system: pages may then reach the disk in any order and LMDB may reuse pages
// the last durable tree still points at, so the files can be torn in ways no checksum reports.
//
// The guard tells the two apart. While an environment is open, a marker in its directory names the
// boot it was opened in (Linux's boot id). Opening it again finds either no marker (it was closed
// cleanly, after a final sync), a marker of this boot (only the process died: the page cache kept
// everything), or a marker of another boot (the machine went down under it). In the last case the
// directory is discarded; the host rebuilds the state machine from the Raft snapshot and log, which
// are fsynced and are all a state machine is ever derived from.

import fs from 'node:fs';
import path from 'node:path';
import { fsyncDirSync, writeAndFsyncSync } from './snapshot-files.ts';

const MARKER = 'open-in-boot';
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/**
 * This boot's id, or '' where the system has none: then every unclean shutdown counts as an OS
 * crash, which costs a rebuild but is never unsafe.
 */
export function currentBootId(): string {
  try {
    return fs.readFileSync(BOOT_ID_FILE, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Call before opening the environment in `dir`. Returns true if the directory was discarded because
 * the system went down while it was open (or it was left open where boots cannot be told apart).
 * The marker is on disk when this returns.
 */
export function claimUnsyncedDir(dir: string, bootId: string): boolean {
  const marker = path.join(dir, MARKER);
  let discarded = false;
  let previous: string | undefined;
  try {
    previous = fs.readFileSync(marker, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (previous !== undefined && (previous !== bootId || bootId === '')) {
    fs.rmSync(dir, { recursive: true, force: true });
    discarded = true;
  }
  fs.mkdirSync(dir, { recursive: true });
  writeAndFsyncSync(marker, bootId);
  fsyncDirSync(dir);
  if (discarded) fsyncDirSync(path.dirname(dir));
  return discarded;
}

/** Call after the environment's final sync and close. */
export function releaseUnsyncedDir(dir: string): void {
  fs.rmSync(path.join(dir, MARKER), { force: true });
}
