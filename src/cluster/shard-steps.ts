// What a shard's leader should change next so its group's membership follows the shard map. A pure function:
// the steward (shard-steward.ts) calls it every few ticks on each shard this node leads and carries out the
// one step it returns (Raft allows one membership change at a time).
//
// A shard's wanted members are the replicas the shard map gives it (src/node/shard-map.ts), all voters, the
// first of them its preferred leader. Order of steps, chosen so a shard never has fewer replicas than before:
//   1. a wanted member the shard lacks joins as a learner (it catches up by log or snapshot, not counted
//      in the quorum meanwhile); while the steward's throttle holds it back, nothing below happens but
//      promotions;
//   2. a learner that is wanted as a voter and has caught up is promoted; while one has not, no voter is removed;
//   3. a member not wanted (or a voter wanted only as a learner: Raft cannot demote in one step) is removed
//      — this node last: it hands leadership to a caught-up voter first;
//   4. with membership settled, leadership goes to the shard's preferred leader when that voter is active and
//      caught up, so leaders spread evenly over the members.

import type { ConfChange, ConfState, NodeId } from '../raft/types.ts';

export interface ShardProgress {
  match: number;
  recentActive: boolean;
}

export interface ShardStepInput {
  /** This node: the shard's leader. */
  self: NodeId;
  /** The members the shard should have: the metadata group's configuration. */
  want: ConfState;
  /** The shard group's configuration. */
  have: ConfState;
  /** The leader's view of each member's log. */
  progress: Readonly<Record<NodeId, ShardProgress>>;
  /** The leader's last log index. */
  lastIndex: number;
  /** A learner this close to the leader's last index may be promoted, and a voter this close be handed leadership (Raft's transfer waits for the rest). */
  maxPromotionLag: number;
  /** The voter that should lead this shard (preferredLeader()), if any. */
  preferred?: NodeId;
  /** False while this node already has as many learners catching up as it lets run at once (the steward's throttle). */
  mayAddLearner?: boolean;
}

export type ShardStep = { change: ConfChange } | { transferTo: NodeId } | undefined;

export function nextShardStep(p: ShardStepInput): ShardStep {
  const has = new Set([...p.have.voters, ...p.have.learners]);
  const wanted = new Set([...p.want.voters, ...p.want.learners]);
  // A member that has acknowledged nothing (match 0: a copy just created, empty) is never caught up, however
  // short the log: promoted, it would count toward the quorum with no entries and no vote to give.
  const caughtUp = (id: NodeId, lag: number) => {
    const pr = p.progress[id];
    return pr !== undefined && pr.recentActive && pr.match > 0 && p.lastIndex - pr.match <= lag;
  };

  const missing = [...wanted].filter((id) => !has.has(id)).sort();
  if (missing.length > 0 && p.mayAddLearner !== false) return { change: { type: 'addLearner', node: missing[0] } };

  const promotable = p.have.learners.filter((id) => p.want.voters.includes(id) && caughtUp(id, p.maxPromotionLag)).sort();
  if (promotable.length > 0) return { change: { type: 'addVoter', node: promotable[0] } };
  // Throttled with a member still to add: nothing more until it can be, so no replica goes before its successor comes.
  if (missing.length > 0) return undefined;
  // A wanted voter still a learner catching up: no voter is removed until it is a voter (the shard never has
  // fewer voters than before); unwanted learners may go, and a leader that must go may hand over meanwhile.
  const promoting = p.have.learners.some((id) => p.want.voters.includes(id));

  const unwanted = (id: NodeId) => !wanted.has(id) || (p.have.voters.includes(id) && !p.want.voters.includes(id));
  const extra = [...has].filter(unwanted).sort();
  // The leader is a voter itself, so removing any other member never leaves the shard without one.
  const other = extra.find((id) => id !== p.self && !(promoting && p.have.voters.includes(id)));
  if (other !== undefined) return { change: { type: 'remove', node: other } };
  if (extra.includes(p.self)) {
    const heir = p.have.voters.filter((id) => id !== p.self && !unwanted(id) && caughtUp(id, p.maxPromotionLag)).sort()[0];
    return heir ? { transferTo: heir } : undefined;
  }
  if (promoting) return undefined;

  if (p.preferred && p.preferred !== p.self && p.have.voters.includes(p.preferred) && caughtUp(p.preferred, p.maxPromotionLag)) return { transferTo: p.preferred };
  return undefined;
}

/**
 * Whether a shard's membership has caught up with what it should be (the map's replicas; with one shard, the
 * metadata group's members), leaving `except` aside. The metadata group changes its membership only while the
 * shards it sees agree with the map but for the member being changed: a
 * second change while a shard still follows the first could have the shard count two gone members among its
 * voters and lose its quorum. Leaving the member of the change aside lets the cluster undo an addition that
 * a shard could not finish (the new member died before catching up).
 */
export function shardFollows(want: ConfState, have: ConfState, except?: NodeId): boolean {
  const same = (a: readonly NodeId[], b: readonly NodeId[]) => {
    const x = a.filter((id) => id !== except);
    const y = b.filter((id) => id !== except);
    return x.length === y.length && x.every((id) => y.includes(id));
  };
  return same(want.voters, have.voters) && same(want.learners, have.learners);
}

/** Whether a shard has a learner catching up to become a voter (an addition under way, which the throttle counts). */
export function catchingUp(want: ConfState | undefined, have: ConfState): boolean {
  return want !== undefined && have.learners.some((id) => want.voters.includes(id));
}

/**
 * What becomes of this node's copy of a shard, given the members the shard map gives the shard. A copy the
 * map still names is kept. One it does not name is deleted once this node knows it is no member of the shard
 * any more: it has applied its own removal (the last membership change about it this copy applied since it
 * started — a configuration that merely lacks it proves nothing, a copy still replaying the log passes
 * through those) and holds nothing past what it applied (an entry past it may be the leader adding it back,
 * which it may have acknowledged: deleted then, it would leave the leader counting entries it no longer has),
 * or another replica answers, at an applied index at or past the end of this copy's log (so
 * nothing this copy holds is missing there), that it is no member. Until then it asks the shard's members.
 * Deleting earlier could take a voter's data away from a shard that still counts it.
 */
export function replicaFate(p: {
  self: NodeId;
  /** The shard's replicas in this node's map. */
  replicas: readonly NodeId[];
  /** Whether the last membership change about this node that this copy applied removed it. */
  removedItself: boolean;
  /** This copy's last log index, and how far it has applied. */
  lastIndex: number;
  applied: number;
  /** Another replica's members at its applied index, if one has answered. */
  answer?: { applied: number; members: readonly NodeId[] };
}): 'keep' | 'ask' | 'delete' {
  if (p.replicas.includes(p.self)) return 'keep';
  if (p.removedItself && p.lastIndex <= p.applied) return 'delete';
  if (p.answer && !p.answer.members.includes(p.self) && p.answer.applied >= p.lastIndex) return 'delete';
  return 'ask';
}
