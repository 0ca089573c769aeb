// The gRPC port's connection limits over real sockets, each with a short injected value: a connection with
// no call in progress is closed after the idle time (and a grpc-js client reconnects on its next call), a
// connection carries at most maxConcurrentStreams calls at once (grpc-js clients hold the rest back; streams
// sent past the limit anyway are refused, or cost a client that knew the limit its connection), a peer that
// stops answering pings is dropped, and other connections are served throughout. The defaults are checked
// against the README's table.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { GetRequestSchema, KV } from '../../src/api/grpc/gen/concord_pb.ts';
import { startGrpcServer, type GrpcServer } from '../../src/api/grpc/server.ts';
import { connectionOptions, DEFAULT_CONNECTION_LIMITS, type GrpcConnectionLimits } from '../../src/api/grpc/connections.ts';
import type { Consistency, KvRecord } from '../../src/kv/types.ts';
import { GrpcTestClient } from './grpc-client.ts';
import { MemoryCluster, MemoryKv } from './memory-kv.ts';

const LIMITS = { maxKeyBytes: 1024, maxValueBytes: 64 * 1024 };
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/**
 * Reads of keys starting with `held` wait while the service is held (from the start, and again after hold());
 * release() lets every waiting and later one through. The most such reads in progress at once is recorded.
 */
class HeldKv extends MemoryKv {
  inFlight = 0;
  maxInFlight = 0;
  private gate: Promise<void> | undefined;
  private open: () => void = () => undefined;

  constructor() {
    super();
    this.hold();
  }

  override async get(key: Uint8Array, opts?: { consistency?: Consistency }): Promise<KvRecord | undefined> {
    if (!Buffer.from(key).toString('latin1').startsWith('held')) return super.get(key, opts);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.gate;
      return await super.get(key, opts);
    } finally {
      this.inFlight--;
    }
  }

  hold(): void {
    this.maxInFlight = this.inFlight;
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
    this.gate = undefined;
  }
}

/** A server over `kv` with `connections` for the enclosing describe; the returned function gives it once started. */
function serverFor(kv: MemoryKv, connections: Partial<GrpcConnectionLimits>): () => GrpcServer {
  let server: GrpcServer | undefined;
  before(async () => {
    server = await startGrpcServer({ kv, cluster: new MemoryCluster(), limits: LIMITS, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), connections });
  });
  after(async () => {
    if (kv instanceof HeldKv) kv.release();
    await server?.close();
  });
  return () => server!;
}

/** grpc-js shares one connection among the clients of an address unless a client asks for its own. */
const OWN_CONNECTION = { 'grpc.use_local_subchannel_pool': 1 };

function hostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}

