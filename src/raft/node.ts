// RawNode: the host's handle on a Raft instance. It turns the state machine's accumulated output into
// one Ready at a time. Exactly one Ready is outstanding: the host starts persisting it, sends what may
// go before it is durable, applies its committed entries, and calls advance(). Persisting may finish
// later, even after later Readies were handed out (etcd's asynchronous storage writes): the host
// calls persisted(rd) for each Ready in the order they were handed out, once its entries, snapshot
// and hard state are durable, and sends the messages that had to wait for that.

import { encodeConfChange } from './conf-change.ts';
import { Raft, type RaftConfig } from './raft.ts';
import { entryBytes } from './storage.ts';
import {
  EntryType,
  MessageType,
  RaftError,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Role,
  type SoftState,
} from './types.ts';
import { decodeConfChange } from './conf-change.ts';

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId;
  leader: NodeId;
  role: Role;
  commit: number;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  leadTransferee: NodeId;
  /** Leader only: each member's replication state. */
  progress?: Record<NodeId, { match: number; next: number; state: string; learner: boolean; recentActive: boolean }>;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | undefined;

  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.prevSoft = this.softState();
    this.prevHard = this.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  /** Feed a message from a peer. Local-only message types arriving from the network are refused. */
  step(m: Message): void {
    if (m.type === MessageType.Prop && m.term !== 0) throw new RaftError('invalid', 'proposals carry no term');
    this.raft.step(m);
  }

  /** Propose normal entries (one per datum). Throws RaftError if they cannot be accepted here. */
  propose(...data: Uint8Array[]): void {
    const entries: Entry[] = data.map((d) => ({ term: 0, index: 0, type: EntryType.Normal, data: d }));
    this.raft.step({ type: MessageType.Prop, from: this.id, to: this.id, term: 0, entries });
  }

  /** Propose a single-server membership change; it takes effect when applied. */
  proposeConfChange(cc: ConfChange): void {
    const entry: Entry = { term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) };
    this.raft.step({ type: MessageType.Prop, from: this.id, to: this.id, term: 0, entries: [entry] });
  }

  readIndex(context: number): void {
    this.raft.readIndex(context);
  }

  transferLeader(to: NodeId): void {
    this.raft.transferLeader(to);
  }

  /** Wake a quiescent group (RaftConfig.quiesceAfterTicks): the host learnt that a member may be gone. */
  wake(): void {
    this.raft.wake();
  }

  /** Whether the group is quiescent on this node. */
  quiesced(): boolean {
    return this.raft.quiesced;
  }

  /** Campaign now (e.g. the only node of a new cluster); no-op if this node may not. */
  campaign(): void {
    this.raft.campaign(this.raft.preVote ? 'pre' : 'normal');
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(to, ok);
  }

  reportUnreachable(to: NodeId): void {
    this.raft.reportUnreachable(to);
  }

  confState(): ConfState {
    return this.raft.confState();
  }

  private softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    const soft = this.softState();
    const hard = this.hardState();
    return (
      soft.leader !== this.prevSoft.leader ||
      soft.role !== this.prevSoft.role ||
      !sameHardState(hard, this.prevHard) ||
      r.log.hasUnstableToPersist() ||
      (r.log.unstableSnapshot !== undefined && !r.log.snapshotInProgress) ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.readOnly.needsHeartbeat ||
      r.log.hasNextCommitted()
    );
  }

  ready(): Ready {
    if (this.outstanding) throw new Error('ready() called again before advance()');
    const r = this.raft;
    r.flushAppends();
    r.flushReadHeartbeat();
    const soft = this.softState();
    const hard = this.hardState();
    const rd: Ready = {
      entries: r.log.unstableToPersist(),
      committedEntries: r.log.nextCommitted(r.maxCommittedSizePerReady),
      messages: r.msgs,
      readStates: r.readStates,
    };
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) rd.softState = soft;
    if (!sameHardState(hard, this.prevHard)) rd.hardState = hard;
    if (r.log.unstableSnapshot && !r.log.snapshotInProgress) rd.snapshot = r.log.unstableSnapshot;
    // Handed out now, not at advance(): entries that replace these before then must go out again.
    r.log.acceptInProgress();
    r.msgs = [];
    r.readStates = [];
    this.prevSoft = soft;
    this.outstanding = rd;
    return rd;
  }

  /**
   * The host has handled the last Ready: started persisting it, sent or queued its messages, restored
   * its snapshot and applied its committed entries. Its entries count as persisted only at persisted().
   */
  advance(): void {
    const rd = this.outstanding;
    if (!rd) throw new Error('advance() without an outstanding Ready');
    this.outstanding = undefined;
    const r = this.raft;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) r.log.appliedTo(rd.snapshot.meta.index);
    if (rd.committedEntries.length > 0) {
      let bytes = 0;
      for (const e of rd.committedEntries) {
        bytes += entryBytes(e) - 16;
        r.log.appliedTo(e.index);
        if (e.type === EntryType.ConfChange) r.applyConfChange(decodeConfChange(e.data));
      }
      r.reduceUncommitted(bytes);
      r.proposeDeferred();
    }
  }

  /**
   * `rd`'s entries, snapshot and hard state are durable. Call for every Ready that had any, in the
   * order the Readies were handed out; before or after its advance().
   */
  persisted(rd: Ready): void {
    const r = this.raft;
    if (rd.snapshot) r.log.stableSnapTo(rd.snapshot.meta.index);
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      r.log.stableTo(last.index, last.term);
      // Our own copy counts toward a quorum only now (a leader sends its appends before its fsync).
      if (r.log.matchTerm(last.index, last.term)) r.selfPersisted(last.index);
    }
  }

  status(): Status {
    const r = this.raft;
    const st: Status = {
      id: r.id,
      term: r.term,
      vote: r.vote,
      leader: r.lead,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      leadTransferee: r.leadTransferee,
    };
    if (r.role === 'leader') {
      st.progress = {};
      for (const pr of r.prs.values()) {
        st.progress[pr.id] = { match: pr.match, next: pr.next, state: pr.state, learner: pr.isLearner, recentActive: pr.recentActive || r.heardRecently(pr) };
      }
    }
    return st;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
