// Linearizable reads without writing the log (Raft thesis §6.4, ReadIndex). Each read records the
// leader's commit index and a sequence number; a heartbeat round carrying a sequence number >= the
// read's, acknowledged by a majority at the leader's term, proves the leader was still the leader
// after the read arrived, so the recorded commit index covers every write acknowledged before it.
// Many reads share one heartbeat round.

import type { NodeId } from './types.ts';

export interface ReadRequest {
  /** Who asked: the leader itself or a follower that forwarded the read. */
  from: NodeId;
  context: number;
}

interface PendingRead extends ReadRequest {
  seq: number;
  index: number;
}

export class ReadOnlyQueue {
  private queue: PendingRead[] = [];
  /** Reads that arrived before the leader committed an entry of its term (its commit index may be stale). */
  private beforeCommit: ReadRequest[] = [];
  /** Sequence number of the newest read; heartbeats carry it. */
  seq = 0;
  /** A read arrived since the last heartbeat round. */
  needsHeartbeat = false;

  deferUntilCommit(req: ReadRequest): void {
    this.beforeCommit.push(req);
  }

  takeDeferred(): ReadRequest[] {
    const out = this.beforeCommit;
    this.beforeCommit = [];
    return out;
  }

  add(req: ReadRequest, index: number): void {
    this.queue.push({ ...req, seq: ++this.seq, index });
    this.needsHeartbeat = true;
  }

  /** Pop the reads confirmed by `isConfirmed(seq)`, oldest first; confirmation is monotonic in seq. */
  release(isConfirmed: (seq: number) => boolean): PendingRead[] {
    let n = 0;
    while (n < this.queue.length && isConfirmed(this.queue[n].seq)) n++;
    return n === 0 ? [] : this.queue.splice(0, n);
  }

  get pending(): number {
    return this.queue.length + this.beforeCommit.length;
  }

  reset(): void {
    this.queue = [];
    this.beforeCommit = [];
    this.needsHeartbeat = false;
  }
}
