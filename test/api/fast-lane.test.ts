// The fast lane (src/api/http/fast-lane.ts) answers plain GET and PUT /v1/kv/{key} straight off the
// socket. What it answers must be byte-for-byte what node:http would have sent; what it does not take
// — anything else, malformed or not — must reach node:http exactly as sent, on the same connection,
// with answers in request order; and it must not hold a connection node:http would have closed.
//
// "node:http answered" is observed as the server's 'request' event, which the lane never causes. A
// connection is made node:http's for good by a first request the lane does not take (GET /health).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ConcordError } from '../../src/util/errors.ts';
import { LIMITS, startApi, type TestApi } from './helpers.ts';
import { until } from '../../testkit/wait.ts';

/** A raw client connection that reads whole responses (each carries a Content-Length). */
class Wire {
  private received = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      this.wake?.();
    });
    socket.on('error', () => undefined); // a reset after the server's last answer: we read what came
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async open(port: number): Promise<Wire> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    return new Wire(socket);
  }

  /** A connection node:http already owns: its first request is one the lane does not take. */
  static async openOnNode(port: number): Promise<Wire> {
    const w = await Wire.open(port);
    w.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match((await w.read(1))[0]!, /^HTTP\/1\.1 200 OK\r\n/);
    return w;
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** The next `n` responses (fewer if the server closes first), each without its Date line. */
  async read(n: number): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      while (out.length < n) {
        const one = this.takeResponse();
        if (one === undefined) break;
        out.push(one);
      }
      if (out.length === n || this.closed) return out;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Waits until the server has closed the connection. */
  async closedByServer(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => (this.wake = r));
  }

  close(): void {
    this.socket.destroy();
  }

  private takeResponse(): string | undefined {
    const headEnd = this.received.indexOf('\r\n\r\n');
    if (headEnd < 0) return undefined;
    const head = this.received.toString('latin1', 0, headEnd);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const end = headEnd + 4 + length;
    if (this.received.length < end) return undefined;
    const text = this.received.toString('latin1', 0, end);
    this.received = this.received.subarray(end);
    return text.replace(/\r\nDate: [^\r]*/, '');
  }
}

/** The request-line status of a raw response. */
const statusOf = (raw: string) => Number(raw.slice(9, 12));
const bodyOf = (raw: string) => raw.slice(raw.indexOf('\r\n\r\n') + 4);
const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
/** A response with its revision numbers (ETag, body) blanked: answers on either path compare equal. */
const sameRevision = (raw: string) => raw.replace(/"\d+"/g, '"R"').replace(/"revision":\d+/, '"revision":R');
const put = (path: string, value: string, extra = '') =>
  `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(value)}\r\n${extra}\r\n${value}`;

