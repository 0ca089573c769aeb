// Prometheus metrics of a node (prom-client), read from the Raft group and transport at scrape time.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RaftGroup } from './raft-group.ts';
import type { PeerStatsSource } from './peer-stats.ts';
import type { CacheStats } from '../storage/read-cache.ts';
import { RequestHistogram } from './request-histogram.ts';

const ROLES = ['follower', 'pre-candidate', 'candidate', 'leader'];

export class NodeMetrics {
  readonly registry = new Registry();
  readonly fsyncSeconds = new Histogram({
    name: 'concord_raft_fsync_duration_seconds',
    help: 'Time to persist one Ready (entries and hard state, one fsync)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  readonly proposals = new Counter({
    name: 'concord_raft_proposals_total',
    help: 'Proposals made on this node, by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  /** Observed on every request, so not a prom-client Histogram: see request-histogram.ts. */
  readonly requestSeconds = new RequestHistogram(
    'concord_http_request_duration_seconds',
    'HTTP request latency by method, route and status',
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
  );

  constructor(group: RaftGroup, transport: PeerStatsSource) {
    this.registry.registerMetric(this.requestSeconds as unknown as Parameters<Registry['registerMetric']>[0]);
    collectDefaultMetrics({ register: this.registry, prefix: 'concord_process_' });
    this.gauge('concord_raft_term', 'Current Raft term', () => group.node.status().term);
    this.gauge('concord_raft_commit_index', 'Highest index known committed', () => group.node.status().commit);
    this.gauge('concord_raft_applied_index', 'Highest index applied to the state machine', () => group.node.status().applied);
    this.gauge('concord_raft_leader_changes', 'Role or leader changes seen by this node', () => group.leaderChanges);
    new Gauge({
      name: 'concord_raft_role',
      help: 'Raft role of this node (1 for the current role)',
      labelNames: ['role'],
      registers: [this.registry],
      collect() {
        const role = group.node.status().role;
        for (const r of ROLES) this.set({ role: r }, r === role ? 1 : 0);
      },
    });
    new Gauge({
      name: 'concord_peer_queue_messages',
      help: 'Messages queued for each peer',
      labelNames: ['peer'],
      registers: [this.registry],
      collect() {
        for (const [peer, s] of Object.entries(transport.stats().peers)) this.set({ peer }, s.queuedMessages);
      },
    });
  }

  readonly snapshotSeconds = new Histogram({
    name: 'concord_snapshot_duration_seconds',
    help: 'Time to export, persist and compact one snapshot',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly snapshotBytes = new Gauge({ name: 'concord_snapshot_bytes', help: 'Size of the latest snapshot', registers: [this.registry] });
  readonly snapshotsTaken = new Counter({ name: 'concord_snapshots_total', help: 'Snapshots taken by this node', registers: [this.registry] });

  /** SnapshotObserver: record one snapshot. */
  taken(info: { bytes: number; seconds: number }): void {
    this.snapshotsTaken.inc();
    this.snapshotBytes.set(info.bytes);
    this.snapshotSeconds.observe(info.seconds);
  }

  /** Log size and compaction point, read at scrape time. */
  watchLog(log: { firstIndex(): number; lastIndex(): number }, snap: { lastCompacted: number }): void {
    new Gauge({
      name: 'concord_raft_log_entries',
      help: 'Entries in the Raft log (after the latest compaction)',
      registers: [this.registry],
      collect() {
        this.set(log.lastIndex() - log.firstIndex() + 1);
      },
    });
    new Gauge({
      name: 'concord_raft_compacted_index',
      help: 'Highest log index discarded by compaction',
      registers: [this.registry],
      collect() {
        this.set(Math.max(snap.lastCompacted, log.firstIndex() - 1));
      },
    });
  }

  /** The read cache's hits, misses and size, read at scrape time. */
  watchCache(stats: () => CacheStats): void {
    const counter = (name: string, help: string, read: (s: CacheStats) => number) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read(stats()));
        },
      });
    counter('concord_cache_hits_total', 'Point reads answered from the read cache', (s) => s.hits);
    counter('concord_cache_misses_total', 'Point reads that went to LMDB', (s) => s.misses);
    this.gauge('concord_cache_entries', 'Records (and absent keys) in the read cache', () => stats().entries);
    this.gauge('concord_cache_bytes', 'Bytes in the read cache, as weighed against --cache-bytes', () => stats().bytes);
  }

