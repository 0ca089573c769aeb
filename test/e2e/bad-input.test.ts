// Hostile and malformed input against a real node process: the right 4xx, the node stays up, data unchanged.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ProcCluster } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';

describe('bad input to a real node', () => {
  let c: ProcCluster;
  let url: string;
  let before_: string;
  const dump = async () => (await fetch(`${url}/v1/kv?encoding=base64&limit=10000`)).text();

  before(async () => {
    c = await ProcCluster.create(1, ['--max-value-bytes', '65536']);
    url = (await c.leader()).url;
    assert.equal((await fetch(`${url}/v1/kv/existing`, { method: 'PUT', body: 'original' })).status, 200);
    before_ = await dump();
  });

  after(async () => c?.stop());

  const status = async (path: string, init?: RequestInit) => (await fetch(`${url}${path}`, init)).status;
  const json = { 'content-type': 'application/json' };

  it('malformed JSON → 400', async () => {
    assert.equal(await status('/v1/batch', { method: 'POST', headers: json, body: '{"ops": [' }), 400);
    assert.equal(await status('/add', { method: 'POST', headers: json, body: '{key:' }), 400);
    assert.equal(await status('/put', { method: 'PUT', headers: json, body: '[]' }), 400);
  });

  it('missing or empty key → 400', async () => {
    assert.equal(await status('/query'), 400);
    assert.equal(await status('/get?key='), 400);
    assert.equal(await status('/add', { method: 'POST', headers: json, body: '{"value":"x"}' }), 400);
    assert.equal(await status('/v1/kv/', { method: 'PUT', body: 'x' }), 400);
  });

  it('oversized key or value → 413', async () => {
    assert.equal(await status(`/v1/kv/${'k'.repeat(8193)}`, { method: 'PUT', body: 'x' }), 413);
    assert.equal(await status('/v1/kv/big', { method: 'PUT', body: Buffer.alloc(65537) }), 413);
  });

  it('bad percent-encoding → 400; wrong method → 405; unknown route → 404', async () => {
    assert.equal(await status('/v1/kv/%ZZ'), 400);
    assert.equal(await status('/v1/kv/existing', { method: 'PATCH', body: 'x' }), 405);
    assert.equal(await status('/no/such/route'), 404);
    const r = await fetch(`${url}/no/such/route`);
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.ok(body.error.code && body.error.message, 'errors are JSON {"error":{"code","message"}}');
  });

  it('a huge header block is refused and the node stays up', async () => {
    const huge = await new Promise<string>((resolve) => {
      const s = net.connect(Number(new URL(url).port), '127.0.0.1', () => {
        s.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200_000)}\r\n\r\n`);
      });
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
    });
    assert.match(huge, /^HTTP\/1\.1 431/);
    assert.equal(await status('/health'), 200);
  });

  it('a slow trickling client does not hold up others and is cut off', async () => {
    const s = net.connect(Number(new URL(url).port), '127.0.0.1');
    let closed = false;
    s.on('close', () => (closed = true));
    s.on('error', () => (closed = true));
    const trickle = setInterval(() => s.write('a'), 200);
    s.write('GET /health HTTP/1.1\r\nX-Slow: ');
    try {
      for (let i = 0; i < 5; i++) assert.equal(await status('/health'), 200, 'others are served meanwhile');
      await until('the trickling client to be cut off', () => closed, 20_000);
    } finally {
      clearInterval(trickle);
      s.destroy();
    }
  });

  it('binary keys round-trip', async () => {
    assert.equal(await status('/v1/kv/%00%FF%2F', { method: 'PUT', body: Buffer.from([1, 2, 3]) }), 200);
    const r = await fetch(`${url}/v1/kv/%00%FF%2F`);
    assert.deepEqual([...new Uint8Array(await r.arrayBuffer())], [1, 2, 3]);
    assert.equal(await status('/v1/kv/%00%FF%2F', { method: 'DELETE' }), 200);
  });

  it('after all of that the node is up and the data is unchanged', async () => {
    assert.equal(await status('/health'), 200);
    assert.equal(await dump(), before_);
  });

  it('serves metrics, readiness and the OpenAPI document', async () => {
    const m = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['concord_raft_term', 'concord_raft_commit_index', 'concord_raft_applied_index', 'concord_raft_role', 'concord_raft_fsync_duration_seconds', 'concord_raft_proposals_total', 'concord_http_request_duration_seconds', 'concord_peer_queue_messages']) {
      assert.ok(m.includes(name), `metric ${name} missing`);
    }
    assert.equal(await status('/ready'), 200);
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/v1/kv/{key}']);
  });
});
