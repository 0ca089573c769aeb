// The cluster status over gRPC carries what HTTP's does for shards: each shard's replicas, whether the
// answering node hosts it, keys, bytes, the replica it was seen from and its move state, and the rebalance
// counts — through the wire format and back into the client's shape.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { clusterStatus as toProto } from '../../src/api/grpc/cluster-handlers.ts';
import { ClusterStatusSchema } from '../../src/api/grpc/gen/concord_pb.ts';
import { clusterStatus as fromProto } from '../../src/client/grpc-transport.ts';
import type { ClusterStatus } from '../../src/cluster/types.ts';

it('shard replicas, hosting, keys, bytes, where a shard was seen from, its move state and the rebalance counts survive the wire', () => {
  const status: ClusterStatus = {
    clusterId: 'c',
    self: 'n1',
    leader: 'n1',
    term: 3,
    nodes: [],
    shards: [
      { id: 's0', leader: 'n1', voters: ['n1', 'n2'], learners: [], replicas: ['n1', 'n2'], hosted: true, keys: 5, bytes: 4096, move: 'settled', following: true },
      { id: 's1', leader: 'n3', voters: ['n2', 'n3'], learners: ['n4'], replicas: ['n3', 'n4'], hosted: false, keys: 7, bytes: 8192, seenFrom: 'n3', move: 'running', following: false },
      { id: 's2', leader: null, voters: [], learners: [], replicas: ['n2', 'n3'], hosted: false },
    ],
    rebalance: { epoch: 4, settled: 1, planned: 0, running: 1, unknown: 1 },
  };
  const back = fromProto(fromBinary(ClusterStatusSchema, toBinary(ClusterStatusSchema, toProto(status))));
  assert.deepEqual(back.shards, [
    { id: 's0', leader: 'n1', voters: ['n1', 'n2'], learners: [], replicas: ['n1', 'n2'], hosted: true, keys: 5, bytes: 4096, move: 'settled' },
    { id: 's1', leader: 'n3', voters: ['n2', 'n3'], learners: ['n4'], replicas: ['n3', 'n4'], hosted: false, keys: 7, bytes: 8192, seenFrom: 'n3', move: 'running' },
    { id: 's2', voters: [], learners: [], replicas: ['n2', 'n3'], hosted: false },
  ]);
  assert.deepEqual(back.rebalance, status.rebalance);
});
