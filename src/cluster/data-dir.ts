// Where a node keeps its state under --data-dir: one place that names the parts, for the node and
// for `concord restore`, which builds a data dir from a backup.

import fs from 'node:fs';
import path from 'node:path';

/**
 * The Raft group every node hosts: the cluster's membership and shard count, and with one shard its data too
 * (src/node/shard-map.ts). Its id names the group's parts of the data dir and tags every peer message, so the
 * node and `concord restore` must agree on it.
 */
export const GROUP = 'g0';

export type DataDirLayout = ReturnType<typeof dataDirLayout>;

export const dataDirLayout = (dataDir: string) => ({
  /** The Raft logs of the node's groups: one append-only WAL they share (storage/node-wal.ts). */
  wal: path.join(dataDir, 'wal'),
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

/** What a node remembers of itself in its data dir: who it is and the peer address it last bound. */
export interface NodeRecord {
  nodeId: string;
  /** Absent in a data dir `concord restore` made, which has not run yet. */
  raftAddr?: string;
  /** The cluster its state belongs to (cluster-identity.ts); absent until founded or learned. */
  clusterUid?: string;
  /**
   * The cluster's shard count once this node knows it; 0 while a joining node has yet to learn it. Absent in
   * a data dir of a version before shards, whose cluster has one.
   */
  shards?: number;
}

const recordFile = (dataDir: string) => path.join(dataDir, 'node.json');

export function readNodeRecord(dataDir: string): NodeRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(recordFile(dataDir), 'utf8')) as Partial<NodeRecord>;
    if (typeof r.nodeId !== 'string') return undefined;
    const out: NodeRecord = { nodeId: r.nodeId };
    if (typeof r.raftAddr === 'string') out.raftAddr = r.raftAddr;
    if (typeof r.clusterUid === 'string') out.clusterUid = r.clusterUid;
    if (typeof r.shards === 'number' && Number.isInteger(r.shards) && r.shards >= 0) out.shards = r.shards;
    return out;
  } catch {
    return undefined; // absent (a data dir from before the record existed) or unreadable: nothing remembered
  }
}

/** Written whole under another name and renamed into place, so a crash leaves the old record or the new. */
export function writeNodeRecord(dataDir: string, record: NodeRecord): void {
  for (const k of Object.keys(record) as Array<keyof NodeRecord>) if (record[k] === undefined) delete record[k];
  const tmp = `${recordFile(dataDir)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(record) + '\n');
  fs.renameSync(tmp, recordFile(dataDir));
}

/**
 * Refuse a data dir that another node's id wrote: its log and votes are that node's, and starting it under
 * a new id would have one member's state answer for another.
 */
export function assertOwnDataDir(dataDir: string, nodeId: string): void {
  const r = readNodeRecord(dataDir);
  if (r && r.nodeId !== nodeId) {
    throw new Error(`${dataDir} holds the state of node ${r.nodeId}, not ${nodeId}; start it with --node-id ${r.nodeId}, or give ${nodeId} a data dir of its own`);
  }
}
