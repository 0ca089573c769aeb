// GossipNode: the thin I/O adapter around the Swim state machine. It owns one UDP socket (probes and
// gossip) and one TCP server (push-pull state sync) on the same gossip address, a timer that ticks the
// state machine exactly when it next has work, and the counters for what the network threw at it.
//
// TCP exchanges are one-shot: each push-pull message (request or reply) is one length-prefixed frame on
// its own connection to the recipient's advertised gossip address. A reply therefore does not depend on
// the requester's connection staying open, and the state machine needs no notion of connections.

import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { FrameReader, FrameTooLargeError } from '../transport/frame-codec.ts';
import { seededRng } from '../util/prng.ts';
import { decodePacketDetailed, encodePacket, splitPacket, type DecodeFailure } from './codec.ts';
import { defaultConfig, type SwimConfig } from './config.ts';
import { Swim, type SwimStats } from './swim.ts';
import type { MemberEvent, MemberView, Meta, OutboundPacket } from './types.ts';

const MAX_TCP_FRAME_BYTES = 16 * 1024 * 1024;

export interface GossipLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface GossipNodeOptions {
  id: string;
  meta?: Meta;
  /** `host:port` to bind UDP and TCP on; port 0 picks a port free for both. Default 127.0.0.1:0. */
  bindAddr?: string;
  /** `host:port` other members should use, when it differs from the bound one (NAT; 0.0.0.0 binds, else loopback is advertised). */
  advertiseAddr?: string;
  config?: SwimConfig;
  /** Seed for the state machine's randomness; random by default. */
  seed?: number;
  /** Start above an incarnation this id used before, if the host persisted it. */
  incarnation?: number;
  logger?: GossipLogger;
}

export type DropReason = DecodeFailure | 'oversize' | 'frame-too-large';

export interface GossipNodeStats {
  udpReceived: number;
  udpSent: number;
  tcpReceived: number;
  tcpSent: number;
  /** Received packets thrown away, by reason (malformed, foreign cluster, corrupted, …). */
  dropped: Record<DropReason, number>;
  /** Sends that failed: UDP errors, TCP connects refused or timed out (usually a dead member). */
  sendErrors: number;
  swim: SwimStats;
}

export interface GossipNodeEvents {
  member: [MemberEvent];
  join: [MemberView];
  update: [MemberView];
  suspect: [MemberView];
  alive: [MemberView];
  dead: [MemberView];
  leave: [MemberView];
}

