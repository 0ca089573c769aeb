// Cluster membership, health/readiness/metrics, the OpenAPI document, and how service failures
// reach clients (503 with Retry-After, 504, 500 without internals, 501 for what is not built yet).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ConcordError } from '../../src/util/errors.ts';
import { errorOf, jsonInit, startApi, type TestApi } from './helpers.ts';

describe('cluster routes', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  after(async () => api.close());

  it('GET /v1/cluster answers the cluster status', async () => {
    const body = await (await fetch(`${api.url}/v1/cluster`)).json();
    assert.deepEqual(body, await api.cluster.status());
  });

  it('POST /v1/cluster/nodes adds, DELETE /v1/cluster/nodes/{id} removes', async () => {
    let r = await fetch(`${api.url}/v1/cluster/nodes`, jsonInit('POST', { id: 'n2', address: '127.0.0.1:7002' }));
    assert.equal(r.status, 200);
    assert.ok((await r.json()).nodes.some((n: { id: string }) => n.id === 'n2'));
    assert.equal(api.cluster.nodes.get('n2'), '127.0.0.1:7002');
    r = await fetch(`${api.url}/v1/cluster/nodes/n2`, { method: 'DELETE' });
    assert.equal(r.status, 200);
    assert.equal(api.cluster.nodes.has('n2'), false);
  });

  it('hostnames and IPv6 addresses are accepted', async () => {
    for (const [id, address] of [['h1', 'node-1.example:7001'], ['h2', '[::1]:7002']]) {
      assert.equal((await fetch(`${api.url}/v1/cluster/nodes`, jsonInit('POST', { id, address }))).status, 200, address);
    }
  });

  it("the service's refusals keep their status", async () => {
    const e = await errorOf(await fetch(`${api.url}/v1/cluster/nodes`, jsonInit('POST', { id: 'n1', address: '127.0.0.1:7001' })));
    assert.deepEqual([e.status, e.code], [400, 'bad-request']);
    assert.equal((await errorOf(await fetch(`${api.url}/v1/cluster/nodes/n42`, { method: 'DELETE' }))).status, 404);
  });
});

describe('health, readiness, metrics, OpenAPI', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  after(async () => api.close());

  it('GET /health', async () => {
    assert.deepEqual(await (await fetch(`${api.url}/health`)).json(), { status: 'ok', nodeId: 'n1' });
  });

  it('GET /ready: 200 when ready, 503 with Retry-After and the reason when not', async () => {
    assert.equal((await fetch(`${api.url}/ready`)).status, 200);
    api.cluster.isReady = false;
    try {
      const r = await fetch(`${api.url}/ready`);
      assert.equal(r.headers.get('retry-after'), '1');
      const e = await errorOf(r);
      assert.deepEqual([e.status, e.code, e.message], [503, 'unavailable', 'no leader known']);
    } finally {
      api.cluster.isReady = true;
    }
  });

  it('GET /metrics is Prometheus text', async () => {
    const r = await fetch(`${api.url}/metrics`);
    assert.match(r.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    assert.equal(await r.text(), api.metricsText);
  });

  it('GET /metrics without a metrics source is a 404 error', async () => {
    const bare = await startApi({ metrics: false });
    try {
      assert.equal((await errorOf(await fetch(`${bare.url}/metrics`))).status, 404);
    } finally {
      await bare.close();
    }
  });

  it('GET /openapi.json documents every public route', async () => {
    const doc = await (await fetch(`${api.url}/openapi.json`)).json();
    assert.match(doc.openapi, /^3\./);
    const expected = {
      '/v1/kv/{key}': ['put', 'get', 'delete'],
      '/v1/kv': ['get'],
      '/v1/batch': ['post'],
      '/v1/txn': ['post'],
      '/v1/watch': ['get'],
      '/v1/leases': ['post', 'get'],
      '/v1/leases/{id}': ['get', 'delete'],
      '/v1/leases/{id}/keepalive': ['post'],
      '/v1/cluster': ['get'],
      '/v1/cluster/nodes': ['post'],
      '/v1/cluster/nodes/{id}': ['delete'],
      '/health': ['get'],
      '/ready': ['get'],
      '/metrics': ['get'],
      '/v1/backup': ['get'],
      '/add': ['post'],
      '/query': ['get'],
      '/delete': ['delete'],
      '/put': ['put'],
      '/get': ['get'],
      '/get/key={key}': ['get'],
      '/set/{key}/{value}': ['post'],
      '/api/v1/kv/{key}': ['put', 'get', 'delete'],
      '/api/v1/kv': ['get'],
      '/api/v1/cluster/status': ['get'],
      '/api/v1/cluster/nodes': ['post'],
      '/api/v1/cluster/nodes/{id}': ['delete'],
      '/api/v1/health': ['get'],
      '/api/v1/metrics': ['get'],
    };
    assert.deepEqual(Object.keys(doc.paths).sort(), Object.keys(expected).sort());
    for (const [path, methods] of Object.entries(expected)) {
      assert.deepEqual(Object.keys(doc.paths[path]).sort(), [...methods].sort(), path);
    }
    const put = doc.paths['/v1/kv/{key}'].put;
    assert.ok(put.requestBody.content['application/octet-stream']);
    assert.ok(put.parameters.some((p: { in: string; name: string }) => p.in === 'path' && p.name === 'key'));
  });
});

