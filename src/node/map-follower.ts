// The shard map a node acts on. Normally g0's, or — while g0's members differ from those it was planned
// for — the map g0's leader will write next: planning is deterministic (nextShardMap), so every node with the
// same g0 state computes the same one and acts on it at once. That matters for a member just removed from
// g0: it gets no more g0 entries, so it would never see the map its leader writes, yet it must hand over the
// shards it leads. A cluster that has written no map (founded before maps existed) has every member on every
// shard.
//
// A member removed while cut off never receives even the entry that removes it: its copy of g0, and of the
// map, stays as it was. So a node holding shards asks a g0 member now and then whether it is still one; to an
// asker that is no member the answer carries the map the member acts on, and from then on the node follows
// that (without itself in it): as leader of a shard it moves the shard where that map says, hands over and
// is removed, and its copies are deleted.

import type { Logger } from 'pino';
import type { MembersAnswer } from '../cluster/peer-envelope.ts';
import type { RaftGroup } from '../cluster/raft-group.ts';
import type { KvStore } from '../storage/kv-store.ts';
import type { HostedGroup } from './hosted-group.ts';
import { appliedShardMap, plannedShardMap, type ShardMap } from './shard-map.ts';

export interface MapFollowerOptions {
  self: string;
  count: number;
  /** R for a cluster whose g0 holds no map yet. */
  replicas: number;
  /** The metadata group: its group (membership), store (the map) and host (to ask its members). */
  meta: { group: RaftGroup; store: KvStore; host: HostedGroup };
  log: Logger;
}

export class MapFollower {
  /** current()'s last answer, and what it was computed from. */
  private planned: { key: string; map: ShardMap } | undefined;
  /**
   * Set once a g0 member reports that this node is no longer one: the map that member acts on, this node left
   * out, and the commit index this node's copy of g0 knew then. Cleared once that copy applies past it with this
   * node among its members: it was added again (the same id, by gossip or by hand) and receives g0 once more.
   */
  private out: { map: ShardMap; g0Commit: number } | undefined;
  private asked = 0;
  /** The map committed in g0 as last read (committed()). */
  private stored: { map: ShardMap; revision: number } | undefined;

  constructor(private readonly o: MapFollowerOptions) {
    o.meta.host.answerMap = () => this.current();
  }

  /** The map to act on now. */
  current(): ShardMap {
    const { meta, count, replicas, self } = this.o;
    const c = meta.group.node.confState();
    const members = [...c.voters, ...c.learners].sort();
    if (this.out && meta.group.node.status().applied > this.out.g0Commit && members.includes(self)) {
      this.o.log.info('this node is a member of the cluster again');
      this.out = undefined;
    }
    if (this.out) return this.out.map;
    const stored = this.committed();
    const key = `${stored?.revision ?? 0}:${members.join()}`;
    if (this.planned?.key !== key) this.planned = { key, map: plannedShardMap(stored?.map, members, count, replicas) };
    return this.planned.map;
  }

  /** The map committed in g0 and its key's revision; undefined while g0 holds none. */
  committed(): { map: ShardMap; revision: number } | undefined {
    return (this.stored = appliedShardMap(this.o.meta.store, this.stored));
  }

  /** Asks the next g0 member whether this node is still one (answer() takes the reply). */
  ask(): void {
    const c = this.o.meta.group.node.confState();
    const others = [...c.voters, ...c.learners].filter((id) => id !== this.o.self);
    if (others.length > 0) this.o.meta.host.askMembers(others[this.asked++ % others.length]);
  }

  /**
   * A g0 member's answer. If this node is not among its members (at an index this node's copy of g0 has no
   * entry past) it is out, and follows the answer's map from now on. True when the map to act on changed.
   */
  answer(from: string, a: MembersAnswer): boolean {
    const self = this.o.self;
    if (a.members.includes(self) || a.applied < this.o.meta.host.storage.lastIndex() || !isShardMap(a.map, this.o.count)) return false;
    if (this.out && a.map.epoch <= this.out.map.epoch) return false;
    if (!this.out) this.o.log.warn({ told: from, members: a.members, epoch: a.map.epoch }, "this node is no longer a member of the cluster: moving the shards it leads as the cluster's map says, and deleting its copies");
    const map = { ...a.map, shards: a.map.shards.map((r) => r.filter((id) => id !== self)) };
    this.out = { map, g0Commit: this.o.meta.group.node.status().commit };
    return true;
  }
}

/** Whether `m` is a shard map of `count` shards (an answer from a peer is checked before it is acted on). */
function isShardMap(m: unknown, count: number): m is ShardMap {
  const x = m as Partial<ShardMap> | undefined;
  return (
    typeof x === 'object' && x !== null && Number.isInteger(x.epoch) && Array.isArray(x.members) && Array.isArray(x.shards) && x.shards.length === count &&
    x.shards.every((r) => Array.isArray(r) && r.every((id) => typeof id === 'string'))
  );
}
