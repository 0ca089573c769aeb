// Node-to-node messaging for Raft (and anything else the node multiplexes): a thin adapter that
// moves opaque payloads of type T between nodes over framed TCP, batching them per peer per
// event-loop turn. It knows nothing about Raft; the node wraps each message as an envelope
// (e.g. { group, msg }) and Raft's own retransmission makes up for what this layer drops.
//
// Shape: each node dials every peer it sends to, and accepts connections from peers that send to
// it, so every pair of nodes uses one-way connections (as etcd's rafthttp streams do). That keeps
// each side's queue, backpressure and reconnect logic independent of the other's. With the `bulky`
// option a node keeps two links per peer: one for the payloads it picks (log entries, snapshot
// chunks) and one for everything else, so a heartbeat never waits behind a 64 MiB entry (etcd
// keeps its msgApp and message streams apart for the same reason).

import net, { type AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { NodeId } from '../raft/types.ts';
import { advertisedAddress, parseHostPort, type HostPort } from './address.ts';
import { FaultRules } from './faults.ts';
import { DEFAULT_MAX_FRAME_BYTES, FrameCodec, MAX_FRAME_BYTES_LIMIT } from './frame-codec.ts';
import { InboundConnection, type InboundContext } from './inbound-connection.ts';
import { PeerLink, type LinkContext } from './peer-link.ts';
import { estimateSize } from './size-estimate.ts';
import { emptyInboundStats, type PeerStats, type PeerTransportOptions, type TransportStats } from './types.ts';

const DEFAULTS = {
  maxQueueMessages: 65_536,
  maxBatchBytes: 1024 * 1024,
  backoff: { minMs: 50, maxMs: 2000 },
  connectTimeoutMs: 5000,
  handshakeTimeoutMs: 5000,
};

export type MessageHandler<T> = (from: NodeId, payload: T) => void;

/** One peer's outbound links: `bulk` exists only when the transport has a `bulky` rule. */
interface PeerLinks<T> {
  control: PeerLink<T>;
  bulk: PeerLink<T> | undefined;
  /** Both of them (or the one), for what applies to each alike. */
  all: PeerLink<T>[];
}

export class PeerTransport<T> {
  /** Runtime-changeable network faults for tests; no rules (the default) costs one branch per send. */
  readonly faults: FaultRules;
  readonly nodeId: NodeId;
  private readonly opts: PeerTransportOptions<T>;
  private readonly log: Logger;
  private readonly sizeOf: (payload: T) => number;
  private readonly linkContext: LinkContext;
  private readonly inboundContext: InboundContext;
  private readonly links = new Map<NodeId, PeerLinks<T>>();
  /** Links that got messages this turn; flushed together by one setImmediate. */
  private readonly dirty = new Set<PeerLink<T>>();
  private flushHandle: NodeJS.Immediate | null = null;
  private readonly delayTimers = new Set<NodeJS.Timeout>();
  private readonly inboundSockets = new Set<net.Socket>();
  private readonly inbound = emptyInboundStats();
  private droppedUnknownPeer = 0;
  /** host:port peers can dial to reach this transport, once started. */
  private boundAddr: string | undefined;
  private handler: MessageHandler<T> | null = null;
  private server: net.Server | null = null;
  private closing: Promise<void> | null = null;

  constructor(opts: PeerTransportOptions<T>) {
    const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!(maxFrameBytes > 0 && maxFrameBytes <= MAX_FRAME_BYTES_LIMIT)) {
      throw new RangeError(`maxFrameBytes must be in 1..${MAX_FRAME_BYTES_LIMIT}, got ${maxFrameBytes}`);
    }
    const backoff = opts.backoff ?? DEFAULTS.backoff;
    if (!(backoff.minMs > 0 && backoff.maxMs >= backoff.minMs)) {
      throw new RangeError(`backoff needs 0 < minMs <= maxMs, got ${backoff.minMs}..${backoff.maxMs}`);
    }
    this.opts = opts;
    this.nodeId = opts.nodeId;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'transport', node: opts.nodeId });
    this.sizeOf = opts.sizeOf ?? estimateSize;
    const random = opts.random ?? Math.random;
    this.faults = new FaultRules(random);
    const codec = new FrameCodec({ copyBuffers: opts.copyBuffers });
    const maxQueueMessages = opts.maxQueueMessages ?? DEFAULTS.maxQueueMessages;
    this.linkContext = {
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      codec,
      logger: this.log,
      backoff,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      maxFrameBytes,
      maxBatchBytes: Math.min(opts.maxBatchBytes ?? DEFAULTS.maxBatchBytes, maxFrameBytes),
      // Defaulting the byte bound to the frame limit lets a largest-possible message wait in the
      // queue next to ordinary traffic; a smaller bound would evict it with the next heartbeat.
      queueLimits: { maxMessages: maxQueueMessages, maxBytes: opts.maxQueueBytes ?? maxFrameBytes },
      advertisedAddr: () => this.boundAddr,
      random,
      identity: opts.identity,
      lost: (peer) => opts.onPeerLost?.(peer),
    };
    this.inboundContext = {
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      codec,
      logger: this.log,
      maxFrameBytes,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
      faults: this.faults,
      stats: this.inbound,
      validate: opts.validate,
      deliver: (from, payload) => this.deliver(from, payload as T),
      introduced: (from, addr) => this.learnPeer(from, addr),
      identity: opts.identity,
    };
  }

  /** Starts accepting peer connections; resolves with the address actually bound. */
  async start(): Promise<HostPort> {
    if (this.closing !== null) throw new Error('transport is closed');
    if (this.server !== null) throw new Error('transport already started');
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.opts.listen.port, this.opts.listen.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.server = null;
      throw err;
    }
    if (this.closing !== null) {
      server.close(); // close() ran while we were binding and could not stop this listener
      throw new Error('transport was closed while starting');
    }
    server.on('error', (err) => this.log.error({ err }, 'peer listener error'));
    const { address, port } = server.address() as AddressInfo;
    // Announced to the peers we dial.
    this.boundAddr = advertisedAddress({ host: address, port }, this.opts.advertiseHost);
    this.log.info({ address, port }, 'accepting peer connections');
    return { host: address, port };
  }

  /** host:port peers can dial to reach this transport (after start()). */
  get advertisedAddr(): string | undefined {
    return this.boundAddr;
  }

  /** Adds a peer, or moves it to a new 'host:port' (dropping the old connection). Throws on a bad address. */
  setPeer(id: NodeId, addr: string): void {
    const address = parseHostPort(addr);
    if (this.closing !== null) return;
    const links = this.links.get(id);
    if (links !== undefined) {
      for (const link of links.all) link.setAddress(address);
    } else {
      const control = new PeerLink<T>(id, address, this.linkContext, 'control');
      const bulk = this.opts.bulky ? new PeerLink<T>(id, address, this.linkContext, 'bulk') : undefined;
      this.links.set(id, { control, bulk, all: bulk ? [control, bulk] : [control] });
    }
  }

  /** Every peer this transport can send to: configured ones and those learned from their handshakes. */
  peerIds(): NodeId[] {
    return [...this.links.keys()];
  }

  /** Forgets a peer: its connection is closed and its queued messages are discarded. */
  removePeer(id: NodeId): void {
    const links = this.links.get(id);
    if (links === undefined) return;
    this.links.delete(id);
    for (const link of links.all) {
      link.close();
      this.dirty.delete(link);
    }
  }

  /**
   * Queues `payload` for `to` and returns at once; it goes out with the rest of this turn's
   * messages to that peer. Never throws. False when the payload was refused: unknown peer,
   * closed transport, or larger than a frame. True means accepted, not delivered: a full queue
   * evicts its OLDEST messages (counted in `dropped`), and messages lost to a fault rule are
   * reported as sent because a real network would not tell the sender either.
   */
  send(to: NodeId, payload: T): boolean {
    const links = this.links.get(to);
    if (links === undefined) {
      this.droppedUnknownPeer++;
      return false;
    }
    try {
      const link = links.bulk !== undefined && this.opts.bulky!(payload) ? links.bulk : links.control;
      const verdict = this.faults.outbound(to);
      if (verdict === 0) return this.enqueue(link, payload);
      if (verdict === 'drop') link.countFaultDrop();
      else this.sendLater(link, payload, verdict);
      return true;
    } catch (err) {
      // Only a user-supplied sizeOf can get here; a caller of send() must never have to care.
      this.log.error({ err, peer: to }, 'send failed');
      return false;
    }
  }

  /** Sets the one receiver of every payload from every peer (replacing any previous one). */
  onMessage(handler: MessageHandler<T>): void {
    this.handler = handler;
  }

  /** Whether either of a peer's links is connected (as stats() reports it, for one peer and cheaply). */
  connected(id: NodeId): boolean {
    return this.links.get(id)?.all.some((link) => link.isConnected()) ?? false;
  }

  stats(): TransportStats {
    const peers: Record<NodeId, PeerStats> = {};
    for (const [id, links] of this.links) peers[id] = links.all.map((link) => link.stats()).reduce(mergeLinkStats);
    return { peers, inbound: { ...this.inbound }, droppedUnknownPeer: this.droppedUnknownPeer };
  }

  /** Stops everything (listener, connections, timers) so the process can exit. Queued messages are discarded. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.flushHandle !== null) clearImmediate(this.flushHandle);
    this.flushHandle = null;
    for (const timer of this.delayTimers) clearTimeout(timer);
    this.delayTimers.clear();
    for (const links of this.links.values()) for (const link of links.all) link.close();
    this.links.clear();
    this.dirty.clear();
    for (const socket of this.inboundSockets) socket.destroy();
    const server = this.server;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.log.info('transport closed');
  }

  private enqueue(link: PeerLink<T>, payload: T): boolean {
    if (!link.enqueue(payload, this.sizeOf(payload))) return false;
    this.dirty.add(link);
    // setImmediate rather than a microtask: it runs after all I/O callbacks of this loop turn,
    // so messages produced by several callbacks (e.g. many Raft groups' Ready) share one frame.
    this.flushHandle ??= setImmediate(this.flushDirty);
    return true;
  }

  private readonly flushDirty = (): void => {
    this.flushHandle = null;
    for (const link of this.dirty) link.flush(); // a link that is not connected yet flushes itself on connect
    this.dirty.clear();
  };

  private sendLater(link: PeerLink<T>, payload: T, delayMs: number): void {
    // Delayed messages are bounded like the queue, so a long delay rule cannot exhaust memory.
    if (link.delayed >= this.linkContext.queueLimits.maxMessages) {
      link.countFaultDrop();
      return;
    }
    link.delayed++;
    const timer = setTimeout(() => {
      this.delayTimers.delete(timer);
      link.delayed--;
      if (this.isCurrent(link)) this.enqueue(link, payload);
    }, delayMs);
    this.delayTimers.add(timer);
  }

  /** Whether `link` still belongs to a configured peer (removePeer discards it). */
  private isCurrent(link: PeerLink<T>): boolean {
    return this.links.get(link.id)?.all.includes(link) ?? false;
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    this.inboundSockets.add(socket);
    this.inbound.accepted++;
    this.inbound.connections++;
    socket.once('close', () => {
      this.inboundSockets.delete(socket);
      this.inbound.connections--;
    });
    new InboundConnection(socket, this.inboundContext);
  }

  /**
   * A peer we have no address for dialed us (e.g. a leader adding this new node): answer it at the
   * address it announced. Known peers keep the address they were configured with.
   */
  private learnPeer(from: NodeId, addr: string): void {
    if (from === this.opts.nodeId || this.links.has(from) || this.closing !== null) return;
    try {
      this.setPeer(from, addr);
      this.log.info({ peer: from, addr }, 'learned a peer address from its handshake');
    } catch (err) {
      this.log.warn({ err, peer: from, addr }, 'peer announced an unusable address');
    }
  }

  private deliver(from: NodeId, payload: T): void {
    const handler = this.handler;
    if (handler === null) {
      this.inbound.unhandled++;
      return;
    }
    try {
      handler(from, payload);
    } catch (err) {
      // A throwing handler is a bug in the host, but it must not take the connection down with it.
      this.inbound.handlerErrors++;
      this.log.error({ err, from }, 'message handler threw');
    }
  }
}

/** A peer's two links as one: counters add up, and the peer counts as connected while either link is. */
function mergeLinkStats(control: PeerStats, bulk: PeerStats): PeerStats {
  const merged = { ...control, connected: control.connected || bulk.connected };
  for (const key of Object.keys(merged) as Array<keyof PeerStats>) {
    const value = bulk[key];
    if (typeof value === 'number') (merged as Record<string, unknown>)[key] = (control[key] as number) + value;
  }
  return merged;
}
