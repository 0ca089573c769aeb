// Hosts one Raft group on this node: drives the pure core with the node's ticker and the transport, runs the
// Ready loop (start the Ready's write, send, apply, advance; report it persisted when its fsync is
// done), and turns proposals and reads into promises that settle when the entry is applied or the
// read index is reached.

import type { Logger } from 'pino';
import { RawNode } from '../raft/node.ts';
import type { RaftConfig } from '../raft/raft.ts';
import { EntryType, MessageType, NONE, RaftError, type Entry, type HardState, type Message, type NodeId, type Ready, type Snapshot } from '../raft/types.ts';
import type { RaftWalStore } from '../storage/raft-wal-store.ts';
import { seededRng } from '../util/prng.ts';
import { ConcordError } from '../util/errors.ts';
import { ApplyQueue } from './apply-queue.ts';
import { Waiters } from './waiters.ts';
import type { NodeTicker } from './ticker.ts';

/** What the group applies committed entries to. */
export interface StateMachine {
  appliedIndex(): number;
  /** Apply committed entries in order; returns what each proposing request should be told, by entry index. */
  apply(entries: Entry[]): Promise<Map<number, { node: string; seq: number; result: unknown }>>;
  restore(snapshot: Snapshot): Promise<void>;
}

export interface GroupOptions {
  group: string;
  nodeId: NodeId;
  storage: RaftWalStore;
  stateMachine: StateMachine;
  send: (to: NodeId, msg: Message) => void;
  /** Sends a snapshot (chunked); must end with reportSnapshot(to, ok). Without it, Snap goes as one message. */
  sendSnapshot?: (msg: Message) => void;
  tickMs: number;
  electionTicks: number;
  /** The node's ticker, shared by its groups. */
  ticker: NodeTicker;
  /** An idle group goes quiet after this many ticks (RaftConfig.quiesceAfterTicks; 0: never). */
  quiesceAfterTicks: number;
  leaseReads: boolean;
  logger: Logger;
}

export class RaftGroup {
  readonly node: RawNode;
  /** Stops the node's ticker ticking this group. */
  private readonly untick: () => void;
  private ticks = 0;
  private running = true;
  private wake: (() => void) | undefined;
  private kickScheduled = false;
  private readonly loopDone: Promise<void>;
  /** Settles with the error once the group has failed (storage or apply) and stopped; never otherwise. */
  readonly failed: Promise<Error>;
  private reportFailure: (e: Error) => void = () => {};
  private nextSeq = 1;
  private readonly proposals = new Waiters((ms) => this.timedOut(ms));
  private nextReadCtx = 1;
  private readonly reads = new Waiters((ms) => this.timedOut(ms));
  /** Read states whose index is not yet applied, in index order. */
  private readyReads: Array<{ index: number; ctx: number }> = [];
  leaderChanges = 0;
  /** Requests that found no leader, to retry when one is known. */
  private awaitingLeader: Array<() => void> = [];
  /** Observers for metrics: seconds per persisted Ready, and each proposal's outcome. */
  onPersist: (seconds: number) => void = () => {};
  onProposal: (outcome: 'applied' | 'failed') => void = () => {};
  /** Membership changes applied so far: lets a snapshot taken across applies know membership held still. */
  confChangesApplied = 0;
  /** Bytes of entry data applied since this process started (the snapshotter's size trigger). */
  appliedBytes = 0;
  /**
   * Called after each advance(), between Readies. The state machine has applied at most status().applied:
   * exactly that unless a large apply runs behind the loop (apply-queue.ts).
   */
  onAdvance: () => void = () => {};
  /** Term and vote in the last write issued, and in the last one known durable (messages wait for that). */
  private savedTermVote: { term: number; vote: NodeId };
  private durableTermVote: { term: number; vote: NodeId };
  /** A hard state that differs from the persisted one only in its commit index, not yet written. */
  private unsyncedHardState: HardState | undefined;
  /** Settles once every write issued so far is durable and what waited on it has run. */
  private durable: Promise<unknown> = Promise.resolve();
  private savesInFlight = 0;
  private readonly applyQueue = new ApplyQueue({
    applyNow: (entries) => this.applyCommitted(entries),
    failure: () => this.failure,
    fail: (err) => this.fail(err),
    appliedBehind: () => this.serveReads(),
  });
  private failure: Error | undefined;
  /** performance.now() when this node last heard from a leader or was one; undefined: not since it started. */
  private leaderSeenAt: number | undefined;
  /** The base election timeout: how long a silent leader is believed in, and a leader without a quorum leads. */
  readonly electionTimeoutMs: number;

