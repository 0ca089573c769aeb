// Cluster service handlers (the same ClusterService and checks as GET/POST/DELETE /v1/cluster…).

import { create } from '@bufbuild/protobuf';
import { ConcordError } from '../../util/errors.ts';
import type { ClusterService, ClusterStatus as KvClusterStatus } from '../../cluster/types.ts';
import { addNode, isNodeId, isRaftAddress, NODE_ID_PATTERN } from '../shared/membership.ts';
import { ClusterStatusSchema, type Cluster, type ClusterStatus } from './gen/concord_pb.ts';
import type { GrpcHandlers, MethodsOf } from './service-def.ts';
import type { Calls } from './status.ts';

function nodeId(id: string): string {
  if (!isNodeId(id)) throw new ConcordError('bad-request', `id: a node id must match ${NODE_ID_PATTERN}`);
  return id;
}

export function clusterStatus(s: KvClusterStatus): ClusterStatus {
  return create(ClusterStatusSchema, {
    clusterId: s.clusterId,
    self: s.self,
    leader: s.leader ?? '',
    term: BigInt(s.term),
    nodes: s.nodes.map((n) => ({
      id: n.id,
      raftAddr: n.raftAddr,
      ...(n.httpAddr !== undefined ? { httpAddr: n.httpAddr } : {}),
      role: n.role,
      term: BigInt(n.term),
      commitIndex: BigInt(n.commitIndex),
      appliedIndex: BigInt(n.appliedIndex),
      gossipState: n.gossipState,
      voter: n.voter,
      reachable: n.reachable,
    })),
    shards: s.shards.map((sh) => ({
      id: sh.id,
      leader: sh.leader ?? '',
      voters: sh.voters,
      learners: sh.learners,
      replicas: sh.replicas ?? [],
      hosted: sh.hosted ?? true,
      ...(sh.keys !== undefined ? { keys: BigInt(sh.keys) } : {}),
      ...(sh.bytes !== undefined ? { bytes: BigInt(sh.bytes) } : {}),
      seenFrom: sh.seenFrom ?? '',
      move: sh.move ?? '',
    })),
    ...(s.rebalance ? { rebalance: { epoch: BigInt(s.rebalance.epoch), settled: BigInt(s.rebalance.settled), planned: BigInt(s.rebalance.planned), running: BigInt(s.rebalance.running), unknown: BigInt(s.rebalance.unknown) } } : {}),
  });
}

export function clusterHandlers(cluster: ClusterService, calls: Calls): GrpcHandlers<MethodsOf<typeof Cluster>> {
  const { unary } = calls;
  return {
    status: unary(async () => clusterStatus(await cluster.status())),
    addNode: unary(async (req) => {
      if (!isRaftAddress(req.address)) {
        throw new ConcordError('bad-request', 'address: expected the new member\'s Raft address as host:port');
      }
      return clusterStatus(await addNode(cluster, nodeId(req.id), req.address, req.learner));
    }),
    removeNode: unary(async (req) => clusterStatus(await cluster.removeNode(nodeId(req.id)))),
  };
}
