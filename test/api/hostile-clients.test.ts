// Clients that send too much, too slowly, or not HTTP at all: each gets a JSON error (when an answer
// is possible) and is disconnected, the node keeps serving everyone else, and no data changes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { LIMITS, bodyOf, rawRequest, startApi, type TestApi } from './helpers.ts';

const TIMEOUTS = { headersTimeoutMs: 500, requestTimeoutMs: 1000, idleTimeoutMs: 3000, checkIntervalMs: 100 };

function assertJsonError(raw: string, status: number, code: string): void {
  assert.match(raw, new RegExp(`^HTTP/1\\.1 ${status} `), raw.slice(0, 200));
  assert.equal(JSON.parse(bodyOf(raw)).error.code, code);
}

/** Writes `text` one byte every `everyMs` until the socket closes; resolves with what came back. */
function trickle(port: number, head: string, text: string, everyMs: number): Promise<{ response: string; closedAfterMs: number; bytesSent: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let response = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    s.on('data', (d) => (response += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearInterval(timer);
      resolve({ response, closedAfterMs: Date.now() - t0, bytesSent: sent });
    });
    s.on('connect', () => {
      s.write(head);
      timer = setInterval(() => {
        if (sent < text.length && !s.destroyed) s.write(text[sent++]);
      }, everyMs);
    });
  });
}

async function healthLatencyMs(url: string): Promise<number> {
  const t0 = Date.now();
  const r = await fetch(`${url}/health`);
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  return Date.now() - t0;
}

describe('hostile clients', () => {
  let api: TestApi;
  let state: string;
  before(async () => {
    api = await startApi({ timeouts: TIMEOUTS });
    await fetch(`${api.url}/v1/kv/k`, { method: 'PUT', body: 'original' });
    state = api.kv.dump();
  });
  after(async () => {
    assert.equal(api.kv.dump(), state, 'a hostile request changed data');
    await api.close();
  });

  it('a 100 KB header is refused with 431 and the server stays up', async () => {
    const { response } = await rawRequest(api.port, `GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(100 * 1024)}\r\n\r\n`);
    assertJsonError(response, 431, 'headers-too-large');
    assert.equal(await (await fetch(`${api.url}/v1/kv/k`)).text(), 'original');
  });

  it('thousands of small headers are refused the same way', async () => {
    const headers = Array.from({ length: 10_000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const { response } = await rawRequest(api.port, `GET /health HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    assertJsonError(response, 431, 'headers-too-large');
  });

  it('a URL longer than any legal key is refused (431) without harm', async () => {
    const { response } = await rawRequest(api.port, `GET /v1/kv/${'%41'.repeat(LIMITS.maxKeyBytes * 2)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assertJsonError(response, 431, 'headers-too-large');
  });

  it('a client trickling its headers is cut off with 408 while others are served promptly', async () => {
    const slow = trickle(api.port, 'GET /health HTTP/1.1\r\n', 'X-Slow: ' + 'a'.repeat(1000), 50);
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      latencies.push(await healthLatencyMs(api.url));
      await new Promise((r) => setTimeout(r, 100));
    }
    const { response, closedAfterMs, bytesSent } = await slow;
    assertJsonError(response, 408, 'request-timeout');
    assert.ok(closedAfterMs < TIMEOUTS.headersTimeoutMs + 1000, `cut off after ${closedAfterMs} ms`);
    assert.ok(bytesSent < 1000, 'the slow client was never cut off');
    assert.ok(Math.max(...latencies) < 250, `others waited ${latencies.join(', ')} ms`);
  });

  it('a client trickling its body is cut off with 408 and nothing is written', async () => {
    const head = 'PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n';
    const calls = api.kv.calls.length;
    const { response, closedAfterMs } = await trickle(api.port, head, 'b'.repeat(1000), 50);
    assertJsonError(response, 408, 'request-timeout');
    assert.ok(closedAfterMs < TIMEOUTS.requestTimeoutMs + 1000, `cut off after ${closedAfterMs} ms`);
    assert.equal(api.kv.calls.length, calls);
    assert.equal(await (await fetch(`${api.url}/v1/kv/k`)).text(), 'original');
  });

  it('a Content-Length over the limit is refused with 413 before the body is read', async () => {
    const head = `PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: ${LIMITS.maxValueBytes + 1}\r\n\r\n`;
    const { response, closedAfterMs } = await rawRequest(api.port, head + 'x'.repeat(100), 3000);
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.equal(JSON.parse(bodyOf(response)).error.code, 'too-large');
    assert.ok(closedAfterMs < 2500, 'the server waited for a body it was going to refuse');
  });

  it('a chunked body that grows past the limit is refused with 413', async () => {
    const chunk = 'c'.repeat(16 * 1024);
    const chunks = Array.from({ length: 6 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
    const head = 'PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
    const { response } = await rawRequest(api.port, head + chunks + '0\r\n\r\n');
    assert.match(response, /^HTTP\/1\.1 413 /);
  });

  it('bytes that are not HTTP get a 400 and a closed connection', async () => {
    const { response } = await rawRequest(api.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]));
    assertJsonError(response, 400, 'bad-request');
  });

  it('raw non-ASCII bytes in the request line are a 400', async () => {
    const payload = Buffer.concat([Buffer.from('GET /v1/kv/'), Buffer.from([0xc3, 0xa9, 0xff]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]);
    const { response } = await rawRequest(api.port, payload);
    assertJsonError(response, 400, 'bad-request');
  });

  it('conflicting Content-Length headers (request smuggling) are a 400', async () => {
    const { response } = await rawRequest(api.port, 'PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx');
    assertJsonError(response, 400, 'bad-request');
  });

  it('after all of that the node still answers', async () => {
    assert.ok((await healthLatencyMs(api.url)) < 250);
  });
});