  constructor(private readonly o: GroupOptions) {
    const cfg: RaftConfig = {
      id: o.nodeId,
      storage: o.storage,
      applied: o.stateMachine.appliedIndex(),
      electionTick: o.electionTicks,
      heartbeatTick: 1,
      rng: seededRng((Date.now() ^ (process.pid << 8)) >>> 0),
      preVote: true,
      checkQuorum: true,
      leaseRead: o.leaseReads,
      quiesceAfterTicks: o.quiesceAfterTicks,
      // Flow control toward a follower far behind (a new replica catching up from the log during a shard
      // move): appends of at most 256 KiB and 2 MiB of entries unacknowledged, so the leader sends at the
      // follower's pace, a turn of its event loop never encodes or decodes megabytes of entries at once, and
      // the puts it serves meanwhile keep their latency (bench/README.md, "Puts while replicas move"). A
      // single larger entry still goes alone. The follower applies what it gets 8 MiB per Ready, for the same
      // reason (every other group on that node waits while one applies).
      maxSizePerMsg: 256 << 10,
      maxInflightMsgs: 256,
      maxInflightBytes: 2 << 20,
      maxCommittedSizePerReady: 8 << 20,
    };
    this.node = new RawNode(cfg);
    const hs = o.storage.initialState().hardState;
    this.savedTermVote = this.durableTermVote = { term: hs.term, vote: hs.vote };
    this.electionTimeoutMs = o.tickMs * o.electionTicks;
    this.untick = o.ticker.add(this);
    this.failed = new Promise<Error>((resolve) => (this.reportFailure = resolve));
    this.loopDone = this.loop();
    // A failure is reported through `failed` (the host stops the node); the loop's own rejection is only
    // for close(), which awaits it, and must not also surface as an unhandled rejection.
    this.loopDone.catch(() => undefined);
  }

  /** One tick of the group's logical clock (NodeTicker calls it every tickMs). */
  tick(now: number): void {
    if (this.node.raft.role === 'leader') this.leaderSeenAt = now;
    if (++this.ticks % this.o.electionTicks === 0) this.reissueReads(now - this.electionTimeoutMs);
    this.node.tick();
    // Most ticks of a quiet group change nothing: the loop would wake only to find no Ready.
    if (this.node.hasReady()) this.kick();
  }

  role(): string {
    return this.node.raft.role;
  }

  /** This node's current term. */
  term(): number {
    return this.node.raft.term;
  }

  /** Wake the group if it is quiet: a member may have gone (its connection closed, gossip says so). */
  wakeIfQuiet(): void {
    if (!this.node.quiesced()) return;
    this.node.wake();
    this.kick();
  }

  /** Batches of committed entries being applied behind the Ready loop (apply-queue.ts). */
  get appliesBehind(): number {
    return this.applyQueue.behind;
  }

  /** Feed a message from a peer. */
  step(m: Message): void {
    try {
      this.node.step(m);
    } catch (e) {
      // A forwarded proposal that finds no leader here is dropped; its requester times out and retries.
      if (!(e instanceof RaftError)) throw e;
    }
    if (m.from === this.node.raft.lead) this.leaderSeenAt = performance.now();
    this.kick();
  }

  /** A leader is known (it may have died since; see msSinceLeader). Cheap: a field read. */
  hasLeader(): boolean {
    return this.node.raft.lead !== NONE;
  }

  /** Milliseconds since this node last heard from a leader (0 while it leads); undefined: not since it started. */
  msSinceLeader(): number | undefined {
    if (this.node.raft.role === 'leader') return 0;
    return this.leaderSeenAt === undefined ? undefined : Math.round(performance.now() - this.leaderSeenAt);
  }

