// The node without its front ends: storage, peer transport, the Raft group and the services over it (kv's state
// machine and service on cluster's Raft group: wiring across layers, hence here and not in src/cluster).
// One group (shard) today; the group id is in every peer message so a node can host many later.

import type { Logger } from 'pino';
import { bootstrapState } from '../raft/bootstrap.ts';
import { decodeConfChange } from '../raft/conf-change.ts';
import { EntryType, MessageType } from '../raft/types.ts';
import { RaftWalStore } from '../storage/raft-wal-store.ts';
import { GROUP, assertNoLegacyRaftLog, assertOwnDataDir, dataDirLayout, readNodeRecord, writeNodeRecord } from '../cluster/data-dir.ts';
import { lockDataDir } from '../cluster/data-dir-lock.ts';
import { ClusterIdentity, ForeignClusterError, foundingIdentity } from '../cluster/cluster-identity.ts';
import { KvStore } from '../storage/kv-store.ts';
import { PeerTransport } from '../transport/index.ts';
import { KvStateMachine } from '../kv/state-machine.ts';
import { RaftKvService } from '../kv/service.ts';
import type { NodeConfig } from '../cluster/config.ts';
import { RaftGroup } from '../cluster/raft-group.ts';
import { RaftClusterService } from '../cluster/cluster-service.ts';
import { NodeMetrics } from '../cluster/metrics.ts';
import { Snapshotter } from '../cluster/snapshotter.ts';
import { SnapshotStreamer } from '../cluster/snapshot-stream.ts';
import { SnapshotFetch } from '../cluster/snapshot-fetch.ts';
import { bulky, type PeerEnvelope } from '../cluster/peer-envelope.ts';
import { installPeerSnapshot, repairFromStateMachine } from '../cluster/snapshot-repair.ts';
import { MembershipController } from '../cluster/membership-controller.ts';
import { GossipNode, defaultConfig } from '../membership/index.ts';
import { advertisedAddress, formatHostPort, parseHostPort } from '../transport/address.ts';

/** The term of a snapshot sent to repair a peer's corrupt one: below any real term, so Raft could never take it for a leader's. */
const REPAIR_TERM = 0;

export interface NodeCore {
  kv: RaftKvService;
  cluster: RaftClusterService;
  group: RaftGroup;
  metrics: NodeMetrics;
  snapshotter: Snapshotter;
  streamer: SnapshotStreamer;
  /** The peer transport's fault-injection seam (tests, chaos). */
  faults: PeerTransport<unknown>['faults'];
  /** With gossip: leave the cluster gracefully (call before close()). */
  leave(): Promise<void>;
  /** The Raft log's bounds (for status and tests). */
  log: { firstIndex(): number; lastIndex(): number };
  raftAddress: string;
  /** Settles only if the node cannot go on: its state belongs to another cluster than its members', or its Raft group failed. */
  failed: Promise<Error>;
  close(): Promise<void>;
}

