// The node without its front ends: storage, peer transport, the Raft groups and the services over them (kv's
// state machine and service on cluster's Raft groups: wiring across layers, hence here and not in src/cluster).
// Every node hosts the metadata group g0 (membership, shard count) and the data shards (shard-groups.ts);
// peer traffic is routed to a hosted group (hosted-group.ts) by the group named in each envelope.

import type { Logger } from 'pino';
import { bootstrapState } from '../raft/bootstrap.ts';
import type { RaftWalStore } from '../storage/raft-wal-store.ts';
import { GROUP, assertNoLegacyRaftLog, assertOwnDataDir, dataDirLayout, readNodeRecord, writeNodeRecord, type NodeRecord } from '../cluster/data-dir.ts';
import { lockDataDir } from '../cluster/data-dir-lock.ts';
import { ClusterIdentity, ForeignClusterError, foundingIdentity } from '../cluster/cluster-identity.ts';
import { PeerTransport } from '../transport/index.ts';
import { RaftKvService } from '../kv/service.ts';
import { DEFAULTS, type NodeConfig } from '../cluster/config.ts';
import type { RaftGroup } from '../cluster/raft-group.ts';
import { RaftClusterService } from '../cluster/cluster-service.ts';
import { NodeMetrics } from '../cluster/metrics.ts';
import type { Snapshotter } from '../cluster/snapshotter.ts';
import type { SnapshotStreamer } from '../cluster/snapshot-stream.ts';
import { bulky, type PeerEnvelope } from '../cluster/peer-envelope.ts';
import { MembershipController } from '../cluster/membership-controller.ts';
import { NodeTicker } from '../cluster/ticker.ts';
import { GossipNode, defaultConfig } from '../membership/index.ts';
import { advertisedAddress, formatHostPort, parseHostPort } from '../transport/address.ts';
import { KvEnv } from '../storage/kv-env.ts';
import { NodeWal } from '../storage/node-wal.ts';
import { LogBudget } from '../cluster/log-budget.ts';
import { ShardedKvService } from '../kv/sharded-service.ts';
import { HostedGroup } from './hosted-group.ts';
import { PeerBook } from './peer-book.ts';
import { ShardGroups, type MetaGroup } from './shard-groups.ts';
import { appliedShardCount, appliedShardMap, foundingShardMap, shardCountEntry, shardCountSettledAt } from './shard-map.ts';
import { ShardPlacer } from './shard-placer.ts';
import type { ForwardAnswer, ForwardRequest } from './shard-calls.ts';

export interface NodeCore {
  kv: ShardedKvService;
  cluster: RaftClusterService;
  metrics: NodeMetrics;
  /** The metadata group (with one shard, also the data shard), its snapshot policy and streams, and its log's bounds. */
  group: RaftGroup;
  snapshotter: Snapshotter;
  streamer: SnapshotStreamer;
  log: { firstIndex(): number; lastIndex(): number };
  /** The peer transport's fault-injection seam (tests, chaos). */
  faults: PeerTransport<unknown>['faults'];
  /**
   * The node is shutting down: none of its groups takes leadership from now on, so the others stop handing
   * it groups (a shard map planned before they knew may still name it a shard's preferred leader).
   */
  refuseLeadership(): void;
  /** With gossip: leave the cluster gracefully (call before close()). */
  leave(): Promise<void>;
  raftAddress: string;
  /** Settles only if the node cannot go on: its state belongs to another cluster than its members', or a Raft group failed. */
  failed: Promise<Error>;
  close(): Promise<void>;
}

/**
 * Everything but the front ends: storage, peer transport, the Raft groups and the services over them. The
 * data dir is locked for this process from before anything in it is opened until close() has closed it all.
 */
