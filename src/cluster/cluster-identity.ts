// Which cluster a node's state belongs to. The configured --cluster-id names a kind of cluster and is the
// same for every cluster started with the defaults; this identity is the cluster's own: a digest of the
// cluster id and the founding members, fixed when a data dir is bootstrapped and kept in node.json. A node
// that joins an existing cluster starts without one and takes the first one a peer announces.
//
// A member that bootstrapped a cluster of its own by mistake (etcd refuses the same with its cluster-ID
// check) — typically a node added with POST /v1/cluster/nodes and then started with the founders' --peers,
// its own id included — meets members whose identity differs. Such a node stops, with a message that says
// how to start it, when the peer is one its own membership names and no peer has yet confirmed its
// identity. A healthy member is confirmed by its peers, so it only refuses the stray node's connections,
// and a stray dialer outside the membership is refused without stopping anyone.

import { createHash } from 'node:crypto';
import type { PeerIdentity } from '../transport/index.ts';

/** The identity of a cluster founded by `founders` (id -> raft address) under `clusterId`. */
export function foundingIdentity(clusterId: string, founders: Record<string, string>): string {
  const members = Object.entries(founders).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, addr]) => `${id}=${addr}`);
  return createHash('sha256').update(`${clusterId}\n${members.join(',')}`).digest('hex').slice(0, 16);
}

export interface ForeignCluster {
  peer: string;
  ours: string;
  theirs: string;
}

export class ClusterIdentity implements PeerIdentity {
  private confirmed = false;
  private reported = false;

  constructor(
    private uid: string | undefined,
    private readonly o: {
      /** The members this node's own state names (its configuration). */
      members: () => Iterable<string>;
      /** Called when the identity is learned from a peer, to keep it. */
      learned: (uid: string) => void;
      /** Called once, when this node turns out to hold the state of another cluster than its members'. */
      foreign: (f: ForeignCluster) => void;
    },
  ) {}

  current(): string | undefined {
    return this.uid;
  }

  /** Set by bootstrapping a new data dir, before any peer is heard. */
  found(uid: string): void {
    this.uid = uid;
  }

  observe(peer: string, theirs: string | undefined): boolean {
    if (theirs === undefined) return true; // a node of a version without identities, or one still joining
    if (this.uid === undefined) {
      this.uid = theirs;
      this.confirmed = true;
      this.o.learned(theirs);
      return true;
    }
    if (theirs === this.uid) {
      this.confirmed = true;
      return true;
    }
    if (!this.confirmed && !this.reported && [...this.o.members()].includes(peer)) {
      this.reported = true;
      this.o.foreign({ peer, ours: this.uid, theirs });
    }
    return false;
  }
}

/** The node's state belongs to another cluster than the members it reaches: it must start again, empty. */
export class ForeignClusterError extends Error {
  override name = 'ForeignClusterError';

  constructor(
    readonly node: { nodeId: string; dataDir: string },
    readonly found: ForeignCluster,
  ) {
    super(
      `node ${node.nodeId} holds the state of a cluster of its own (identity ${found.ours}), but ${found.peer}, a member it names, belongs to cluster ${found.theirs}. ` +
        `If the founding members were given different --peers lists, give them all the same one (every founder derives the cluster's identity from it). ` +
        `If this node was added to a running cluster, it founded a new cluster when it should have joined one: ` +
        `stop it, remove its data dir ${node.dataDir}, and start it again without --peers and with --no-bootstrap; it then starts empty and the leader sends it the cluster's state`,
    );
  }
}