/**
 * Everything but the front ends: storage, peer transport, the Raft group and the services over it. The data
 * dir is locked for this process from before anything in it is opened until close() has closed it all.
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
  const storage = new RaftWalStore({ dir: layout.wal(GROUP), group: GROUP, snapshotDir: layout.snapshots, logger: log.child({ part: 'storage' }) });
  assertOwnDataDir(config.dataDir, config.nodeId);
  // The membership the identity check trusts: what this node's own state names (filled in below).
  const addresses = new Map<string, string>(Object.entries(config.peers));
  let fail: (e: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  const identity = new ClusterIdentity(readNodeRecord(config.dataDir)?.clusterUid, {
    members: () => addresses.keys(),
    learned: (clusterUid) => {
      writeNodeRecord(config.dataDir, { nodeId: config.nodeId, raftAddr: selfAddr, clusterUid });
      log.info({ clusterUid }, 'joined cluster');
    },
    foreign: (f) => fail(new ForeignClusterError(config, f)),
  });
  const transport = await startTransport(config, identity, log);
  // What peers must dial: the bound port (the configured one may be 0), never a wildcard host.
  const selfAddr = transport.advertisedAddr!;
  if (storage.lastIndex() === 0) {
    const founders = Object.keys(config.peers).length > 0 ? { ...config.peers } : config.bootstrap ? { [config.nodeId]: selfAddr } : {};
    if (Object.keys(founders).length === 0) {
      // Seed 003's "start additional nodes": an empty node that a member adds with POST /v1/cluster/nodes.
      log.info({ raft: selfAddr }, 'new node waiting to be added to a running cluster (POST /v1/cluster/nodes on a member)');
    } else {
      if (!(config.nodeId in founders)) throw new Error(`--peers does not include this node (${config.nodeId})`);
      const voters = Object.keys(founders).sort();
      identity.found(foundingIdentity(config.clusterId, founders));
      // Every member's address rides in the log, so members added later learn them by replaying it.
      await storage.save(bootstrapState(voters, [], founders));
      log.info({ voters }, 'bootstrapped a new cluster');
    }
  } else {
    log.info({ lastIndex: storage.lastIndex() }, 'resuming from the data dir (bootstrap flags ignored)');
  }
  const store = new KvStore({ env: layout.kv, group: GROUP, cacheBytes: config.cacheBytes });
  if (store.discardedAfterOsCrash) {
    log.warn('the state machine was open when the system went down and its files may be torn: discarded; rebuilding it from the Raft snapshot and log');
  }
  const stateMachine = new KvStateMachine(store);

  const clusterUid = identity.current();
  writeNodeRecord(config.dataDir, clusterUid === undefined ? { nodeId: config.nodeId, raftAddr: selfAddr } : { nodeId: config.nodeId, raftAddr: selfAddr, clusterUid });

  // Peer addresses: from --peers, then from every membership entry in the log (founders included).
  for (const [id, addr] of addressesInLog(storage)) addresses.set(id, addr);
  for (const [id, addr] of addresses) if (id !== config.nodeId) transport.setPeer(id, addr);

  // Until the Raft group runs, peer traffic goes only to a snapshot fetch (if this node needs one).
  let running: { group: RaftGroup; snapshotter: Snapshotter } | undefined = undefined;
  let fetching: SnapshotFetch | undefined;
  const streamer = new SnapshotStreamer({
    self: config.nodeId,
    chunkBytes: config.snapshotChunkBytes,
    window: 4,
    stallMs: 10_000,
    sendChunk: (to, sc) => transport.send(to, { g: GROUP, sc }),
    sendAck: (to, sa) => transport.send(to, { g: GROUP, sa }),
    finished: (to, ok) => running?.group.reportSnapshot(to, ok),
    // A repair transfer (term 0) is not a leader's message and never reaches Raft; late duplicates are dropped.
    deliver: (m) => (m.term === REPAIR_TERM ? fetching?.offer(m.snapshot!) : running?.group.step(m)),
  });
  transport.onMessage((from, env) => {
    if (env.g !== GROUP) return;
    if (env.m) {
      if (running) running.group.step(env.m);
      else fetching?.ask(from); // whoever talks to us (e.g. the leader) may have the snapshot we need
    } else if (env.sc) streamer.onChunk(from, env.sc);
    else if (env.sa) streamer.onAck(from, env.sa);
    else if (env.sq && running && !streamer.sending(from)) {
      void running.snapshotter.snapshotAtLeast(env.sq.index).then((snapshot) => {
        if (snapshot && !streamer.sending(from)) streamer.send({ type: MessageType.Snap, from: config.nodeId, to: from, term: REPAIR_TERM, snapshot });
      });
    }
  });

  if (storage.snapshotStatus() === 'corrupt') {
    const wanted = await repairFromStateMachine(storage, store, log);
    if (wanted) {
      const ask = (to: string) => transport.send(to, { g: GROUP, sq: { index: wanted.index } });
      fetching = new SnapshotFetch(wanted.index, ask, () => transport.peerIds(), log);
      const snap = await fetching.received;
      fetching = undefined;
      await installPeerSnapshot(storage, snap, log);
    }
  }
  const logStart = storage.firstIndex() - 1;
  if (store.appliedIndex() < logStart) {
    // The state machine is older than the log's start (e.g. its files were lost): rebuild it from the
    // snapshot the log was compacted to; the log replays the rest.
    log.warn({ applied: store.appliedIndex(), snapshot: logStart }, 'state machine behind the log; restoring it from the snapshot');
    await stateMachine.restore(storage.snapshot());
  }

  stateMachine.onConfChange = (e) => {
    const cc = decodeConfChange(e.data);
    const peer = cc.node !== config.nodeId;
    if (cc.type === 'remove') {
      if (peer) transport.removePeer(cc.node);
      addresses.delete(cc.node);
    } else if (cc.context) {
      if (peer) transport.setPeer(cc.node, cc.context);
      addresses.set(cc.node, cc.context);
    }
  };

  const group = new RaftGroup({
    group: GROUP,
    nodeId: config.nodeId,
    storage,
    stateMachine,
    send: (to, m) => transport.send(to, { g: GROUP, m }),
    sendSnapshot: (m) => streamer.send(m),
    tickMs: config.tickMs,
    electionTicks: config.electionTicks,
    leaseReads: config.leaseReads,
    logger: log.child({ part: 'raft' }),
  });
  const kv = new RaftKvService(config.nodeId, group, store, config);
  const gossip = config.gossipAddr ? await startGossip(config, selfAddr, group, addresses, log) : undefined;
  const cluster = new RaftClusterService(config, group, addresses, transport, selfAddr, gossip?.node);
  const metrics = new NodeMetrics(group, transport);
  const snapshotter = new Snapshotter(
    group,
    storage,
    store,
    { thresholdEntries: config.snapshotEntries, thresholdBytes: config.snapshotBytes, keepEntries: config.snapshotKeepEntries },
    log.child({ part: 'snapshot' }),
    metrics,
  );
  group.onAdvance = () => snapshotter.maybeSnapshot();
  void group.failed.then((e) => fail(new Error(`the Raft group stopped: ${e.message}`)));
  running = { group, snapshotter };
  metrics.watchLog(storage, snapshotter);
  metrics.watchCache(() => store.cacheStats());
  group.onPersist = (s) => metrics.fsyncSeconds.observe(s);
  group.onProposal = (outcome) => metrics.proposals.inc({ outcome });
  return {
    kv,
    cluster,
    group,
    metrics,
    snapshotter,
    streamer,
    faults: transport.faults,
    log: storage,
    raftAddress: selfAddr,
    failed,
    leave: async () => {
      if (!gossip) return;
      // Graceful leave: leadership handed off, removed from Raft, then gossip says goodbye.
      const removed = await gossip.controller.leave(config.requestTimeoutMs);
      log.info({ removed }, removed ? 'left the Raft group' : 'could not confirm removal from the Raft group');
      await gossip.node.leave();
    },
    close: async () => {
      await gossip?.close();
      await group.handOffLeadership(config.requestTimeoutMs);
      await group.close();
      streamer.close();
      await snapshotter.idle();
      await transport.close();
      await storage.close();
      await store.close();
    },
  };
}

/**
 * The peer transport, listening. A node whose raft port is left to the system (0: seed 000's nodes, which
 * give only -g) takes the port it had before, so the address its cluster committed for it stays right
 * across restarts; if that port is taken now, any free one (the leader then commits the new address).
 */