/** Resolves when `cond` holds, polling; fails after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(10)) if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
}

/** Resolves with how long `emitter` took to emit `event`, or fails after `ms`. */
function within(emitter: NodeJS.EventEmitter, event: string, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    emitter.once(event, () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

const getFrame = (key: string): Buffer => {
  const msg = Buffer.from(toBinary(GetRequestSchema, create(GetRequestSchema, { key: b(key) })));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
};

/** KV.Get over a raw HTTP/2 stream of `session`; resolves with the stream's RST code (0 = ended normally) and grpc-status. */
function rawGet(session: http2.ClientHttp2Session, key: string): Promise<{ rstCode: number; grpcStatus?: number }> {
  const req = session.request({ ':method': 'POST', ':path': '/concord.v1.KV/Get', 'content-type': 'application/grpc', te: 'trailers' });
  let grpcStatus: number | undefined;
  const take = (h: http2.IncomingHttpHeaders) => {
    if (h['grpc-status'] !== undefined) grpcStatus = Number(h['grpc-status']);
  };
  req.on('response', take);
  req.on('trailers', take);
  req.on('data', () => undefined);
  req.on('error', () => undefined);
  req.end(getFrame(key));
  return new Promise((resolve) => req.on('close', () => resolve({ rstCode: req.rstCode ?? 0, ...(grpcStatus !== undefined ? { grpcStatus } : {}) })));
}

/** One HTTP/2 frame: 24-bit length, type, flags, stream id, payload. */
function h2frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

const FRAME = { HEADERS: 1, SETTINGS: 4, GOAWAY: 7 } as const;
const END_HEADERS = 4;
const ACK = 1;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** HPACK for a KV.Get request's headers: static-table names and values, literals without indexing. */
function getHeaderBlock(): Buffer {
  const literal = (nameIndex: Buffer, value: string) => Buffer.concat([nameIndex, Buffer.of(value.length), Buffer.from(value, 'latin1')]);
  return Buffer.concat([
    Buffer.of(0x83, 0x86), // :method POST, :scheme http
    literal(Buffer.of(0x04), '/concord.v1.KV/Get'), // :path
    literal(Buffer.of(0x01), 'localhost'), // :authority
    literal(Buffer.of(0x0f, 0x10), 'application/grpc'), // content-type (static index 31)
    Buffer.of(0x00, 2), Buffer.from('te'), Buffer.of(8), Buffer.from('trailers'),
  ]);
}

describe('gRPC idle connections', () => {
  const IDLE_MS = 300;
  const kv = new HeldKv();
  const server = serverFor(kv, { idleTimeoutMs: IDLE_MS });

  it('a connection with no call in progress is closed (GOAWAY) after the idle time', async () => {
    const session = http2.connect(`http://${server().address}`);
    session.on('error', () => undefined);
    await within(session, 'connect', 2_000);
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
    const closed = within(session, 'close', 20 * IDLE_MS);
    // The server's idle time starts when the call ends there, which is after it was sent.
    const sent = Date.now();
    assert.equal((await rawGet(session, 'absent')).grpcStatus, grpc.status.NOT_FOUND);
    assert.equal(session.closed, false);
    await closed;
    assert.ok(Date.now() - sent >= IDLE_MS, `closed ${Date.now() - sent} ms after the call, before the idle time`);
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
  });

  it('a call in progress keeps its connection, however long; the idle time counts from its end', async () => {
    kv.hold();
    const session = http2.connect(`http://${server().address}`);
    session.on('error', () => undefined);
    const closed = within(session, 'close', 20 * IDLE_MS);
    const call = rawGet(session, 'held-long');
    await until(() => kv.inFlight === 1, 2_000, 'the held call reaches the service');
    await sleep(3 * IDLE_MS);
    assert.equal(session.closed, false, 'closed with a call in progress');
    const released = Date.now();
    kv.release();
    assert.equal((await call).grpcStatus, grpc.status.NOT_FOUND);
    await closed;
    assert.ok(Date.now() - released >= IDLE_MS, 'closed before the idle time after the call ended');
  });

  it('a grpc-js client whose connection was closed for idleness reconnects on its next call', async () => {
    const c = new GrpcTestClient(server().address);
    try {
      await c.call(KV, 'put', { key: b('k'), value: b('v1') });
      const channel = c.client.getChannel();
      assert.equal(channel.getConnectivityState(false), grpc.connectivityState.READY);
      // The server's GOAWAY turns the channel IDLE (not failed): nothing is connected until the next call.
      await until(() => channel.getConnectivityState(false) === grpc.connectivityState.IDLE, 10 * IDLE_MS, 'the channel goes idle');
      assert.deepEqual(Buffer.from((await c.call(KV, 'get', { key: b('k') })).kv!.value), b('v1'));
    } finally {
      c.close();
    }
  });
});

describe('gRPC concurrent streams per connection', () => {
  const MAX_STREAMS = 2;
  const kv = new HeldKv();
  const server = serverFor(kv, { maxConcurrentStreams: MAX_STREAMS });

  it('a grpc-js client holds calls past the limit back until one ends; other connections are served meanwhile', async () => {
    kv.hold();
    await kv.put(b('held-1'), b('x'));
    const c = new GrpcTestClient(server().address, OWN_CONNECTION);
    const other = new GrpcTestClient(server().address, OWN_CONNECTION);
    try {
      let answered = 0;
      const calls = Array.from({ length: 5 }, (_, i) =>
        c.call(KV, 'get', { key: b(`held-${i}`) }).then(
          () => 'found',
          (e: grpc.ServiceError) => e.code,
        ).finally(() => answered++),
      );
      await until(() => kv.inFlight === MAX_STREAMS, 2_000, `${MAX_STREAMS} calls reach the service`);
      // A call the service would answer at once waits too, on the full connection: the limit is the connection's.
      let freeAnswered = false;
      const free = c.call(KV, 'get', { key: b('free') }).then(
        () => 'found',
        (e: grpc.ServiceError) => e.code,
      ).finally(() => (freeAnswered = true));
      await sleep(300);
      assert.equal(kv.inFlight, MAX_STREAMS, 'more calls in progress than the limit');
      assert.equal(answered, 0, 'a call past the limit was answered (refused?) instead of held back');
      assert.equal(freeAnswered, false, 'a call past the limit was served');

      // Another connection is served at once.
      const elsewhere = await Promise.race([other.call(KV, 'get', { key: b('free') }).catch((e: grpc.ServiceError) => e.code), sleep(2_000).then(() => 'no answer')]);
      assert.equal(elsewhere, grpc.status.NOT_FOUND);

      kv.release();
      // Every call is served in the end: held-1 exists, the others do not.
      assert.deepEqual(await Promise.all(calls), [grpc.status.NOT_FOUND, 'found', grpc.status.NOT_FOUND, grpc.status.NOT_FOUND, grpc.status.NOT_FOUND]);
      assert.equal(await free, grpc.status.NOT_FOUND);
      assert.equal(kv.maxInFlight, MAX_STREAMS);
    } finally {
      c.close();
      other.close();
    }
  });

  it('streams sent past the limit before the client heard of it are refused (REFUSED_STREAM), never reaching the service', async () => {
    kv.hold();
    // Requests made at once go out with the connection preface, before the server's SETTINGS arrive, so
    // the client does not yet know the limit; the server refuses the streams past it.
    const session = http2.connect(`http://${server().address}`);
    session.on('error', () => undefined);
    try {
      const results = Array.from({ length: 5 }, (_, i) => rawGet(session, `held-raw-${i}`));
      await until(() => kv.inFlight === MAX_STREAMS, 2_000, `${MAX_STREAMS} streams reach the service`);
      await sleep(100);
      kv.release();
      const answers = await Promise.all(results);
      const refused = answers.filter((a) => a.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM).length;
      const served = answers.filter((a) => a.grpcStatus === grpc.status.NOT_FOUND).length;
      assert.deepEqual({ refused, served }, { refused: 5 - MAX_STREAMS, served: MAX_STREAMS }, JSON.stringify(answers));
      assert.equal(kv.maxInFlight, MAX_STREAMS);
      // The connection itself survives: a stream within the limit is served on it.
      assert.equal((await rawGet(session, 'free')).grpcStatus, grpc.status.NOT_FOUND);
    } finally {
      session.destroy();
    }
  });

  it('a client that has acknowledged the limit and still opens more streams breaks HTTP/2 and loses the connection', async () => {
    kv.hold();
    const [host, port] = hostPort(server().address);
    const socket = net.connect(port, host);
    socket.on('error', () => undefined);
    const frames: number[] = [];
    const closed = within(socket, 'close', 5_000);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const [type, flags] = [pending[3], pending[4]];
        frames.push(type);
        // The server's SETTINGS (with the limit) acknowledged, then streams 1, 3 and 5 opened, each held
        // open (no END_STREAM), so that the third is one past the limit.
        if (type === FRAME.SETTINGS && !(flags & ACK)) {
          socket.write(h2frame(FRAME.SETTINGS, ACK, 0));
          for (const id of [1, 3, 5]) socket.write(h2frame(FRAME.HEADERS, END_HEADERS, id, getHeaderBlock()));
        }
        pending = pending.subarray(9 + pending.readUIntBE(0, 3));
      }
    });
    socket.write(Buffer.concat([PREFACE, h2frame(FRAME.SETTINGS, 0, 0)]));
    try {
      await closed;
      assert.ok(frames.includes(FRAME.GOAWAY), `no GOAWAY among the frames ${frames.join(',')}`);
    } finally {
      socket.destroy();
    }
  });
});

