// The data shards a node hosts. With one shard, the metadata group g0 is also the data shard and nothing
// here runs a group of its own. With S > 1, shard i is Raft group `s<i>` (shard-map.ts), hosted by every
// member: founders bootstrap each with the founding voters; a member added later starts each empty and its
// leader adds it (the steward, src/cluster/shard-steward.ts, keeps every shard's membership equal to g0's
// and spreads shard leadership evenly over the voters).

import type { Logger } from 'pino';
import { bootstrapState } from '../raft/bootstrap.ts';
import { GROUP, type DataDirLayout } from '../cluster/data-dir.ts';
import type { NodeConfig } from '../cluster/config.ts';
import type { RaftGroup } from '../cluster/raft-group.ts';
import type { NodeMetrics } from '../cluster/metrics.ts';
import type { PeerEnvelope } from '../cluster/peer-envelope.ts';
import { ShardSteward } from '../cluster/shard-steward.ts';
import type { NodeTicker } from '../cluster/ticker.ts';
import { RaftKvService } from '../kv/service.ts';
import type { CacheStats } from '../storage/read-cache.ts';
import type { KvEnv } from '../storage/kv-env.ts';
import type { NodeWal } from '../storage/node-wal.ts';
import { HostedGroup } from './hosted-group.ts';
import { shardGroupId } from './shard-map.ts';

export interface ShardGroupsDeps {
  config: NodeConfig;
  layout: DataDirLayout;
  log: Logger;
  /** Sends an envelope to a peer (its group named). */
  send(to: string, env: PeerEnvelope): void;
  peerIds(): string[];
  /** The node's registry: peer envelopes are routed to the groups in it. */
  registry: Map<string, HostedGroup>;
  ticker: NodeTicker;
  wal: NodeWal;
  kvEnv: () => KvEnv;
  /** A shard's group failed (its storage did): the node cannot go on. */
  fail(e: Error): void;
}

/** A running data shard: its group and the key-value service over it. */
export interface RunningShard {
  id: string;
  group: RaftGroup;
  kv: RaftKvService;
  cacheStats(): CacheStats;
  size(): { keys: number; bytes: number };
}

export class ShardGroups {
  /** The shards, by number, once started; undefined until the node knows the cluster's shard count. */
  private shards: RunningShard[] | undefined;
  private hosted: HostedGroup[] = [];
  private steward: ShardSteward | undefined;
  /** Set by close(): a start() still under way stops short. */
  closed = false;
  private resolveStarted: () => void = () => {};
  /** Settles once the shards run (running() is defined). */
  readonly started = new Promise<void>((resolve) => (this.resolveStarted = resolve));

  constructor(private readonly d: ShardGroupsDeps) {}

  /** Opens the logs of shards 0..count-1 (count > 1) and routes their peer traffic here. */
  create(count: number): void {
    const { config, layout, log } = this.d;
    for (let i = 0; i < count; i++) {
      const id = shardGroupId(i, count);
      const g = new HostedGroup(id, {
        config,
        layout,
        send: (to, env) => this.d.send(to, { g: id, ...env }),
        peerIds: () => this.d.peerIds(),
        // The node's cache budget is shared by its shards.
        cacheBytes: Math.floor(config.cacheBytes / count),
        ticker: this.d.ticker,
        wal: this.d.wal,
        kvEnv: this.d.kvEnv,
        log: log.child({ shard: i }),
      });
      this.hosted.push(g);
      this.d.registry.set(id, g);
    }
  }

  /** A new cluster's shards: each group's first state names the founding voters. Shards that have one keep it. */
  async bootstrap(voters: string[]): Promise<void> {
    for (const g of this.hosted) if (g.storage.lastIndex() === 0) await g.storage.save(bootstrapState(voters));
  }

  /**
   * Runs the shards created by create(), or with one shard the metadata group's own service. `meta` is the
   * metadata group, whose membership every shard follows.
   */
  async start(meta: Omit<RunningShard, 'id'>, metrics: NodeMetrics): Promise<void> {
    if (this.hosted.length === 0) {
      this.shards = [{ id: GROUP, ...meta }];
      this.resolveStarted();
      return;
    }
    const { config, log } = this.d;
    const shards: RunningShard[] = [];
    for (const h of this.hosted) {
      const { store } = h.openState();
      await h.recover();
      if (this.closed) return;
      const { group } = h.start(() => metrics, false);
      void group.failed.then((e) => this.d.fail(new Error(`the Raft group ${h.id} stopped: ${e.message}`)));
      shards.push({ id: h.id, group, kv: new RaftKvService(config.nodeId, group, store, config), cacheStats: () => h.cacheStats(), size: () => h.size() });
    }
    this.shards = shards;
    this.resolveStarted();
    this.steward = new ShardSteward({
      self: config.nodeId,
      meta: meta.group,
      shards: () => shards.map((s) => s.group),
      intervalMs: config.tickMs * 5,
      maxPromotionLag: 1000,
      transferBackoffMs: config.tickMs * config.electionTicks * 3,
      maxCatchingUp: 4,
      logger: log.child({ part: 'shards' }),
    });
  }

  /** The running shards by number; undefined until known. */
  running(): readonly RunningShard[] | undefined {
    return this.shards;
  }

  /** The read caches of the shards, summed. */
  cacheStats(): CacheStats {
    const sum: CacheStats = { hits: 0, misses: 0, entries: 0, bytes: 0, capacityBytes: 0 };
    for (const s of this.shards ?? []) {
      const c = s.cacheStats();
      sum.hits += c.hits;
      sum.misses += c.misses;
      sum.entries += c.entries;
      sum.bytes += c.bytes;
      sum.capacityBytes += c.capacityBytes;
    }
    return sum;
  }

  /** Hands off the shards this node leads, in parallel, and stops them. */
  async close(handOffMs: number): Promise<void> {
    this.closed = true;
    this.steward?.close();
    await Promise.all(this.hosted.map((g) => g.close(handOffMs)));
  }

  async closeFiles(): Promise<void> {
    for (const g of this.hosted) await g.closeFiles();
  }
}