async function startTransport(config: NodeConfig, identity: ClusterIdentity, log: Logger): Promise<PeerTransport<PeerEnvelope>> {
  const make = (port: number) =>
    new PeerTransport<PeerEnvelope>({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      listen: { host: config.raftAddr.host, port },
      logger: log.child({ part: 'transport' }),
      bulky,
      identity,
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

/** Members' addresses as the membership entries still in the log last gave them. */
function addressesInLog(storage: RaftWalStore): Map<string, string> {
  const out = new Map<string, string>();
  const first = storage.firstIndex(), last = storage.lastIndex();
  for (let lo = first; lo <= last; ) {
    const batch = storage.entries(lo, last + 1, 16 << 20);
    for (const e of batch) {
      if (e.type !== EntryType.ConfChange) continue;
      const cc = decodeConfChange(e.data);
      if (cc.type === 'remove') out.delete(cc.node);
      else if (cc.context) out.set(cc.node, cc.context);
    }
    lo += batch.length;
  }
  return out;
}

/** Gossip for discovery and failure detection, and the controller that turns it into Raft membership. */
async function startGossip(config: NodeConfig, raftAddr: string, group: RaftGroup, addresses: ReadonlyMap<string, string>, log: Logger) {
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
  });
  node.on('member', (e) => {
    log.info({ member: e.member.id, event: e.type }, 'gossip member event');
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