describe('gRPC keepalive', () => {
  const PING_MS = 200;
  const server = serverFor(new MemoryKv(), { keepaliveTimeMs: PING_MS, keepaliveTimeoutMs: PING_MS });

  it('a peer that stops answering pings is disconnected; one that answers stays', async () => {
    const [host, port] = hostPort(server().address);
    // The dead peer: an HTTP/2 client preface and empty SETTINGS, then silence (it reads but never answers).
    const dialled = Date.now();
    const dead = net.connect(port, host);
    dead.on('error', () => undefined);
    dead.on('data', () => undefined);
    const deadClosed = within(dead, 'close', 20 * PING_MS);
    await within(dead, 'connect', 2_000);
    dead.write(Buffer.concat([PREFACE, h2frame(FRAME.SETTINGS, 0, 0)]));
    // A live peer: node:http2 answers pings by itself.
    const live = http2.connect(`http://${server().address}`);
    live.on('error', () => undefined);
    let pings = 0;
    live.on('ping', () => pings++);
    try {
      await deadClosed;
      // Pinged PING_MS after it connected, unanswered PING_MS later.
      assert.ok(Date.now() - dialled >= 2 * PING_MS, `closed ${Date.now() - dialled} ms after connecting, before a ping went unanswered`);
      await until(() => pings >= 3, 20 * PING_MS, 'the live peer is pinged');
      assert.equal(live.closed || live.destroyed, false, 'the live peer was disconnected');
      const c = new GrpcTestClient(server().address);
      try {
        assert.equal(await c.health(''), 'SERVING');
      } finally {
        c.close();
      }
    } finally {
      dead.destroy();
      live.destroy();
    }
  });
});

it('the defaults are those src/api/grpc/README.md states', () => {
  assert.deepEqual(connectionOptions(DEFAULT_CONNECTION_LIMITS), {
    'grpc.max_connection_idle_ms': 5 * 60_000,
    'grpc.max_concurrent_streams': 100,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
  });
});
