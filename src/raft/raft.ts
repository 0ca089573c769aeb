// The Raft state machine (Ongaro & Ousterhout; Ongaro's thesis for PreVote, CheckQuorum, ReadIndex,
// leases, learners and leadership transfer), in the shape of etcd's raft: no I/O, no clock, no
// randomness of its own. Time is tick(), input is step(), output accumulates in `msgs` and
// `readStates` and is collected by RawNode into a Ready.

import { RaftLog } from './log.ts';
import { Progress, ProgressState } from './progress.ts';
import { majorityIndex, tallyVotes } from './quorum.ts';
import { ReadOnlyQueue, type ReadRequest } from './read-only.ts';
import type { Storage } from './storage.ts';
import { decodeConfChange } from './conf-change.ts';
import {
  EntryType,
  MessageType,
  NONE,
  RaftError,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
} from './types.ts';
import type { Rng } from '../util/prng.ts';

export interface RaftConfig {
  id: NodeId;
  storage: Storage;
  /** Highest index the host's state machine has applied (it persists this with the state). */
  applied?: number;
  /** Ticks without hearing from a leader before a follower campaigns (randomized up to 2x). */
  electionTick?: number;
  heartbeatTick?: number;
  /** Source of election jitter; inject a seeded one for deterministic runs. */
  rng: Rng;
  /** Raft thesis §9.6: probe with a pre-election so a partitioned node cannot inflate terms. */
  preVote?: boolean;
  /** Raft thesis §6.2: a leader steps down when it has not heard from a quorum for an election timeout. */
  checkQuorum?: boolean;
  /**
   * Serve reads on the leader from its lease instead of a heartbeat round. Safe only with checkQuorum
   * and only while ticks on different nodes run at the same rate to within `leaseMarginTicks` per
   * election timeout: followers that heard from the leader refuse votes for electionTick ticks.
   * Must be set on every voter of the group (it also makes a restarted voter wait out one lease).
   */
  leaseRead?: boolean;
  leaseMarginTicks?: number;
  /**
   * Quiescence (CockroachDB's, TiKV's hibernation): a leader idle this many ticks, with every member caught up
   * and heard from, sends one last heartbeat marked `quiesce` and stops heartbeating; its followers stop their
   * election timers. Any other message, proposal or read wakes the group (wake() too, for a host that learns a
   * member died). 0 (the default): never.
   */
  quiesceAfterTicks?: number;
  /** Byte cap on the entries of one append message (batching). */
  maxSizePerMsg?: number;
  /** Window of append messages in flight to one follower (pipelining). */
  maxInflightMsgs?: number;
  /**
   * Byte cap on the entries in flight to one follower (default: none). With maxSizePerMsg it bounds what a
   * follower far behind (a new replica catching up from the log) is sent before it acknowledges: the rate
   * then follows the follower's own pace instead of the leader's whole log going out at once.
   */
  maxInflightBytes?: number;
  /** Byte cap on committed entries handed out in one Ready. */
  maxCommittedSizePerReady?: number;
  /** Proposals are refused while this many bytes are appended but not yet applied. */
  maxUncommittedBytes?: number;
  /** Deliberate protocol bugs, for proving the simulator catches them. Never set outside tests. */
  testingOnlyBugs?: TestingOnlyBugs;
}

export interface TestingOnlyBugs {
  /** Commit an entry of an earlier term by counting replicas (the Figure 8 bug, §5.4.2). */
  commitPriorTermByCount?: boolean;
  /** Grant votes without the §5.4.1 up-to-date check. */
  voteWithoutLogCheck?: boolean;
  /** Grant votes with an empty log (a replica created to be added, or deleted and created again). */
  voteWithEmptyLog?: boolean;
  /** Count a follower's answer whatever copy it came from (Message.copy). */
  acceptAnyCopy?: boolean;
}

