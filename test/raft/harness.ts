// A tiny in-memory cluster for unit tests: each node persists to a MemoryStorage and messages are
// delivered synchronously, with optional drops, until nothing is left to do.

import { RawNode } from '../../src/raft/node.ts';
import { MemoryStorage } from '../../src/raft/storage.ts';
import { bootstrapState } from '../../src/raft/bootstrap.ts';
import type { RaftConfig } from '../../src/raft/raft.ts';
import type { Entry, Message, NodeId, ReadState } from '../../src/raft/types.ts';
import { seededRng } from '../../src/util/prng.ts';

export interface TestNode {
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
}

export type Filter = (m: Message) => boolean;

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages for which a filter returns true are dropped. */
  filters: Filter[] = [];
  /** Every message delivered, for assertions. */
  delivered: Message[] = [];

  constructor(
    voters: NodeId[],
    readonly opts: Partial<RaftConfig> & { learners?: NodeId[]; seed?: number } = {},
  ) {
    for (const id of [...voters, ...(opts.learners ?? [])]) {
      const storage = new MemoryStorage();
      storage.save(bootstrapState(voters, opts.learners ?? []));
      this.add(id, storage);
    }
    // Apply the bootstrap membership entries.
    this.stabilize();
  }

  /** Start a node over `storage` (a new, empty node by default; pass a crashed node's storage to restart it). */
  add(id: NodeId, storage = new MemoryStorage(), applied = 0): TestNode {
    const node = new RawNode({ electionTick: 10, heartbeatTick: 1, ...this.opts, rng: seededRng((this.opts.seed ?? 0) * 131 + id.charCodeAt(id.length - 1)), id, storage, applied });
    const tn: TestNode = { node, storage, applied: [], readStates: [] };
    this.nodes.set(id, tn);
    return tn;
  }

  get(id: NodeId): RawNode {
    const tn = this.nodes.get(id);
    if (!tn) throw new Error(`no node ${id}`);
    return tn.node;
  }

  isolate(id: NodeId): void {
    this.filters.push((m) => m.from === id || m.to === id);
  }

  heal(): void {
    this.filters = [];
  }

  /** Process Readies and deliver messages until quiescent. */
  stabilize(limit = 10_000): void {
    for (let round = 0; round < limit; round++) {
      const inflight: Message[] = [];
      for (const tn of this.nodes.values()) {
        if (!tn.node.hasReady()) continue;
        const rd = tn.node.ready();
        tn.storage.save(rd);
        tn.node.persisted(rd);
        inflight.push(...rd.messages);
        tn.applied.push(...rd.committedEntries);
        tn.readStates.push(...rd.readStates);
        tn.node.advance();
      }
      if (inflight.length === 0 && ![...this.nodes.values()].some((tn) => tn.node.hasReady())) return;
      for (const m of inflight) this.deliver(m);
    }
    throw new Error('cluster did not stabilize');
  }

  deliver(m: Message): void {
    if (this.filters.some((f) => f(m))) return;
    const to = this.nodes.get(m.to);
    if (!to) return;
    this.delivered.push(m);
    to.node.step(m);
  }

  tick(ids: NodeId[] | 'all' = 'all', n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const [id, tn] of this.nodes) if (ids === 'all' || ids.includes(id)) tn.node.tick();
      this.stabilize();
    }
  }

  /** Make `id` leader by campaigning directly. */
  elect(id: NodeId): void {
    this.get(id).campaign();
    this.stabilize();
    if (this.get(id).status().role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  leader(): NodeId | undefined {
    for (const [id, tn] of this.nodes) if (tn.node.status().role === 'leader') return id;
    return undefined;
  }

  /** Crash `id` (losing everything not persisted) and start it again from its storage. */
  restart(id: NodeId): TestNode {
    const old = this.nodes.get(id)!;
    const tn = this.add(id, old.storage, old.storage.snapshot().meta.index);
    return tn;
  }

  /** Data of applied normal entries on `id`, as strings, skipping leader no-ops. */
  appliedData(id: NodeId): string[] {
    const tn = this.nodes.get(id)!;
    return tn.applied.filter((e) => e.type === 0 && e.data.length > 0).map((e) => new TextDecoder().decode(e.data));
  }
}

export const enc = (s: string) => new TextEncoder().encode(s);
