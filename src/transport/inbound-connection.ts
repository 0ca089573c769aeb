// One accepted connection: checks the dialer's handshake, then decodes its batches and hands each
// payload to the transport. Anything a peer sends that is not well-formed closes this connection
// only; the process, the server and every other connection carry on.

import type net from 'node:net';
import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.ts';
import type { FaultRules } from './faults.ts';
import { FrameReader, FrameTooLargeError, type FrameCodec } from './frame-codec.ts';
import { checkHello, type HelloReply } from './handshake.ts';
import type { InboundStats, PeerIdentity } from './types.ts';

export interface InboundContext {
  nodeId: NodeId;
  clusterId: string;
  codec: FrameCodec;
  logger: Logger;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  faults: FaultRules;
  stats: InboundStats;
  validate: ((value: unknown) => boolean) | undefined;
  deliver: (from: NodeId, payload: unknown) => void;
  /** A dialer announced where it listens (said again with each of its batches: a link dropped since is made again). */
  introduced: (from: NodeId, addr: string) => void;
  identity: PeerIdentity | undefined;
}

class MalformedFrameError extends Error {
  override name = 'MalformedFrameError';
}

export class InboundConnection {
  /** The dialer's node id, once its handshake has been accepted. */
  private from: NodeId | null = null;
  /** Where the dialer said it listens, if it said. */
  private addr: string | undefined;
  private state: 'handshake' | 'open' | 'closing' = 'handshake';
  private readonly reader: FrameReader;
  private log: Logger;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: InboundContext,
  ) {
    this.reader = new FrameReader(ctx.maxFrameBytes);
    this.log = ctx.logger.child({ remote: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    // Only the handshake is timed: a silent established link is normal between Raft heartbeats.
    socket.setTimeout(ctx.handshakeTimeoutMs);
    socket.on('timeout', () => this.reject('no handshake within the timeout'));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'inbound connection error'));
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closing') return;
    try {
      this.reader.push(chunk, (body) => this.onFrame(body));
    } catch (err) {
      if (err instanceof FrameTooLargeError) {
        this.ctx.stats.oversizedFrames++;
        this.log.warn({ from: this.from, length: err.length, max: err.max }, 'oversized frame; closing connection');
      } else {
        this.ctx.stats.malformedFrames++;
        this.log.warn({ from: this.from, err: (err as Error).message }, 'malformed frame; closing connection');
      }
      this.state = 'closing';
      this.socket.destroy();
    }
  }

  private onFrame(body: Buffer): void {
    if (this.state === 'closing') return; // the rest of a chunk that followed a rejected handshake
    this.ctx.stats.frames++;
    this.ctx.stats.bytes += body.length;
    let value: unknown;
    try {
      value = this.ctx.codec.decodeBody(body);
    } catch (err) {
      throw new MalformedFrameError(`undecodable frame: ${(err as Error).message}`);
    }
    if (this.from === null) {
      this.onHandshake(value);
      return;
    }
    if (!Array.isArray(value)) throw new MalformedFrameError('frame is not a batch');
    const { stats, faults, validate, deliver } = this.ctx;
    const from = this.from;
    stats.messages += value.length;
    if (faults.isCut(from)) {
      stats.faultDropped += value.length;
      return;
    }
    // A peer whose link this node dropped (no group counts it any more) may still ask something (whether it is
    // still a member): answering needs the link back.
    if (this.addr !== undefined) this.ctx.introduced(from, this.addr);
    for (let i = 0; i < value.length; i++) {
      const payload: unknown = value[i];
      if (validate !== undefined && !validate(payload)) {
        stats.invalidPayloads++;
        continue;
      }
      deliver(from, payload);
    }
  }

  private onHandshake(value: unknown): void {
    const check = checkHello(value, this.ctx.clusterId, this.ctx.nodeId);
    if (!check.ok) {
      this.reject(check.reason);
      return;
    }
    const identity = this.ctx.identity;
    if (identity && !identity.observe(check.from, check.uid)) {
      this.reject(`cluster identity mismatch: ${check.from} belongs to cluster ${check.uid}, this node (${this.ctx.nodeId}) to ${identity.current()}`, identity.current());
      return;
    }
    this.from = check.from;
    this.state = 'open';
    this.log = this.log.child({ from: check.from });
    this.socket.setTimeout(0);
    const uid = identity?.current();
    this.reply(uid === undefined ? { ok: true } : { ok: true, uid });
    this.log.debug('peer connected');
    this.addr = check.addr;
    if (check.addr !== undefined) this.ctx.introduced(check.from, check.addr);
  }

  /** Tells the dialer why (so its operator sees the reason in its own log), then closes. */
  private reject(reason: string, uid?: string): void {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.ctx.stats.rejectedHandshakes++;
    this.log.warn({ reason }, 'handshake rejected; closing connection');
    const reply: HelloReply = uid === undefined ? { ok: false, reason } : { ok: false, reason, uid };
    const socket = this.socket;
    socket.setTimeout(0);
    socket.end(this.ctx.codec.encodeFrame(reply), () => socket.destroy());
    // A dialer that never reads could hold the half-closed socket open; do not wait on it.
    const deadline = setTimeout(() => socket.destroy(), 1000);
    socket.once('close', () => clearTimeout(deadline));
  }

  private reply(reply: HelloReply): void {
    this.socket.write(this.ctx.codec.encodeFrame(reply));
  }
}
