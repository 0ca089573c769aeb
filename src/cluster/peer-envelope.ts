// The envelope every node-to-node payload travels in, and which of a peer's two connections it takes.

import { MessageType, type Message } from '../raft/types.ts';
import type { SnapshotAck, SnapshotChunk } from './snapshot-stream.ts';

/**
 * What nodes send each other: a Raft message, a snapshot chunk or its acknowledgement, a request for a
 * snapshot at or past an index (from a node whose own snapshot is corrupt, see snapshot-repair.ts), a
 * question whether the asker is still a member of the group (from a replica the shard map no longer names,
 * before it deletes its copy) and its answer, or (with `g` empty: for the node, not a group) a key-value
 * request forwarded to a node that hosts its shard, and its answer.
 */
export interface PeerEnvelope {
  g: string;
  m?: Message;
  sc?: SnapshotChunk;
  sa?: SnapshotAck;
  sq?: { index: number };
  mq?: true;
  ma?: MembersAnswer;
  kq?: { id: number; shard: number; op: unknown };
  ks?: { id: number; ok?: unknown; err?: { code: string; message: string; retryAfterSeconds?: number }; moved?: number };
}

/** A group's members as a replica knows them, at its applied index (for the metadata group, with the shard map it acts on). */
export interface MembersAnswer {
  applied: number;
  members: string[];
  map?: unknown;
}

/**
 * What travels on each peer's bulk connection: whatever may carry log entries or snapshot data. All
 * appends go there, with or without entries, so they keep their order among themselves (a probe
 * that overtook an append would be rejected and set the follower's progress back). Heartbeats,
 * votes and acknowledgements take the other connection, so a 64 MiB entry on its way does not
 * starve the followers' election timers (test/transport/bulk-stream.test.ts). Forwarded key-value requests
 * and answers may carry values of any size, so they go there too.
 */
export function bulky(env: PeerEnvelope): boolean {
  if (env.sc !== undefined || env.kq !== undefined || env.ks !== undefined) return true;
  const type = env.m?.type;
  return type === MessageType.App || type === MessageType.Prop || type === MessageType.Snap;
}
