// One outbound link to one peer: its bounded queue, its TCP connection (dialed lazily, redialed
// with backoff), and the writer that turns the queue into batched frames. Links are independent,
// so a slow or dead peer only ever fills its own bounded queue.
//
// Delivery is at-most-once: messages written to a connection that then dies are lost, and the
// queue sheds its oldest messages when full. Raft tolerates both (it retransmits), which is why
// nothing here acknowledges or resends individual messages.

import net from 'node:net';
import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.ts';
import { formatHostPort, type HostPort } from './address.ts';
import { BoundedQueue, type QueueLimits } from './bounded-queue.ts';
import { FRAME_HEADER_BYTES, FrameReader, OUT_OF_BAND_BYTES, type FrameCodec } from './frame-codec.ts';
import { isHelloReply, makeHello } from './handshake.ts';
import type { BackoffOptions, PeerIdentity, PeerStats } from './types.ts';

export interface LinkContext {
  nodeId: NodeId;
  clusterId: string;
  codec: FrameCodec;
  logger: Logger;
  backoff: BackoffOptions;
  connectTimeoutMs: number;
  maxFrameBytes: number;
  maxBatchBytes: number;
  queueLimits: QueueLimits;
  random: () => number;
  /** This node's listen address, announced in the handshake (undefined before start()). */
  advertisedAddr: () => string | undefined;
  identity: PeerIdentity | undefined;
  /** An established connection closed. */
  lost: (peer: NodeId) => void;
}

// Keeps 2 ** attempt finite; the delay is capped by backoff.maxMs long before this matters.
const MAX_BACKOFF_EXPONENT = 30;

export class PeerLink<T> {
  /** Messages held back by a delay fault right now; counted here so stats() can report them. */
  delayed = 0;
  private readonly counters = { dropped: 0, faultDropped: 0, sentFrames: 0, sentMessages: 0, sentBytes: 0, dials: 0, disconnects: 0, rejectedByPeer: 0 };
  private readonly queue: BoundedQueue<T>;
  private readonly log: Logger;
  private socket: net.Socket | null = null;
  private connected = false;
  private waitingDrain = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly batch: T[] = [];

  constructor(
    readonly id: NodeId,
    private address: HostPort,
    private readonly ctx: LinkContext,
    /** Which of the peer's links this is (PeerTransport's `bulky` option); for the log only. */
    stream: 'control' | 'bulk',
  ) {
    this.queue = new BoundedQueue<T>(ctx.queueLimits);
    this.log = ctx.logger.child({ peer: id, stream });
  }

  /** Queues one payload; false if it can never be sent (link closed, or bigger than a frame). */
  enqueue(payload: T, size: number): boolean {
    if (this.closed) return false;
    if (size > this.ctx.maxFrameBytes) {
      this.counters.dropped++;
      this.log.warn({ size, maxFrameBytes: this.ctx.maxFrameBytes }, 'message larger than the frame limit dropped');
      return false;
    }
    this.counters.dropped += this.queue.push(payload, size);
    if (this.socket === null && this.retryTimer === null) this.dial();
    return true;
  }

  countFaultDrop(): void {
    this.counters.faultDropped++;
  }

  /** Writes queued messages as frames until the queue is empty or the socket pushes back. */
  flush(): void {
    if (!this.connected || this.waitingDrain || this.socket === null) return;
    const socket = this.socket;
    while (this.queue.length > 0) {
      this.batch.length = 0;
      this.queue.takeBatch(this.ctx.maxBatchBytes, Number.MAX_SAFE_INTEGER, this.batch);
      const more = this.writeBatch(socket, this.batch, this.queue.takenBytes >= OUT_OF_BAND_BYTES);
      this.batch.length = 0; // do not pin sent payloads until the next flush
      if (!more) {
        this.waitingDrain = true; // the socket buffers at most one frame past its high-water mark
        return;
      }
    }
  }

