// One Raft group hosted on this node, with what it needs of its own: its Raft log (WAL), its key-value state
// in LMDB, its snapshot streams and snapshot policy, and the peer traffic addressed to it (every peer
// envelope names its group; the node's registry routes by that name).

import type { Logger } from 'pino';
import { MessageType, type Message } from '../raft/types.ts';
import { decodeConfChange } from '../raft/conf-change.ts';
import { RaftWalStore } from '../storage/raft-wal-store.ts';
import type { NodeWal } from '../storage/node-wal.ts';
import { KvStore, type HistoryLimits } from '../storage/kv-store.ts';
import type { KvEnv } from '../storage/kv-env.ts';
import type { DataDirLayout } from '../cluster/data-dir.ts';
import type { NodeConfig } from '../cluster/config.ts';
import { RaftGroup } from '../cluster/raft-group.ts';
import type { NodeTicker } from '../cluster/ticker.ts';
import { Snapshotter } from '../cluster/snapshotter.ts';
import { SnapshotStreamer } from '../cluster/snapshot-stream.ts';
import { SnapshotFetch } from '../cluster/snapshot-fetch.ts';
import type { MembersAnswer, PeerEnvelope } from '../cluster/peer-envelope.ts';
import { installPeerSnapshot, repairFromStateMachine } from '../cluster/snapshot-repair.ts';
import type { NodeMetrics } from '../cluster/metrics.ts';
import type { BudgetedLog } from '../cluster/log-budget.ts';
import type { CacheStats } from '../storage/read-cache.ts';
import { KvStateMachine } from '../kv/state-machine.ts';

/** The term of a snapshot sent to repair a peer's corrupt one: below any real term, so Raft could never take it for a leader's. */
const REPAIR_TERM = 0;

export interface GroupContext {
  config: NodeConfig;
  layout: DataDirLayout;
  /** Sends an envelope to a peer (the group's name is filled in here). */
  send(to: string, env: Omit<PeerEnvelope, 'g'>): void;
  /** The peers a snapshot may be asked of. */
  peerIds(): string[];
  /** This group's share of the node's read cache. */
  cacheBytes: number;
  /** This group's history window (watch). */
  history: HistoryLimits;
  /** Keep the store's write order (cache mode, --max-keys). */
  trackWrites?: boolean;
  /** The node's ticker, shared by its groups. */
  ticker: NodeTicker;
  /** The node's WAL, shared by its groups. */
  wal: NodeWal;
  /** The node's LMDB environment, shared by its groups (opened once the data dir is known to be this node's). */
  kvEnv: () => KvEnv;
  log: Logger;
}

export class HostedGroup {
  readonly storage: RaftWalStore;
  readonly streamer: SnapshotStreamer;
  private opened: { store: KvStore; stateMachine: KvStateMachine } | undefined;
  /** Set once the group runs (start()); until then peer traffic only feeds a snapshot fetch, if one runs. */
  private running: { group: RaftGroup; snapshotter: Snapshotter } | undefined;
  private fetching: SnapshotFetch | undefined;
  /** Answers to askMembers(). */
  onMembers: ((from: string, a: MembersAnswer) => void) | undefined;
  /** Whether the last membership change about this node that the group applied (since start) removed it. */
  removedItself = false;
  /** What this group's answers to askMembers() carry besides its members (the metadata group's: the shard map). */
  answerMap: (() => unknown) | undefined;

