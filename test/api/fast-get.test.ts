// GET /v1/kv/{key} is answered outside fastify when it can be (src/api/http/fast-get.ts): the answer
// must be exactly the route's, every other case must still reach the route, and metrics must count
// each request once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ConcordError } from '../../src/util/errors.ts';
import { fastRoutesOnly, LIMITS, startApi, type TestApi } from './helpers.ts';
import { MemoryKv } from './memory-kv.ts';

/** A raw response: status, headers without Date, body. */
function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const { date: _date, ...rest } = res.headers;
        resolve({ status: res.statusCode!, headers: rest, body: Buffer.concat(chunks) });
      });
    }).on('error', reject);
  });
}

describe('the GET /v1/kv/{key} fast path', () => {
  let api: TestApi;
  const seen: Array<[string, string, number]> = [];
  before(async () => {
    api = await startApi({ observeRequest: (method, route, status) => void seen.push([method, route, status]) });
    await fetch(`${api.url}/v1/kv/a%2Fb%FF`, { method: 'PUT', body: 'value' });
  });
  after(() => api.close());

  it('answers a found key with the route\'s exact status, headers and body, for every consistency', async () => {
    const plain = await rawGet(api.port, '/v1/kv/a%2Fb%FF');
    assert.equal(plain.status, 200);
    assert.equal(plain.body.toString(), 'value');
    assert.deepEqual(
      Object.keys(plain.headers).sort(),
      ['connection', 'content-length', 'content-type', 'etag', 'keep-alive', 'x-create-revision', 'x-version'],
    );
    assert.equal(plain.headers['content-type'], 'application/octet-stream');
    assert.match(String(plain.headers.etag), /^"\d+"$/);
    for (const q of ['?consistency=serializable', '?consistency=linearizable']) assert.deepEqual(await rawGet(api.port, `/v1/kv/a%2Fb%FF${q}`), plain);
    // The same request through fastify (an extra query parameter sends it there) answers the same.
    assert.deepEqual(await rawGet(api.port, '/v1/kv/a%2Fb%FF?consistency=linearizable&x=1'), plain);
  });

  it('sends every byte of a value unchanged, small (one write with the head) and large', async () => {
    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    // 4096 is the largest value sent in one write with the head; 4097 and the largest allowed go as a second chunk.
    for (const size of [0, 1, 256, 4095, 4096, 4097, LIMITS.maxValueBytes]) {
      const value = Buffer.alloc(size, everyByte);
      assert.equal((await fetch(`${api.url}/v1/kv/bytes-${size}`, { method: 'PUT', body: value })).status, 200);
      const fast = await rawGet(api.port, `/v1/kv/bytes-${size}?consistency=serializable`);
      assert.equal(fast.status, 200);
      assert.equal(fast.headers['content-length'], String(size));
      assert.ok(fast.body.equals(value), `${size}-byte value came back changed`);
      assert.deepEqual(await rawGet(api.port, `/v1/kv/bytes-${size}`), fast);
      assert.deepEqual(await rawGet(api.port, `/v1/kv/bytes-${size}?consistency=linearizable&x=1`), fast); // through fastify
    }
  });

  it('answers an absent key exactly as the route does', async () => {
    const absent = await rawGet(api.port, '/v1/kv/nope');
    assert.equal(absent.status, 404);
    assert.deepEqual(JSON.parse(absent.body.toString()), { error: { code: 'not-found', message: 'key not found' } });
    // Through fastify (an extra parameter sends it there):
    assert.deepEqual(await rawGet(api.port, '/v1/kv/nope?consistency=linearizable&x=1'), absent);
  });

  it('leaves the rest to the route: If-None-Match, bad consistency, bad encoding', async () => {
    const etag = String((await rawGet(api.port, '/v1/kv/a%2Fb%FF')).headers.etag);
    assert.equal((await rawGet(api.port, '/v1/kv/a%2Fb%FF', { 'if-none-match': etag })).status, 304);
    assert.equal((await rawGet(api.port, '/v1/kv/a%2Fb%FF?consistency=eventual')).status, 400);
    assert.equal((await rawGet(api.port, '/v1/kv/bad%G0')).status, 400);
  });

  it('reports each request to the metrics once, under the route pattern', async () => {
    seen.length = 0;
    await rawGet(api.port, '/v1/kv/a%2Fb%FF');
    await rawGet(api.port, '/v1/kv/nope');
    assert.deepEqual(seen, [
      ['GET', '/v1/kv/*', 200],
      ['GET', '/v1/kv/*', 404],
    ]);
  });
});

/** A node:http server with only the fast routes in front (no lane); what they leave is answered 599. */
describe('fastGet on its own (a server whose fallback answers 599)', () => {
  it("answers the service's errors itself, with Retry-After, and an unexpected failure with 500, logged", async () => {
    let failure: Error = new ConcordError('unavailable', 'no leader (no quorum) within 2000 ms', 1);
    const kv = {
      get: () => Promise.reject(failure),
      getSerializable: () => {
        throw failure;
      },
      leaderless: () => undefined,
    } as unknown as MemoryKv;
    const logged: unknown[] = [];
    const srv = await fastRoutesOnly({ kv, limits: LIMITS, closing: () => false, logError: (err) => void logged.push(err) });
    try {
      const p = (srv.address() as { port: number }).port;
      const r = await rawGet(p, '/v1/kv/k');
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.deepEqual(JSON.parse(r.body.toString()), { error: { code: 'unavailable', message: 'no leader (no quorum) within 2000 ms' } });
      // A serializable read is answered synchronously (getSerializable), with the same outcomes.
      assert.deepEqual(await rawGet(p, '/v1/kv/k?consistency=serializable'), r);
      assert.deepEqual(logged, [], 'a described failure is not an error to log');
      failure = new Error('disk on fire');
      for (const path of ['/v1/kv/k', '/v1/kv/k?consistency=serializable']) {
        const internal = await rawGet(p, path);
        assert.equal(internal.status, 500, path);
        assert.deepEqual(JSON.parse(internal.body.toString()), { error: { code: 'internal', message: 'internal error' } });
      }
      assert.deepEqual(logged, [failure, failure]);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  let server: http.Server;
  let port = 0;
  let closing = false;
  before(async () => {
    const kv = new MemoryKv();
    await kv.put(Buffer.from('k'), Buffer.from('v'));
    server = await fastRoutesOnly({ kv, limits: LIMITS, closing: () => closing, logError: () => {} });
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('serves a plain GET of a found key itself', async () => {
    assert.equal((await rawGet(port, '/v1/kv/k')).status, 200);
    assert.equal((await rawGet(port, '/v1/kv/k?consistency=serializable')).status, 200);
  });

  it('passes on what it does not handle', async () => {
    assert.equal((await rawGet(port, '/v1/kv/absent')).status, 404, 'an absent key is answered here');
    for (const path of ['/v1/kv/', '/v1/kv/k?limit=1', '/v1/kv/%ZZ', '/v1/kvk', '/health']) {
      assert.equal((await rawGet(port, path)).status, 599, path);
    }
    assert.equal((await rawGet(port, '/v1/kv/k', { 'if-none-match': '"1"' })).status, 599);
    closing = true;
    assert.equal((await rawGet(port, '/v1/kv/k')).status, 599, 'a closing node answers through the route (503)');
    closing = false;
  });
});
