// What the leader should change in Raft membership, given what gossip sees. A pure function, so the
// policy is tested without processes: the node calls it on every gossip event and every few ticks, and
// proposes the one change it returns (Raft allows one pending change at a time).
//
// Policy (issue 4): a live gossip member that Raft does not know joins as a learner; learners that have
// caught up are promoted while voters are fewer than the target; a member dead for longer than the
// dead-node timeout is removed — after promoting a healthy learner to take its place when one exists,
// so the voter count is restored first and the quorum never shrinks below what it was. Before any of
// that, a member whose gossip announces another raft address than the committed one gets it updated.

import type { ConfChange, ConfState, NodeId } from '../raft/types.ts';

export type GossipState = 'alive' | 'suspect' | 'dead' | 'left';

export interface GossipMember {
  id: NodeId;
  state: GossipState;
  /** When it entered its current state (ms). */
  since: number;
  /** Its Raft address, from gossip metadata. */
  raftAddr?: string;
}

export interface PlanInput {
  self: NodeId;
  conf: ConfState;
  /** The leader's view of each member's log: how far it is behind the leader's last index. */
  lagOf: (id: NodeId) => number;
  gossip: GossipMember[];
  now: number;
  targetVoters: number;
  deadNodeTimeoutMs: number;
  /** A learner is promoted only when at most this many entries behind. */
  maxPromotionLag: number;
  /** Each member's Raft address as the committed membership gives it. */
  addressOf: (id: NodeId) => string | undefined;
}

export function planMembershipChange(p: PlanInput): ConfChange | undefined {
  const inRaft = new Set([...p.conf.voters, ...p.conf.learners]);
  const byId = new Map(p.gossip.map((m) => [m.id, m]));
  const healthy = (id: NodeId) => id === p.self || byId.get(id)?.state === 'alive';
  const goneFor = (id: NodeId) => {
    const m = byId.get(id);
    if (!m || id === p.self) return 0;
    if (m.state === 'left') return Infinity;
    return m.state === 'dead' ? p.now - m.since : 0;
  };
  const gone = (id: NodeId) => goneFor(id) >= p.deadNodeTimeoutMs;

  const liveVoters = p.conf.voters.filter((v) => !gone(v));
  const promotable = p.conf.learners
    .filter((l) => healthy(l) && p.lagOf(l) <= p.maxPromotionLag)
    .sort();

  // 0. A member that came back on another raft address (its gossip says so): commit the new one, or nobody
  //    reaches it again.
  const moved = p.gossip.filter((m) => m.state === 'alive' && inRaft.has(m.id) && m.raftAddr && m.raftAddr !== p.addressOf(m.id));
  if (moved.length > 0) return { type: 'update', node: moved[0].id, context: moved[0].raftAddr };

  // 1. Restore the voter count first: promote a caught-up learner.
  if (liveVoters.length < p.targetVoters && promotable.length > 0) return { type: 'addVoter', node: promotable[0] };

  // 2. Remove members that are gone (left, or dead past the timeout) — never ourselves, never the last voter.
  const removable = [...inRaft].filter((id) => id !== p.self && gone(id)).sort();
  for (const id of removable) {
    const isVoter = p.conf.voters.includes(id);
    if (isVoter && p.conf.voters.length <= 1) continue;
    return { type: 'remove', node: id };
  }

  // 3. Admit live gossip members that Raft does not know, as learners.
  const newcomers = p.gossip.filter((m) => m.state === 'alive' && !inRaft.has(m.id) && m.raftAddr).sort((a, b) => a.id.localeCompare(b.id));
  if (newcomers.length > 0) return { type: 'addLearner', node: newcomers[0].id, context: newcomers[0].raftAddr };

  return undefined;
}