  /** Points the link at a new address; an existing connection to the old one is dropped. */
  setAddress(address: HostPort): void {
    if (address.host === this.address.host && address.port === this.address.port) return;
    this.address = address;
    this.abandonSocket();
    this.attempt = 0;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.queue.length > 0 && !this.closed) this.dial();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.abandonSocket();
    this.queue.clear();
  }

  /** Whether the connection is up (stats().connected, without building the rest). */
  isConnected(): boolean {
    return this.connected;
  }

  stats(): PeerStats {
    return {
      address: formatHostPort(this.address),
      connected: this.connected,
      queuedMessages: this.queue.length,
      queuedBytes: this.queue.byteSize,
      socketBufferedBytes: this.socket?.writableLength ?? 0,
      delayed: this.delayed,
      ...this.counters,
    };
  }

  /**
   * Encodes and writes one batch, splitting it if it is unencodable or too big as one frame. A batch
   * that may hold large byte arrays (`large`: by the sizes it was queued with) is written as several
   * buffers around them (encodeFrameParts), the others as one.
   */
  private writeBatch(socket: net.Socket, batch: T[], large: boolean): boolean {
    let parts: Buffer[];
    try {
      parts = large ? this.ctx.codec.encodeFrameParts(batch) : [this.ctx.codec.encodeFrame(batch)];
    } catch (err) {
      if (batch.length > 1) return this.writeHalves(socket, batch, large);
      this.counters.dropped++;
      this.log.error({ err }, 'unencodable message dropped');
      return true;
    }
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    if (bytes - FRAME_HEADER_BYTES > this.ctx.maxFrameBytes) {
      // sizeOf underestimated: the receiver would reject this frame and close the connection.
      if (batch.length > 1) return this.writeHalves(socket, batch, large);
      this.counters.dropped++;
      this.log.warn({ bytes, maxFrameBytes: this.ctx.maxFrameBytes }, 'message larger than the frame limit dropped');
      return true;
    }
    this.counters.sentFrames++;
    this.counters.sentMessages += batch.length;
    this.counters.sentBytes += bytes;
    if (parts.length === 1) return socket.write(parts[0]);
    // Corked, the parts leave in one writev, without being joined first.
    socket.cork();
    let more = true;
    for (const p of parts) more = socket.write(p);
    socket.uncork();
    return more;
  }

  private writeHalves(socket: net.Socket, batch: T[], large: boolean): boolean {
    const mid = batch.length >>> 1;
    const first = this.writeBatch(socket, batch.slice(0, mid), large);
    const second = this.writeBatch(socket, batch.slice(mid), large);
    return first && second;
  }

  private dial(): void {
    this.counters.dials++;
    const { host, port } = this.address;
    const socket = net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true); // frames are already batched per event-loop turn; Nagle would only add latency
    socket.setKeepAlive(true, 10_000);
    socket.setTimeout(this.ctx.connectTimeoutMs);
    const reader = new FrameReader(this.ctx.maxFrameBytes);
    let wasConnected = false;

    socket.on('connect', () => {
      if (socket !== this.socket) return;
      socket.setTimeout(0); // idle links are normal; keepalive detects dead peers
      this.connected = true;
      wasConnected = true;
      this.log.debug({ address: formatHostPort(this.address) }, 'connected');
      socket.cork(); // the handshake and the first batch leave in one segment
      // Encoded at each connect: the identity it carries may have been learned since the last one.
      socket.write(this.ctx.codec.encodeFrame(makeHello(this.ctx.clusterId, this.ctx.nodeId, this.id, this.ctx.advertisedAddr(), this.ctx.identity?.current())));
      this.flush();
      socket.uncork();
    });
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.socket) return;
      try {
        reader.push(chunk, (body) => this.onReply(this.ctx.codec.decodeBody(body)));
      } catch (err) {
        this.log.warn({ err }, 'unreadable handshake reply; closing');
        socket.destroy();
      }
    });
    socket.on('drain', () => {
      if (socket !== this.socket) return;
      this.waitingDrain = false;
      this.flush();
    });
    socket.on('timeout', () => socket.destroy(new Error(`connect timeout after ${this.ctx.connectTimeoutMs} ms`)));
    socket.on('error', (err) => {
      if (socket !== this.socket) return;
      // While a peer stays down every redial fails: log the first failure loudly, the rest quietly.
      if (wasConnected) this.log.warn({ err: err.message }, 'connection lost');
      else if (this.attempt === 0) this.log.warn({ err: err.message, address: formatHostPort(this.address) }, 'dial failed');
      else this.log.debug({ err: err.message, attempt: this.attempt }, 'redial failed');
    });
    socket.on('close', () => {
      if (socket !== this.socket) return;
      if (this.connected) this.ctx.lost(this.id);
      this.socket = null;
      this.connected = false;
      this.waitingDrain = false;
      this.counters.disconnects++;
      this.scheduleRedial();
    });
  }

  private onReply(reply: unknown): void {
    if (!isHelloReply(reply)) throw new Error('malformed handshake reply');
    if (reply.uid !== undefined) this.ctx.identity?.observe(this.id, reply.uid);
    if (reply.ok) {
      this.attempt = 0; // only a peer that accepted us proves the link healthy
      return;
    }
    this.counters.rejectedByPeer++;
    this.log.error({ reason: reply.reason }, 'peer rejected our handshake');
  }

  private scheduleRedial(): void {
    if (this.closed) return;
    const { minMs, maxMs } = this.ctx.backoff;
    const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(this.attempt, MAX_BACKOFF_EXPONENT));
    // "Equal jitter": at least half the ceiling, so peers that failed together do not redial in lockstep.
    const delay = ceiling / 2 + this.ctx.random() * (ceiling / 2);
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.queue.length > 0) this.dial(); // otherwise the next enqueue dials (lazily)
    }, delay);
    this.retryTimer.unref(); // a pending redial alone should not keep the process alive
  }

  private abandonSocket(): void {
    const socket = this.socket;
    this.socket = null; // its handlers see they are stale and ignore the events that follow
    this.connected = false;
    this.waitingDrain = false;
    socket?.destroy();
  }
}
