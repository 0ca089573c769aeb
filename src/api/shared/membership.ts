// What a membership request (add or remove a node) must hold, whichever front end carries it. HTTP turns
// the patterns into JSON schemas; gRPC tests them itself; both then call addNode, which checks what a
// pattern cannot (the port's range).

import { ConcordError } from '../../util/errors.ts';
import type { ClusterService, ClusterStatus } from '../../cluster/types.ts';

/** A node id: 1 to 128 of letters, digits and `._:-`. */
export const NODE_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';
/** A Raft peer address, host:port (an IPv6 host in brackets). */
export const RAFT_ADDRESS_PATTERN = '^(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}$';
export const RAFT_ADDRESS_MAX_LENGTH = 300;

const NODE_ID = new RegExp(NODE_ID_PATTERN);
const RAFT_ADDRESS = new RegExp(RAFT_ADDRESS_PATTERN);

export const isNodeId = (id: string): boolean => NODE_ID.test(id);
export const isRaftAddress = (address: string): boolean => address.length <= RAFT_ADDRESS_MAX_LENGTH && RAFT_ADDRESS.test(address);

/** Adds a member whose id and address have passed the patterns above; a port outside 1–65535 is bad-request. */
export function addNode(cluster: ClusterService, id: string, address: string, learner?: boolean): Promise<ClusterStatus> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  if (port < 1 || port > 65535) throw new ConcordError('bad-request', `address ${address} has no valid port`);
  return cluster.addNode(id, address, learner ? { learner: true } : undefined);
}
