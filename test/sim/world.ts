// A simulated Raft cluster: nodes with durable MemoryStorage and a volatile state machine, a faulty
// network, clients that write (retrying until acknowledged) and read, and a nemesis that crashes,
// restarts, partitions, changes membership and transfers leadership. Everything is driven by one
// seeded PRNG, so a seed replays exactly.

import { RawNode } from '../../src/raft/node.ts';
import { MemoryStorage } from '../../src/raft/storage.ts';
import { bootstrapState } from '../../src/raft/bootstrap.ts';
import type { TestingOnlyBugs } from '../../src/raft/raft.ts';
import { RaftError, type Entry, type Message, type NodeId, type Ready } from '../../src/raft/types.ts';
import { seededRng, type Rng } from '../../src/util/prng.ts';
import { InvariantViolation, SafetyChecker, entryKey } from './checker.ts';
import { SimNetwork } from './network.ts';

export interface SimOptions {
  seed: number;
  nodes: number;
  steps: number;
  bugs?: TestingOnlyBugs;
  trace?: (line: string) => void;
}

export const ELECTION_TICK = 10;
const TICK_EVERY = 4; // steps per tick: network delays are a fraction of a heartbeat
const COMPACT_KEEP = 20;
const WRITE_RETRY_TICKS = 30;
const QUIESCE_AFTER_TICKS = 2 * ELECTION_TICK;
const IDLE_SPELL = 100 * TICK_EVERY;

interface SimNode {
  id: NodeId;
  storage: MemoryStorage;
  raft?: RawNode;
  /** Volatile state machine: index and identity of the last applied entry. */
  appliedIndex: number;
  lastApplied: string;
  /** Commit index already checked against the global record. */
  checkedCommit: number;
  /** Some node applied this node's addition (or it was a founding member): clients may use it. */
  joined: boolean;
  removed: boolean;
  /** Readies whose fsync is in flight, oldest first; each completes at step `at` (in order). */
  writes: PendingWrite[];
  /** A Ready with a snapshot: handled in full (fsync, restore, apply) before the node takes another. */
  snapshotReady?: Ready;
}

interface PendingWrite {
  rd: Ready;
  /** What may only go out once the write is durable (a leader's own appends leave at once). */
  messages: Message[];
  at: number;
}

interface ClientWrite {
  id: number;
  data: Uint8Array;
  node: NodeId;
  proposedAt: number;
  acked: boolean;
}

interface PendingRead {
  node: NodeId;
  /** Every write acknowledged before the read began sits at or below this index. */
  mustSee: number;
}

export class SimWorld {
  readonly rng: Rng;
  readonly net: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly leaseRead: boolean;
  readonly maxSizePerMsg: number;
  now = 0;
  private faultsOn = true;
  /** Nodes to crash at a given step (young leaders). */
  private doomed = new Map<NodeId, number>();
  private nextNodeNum: number;
  private writes: ClientWrite[] = [];
  private writesByKey = new Map<string, ClientWrite>();
  private reads = new Map<number, PendingRead>();
  private nextReadCtx = 1;
  /** Highest index at which a write was acknowledged so far. */
  private ackedIndex = 0;
  private readonly quiesceAfterTicks: number;
  readonly stats = { writesAcked: 0, readsChecked: 0, crashes: 0, confChanges: 0, transfers: 0, snapshotsSent: 0, elections: 0, quiesced: 0 };

  constructor(readonly opts: SimOptions) {
    this.rng = seededRng(opts.seed);
    // Each seed draws its own fault profile, from a clean network to a very lossy one.
    this.net = new SimNetwork(seededRng(opts.seed ^ 0x5bd1e995), {
      dropRate: this.rng.next() < 0.3 ? 0 : this.rng.next() * 0.2,
      dupRate: this.rng.next() * 0.1,
      reorderRate: this.rng.next() < 0.3 ? 0 : this.rng.next() * 0.3,
      minDelay: 0,
      maxDelay: 1 + this.rng.int(0, 6),
    });
    this.leaseRead = this.rng.next() < 0.5;
    // One entry per append (exposes commit-rule bugs that batching hides), small batches, or large.
    this.maxSizePerMsg = [1, 256, 64 << 10][this.rng.int(0, 3)];
    // Half the seeds let idle groups go quiet, and give their clients idle spells to go quiet in.
    this.quiesceAfterTicks = this.rng.next() < 0.5 ? 0 : QUIESCE_AFTER_TICKS;
    const voters = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    this.nextNodeNum = opts.nodes + 1;
    for (const id of voters) {
      const storage = new MemoryStorage();
      storage.save(bootstrapState(voters));
      this.addNode(id, storage);
    }
  }

