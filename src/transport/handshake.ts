// The first frame on every connection. Connections are one-way for payloads (the dialer sends,
// the acceptor receives), so the dialer introduces itself and the acceptor answers once with an
// acknowledgement or a rejection. The dialer does not wait for the answer before sending its
// batches (that would cost a round trip per reconnect); the answer only feeds logs and backoff.

import type { NodeId } from '../raft/types.ts';

/** Bumped on any incompatible change to framing or handshake. */
export const PROTOCOL_VERSION = 1;

export interface Hello {
  concord: typeof PROTOCOL_VERSION;
  cluster: string;
  from: NodeId;
  /** The node the dialer believes it reached: catches stale or mistyped peer addresses. */
  to: NodeId;
  /** Where the dialer accepts connections (host:port), so a node that never heard of it can answer. */
  addr?: string;
  /** The dialer's cluster identity (PeerIdentity), when it has one; older nodes send none. */
  uid?: string;
}

/** Either answer may carry the acceptor's cluster identity. */
export type HelloReply = { ok: true; uid?: string } | { ok: false; reason: string; uid?: string };

export function makeHello(clusterId: string, from: NodeId, to: NodeId, addr?: string, uid?: string): Hello {
  const hello: Hello = { concord: PROTOCOL_VERSION, cluster: clusterId, from, to };
  if (addr !== undefined) hello.addr = addr;
  if (uid !== undefined) hello.uid = uid;
  return hello;
}

export type HelloCheck = { ok: true; from: NodeId; addr?: string; uid?: string } | { ok: false; reason: string };

/** Validates a decoded first frame against this node's identity; never throws. */
export function checkHello(value: unknown, clusterId: string, self: NodeId): HelloCheck {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'first frame is not a handshake' };
  }
  const hello = value as Partial<Record<keyof Hello, unknown>>;
  if (hello.concord !== PROTOCOL_VERSION) {
    return { ok: false, reason: `unsupported protocol version ${String(hello.concord)}` };
  }
  if (typeof hello.from !== 'string' || hello.from === '' || typeof hello.to !== 'string' || typeof hello.cluster !== 'string') {
    return { ok: false, reason: 'handshake lacks from/to/cluster' };
  }
  if (hello.cluster !== clusterId) {
    return { ok: false, reason: `cluster id mismatch: theirs ${JSON.stringify(hello.cluster)}, ours ${JSON.stringify(clusterId)}` };
  }
  if (hello.to !== self) {
    return { ok: false, reason: `wrong node: dialer expected ${JSON.stringify(hello.to)}, this is ${JSON.stringify(self)}` };
  }
  const check: HelloCheck = { ok: true, from: hello.from };
  if (typeof hello.addr === 'string' && hello.addr !== '') check.addr = hello.addr;
  if (typeof hello.uid === 'string' && hello.uid !== '') check.uid = hello.uid;
  return check;
}

export function isHelloReply(value: unknown): value is HelloReply {
  if (typeof value !== 'object' || value === null) return false;
  const reply = value as { ok?: unknown; reason?: unknown; uid?: unknown };
  if (reply.uid !== undefined && typeof reply.uid !== 'string') return false;
  return reply.ok === true || (reply.ok === false && typeof reply.reason === 'string');
}
