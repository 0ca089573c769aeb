// The envelope every node-to-node payload travels in, and which of a peer's two connections it takes.

import { MessageType, type Message } from '../raft/types.ts';
import type { SnapshotAck, SnapshotChunk } from './snapshot-stream.ts';

/**
 * What nodes send each other: a Raft message, a snapshot chunk or its acknowledgement, or a request for a
 * snapshot at or past an index (from a node whose own snapshot is corrupt, see snapshot-repair.ts).
 */
export interface PeerEnvelope {
  g: string;
  m?: Message;
  sc?: SnapshotChunk;
  sa?: SnapshotAck;
  sq?: { index: number };
}

/**
 * What travels on each peer's bulk connection: whatever may carry log entries or snapshot data. All
 * appends go there, with or without entries, so they keep their order among themselves (a probe
 * that overtook an append would be rejected and set the follower's progress back). Heartbeats,
 * votes and acknowledgements take the other connection, so a 64 MiB entry on its way does not
 * starve the followers' election timers (test/transport/bulk-stream.test.ts).
 */
export function bulky(env: PeerEnvelope): boolean {
  if (env.sc !== undefined) return true;
  const type = env.m?.type;
  return type === MessageType.App || type === MessageType.Prop || type === MessageType.Snap;
}
