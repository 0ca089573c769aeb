// Configuration and observable counters of the peer transport.

import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.ts';

export interface BackoffOptions {
  /** First redial delay; doubles per consecutive failure, with jitter, up to maxMs. */
  minMs: number;
  maxMs: number;
}

export interface PeerTransportOptions<T> {
  /** Host announced to peers when it differs from the listen host (required for a wildcard listen address on multi-host clusters). */
  advertiseHost?: string;
  nodeId: NodeId;
  /** Connections from a node with a different cluster id are rejected. */
  clusterId: string;
  /** Where to accept peer connections; port 0 picks a free port (see start()). */
  listen: { host: string; port: number };
  logger?: Logger;
  /** Outbound queue bound in messages, per link (a peer has two with `bulky`; default 65536). */
  maxQueueMessages?: number;
  /** Outbound queue bound in estimated bytes, per link (default: maxFrameBytes); see BoundedQueue.push. */
  maxQueueBytes?: number;
  /** Largest frame sent or accepted (default 128 MiB, so one 64 MiB value fits). */
  maxFrameBytes?: number;
  /** Target size of one outbound frame in estimated bytes (default 1 MiB); one message may exceed it. */
  maxBatchBytes?: number;
  /** Redial backoff (default 50..2000 ms). */
  backoff?: BackoffOptions;
  /** Called when an established connection to a peer closes (the peer may have died; a host may want to notice at once). */
  onPeerLost?: (peer: NodeId) => void;
  /** A dial that has not connected by then is abandoned and retried (default 5000 ms). */
  connectTimeoutMs?: number;
  /** An accepted connection that has not sent its handshake by then is closed (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** Estimated encoded size of a payload, for the byte bound (default: estimateSize). */
  sizeOf?: (payload: T) => number;
  /**
   * Checks each received payload before it reaches onMessage; failures are counted and skipped.
   * Without it, payloads are only known to be msgpack values — peers are not trusted code.
   */
  validate?: (value: unknown) => value is T;
  /**
   * Payloads that may be large (log entries, snapshot chunks) and go on a second connection per
   * peer, so that the small ones (heartbeats, votes, acknowledgements) never wait behind them.
   * FIFO order holds within each connection, not between the two. Without it, one connection.
   */
  bulky?: (payload: T) => boolean;
  /** Source of randomness for fault decisions and backoff jitter (default Math.random). */
  random?: () => number;
  /** Copy received byte arrays out of their frame (default false; see CodecOptions). */
  copyBuffers?: boolean;
  /** Which cluster this node's state belongs to, beyond the configured cluster id (see PeerIdentity). */
  identity?: PeerIdentity;
}

/**
 * A cluster identity finer than the configured cluster id: every handshake and every answer to one carries
 * this node's, and each peer's is shown to observe(), which may refuse the connection. What an identity is
 * and what to do about a mismatch is the owner's business, not the transport's.
 */
export interface PeerIdentity {
  /** This node's identity, announced in handshakes; undefined while it has none. */
  current(): string | undefined;
  /** `peer` announced `theirs` (undefined: none); false refuses (inbound) or reports (outbound) the link. */
  observe(peer: NodeId, theirs: string | undefined): boolean;
}

/** One peer's outbound side; with the `bulky` option, its two links' counters added up. */
export interface PeerStats {
  address: string;
  /** A TCP connection is established (the handshake answer may still be on its way); with two links, either. */
  connected: boolean;
  queuedMessages: number;
  queuedBytes: number;
  /** Encoded bytes handed to the socket but not yet to the kernel: about one frame at most. */
  socketBufferedBytes: number;
  /** Discarded by this node: evicted from a full queue, unencodable, or larger than a frame. */
  dropped: number;
  /** Discarded by the fault rules (cut or drop). */
  faultDropped: number;
  /** Held back by a delay rule right now. */
  delayed: number;
  sentFrames: number;
  sentMessages: number;
  sentBytes: number;
  /** Connection attempts started. */
  dials: number;
  /** Attempts that failed plus established connections that were lost. */
  disconnects: number;
  /** Handshakes the peer answered with a rejection. */
  rejectedByPeer: number;
}

export interface InboundStats {
  /** Accepted connections open right now. */
  connections: number;
  accepted: number;
  frames: number;
  messages: number;
  bytes: number;
  /** Frames that did not decode, or were not a batch: each closed its connection. */
  malformedFrames: number;
  /** Length prefixes above maxFrameBytes: each closed its connection. */
  oversizedFrames: number;
  /** Wrong cluster, wrong target node, bad version, non-handshake first frame, or handshake timeout. */
  rejectedHandshakes: number;
  /** Payloads that failed `validate`. */
  invalidPayloads: number;
  /** Payloads from a cut peer. */
  faultDropped: number;
  /** onMessage handler calls that threw. */
  handlerErrors: number;
  /** Payloads that arrived while no handler was registered. */
  unhandled: number;
}

export interface TransportStats {
  peers: Record<NodeId, PeerStats>;
  inbound: InboundStats;
  /** send() calls for a peer that was never set (or was removed). */
  droppedUnknownPeer: number;
}

export function emptyInboundStats(): InboundStats {
  return {
    connections: 0,
    accepted: 0,
    frames: 0,
    messages: 0,
    bytes: 0,
    malformedFrames: 0,
    oversizedFrames: 0,
    rejectedHandshakes: 0,
    invalidPayloads: 0,
    faultDropped: 0,
    handlerErrors: 0,
    unhandled: 0,
  };
}
