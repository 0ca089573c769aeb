// One node's LMDB environment for the key-value state of all the groups it hosts, opened once. LMDB must not
// be opened twice in one process (each open is another environment on the same files, with its own reader
// slots: 126 by default, which a node with more groups than that ran out of), and the OS-crash marker
// (os-crash-guard.ts) belongs to the environment, not to a group: claimed once before the environment opens,
// released once after its final sync, so a group closing early cannot declare another's writes on disk.

import type { RootDatabase } from 'lmdb';
import { openKvEnv, syncEnv } from './lmdb-env.ts';
import { ExportWorker, type WorkerExportOptions } from './kv-export-worker.ts';
import { claimUnsyncedDir, currentBootId, releaseUnsyncedDir } from './os-crash-guard.ts';

export class KvEnv {
  readonly root: RootDatabase;
  /** True if the files were discarded at open because the OS went down while they were open. */
  readonly discardedAfterOsCrash: boolean;
  private closed = false;
  private worker: ExportWorker | undefined;

  constructor(
    readonly dir: string,
    bootId: string = currentBootId(),
  ) {
    this.discardedAfterOsCrash = claimUnsyncedDir(dir, bootId);
    this.root = openKvEnv(dir);
  }

  /** The environment's one snapshot export worker, shared by its groups (kv-export-worker.ts). */
  exporter(options: Omit<WorkerExportOptions, 'path'>): ExportWorker {
    return (this.worker ??= new ExportWorker({ path: this.dir, ...options }));
  }

  /** Syncs, closes, and releases the marker if the sync succeeded. Call after every store in it is closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker?.close();
    const synced = await syncEnv(this.root).then(
      () => true,
      () => false,
    );
    await this.root.close();
    if (synced) releaseUnsyncedDir(this.dir);
  }
}
