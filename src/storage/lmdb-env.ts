// Opening the LMDB environment of the key-value state machines with the settings they depend on.
// (The Raft log is not in LMDB: see raft-wal-store.ts.)

import { open, type RootDatabase } from 'lmdb';
import { MAX_GROUPS_PER_NODE } from './group-id.ts';

export interface KvEnvOptions {
  /** How many groups may keep their state machine in this environment (each uses up to 6 named databases: its records, its leases and its history, twice while a snapshot is imported). */
  maxGroups?: number;
}

/**
 * The environment for KV state machines, committed without fsync (`noSync`). A state machine is
 * derived from the Raft snapshot and log, which are durable, so its own files need only survive a
 * process crash, which page-cache writes do. Syncing every apply instead costs a commit that waits
 * for the previous fsync on the event loop: measured ~0.5 ms per commit against ~0.05 ms, and about
 * a fifth of each node's CPU per put. flush() syncs explicitly where durability is wanted (before the
 * log is compacted); os-crash-guard.ts discards the files after an OS crash, when they may be torn.
 */
export function openKvEnv(path: string, options: KvEnvOptions = {}): RootDatabase {
  // Not useWritemap, although it made commits cheaper here (3.7 -> 0.4 us of commit per put): LMDB
  // with MDB_WRITEMAP can abort in mdb_freelist_save ("Assertion 'x <= dl[0].mid' failed"), seen in
  // our KV model test and reported upstream by other projects (e.g. ModSecurity dropped it for this).
  return open({ path, noSync: true, maxDbs: maxDbs(options.maxGroups ?? MAX_GROUPS_PER_NODE) });
}

const maxDbs = (groups: number) => 2 + 6 * groups;
/** maxDbs of an environment opened with the default maxGroups (what a KvStore given a path opens). */
export const KV_ENV_MAX_DBS = maxDbs(MAX_GROUPS_PER_NODE);

/** Force everything committed in `root` to disk (needed where the environment is opened with noSync). */
export function syncEnv(root: RootDatabase): Promise<void> {
  const env = root as unknown as { sync(callback: (err?: Error) => void): void };
  return new Promise((resolve, reject) => env.sync((err) => (err ? reject(err) : resolve())));
}
