// The data shards a node hosts. With one shard, the metadata group g0 is also the data shard and nothing
// here runs a group of its own. With S > 1, shard i is Raft group `s<i>` (shard-map.ts), hosted by the
// members the shard map names (the map to act on, and how a member removed while cut off finds out: map-follower.ts):
//   - founders bootstrap the shards the first map gives them, with the map's replicas as voters;
//   - a node the map gives a shard it does not host creates the shard's group empty; the shard's leader adds
//     it as a learner, catches it up and promotes it (the steward, src/cluster/shard-steward.ts, makes every
//     shard's membership follow the map and hands leadership to the map's preferred leader);
//   - a node the map no longer names for a shard it hosts keeps its replica until it has applied its own
//     removal, or another replica says it is no member any more at an applied index at or past everything
//     in this replica's log; then it deletes the replica (its state, log and snapshots). A node that is not
//     told keeps asking.
// A shard not hosted here (or hosted but not yet a voter) is served by forwarding to a replica (shard-calls.ts).

import type { Logger } from 'pino';
import { bootstrapState } from '../raft/bootstrap.ts';
import type { ConfState } from '../raft/types.ts';
import { GROUP, type DataDirLayout } from '../cluster/data-dir.ts';
import type { NodeConfig } from '../cluster/config.ts';
import type { RaftGroup } from '../cluster/raft-group.ts';
import type { NodeMetrics } from '../cluster/metrics.ts';
import type { MembersAnswer, PeerEnvelope } from '../cluster/peer-envelope.ts';
import { ShardSteward } from '../cluster/shard-steward.ts';
import { replicaFate } from '../cluster/shard-steps.ts';
import type { NodeTicker } from '../cluster/ticker.ts';
import type { ShardMapView } from '../cluster/types.ts';
import { RaftKvService } from '../kv/service.ts';
import { RemoteShard } from '../kv/forwarded.ts';
import type { ShardKvService } from '../kv/sharded-service.ts';
import type { CacheStats } from '../storage/read-cache.ts';
import type { KvEnv } from '../storage/kv-env.ts';
import type { KvStore } from '../storage/kv-store.ts';
import type { NodeWal } from '../storage/node-wal.ts';
import { HostedGroup } from './hosted-group.ts';
import { ShardCalls } from './shard-calls.ts';
import { ShardSurvey } from './shard-survey.ts';
import { shardView } from '../cluster/shard-view.ts';
import { shardGroupId, type ShardMap } from './shard-map.ts';
import { MapFollower } from './map-follower.ts';

export interface ShardGroupsDeps {
  config: NodeConfig;
  layout: DataDirLayout;
  log: Logger;
  /** Sends an envelope to a peer (its group named); false if it could not be queued. */
  send(to: string, env: PeerEnvelope): boolean;
  peerIds(): string[];
  /** Whether a peer's connection is up. */
  connected(id: string): boolean;
  /** The node's registry: peer envelopes are routed to the groups in it. */
  registry: Map<string, HostedGroup>;
  ticker: NodeTicker;
  wal: NodeWal;
  kvEnv: () => KvEnv;
  /** A shard's group failed (its storage did): the node cannot go on. */
  fail(e: Error): void;
}

/** A data shard running here: its group and the key-value service over it. */
export interface RunningShard {
  id: string;
  group: RaftGroup;
  kv: RaftKvService;
  cacheStats(): CacheStats;
  size(): { keys: number; bytes: number };
}

/** The metadata group as the shards need it: its group, its service (the data shard when S = 1), its store (the map), and its host (to ask its members). */
export interface MetaGroup extends Omit<RunningShard, 'id'> {
  store: KvStore;
  host: HostedGroup;
}

/** How often a replica the map dropped asks whether it is still a member. */
const ASK_EVERY_PASSES = 4;
/** How often the metadata leader asks how the shards hosted elsewhere stand. */
export const SURVEY_EVERY_MS = 1000;

