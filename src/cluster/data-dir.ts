// Where a node keeps its state under --data-dir: one place that names the parts, for the node and
// for `concord restore`, which builds a data dir from a backup.

import fs from 'node:fs';
import path from 'node:path';

export const dataDirLayout = (dataDir: string) => ({
  /** The Raft log of each group: an append-only WAL (storage/raft-wal-store.ts). */
  wal: (group: string) => path.join(dataDir, 'wal', group),
  /** Snapshot data files, one subdirectory per group. */
  snapshots: path.join(dataDir, 'snapshots'),
  /** The key-value state machines (LMDB). */
  kv: path.join(dataDir, 'kv'),
});

/**
 * Refuse a data dir whose Raft log is in the LMDB format of Concord 0.1 (`raft/data.mdb`): this
 * version keeps the log in a WAL and does not read the old one. Rather than start without the log,
 * which would lose acknowledged writes, say how to move the data over.
 */
export function assertNoLegacyRaftLog(dataDir: string): void {
  if (!fs.existsSync(path.join(dataDir, 'raft', 'data.mdb')) || fs.existsSync(path.join(dataDir, 'wal'))) return;
  throw new Error(
    `${dataDir} holds a Raft log in the LMDB format of Concord 0.1 (${path.join(dataDir, 'raft')}), which this version does not read. ` +
      'Move the data with a backup: run `concord backup --out FILE` against the cluster with the old version, then ' +
      '`concord restore FILE --data-dir NEW_DIR` with this one (or add this node back to its cluster with an empty data dir).',
  );
}
