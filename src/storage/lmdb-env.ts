// Opening LMDB environments with the settings each store depends on. The Raft log and the KV state
// machine live in different environments because they need different durability: the log must be
// on disk before a message that depends on it goes out, the state machine can always be rebuilt by
// re-applying the log.

import { open, type RootDatabase } from 'lmdb';

export interface RaftLogEnvOptions {
  /** Concurrent LMDB readers (read transactions) across the process. */
  maxReaders?: number;
}

/**
 * The environment for Raft logs of many groups. `overlappingSync: false` makes every commit fsync
 * before its promise resolves: lmdb-js's Linux default resolves when the commit is merely visible
 * (see DEPENDENCIES.md), which would let a node vote or acknowledge entries it could lose.
 */
export function openRaftLogEnv(path: string, options: RaftLogEnvOptions = {}): RootDatabase {
  return open({ path, overlappingSync: false, maxDbs: 4, maxReaders: options.maxReaders ?? 126 });
}

export interface KvEnvOptions {
  /** How many groups may keep their state machine in this environment (each uses up to 2 named databases). */
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
  // useWritemap: a commit changes pages in the memory map instead of writing each dirty page with
  // pwrite; with noSync that leaves the write-back to the kernel. Applying a Ready of ~20 puts to 10k
  // random keys measured 3.7 -> 0.4 us of commit per put (and ~2 -> ~0.1 us of system time). LMDB
  // stays crash-safe for a process crash (pages of uncommitted transactions are free pages); an OS
  // crash is covered as with noSync alone (os-crash-guard.ts).
  return open({ path, noSync: true, useWritemap: true, maxDbs: 2 + 2 * (options.maxGroups ?? 16) });
}

/** Force everything committed in `root` to disk (needed where the environment is opened with noSync). */
export function syncEnv(root: RootDatabase): Promise<void> {
  const env = root as unknown as { sync(callback: (err?: Error) => void): void };
  return new Promise((resolve, reject) => env.sync((err) => (err ? reject(err) : resolve())));
}

interface EnvFlags {
  overlappingSync?: boolean;
  noSync?: boolean;
}

/** Refuse an environment whose commits could resolve before they are fsynced. */
export function assertDurableCommits(root: RootDatabase): void {
  const flags = root as unknown as EnvFlags;
  if (flags.overlappingSync !== false || flags.noSync) {
    throw new Error('the Raft log environment must be opened with overlappingSync: false and without noSync (use openRaftLogEnv)');
  }
}

/** Group ids name LMDB keys, databases and directories: keep them to a portable alphabet. */
export function assertGroupId(group: string): void {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(group) || group === '.' || group === '..') {
    throw new Error(`invalid group id ${JSON.stringify(group)}: use 1-100 of [A-Za-z0-9_.-]`);
  }
}

/** A Uint8Array view of the same bytes, so callers never see Buffer where they stored Uint8Array. */
export function plainBytes(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