export class ShardGroups {
  private count: number | undefined;
  private readonly hosted = new Map<number, HostedGroup>();
  private readonly runningShards = new Map<number, RunningShard>();
  private refusingLeadership = false;
  /** Shards being deleted here (not to be created again until that is done), and the deletions under way. */
  private readonly removing = new Set<number>();
  private readonly deleting = new Set<Promise<void>>();
  /** Shards this node bootstrapped in this run: voters before their first membership entries are applied. */
  private readonly founded = new Set<number>();
  /** Set while a sync() pass runs: passes never overlap. */
  private syncing = false;
  private meta: MetaGroup | undefined;
  private metrics: NodeMetrics | undefined;
  private map: ShardMap | undefined;
  private services: ShardKvService[] | undefined;
  private readonly remote: RemoteShard[] = [];
  private steward: ShardSteward | undefined;
  private timer: NodeJS.Timeout | undefined;
  private passes = 0;
  private follower: MapFollower | undefined;
  private epochWaiters: Array<() => void> = [];
  readonly calls: ShardCalls;
  /** How the shards not hosted here stand (for the status, and for the membership gate on the metadata leader). */
  readonly survey: ShardSurvey;
  /** Set by close(): a start() still under way stops short. */
  closed = false;
  private resolveStarted: () => void = () => {};
  /** Settles once the shards run (servicesByShard() is defined). */
  readonly started = new Promise<void>((resolve) => (this.resolveStarted = resolve));

  constructor(private readonly d: ShardGroupsDeps) {
    this.calls = new ShardCalls({
      self: d.config.nodeId,
      send: d.send,
      connected: d.connected,
      replicas: (s) => this.map?.shards[s] ?? [],
      epoch: () => this.map?.epoch ?? 0,
      waitForEpoch: (e, ms) => this.waitForEpoch(e, ms),
      local: (s) => this.serving(s),
      view: (s) => {
        const r = this.runningShards.get(s);
        return r ? shardView(d.config.nodeId, r.group, r.size()) : undefined;
      },
      timeoutMs: d.config.requestTimeoutMs,
      log: d.log.child({ part: 'shards' }),
    });
    this.survey = new ShardSurvey({
      self: d.config.nodeId,
      elsewhere: () => (this.map?.shards ?? []).flatMap((replicas, shard) => (this.runningShards.has(shard) ? [] : [{ shard, replicas }])),
      connected: d.connected,
      ask: (to, shard, ms) => this.calls.view(to, shard, ms),
      askMs: Math.min(1000, d.config.requestTimeoutMs),
    });
  }

  /**
   * Opens the logs of the shards (count > 1) that this node has records of or that `map` gives it, and routes
   * their peer traffic here. Shards already open stay as they are.
   */
  open(count: number, map: ShardMap | undefined): void {
    this.count = count;
    if (count === 1) return;
    const self = this.d.config.nodeId;
    const found = new Set(this.d.wal.groupsFound());
    for (let i = 0; i < count; i++) {
      if (!this.hosted.has(i) && (found.has(shardGroupId(i, count)) || map?.shards[i]?.includes(self))) this.host(i, map);
    }
  }

  /** A new cluster's shards: each one hosted here and without a log gets the map's replicas as voters. */
  async bootstrap(map: ShardMap): Promise<void> {
    for (const [i, g] of this.hosted) {
      if (g.storage.lastIndex() > 0) continue;
      await g.storage.save(bootstrapState(map.shards[i]));
      this.founded.add(i);
    }
  }

  private host(i: number, map: ShardMap | undefined): HostedGroup {
    const { config, layout, log } = this.d;
    const id = shardGroupId(i, this.count!);
    const mine = map ? map.shards.filter((r) => r.includes(config.nodeId)).length : this.count!;
    const g = new HostedGroup(id, {
      config,
      layout,
      send: (to, env) => this.d.send(to, { g: id, ...env }),
      peerIds: () => this.d.peerIds(),
      // The node's cache budget is shared by the shards the map gives it.
      cacheBytes: Math.floor(config.cacheBytes / Math.max(1, mine)),
      history: { maxRevisions: config.historyRevisions, maxBytes: Math.ceil(config.historyBytes / this.count!) },
      trackWrites: config.maxKeys > 0 || config.maxBytes > 0,
      ticker: this.d.ticker,
      wal: this.d.wal,
      kvEnv: this.d.kvEnv,
      log: log.child({ shard: i }),
    });
    g.onMembers = (from, a) => this.answered(i, g, from, a);
    this.hosted.set(i, g);
    this.d.registry.set(id, g);
    return g;
  }

