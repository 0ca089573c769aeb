// Moving a data dir written with one WAL per group (format 1: <wal>/<group>/<seq>.wal) into the node's
// WAL. Each group's log is replayed as format 1 describes it and written as one BASE into the first
// segment of the node's WAL, which is created whole (temporary file, fsync, rename, fsync of the
// directory) before the old directories are deleted: a crash before the rename leaves the old layout,
// which the next start migrates again; a crash after it leaves old directories that are only deleted.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from './checksum.ts';
import { CorruptLogError } from './errors.ts';
import type { StorageLogger } from './logger.ts';
import { encodeBase, encodeHeader, groupTag, RECORD_HEADER_BYTES, RecordKind, scanSegment, type OpRecord } from './raft-wal-format.ts';
import { fsyncDirSync, writeFileDurablySync } from './snapshot-files.ts';
import { WalLog } from './wal-log.ts';

const LEGACY_SEGMENT = /^(\d{16})\.wal$/;

/** Migrate the per-group WALs under `dir`, if there are any (see the top of this file). */
export function migrateLegacyWal(dir: string, logger: StorageLogger): void {
  const groups = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  if (groups.length === 0) return;
  const migrated = fs.readdirSync(dir).some((n) => LEGACY_SEGMENT.test(n));
  if (!migrated) {
    const records: Buffer[] = [encodeHeader()];
    for (const group of groups) {
      const log = readLegacyGroup(path.join(dir, group), group, logger);
      if (log) records.push(wholeRecord(encodeBase(groupTag(group), log.state, log.entries).parts));
    }
    writeFileDurablySync(dir, `${'1'.padStart(16, '0')}.wal`, Buffer.concat(records));
    logger.info({ groups }, `raft log: moved the per-group logs of ${groups.length} group(s) into the node's log`);
  }
  for (const group of groups) fs.rmSync(path.join(dir, group), { recursive: true, force: true });
  fsyncDirSync(dir);
}

/** A record's buffers as one, its checksum computed here (large entries are sealed lazily otherwise). */
function wholeRecord(parts: Buffer[]): Buffer {
  const b = Buffer.concat(parts);
  b.writeUInt32LE(crc32(b, 0, RECORD_HEADER_BYTES), 4);
  return b;
}

/** The log one format-1 WAL directory holds, or undefined if it holds no segment. */
function readLegacyGroup(groupDir: string, group: string, logger: StorageLogger): WalLog | undefined {
  const seqs = fs
    .readdirSync(groupDir)
    .flatMap((n) => (LEGACY_SEGMENT.test(n) ? [Number(LEGACY_SEGMENT.exec(n)![1])] : []))
    .sort((a, b) => a - b);
  if (seqs.length === 0) return undefined;
  // Older segments are leftovers of a compaction that stopped before deleting them: the newest is whole.
  const name = `${String(seqs[seqs.length - 1]).padStart(16, '0')}.wal`;
  const scan = scanSegment(fs.readFileSync(path.join(groupDir, name)), true);
  const [base, ...ops] = scan.records;
  if (base?.kind !== RecordKind.Base || base.group !== group) {
    throw new CorruptLogError(group, `raft log of group ${group}: ${path.join(groupDir, name)} does not start with an intact base record of the group (${scan.ok ? 'no base' : scan.problem}); rebuild this node from a peer`);
  }
  const log = WalLog.replay(group, base, ops as OpRecord[]);
  if (!scan.ok) {
    if (!scan.tail) throw new CorruptLogError(group, `raft log of group ${group}: ${name} is damaged at byte ${scan.end} (${scan.problem}) and intact data follows; rebuild this node from a peer`);
    logger.warn({ group, segment: name, problem: scan.problem }, `raft log of group ${group}: torn final record (${scan.problem}) dropped while moving it into the node's log`);
    log.clampCommit();
  }
  return log;
}
