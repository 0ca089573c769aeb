// The fast lane: plain GET and PUT /v1/kv/{key} requests read and answered straight off the socket,
// before node:http builds anything for them. node:http's per-request work (llhttp callbacks, an
// IncomingMessage and a ServerResponse, header objects, the outgoing stream) is most of what a
// Node HTTP service spends per request: here a bare node:http server answered 29-32k requests/s and a
// bare socket writing the same answer 63-67k (wrk, 64 connections, 3 interleaved rounds).
//
// The lane takes only what it can read with certainty: a request whose head and body are all in
// hand, in a strict subset of HTTP/1.1 — method GET or PUT, a /v1/kv/ target, version 1.1, printable
// ASCII, CRLF line ends, well-formed headers, exactly one Host, at most one Content-Length (digits
// only), no Transfer-Encoding, Expect or Upgrade, Connection absent or keep-alive — and then only
// what the fast routes themselves take. At the first request it does not take, the connection goes
// to node:http for good, with that request's bytes (and any after them) untouched: node:http's own
// parsing, checks, limits and timeouts then apply to it exactly as they would have. So the lane
// never answers a request node:http would refuse, and refuses nothing itself.
//
// Answers are byte-for-byte what node:http writes for the same status, headers and body (Date,
// Connection: keep-alive, Keep-Alive: timeout=N). One request per connection is served at a time;
// bytes of the next one wait, so answers go out in request order; and none is served while the
// answers before it wait for a client that does not read them.

import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { contentLength, type FastRoutes } from './fast-front.ts';
import { FAST_ROUTE, ONE_WRITE_MAX_BYTES, latin1, type FastReply } from './fast-reply.ts';

export interface FastLaneOptions {
  routes: FastRoutes;
  /** node:http's limit for a request head: a longer one is left to it (431). */
  maxHeaderSize: number;
  /** True while the node shuts down: the routes decline then, and answers close their connection. */
  closing: () => boolean;
}

/** Bytes of pipelined requests a connection buffers while one is served, before it stops reading. */
const MAX_BUFFERED = 64 * 1024;
/** Anything but tab, printable ASCII and CR LF pairs. */
const UNSAFE_HEAD = /[^\t\x20-\x7e\r\n]|\r(?!\n)|(?<!\r)\n/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VERSION = ' HTTP/1.1';

/**
 * Puts the lane in front of node:http on `server`: every new connection starts in the lane, and
 * node:http's own connection handling gets it at the first request the lane does not take.
 */
export function installFastLane(server: Server, o: FastLaneOptions): void {
  const toNode = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  const open = new Set<LaneConnection>();
  const lane: Lane = { server, o, open, toNode };
  server.on('connection', (socket: Socket) => open.add(new LaneConnection(lane, socket)));
  // node:http only knows the connections it was given: close() and fastify's shutdown ask it to drop
  // the idle ones (or all), so they must hear of the lane's too, or close() waits on them forever.
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    for (const c of open) c.closeIfIdle();
    closeIdle();
  };
  const closeAll = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    for (const c of open) c.socket.destroy();
    closeAll();
  };
}

interface Lane {
  server: Server;
  o: FastLaneOptions;
  open: Set<LaneConnection>;
  toNode: Array<(socket: Socket) => void>;
}

/** One connection while it is in the lane; it is also the FastReply of the request it serves. */
class LaneConnection implements FastReply {
  private buffered: Buffer | undefined;
  /** A request is being served: its answer has not been written yet, or not yet taken by the client. */
  private busy = false;
  /** Inside next(): an answer written synchronously must not re-enter it. */
  private serving = false;
  /** An answer is written but waits for the client to read it. */
  private draining = false;
  private paused = false;
  /** The client has sent its last byte. */
  private ended = false;
  private inLane = true;
  private method = '';
  private started = 0;
  private readonly onData = (chunk: Buffer) => this.received(chunk);
  private readonly onEnd = () => this.clientEnded();
  private readonly onTimeout = () => this.timedOut();
  private readonly onClose = () => this.lane.open.delete(this);
  private readonly onError = () => this.socket.destroy();
  private readonly onDrain = () => {
    this.draining = false;
    this.busy = false;
    this.next();
  };

  constructor(
    private readonly lane: Lane,
    readonly socket: Socket,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('timeout', this.onTimeout);
    socket.setTimeout(idleLimitMs(lane.server));
  }

  get gone(): boolean {
    return !this.inLane || this.socket.destroyed;
  }

  send(status: number, headers: string[], body: string | Uint8Array): void {
    const s = this.socket;
    const server = this.lane.server;
    const closing = this.lane.o.closing() || !server.listening;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    head += `Date: ${httpDate()}\r\n${closing ? 'Connection: close\r\n' : keepAliveLines(server.keepAliveTimeout)}\r\n`;
    if (typeof body === 'string') s.write(head + body);
    else if (body.byteLength <= ONE_WRITE_MAX_BYTES) s.write(head + latin1(body), 'latin1');
    else {
      s.cork();
      s.write(head, 'latin1');
      s.write(body);
      s.uncork();
    }
    this.lane.o.routes.observe?.(this.method, FAST_ROUTE, status, (performance.now() - this.started) / 1000);
    if (closing) {
      this.busy = false;
      this.leave();
      s.on('error', () => {}); // a reset after the last answer is no crash
      s.end();
    } else if (s.writableNeedDrain) {
      // A client that does not read its answers: serve nothing more (stay busy, so the socket is
      // paused once enough requests wait) until they have gone out, as node:http does.
      this.draining = true;
      s.once('drain', this.onDrain);
    } else {
      this.busy = false;
      if (!this.serving) this.next();
    }
  }