export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`membership: bad address "${addr}", expected host:port`);
  }
  return { host: m[1], port };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class GossipNode extends EventEmitter<GossipNodeEvents> {
  readonly id: string;
  private readonly opts: GossipNodeOptions;
  private readonly config: SwimConfig;
  private swim: Swim | undefined;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly connections = new Set<net.Socket>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly waiters = new Set<() => void>();
  private readonly counters = {
    udpReceived: 0, udpSent: 0, tcpReceived: 0, tcpSent: 0, sendErrors: 0,
    dropped: { truncated: 0, 'bad-magic': 0, version: 0, corrupt: 0, foreign: 0, malformed: 0, oversize: 0, 'frame-too-large': 0 },
  };

  constructor(opts: GossipNodeOptions) {
    super();
    this.id = opts.id;
    this.opts = opts;
    this.config = opts.config ?? defaultConfig();
  }

  /** The advertised gossip address; available after start(). */
  get address(): string {
    return this.machine().address;
  }

  async start(): Promise<void> {
    if (this.swim) throw new Error('membership: start() called twice');
    const { host, port } = splitHostPort(this.opts.bindAddr ?? '127.0.0.1:0');
    const boundPort = await this.bind(host, port);
    // A wildcard bind is no address to give others: without advertiseAddr, assume a local cluster.
    const wildcard = host === '0.0.0.0' || host === '::';
    const address = this.opts.advertiseAddr ?? joinHostPort(wildcard ? (host === '::' ? '::1' : '127.0.0.1') : host, boundPort);
    if (wildcard && !this.opts.advertiseAddr) {
      this.opts.logger?.warn({ address }, 'gossip: bound to all interfaces without advertiseAddr; advertising loopback');
    }
    this.swim = new Swim({
      self: { id: this.id, address, meta: this.opts.meta, incarnation: this.opts.incarnation },
      config: this.config,
      rng: seededRng(this.opts.seed ?? randomInt(2 ** 31)),
      now: performance.now(),
    });
    this.opts.logger?.info({ id: this.id, address }, 'gossip: listening');
    this.pump();
  }

  /**
   * Sync state with the seeds over TCP. Resolves with the number of members known once a seed has
   * answered; rejects if none answers within `timeoutMs`.
   */
  async join(seedAddrs: readonly string[], timeoutMs = this.config.tcpTimeoutMs + 1000): Promise<number> {
    const swim = this.machine();
    const repliesBefore = swim.stats().pushPullReplies;
    if (swim.join(seedAddrs) === 0) return swim.members().length;
    this.pump();
    const ok = await this.waitFor(() => swim.stats().pushPullReplies > repliesBefore, timeoutMs);
    if (!ok) throw new Error(`membership: no seed answered (${seedAddrs.join(', ')})`);
    return swim.members().length;
  }

  /** Announce a graceful leave and wait (briefly) until it has been gossiped. Resolves false on timeout. */
  async leave(timeoutMs = 3000): Promise<boolean> {
    const swim = this.machine();
    swim.leave();
    this.pump();
    return this.waitFor(() => swim.leaveDisseminated(), timeoutMs);
  }

  updateMeta(meta: Meta): void {
    this.machine().updateMeta(meta);
    this.pump();
  }

  members(): MemberView[] {
    return this.swim?.members() ?? [];
  }

  stats(): GossipNodeStats {
    const { dropped, ...rest } = this.counters;
    return { ...rest, dropped: { ...dropped }, swim: this.machine().stats() };
  }

  /** Stop everything and release both sockets. Does not announce anything: call leave() first for that. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const wake of this.waiters) wake();
    for (const s of this.connections) s.destroy();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
    ]);
  }

  // ---- I/O ----

  private machine(): Swim {
    if (!this.swim) throw new Error('membership: call start() first');
    return this.swim;
  }

  /** Bind UDP first, then TCP on the same port; with port 0, retry if TCP finds the port taken. */
  private async bind(host: string, port: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const udpPort = udp.address().port;
      const tcp = net.createServer((socket) => this.accept(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(udpPort, host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        if (port !== 0 || attempt >= 10) throw err;
        continue;
      }
      udp.on('message', (msg, rinfo) => this.onDatagram(msg, joinHostPort(rinfo.address, rinfo.port)));
      udp.on('error', (err) => this.opts.logger?.warn({ err }, 'gossip: udp socket error'));
      tcp.on('error', (err) => this.opts.logger?.warn({ err }, 'gossip: tcp server error'));
      this.udp = udp;
      this.tcp = tcp;
      return udpPort;
    }
  }

  private onDatagram(bytes: Buffer, fromAddr: string): void {
    if (this.closed || !this.swim) return;
    this.counters.udpReceived++;
    this.feed(bytes, fromAddr);
  }

  private feed(bytes: Buffer, fromAddr: string): void {
    const swim = this.machine();
    const r = decodePacketDetailed(bytes, this.config.clusterId);
    if (!r.ok) {
      this.counters.dropped[r.reason]++;
      this.opts.logger?.debug({ from: fromAddr, reason: r.reason }, 'gossip: dropped packet');
      return;
    }
    swim.tick(performance.now());
    swim.receive(fromAddr, r.packet);
    this.pump();
  }

  private accept(socket: net.Socket): void {
    if (this.closed) return void socket.destroy();
    this.connections.add(socket);
    socket.setTimeout(this.config.tcpTimeoutMs, () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => socket.destroy());
    const from = joinHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    // Frames are a u32 length and a body, as between Raft peers. The reader gives each frame one buffer,
    // allocated once its length is known, so every byte is copied once however small the pieces it
    // arrives in; appending each piece to all that came before would be quadratic (16 MiB in 4 KiB
    // pieces: ~27 s of copying on the event loop, from anyone who can reach the port).
    const reader = new FrameReader(MAX_TCP_FRAME_BYTES);
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (frame) => {
          this.counters.tcpReceived++;
          if (!this.closed) this.feed(frame, from);
        });
      } catch (err) {
        if (!(err instanceof FrameTooLargeError)) throw err;
        this.counters.dropped['frame-too-large']++;
        socket.destroy();
      }
    });
  }

  /** Send what the state machine produced, re-arm the timer, then publish events and wake waiters. */
  private pump(): void {
    if (this.closed || !this.swim) return;
    const swim = this.swim;
    for (const out of swim.drainOutbox()) this.send(out);
    // Re-armed before listeners run, so a throwing listener cannot stop the protocol.
    clearTimeout(this.timer);
    const delay = Math.max(0, swim.nextDeadline() - performance.now());
    this.timer = setTimeout(() => {
      swim.tick(performance.now());
      this.pump();
    }, Math.min(delay, 2 ** 31 - 1));
    for (const check of this.waiters) check();
    for (const event of swim.drainEvents()) {
      this.emit('member', event);
      this.emit(event.type, event.member);
    }
  }

  private send(out: OutboundPacket): void {
    let target: { host: string; port: number };
    try {
      target = splitHostPort(out.to);
    } catch {
      this.counters.sendErrors++;
      return;
    }
    if (out.channel === 'tcp') return this.sendTcp(target, encodePacket(out.packet, this.config.clusterId));
    // The state machine fills datagrams to the byte; splitting is the safety net for oversized meta.
    const packets = splitPacket(out.packet, this.config.maxPacketBytes);
    for (const p of packets) {
      const bytes = encodePacket(p, this.config.clusterId);
      if (bytes.length > this.config.maxPacketBytes) {
        this.counters.dropped.oversize++;
        continue;
      }
      this.counters.udpSent++;
      this.udp?.send(bytes, target.port, target.host, (err) => {
        if (err) this.counters.sendErrors++;
      });
    }
  }

  private sendTcp(target: { host: string; port: number }, bytes: Buffer): void {
    const frame = Buffer.allocUnsafe(4 + bytes.length);
    frame.writeUInt32BE(bytes.length, 0);
    bytes.copy(frame, 4);
    const socket = net.connect({ host: target.host, port: target.port });
    this.connections.add(socket);
    this.counters.tcpSent++;
    socket.setTimeout(this.config.tcpTimeoutMs, () => socket.destroy(new Error('push-pull timed out')));
    socket.on('error', (err) => {
      this.counters.sendErrors++;
      this.opts.logger?.debug({ err, to: joinHostPort(target.host, target.port) }, 'gossip: push-pull failed');
    });
    socket.on('close', () => this.connections.delete(socket));
    socket.end(frame);
  }

  /** Resolve true once `done()` holds (checked after every pump), false after `timeoutMs` or on close. */
  private waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(ok);
      };
      const check = (): void => {
        if (this.closed) finish(false);
        else if (done()) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.waiters.add(check);
    });
  }
}