  trace(line: string): void {
    this.opts.trace?.(`[${this.now}] ${line}`);
  }

  private addNode(id: NodeId, storage: MemoryStorage): SimNode {
    const n: SimNode = { id, storage, appliedIndex: 0, lastApplied: '', checkedCommit: 0, joined: false, removed: false, writes: [] };
    this.nodes.set(id, n);
    this.start(n);
    return n;
  }

  /** (Re)start a node from what its storage holds; the state machine is rebuilt from the snapshot. */
  private start(n: SimNode): void {
    const snap = n.storage.snapshot();
    n.appliedIndex = snap.meta.index;
    n.lastApplied = snap.data.length > 0 ? Buffer.from(snap.data).toString('latin1') : '';
    n.checkedCommit = 0;
    if (snap.meta.index > 0) this.checkRestoredSnapshot(n, snap.meta.index);
    n.raft = new RawNode({
      id: n.id,
      storage: n.storage,
      applied: snap.meta.index,
      electionTick: ELECTION_TICK,
      heartbeatTick: 1,
      rng: seededRng(this.rng.int(0, 2 ** 31)),
      preVote: true,
      checkQuorum: true,
      leaseRead: this.leaseRead,
      quiesceAfterTicks: this.quiesceAfterTicks,
      maxSizePerMsg: this.maxSizePerMsg,
      // A small window exercises flow control; one-entry appends need a wider one to keep up.
      maxInflightMsgs: this.maxSizePerMsg === 1 ? 64 : 4,
      testingOnlyBugs: this.opts.bugs,
    });
  }