  closeIfIdle(): void {
    if (!this.busy) this.socket.destroy();
  }

  private received(chunk: Buffer): void {
    this.buffered = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
    if (!this.busy) this.next();
    else if (this.buffered.length > MAX_BUFFERED && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Serves the buffered requests in order until one is in flight, none is left, or one is not ours. */
  private next(): void {
    this.serving = true;
    while (!this.busy && this.buffered !== undefined && this.inLane) {
      const taken = this.take(this.buffered);
      if (taken === 0) {
        this.serving = false;
        return this.toNode();
      }
      this.buffered = taken === this.buffered.length ? undefined : this.buffered.subarray(taken);
    }
    this.serving = false;
    if (this.busy || !this.inLane) return;
    if (this.ended) this.socket.end();
    else if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /**
   * Serves the request at the start of `buf` if the lane takes it, and returns its length in bytes;
   * returns 0, having done nothing, if not.
   */
  private take(buf: Buffer): number {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0 || end > this.lane.o.maxHeaderSize) return 0;
    const head = buf.toString('latin1', 0, end);
    if (UNSAFE_HEAD.test(head)) return 0;
    const lineEnd = head.indexOf('\r\n');
    const line = lineEnd < 0 ? head : head.slice(0, lineEnd);
    const method = line.startsWith('GET /') ? 'GET' : line.startsWith('PUT /') ? 'PUT' : undefined;
    if (method === undefined || !line.endsWith(VERSION)) return 0;
    const url = line.slice(4, line.length - VERSION.length);
    if (url.includes(' ')) return 0;

    let hosts = 0;
    let length: number | undefined;
    let conditional = false;
    for (let at = lineEnd < 0 ? head.length : lineEnd + 2; at < head.length; ) {
      let eol = head.indexOf('\r\n', at);
      if (eol < 0) eol = head.length;
      const colon = head.indexOf(':', at);
      if (colon <= at || colon > eol) return 0;
      const name = head.slice(at, colon);
      if (!TOKEN.test(name)) return 0;
      switch (name.toLowerCase()) {
        case 'host':
          hosts++;
          break;
        case 'content-length':
          if (length !== undefined) return 0;
          length = contentLength(head.slice(colon + 1, eol).trim());
          if (length === undefined) return 0;
          break;
        case 'connection':
          if (head.slice(colon + 1, eol).trim().toLowerCase() !== 'keep-alive') return 0;
          break;
        case 'transfer-encoding':
        case 'expect':
        case 'upgrade':
          return 0;
        case 'if-match':
        case 'if-none-match':
          conditional = true;
          break;
      }
      at = eol + 2;
    }
    if (hosts !== 1) return 0;

    const bodyAt = end + 4;
    const routes = this.lane.o.routes;
    this.method = method;
    this.started = routes.observe ? performance.now() : 0;
    if (method === 'GET') {
      if (length !== undefined && length !== 0) return 0;
      this.busy = true;
      if (routes.get(method, url, conditional, this)) return bodyAt;
      this.busy = false;
      return 0;
    }
    if (length === undefined || buf.length < bodyAt + length) return 0; // a body still arriving: node:http reads it
    const key = routes.put.accepts(method, url, conditional, length);
    if (key === undefined) return 0;
    this.busy = true;
    routes.put.write(key, buf.subarray(bodyAt, bodyAt + length), this);
    return bodyAt + length;
  }

  /** Hands the connection to node:http, with the bytes the lane has not taken put back in front. */
  private toNode(): void {
    const s = this.socket;
    this.leave();
    if (s.destroyed) return;
    s.pause();
    if (this.buffered !== undefined) s.unshift(this.buffered);
    this.buffered = undefined;
    // node:http would otherwise read the socket's handle directly (parser.consume), past the bytes
    // put back above; as with any socket read before, it reads through the stream instead.
    const handle = (s as Socket & { _handle?: { _consumed?: boolean } })._handle;
    if (handle) handle._consumed = true;
    for (const listener of this.lane.toNode) listener.call(this.lane.server, s);
    s.resume();
  }

  /** Takes the lane's hands off the socket. */
  private leave(): void {
    this.inLane = false;
    this.lane.open.delete(this);
    const s = this.socket;
    s.setTimeout(0);
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('close', this.onClose);
    s.off('error', this.onError);
    s.off('timeout', this.onTimeout);
    s.off('drain', this.onDrain);
  }

  private clientEnded(): void {
    this.ended = true;
    if (!this.busy) this.socket.end();
  }

  /**
   * Idle too long: closed, as node:http closes an idle keep-alive connection — or a client that has
   * read nothing of an answer for that long.
   */
  private timedOut(): void {
    if (!this.busy || this.draining) this.socket.destroy();
  }
}

/** How long a connection may sit idle in the lane: node:http's keep-alive limit, else its socket timeout. */
function idleLimitMs(server: Server): number {
  return server.keepAliveTimeout > 0 ? server.keepAliveTimeout : server.timeout;
}

/** node:http's own lines for a kept-alive connection. */
function keepAliveLines(keepAliveTimeoutMs: number): string {
  return keepAliveTimeoutMs > 0 ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n` : 'Connection: keep-alive\r\n';
}

let dateSecond = -1;
let dateText = '';
/** The Date header's value, made once a second (as node:http does). */
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}