/** Bound on proposals held during a leadership transfer (beyond it they are dropped, as before). */
const MAX_HELD_PROPOSALS = 10_000;

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = Role.Follower;
  readonly log: RaftLog;
  /** Replication state of every member, this node included. */
  readonly prs = new Map<NodeId, Progress>();
  /**
   * Numbers handed to each Progress made (Message.copy). Unique for this process's life, which is enough: a
   * leader only counts answers in its own term, and a term's leader is one process.
   */
  private copies = 0;
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly rng: Rng;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  private readonly leaseRead: boolean;
  private readonly leaseMargin: number;
  private readonly maxSizePerMsg: number;
  private readonly maxInflight: number;
  private readonly maxInflightBytes: number;
  readonly maxCommittedSizePerReady: number;
  private readonly maxUncommittedBytes: number;
  private readonly bugs: TestingOnlyBugs;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Ticks since this Raft was created; also the leader's clock for leases. */
  private ticks = 0;
  private readonly quiesceAfter: number;
  /** Quiescent: no heartbeats (leader) or election timer (follower) until woken. */
  quiesced = false;
  /** The leader's ticks since its last proposal or read, or since a member was last behind. */
  private idleTicks = 0;
  private votes = new Map<NodeId, boolean>();
  leadTransferee: NodeId = NONE;
  /** A TimeoutNow went out this term: another node may win an election that ignores leases. */
  private transferStarted = false;
  /** Index of the latest membership change (or this leader's first entry); one may be pending at a time. */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private appendsPending = false;
  /**
   * Proposals forwarded to us while we were handing leadership over: never appended, so they can go to
   * the next leader (or be appended by us if the transfer is abandoned) instead of timing out.
   */
  private heldProposals: Message[] = [];
  /** Membership changes forwarded to us while another was pending: proposed once it is applied. */
  private deferredConfChanges: Message[] = [];
  readonly readOnly = new ReadOnlyQueue();

  constructor(cfg: RaftConfig) {
    this.id = cfg.id;
    this.rng = cfg.rng;
    this.electionTimeout = cfg.electionTick ?? 10;
    this.heartbeatTimeout = cfg.heartbeatTick ?? 1;
    if (this.heartbeatTimeout >= this.electionTimeout) throw new RaftError('invalid', 'electionTick must exceed heartbeatTick');
    this.preVote = cfg.preVote ?? true;
    this.checkQuorum = cfg.checkQuorum ?? true;
    this.leaseRead = cfg.leaseRead ?? false;
    if (this.leaseRead && !this.checkQuorum) throw new RaftError('invalid', 'leaseRead requires checkQuorum');
    this.leaseMargin = cfg.leaseMarginTicks ?? 1;
    this.maxSizePerMsg = cfg.maxSizePerMsg ?? 1 << 20;
    this.maxInflight = cfg.maxInflightMsgs ?? 256;
    this.maxInflightBytes = cfg.maxInflightBytes ?? Infinity;
    this.maxCommittedSizePerReady = cfg.maxCommittedSizePerReady ?? 64 << 20;
    this.maxUncommittedBytes = cfg.maxUncommittedBytes ?? 1 << 30;
    this.bugs = cfg.testingOnlyBugs ?? {};
    this.quiesceAfter = cfg.quiesceAfterTicks ?? 0;

    const { hardState, confState } = cfg.storage.initialState();
    this.log = new RaftLog(cfg.storage, cfg.applied ?? 0);
    if (hardState.commit > this.log.lastIndex()) {
      throw new RaftError('invalid', `persisted commit ${hardState.commit} is beyond the persisted log (${this.log.lastIndex()})`);
    }
    if (this.log.applied > this.log.lastIndex()) {
      throw new RaftError('invalid', `applied ${this.log.applied} is beyond the persisted log (${this.log.lastIndex()})`);
    }
    this.term = hardState.term;
    this.vote = hardState.vote;
    // A host need not fsync a hard state whose only change is the commit index (etcd's MustSync rule),
    // so the persisted commit may trail what the state machine applied. Applied entries were committed,
    // and committed entries are never replaced, so the commit index is at least the applied index.
    this.log.commitTo(Math.max(hardState.commit, this.log.applied));
    this.setConf(confState);
    // Membership changes between the snapshot and the applied index were applied before the restart.
    for (let i = this.log.firstIndex(); i <= this.log.applied; i++) {
      const [e] = this.log.slice(i, i + 1, Infinity);
      if (e.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(e.data));
    }
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- membership

  isVoter(id: NodeId): boolean {
    const pr = this.prs.get(id);
    return pr !== undefined && !pr.isLearner;
  }

  *voters(): Iterable<NodeId> {
    for (const pr of this.prs.values()) if (!pr.isLearner) yield pr.id;
  }

  confState(): ConfState {
    const voters: NodeId[] = [], learners: NodeId[] = [];
    for (const pr of this.prs.values()) (pr.isLearner ? learners : voters).push(pr.id);
    return { voters: voters.sort(), learners: learners.sort() };
  }

  private setConf(cs: ConfState): void {
    this.prs.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of cs.voters) this.prs.set(id, new Progress(id, ++this.copies, next, this.maxInflight, false, this.maxInflightBytes));
    for (const id of cs.learners) this.prs.set(id, new Progress(id, ++this.copies, next, this.maxInflight, true, this.maxInflightBytes));
    const self = this.prs.get(this.id);
    if (self) self.match = this.log.unstableOffset - 1;
  }

  /** Apply a committed membership change (called as the entry is applied). */
  applyConfChange(cc: ConfChange): void {
    const existing = this.prs.get(cc.node);
    switch (cc.type) {
      case 'addVoter':
        if (existing) existing.isLearner = false;
        else this.prs.set(cc.node, this.newProgress(cc.node, false));
        break;
      case 'addLearner':
        // Demoting a voter is not a single-server change; it is refused at proposal time.
        if (!existing) this.prs.set(cc.node, this.newProgress(cc.node, true));
        break;
      case 'remove':
        this.prs.delete(cc.node);
        if (this.leadTransferee === cc.node) this.abortLeaderTransfer();
        break;
      case 'update':
        return;
    }
    if (this.role !== Role.Leader) return;
    if (!this.isVoter(this.id)) {
      // A leader that has applied its own removal stops leading; the remaining voters elect a new one.
      this.becomeFollower(this.term, NONE);
      return;
    }
    // The quorum may have shrunk: entries may now be committed, and new members need the log.
    if (this.maybeCommit()) this.bcastAppend();
    else for (const pr of this.prs.values()) if (pr.id !== this.id && pr.match === 0) this.sendAppend(pr.id);
  }

  private newProgress(id: NodeId, learner: boolean): Progress {
    const pr = new Progress(id, ++this.copies, this.log.lastIndex() + 1, this.maxInflight, learner, this.maxInflightBytes);
    // A new member starts as recently active so the first check-quorum round does not count it as lost.
    pr.recentActive = true;
    return pr;
  }

  /**
   * Set by a host that is shutting down: the node takes no leadership from now on — it neither campaigns nor
   * answers a transfer (TimeoutNow) — so a leaving node is not handed groups it would have to hand on again
   * at once, with proposals made to it meanwhile waiting on two transfers or lost with its term.
   */
  refusesLeadership = false;
  /** As leader: the peers that refused a transfer (shutting down), not offered leadership again this term. */
  private readonly refusingPeers = new Set<NodeId>();

  /** Whether this node may campaign: a voter with no unapplied snapshot or membership change, not shutting down. */
  private promotable(): boolean {
    if (this.refusesLeadership || !this.isVoter(this.id) || this.log.unstableSnapshot) return false;
    for (let i = this.log.applied + 1; i <= this.log.committed; i++) {
      const [e] = this.log.slice(i, i + 1, Infinity);
      if (e.type === EntryType.ConfChange) return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- role transitions

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.quiesced = false;
    this.idleTicks = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.rng.int(0, this.electionTimeout);
    this.abortLeaderTransfer();
    this.transferStarted = false;
    this.refusingPeers.clear();
    this.votes.clear();
    this.readOnly.reset();
    // Deferred changes go to whoever leads next, like proposals held during a transfer.
    if (this.deferredConfChanges.length > 0) {
      this.heldProposals.push(...this.deferredConfChanges);
      this.deferredConfChanges = [];
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    const next = this.log.lastIndex() + 1;
    for (const pr of this.prs.values()) {
      pr.match = pr.id === this.id ? this.stableLastIndex() : 0;
      pr.next = next;
      pr.becomeProbe();
      pr.next = next;
      pr.recentActive = pr.id === this.id;
      pr.ackedReadSeq = 0;
      pr.ackedLeaseTick = -Infinity;
    }
  }

  /** Last index of the log that the host has persisted. */
  private stableLastIndex(): number {
    return this.log.unstableSnapshot ? this.log.storage.lastIndex() : this.log.unstableOffset - 1;
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    // A pre-election changes neither term nor vote (thesis §9.6).
    this.votes.clear();
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    this.prs.get(this.id)?.becomeReplicate();
    const self = this.prs.get(this.id);
    if (self) self.match = this.stableLastIndex();
    // The no-op of the new term (§5.4.2, §6.4): committing it commits everything before it and lets
    // reads and membership changes proceed. No membership change until it is applied (the fix for
    // the single-server change bug in the thesis errata).
    this.appendEntries([{ term: this.term, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
    this.pendingConfIndex = this.log.lastIndex();
    // Proposals held during a transfer that ended with us leading after all.
    if (this.heldProposals.length > 0) this.abandonLeaderTransfer();
  }

  // ---------------------------------------------------------------- time

  tick(): void {
    this.ticks++;
    if (this.role === Role.Leader) this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    if (this.quiesced) return;
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout && this.promotable()) {
      this.electionElapsed = 0;
      this.campaign(this.preVote ? 'pre' : 'normal');
    }
  }

  private tickLeader(): void {
    if (this.quiesced) return;
    if (this.quiesceAfter > 0 && ++this.idleTicks >= this.quiesceAfter && this.canQuiesce()) {
      this.quiesce();
      return;
    }
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NONE);
        return;
      }
      if (this.leadTransferee !== NONE) this.abandonLeaderTransfer();
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /**
   * Whether the group may go quiet: nothing in flight (no transfer, read, pending membership change or held
   * proposal), everything committed and applied here, and every member holding the whole log and heard from
   * lately — so a member that is down or behind keeps the group awake, and nobody needs a heartbeat for
   * anything but failure detection.
   */
  private canQuiesce(): boolean {
    const last = this.log.lastIndex();
    if (this.leadTransferee !== NONE || this.readOnly.pending > 0 || this.heldProposals.length > 0 || this.deferredConfChanges.length > 0) return false;
    if (this.log.committed !== last || this.log.applied !== last || this.pendingConfIndex > this.log.applied) return false;
    for (const pr of this.prs.values()) if (pr.id !== this.id && (pr.match !== last || !this.heardRecently(pr))) return false;
    return true;
  }

  private quiesce(): void {
    this.quiesced = true;
    for (const pr of this.prs.values()) {
      if (pr.id !== this.id) this.send({ type: MessageType.Heartbeat, to: pr.id, copy: pr.copy, commit: this.log.committed, quiesce: true, readSeq: this.readOnly.seq, leaseTick: this.ticks });
    }
  }

  /** Leave quiescence: a leader heartbeats again at once, a follower restarts its election timer. */
  wake(): void {
    this.idleTicks = 0;
    if (!this.quiesced) return;
    this.quiesced = false;
    this.electionElapsed = 0;
    if (this.role === Role.Leader) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** Whether the leader heard from `pr` within the last election timeout (steady, unlike recentActive). */
  heardRecently(pr: Progress): boolean {
    return pr.id === this.id || this.ticks - pr.lastHeardTick < this.electionTimeout;
  }

  /** CheckQuorum: did a majority of voters talk to us since the last round? Resets the marks. */
  private quorumActive(): boolean {
    let active = 0, n = 0;
    for (const pr of this.prs.values()) {
      if (pr.isLearner) continue;
      n++;
      if (pr.id === this.id || pr.recentActive) active++;
    }
    for (const pr of this.prs.values()) pr.recentActive = pr.id === this.id;
    return active >= Math.floor(n / 2) + 1;
  }

  /**
   * A voter that heard from a leader within an election timeout ignores disruptive elections. With
   * lease reads, so does a voter that just (re)started: it may have acknowledged a leader's lease
   * before the crash and forgotten it.
   */
  private inLease(): boolean {
    if (!this.checkQuorum) return false;
    if (this.leaseRead && this.ticks < this.electionTimeout) return true;
    return this.lead !== NONE && this.electionElapsed < this.electionTimeout;
  }

  // ---------------------------------------------------------------- elections

  /** Start an election now (also what TimeoutNow does, with force). */
  campaign(kind: 'pre' | 'normal' | 'transfer'): void {
    if (!this.promotable()) return;
    let voteTerm: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
      type = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
      type = MessageType.Vote;
    }
    if (this.recordVote(this.id, true) === 'won') return;
    for (const id of this.voters()) {
      if (id === this.id) continue;
      this.send({
        type,
        to: id,
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        force: kind === 'transfer' || undefined,
      });
    }
  }

  private recordVote(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const result = tallyVotes(this.voters(), this.votes);
    if (result === 'won') {
      if (this.role === Role.PreCandidate) this.campaign('normal');
      else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (result === 'lost') {
      this.becomeFollower(this.term, NONE);
    }
    return result;
  }

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === MessageType.PreVote;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (isPre && m.term > this.term);
    const upToDate = this.bugs.voteWithoutLogCheck || this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0);
    // A replica with nothing in its log never votes. It is one created to be added (every group starts from a
    // bootstrapped log), or one that was deleted after its removal and is being added again: its vote for a
    // member that missed the removal could make that member leader without entries the old replica had
    // acknowledged. A voter always has entries: a learner is promoted only once caught up.
    const hasLog = this.log.lastIndex() > 0 || this.bugs.voteWithEmptyLog === true;
    const respType = isPre ? MessageType.PreVoteResp : MessageType.VoteResp;
    if (canVote && upToDate && hasLog) {
      // A PreVote answer carries the proposed term so the pre-candidate can count it.
      this.send({ type: respType, to: m.from, term: m.term });
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------- the step function

  step(m: Message): void {
    // A quiet group wakes for anything but the heartbeat that quiets it and the answers to heartbeats.
    if (m.type !== MessageType.HeartbeatResp && !(m.type === MessageType.Heartbeat && m.quiesce)) this.wake();
    if (m.term > this.term && m.term !== 0) {
      const isVoteReq = m.type === MessageType.Vote || m.type === MessageType.PreVote;
      if (isVoteReq && !m.force && this.inLease()) return; // thesis §4.2.3: ignore disruptive candidates
      if (m.type === MessageType.PreVote) {
        // Answered below without changing our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A grant at the proposed term; counted below.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term && m.term !== 0) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.App || m.type === MessageType.Heartbeat)) {
        // A stale leader cut off by a partition learns our term and steps down.
        this.send({ type: MessageType.AppResp, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        this.stepLeader(m);
        break;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        break;
      default:
        this.stepFollower(m);
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        this.holdForwarded(m, 'no leader: an election is in progress');
        break;
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        break;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        break;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        break;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp:
        if (m.type === myResp) this.recordVote(m.from, !m.reject);
        break;
    }
  }

  /**
   * A proposal that finds no leader here. Our own is refused (the host waits for a leader and asks again). One
   * a peer forwarded — typically to us as its leader, just as we stepped down in a transfer — has nobody left to
   * tell, so it is held and goes to the next leader we hear from (or is appended if that is us), as proposals
   * held during a transfer are; refused past MAX_HELD_PROPOSALS, and then its proposer times out.
   */
  private holdForwarded(m: Message, why: string): void {
    if (m.from === this.id || this.heldProposals.length >= MAX_HELD_PROPOSALS) throw new RaftError('no-leader', why);
    this.heldProposals.push(m);
  }

  /** A message only the current leader sends: it is alive, it is the leader, and what we held can go to it. */
  private heardFromLeader(leader: NodeId): void {
    this.electionElapsed = 0;
    this.lead = leader;
    this.forwardHeldProposals();
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) this.holdForwarded(m, 'no leader known');
        else this.send({ ...m, to: this.lead, term: 0 });
        break;
      case MessageType.App:
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        break;
      case MessageType.Heartbeat:
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        break;
      case MessageType.Snap:
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        break;
      case MessageType.TimeoutNow:
        // Leadership transfer (thesis §3.10): campaign at once, past the leases of the other voters — unless
        // shutting down, when the leader is told at once rather than left holding proposals until it gives up.
        if (this.refusesLeadership) this.send({ type: MessageType.TransferRefused, to: m.from });
        else this.campaign('transfer');
        break;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index ?? 0, context: m.context ?? 0 });
        break;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        // A direct local call hears "retry later" as an error; a forwarded or held one has nobody to tell.
        this.leaderProposal(m, m.from !== this.id);
        return;
      case MessageType.ReadIndex:
        this.handleReadRequest({ from: m.from, context: m.context ?? 0 });
        return;
    }
    const pr = this.prs.get(m.from);
    if (!pr || (m.copy !== undefined && m.copy !== pr.copy && !this.bugs.acceptAnyCopy)) return;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        pr.lastHeardTick = this.ticks;
        this.handleAppendResponse(pr, m);
        break;
      case MessageType.TransferRefused:
        this.refusingPeers.add(m.from);
        if (m.from === this.leadTransferee) this.abandonLeaderTransfer();
        break;
      case MessageType.HeartbeatResp:
        pr.recentActive = true;
        pr.lastHeardTick = this.ticks;
        pr.probeSent = false;
        // Appends may have been lost: let one more through so a full window cannot stall the follower.
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirst();
        if (m.readSeq !== undefined && m.readSeq > pr.ackedReadSeq) pr.ackedReadSeq = m.readSeq;
        if (m.leaseTick !== undefined && m.leaseTick > pr.ackedLeaseTick) pr.ackedLeaseTick = m.leaseTick;
        if (pr.match < this.log.lastIndex()) this.sendAppend(pr.id);
        this.releaseConfirmedReads();
        break;
    }
  }

  // ---------------------------------------------------------------- replication (leader side)

  private handleProposal(entries: Entry[]): void {
    let bytes = 0;
    for (const e of entries) {
      bytes += e.data.byteLength;
      if (e.type === EntryType.ConfChange) this.checkConfChange(decodeConfChange(e.data));
    }
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes) {
      throw new RaftError('too-many-pending', 'too many uncommitted bytes; retry later');
    }
    this.uncommittedBytes += bytes;
    this.appendEntries(entries);
    if (entries.some((e) => e.type === EntryType.ConfChange)) this.pendingConfIndex = this.log.lastIndex();
    // Sent when the host collects the next Ready, so every proposal made until then shares one append.
    this.appendsPending = true;
  }

  /** Send the appends that proposals since the last Ready are waiting for. */
  flushAppends(): void {
    if (this.appendsPending && this.role === Role.Leader) this.bcastAppend();
    this.appendsPending = false;
  }

  private checkConfChange(cc: ConfChange): void {
    if (this.pendingConfIndex > this.log.applied) {
      throw new RaftError('conf-change-pending', 'another membership change is in progress; retry when it is applied');
    }
    const pr = this.prs.get(cc.node);
    if (cc.type === 'addVoter' && pr && !pr.isLearner) throw new RaftError('invalid', `${cc.node} is already a voter`);
    if (cc.type === 'addLearner' && pr) throw new RaftError('invalid', `${cc.node} is already a member`);
    if ((cc.type === 'remove' || cc.type === 'update') && !pr) throw new RaftError('invalid', `${cc.node} is not a member`);
    if (cc.type === 'remove' && pr && !pr.isLearner && [...this.voters()].length === 1) {
      throw new RaftError('invalid', 'cannot remove the last voter');
    }
  }

  private appendEntries(entries: Entry[]): void {
    let index = this.log.lastIndex();
    const stamped = entries.map((e) => ({ term: this.term, index: ++index, type: e.type, data: e.data }));
    this.log.append(stamped);
    // Our own copy counts toward a quorum only once persisted: see RawNode.persisted.
  }

  private handleAppendResponse(pr: Progress, m: Message): void {
    if (m.reject) {
      let hint = m.rejectHint ?? 0;
      if ((m.logTerm ?? 0) > 0) hint = this.log.findConflictByTerm(hint, m.logTerm ?? 0).index;
      if (pr.maybeDecrTo(m.index ?? 0, hint)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(pr.id);
      }
      return;
    }
    const index = m.index ?? 0;
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(pr.id);
      return;
    }
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(index);

    if (this.maybeCommit()) this.bcastAppend();
    else while (this.sendAppend(pr.id, false));

    if (pr.id === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(pr.id);
  }

  /** Raft §5.3/§5.4.2: commit the majority index, but only by counting replicas of a current-term entry. */
  maybeCommit(): boolean {
    const mci = majorityIndex(this.voters(), (id) => this.prs.get(id)?.match ?? 0);
    if (mci <= this.log.committed || mci === Infinity) return false;
    const t = this.log.termOrUndefined(mci);
    if (t !== this.term && !this.bugs.commitPriorTermByCount) return false;
    const hadCurrentTermCommit = this.committedCurrentTerm();
    this.log.commitTo(mci);
    if (!hadCurrentTermCommit && this.committedCurrentTerm()) {
      for (const req of this.readOnly.takeDeferred()) this.handleReadRequest(req);
    }
    return true;
  }

  private committedCurrentTerm(): boolean {
    return this.log.termOrUndefined(this.log.committed) === this.term;
  }

  /** Our own log is persisted up to `index`: count it toward the quorum. */
  selfPersisted(index: number): void {
    const self = this.prs.get(this.id);
    if (!self || this.role !== Role.Leader) return;
    if (self.maybeUpdate(index) && this.maybeCommit()) this.bcastAppend();
  }

  /** Entries of size `bytes` were applied: they no longer count against maxUncommittedBytes. */
  reduceUncommitted(bytes: number): void {
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  /** Send the next batch of entries (or a snapshot) to `to`. Returns whether a message went out. */
  sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.termOrUndefined(prevIndex);
    let entries: Entry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxSizePerMsg);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
      }
    }
    if (prevTerm === undefined || entries === undefined) {
      // The follower needs entries we have compacted away: send the snapshot instead.
      if (!pr.recentActive) return false;
      const snapshot = this.log.snapshot();
      pr.becomeSnapshot(snapshot.meta.index);
      this.send({ type: MessageType.Snap, to, copy: pr.copy, snapshot });
      return true;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: MessageType.App, to, copy: pr.copy, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed });
    let bytes = 0;
    for (const e of entries) bytes += e.data.byteLength;
    pr.sentEntries(entries.length, entries.length > 0 ? entries[entries.length - 1].index : prevIndex, bytes);
    return true;
  }

  private bcastHeartbeat(): void {
    const seq = this.readOnly.seq;
    this.readOnly.needsHeartbeat = false;
    for (const pr of this.prs.values()) {
      if (pr.id === this.id) continue;
      this.send({
        type: MessageType.Heartbeat,
        to: pr.id,
        copy: pr.copy,
        // Never tell a follower to commit past what it is known to hold.
        commit: Math.min(pr.match, this.log.committed),
        readSeq: seq,
        leaseTick: this.ticks,
      });
    }
  }

  /** The host reports that a snapshot sent to `to` finished (or failed). */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.prs.get(to);
    if (this.role !== Role.Leader || !pr || pr.state !== ProgressState.Snapshot) return;
    if (!ok) pr.pendingSnapshot = 0;
    // Either way probe next: the follower's answer says where it is.
    pr.becomeProbe();
    pr.probeSent = true; // wait for the follower's answer or the next heartbeat
  }

  /** The host could not reach `to`: stop pipelining to it until it answers again. */
  reportUnreachable(to: NodeId): void {
    const pr = this.prs.get(to);
    if (this.role === Role.Leader && pr && pr.state === ProgressState.Replicate) pr.becomeProbe();
  }

  // ---------------------------------------------------------------- replication (follower side)

  private handleAppend(m: Message): void {
    const index = m.index ?? 0;
    if (index < this.log.committed) {
      this.send({ type: MessageType.AppResp, to: m.from, copy: m.copy, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(index, m.logTerm ?? 0, m.commit ?? 0, m.entries ?? []);
    if (lastNew !== undefined) {
      this.send({ type: MessageType.AppResp, to: m.from, copy: m.copy, index: lastNew });
      return;
    }
    // Tell the leader where our log could match, so it skips whole terms (thesis §5.3 optimisation).
    const hint = this.log.findConflictByTerm(Math.min(index, this.log.lastIndex()), m.logTerm ?? 0);
    this.send({ type: MessageType.AppResp, to: m.from, copy: m.copy, index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
    this.send({ type: MessageType.HeartbeatResp, to: m.from, copy: m.copy, readSeq: m.readSeq, leaseTick: m.leaseTick });
    // Quiet only with the whole of the leader's log: a follower missing entries keeps its timer (and the
    // leader, seeing it behind, wakes at its next message).
    if (m.quiesce && this.log.lastIndex() === m.commit) this.quiesced = true;
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (snap && this.restore(snap)) {
      this.send({ type: MessageType.AppResp, to: m.from, copy: m.copy, index: this.log.lastIndex() });
    } else {
      this.send({ type: MessageType.AppResp, to: m.from, copy: m.copy, index: this.log.committed });
    }
  }

  private restore(snap: Snapshot): boolean {
    const { index, term } = snap.meta;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already hold the snapshot's last entry: just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snap);
    this.setConf(snap.meta.confState);
    return true;
  }

  // ---------------------------------------------------------------- reads

  /** Request a linearizable read; a ReadState with this context appears when it may be served. */
  readIndex(context: number): void {
    this.wake();
    if (this.role === Role.Leader) this.handleReadRequest({ from: this.id, context });
    else if (this.lead === NONE || this.role !== Role.Follower) throw new RaftError('no-leader', 'no leader known');
    else this.send({ type: MessageType.ReadIndex, to: this.lead, term: 0, context });
  }

  private handleReadRequest(req: ReadRequest): void {
    if (!this.committedCurrentTerm()) {
      // Our commit index may lag the previous leader's until an entry of our term commits (§6.4 step 1).
      this.readOnly.deferUntilCommit(req);
      return;
    }
    const index = this.log.committed;
    const voters = [...this.voters()];
    if ((voters.length === 1 && voters[0] === this.id) || this.leaseValid()) {
      this.respondToRead(req, index);
      return;
    }
    this.readOnly.add(req, index);
  }

  /**
   * The lease holds while a majority acknowledged a heartbeat sent less than an election timeout
   * (minus the drift margin) ago: those voters refuse to elect anyone else until it ends.
   */
  leaseValid(): boolean {
    if (!this.leaseRead || this.role !== Role.Leader || this.transferStarted) return false;
    const since = majorityIndex(this.voters(), (id) => (id === this.id ? this.ticks : (this.prs.get(id)?.ackedLeaseTick ?? -Infinity)));
    return this.ticks < since + this.electionTimeout - this.leaseMargin;
  }

  private releaseConfirmedReads(): void {
    const confirmed = (seq: number) =>
      majorityIndex(this.voters(), (id) => (id === this.id ? Infinity : (this.prs.get(id)?.ackedReadSeq ?? 0))) >= seq;
    for (const r of this.readOnly.release(confirmed)) this.respondToRead(r, r.index);
  }

  private respondToRead(req: ReadRequest, index: number): void {
    if (req.from === this.id) this.readStates.push({ index, context: req.context });
    else this.send({ type: MessageType.ReadIndexResp, to: req.from, index, context: req.context });
  }

  /** Send the heartbeat round that confirms reads queued since the last one. */
  flushReadHeartbeat(): void {
    if (this.readOnly.needsHeartbeat && this.role === Role.Leader) this.bcastHeartbeat();
  }

  // ---------------------------------------------------------------- leadership transfer

  /** As leader: whether `id` refused a transfer this term (it is shutting down). */
  refusedTransfer(id: NodeId): boolean {
    return this.refusingPeers.has(id);
  }

  transferLeader(to: NodeId): void {
    if (this.role !== Role.Leader) throw new RaftError('not-leader', 'only the leader can transfer leadership');
    this.wake();
    if (to === this.id) return;
    if (!this.isVoter(to)) throw new RaftError('invalid', `${to} is not a voter`);
    if (this.leadTransferee === to || this.refusingPeers.has(to)) return;
    this.leadTransferee = to;
    // The transfer is abandoned if it has not happened within an election timeout.
    this.electionElapsed = 0;
    const pr = this.prs.get(to);
    if (pr && pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.transferStarted = true;
    this.send({ type: MessageType.TimeoutNow, to });
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  /**
   * A proposal reaching the leader. During a transfer it is held (for the next leader); a membership
   * change that must wait for a pending one is deferred when `canDefer`, else refused.
   */
  private leaderProposal(m: Message, canDefer: boolean): void {
    if (this.leadTransferee === NONE && this.removesSelf(m)) this.transferToBestVoter();
    if (this.leadTransferee !== NONE) {
      if (this.heldProposals.length < MAX_HELD_PROPOSALS) this.heldProposals.push(m);
      return;
    }
    const isConfChange = (m.entries ?? []).some((e) => e.type === EntryType.ConfChange);
    if (canDefer && isConfChange && this.pendingConfIndex > this.log.applied) {
      if (this.deferredConfChanges.length < MAX_HELD_PROPOSALS) this.deferredConfChanges.push(m);
      return;
    }
    this.handleProposal(m.entries ?? []);
  }

  /** After entries are applied: propose the next deferred membership change, if its turn has come. */
  proposeDeferred(): void {
    while (this.role === Role.Leader && this.deferredConfChanges.length > 0 && this.pendingConfIndex <= this.log.applied) {
      this.replay(this.deferredConfChanges.shift()!);
    }
  }

  /** Propose a held or deferred message now; one that is no longer valid (e.g. already applied) is dropped. */
  private replay(m: Message): void {
    try {
      this.leaderProposal(m, true);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  /** A proposal to remove this leader: it is carried out by the next leader, after a transfer. */
  private removesSelf(m: Message): boolean {
    return (m.entries ?? []).some((e) => {
      if (e.type !== EntryType.ConfChange) return false;
      const cc = decodeConfChange(e.data);
      return cc.type === 'remove' && cc.node === this.id;
    });
  }

  /** Start a transfer to the voter with the most of our log, if there is one. */
  private transferToBestVoter(): void {
    let best: Progress | undefined;
    for (const pr of this.prs.values()) {
      if (pr.id === this.id || pr.isLearner || this.refusingPeers.has(pr.id)) continue;
      if (!best || pr.match > best.match) best = pr;
    }
    if (best) this.transferLeader(best.id);
  }

  /** The transfer was abandoned and we still lead: append what we held. */
  private abandonLeaderTransfer(): void {
    this.abortLeaderTransfer();
    const held = this.heldProposals;
    this.heldProposals = [];
    for (const m of held) this.replay(m);
  }

  /** A new leader is known: pass it what we held during the transfer. */
  private forwardHeldProposals(): void {
    if (this.heldProposals.length === 0 || this.lead === NONE) return;
    for (const m of this.heldProposals) this.send({ ...m, to: this.lead, term: 0 });
    this.heldProposals = [];
  }

  // ---------------------------------------------------------------- output

  private send(m: Omit<Message, 'from' | 'term'> & { term?: number }): void {
    this.msgs.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }
}
