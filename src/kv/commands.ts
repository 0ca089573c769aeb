// Write commands as they travel in the Raft log. Each carries the id of the request that proposed it
// (node id + sequence), so the node that proposed it can answer its client when it applies the entry.
// Preconditions are evaluated at apply time, identically on every replica.

import { Packr } from 'msgpackr';

export type Command =
  | { t: 'put'; key: Uint8Array; value: Uint8Array; ifMatch?: number; ifNoneMatch?: boolean; expiresAt?: number }
  | { t: 'del'; key: Uint8Array; ifMatch?: number }
  | { t: 'batch'; ops: Array<{ t: 'put'; key: Uint8Array; value: Uint8Array } | { t: 'del'; key: Uint8Array }> };

export interface Envelope {
  /** Proposing node. */
  n: string;
  /** Request sequence on that node. */
  s: number;
  c: Command;
}

export type CommandResult =
  | { ok: true; revision: number; deleted?: number }
  | { ok: false; reason: 'precondition-failed' | 'not-found'; revision: number };

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeCommand(env: Envelope): Uint8Array {
  return packr.pack(env);
}

export function decodeCommand(data: Uint8Array): Envelope {
  return packr.unpack(data) as Envelope;
}
