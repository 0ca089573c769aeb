// Snapshots travel in chunks, not as one Raft message: a large image would otherwise hold up every
// heartbeat queued behind it on the same connection. The sender keeps a window of unacknowledged
// chunks (flow control); the receiver checks a CRC over the whole image before handing Raft the
// assembled snapshot. Lost chunks are resent from the first unacknowledged one (go-back-N) when
// acknowledgements stop advancing for `resendMs`; a transfer that makes no progress at all for `stallMs`
// is reported failed, so Raft probes the follower again and a fresh transfer starts.

import { crc32 } from '../storage/checksum.ts';
import { MessageType, type Message, type NodeId, type SnapshotMeta } from '../raft/types.ts';

export interface SnapshotChunk {
  /** Transfer id, unique per sender. */
  id: number;
  /** The Snap message without its data (term, copy, meta). */
  term: number;
  copy?: number;
  meta: SnapshotMeta;
  seq: number;
  total: number;
  /** CRC-32 of the whole image. */
  crc: number;
  bytes: Uint8Array;
}

export interface SnapshotAck {
  id: number;
  seq: number;
}

export interface StreamOptions {
  self: NodeId;
  chunkBytes: number;
  window: number;
  /** A transfer with no acknowledgement for this long is abandoned. */
  stallMs: number;
  /** Resend from the first unacknowledged chunk when acknowledgements stall this long. Default stallMs / 20. */
  resendMs?: number;
  sendChunk: (to: NodeId, chunk: SnapshotChunk) => void;
  sendAck: (to: NodeId, ack: SnapshotAck) => void;
  /** The transfer to `to` ended: Raft learns whether to resume replication or probe again. */
  finished: (to: NodeId, ok: boolean) => void;
  /** A complete, verified snapshot arrived: step it into Raft. */
  deliver: (m: Message) => void;
}

interface Outgoing {
  id: number;
  term: number;
  copy?: number;
  meta: SnapshotMeta;
  data: Uint8Array;
  crc: number;
  total: number;
  next: number;
  acked: number;
  timer: NodeJS.Timeout;
  resend: NodeJS.Timeout;
}

interface Incoming {
  id: number;
  parts: Uint8Array[];
  received: number;
}

export class SnapshotStreamer {
  private nextId = 1;
  private readonly outgoing = new Map<NodeId, Outgoing>();
  private readonly incoming = new Map<NodeId, Incoming>();
  sent = 0;
  chunksSent = 0;
  /** Chunks accepted in order (duplicates and chunks past a gap are not counted). */
  chunksReceived = 0;
  received = 0;

  constructor(private readonly o: StreamOptions) {}

  /** Start sending the snapshot of a Snap message (replacing any transfer still running to that peer). */
  send(m: Message): void {
    const snap = m.snapshot!;
    this.abandon(m.to, false);
    const total = Math.max(1, Math.ceil(snap.data.byteLength / this.o.chunkBytes));
    const out: Outgoing = {
      id: this.nextId++,
      term: m.term,
      copy: m.copy,
      meta: snap.meta,
      data: snap.data,
      crc: crc32(snap.data),
      total,
      next: 0,
      acked: 0,
      timer: this.stallTimer(m.to),
      resend: this.resendTimer(m.to),
    };
    this.outgoing.set(m.to, out);
    this.sent++;
    this.pump(m.to, out);
  }

  private stallTimer(to: NodeId): NodeJS.Timeout {
    const t = setTimeout(() => this.abandon(to, true), this.o.stallMs);
    t.unref();
    return t;
  }

  private resendTimer(to: NodeId): NodeJS.Timeout {
    const t = setTimeout(() => {
      const out = this.outgoing.get(to);
      if (!out) return;
      out.next = out.acked; // go back to the first chunk the receiver has not confirmed
      out.resend = this.resendTimer(to);
      this.pump(to, out);
    }, this.o.resendMs ?? Math.max(10, this.o.stallMs / 20));
    t.unref();
    return t;
  }

  private pump(to: NodeId, out: Outgoing): void {
    while (out.next < out.total && out.next - out.acked < this.o.window) {
      const seq = out.next++;
      const bytes = out.data.subarray(seq * this.o.chunkBytes, Math.min(out.data.byteLength, (seq + 1) * this.o.chunkBytes));
      this.o.sendChunk(to, { id: out.id, term: out.term, copy: out.copy, meta: out.meta, seq, total: out.total, crc: out.crc, bytes });
      this.chunksSent++;
    }
  }

  /** Whether a transfer to `to` is in progress. */
  sending(to: NodeId): boolean {
    return this.outgoing.has(to);
  }

  /** An acknowledgement from the receiver. */
  onAck(from: NodeId, ack: SnapshotAck): void {
    const out = this.outgoing.get(from);
    if (!out || out.id !== ack.id || ack.seq + 1 <= out.acked) return; // stale or duplicate
    out.acked = ack.seq + 1;
    if (out.next < out.acked) out.next = out.acked;
    clearTimeout(out.timer);
    clearTimeout(out.resend);
    if (out.acked >= out.total) {
      this.outgoing.delete(from);
      this.o.finished(from, true);
      return;
    }
    out.timer = this.stallTimer(from);
    out.resend = this.resendTimer(from);
    this.pump(from, out);
  }

  /** A chunk from a leader. Chunks arrive in order on one connection; anything else restarts the image. */
  onChunk(from: NodeId, c: SnapshotChunk): void {
    let inc = this.incoming.get(from);
    if (!inc || inc.id !== c.id) {
      if (c.seq !== 0) return; // the middle of a transfer whose start we missed: the sender goes back to 0
      inc = { id: c.id, parts: [], received: 0 };
      this.incoming.set(from, inc);
    }
    if (c.seq !== inc.received) {
      // A duplicate or a gap: say again how far we are, so the sender resends from there.
      if (inc.received > 0) this.o.sendAck(from, { id: c.id, seq: inc.received - 1 });
      return;
    }
    inc.parts.push(c.bytes.slice());
    inc.received++;
    this.chunksReceived++;
    this.o.sendAck(from, { id: c.id, seq: c.seq });
    if (inc.received < c.total) return;
    this.incoming.delete(from);
    const data = Buffer.concat(inc.parts);
    if (crc32(data) !== c.crc) return; // damaged on the way: never applied; the sender will try again
    this.received++;
    this.o.deliver({ type: MessageType.Snap, from, to: this.o.self, term: c.term, copy: c.copy, snapshot: { meta: c.meta, data } });
  }

  private abandon(to: NodeId, report: boolean): void {
    const out = this.outgoing.get(to);
    if (!out) return;
    clearTimeout(out.timer);
    clearTimeout(out.resend);
    this.outgoing.delete(to);
    if (report) this.o.finished(to, false);
  }

  close(): void {
    for (const out of this.outgoing.values()) {
      clearTimeout(out.timer);
      clearTimeout(out.resend);
    }
    this.outgoing.clear();
    this.incoming.clear();
  }
}