  /** The node's watch streams and the shard feeds that serve them (kv/watch-hub.ts). */
  watchWatches(hub: { size: number; feedCount: number; cutOff: number }): void {
    this.gauge('concord_watch_streams', 'Watch streams open on this node (HTTP and gRPC)', () => hub.size);
    this.gauge('concord_watch_feeds', 'Shard histories this node reads for its watch streams (one feed per shard, shared by its streams)', () => hub.feedCount);
    new Counter({
      name: 'concord_watch_cut_total',
      help: 'Watch streams ended because their client took events slower than they came (resumable from their cursor)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(hub.cutOff);
      },
    });
  }

  /** Requests for shards hosted elsewhere: forwarded, re-routed after a `moved` answer, failed. */
  watchForwarded(counts: { forwarded: number; moved: number; failed: number }): void {
    this.countsByLabel(
      'concord_shard_forwarded_total',
      'Requests for shards not hosted here, forwarded to a replica (outcome "forwarded": all of them; "moved": answers that the replica no longer hosts the shard, each followed by a retry; "failed")',
      'outcome',
      { forwarded: () => counts.forwarded, moved: () => counts.moved, failed: () => counts.failed },
    );
  }

  /** The steps of shard moves this node's steward proposed. */
  watchMoves(steps: { addLearner: number; addVoter: number; remove: number; transfer: number }): void {
    this.countsByLabel(
      'concord_shard_moves_total',
      'Steps of shard moves this node proposed as the shard\'s leader ("add_learner": a new replica added; "promote": a caught-up learner made a voter; "remove": a replica the map dropped removed; "transfer": leadership handed to the preferred leader)',
      'step',
      { add_learner: () => steps.addLearner, promote: () => steps.addVoter, remove: () => steps.remove, transfer: () => steps.transfer },
    );
  }

  /** A counter with one label, each value's count read at scrape time. */
  private countsByLabel(name: string, help: string, label: string, values: Record<string, () => number>): void {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [v, read] of Object.entries(values)) this.inc({ [label]: v }, read());
      },
    });
  }

  /** How many data shards this node hosts and leads, and how many of its groups are quiet, read at scrape time. */
  watchShards(shards: () => ReadonlyArray<{ group: RaftGroup; size(): { keys: number; bytes: number } }>, groups: () => Iterable<RaftGroup>): void {
    const total = (part: 'keys' | 'bytes') => shards().reduce((n, s) => n + s.size()[part], 0);
    this.gauge('concord_keys', 'Keys held by the shards this node hosts (expired ones not yet removed included)', () => total('keys'));
    this.gauge('concord_kv_bytes', 'Bytes of the LMDB pages holding the keys of the shards this node hosts', () => total('bytes'));
    this.gauge('concord_shards_hosted', 'Data shards (Raft groups) hosted by this node', () => shards().length);
    this.gauge('concord_shards_led', 'Data shards this node leads', () => shards().filter((s) => s.group.node.raft.role === 'leader').length);
    this.gauge('concord_raft_groups_quiesced', 'Raft groups on this node that are idle and quiet (no heartbeats until something happens)', () => [...groups()].filter((g) => g.node.quiesced()).length);
  }

  /** The node's log memory budget: what its groups' in-memory logs take, and the snapshots the budget asked for. */
  watchLogBudget(bytes: () => number, snapshots: () => number): void {
    this.gauge('concord_raft_log_memory_bytes', "What the in-memory Raft logs of this node's groups take (estimated)", bytes);
    this.gauge('concord_raft_log_budget_snapshots', 'Snapshots taken because the Raft logs passed --raft-log-memory-bytes (since start)', snapshots);
  }

  /** A gauge read at scrape time. */
  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({ name, help, registers: [this.registry], collect() { this.set(read()); } });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
