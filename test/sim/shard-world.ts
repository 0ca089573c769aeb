// A simulated sharded cluster: hosts that each run one Raft core per shard they hold, a metadata group
// (modelled as the committed sequence of shard maps, which each host learns with a delay and a removed host
// may never learn), and the real placement and host policies on top: nextShardMap plans the maps,
// nextShardStep is each shard leader's steward, replicaFate decides when a dropped copy is deleted, and the
// raft core's own rules (an empty log never votes). A seeded nemesis crashes and restarts hosts, partitions
// the network, drops, duplicates and reorders messages, transfers leadership, and adds and removes members
// (which moves replicas); an acknowledgement sent by a copy that is then deleted may reach its leader only after
// the member holds a new copy (a connection that held it across both). Every shard's safety is checked after every step, as in the one-group simulator.

import { RawNode } from '../../src/raft/node.ts';
import { MemoryStorage } from '../../src/raft/storage.ts';
import { bootstrapState } from '../../src/raft/bootstrap.ts';
import type { TestingOnlyBugs } from '../../src/raft/raft.ts';
import { EntryType, MessageType, RaftError, type Entry, type Message, type NodeId } from '../../src/raft/types.ts';
import { decodeConfChange } from '../../src/raft/conf-change.ts';
import { seededRng, type Rng } from '../../src/util/prng.ts';
import { foundingShardMap, nextShardMap, type ShardMap } from '../../src/node/shard-map.ts';
import { nextShardStep, replicaFate, shardFollows, type ShardProgress } from '../../src/cluster/shard-steps.ts';
import { InvariantViolation, SafetyChecker, entryKey } from './checker.ts';

/** Deliberately broken host policies, to prove the simulator catches them. */
export interface ShardHostBugs {
  /** Delete a copy as soon as the map stops naming this host, whether or not the shard still counts it. */
  deleteWhenMapDrops?: boolean;
  /** The membership gate looks only at the shards the deciding member hosts, not at every shard. */
  gateOnHostedOnly?: boolean;
}

export interface ShardSimOptions {
  seed: number;
  steps: number;
  bugs?: TestingOnlyBugs & ShardHostBugs;
  trace?: (line: string) => void;
}

const ELECTION_TICK = 10;
const TICK_EVERY = 4;
/** Steps between two passes of each host's steward, map sync and replica clean-up. */
const HOST_EVERY = 8;
const COMPACT_KEEP = 10;
const WRITE_RETRY_STEPS = 30 * TICK_EVERY;

interface Replica {
  shard: number;
  storage: MemoryStorage;
  raft?: RawNode;
  appliedIndex: number;
  lastApplied: string;
  checkedCommit: number;
  /** Whether the last membership change about its host this copy applied (since it started) removed it. */
  removedItself: boolean;
}

interface Host {
  id: NodeId;
  up: boolean;
  /** Removed from the cluster (it may still run, with whatever map it last learned). */
  removed: boolean;
  replicas: Map<number, Replica>;
  /** The map this host acts on: its copy of the metadata group's latest it has learned. */
  map: ShardMap;
}

interface Envelope {
  at: number;
  seq: number;
  shard: number;
  m: Message;
}

interface ClientWrite {
  shard: number;
  key: string;
  host: NodeId;
  proposedAt: number;
  acked: boolean;
}

export class ShardWorld {
  readonly rng: Rng;
  readonly hosts = new Map<NodeId, Host>();
  /** The metadata group's committed maps, oldest first; the last is the one in force. */
  readonly maps: ShardMap[] = [];
  private readonly checkers: SafetyChecker[] = [];
  private queue: Envelope[] = [];
  private seq = 0;
  private cut = new Set<string>();
  private readonly profile: { drop: number; dup: number; maxDelay: number };
  private faultsOn = true;
  private nextHost: number;
  private writes: ClientWrite[] = [];
  private writesByKey = new Map<string, ClientWrite>();
  private reads = new Map<number, { host: NodeId; shard: number; mustSee: number }>();
  private ackedIndex: number[];
  private nextCtx = 1;
  /** Per `host/shard`: the copy's latest acknowledgement, and one held back past the copy's deletion. */
  private lastAcks = new Map<string, Message>();
  private lateAcks = new Map<string, Message>();
  now = 0;
  readonly stats = { writesAcked: 0, readsChecked: 0, crashes: 0, memberChanges: 0, mapEpochs: 1, replicasDeleted: 0, replicasCreated: 0, shardConfChanges: 0, lateAcks: 0 };