describe('the HTTP fast lane', () => {
  let api: TestApi;
  let nodeRequests = 0;
  const wires: Wire[] = [];
  const open = async (onNode = false) => {
    const w = onNode ? await Wire.openOnNode(api.port) : await Wire.open(api.port);
    wires.push(w);
    return w;
  };
  /** node:http requests seen while `run` ran. */
  const nodeRequestsDuring = async (run: () => Promise<void>) => {
    const before = nodeRequests;
    await run();
    return nodeRequests - before;
  };

  before(async () => {
    api = await startApi();
    api.app.server.on('request', () => nodeRequests++);
  });
  afterEach(() => {
    for (const w of wires.splice(0)) w.close();
    api.kv.failWith = undefined;
  });
  after(() => api.close());

  it('answers the plain reads and writes itself, byte-for-byte as node:http answers them', async () => {
    await fetch(`${api.url}/v1/kv/there`, { method: 'PUT', body: 'a value' });
    const cases: Array<{ request: string; status: number; before?: () => void }> = [
      { request: get('/v1/kv/there'), status: 200 },
      { request: get('/v1/kv/there?consistency=serializable'), status: 200 },
      { request: get('/v1/kv/missing'), status: 404 },
      { request: get('/v1/kv/missing', 'Connection: keep-alive\r\nUser-Agent: t\r\n'), status: 404 },
      {
        request: get('/v1/kv/there'),
        status: 503,
        before: () => (api.kv.failWith = new ConcordError('unavailable', 'no leader (no quorum) within 2000 ms', 1)),
      },
      // A write repeated on the same value: the answers differ only in the revision, checked below.
      { request: put('/v1/kv/there', 'a value'), status: 200 },
    ];
    for (const c of cases) {
      c.before?.();
      const onNode = await open(true);
      let viaNode = '';
      const nodeSaw = await nodeRequestsDuring(async () => {
        onNode.write(c.request);
        viaNode = (await onNode.read(1))[0]!;
      });
      assert.equal(nodeSaw, 1, `${c.request}: the reference answer comes from node:http`);
      const lane = await open();
      let viaLane = '';
      const laneSaw = await nodeRequestsDuring(async () => {
        lane.write(c.request);
        viaLane = (await lane.read(1))[0]!;
      });
      assert.equal(laneSaw, 0, `${c.request}: answered by the lane`);
      assert.equal(statusOf(viaLane), c.status);
      assert.equal(sameRevision(viaLane), sameRevision(viaNode), c.request);
      api.kv.failWith = undefined;
    }
  });

  it('answers pipelined requests in order, handing the connection to node:http at the first it does not take', async () => {
    await fetch(`${api.url}/v1/kv/p`, { method: 'PUT', body: 'one' });
    const w = await open();
    const seen = await nodeRequestsDuring(async () => {
      // In the lane a pipelined request is served after the one before it is answered, so the read
      // after a write sees it. (node:http starts a pipelined request at once: after the hand-off,
      // a read sent right behind a write may run before it.)
      w.write(get('/v1/kv/p') + put('/v1/kv/p', 'two') + get('/v1/kv/p') + get('/health') + get('/v1/kv/p') + put('/v1/kv/p', 'three'));
      const answers = await w.read(6);
      assert.deepEqual(answers.map(statusOf), [200, 200, 200, 200, 200, 200]);
      assert.deepEqual([0, 2, 4].map((i) => bodyOf(answers[i]!)), ['one', 'two', 'two']);
      assert.equal(JSON.parse(bodyOf(answers[3]!)).status, 'ok');
      w.write(get('/v1/kv/p'));
      assert.equal(bodyOf((await w.read(1))[0]!), 'three');
    });
    assert.equal(seen, 4, 'GET /health and the requests after it went to node:http');
  });

  /**
   * A lane connection whose first request, GET /v1/kv/held, is held until the server pauses the
   * socket; the requests after it total exactly one byte more than the lane may buffer (64 KiB), so
   * the pause comes with all of them read and the lane serves them all itself. Returns the client's
   * wire, the server's end of the connection, and the number of requests sent.
   */
  async function pausedPipeline(next: (i: number) => string): Promise<{ w: Wire; server: net.Socket; sent: number }> {
    let pausedSocket!: () => void;
    const paused = new Promise<void>((r) => (pausedSocket = r));
    let server!: net.Socket;
    api.app.server.once('connection', (socket: net.Socket) => {
      server = socket;
      const pause = socket.pause.bind(socket);
      socket.pause = () => (pausedSocket(), pause());
    });
    const get0 = api.kv.get.bind(api.kv);
    api.kv.get = async (...args) => {
      if (Buffer.from(args[0]).toString() === 'held') {
        api.kv.get = get0;
        await paused;
      }
      return get0(...args);
    };
    await api.kv.put(Buffer.from('held'), Buffer.from('first'));
    const requests: string[] = [];
    let size = 0;
    while (size < 64 * 1024 - 200) {
      const r = next(requests.length);
      requests.push(r);
      size += r.length;
    }
    const pad = 64 * 1024 + 1 - size - get('/v1/kv/last', 'X-Pad: \r\n').length;
    requests.push(get('/v1/kv/last', `X-Pad: ${'p'.repeat(pad)}\r\n`));
    assert.equal(requests.join('').length, 64 * 1024 + 1);
    const w = await open();
    w.write(get('/v1/kv/held') + requests.join(''));
    await paused;
    return { w, server, sent: requests.length + 1 };
  }

  it('stops reading past 64 KiB of pipelined requests, then serves them in order and reads on', { timeout: 20_000 }, async () => {
    // Only the lane's resume lets the request sent after the answers in.
    const seen = await nodeRequestsDuring(async () => {
      const { w, sent } = await pausedPipeline((i) => get(`/v1/kv/held-${i}`));
      const answers = await w.read(sent);
      assert.equal(bodyOf(answers[0]!), 'first');
      assert.deepEqual(answers.slice(1).map(statusOf), answers.slice(1).map(() => 404));
      w.write(get('/v1/kv/held'));
      assert.equal(bodyOf((await w.read(1))[0]!), 'first');
    });
    assert.equal(seen, 0, 'all of them answered in the lane');
  });

  it('serves nothing more while the client reads none of its answers, and goes on when it does', { timeout: 20_000 }, async () => {
    const value = 'v'.repeat(30_000);
    await api.kv.put(Buffer.from('large'), Buffer.from(value));
    // ~2,000 reads of 30 kB: ~60 MB of answers, far more than the kernel's socket buffers hold.
    const { w, server, sent } = await pausedPipeline(() => get('/v1/kv/large'));
    w.socket.pause();
    await until('the server to wait for the client', () => server.writableNeedDrain);
    assert.ok(server.writableLength < 256 * 1024, `${server.writableLength} bytes of answers queued in the server`);
    w.socket.resume();
    const answers = await w.read(sent);
    assert.equal(answers.length, sent);
    assert.ok(answers.slice(1, -1).every((a) => bodyOf(a) === value));
  });

  it('gives node:http a request split across reads, with its body intact', async () => {
    const w = await open();
    const head = 'PUT /v1/kv/split HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n';
    const arrived = new Promise((r) => api.app.server.once('request', r));
    w.write(head + 'hello');
    await arrived; // node:http has the head: the rest of the body comes in a later read
    w.write(' world');
    assert.equal(statusOf((await w.read(1))[0]!), 200);
    assert.equal(Buffer.from(api.kv.getSerializable(Buffer.from('split'))!.value).toString(), 'hello world');
    // The connection stays node:http's, and its requests are still answered.
    w.write(get('/v1/kv/split'));
    assert.equal(bodyOf((await w.read(1))[0]!), 'hello world');
  });

  it('leaves node:http every request outside its subset, with the answer node:http gives it', async () => {
    await fetch(`${api.url}/v1/kv/there`, { method: 'PUT', body: 'a value' });
    const big = 'x'.repeat(LIMITS.maxValueBytes + 1);
    // [request, answers node:http gives it]: an Expect: 100-continue gets an interim answer first.
    const cases: Array<[string, number]> = [
      ['PUT /v1/kv/smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 1],
      ['PUT /v1/kv/smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', 1],
      ['PUT /v1/kv/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 1],
      ['PUT /v1/kv/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc', 2],
      ['GET /v1/kv/there HTTP/1.1\r\n\r\n', 1],
      ['GET /v1/kv/there HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n', 1],
      ['GET /v1/kv/there HTTP/1.1\nHost: x\n\n', 1],
      ['GET /v1/kv/there HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n', 1],
      ['GET /v1/kv/there HTTP/1.1\r\nHost : x\r\n\r\n', 1],
      ['GET /v1/kv/there HTTP/1.0\r\nHost: x\r\n\r\n', 1],
      ['GET /v1/kv/there HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 1],
      ['GET /v1/kv/there HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab', 1],
      ['GET /v1/kv/th\x01ere HTTP/1.1\r\nHost: x\r\n\r\n', 1],
      ['GET /v1/kv/there  HTTP/1.1\r\nHost: x\r\n\r\n', 1],
      ['GET /v1/kv/there HTTP/1.1\r\nHost: x\r\nIf-None-Match: "1"\r\n\r\n', 1],
      ['GET /v1/kv/there HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'y'.repeat(64 * 1024) + '\r\n\r\n', 1],
      ['PUT /v1/kv/plus HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc', 1],
      [`PUT /v1/kv/big HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n${big}`, 1],
      [put('/v1/kv/ttl?ttl=60', 'abc'), 1],
      [put('/v1/kv/cas', 'abc', 'If-Match: "1"\r\n'), 1],
      ['DELETE /v1/kv/gone HTTP/1.1\r\nHost: x\r\n\r\n', 1],
    ];
    const what = (request: string) => JSON.stringify(request.slice(0, 100));
    for (const [request, answers] of cases) {
      const onNode = await open(true);
      let viaNode: string[] = [];
      const nodeSaw = await nodeRequestsDuring(async () => {
        onNode.write(request);
        viaNode = await onNode.read(answers);
      });
      assert.equal(viaNode.length, answers, `node:http answered ${what(request)}`);
      const lane = await open();
      const laneSaw = await nodeRequestsDuring(async () => {
        lane.write(request);
        assert.deepEqual((await lane.read(answers)).map(sameRevision), viaNode.map(sameRevision), what(request));
      });
      // node:http handled it on the lane's connection as on its own (a head the parser refuses
      // is answered by its error handler, with no 'request' on either).
      assert.equal(laneSaw, nodeSaw, what(request));
    }
    const value = (key: string) => api.kv.getSerializable(Buffer.from(key))?.value;
    assert.equal(value('smuggle'), undefined, 'no smuggled write');
    assert.equal(Buffer.from(value('chunked')!).toString(), 'abc');
    assert.equal(Buffer.from(value('expect')!).toString(), 'abc');
  });

  it('lets the client end its side after a request: the answer comes, then the server closes', async () => {
    const w = await open();
    w.socket.end(get('/v1/kv/missing'));
    assert.equal(statusOf((await w.read(1))[0]!), 404);
    await w.closedByServer();
  });
});

describe('the HTTP fast lane and the connection lifecycle', () => {
  it('closes a lane connection idle for the keep-alive timeout, as node:http does', { timeout: 10_000 }, async () => {
    const api = await startApi({ timeouts: { keepAliveTimeoutMs: 300 } });
    try {
      const w = await Wire.open(api.port);
      w.write(get('/v1/kv/missing'));
      const answer = (await w.read(1))[0]!;
      assert.equal(statusOf(answer), 404);
      const t0 = Date.now();
      await w.closedByServer();
      assert.ok(Date.now() - t0 >= 200, 'not closed before the timeout');
    } finally {
      await api.close();
    }
  });

  it('close() does not wait on idle lane connections, and an answer in flight goes out with Connection: close', { timeout: 10_000 }, async () => {
    const api = await startApi({ timeouts: { keepAliveTimeoutMs: 60_000 } });
    const idle = await Wire.open(api.port);
    idle.write(get('/v1/kv/missing'));
    assert.equal(statusOf((await idle.read(1))[0]!), 404);
    api.kv.delayMs = 200;
    const putCalled = new Promise<void>((resolve) => {
      const put = api.kv.put.bind(api.kv);
      api.kv.put = (...args) => (resolve(), put(...args));
    });
    const busy = await Wire.open(api.port);
    busy.write(put('/v1/kv/late', 'v'));
    await putCalled;
    await api.close(); // would hang on either connection if the lane kept them from node:http's close
    await idle.closedByServer();
    const answer = (await busy.read(1))[0]!;
    assert.equal(statusOf(answer), 200);
    assert.match(answer, /\r\nConnection: close\r\n/);
    await busy.closedByServer();
  });
});