  /**
   * Wake the Ready loop once the current I/O phase is over (setImmediate), not in a microtask: then the
   * proposals, reads and peer messages that arrive in one event-loop turn share one Ready, and so one
   * LMDB transaction, one fsync, one heartbeat round for reads and one frame per peer. Woken at once,
   * the loop made a Ready of the first of them alone (bench/README.md has the measurement).
   */
  private kick(): void {
    if (this.kickScheduled || !this.wake) return;
    this.kickScheduled = true;
    setImmediate(this.wakeLoop);
  }

  private readonly wakeLoop = (): void => {
    this.kickScheduled = false;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  };

  /**
   * Propose an encoded command; resolves with the state machine's result once applied here. During an
   * election (no leader known) it waits for one, up to the timeout: a refused proposal was never
   * appended, so retrying it cannot apply it twice.
   */
  propose(encode: (seq: number) => Uint8Array, timeoutMs: number): Promise<unknown> {
    const seq = this.nextSeq++;
    const p = this.proposals.wait(seq, timeoutMs).then(
      (v) => (this.onProposal('applied'), v),
      (e: unknown) => {
        this.onProposal('failed');
        throw e;
      },
    );
    const data = encode(seq);
    this.attempt(this.proposals, seq, () => this.node.propose(data));
    return p;
  }

  /** Resolves once this node has applied everything committed before the call (ReadIndex). */
  linearizableBarrier(timeoutMs: number): Promise<unknown> {
    const ctx = this.nextReadCtx++;
    const p = this.reads.wait(ctx, timeoutMs);
    this.attempt(this.reads, ctx, () => this.node.readIndex(ctx));
    return p;
  }

  /**
   * Asks again, of the leader known now, every read sent before `sentBefore` and not yet answered. A
   * ReadIndex request is not retried by the core: one sent to a leader that died or was cut off, or lost
   * on the way, is never answered, and its read would wait out the request timeout. Asking twice is
   * harmless: the first answer settles the read.
   */
  private reissueReads(sentBefore: number): void {
    if (this.reads.size === 0) return;
    const answered = new Set(this.readyReads.map((r) => r.ctx));
    for (const ctx of this.reads.sentBefore(sentBefore)) {
      if (!answered.has(ctx)) this.attempt(this.reads, ctx, () => this.node.readIndex(ctx));
    }
  }

  /** Run `act` for a waiting request; if no leader is known, run it again when one is. */
  private attempt(waiters: Waiters, id: number, act: () => void): void {
    if (!waiters.has(id)) return; // timed out meanwhile
    waiters.sent(id);
    try {
      act();
    } catch (e) {
      if (e instanceof RaftError && e.code === 'no-leader' && this.awaitingLeader.length < MAX_AWAITING_LEADER) {
        this.awaitingLeader.push(() => this.attempt(waiters, id, act));
      } else waiters.settle(id, undefined, toConcordError(e));
    }
    this.kick();
  }