  /** Runs the shards opened by open(), or with one shard the metadata group's own service. */
  async start(meta: MetaGroup, metrics: NodeMetrics): Promise<void> {
    this.meta = meta;
    this.metrics = metrics;
    if (this.count === 1) {
      this.services = [meta.kv];
      this.resolveStarted();
      return;
    }
    const follower = (this.follower = new MapFollower({ self: this.d.config.nodeId, count: this.count!, replicas: this.d.config.replicas, meta, log: this.d.log.child({ part: 'shards' }) }));
    this.map = follower.current();
    for (const [i, h] of [...this.hosted]) {
      await this.run(i, h);
      if (this.closed) return;
    }
    // Only now: a pass (a timer's, or an answer's) hosts and deletes shards, which must not meet the start-up.
    meta.host.onMembers = (from, a) => {
      if (follower.answer(from, a)) void this.sync();
    };
    this.rebuild();
    this.resolveStarted();
    const { config, log } = this.d;
    this.steward = new ShardSteward({
      self: config.nodeId,
      want: (i) => this.want(i),
      shards: () => Array.from({ length: this.count! }, (_, i) => this.runningShards.get(i)?.group),
      intervalMs: config.tickMs * 5,
      maxPromotionLag: 1000,
      transferBackoffMs: config.tickMs * config.electionTicks * 3,
      // One shard at a time per leader: a new replica's catch-up costs its node and the leader CPU that the
      // requests they serve meanwhile need (bench/README.md, "Puts while replicas move").
      maxCatchingUp: 1,
      logger: log.child({ part: 'shards' }),
    });
    metrics.watchMoves(this.steward.steps);
    this.timer = setInterval(() => void this.sync(), config.tickMs * 5);
    this.timer.unref();
  }

  private async run(i: number, h: HostedGroup): Promise<void> {
    const { store } = h.openState();
    await h.recover();
    if (this.closed) return;
    const { group } = h.start(() => this.metrics!, false);
    void group.failed.then((e) => this.d.fail(new Error(`the Raft group ${h.id} stopped: ${e.message}`)));
    if (this.refusingLeadership) group.refuseLeadership();
    this.runningShards.set(i, { id: h.id, group, kv: new RaftKvService(this.d.config.nodeId, group, store, { ...this.d.config, maxKeys: Math.ceil(this.d.config.maxKeys / this.count!), maxBytes: Math.ceil(this.d.config.maxBytes / this.count!) }), cacheStats: () => h.cacheStats(), size: () => h.size() });
  }

  private want(i: number): { conf: ConfState; preferred?: string } | undefined {
    const replicas = this.map?.shards[i];
    return replicas ? { conf: { voters: [...replicas], learners: [] }, preferred: replicas[0] } : undefined;
  }

  /** Follows the map: hosts the shards it gives this node, and asks about those it took away. One pass at a time. */
  private async sync(): Promise<void> {
    if (this.closed || !this.follower || this.syncing) return;
    this.syncing = true;
    try {
      await this.syncOnce();
    } finally {
      this.syncing = false;
    }
  }

  private async syncOnce(): Promise<void> {
    const map = this.follower!.current();
    const changed = map.epoch !== this.map?.epoch;
    this.map = map;
    const self = this.d.config.nodeId;
    for (let i = 0; i < map.shards.length; i++) {
      if (!map.shards[i].includes(self) || this.hosted.has(i) || this.removing.has(i)) continue;
      this.d.log.info({ shard: i, epoch: map.epoch }, 'the shard map gives this node a shard: hosting it (its leader will add this replica)');
      await this.run(i, this.host(i, map));
      if (this.closed) return;
    }
    this.rebuild();
    if (changed) for (const w of this.epochWaiters.splice(0)) w();
    // The metadata leader keeps its view of the others' shards fresh for the membership gate.
    if (this.meta?.group.node.raft.role === 'leader') void this.survey.refresh(SURVEY_EVERY_MS);
    const ask = this.passes++ % ASK_EVERY_PASSES === 0;
    if (ask && this.runningShards.size > 0) this.follower!.ask();
    for (const [i, h] of this.hosted) {
      const shard = this.runningShards.get(i);
      if (!shard || shard.group.node.raft.role === 'leader') continue;
      const conf = shard.group.node.confState();
      const applied = shard.group.node.status().applied;
      const fate = replicaFate({ self, replicas: map.shards[i], removedItself: h.removedItself, lastIndex: h.storage.lastIndex(), applied });
      if (fate === 'delete') this.remove(i, h, { applied });
      else if (fate === 'ask' && ask) for (const id of new Set([...map.shards[i], ...conf.voters, ...conf.learners])) if (id !== self) h.askMembers(id);
    }
  }

  /** Another replica's members, in answer to askMembers(). */
  private answered(i: number, h: HostedGroup, from: string, answer: MembersAnswer): void {
    const shard = this.runningShards.get(i);
    if (!shard || !this.map) return;
    const fate = replicaFate({ self: this.d.config.nodeId, replicas: this.map.shards[i], removedItself: h.removedItself, lastIndex: h.storage.lastIndex(), applied: shard.group.node.status().applied, answer });
    if (fate === 'delete') this.remove(i, h, { told: from, applied: answer.applied });
  }