  constructor(readonly opts: ShardSimOptions) {
    this.rng = seededRng(opts.seed);
    const n = 3 + this.rng.int(0, 3);
    const shards = 2 + this.rng.int(0, 4);
    const replicas = this.rng.next() < 0.7 ? 3 : 2 + this.rng.int(0, 3);
    this.profile = { drop: this.rng.next() < 0.3 ? 0 : this.rng.next() * 0.1, dup: this.rng.next() * 0.05, maxDelay: 1 + this.rng.int(0, 5) };
    this.nextHost = n + 1;
    const members = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const map = foundingShardMap(shards, members, replicas);
    this.maps.push(map);
    this.ackedIndex = new Array<number>(shards).fill(0);
    for (let s = 0; s < shards; s++) this.checkers.push(new SafetyChecker());
    for (const id of members) {
      const h: Host = { id, up: true, removed: false, replicas: new Map(), map };
      for (let s = 0; s < shards; s++) {
        if (!map.shards[s].includes(id)) continue;
        const storage = new MemoryStorage();
        storage.save(bootstrapState(map.shards[s]));
        this.addReplica(h, s, storage);
      }
      this.hosts.set(id, h);
    }
    this.trace(`founded: ${n} members, ${shards} shards, R ${replicas}: ${JSON.stringify(map.shards)}`);
  }

  private trace(line: string): void {
    this.opts.trace?.(`[${this.now}] ${line}`);
  }

  private get latest(): ShardMap {
    return this.maps[this.maps.length - 1];
  }

  private addReplica(h: Host, shard: number, storage: MemoryStorage): Replica {
    const r: Replica = { shard, storage, appliedIndex: 0, lastApplied: '', checkedCommit: 0, removedItself: false };
    h.replicas.set(shard, r);
    this.startReplica(h, r);
    return r;
  }

