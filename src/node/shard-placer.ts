// The metadata group's leader keeps the shard map planned for the cluster's members: whenever g0's members
// (voters and learners) differ from those the map in g0 was planned for, it plans the next map from the
// current one (nextShardMap: as few replicas move as balance allows) and writes it into g0 with
// compare-and-swap on the map's revision, so a map planned from a stale one is never committed. Gossip
// only changes g0's membership (membership-controller.ts); where shards go is decided here, by consensus.

import type { Logger } from 'pino';
import type { RaftGroup } from '../cluster/raft-group.ts';
import type { KvService } from '../kv/types.ts';
import type { KvStore } from '../storage/kv-store.ts';
import { ConcordError } from '../util/errors.ts';
import { SHARD_MAP_KEY, appliedShardMap, encodeShardMap, plannedShardMap } from './shard-map.ts';

export interface ShardPlacerOptions {
  /** The metadata group, its key-value service and store. */
  group: RaftGroup;
  kv: KvService;
  store: KvStore;
  count: number;
  /** R for a cluster whose g0 holds no map yet (founded before maps existed). */
  replicas: number;
  intervalMs: number;
  logger: Logger;
}

export class ShardPlacer {
  private readonly timer: NodeJS.Timeout;
  private writing = false;
  /** The map committed in g0 as last read. */
  private stored: ReturnType<typeof appliedShardMap>;

  constructor(private readonly o: ShardPlacerOptions) {
    this.timer = setInterval(() => void this.runOnce(), o.intervalMs);
    this.timer.unref();
  }

  /** Writes the next map if this node leads g0 and the map is not planned for g0's members. */
  async runOnce(): Promise<void> {
    const { group, store, count } = this.o;
    if (this.writing || group.node.raft.role !== 'leader') return;
    const c = group.node.confState();
    const members = [...c.voters, ...c.learners];
    const stored = (this.stored = appliedShardMap(store, this.stored));
    const next = plannedShardMap(stored?.map, members, count, this.o.replicas);
    if (next === stored?.map) return;
    this.writing = true;
    try {
      await this.o.kv.put(SHARD_MAP_KEY, encodeShardMap(next), stored ? { ifMatch: stored.revision } : { ifNoneMatch: true });
      this.o.logger.info({ epoch: next.epoch, members: next.members }, 'shard map planned for the members');
    } catch (e) {
      // Leadership lost, or another map written meanwhile: the next pass plans again from what is committed.
      if (!(e instanceof ConcordError)) throw e;
      this.o.logger.debug({ err: e.message }, 'shard map not written');
    } finally {
      this.writing = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
