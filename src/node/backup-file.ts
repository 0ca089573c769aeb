// The backup file: one JSON header line, then the body GET /v1/backup streamed: one shard's snapshot image
// (self-checking frames), or with several shards every shard's image as sections (kv/backup-sections.ts).
// `restoreBackup` turns one into the data dir of a new single-node cluster holding exactly that data.

import fs from 'node:fs';
import { RaftWalStore } from '../storage/raft-wal-store.ts';
import { NodeWal } from '../storage/node-wal.ts';
import { KvEnv } from '../storage/kv-env.ts';
import { KvStore } from '../storage/kv-store.ts';
import { GROUP, dataDirLayout, writeNodeRecord } from '../cluster/data-dir.ts';
import { DEFAULTS } from '../cluster/config.ts';
import { bootstrapState } from '../raft/bootstrap.ts';
import { readSections } from '../kv/backup-sections.ts';
import { foundingShardMap, shardCountEntry, shardGroupId } from './shard-map.ts';

/** Version 1: one shard, `appliedIndex`. Version 2: several, `shards` (each one's applied index, in shard order). */
export type BackupHeader = { concord: 'backup'; createdAt: string } & ({ version: 1; appliedIndex: number } | { version: 2; shards: number[] });

/** The header line for a body of one shard's image at `appliedIndex`, or of several shards' at `shards`. */
export function backupHeaderLine(at: { appliedIndex: number } | { shards: number[] }): string {
  const createdAt = new Date().toISOString();
  const h: BackupHeader = 'shards' in at ? { concord: 'backup', version: 2, shards: at.shards, createdAt } : { concord: 'backup', version: 1, appliedIndex: at.appliedIndex, createdAt };
  return `${JSON.stringify(h)}\n`;
}

/** Split a backup file into its header and body. */
export function readBackupFile(file: string): { header: BackupHeader; image: Buffer } {
  const bytes = fs.readFileSync(file);
  const nl = bytes.indexOf(0x0a);
  let header: BackupHeader | undefined;
  try {
    header = nl > 0 ? (JSON.parse(bytes.subarray(0, nl).toString('utf8')) as BackupHeader) : undefined;
  } catch {
    header = undefined;
  }
  if (!header || !isHeader(header)) throw new Error(`${file} is not a Concord backup (no header line)`);
  return { header, image: bytes.subarray(nl + 1) };
}

function isHeader(h: BackupHeader): boolean {
  if (h.concord !== 'backup') return false;
  if (h.version === 1) return Number.isInteger(h.appliedIndex);
  return h.version === 2 && Array.isArray(h.shards) && h.shards.length > 1 && h.shards.every((i) => Number.isInteger(i) && i >= 0);
}

/**
 * Build `dataDir` for node `nodeId` from a backup: each image is imported into its shard's state machine (its
 * frames are checked; a corrupt file is refused) and recorded as the Raft snapshot of a new one-voter group,
 * so `concord server --data-dir DIR --node-id ID` starts a cluster holding exactly the backed-up data, with
 * the backup's shard count (its metadata group founded as a new cluster's is, the count recorded in it).
 */
export async function restoreBackup(file: string, dataDir: string, nodeId: string, replicas = DEFAULTS.replicas): Promise<{ appliedIndex: number; shards: number[] }> {
  if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) throw new Error(`${dataDir} is not empty; restore needs a new data dir`);
  const { header, image } = readBackupFile(file);
  const images = header.version === 1 ? [{ index: header.appliedIndex, pieces: [image] }] : readSections(image, header.shards.length).map((pieces, i) => ({ index: header.shards[i], pieces }));
  fs.mkdirSync(dataDir, { recursive: true });
  const layout = dataDirLayout(dataDir);
  const env = new KvEnv(layout.kv);
  const wal = new NodeWal({ dir: layout.wal });
  const opened: Array<{ close(): Promise<void> }> = [];
  const open = (group: string) => {
    const store = new KvStore({ env, group });
    const storage = new RaftWalStore({ wal, group, snapshotDir: layout.snapshots });
    opened.push(storage, store);
    return { store, storage };
  };
  try {
    for (const [i, { index, pieces }] of images.entries()) {
      const { store, storage } = open(shardGroupId(i, images.length));
      await store.importSnapshot(pieces, index);
      await store.flush();
      const data = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
      await storage.save({ snapshot: { meta: { index, term: 1, confState: { voters: [nodeId], learners: [] } }, data }, hardState: { term: 1, vote: '', commit: index }, entries: [] });
    }
    if (images.length > 1) {
      // The metadata group, as a new cluster of this one node founds it: the count and map right after its membership.
      const state = bootstrapState([nodeId]);
      state.entries.push(shardCountEntry(state.entries.length + 1, images.length, foundingShardMap(images.length, [nodeId], replicas)));
      state.hardState.commit = state.entries.length;
      await open(GROUP).storage.save(state);
      writeNodeRecord(dataDir, { nodeId, shards: images.length });
    }
  } catch (e) {
    await closeAll(opened, wal, env);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  await closeAll(opened, wal, env);
  return { appliedIndex: images[0].index, shards: images.map((i) => i.index) };
}

async function closeAll(opened: Array<{ close(): Promise<void> }>, wal: NodeWal, env: KvEnv): Promise<void> {
  await Promise.allSettled(opened.map((o) => o.close()));
  await wal.close();
  await env.close();
}