describe('service failures', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  afterEach(() => {
    api.kv.failWith = undefined;
  });
  after(async () => api.close());

  it("ConcordError('unavailable', …, 1) is a 503 with Retry-After: 1", async () => {
    api.kv.failWith = new ConcordError('unavailable', 'no quorum', 1);
    for (const init of [{ method: 'PUT', body: 'x' }, { method: 'GET' }]) {
      const r = await fetch(`${api.url}/v1/kv/k`, init);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.deepEqual(await errorOf(r), { status: 503, code: 'unavailable', message: 'no quorum' });
    }
    const r = await fetch(`${api.url}/add`, jsonInit('POST', { key: 'k', value: 'v' }));
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
  });

  it('a timeout is a 504', async () => {
    api.kv.failWith = new ConcordError('timeout', 'the request timed out');
    assert.deepEqual(await errorOf(await fetch(`${api.url}/v1/kv?limit=5`)), { status: 504, code: 'timeout', message: 'the request timed out' });
  });

  it('any other error is a 500 that does not leak its message', async () => {
    api.kv.failWith = new Error('secret internal detail at /var/lib/concord');
    const e = await errorOf(await fetch(`${api.url}/v1/kv/k`));
    assert.deepEqual(e, { status: 500, code: 'internal', message: 'internal error' });
  });

  it('watch is 501 for now', async () => {
    assert.deepEqual(await errorOf(await fetch(`${api.url}/v1/watch?prefix=a`)), { status: 501, code: 'not-implemented', message: 'GET /v1/watch is not served by this node' });
  });
});

describe('shutdown', () => {
  it('a request on a connection still open during close() gets a 503 error, and the in-flight one completes', async () => {
    const api = await startApi();
    api.kv.delayMs = 300;
    const slow = fetch(`${api.url}/v1/kv/slow`, { method: 'PUT', body: 'x' });
    // A connection with a request already half-sent is not idle, so close() leaves it open.
    const socket = net.connect(api.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    await new Promise((r) => setTimeout(r, 50));
    const closing = api.close();
    await new Promise((r) => setTimeout(r, 50));
    const answer = new Promise<string>((resolve) => {
      let out = '';
      socket.on('data', (d) => (out += d));
      socket.on('close', () => resolve(out));
    });
    socket.write('\r\n');
    const raw = await answer;
    assert.match(raw, /^HTTP\/1\.1 503/);
    assert.match(raw, /"code":"unavailable"/);
    assert.equal((await slow).status, 200);
    await closing;
  });
});
