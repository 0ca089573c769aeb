// The vocabulary shared by the consensus core and its host. Everything here is plain data so that
// the host can persist it (storage/) and send it (transport/) without knowing how raft/ uses it.

export type NodeId = string;

/** No leader known / no vote cast. */
export const NONE: NodeId = '';

export const EntryType = { Normal: 0, ConfChange: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque to raft/ for normal entries; an encoded ConfChange for ConfChange entries. Empty = leader no-op. */
  data: Uint8Array;
}

/** What a node must persist before it sends any message that depends on it (Raft paper, Figure 2). */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** The membership of one Raft group. Voters form quorums; learners only receive the log. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** The state machine's image at meta.index; opaque to raft/. */
  data: Uint8Array;
}

/** `update` changes no membership: it carries a member's new context (its address) through the log. */
export const ConfChangeType = { AddVoter: 'addVoter', AddLearner: 'addLearner', Remove: 'remove', Update: 'update' } as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** A single-server membership change (Raft thesis §4.1); it takes effect when applied. */
export interface ConfChange {
  type: ConfChangeType;
  node: NodeId;
  /** Opaque to raft/: the host's description of the node (e.g. its addresses). */
  context?: string;
}

export const MessageType = {
  /** Local: a proposal forwarded by a follower to the leader. */
  Prop: 1,
  App: 2,
  AppResp: 3,
  Vote: 4,
  VoteResp: 5,
  PreVote: 6,
  PreVoteResp: 7,
  Heartbeat: 8,
  HeartbeatResp: 9,
  Snap: 10,
  TimeoutNow: 11,
  ReadIndex: 12,
  ReadIndexResp: 13,
  /** A node that takes no leadership (shutting down) answers TimeoutNow with this: the leader abandons the transfer at once. */
  TransferRefused: 14,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One message between peers. Fields are reused across types as in etcd's raft:
 *  - App:        index/logTerm = entry preceding `entries`; commit = leader's commit index.
 *  - AppResp:    index = last index accepted, or on reject the probed index; rejectHint/logTerm = conflict hint.
 *  - Vote/PreVote: index/logTerm = candidate's last entry; `force` = leadership transfer (ignore leases).
 *  - Heartbeat:  commit = min(leader commit, follower match); readSeq/leaseTick echoed back in the response.
 *  - ReadIndex:  context = the follower's request id; ReadIndexResp carries the read index in `index`.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  index?: number;
  logTerm?: number;
  commit?: number;
  entries?: Entry[];
  reject?: boolean;
  rejectHint?: number;
  snapshot?: Snapshot;
  force?: boolean;
  readSeq?: number;
  leaseTick?: number;
  context?: number;
  /** On a heartbeat: the group is idle and every member caught up; stop the election timer until anything else arrives. */
  quiesce?: boolean;
  /**
   * On App, Heartbeat and Snap: the leader's number for the copy it writes to (new each time the member is
   * added); echoed in the AppResp or HeartbeatResp. The leader ignores an answer carrying another number: it
   * came from a copy since removed (and perhaps deleted and created again under the same member id), whose
   * log says nothing about the copy there now. Absent in answers from a node that does not echo it.
   */
  copy?: number;
}

/** A linearizable read may be served once the local applied index reaches `index`. */
export interface ReadState {
  index: number;
  context: number;
}

export const Role = { Follower: 'follower', PreCandidate: 'pre-candidate', Candidate: 'candidate', Leader: 'leader' } as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface SoftState {
  leader: NodeId;
  role: Role;
}

/**
 * Everything the host must do, in order: persist `snapshot`, `entries` and `hardState` (one fsync),
 * then send `messages`, apply `committedEntries`, serve `readStates`, and call advance().
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  /** Entries to append to stable storage; any stored entries at or after entries[0].index are replaced. */
  entries: Entry[];
  /** A snapshot received from the leader, to persist and restore before applying anything else. */
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
}

export class RaftError extends Error {
  constructor(
    readonly code: 'not-leader' | 'no-leader' | 'conf-change-pending' | 'too-many-pending' | 'compacted' | 'unavailable' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}
