// Snapshot data lives in files, one directory per group. A file is only referenced from the Raft log
// after it is completely on disk (temp file, fsync, rename, fsync of the directory), so a crash
// leaves either no reference or a reference to a whole file; files nothing references any more are
// swept when the group is opened. The WAL writes its new segments the same way.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

const TEMP_SUFFIX = '.tmp';

/** Create the directory durably (its own entry in the parent directory is fsynced too). */
export function ensureDirDurably(dir: string): void {
  if (fs.existsSync(dir)) return;
  const parent = path.dirname(dir);
  ensureDirDurably(parent);
  fs.mkdirSync(dir);
  fsyncDirSync(parent);
}

/** A name that never collides with an earlier snapshot's file, even across restarts. */
export function snapshotFileName(index: number): string {
  return `snap-${String(index).padStart(16, '0')}-${randomBytes(4).toString('hex')}.bin`;
}

export async function writeFileDurably(dir: string, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
  const target = path.join(dir, name);
  const temp = target + TEMP_SUFFIX;
  const fh = await fsp.open(temp, 'w');
  try {
    // A list is written piece by piece, never joined: a compaction's base may hold 64 MiB entries.
    if (data instanceof Uint8Array) await fh.writeFile(data);
    else for (const piece of data) await fh.write(piece);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(temp, target);
  const dh = await fsp.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** writeFileDurably, synchronously (for opening a store, before anything else runs). */
export function writeFileDurablySync(dir: string, name: string, data: Uint8Array | string): void {
  const target = path.join(dir, name);
  writeAndFsyncSync(target + TEMP_SUFFIX, data);
  fs.renameSync(target + TEMP_SUFFIX, target);
  fsyncDirSync(dir);
}

/** Write `file` (replacing it) and fsync it; its directory entry is the caller's business. */
export function writeAndFsyncSync(file: string, data: Uint8Array | string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function readSnapshotFile(dir: string, name: string): Uint8Array {
  const b = fs.readFileSync(path.join(dir, name));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Remove every file in `dir` except those in `keep` (leftovers of crashes and of replaced snapshots). */
export function sweepSnapshotDir(dir: string, keep: ReadonlySet<string>): void {
  for (const name of fs.readdirSync(dir)) {
    if (!keep.has(name)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** Best effort: a file we fail to delete now is swept at the next open. */
export function removeSnapshotFile(dir: string, name: string): void {
  fsp.rm(path.join(dir, name), { force: true }).catch(() => {});
}

/** fsync a directory, so that entries created or removed in it are durable. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
