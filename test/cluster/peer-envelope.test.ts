// Which node-to-node payloads take a peer's bulk connection (transport's `bulky` option).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { bulky, type PeerEnvelope } from '../../src/cluster/peer-envelope.ts';
import { MessageType, type MessageType as Type } from '../../src/raft/types.ts';

const raft = (type: Type, extra: object = {}): PeerEnvelope => ({ g: 'g0', m: { type, from: 'n1', to: 'n2', term: 2, ...extra } });

it('appends (with or without entries), forwarded proposals, snapshots and snapshot chunks go bulk', () => {
  assert.equal(bulky(raft(MessageType.App, { entries: [{ term: 2, index: 5, type: 0, data: new Uint8Array(10) }] })), true);
  assert.equal(bulky(raft(MessageType.App)), true, 'an empty append keeps its place among the others');
  assert.equal(bulky(raft(MessageType.Prop)), true);
  assert.equal(bulky(raft(MessageType.Snap)), true);
  const meta = { index: 9, term: 2, confState: { voters: ['n1', 'n2'], learners: [] } };
  assert.equal(bulky({ g: 'g0', sc: { id: 1, term: 2, meta, seq: 0, total: 1, crc: 0, bytes: new Uint8Array(1) } }), true);
});

it('heartbeats, votes, acknowledgements and read-index traffic go on the control connection', () => {
  for (const type of [MessageType.AppResp, MessageType.Vote, MessageType.VoteResp, MessageType.PreVote, MessageType.PreVoteResp, MessageType.Heartbeat, MessageType.HeartbeatResp, MessageType.TimeoutNow, MessageType.ReadIndex, MessageType.ReadIndexResp]) {
    assert.equal(bulky(raft(type)), false, `type ${type}`);
  }
  assert.equal(bulky({ g: 'g0', sa: { id: 1, seq: 0 } }), false);
  assert.equal(bulky({ g: 'g0', sq: { index: 3 } }), false);
});