  /** Opens the group's Raft log; its state machine is opened by openState(), once the log is bootstrapped. */
  constructor(
    readonly id: string,
    private readonly ctx: GroupContext,
  ) {
    const { layout, log } = ctx;
    this.storage = new RaftWalStore({ wal: ctx.wal, group: id, snapshotDir: layout.snapshots, logger: log.child({ part: 'storage' }) });
    this.streamer = new SnapshotStreamer({
      self: ctx.config.nodeId,
      chunkBytes: ctx.config.snapshotChunkBytes,
      window: 4,
      stallMs: 10_000,
      sendChunk: (to, sc) => ctx.send(to, { sc }),
      sendAck: (to, sa) => ctx.send(to, { sa }),
      finished: (to, ok) => this.running?.group.reportSnapshot(to, ok),
      // A repair transfer (term 0) is not a leader's message and never reaches Raft; late duplicates are dropped.
      deliver: (m) => (m.term === REPAIR_TERM ? this.fetching?.offer(m.snapshot!) : this.running?.group.step(m)),
    });
  }

  /** Opens the group's key-value state (LMDB). */
  openState(): { store: KvStore; stateMachine: KvStateMachine } {
    const store = new KvStore({ env: this.ctx.kvEnv(), group: this.id, cacheBytes: this.ctx.cacheBytes, trackWrites: this.ctx.trackWrites === true, history: this.ctx.history });
    if (store.discardedAfterOsCrash) {
      this.ctx.log.warn('the state machine was open when the system went down and its files may be torn: discarded; rebuilding it from the Raft snapshot and log');
    }
    const stateMachine = new KvStateMachine(store);
    const self = this.ctx.config.nodeId;
    stateMachine.onConfChange = (e) => {
      const cc = decodeConfChange(e.data);
      if (cc.node === self && cc.type !== 'update') this.removedItself = cc.type === 'remove';
    };
    return (this.opened = { store, stateMachine });
  }

  private get state(): { store: KvStore; stateMachine: KvStateMachine } {
    if (!this.opened) throw new Error(`group ${this.id}: its state is not open`);
    return this.opened;
  }

  /** Peer traffic for this group. */
  deliver(from: string, env: PeerEnvelope): void {
    const running = this.running;
    if (env.m) {
      if (running) running.group.step(env.m);
      else this.fetching?.ask(from); // whoever talks to us (e.g. the leader) may have the snapshot we need
    } else if (env.mq) {
      if (running) {
        const c = running.group.node.confState();
        const members = [...c.voters, ...c.learners];
        // Only an asker that is no member needs the map (to follow it out).
        const map = members.includes(from) ? undefined : this.answerMap?.();
        this.ctx.send(from, { ma: { applied: running.group.node.status().applied, members, ...(map !== undefined ? { map } : {}) } });
      }
    } else if (env.ma) this.onMembers?.(from, env.ma);
    else if (env.sc) this.streamer.onChunk(from, env.sc);
    else if (env.sa) this.streamer.onAck(from, env.sa);
    else if (env.sq && running && !this.streamer.sending(from)) {
      void running.snapshotter.snapshotAtLeast(env.sq.index).then((snapshot) => {
        if (snapshot && !this.streamer.sending(from)) this.streamer.send({ type: MessageType.Snap, from: this.ctx.config.nodeId, to: from, term: REPAIR_TERM, snapshot });
      });
    }
  }

  /**
   * Makes the log and the state machine consistent before the group runs: a corrupt snapshot is rebuilt
   * from the state machine or fetched from a peer, and a state machine older than the log's start is
   * restored from the snapshot the log was compacted to (the log replays the rest).
   */
  async recover(): Promise<void> {
    const { storage, ctx } = this;
    const { store, stateMachine } = this.state;
    if (storage.snapshotStatus() === 'corrupt') {
      const wanted = await repairFromStateMachine(storage, store, ctx.log);
      if (wanted) {
        const ask = (to: string) => ctx.send(to, { sq: { index: wanted.index } });
        this.fetching = new SnapshotFetch(wanted.index, ask, () => ctx.peerIds(), ctx.log);
        const snap = await this.fetching.received;
        this.fetching = undefined;
        await installPeerSnapshot(storage, snap, ctx.log);
      }
    }
    const logStart = storage.firstIndex() - 1;
    if (store.appliedIndex() < logStart) {
      ctx.log.warn({ applied: store.appliedIndex(), snapshot: logStart }, 'state machine behind the log; restoring it from the snapshot');
      await stateMachine.restore(storage.snapshot());
    }
  }

