// What the leader knows about each follower's log, and the flow control that follows from it
// (etcd's tracker.Progress): Probe sends one append at a time until the follower's position is found,
// Replicate pipelines appends up to a window of in-flight messages, Snapshot waits for a snapshot.

import type { NodeId } from './types.ts';

export const ProgressState = { Probe: 'probe', Replicate: 'replicate', Snapshot: 'snapshot' } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/**
 * The appends in flight to one follower, oldest first: the last index each carried and its entries' bytes.
 * Full at `capacity` messages or `maxBytes` bytes (etcd's MaxInflightMsgs and MaxInflightBytes); an empty
 * window always takes one message, however large, so an entry bigger than `maxBytes` still goes.
 */
export class Inflights {
  private index: number[] = [];
  private size: number[] = [];
  private total = 0;
  constructor(
    readonly capacity: number,
    readonly maxBytes = Infinity,
  ) {}
  get count(): number {
    return this.index.length;
  }
  get bytes(): number {
    return this.total;
  }
  full(): boolean {
    return this.index.length >= this.capacity || this.total >= this.maxBytes;
  }
  add(lastIndex: number, bytes = 0): void {
    this.index.push(lastIndex);
    this.size.push(bytes);
    this.total += bytes;
  }
  /** An acknowledgement up to `index` frees every append that ended at or before it. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.index.length && this.index[n] <= index) this.total -= this.size[n++];
    if (n > 0) {
      this.index.splice(0, n);
      this.size.splice(0, n);
    }
  }
  freeFirst(): void {
    if (this.index.length === 0) return;
    this.index.shift();
    this.total -= this.size.shift()!;
  }
  reset(): void {
    this.index.length = 0;
    this.size.length = 0;
    this.total = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Probe: an append is outstanding; wait for its answer or the next heartbeat. */
  probeSent = false;
  /** In Snapshot: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Leader tick at which we last heard from this member (survives CheckQuorum's resets). */
  lastHeardTick = -Infinity;
  /** Highest read-confirmation round this peer has acknowledged (ReadIndex). */
  ackedReadSeq = 0;
  /** Leader tick at which the newest heartbeat this peer acknowledged was sent (lease reads). */
  ackedLeaseTick = -Infinity;
  readonly inflights: Inflights;

  /** `copy`: the leader's number for this member's copy (Message.copy); answers carrying another are not its. */
  constructor(
    readonly id: NodeId,
    readonly copy: number,
    next: number,
    maxInflight: number,
    public isLearner: boolean,
    maxInflightBytes = Infinity,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      // Resume after the snapshot, which the follower is likely to have applied.
      const snapIndex = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, snapIndex + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapIndex;
  }

  /** The follower accepted entries up to n. Returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Optimistically advance next after sending entries (`bytes` of them) up to lastSent (Replicate only). */
  sentEntries(count: number, lastSent: number, bytes = 0): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = lastSent + 1;
        this.inflights.add(lastSent, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    }
  }

  /**
   * The follower rejected an append at `rejected`; `matchHint` is the highest index it might share.
   * Returns false if the rejection is stale (an answer to an append we have since moved past).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }
}