  private checkRestoredSnapshot(n: SimNode, index: number): void {
    const want = this.checker.appliedAt(index);
    if (want !== undefined && want !== n.lastApplied) {
      throw new InvariantViolation(`snapshot on ${n.id} at ${index} holds ${n.lastApplied}, but ${want} was applied there`);
    }
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft !== undefined);
  }

  members(): SimNode[] {
    return [...this.nodes.values()].filter((n) => !n.removed);
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.live()) {
      const st = n.raft!.status();
      if (st.role === 'leader' && (!best || st.term > best.raft!.status().term)) best = n;
    }
    return best;
  }

  private pick<T>(xs: T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.rng.int(0, xs.length)];
  }

  // ------------------------------------------------------------------ one step of time

  step(nemesis: boolean): void {
    this.now++;
    this.faultsOn = nemesis;
    if (nemesis) this.nemesis();
    this.clients(nemesis);
    if (this.rng.next() < 0.03) this.compact(this.pick(this.live()));
    for (const m of this.net.due(this.now)) this.deliver(m);
    const order = this.live();
    for (let i = order.length - 1; i > 0; i--) {
      const j = this.rng.int(0, i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const n of order) this.processReady(n);
    if (this.now % TICK_EVERY === 0) {
      for (const n of this.live()) {
        n.raft!.tick();
        if (n.raft!.quiesced()) this.stats.quiesced++;
      }
    }
  }

  private deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    if (!to?.raft) return;
    this.trace(`deliver ${describe(m)}`);
    try {
      to.raft.step(m);
    } catch (e) {
      // A forwarded proposal or read can find no leader: the client times out and retries.
      if (!(e instanceof RaftError)) throw e;
    }
  }

  /**
   * The host loop, with asynchronous fsyncs as in the real host: a Ready's write is in flight for 0–3
   * steps while later Readies are taken (writes complete in order), its committed entries (all
   * persisted already) are applied at once, and its messages leave when its write completes — a
   * leader's at once unless its term and vote are not yet durable. A Ready with a snapshot is handled
   * in full before the next. A crash loses every write in flight.
   */
  private processReady(n: SimNode): void {
    const raft = n.raft!;
    this.completeWrites(n);
    if (!n.raft || n.snapshotReady || !raft.hasReady()) return;
    const rd = raft.ready();
    if (rd.softState?.role === 'leader') {
      this.stats.elections++;
      this.trace(`${n.id} leader of term ${raft.status().term}`);
      this.checker.leaderElected(n.id, raft.status().term, raft);
      // Leaders die young: a crash just after an election, with old-term entries half replicated,
      // is where commit-rule bugs (Raft §5.4.2, Figure 8) show.
      if (this.faultsOn && this.rng.next() < 0.3) this.doomed.set(n.id, this.now + this.rng.int(1, 12));
    }
    const durable = n.storage.initialState().hardState;
    const st = raft.status();
    const early = st.role === 'leader' && st.term === durable.term && st.vote === durable.vote;
    if (early) this.sendAll(raft, rd.messages);
    const last = n.writes[n.writes.length - 1];
    const at = Math.max(last?.at ?? 0, this.now + this.rng.int(0, 4));
    n.writes.push({ rd, messages: early ? [] : rd.messages, at });
    if (rd.snapshot) {
      n.snapshotReady = rd;
    } else {
      this.finishReady(n, rd);
    }
    this.completeWrites(n);
  }

  /** Writes whose fsync is done, in order; a node may crash after one, before anything else. */
  private completeWrites(n: SimNode): void {
    while (n.raft && n.writes.length > 0 && n.writes[0].at <= this.now) {
      const w = n.writes.shift()!;
      const raft = n.raft;
      n.storage.save(w.rd);
      if (w.rd.entries.length > 0 || w.rd.snapshot) this.checker.checkLog(n.id, raft);
      if (this.faultsOn && this.rng.next() < 0.002) {
        // Crash after the fsync, before anything was sent or applied.
        this.crash(n);
        return;
      }
      raft.persisted(w.rd);
      this.sendAll(raft, w.messages);
      if (w.rd === n.snapshotReady) {
        n.snapshotReady = undefined;
        n.appliedIndex = w.rd.snapshot!.meta.index;
        n.lastApplied = Buffer.from(w.rd.snapshot!.data).toString('latin1');
        this.checkRestoredSnapshot(n, n.appliedIndex);
        this.trace(`${n.id} restored snapshot at ${n.appliedIndex}`);
        this.finishReady(n, w.rd);
      }
    }
  }

  private finishReady(n: SimNode, rd: Ready): void {
    const raft = n.raft!;
    for (const e of rd.committedEntries) this.apply(n, e);
    for (const rs of rd.readStates) this.readServed(n, rs.context, rs.index);
    raft.advance();
    this.checker.checkCommitted(n.id, raft, n.checkedCommit);
    n.checkedCommit = raft.raft.log.committed;
  }

  private sendAll(raft: RawNode, messages: Message[]): void {
    for (const m of messages) {
      this.net.send(this.now, m);
      if (m.type === 10) {
        this.stats.snapshotsSent++;
        raft.reportSnapshot(m.to, true);
      }
    }
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index !== n.appliedIndex + 1) {
      throw new InvariantViolation(`${n.id} applied ${e.index} after ${n.appliedIndex}: applies must be contiguous`);
    }
    this.checker.checkApplied(n.id, e);
    n.appliedIndex = e.index;
    n.lastApplied = entryKey(e);
    if (e.type === 1) {
      const cc = JSON.parse(Buffer.from(e.data).toString()) as { type: string; node: NodeId };
      this.trace(`${n.id} applied membership change ${cc.type} ${cc.node} at ${e.index}`);
      const target = this.nodes.get(cc.node);
      if (target && cc.type === 'remove') target.removed = true;
      else if (target) target.joined = true;
      return;
    }
    const w = this.writesByKey.get(Buffer.from(e.data).toString('latin1'));
    // The client hears back from the node it proposed through.
    if (w && !w.acked && w.node === n.id) {
      w.acked = true;
      this.stats.writesAcked++;
      if (e.index > this.ackedIndex) this.ackedIndex = e.index;
    }
  }

  private readServed(n: SimNode, ctx: number, index: number): void {
    const r = this.reads.get(ctx);
    if (!r || r.node !== n.id) return;
    this.reads.delete(ctx);
    this.stats.readsChecked++;
    if (index < r.mustSee) {
      throw new InvariantViolation(`stale read on ${n.id}: read index ${index} misses a write acknowledged at ${r.mustSee} before the read began`);
    }
  }

  // ------------------------------------------------------------------ clients

  /** Clients write and read while faults run; after healing they only retry what is unacknowledged. */
  private clients(newOps: boolean): void {
    // With quiescence, clients go silent every other spell of IDLE_SPELL steps, while faults go on.
    if (this.quiesceAfterTicks > 0 && Math.floor(this.now / IDLE_SPELL) % 2 === 1) newOps = false;
    if (newOps && this.rng.next() < 0.15) this.newWrite();
    if (newOps && this.rng.next() < 0.08) this.newRead();
    // Writes not acknowledged in time are retried through another node, as a real client would.
    for (const w of this.writes) {
      if (!w.acked && this.now - w.proposedAt > WRITE_RETRY_TICKS * TICK_EVERY) this.propose(w);
    }
  }

  private clientTargets(): SimNode[] {
    return this.live().filter((x) => x.joined && !x.removed);
  }

  private newWrite(): void {
    const id = this.writes.length + 1;
    const data = Buffer.from(`w${id}`, 'latin1');
    const w: ClientWrite = { id, data, node: '', proposedAt: 0, acked: false };
    this.writes.push(w);
    this.writesByKey.set(`w${id}`, w);
    this.propose(w);
  }

  private propose(w: ClientWrite): void {
    w.proposedAt = this.now;
    const n = this.pick(this.clientTargets());
    if (!n) return;
    w.node = n.id;
    try {
      n.raft!.propose(w.data);
      this.trace(`client proposes w${w.id} via ${n.id}`);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  private newRead(): void {
    const n = this.pick(this.clientTargets());
    if (!n) return;
    const ctx = this.nextReadCtx++;
    try {
      n.raft!.readIndex(ctx);
      this.reads.set(ctx, { node: n.id, mustSee: this.ackedIndex });
      this.trace(`client reads via ${n.id} (ctx ${ctx}, must see ${this.ackedIndex})`);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  // ------------------------------------------------------------------ the nemesis

  private nemesis(): void {
    for (const [id, at] of this.doomed) {
      if (at > this.now) continue;
      this.doomed.delete(id);
      // Crash it, or cut it off: a cut also loses the messages it already sent.
      if (this.rng.next() < 0.5) this.crash(this.nodes.get(id));
      else {
        this.net.partition([[id], this.members().map((m) => m.id).filter((x) => x !== id)]);
        this.trace(`isolate young leader ${id}`);
      }
    }
    const r = this.rng.next();
    if (r < 0.003) this.crash(this.pick(this.live()));
    else if (r < 0.005) this.crash(this.leader());
    else if (r < 0.02) this.restart(this.pick([...this.nodes.values()].filter((n) => !n.raft && !n.removed)));
    else if (r < 0.025) this.partition();
    else if (r < 0.033) {
      this.net.healAll();
      this.trace('network healed');
    } else if (r < 0.036) this.transfer();
    else if (r < 0.04) this.changeMembership();
  }

  crash(n: SimNode | undefined): void {
    if (!n?.raft) return;
    this.stats.crashes++;
    this.trace(`crash ${n.id}`);
    n.raft = undefined;
    n.writes = [];
    n.snapshotReady = undefined;
    for (const [ctx, r] of this.reads) if (r.node === n.id) this.reads.delete(ctx);
  }

  restart(n: SimNode | undefined): void {
    if (!n || n.raft) return;
    this.trace(`restart ${n.id}`);
    this.start(n);
  }

  private partition(): void {
    const ids = this.members().map((n) => n.id);
    const shuffled = [...ids].sort(() => this.rng.next() - 0.5);
    const kind = this.rng.int(0, 4);
    const leader = this.leader()?.id;
    this.net.healAll();
    if (kind === 0) {
      const cut = this.rng.int(1, shuffled.length);
      this.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    } else if (kind === 1 && leader) {
      this.net.partition([[leader], ids.filter((x) => x !== leader)]);
    } else if (kind === 2 && shuffled.length >= 3) {
      // Bridge: two sides that only the bridge node can reach.
      const [bridge, ...rest] = shuffled;
      const half = Math.ceil(rest.length / 2);
      this.net.partition([rest.slice(0, half), rest.slice(half)]);
      void bridge;
    } else {
      // Asymmetric: one direction of one link.
      const [a, b] = shuffled;
      if (a && b) this.net.cutLink(a, b);
    }
    this.trace(`partition (kind ${kind}): ${this.net.describeCuts()}`);
  }

  private transfer(): void {
    const l = this.leader();
    const target = this.pick(this.live().filter((n) => n !== l && !n.removed));
    if (!l || !target) return;
    try {
      l.raft!.transferLeader(target.id);
      this.stats.transfers++;
      this.trace(`transfer leadership ${l.id} -> ${target.id}`);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  private changeMembership(): void {
    const l = this.leader();
    if (!l) return;
    const conf = l.raft!.confState();
    const r = this.rng.next();
    try {
      if (r < 0.35 && conf.learners.length === 0) {
        const id = `n${this.nextNodeNum++}`;
        l.raft!.proposeConfChange({ type: 'addLearner', node: id });
        this.addNode(id, new MemoryStorage());
        this.trace(`propose addLearner ${id}`);
      } else if (r < 0.7 && conf.learners.length > 0) {
        l.raft!.proposeConfChange({ type: 'addVoter', node: conf.learners[0] });
        this.trace(`propose addVoter ${conf.learners[0]}`);
      } else if (conf.voters.length > this.opts.nodes - 1 && conf.voters.length >= 3) {
        const victim = this.pick(conf.voters)!;
        l.raft!.proposeConfChange({ type: 'remove', node: victim });
        this.trace(`propose remove ${victim}`);
      } else return;
      this.stats.confChanges++;
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  /** Snapshot the state machine at its applied index and drop the log before it. */
  private compact(n: SimNode | undefined): void {
    if (!n?.raft) return;
    const applied = n.appliedIndex;
    if (applied - n.storage.firstIndex() < COMPACT_KEEP * 2) return;
    n.storage.createSnapshot(applied, n.raft.confState(), Buffer.from(n.lastApplied, 'latin1'));
    n.storage.compact(applied - COMPACT_KEEP);
    this.trace(`${n.id} snapshot at ${applied}, log compacted to ${applied - COMPACT_KEEP}`);
  }

  // ------------------------------------------------------------------ healing and liveness

  healEverything(): void {
    this.doomed.clear();
    this.net.healAll();
    this.net.profile = { ...this.net.profile, dropRate: 0, dupRate: 0, reorderRate: 0 };
    for (const n of this.nodes.values()) if (!n.raft && !n.removed) this.restart(n);
    this.trace('healed: network whole, every member running');
  }

  /** Whether every write is acknowledged and every member of the leader's configuration applied its whole log. */
  converged(): boolean {
    const l = this.leader();
    if (!l || this.writes.some((w) => !w.acked)) return false;
    const st = l.raft!.status();
    if (st.commit !== st.lastIndex) return false;
    const conf = l.raft!.confState();
    return [...conf.voters, ...conf.learners].every((id) => {
      const n = this.nodes.get(id);
      return n?.raft !== undefined && n.appliedIndex === st.lastIndex;
    });
  }

  pendingWrites(): number {
    return this.writes.filter((w) => !w.acked).length;
  }

  ticksToSteps(ticks: number): number {
    return ticks * TICK_EVERY;
  }
}

function describe(m: Message): string {
  const ents = m.entries?.length ? ` ents=${m.entries[0].index}..${m.entries[m.entries.length - 1].index}` : '';
  const extra = [
    m.index !== undefined ? `i=${m.index}` : '',
    m.logTerm !== undefined ? `lt=${m.logTerm}` : '',
    m.commit !== undefined ? `c=${m.commit}` : '',
    m.reject ? 'REJECT' : '',
    m.snapshot ? `snap=${m.snapshot.meta.index}` : '',
  ].filter(Boolean).join(' ');
  return `${m.from}->${m.to} t${m.term} type=${m.type} ${extra}${ents}`;
}