  /** The group's log as the node's log memory budget sees it; undefined until the group runs. */
  budgeted(): BudgetedLog | undefined {
    const running = this.running;
    if (!running) return undefined;
    const { storage } = this;
    return { id: this.id, memoryBytes: () => storage.memoryBytes(), compactable: () => running.snapshotter.compactable(), snapshotNow: () => running.snapshotter.snapshotNow() };
  }

  /** Asks `to` which members the group has (the answer goes to onMembers). */
  askMembers(to: string): void {
    this.ctx.send(to, { mq: true });
  }

  /** Wake the group if it is quiet. */
  wake(): void {
    this.running?.group.wakeIfQuiet();
  }

  /** Keys and bytes of the group's key-value state. */
  size(): { keys: number; bytes: number } {
    return this.state.store.size();
  }

  /** The read cache's counters. */
  cacheStats(): CacheStats {
    return this.state.store.cacheStats();
  }

  /**
   * Starts the group's Raft host loop and its snapshot policy. Its fsyncs, proposals and snapshots are
   * counted in the node's metrics; with `watch`, the node's log gauges read this group (the cache gauge sums every group's, node-core.ts).
   */
  start(metricsFor: (group: RaftGroup) => NodeMetrics, watch = true): { group: RaftGroup; snapshotter: Snapshotter; metrics: NodeMetrics } {
    const { config, log } = this.ctx;
    const { store, stateMachine } = this.state;
    const group = new RaftGroup({
      group: this.id,
      nodeId: config.nodeId,
      storage: this.storage,
      stateMachine,
      send: (to, m: Message) => this.ctx.send(to, { m }),
      sendSnapshot: (m) => this.streamer.send(m),
      tickMs: config.tickMs,
      electionTicks: config.electionTicks,
      ticker: this.ctx.ticker,
      // Idle for two election timeouts, with every member caught up: no heartbeats until something happens.
      quiesceAfterTicks: config.electionTicks * 2,
      leaseReads: config.leaseReads,
      logger: log.child({ part: 'raft' }),
    });
    const m = metricsFor(group);
    const snapshotter = new Snapshotter(
      group,
      this.storage,
      store,
      { thresholdEntries: config.snapshotEntries, thresholdBytes: config.snapshotBytes, keepEntries: config.snapshotKeepEntries },
      log.child({ part: 'snapshot' }),
      m,
    );
    group.onAdvance = () => snapshotter.maybeSnapshot();
    group.onPersist = (s) => m.fsyncSeconds.observe(s);
    group.onProposal = (outcome) => m.proposals.inc({ outcome });
    if (watch) m.watchLog(this.storage, snapshotter);
    this.running = { group, snapshotter };
    return { group, snapshotter, metrics: m };
  }

  /** Hands leadership off (if it leads), then stops the group and closes its files. */
  async close(handOffMs: number): Promise<void> {
    const running = this.running;
    if (running) {
      await running.group.handOffLeadership(handOffMs);
      await running.group.close();
    }
    this.streamer.close();
    await running?.snapshotter.idle();
  }

  /**
   * Stops the group and deletes it for good: its key-value state (one LMDB transaction), then its log (a DROP
   * record in the node's WAL) and snapshots. In that order a crash in between leaves a log whose state
   * machine is rebuilt from its snapshot at the next start. Only for a replica that is no member any more.
   */
  async destroy(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    await running?.group.close();
    this.streamer.close();
    await running?.snapshotter.idle();
    await this.opened?.store.destroy();
    await this.storage.destroy();
  }

  /** Closes the group's files (after the transport, so nothing arrives for it any more). */
  async closeFiles(): Promise<void> {
    await this.storage.close();
    await this.opened?.store.close();
  }
}