  /** A request's timeout: no leader known means no quorum (retry later); else the outcome is unknown. */
  private timedOut(timeoutMs: number): ConcordError {
    return this.node.status().leader
      ? new ConcordError('timeout', `not committed within ${timeoutMs} ms`)
      : new ConcordError('unavailable', `no leader (no quorum) within ${timeoutMs} ms`, 1);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      if (!this.node.hasReady()) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      try {
        await this.handleReady(this.node.ready());
      } catch (e) {
        this.fail(e as Error);
      }
    }
    if (this.failure) throw this.failure;
  }

  /** Storage failures are fatal for this group: continuing could acknowledge what is not durable. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.o.logger.fatal({ err }, 'raft group failed; stopping it');
    this.reportFailure(err);
    this.running = false;
    this.kick();
  }

  /**
   * One Ready. Its write is started, not awaited (etcd's asynchronous storage writes): the next Ready
   * can be handed out while the fsync runs, so proposals arriving meanwhile go to the followers at once
   * instead of after it. What must wait for durability waits on `durable`, which settles the writes in
   * the order they were issued: the core's persisted() (a leader's own copy counts toward a quorum only
   * then) and every message except a leader's appends and heartbeats, which may go out before its own
   * fsync (thesis §10.2.1) as long as its term and vote are durable. Committed entries are applied at
   * once: the core hands out only entries this node has persisted.
   */
  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState?.leader) {
      const known = performance.now();
      const retry = this.awaitingLeader;
      this.awaitingLeader = [];
      for (const f of retry) f();
      // Reads sent before the leader changed may never be answered (those just retried went to this one).
      this.reissueReads(known);
    }
    if (rd.softState) {
      this.leaderChanges++;
      this.o.logger.info({ role: rd.softState.role, leader: rd.softState.leader, term: this.node.status().term }, 'raft role changed');
    }
    if (rd.snapshot) return this.handleSnapshotReady(rd);
    const raft = this.node.raft;
    const early = raft.role === 'leader' && raft.term === this.durableTermVote.term && raft.vote === this.durableTermVote.vote;
    if (early) this.sendAll(rd.messages);
    if (rd.entries.length > 0 || this.changesTermOrVote(rd)) this.persist(rd);
    else if (rd.hardState) {
      // Only the commit index moved: no fsync for that (etcd's MustSync rule). Raft can recompute it,
      // and on restart it is at least what the state machine applied. It goes out with the next write.
      this.unsyncedHardState = rd.hardState;
    }
    if (!early && rd.messages.length > 0) this.afterDurable(() => this.sendAll(rd.messages));
    if (rd.committedEntries.length > 0) await this.applyQueue.apply(rd.committedEntries);
    this.finishReady(rd);
    // Bounded: entries wait in memory until persisted, so a slow disk must slow the group down.
    if (this.savesInFlight >= MAX_SAVES_IN_FLIGHT) await this.durable.catch(() => undefined);
  }

  /** A snapshot from the leader replaces the log and the state machine: handled in order, in full. */
  private async handleSnapshotReady(rd: Ready): Promise<void> {
    this.persist(rd);
    this.afterDurable(() => this.sendAll(rd.messages));
    await this.durable;
    await this.applyQueue.idle();
    if (this.failure) throw this.failure;
    await this.o.stateMachine.restore(rd.snapshot!);
    if (rd.committedEntries.length > 0) await this.applyCommitted(rd.committedEntries);
    this.finishReady(rd);
  }

  /** Start writing `rd`'s entries, snapshot and hard state; on durability, tell the core. */
  private persist(rd: Ready): void {
    const hardState = rd.hardState ?? this.unsyncedHardState;
    this.unsyncedHardState = undefined;
    if (hardState) this.savedTermVote = { term: hardState.term, vote: hardState.vote };
    const t0 = performance.now();
    const saved = this.o.storage.save({ entries: rd.entries, snapshot: rd.snapshot, hardState });
    this.savesInFlight++;
    this.afterDurable(
      () => saved,
      () => {
        this.savesInFlight--;
        this.onPersist((performance.now() - t0) / 1000);
        if (hardState) this.durableTermVote = { term: hardState.term, vote: hardState.vote };
        if (!this.running) return;
        this.node.persisted(rd);
        this.kick();
      },
    );
  }

  /** Run `steps` once every write issued so far is durable, in issue order; a failed write stops the group. */
  private afterDurable(...steps: Array<() => unknown>): void {
    let next = this.durable;
    for (const step of steps) next = next.then(step);
    next.catch((err: Error) => this.fail(err));
    this.durable = next;
  }

  private async applyCommitted(entries: Entry[]): Promise<void> {
    let bytes = 0;
    for (const e of entries) {
      bytes += e.data.byteLength;
      if (e.type === EntryType.ConfChange) this.confChangesApplied++;
    }
    const results = await this.o.stateMachine.apply(entries);
    this.appliedBytes += bytes; // once applied: a snapshot started meanwhile would not hold them
    for (const r of results.values()) if (r.node === this.o.nodeId) this.proposals.settle(r.seq, r.result);
  }

  /** Serve the reads whose index is applied, and hand the Ready back to the core. */
  private finishReady(rd: Ready): void {
    for (const rs of rd.readStates) this.readyReads.push({ index: rs.index, ctx: rs.context });
    this.serveReads();
    this.node.advance();
    this.onAdvance();
  }

  /** Settle the reads waiting for an index the state machine has applied. */
  private serveReads(): void {
    const applied = this.o.stateMachine.appliedIndex();
    if (this.readyReads.length > 0) {
      const still: typeof this.readyReads = [];
      for (const r of this.readyReads) {
        if (r.index <= applied) this.reads.settle(r.ctx, undefined);
        else still.push(r);
      }
      this.readyReads = still;
    }
  }

  /** Whether `rd` changes term or vote from what was last written (it then needs a write of its own). */
  private changesTermOrVote(rd: Ready): boolean {
    const hs = rd.hardState;
    return hs !== undefined && (hs.term !== this.savedTermVote.term || hs.vote !== this.savedTermVote.vote);
  }

  private sendAll(messages: Message[]): void {
    for (const m of messages) {
      if (m.type === MessageType.Snap && this.o.sendSnapshot) {
        this.o.sendSnapshot(m);
        continue;
      }
      this.o.send(m.to, m);
      if (m.type === MessageType.Snap) this.node.reportSnapshot(m.to, true);
    }
  }

  /** Shutting down: this node takes no leadership of the group from now on (RawNode's refusesLeadership). */
  refuseLeadership(): void {
    this.node.raft.refusesLeadership = true;
  }

  /** A snapshot transfer to `to` ended. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.node.reportSnapshot(to, ok);
    this.kick();
  }

  /**
   * If this node leads, hand leadership to the most caught-up voter and wait (up to timeoutMs) until it
   * has taken over, so a shutdown does not leave the group without a leader for an election timeout.
   */
  async handOffLeadership(timeoutMs: number): Promise<boolean> {
    const st = this.node.status();
    if (st.role !== 'leader' || !st.progress) return false;
    const candidates = Object.entries(st.progress)
      .filter(([id, pr]) => id !== this.o.nodeId && !pr.learner && pr.recentActive && !this.node.raft.refusedTransfer(id))
      .sort((a, b) => b[1].match - a[1].match);
    if (candidates.length === 0) return false;
    const target = candidates[0][0];
    try {
      this.node.transferLeader(target);
    } catch (e) {
      if (e instanceof RaftError) return false;
      throw e;
    }
    this.kick();
    const deadline = Date.now() + timeoutMs;
    // We step down on seeing the target's election (a higher term), before it has won: wait until a
    // successor is known. Give up at once when the transfer cannot happen any more: the core abandons
    // it after an election timeout (target down or too far behind), or steps down in the same term
    // for want of a quorum. Waiting longer would only delay the shutdown.
    while (Date.now() < deadline) {
      const now = this.node.status();
      if (now.role === 'leader') {
        if (now.leadTransferee !== target) return false;
      } else if (now.leader !== '') return now.leader === target;
      else if (now.term === st.term) return false;
      await new Promise((r) => setTimeout(r, this.o.tickMs / 4));
    }
    return false;
  }

  async close(): Promise<void> {
    this.running = false;
    this.untick();
    this.kick();
    await this.loopDone.catch(() => undefined);
    await this.applyQueue.idle();
    await this.durable.catch(() => undefined);
    if (this.unsyncedHardState) await this.o.storage.save({ entries: [], hardState: this.unsyncedHardState }).catch(() => undefined);
    this.awaitingLeader = [];
    const closing = new ConcordError('unavailable', 'node is shutting down', 1);
    this.proposals.settleAll(closing);
    this.reads.settleAll(closing);
  }
}

/** Writes in flight at once; the Ready loop waits beyond this. */
const MAX_SAVES_IN_FLIGHT = 16;

/** Requests queued for a leader beyond this are refused at once (memory stays bounded in a long outage). */
const MAX_AWAITING_LEADER = 100_000;

function toConcordError(e: unknown): Error {
  if (e instanceof RaftError) {
    if (e.code === 'too-many-pending' || e.code === 'no-leader' || e.code === 'conf-change-pending') {
      return new ConcordError('unavailable', e.message, 1);
    }
    return new ConcordError('bad-request', e.message);
  }
  return e instanceof Error ? e : new Error(String(e));
}