  /** Deletes this node's copy of shard `i` (replicaFate said so). */
  private remove(i: number, h: HostedGroup, why: Record<string, unknown>): void {
    if (this.closed || this.removing.has(i) || this.hosted.get(i) !== h) return;
    this.removing.add(i);
    this.hosted.delete(i);
    this.runningShards.delete(i);
    this.d.registry.delete(h.id);
    this.rebuild();
    this.d.log.info({ shard: i, ...why }, 'no longer a replica of the shard: deleting this copy');
    const done = h.destroy().then(
      () => {
        this.removing.delete(i);
      },
      (e: Error) => {
        if (!this.closed) this.d.fail(new Error(`deleting the replica of ${h.id} failed: ${e.message}`));
      },
    );
    this.deleting.add(done);
    void done.finally(() => this.deleting.delete(done));
  }

  /**
   * The service of a shard this node serves itself: running here, and a voter of it (or bootstrapped here and
   * yet to apply its first membership entries). A copy the map has taken away steps back (requests go to the
   * replicas the map names, so none is lost when this node leaves) unless none of those is a voter yet: a
   * shard whose every voter the map moves stays served until its new replicas are voters. A learner still
   * catching up and a copy just created are served by forwarding to the others.
   */
  private serving(i: number): RaftKvService | undefined {
    if (this.count === 1) return this.meta?.kv;
    const s = this.runningShards.get(i);
    if (!s) return undefined;
    const self = this.d.config.nodeId;
    const c = s.group.node.confState();
    const founding = this.founded.has(i) && c.voters.length === 0 && c.learners.length === 0;
    if (founding) return s.kv;
    if (!c.voters.includes(self)) return undefined;
    const replicas = this.map?.shards[i] ?? [];
    return replicas.includes(self) || !replicas.some((id) => c.voters.includes(id)) ? s.kv : undefined;
  }

  private rebuild(): void {
    const count = this.count!;
    const services: ShardKvService[] = [];
    for (let i = 0; i < count; i++) services.push(this.serving(i) ?? this.remoteShard(i)!);
    this.services = services;
  }

  /** Shard `i` as served by its replicas elsewhere (with one shard: none, every node hosts it). */
  remoteShard(i: number): RemoteShard | undefined {
    if (this.count === undefined || this.count === 1) return undefined;
    return (this.remote[i] ??= new RemoteShard(i, (op) => this.calls.call(i, op), (node, op) => this.calls.callOn(node, i, op)));
  }

  private waitForEpoch(epoch: number, ms: number): Promise<void> {
    if ((this.map?.epoch ?? 0) >= epoch || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.epochWaiters = this.epochWaiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.epochWaiters.push(done);
    });
  }

  /** The service of each shard by number (hosted here or forwarded); undefined until the shard count is known. */
  servicesByShard(): readonly ShardKvService[] | undefined {
    return this.services;
  }

  /** The shards running here; with one shard, the metadata group. */
  running(): readonly RunningShard[] {
    if (this.count === 1) return this.meta ? [{ id: GROUP, ...this.meta }] : [];
    return [...this.runningShards.values()];
  }

  /** The shard map in force here, as the cluster status shows it (undefined with one shard, or before the shards run). */
  mapView(): ShardMapView | undefined {
    const map = this.count === 1 ? undefined : this.map;
    if (!map) return undefined;
    const committedMembers = this.follower?.committed()?.map.members;
    return { epoch: map.epoch, members: map.members, committedMembers, replicas: map.replicas, shards: map.shards.map((replicas, i) => ({ id: shardGroupId(i, map.shards.length), replicas })) };
  }

  /** The read caches of the shards, summed. */
  cacheStats(): CacheStats {
    const sum: CacheStats = { hits: 0, misses: 0, entries: 0, bytes: 0, capacityBytes: 0 };
    for (const s of this.running()) {
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
  /** Every group this node runs, and any it starts later, takes no leadership (shutting down). */
  refuseLeadership(): void {
    this.refusingLeadership = true;
    for (const r of this.runningShards.values()) r.group.refuseLeadership();
  }

  async close(handOffMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.steward?.close();
    this.calls.close();
    await Promise.all([...this.hosted.values()].map((g) => g.close(handOffMs)));
    await Promise.all([...this.deleting]);
  }

  async closeFiles(): Promise<void> {
    for (const g of this.hosted.values()) await g.closeFiles();
  }
}

