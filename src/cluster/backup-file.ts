// The backup file: one JSON header line, then the state machine's snapshot image (self-checking frames).
// `restoreBackup` turns one into the data dir of a new single-node cluster at the backup's index.

import fs from 'node:fs';
import { RaftWalStore } from '../storage/raft-wal-store.ts';
import { GROUP, dataDirLayout } from './data-dir.ts';
import { KvStore } from '../storage/kv-store.ts';

export interface BackupHeader {
  concord: 'backup';
  version: 1;
  appliedIndex: number;
  createdAt: string;
}

export function backupHeaderLine(appliedIndex: number): string {
  const h: BackupHeader = { concord: 'backup', version: 1, appliedIndex, createdAt: new Date().toISOString() };
  return `${JSON.stringify(h)}\n`;
}

/** Split a backup file into its header and image. */
export function readBackupFile(file: string): { header: BackupHeader; image: Buffer } {
  const bytes = fs.readFileSync(file);
  const nl = bytes.indexOf(0x0a);
  let header: BackupHeader | undefined;
  try {
    header = nl > 0 ? (JSON.parse(bytes.subarray(0, nl).toString('utf8')) as BackupHeader) : undefined;
  } catch {
    header = undefined;
  }
  if (!header || header.concord !== 'backup' || header.version !== 1 || !Number.isInteger(header.appliedIndex)) {
    throw new Error(`${file} is not a Concord backup (no header line)`);
  }
  return { header, image: bytes.subarray(nl + 1) };
}

/**
 * Build `dataDir` for node `nodeId` from a backup: the image is imported into the state machine (its frames
 * are checked; a corrupt file is refused) and recorded as the Raft snapshot of a new one-voter group, so
 * `concord server --data-dir DIR --node-id ID` starts a cluster holding exactly the backed-up data.
 */
export async function restoreBackup(file: string, dataDir: string, nodeId: string): Promise<{ appliedIndex: number }> {
  if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) throw new Error(`${dataDir} is not empty; restore needs a new data dir`);
  const { header, image } = readBackupFile(file);
  fs.mkdirSync(dataDir, { recursive: true });
  const layout = dataDirLayout(dataDir);
  const store = new KvStore({ env: layout.kv, group: GROUP });
  const storage = new RaftWalStore({ dir: layout.wal, group: GROUP, snapshotDir: layout.snapshots });
  try {
    await store.importSnapshot([image], header.appliedIndex);
    await store.flush();
    const index = header.appliedIndex;
    await storage.save({
      snapshot: { meta: { index, term: 1, confState: { voters: [nodeId], learners: [] } }, data: image },
      hardState: { term: 1, vote: '', commit: index },
      entries: [],
    });
  } catch (e) {
    await Promise.allSettled([storage.close(), store.close()]);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  await storage.close();
  await store.close();
  return { appliedIndex: header.appliedIndex };
}
