// How long a gRPC connection may sit unused, how many calls it may carry at once, and how a peer that has
// gone away is noticed — all with grpc-js's own server options, so grpc-js keeps the timers and closes the
// connections itself.
//
// grpc-js has no option that caps the number of connections, and neither does the HTTP front end, so none
// is set here. What bounds a connection's memory instead: at most maxConcurrentStreams calls, each holding
// at most one received message (messageLimits in server.ts); connections without calls close after
// idleTimeoutMs; connections whose peer stopped answering close after keepaliveTimeMs + keepaliveTimeoutMs.

import type { ChannelOptions } from '@grpc/grpc-js';

export interface GrpcConnectionLimits {
  /**
   * A connection with no call in progress for this long is closed (GOAWAY, then the socket); a client
   * reconnects on its next call. Pings do not count as use. A connection with a call in progress is never idle.
   */
  idleTimeoutMs: number;
  /**
   * Most calls in progress at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). A client
   * holds further calls until one ends; a stream opened past the limit anyway is refused.
   */
  maxConcurrentStreams: number;
  /** Every connection is pinged this long after it opened and after each answered ping. */
  keepaliveTimeMs: number;
  /** A ping unanswered this long means the peer is gone: the connection is closed and its calls cancelled. */
  keepaliveTimeoutMs: number;
}

/**
 * Idle as the text protocol (5 minutes): a gRPC client keeps one connection for all its calls, so closing a
 * quiet one soon only costs a reconnect later. 100 streams is RFC 9113's suggested minimum, and far more
 * than one client's pipelining needs. Pings every minute find a dead peer of a long call within 80 s.
 */
export const DEFAULT_CONNECTION_LIMITS: GrpcConnectionLimits = {
  idleTimeoutMs: 300_000,
  maxConcurrentStreams: 100,
  keepaliveTimeMs: 60_000,
  keepaliveTimeoutMs: 20_000,
};

/** The limits as grpc-js server options. */
export function connectionOptions(l: GrpcConnectionLimits): ChannelOptions {
  return {
    'grpc.max_connection_idle_ms': l.idleTimeoutMs,
    'grpc.max_concurrent_streams': l.maxConcurrentStreams,
    'grpc.keepalive_time_ms': l.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': l.keepaliveTimeoutMs,
  };
}
