// PUT /v1/kv/{key} is answered outside fastify when it can be (src/api/http/fast-put.ts): the answer
// must be exactly the route's, the stored value exactly the body however it arrives, every other case
// must still reach the route, and metrics must count each request once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { ConcordError } from '../../src/util/errors.ts';
import { fastRoutesOnly, LIMITS, startApi, type TestApi } from './helpers.ts';
import type { MemoryKv } from './memory-kv.ts';
import { until } from '../../testkit/wait.ts';

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

/** A PUT whose body is written in `parts` (one write each, a turn apart); headers without Date. */
function rawPut(port: number, path: string, parts: Array<string | Buffer>, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'PUT', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const { date: _date, ...rest } = res.headers;
        resolve({ status: res.statusCode!, headers: rest, body: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    const next = (i: number) => {
      if (i === parts.length) return void req.end();
      req.write(parts[i]);
      setImmediate(() => next(i + 1));
    };
    next(0);
  });
}

const sized = (body: string | Buffer) => ({ 'content-length': String(Buffer.byteLength(body)) });

describe('the PUT /v1/kv/{key} fast path', () => {
  let api: TestApi;
  const seen: Array<[string, string, number]> = [];
  before(async () => {
    api = await startApi({ observeRequest: (method, route, status) => void seen.push([method, route, status]) });
  });
  after(() => api.close());

  it("answers with the route's exact status, headers and body", async () => {
    const fast = await rawPut(api.port, '/v1/kv/a%2Fb%FF', ['one'], sized('one'));
    assert.equal(fast.status, 200);
    const revision = JSON.parse(fast.body).revision as number;
    assert.deepEqual(fast, { status: 200, headers: { etag: `"${revision}"`, 'content-type': 'application/json; charset=utf-8', 'content-length': String(fast.body.length), connection: 'keep-alive', 'keep-alive': 'timeout=10' }, body: `{"revision":${revision}}` });
    // The same write through fastify (a matching If-Match sends it there) answers in the same form.
    const routed = await rawPut(api.port, '/v1/kv/a%2Fb%FF', ['two'], { ...sized('two'), 'if-match': `"${revision}"` });
    assert.deepEqual(routed, { ...fast, headers: { ...fast.headers, etag: `"${revision + 1}"` }, body: `{"revision":${revision + 1}}` });
    assert.deepEqual(Object.keys(routed.headers), Object.keys(fast.headers), 'same headers in the same order');
  });

  it('stores exactly the body: several chunks, binary bytes, empty', async () => {
    const big = Buffer.alloc(LIMITS.maxValueBytes, 0xab);
    const parts = [Buffer.from([0, 255, 1]), 'xyz', big.subarray(0, LIMITS.maxValueBytes - 6)];
    const r = await rawPut(api.port, '/v1/kv/chunks', parts, sized(Buffer.concat(parts.map((p) => Buffer.from(p)))));
    assert.equal(r.status, 200);
    assert.deepEqual(Buffer.from((await api.kv.getSerializable(Buffer.from('chunks')))!.value), Buffer.concat(parts.map((p) => Buffer.from(p))));
    assert.equal((await rawPut(api.port, '/v1/kv/empty', [], { 'content-length': '0' })).status, 200);
    assert.equal(api.kv.getSerializable(Buffer.from('empty'))!.value.byteLength, 0);
  });

  it('leaves the rest to the route: TTL, preconditions, chunked bodies, oversized bodies, bad keys', async () => {
    seen.length = 0;
    assert.equal((await rawPut(api.port, '/v1/kv/t?ttl=60', ['v'], sized('v'))).status, 200);
    assert.equal((await rawPut(api.port, '/v1/kv/t?ttl=0', ['v'], sized('v'))).status, 400, 'the route validates the TTL');
    assert.equal((await rawPut(api.port, '/v1/kv/t', ['v'], { ...sized('v'), 'if-none-match': '*' })).status, 412);
    assert.equal((await rawPut(api.port, '/v1/kv/chunked', ['a', 'b'], { 'transfer-encoding': 'chunked' })).status, 200);
    assert.equal(Buffer.from(api.kv.getSerializable(Buffer.from('chunked'))!.value).toString(), 'ab');
    const tooBig = Buffer.alloc(LIMITS.maxValueBytes + 1);
    assert.equal((await rawPut(api.port, '/v1/kv/big', [tooBig], sized(tooBig))).status, 413);
    assert.equal((await rawPut(api.port, '/v1/kv/bad%G0', ['v'], sized('v'))).status, 400);
    assert.equal((await rawPut(api.port, '/v1/kv/', ['v'], sized('v'))).status, 400);
    const want = [200, 400, 412, 200, 413, 400, 400].map((status) => `PUT /v1/kv/* ${status}`);
    // fastify reports a request once its response has finished, which may be after the client has it.
    await until('every request reported', () => seen.length >= want.length);
    assert.deepEqual(seen.map(([m, route, status]) => `${m} ${route} ${status}`), want, 'each counted once, under the pattern');
  });

  it('a client that leaves mid-body writes nothing', async () => {
    const s = net.connect(api.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write('PUT /v1/kv/half HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
    // A later write on the same key, then the key holds it alone.
    await rawPut(api.port, '/v1/kv/half', ['whole'], sized('whole'));
    await until('the later write', () => api.kv.getSerializable(Buffer.from('half')) !== undefined);
    assert.equal(Buffer.from(api.kv.getSerializable(Buffer.from('half'))!.value).toString(), 'whole');
  });
});

describe('fastPut on its own (a server whose fallback answers 599)', () => {
  it("answers the service's errors with Retry-After, and an unexpected failure with 500, logged", async () => {
    let failure: Error = new ConcordError('unavailable', 'no leader (no quorum) within 2000 ms', 1);
    const logged: unknown[] = [];
    const kv = { put: () => Promise.reject(failure) } as unknown as MemoryKv;
    const srv = await fastRoutesOnly({ kv, limits: LIMITS, closing: () => false, logError: (err) => void logged.push(err) });
    try {
      const p = (srv.address() as { port: number }).port;
      const r = await rawPut(p, '/v1/kv/k', ['v'], sized('v'));
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.deepEqual(JSON.parse(r.body), { error: { code: 'unavailable', message: 'no leader (no quorum) within 2000 ms' } });
      assert.deepEqual(logged, [], 'a described failure is not an error to log');
      failure = new Error('disk on fire');
      const internal = await rawPut(p, '/v1/kv/k', ['v'], sized('v'));
      assert.equal(internal.status, 500);
      assert.deepEqual(JSON.parse(internal.body), { error: { code: 'internal', message: 'internal error' } });
      assert.deepEqual(logged, [failure]);
      assert.equal((await rawPut(p, '/v1/kv/k', ['v'])).status, 599, 'no Content-Length: not taken');
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('a closing node leaves every request to the route (503 there)', async () => {
    const srv = await fastRoutesOnly({ kv: {} as MemoryKv, limits: LIMITS, closing: () => true, logError: () => {} });
    try {
      assert.equal((await rawPut((srv.address() as { port: number }).port, '/v1/kv/k', ['v'], sized('v'))).status, 599);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