  private startReplica(h: Host, r: Replica): void {
    const snap = r.storage.snapshot();
    r.appliedIndex = snap.meta.index;
    r.lastApplied = snap.data.length > 0 ? Buffer.from(snap.data).toString('latin1') : '';
    r.checkedCommit = 0;
    r.removedItself = false;
    r.raft = new RawNode({
      id: h.id,
      storage: r.storage,
      applied: snap.meta.index,
      electionTick: ELECTION_TICK,
      heartbeatTick: 1,
      rng: seededRng(this.rng.int(0, 2 ** 31)),
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 256,
      maxInflightMsgs: 4,
      testingOnlyBugs: this.opts.bugs,
    });
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.rng.int(0, xs.length)];
  }

  private up(): Host[] {
    return [...this.hosts.values()].filter((h) => h.up);
  }

  // ------------------------------------------------------------------ one step

  step(faults: boolean): void {
    this.now++;
    this.faultsOn = faults;
    if (faults) this.nemesis();
    this.clients(faults);
    for (const e of this.due()) this.deliver(e);
    for (const h of this.up()) for (const r of h.replicas.values()) this.processReady(h, r);
    if (this.now % TICK_EVERY === 0) for (const h of this.up()) for (const r of h.replicas.values()) r.raft?.tick();
    if (this.now % HOST_EVERY === 0) for (const h of this.up()) this.hostPass(h);
  }

  private send(shard: number, m: Message): void {
    if (m.type === MessageType.AppResp && !m.reject) this.lastAcks.set(`${m.from}/${shard}`, m);
    if (this.faultsOn && this.rng.next() < this.profile.drop) return;
    const copies = this.faultsOn && this.rng.next() < this.profile.dup ? 2 : 1;
    for (let i = 0; i < copies; i++) this.queue.push({ at: this.now + this.rng.int(0, this.profile.maxDelay + 1), seq: this.seq++, shard, m });
  }

  private due(): Envelope[] {
    const ready = this.queue.filter((e) => e.at <= this.now).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.queue = this.queue.filter((e) => e.at > this.now);
    return ready.filter((e) => !this.cut.has(`${e.m.from}>${e.m.to}`));
  }

  private deliver(e: Envelope): void {
    const h = this.hosts.get(e.m.to);
    // A host that does not hold the shard drops its traffic, as a node's registry does.
    const r = h?.up ? h.replicas.get(e.shard) : undefined;
    if (!r?.raft) return;
    try {
      r.raft.step(e.m);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
  }

  /** The host loop, synchronous: persist, send, apply, advance. */
  private processReady(h: Host, r: Replica): void {
    const raft = r.raft;
    if (!raft?.hasReady()) return;
    const checker = this.checkers[r.shard];
    const rd = raft.ready();
    if (rd.softState?.role === 'leader') {
      this.trace(`${h.id} leads shard ${r.shard} in term ${raft.status().term}`);
      checker.leaderElected(h.id, raft.status().term, raft);
    }
    r.storage.save(rd);
    if (rd.entries.length > 0 || rd.snapshot) checker.checkLog(h.id, raft);
    raft.persisted(rd);
    for (const m of rd.messages) {
      this.send(r.shard, m);
      if (m.type === MessageType.Snap) raft.reportSnapshot(m.to, true);
    }
    if (rd.snapshot) {
      r.appliedIndex = rd.snapshot.meta.index;
      r.lastApplied = Buffer.from(rd.snapshot.data).toString('latin1');
      const want = checker.appliedAt(r.appliedIndex);
      if (want !== undefined && want !== r.lastApplied) throw new InvariantViolation(`shard ${r.shard}: snapshot on ${h.id} at ${r.appliedIndex} holds ${r.lastApplied}, ${want} was applied there`);
    }
    for (const e of rd.committedEntries) this.apply(h, r, e);
    for (const rs of rd.readStates) this.readServed(h, r.shard, rs.context, rs.index);
    raft.advance();
    checker.checkCommitted(h.id, raft, r.checkedCommit);
    r.checkedCommit = raft.raft.log.committed;
    if (this.rng.next() < 0.02) this.compact(r);
  }

  private apply(h: Host, r: Replica, e: Entry): void {
    if (e.index !== r.appliedIndex + 1) throw new InvariantViolation(`shard ${r.shard}: ${h.id} applied ${e.index} after ${r.appliedIndex}`);
    this.checkers[r.shard].checkApplied(h.id, e);
    r.appliedIndex = e.index;
    r.lastApplied = entryKey(e);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      if (cc.node === h.id && cc.type !== 'update') r.removedItself = cc.type === 'remove';
      return;
    }
    if (e.data.length === 0) return;
    const w = this.writesByKey.get(Buffer.from(e.data).toString('latin1'));
    if (w && !w.acked && w.host === h.id && w.shard === r.shard) {
      w.acked = true;
      this.stats.writesAcked++;
      this.ackedIndex[r.shard] = Math.max(this.ackedIndex[r.shard], e.index);
    }
  }

  private readServed(h: Host, shard: number, ctx: number, index: number): void {
    const read = this.reads.get(ctx);
    if (!read || read.host !== h.id || read.shard !== shard) return;
    this.reads.delete(ctx);
    this.stats.readsChecked++;
    if (index < read.mustSee) throw new InvariantViolation(`shard ${shard}: stale read on ${h.id}: read index ${index} misses a write acknowledged at ${read.mustSee}`);
  }

  private compact(r: Replica): void {
    if (!r.raft || r.appliedIndex - r.storage.firstIndex() < COMPACT_KEEP * 2) return;
    r.storage.createSnapshot(r.appliedIndex, r.raft.confState(), Buffer.from(r.lastApplied, 'latin1'));
    r.storage.compact(r.appliedIndex - COMPACT_KEEP);
  }

  // ------------------------------------------------------------------ the hosts' own policies

  /** What a node does every few ticks: learn the map, host what it gives, steward what it leads, delete what it lost. */
  private hostPass(h: Host): void {
    // The metadata group reaches a member with a delay; a removed member hears nothing more.
    if (!h.removed && h.map.epoch < this.latest.epoch && this.rng.next() < 0.5) h.map = this.latest;
    if (h.removed) this.askWhetherMember(h);
    for (let s = 0; s < h.map.shards.length; s++) {
      if (h.map.shards[s].includes(h.id) && !h.replicas.has(s)) {
        this.addReplica(h, s, new MemoryStorage());
        this.stats.replicasCreated++;
        this.trace(`${h.id} creates an empty copy of shard ${s} (map epoch ${h.map.epoch})`);
        this.deliverLateAck(`${h.id}/${s}`, s);
      }
    }
    let busy = 0;
    for (const r of h.replicas.values()) {
      const raft = r.raft!;
      if (raft.status().role === 'leader') this.steward(h, r, busy++ < 4);
      else this.cleanUp(h, r);
    }
  }

  /**
   * A removed host that holds shards asks a member whether it is still one, and follows the map that member acts
   * on (a model of MapFollower.ask/answer; a member's question is answered "yes" and changes nothing, so it is not modelled).
   */
  private askWhetherMember(h: Host): void {
    const out = !h.map.members.includes(h.id);
    if (h.replicas.size === 0) return;
    const other = this.hosts.get(this.pick(this.latest.members)!)!;
    if (!other.up || other.removed || this.cut.has(`${h.id}>${other.id}`) || this.cut.has(`${other.id}>${h.id}`)) return;
    if (out && other.map.epoch <= h.map.epoch) return;
    h.map = { ...other.map, shards: other.map.shards.map((r) => r.filter((id) => id !== h.id)) };
    this.trace(`${h.id} learns from ${other.id} that it is no member: follows its map (epoch ${h.map.epoch})`);
  }

  private steward(h: Host, r: Replica, mayAddLearner: boolean): void {
    const raft = r.raft!;
    const st = raft.status();
    const want = h.map.shards[r.shard];
    const progress: Record<NodeId, ShardProgress> = {};
    for (const [id, pr] of Object.entries(st.progress ?? {})) progress[id] = { match: pr.match, recentActive: pr.recentActive };
    const step = nextShardStep({ self: h.id, want: { voters: [...want], learners: [] }, have: raft.confState(), progress, lastIndex: st.lastIndex, maxPromotionLag: 5, preferred: want[0], mayAddLearner });
    if (!step) return;
    try {
      if ('change' in step) {
        raft.proposeConfChange(step.change);
        this.stats.shardConfChanges++;
        this.trace(`${h.id} shard ${r.shard}: ${step.change.type} ${step.change.node}`);
      } else if (!st.leadTransferee && this.rng.next() < 0.3) raft.transferLeader(step.transferTo);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  private cleanUp(h: Host, r: Replica): void {
    const raft = r.raft!;
    const replicas = h.map.shards[r.shard];
    let fate = replicaFate({ self: h.id, replicas, removedItself: r.removedItself, lastIndex: raft.status().lastIndex, applied: r.appliedIndex });
    let why = '';
    if (fate === 'ask') {
      // The question and its answer, as one round trip: a copy on a host both ways reachable.
      const conf = raft.confState();
      const asked = this.pick([...new Set([...replicas, ...conf.voters, ...conf.learners])].filter((id) => id !== h.id));
      const other = asked ? this.hosts.get(asked) : undefined;
      const theirs = other?.up && !this.cut.has(`${h.id}>${other.id}`) && !this.cut.has(`${other.id}>${h.id}`) ? other.replicas.get(r.shard)?.raft : undefined;
      if (theirs) {
        const c = theirs.confState();
        const answer = { applied: theirs.status().applied, members: [...c.voters, ...c.learners] };
        fate = replicaFate({ self: h.id, replicas, removedItself: r.removedItself, lastIndex: raft.status().lastIndex, applied: r.appliedIndex, answer });
        why = `; ${asked} answered ${JSON.stringify(answer)}`;
      }
    }
    if (this.opts.bugs?.deleteWhenMapDrops && !replicas.includes(h.id)) fate = 'delete';
    if (fate !== 'delete') return;
    h.replicas.delete(r.shard);
    this.stats.replicasDeleted++;
    const key = `${h.id}/${r.shard}`;
    const ack = this.lastAcks.get(key);
    this.lastAcks.delete(key);
    if (ack && this.faultsOn) this.lateAcks.set(key, ack);
    this.trace(`${h.id} deletes its copy of shard ${r.shard} (its configuration ${JSON.stringify(raft.confState())}, last index ${raft.status().lastIndex}${why})`);
  }

  /**
   * The deleted copy's held-back acknowledgement reaches its leader now that the host has a new copy, a few
   * times over the next while (the leader adds the new copy when its steward gets to it).
   */
  private deliverLateAck(key: string, shard: number): void {
    const m = this.lateAcks.get(key);
    if (!m) return;
    this.lateAcks.delete(key);
    this.stats.lateAcks++;
    this.trace(`a late ack from ${m.from}'s deleted copy of shard ${shard} (index ${m.index}, term ${m.term}) is on its way to ${m.to}`);
    for (let i = 0; i < 4; i++) this.queue.push({ at: this.now + this.rng.int(1, 16 * HOST_EVERY), seq: this.seq++, shard, m });
  }

  // ------------------------------------------------------------------ clients

  private clients(newOps: boolean): void {
    if (newOps && this.rng.next() < 0.2) this.newWrite();
    if (newOps && this.rng.next() < 0.08) this.newRead();
    for (const w of this.writes) if (!w.acked && this.now - w.proposedAt > WRITE_RETRY_STEPS) this.propose(w);
  }

  /** A host that serves the shard itself: up, holding it, a voter of its own copy's configuration. */
  private servers(shard: number): Host[] {
    return this.up().filter((h) => !h.removed && h.replicas.get(shard)?.raft?.confState().voters.includes(h.id));
  }

  private newWrite(): void {
    const shard = this.rng.int(0, this.latest.shards.length);
    const key = `w${this.writes.length + 1}`;
    const w: ClientWrite = { shard, key, host: '', proposedAt: 0, acked: false };
    this.writes.push(w);
    this.writesByKey.set(key, w);
    this.propose(w);
  }

  private propose(w: ClientWrite): void {
    w.proposedAt = this.now;
    const h = this.pick(this.servers(w.shard));
    if (!h) return;
    w.host = h.id;
    try {
      h.replicas.get(w.shard)!.raft!.propose(Buffer.from(w.key, 'latin1'));
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  private newRead(): void {
    const shard = this.rng.int(0, this.latest.shards.length);
    const h = this.pick(this.servers(shard));
    if (!h) return;
    const ctx = this.nextCtx++;
    try {
      h.replicas.get(shard)!.raft!.readIndex(ctx);
      this.reads.set(ctx, { host: h.id, shard, mustSee: this.ackedIndex[shard] });
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  // ------------------------------------------------------------------ the nemesis

  private nemesis(): void {
    const r = this.rng.next();
    if (r < 0.004) this.crash(this.pick(this.up()));
    else if (r < 0.02) this.restart(this.pick([...this.hosts.values()].filter((h) => !h.up)));
    else if (r < 0.025) this.partition();
    else if (r < 0.033) this.cut.clear();
    else if (r < 0.04) this.transfer();
    else if (r < 0.046) this.changeMembers();
  }

  private crash(h: Host | undefined): void {
    if (!h?.up) return;
    this.stats.crashes++;
    this.trace(`crash ${h.id}`);
    h.up = false;
    for (const r of h.replicas.values()) r.raft = undefined;
    for (const [ctx, read] of this.reads) if (read.host === h.id) this.reads.delete(ctx);
  }

  private restart(h: Host | undefined): void {
    if (!h || h.up) return;
    this.trace(`restart ${h.id}`);
    h.up = true;
    for (const r of h.replicas.values()) this.startReplica(h, r);
  }

  private partition(): void {
    const ids = [...this.hosts.keys()].sort(() => this.rng.next() - 0.5);
    this.cut.clear();
    const at = this.rng.int(1, ids.length);
    for (const a of ids.slice(0, at)) for (const b of ids.slice(at)) {
      this.cut.add(`${a}>${b}`);
      this.cut.add(`${b}>${a}`);
    }
    this.trace(`partition ${ids.slice(0, at).join(',')} | ${ids.slice(at).join(',')}`);
  }

  private transfer(): void {
    const leaders = this.up().flatMap((h) => [...h.replicas.values()].filter((r) => r.raft?.status().role === 'leader'));
    const r = this.pick(leaders);
    const to = r ? this.pick(r.raft!.confState().voters) : undefined;
    if (!r || !to) return;
    try {
      r.raft!.transferLeader(to);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  /**
   * The metadata group changes its members: one joins or one leaves, and its leader plans the next map. As in
   * the nodes, only while the map in force has been followed by every shard: those the deciding member hosts as
   * its copies see them, the others as a copy that believes it leads sees them (possibly a deposed leader not
   * told yet: the nodes' survey may have asked one; unlike the nodes', this one reaches across partitions).
   */
  private changeMembers(): void {
    const members = this.latest.members;
    const decider = this.hosts.get(this.pick(members)!)!;
    if (!decider.up) return;
    for (let s = 0; s < this.latest.shards.length; s++) {
      const want = { voters: [...this.latest.shards[s]], learners: [] };
      const here = decider.replicas.get(s);
      if (!here && this.opts.bugs?.gateOnHostedOnly) continue;
      const raft = here ? here.raft : this.pick(this.up().flatMap((h) => (h.replicas.get(s)?.raft?.status().role === 'leader' ? [h.replicas.get(s)!.raft!] : [])));
      if (!raft || !shardFollows(want, raft.confState())) return;
    }
    let next: string[];
    const returning = [...this.hosts.values()].filter((h) => h.removed);
    if ((this.rng.next() < 0.5 || members.length <= 3) && returning.length > 0 && this.rng.next() < 0.4) {
      // A removed member comes back under its old id (gossip re-adds it), with whatever copies it still holds.
      const h = this.pick(returning)!;
      h.removed = false;
      h.map = this.latest;
      next = [...members, h.id];
    } else if (this.rng.next() < 0.5 || members.length <= 3) {
      const id = `n${this.nextHost++}`;
      this.hosts.set(id, { id, up: true, removed: false, replicas: new Map(), map: this.latest });
      next = [...members, id];
    } else {
      const victim = this.pick(members)!;
      const h = this.hosts.get(victim)!;
      h.removed = true;
      next = members.filter((m) => m !== victim);
    }
    const map = nextShardMap(this.latest, next)!;
    this.maps.push(map);
    this.stats.memberChanges++;
    this.stats.mapEpochs++;
    // A removed member that applied its own removal computes the new map too; one that did not never will.
    for (const h of this.hosts.values()) if (h.removed && !next.includes(h.id) && h.map.epoch === map.epoch - 1 && this.rng.next() < 0.5) h.map = map;
    this.trace(`members ${next.join(',')}: map epoch ${map.epoch} ${JSON.stringify(map.shards)}`);
  }

  // ------------------------------------------------------------------ healing and convergence

  healEverything(): void {
    this.cut.clear();
    for (const h of this.hosts.values()) if (!h.up) this.restart(h);
    this.trace('healed');
  }

  /**
   * Every write acknowledged; every shard led, with exactly the latest map's replicas as voters, each of them
   * holding the leader's whole log applied; no host, removed ones included, holds a copy the map does not give it.
   */
  converged(): string | undefined {
    const pending = this.writes.filter((w) => !w.acked).length;
    if (pending > 0) return `${pending} writes unacknowledged`;
    const map = this.latest;
    for (let s = 0; s < map.shards.length; s++) {
      const want = [...map.shards[s]].sort().join();
      const leader = this.up().map((h) => h.replicas.get(s)?.raft).find((raft) => raft?.status().role === 'leader');
      if (!leader) return `shard ${s} has no leader`;
      const st = leader.status();
      const conf = leader.confState();
      if ([...conf.voters].sort().join() !== want || conf.learners.length > 0) return `shard ${s} has ${conf.voters}/${conf.learners}, the map wants ${want}`;
      if (st.commit !== st.lastIndex) return `shard ${s} has uncommitted entries`;
      for (const id of map.shards[s]) if (this.hosts.get(id)?.replicas.get(s)?.appliedIndex !== st.lastIndex) return `shard ${s} not applied on ${id}`;
      for (const h of this.hosts.values()) if (!map.shards[s].includes(h.id) && h.replicas.has(s)) return `${h.id}${h.removed ? ' (removed)' : ''} still holds shard ${s}`;
    }
    return undefined;
  }

  ticksToSteps(ticks: number): number {
    return ticks * TICK_EVERY;
  }
}