export async function startNodeCore(config: NodeConfig, log: Logger): Promise<NodeCore> {
  const lock = lockDataDir(config.dataDir, `concord node ${config.nodeId}`);
  try {
    const core = await openNodeCore(config, log);
    return {
      ...core,
      close: async () => {
        try {
          await core.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function openNodeCore(config: NodeConfig, log: Logger): Promise<NodeCore> {
  assertNoLegacyRaftLog(config.dataDir);
  const layout = dataDirLayout(config.dataDir);
  // The transport starts below: the metadata group's log is opened first (it says whether to bootstrap),
  // and no group sends anything before.
  const wire: { peers?: PeerTransport<PeerEnvelope> } = {};
  const peerIds = () => wire.peers?.peerIds() ?? [];
  // The groups this node hosts, by id: peer envelopes are routed to them.
  const groups = new Map<string, HostedGroup>();
  const ticker = new NodeTicker({ tickMs: config.tickMs, electionTicks: config.electionTicks, logger: log.child({ part: 'raft' }) });
  assertOwnDataDir(config.dataDir, config.nodeId);
  let kvEnvOpened: KvEnv | undefined;
  const kvEnv = () => (kvEnvOpened ??= new KvEnv(layout.kv));
  const wal = new NodeWal({ dir: layout.wal, segmentBytes: config.walSegmentBytes, logger: log.child({ part: 'storage' }) });
  const hosted = new HostedGroup(GROUP, { config, layout, send: (to, env) => wire.peers?.send(to, { g: GROUP, ...env }), peerIds, cacheBytes: config.cacheBytes, history: { maxRevisions: config.historyRevisions, maxBytes: config.historyBytes }, trackWrites: config.maxKeys > 0 || config.maxBytes > 0, ticker, wal, kvEnv, log });
  groups.set(GROUP, hosted);
  const shards = new ShardGroups({
    config,
    layout,
    log,
    send: (to, env) => wire.peers?.send(to, env) ?? false,
    peerIds,
    connected: (id) => wire.peers?.connected(id) ?? false,
    registry: groups,
    ticker,
    wal,
    kvEnv,
    fail: (e) => fail(e),
  });
  const storage = hosted.storage;
  // The membership the identity check trusts: what this node's own state names (filled in below).
  const book = new PeerBook(config.nodeId, config.peers);
  const addresses = book.addresses;
  let fail: (e: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  const remember = (patch: Partial<NodeRecord>) => writeNodeRecord(config.dataDir, { ...readNodeRecord(config.dataDir), nodeId: config.nodeId, raftAddr: selfAddr, ...patch });
  const identity = new ClusterIdentity(readNodeRecord(config.dataDir)?.clusterUid, {
    members: () => addresses.keys(),
    learned: (clusterUid) => {
      remember({ clusterUid });
      log.info({ clusterUid }, 'joined cluster');
    },
    foreign: (f) => fail(new ForeignClusterError(config, f)),
  });
  // A quiet group learns of a member's death from a closed connection or from gossip, not from a missed heartbeat.
  const wakeAll = () => {
    for (const g of groups.values()) g.wake();
  };
  const peers = (wire.peers = await startTransport(config, identity, wakeAll, log));
  // What peers must dial: the bound port (the configured one may be 0), never a wildcard host.
  const selfAddr = peers.advertisedAddr!;
  const shardCount = await openOrFound(config, selfAddr, storage, shards, identity, remember, log);
  const { store, stateMachine } = hosted.openState();
  if (shardCount !== undefined) shards.open(shardCount, appliedShardMap(store)?.map);

  const clusterUid = identity.current();
  remember(clusterUid === undefined ? {} : { clusterUid });

  // Peer addresses: from --peers, then from every membership entry in the log (founders included).
  book.load(storage, peers);

  // Peer traffic for the groups this node hosts (before they run: a snapshot fetch may need it).
  peers.onMessage((from, env) => {
    book.heard(from);
    if (env.kq) shards.calls.serve(from, env.kq as ForwardRequest);
    else if (env.ks) shards.calls.answered(env.ks as ForwardAnswer);
    else groups.get(env.g)?.deliver(from, env);
  });
  await hosted.recover();

  stateMachine.onConfChange = (e) => book.apply(e, peers);
  const { group, snapshotter, metrics } = hosted.start((g) => new NodeMetrics(g, peers));
  const meta: MetaGroup = { host: hosted, group, store, kv: new RaftKvService(config.nodeId, group, store, config), cacheStats: () => hosted.cacheStats(), size: () => hosted.size() };
  const hostedGroups = () => [group, ...shards.running().map((s) => s.group).filter((g) => g !== group)];
  book.prune(peers, hostedGroups, config.tickMs * 10, config.tickMs * config.electionTicks * 10);
  const budgeted = () => [...groups.values()].flatMap((g) => g.budgeted() ?? []);
  const budget = new LogBudget({ budgetBytes: config.raftLogMemoryBytes, groups: budgeted, intervalMs: config.tickMs * 2, logger: log.child({ part: 'snapshot' }) });
  metrics.watchLogBudget(
    () => budgeted().reduce((n, g) => n + g.memoryBytes(), 0),
    () => budget.snapshots,
  );
  metrics.watchCache(() => shards.cacheStats());
  metrics.watchShards(() => shards.running(), () => hostedGroups());
  metrics.watchForwarded(shards.calls.counts);
  let placer: ShardPlacer | undefined;
  const place = (count: number) => {
    if (count > 1) placer = new ShardPlacer({ group, kv: meta.kv, store, count, replicas: config.replicas, intervalMs: config.tickMs * 5, logger: log.child({ part: 'shards' }) });
  };
  if (shardCount !== undefined) {
    await shards.start(meta, metrics);
    place(shardCount);
  } else void learnShardCount(config, meta, storage, shards, metrics, remember, log).then((count) => count !== undefined && place(count));
  const kv = new ShardedKvService(() => shards.servicesByShard(), shards.started, config.requestTimeoutMs, (i) => shards.remoteShard(i));
  let gossip: Awaited<ReturnType<typeof startGossip>> | undefined;
  const cluster = new RaftClusterService(config, group, addresses, peers, selfAddr, () => gossip?.node, {
    running: () => shards.running(),
    map: () => shards.mapView(),
    elsewhere: shards.survey,
  });
  if (config.gossipAddr) gossip = await startGossip(config, selfAddr, group, addresses, (id) => cluster.shardsBehind(id).length === 0, wakeAll, log);
  void group.failed.then((e) => fail(new Error(`the Raft group ${GROUP} stopped: ${e.message}`)));
  return {
    kv,
    cluster,
    metrics,
    group,
    snapshotter,
    streamer: hosted.streamer,
    log: storage,
    faults: peers.faults,
    raftAddress: selfAddr,
    failed,
    refuseLeadership: () => {
      group.refuseLeadership();
      shards.refuseLeadership();
    },
    leave: async () => {
      if (!gossip) return;
      // Graceful leave: leadership handed off, removed from Raft, then gossip says goodbye.
      const removed = await gossip.controller.leave(config.requestTimeoutMs);
      log.info({ removed }, removed ? 'left the Raft group' : 'could not confirm removal from the Raft group');
      await gossip.node.leave();
    },
    close: async () => {
      book.close();
      placer?.close();
      await budget.close();
      await gossip?.close();
      await Promise.all([shards.close(config.requestTimeoutMs), hosted.close(config.requestTimeoutMs)]);
      ticker.close();
      await peers.close();
      await shards.closeFiles();
      await hosted.closeFiles();
      await wal.close();
      await kvEnvOpened?.close();
    },
  };
}

/**
 * Founds a new cluster (an empty data dir given founding members), resumes one, or waits to join one, and
 * says how many shards the cluster has: undefined while a joining node has yet to learn it from the
 * metadata group. Shards are bootstrapped before g0, whose first entries mark the cluster founded: a
 * founder stopped in between founds again and finds its shards' logs in place.
 */
async function openOrFound(
  config: NodeConfig,
  selfAddr: string,
  storage: RaftWalStore,
  shards: ShardGroups,
  identity: ClusterIdentity,
  remember: (patch: Partial<NodeRecord>) => void,
  log: Logger,
): Promise<number | undefined> {
  const recorded = readNodeRecord(config.dataDir)?.shards;
  if (storage.lastIndex() > 0) {
    log.info({ lastIndex: storage.lastIndex() }, 'resuming from the data dir (bootstrap flags ignored)');
    // No count recorded: a data dir of a version before shards, whose cluster has one.
    const count = recorded === undefined ? 1 : recorded === 0 ? undefined : recorded;
    noteShardCount(config, count, log);
    return count;
  }
  const founders = Object.keys(config.peers).length > 0 ? { ...config.peers } : config.bootstrap ? { [config.nodeId]: selfAddr } : {};
  if (Object.keys(founders).length === 0) {
    // Seed 003's "start additional nodes": an empty node that a member adds with POST /v1/cluster/nodes.
    log.info({ raft: selfAddr }, 'new node waiting to be added to a running cluster (POST /v1/cluster/nodes on a member)');
    remember({ shards: 0 });
    return undefined;
  }
  if (!(config.nodeId in founders)) throw new Error(`--peers does not include this node (${config.nodeId})`);
  const voters = Object.keys(founders).sort();
  const count = recorded || config.shards;
  remember({ shards: count });
  identity.found(foundingIdentity(config.clusterId, founders));
  // Every member's address rides in the log, so members added later learn them by replaying it.
  const state = bootstrapState(voters, [], founders);
  if (count > 1) {
    const map = foundingShardMap(count, voters, config.replicas);
    shards.open(count, map);
    await shards.bootstrap(map);
    state.entries.push(shardCountEntry(state.entries.length + 1, count, map));
    state.hardState.commit = state.entries.length;
  }
  await storage.save(state);
  log.info({ voters, shards: count }, 'bootstrapped a new cluster');
  return count;
}

/** A joining node: the shard count, once its copy of the metadata group has applied far enough to tell (shardCountSettledAt). */
async function learnShardCount(
  config: NodeConfig,
  meta: MetaGroup,
  storage: RaftWalStore,
  shards: ShardGroups,
  metrics: NodeMetrics,
  remember: (patch: Partial<NodeRecord>) => void,
  log: Logger,
): Promise<number | undefined> {
  for (;;) {
    if (shards.closed) return undefined;
    const at = shardCountSettledAt(storage);
    if (at !== undefined && meta.store.appliedIndex() >= at) break;
    await new Promise((r) => setTimeout(r, config.tickMs));
  }
  const count = appliedShardCount(meta.store) ?? 1;
  remember({ shards: count });
  noteShardCount(config, count, log);
  shards.open(count, appliedShardMap(meta.store)?.map);
  await shards.start(meta, metrics);
  return count;
}

function noteShardCount(config: NodeConfig, count: number | undefined, log: Logger): void {
  if (count === undefined) return;
  if (config.shards !== DEFAULTS.shards && config.shards !== count) log.warn({ shards: count, asked: config.shards }, 'the cluster has another shard count than --shards asks: the cluster\'s is kept (it is fixed when the cluster is founded)');
  else log.info({ shards: count }, 'shards');
}

/**
 * The peer transport, listening. A node whose raft port is left to the system (0: seed 000's nodes, which
 * give only -g) takes the port it had before, so the address its cluster committed for it stays right
 * across restarts; if that port is taken now, any free one (the leader then commits the new address).
 */
async function startTransport(config: NodeConfig, identity: ClusterIdentity, onPeerLost: () => void, log: Logger): Promise<PeerTransport<PeerEnvelope>> {
  const make = (port: number) =>
    new PeerTransport<PeerEnvelope>({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      listen: { host: config.raftAddr.host, port },
      logger: log.child({ part: 'transport' }),
      bulky,
      identity,
      onPeerLost,
    });
  const before = readNodeRecord(config.dataDir)?.raftAddr;
  const port = config.raftAddr.port === 0 && before ? parseHostPort(before).port : config.raftAddr.port;
  const transport = make(port);
  try {
    await transport.start();
    return transport;
  } catch (e) {
    await transport.close();
    if (port === config.raftAddr.port || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    log.warn({ port }, 'the raft port this node had before is taken; listening on another (the cluster will be told)');
    const fresh = make(0);
    await fresh.start();
    return fresh;
  }
}

/** Gossip for discovery and failure detection, and the controller that turns it into Raft membership. */
async function startGossip(
  config: NodeConfig,
  raftAddr: string,
  group: RaftGroup,
  addresses: ReadonlyMap<string, string>,
  mayChange: (node: string) => boolean,
  onMemberEvent: () => void,
  log: Logger,
) {
  const gossipAddr = config.gossipAddr!;
  const node = new GossipNode({
    id: config.nodeId,
    meta: { raft: raftAddr, http: advertisedAddress(config.httpAddr) },
    bindAddr: formatHostPort(gossipAddr),
    advertiseAddr: gossipAddr.port === 0 ? undefined : advertisedAddress(gossipAddr),
    config: defaultConfig({ clusterId: config.clusterId }),
    logger: log.child({ part: 'gossip' }),
  });
  await node.start();
  const controller = new MembershipController({
    self: config.nodeId,
    group,
    gossip: node,
    targetVoters: config.voters,
    addressOf: (id) => addresses.get(id),
    deadNodeTimeoutMs: config.deadNodeTimeoutMs,
    intervalMs: config.tickMs * 5,
    logger: log.child({ part: 'membership' }),
    mayChange,
  });
  node.on('member', (e) => {
    log.info({ member: e.member.id, event: e.type }, 'gossip member event');
    onMemberEvent();
    controller.evaluate();
  });
  let stopped = false;
  if (config.join.length > 0) {
    // Keep trying in the background: the seed may start after us.
    const tryJoin = async (): Promise<void> => {
      const n = await node.join(config.join).catch(() => 0);
      if (n === 0 && !stopped) setTimeout(() => void tryJoin(), 1000).unref();
    };
    void tryJoin();
  }
  return {
    node,
    controller,
    close: async () => {
      stopped = true;
      controller.close();
      await node.close();
    },
  };
}
