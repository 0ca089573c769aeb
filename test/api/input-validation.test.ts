// Bad input is answered with the right status and the JSON error shape, and never reaches the
// service: the in-memory store sees no call and stays byte-for-byte the same.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, errorOf, jsonInit, startApi, type TestApi } from './helpers.ts';

interface Case {
  name: string;
  path: string;
  init?: RequestInit;
  status: number;
  code?: string;
}

const big = (n: number) => 'x'.repeat(n);
const json = (method: string, body: unknown) => jsonInit(method, body);
const maxKeyEncoded = '%41'.repeat(LIMITS.maxKeyBytes);

const cases: Case[] = [
  // keys in paths
  ...['PUT', 'GET', 'DELETE'].flatMap((method) => [
    { name: `${method} bad percent-encoding`, path: '/v1/kv/%ZZ', init: { method }, status: 400, code: 'bad-request' },
    { name: `${method} truncated percent-encoding`, path: '/v1/kv/abc%4', init: { method }, status: 400 },
    { name: `${method} lone %`, path: '/v1/kv/100%', init: { method }, status: 400 },
    { name: `${method} empty key`, path: '/v1/kv/', init: { method }, status: 400, code: 'bad-request' },
    { name: `${method} key one byte too long`, path: `/v1/kv/${big(LIMITS.maxKeyBytes + 1)}`, init: { method }, status: 413, code: 'too-large' },
    { name: `${method} key too long, percent-encoded`, path: `/v1/kv/${maxKeyEncoded}%41`, init: { method }, status: 413 },
  ]),
  { name: 'seed 003 bad percent-encoding', path: '/api/v1/kv/%G0', status: 400 },
  { name: 'seed 003 empty key', path: '/api/v1/kv/', status: 400 },
  { name: 'seed 003 binary key', path: '/api/v1/kv/%FF', status: 400 },
  { name: 'seed 001 /get/key= empty', path: '/get/key=', status: 400 },
  { name: 'seed 001 /get/key= bad encoding', path: '/get/key=%Z1', status: 400 },
  { name: 'seed 001 /set bad encoding', path: '/set/%ZZ/v', init: { method: 'POST' }, status: 400 },
  // keys in queries and bodies
  { name: '/query without key', path: '/query', status: 400 },
  { name: '/query with empty key', path: '/query?key=', status: 400 },
  { name: '/query with repeated key', path: '/query?key=a&key=b', status: 400 },
  { name: '/get with bad encoding', path: '/get?key=%ZZ', status: 400 },
  { name: '/get with key too long', path: `/get?key=${big(LIMITS.maxKeyBytes + 1)}`, status: 413 },
  { name: '/delete with neither query nor body', path: '/delete', init: { method: 'DELETE' }, status: 400 },
  { name: '/delete with query and body that differ', path: '/delete?key=a', init: json('DELETE', { key: 'b' }), status: 400 },
  { name: '/delete with a non-object body', path: '/delete', init: json('DELETE', ['a']), status: 400 },
  { name: '/add with empty key', path: '/add', init: json('POST', { key: '', value: 'v' }), status: 400 },
  { name: '/add with key too long', path: '/add', init: json('POST', { key: big(LIMITS.maxKeyBytes + 1), value: 'v' }), status: 413 },
  { name: '/add with a number for value', path: '/add', init: json('POST', { key: 'k', value: 5 }), status: 400 },
  { name: '/add without value', path: '/add', init: json('POST', { key: 'k' }), status: 400 },
  { name: '/add with a lone surrogate', path: '/add', init: json('POST', '{"key":"\\ud800","value":"v"}'), status: 400 },
  // values
  { name: 'v1 value one byte too large', path: '/v1/kv/big', init: { method: 'PUT', body: big(LIMITS.maxValueBytes + 1) }, status: 413, code: 'too-large' },
  { name: '/add value too large', path: '/add', init: json('POST', { key: 'k', value: big(LIMITS.maxValueBytes + 1) }), status: 413 },
  { name: '/put value too large', path: '/put', init: json('PUT', { key: 'k', value: big(LIMITS.maxValueBytes + 1) }), status: 413 },
  { name: 'seed 003 value too large', path: '/api/v1/kv/k', init: json('PUT', { value: Buffer.alloc(LIMITS.maxValueBytes + 1).toString('base64') }), status: 413 },
  { name: 'seed 003 value not base64', path: '/api/v1/kv/k', init: json('PUT', { key: 'k', value: 'not base64!' }), status: 400 },
  { name: 'seed 003 body key differs from path', path: '/api/v1/kv/k', init: json('PUT', { key: 'other', value: 'eA==' }), status: 400 },
  { name: 'JSON body far over the limit', path: '/add', init: json('POST', { key: 'k', value: big(4 * LIMITS.maxValueBytes + 2 * 1024 * 1024) }), status: 413 },
  // query parameters
  ...['ttl=0', 'ttl=-1', 'ttl=abc', 'ttl=1.5', 'ttl=99999999999'].map((q) => ({ name: `PUT ${q}`, path: `/v1/kv/t?${q}`, init: { method: 'PUT', body: 'x' }, status: 400 })),
  // leases
  ...['lease=0', 'lease=-1', 'lease=abc', 'lease=1.5', 'lease=99999999999999999'].map((q) => ({ name: `PUT ${q}`, path: `/v1/kv/t?${q}`, init: { method: 'PUT', body: 'x' }, status: 400 })),
  ...[{}, { ttl: 0 }, { ttl: 1.5 }, { ttl: 10_000_000_000 }, { ttl: 10, id: 0 }, { ttl: 10, id: 2 ** 53 }, { ttl: 10, key: '' }, { ttl: 10, extra: 1 }, { ttl: '10' }].map((body) => ({
    name: `POST /v1/leases ${JSON.stringify(body)}`,
    path: '/v1/leases',
    init: json('POST', body),
    status: 400,
  })),
  { name: 'lease keep-alive with a bad id', path: '/v1/leases/abc/keepalive', init: { method: 'POST' }, status: 400 },
  { name: 'lease keep-alive with id 0', path: '/v1/leases/0/keepalive', init: { method: 'POST' }, status: 400 },
  { name: 'lease revoke with an id too large', path: '/v1/leases/99999999999999999', init: { method: 'DELETE' }, status: 400 },
  { name: 'lease time to live with a bad keys flag', path: '/v1/leases/5?keys=maybe', status: 400 },
  { name: 'batch put with lease 0', path: '/v1/batch', init: json('POST', { ops: [{ op: 'put', key: 'k', value: 'v', lease: 0 }] }), status: 400 },
  // malformed and mistyped JSON, wrong media types
  ...['/add', '/v1/batch', '/v1/cluster/nodes', '/api/v1/cluster/nodes'].map((path) => ({ name: `malformed JSON to ${path}`, path, init: json('POST', '{"key": "a", '), status: 400, code: 'bad-request' })),
  { name: 'malformed JSON to PUT /put', path: '/put', init: json('PUT', '{'), status: 400 },
  { name: 'malformed JSON to seed 003 PUT', path: '/api/v1/kv/k', init: json('PUT', 'nope'), status: 400 },
  { name: 'empty JSON body', path: '/add', init: json('POST', ''), status: 400 },
  { name: 'text/plain to a JSON route', path: '/add', init: { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"key":"a","value":"b"}' }, status: 415, code: 'unsupported-media-type' },
  { name: 'form body to a JSON route', path: '/v1/batch', init: { method: 'POST', body: new URLSearchParams({ a: 'b' }) }, status: 415 },
  // batches
  { name: 'batch without ops', path: '/v1/batch', init: json('POST', {}), status: 400 },
  { name: 'batch with no op', path: '/v1/batch', init: json('POST', { ops: [] }), status: 400 },
  { name: 'batch with too many ops', path: '/v1/batch', init: json('POST', { ops: Array.from({ length: 10_001 }, () => ({ op: 'delete', key: 'k' })) }), status: 400 },
  { name: 'batch with an unknown op', path: '/v1/batch', init: json('POST', { ops: [{ op: 'get', key: 'k' }] }), status: 400 },
  { name: 'batch put without value', path: '/v1/batch', init: json('POST', { ops: [{ op: 'put', key: 'k' }] }), status: 400 },
  { name: 'batch with an extra field', path: '/v1/batch', init: json('POST', { ops: [{ op: 'delete', key: 'k', when: 'now' }] }), status: 400 },
  { name: 'batch with an empty key', path: '/v1/batch', init: json('POST', { ops: [{ op: 'put', key: 'ok', value: '' }, { op: 'delete', key: '' }] }), status: 400 },
  { name: 'batch with bad base64', path: '/v1/batch', init: json('POST', { encoding: 'base64', ops: [{ op: 'delete', key: '***' }] }), status: 400 },
  { name: 'batch with a value too large', path: '/v1/batch', init: json('POST', { ops: [{ op: 'put', key: 'k', value: big(LIMITS.maxValueBytes + 1) }] }), status: 413 },
  {
    name: 'batch whose values together are too large',
    path: '/v1/batch',
    init: json('POST', { ops: [1, 2].map((i) => ({ op: 'put', key: `k${i}`, value: big(LIMITS.maxValueBytes / 2 + 1) })) }),
    status: 413,
  },
  // cluster membership
  { name: 'add node with a bad address', path: '/v1/cluster/nodes', init: json('POST', { id: 'n9', address: 'no-port' }), status: 400 },
  { name: 'add node with port 0', path: '/v1/cluster/nodes', init: json('POST', { id: 'n9', address: '127.0.0.1:0' }), status: 400 },
  { name: 'add node with a bad id', path: '/v1/cluster/nodes', init: json('POST', { id: 'a b', address: '127.0.0.1:7009' }), status: 400 },
  { name: 'add node with seed 003 field names on v1', path: '/v1/cluster/nodes', init: json('POST', { node_id: 'n9', address: '127.0.0.1:7009' }), status: 400 },
  { name: 'remove node with a bad id', path: '/v1/cluster/nodes/a%20b', init: { method: 'DELETE' }, status: 400 },
  // methods and routes
  { name: 'PATCH a key', path: '/v1/kv/k', init: { method: 'PATCH', body: 'x' }, status: 405, code: 'method-not-allowed' },
  { name: 'POST a key with an odd media type', path: '/v1/kv/k', init: { method: 'POST', headers: { 'content-type': 'x/y' }, body: 'x' }, status: 405 },
  { name: 'GET /add', path: '/add', status: 405 },
  { name: 'PUT /delete', path: '/delete', init: { method: 'PUT' }, status: 405 },
  { name: 'GET /v1/batch', path: '/v1/batch', status: 405 },
  { name: 'POST /health', path: '/health', init: { method: 'POST' }, status: 405 },
  { name: 'POST /api/v1/kv/k', path: '/api/v1/kv/k', init: { method: 'POST' }, status: 405 },
  { name: 'unknown route', path: '/no/such/route', status: 404, code: 'not-found' },
  { name: 'unknown route with a body', path: '/nope', init: { method: 'POST', headers: { 'content-type': 'x/y' }, body: 'x' }, status: 404 },
  { name: 'v2 API', path: '/v2/kv/k', status: 404 },
];

describe('bad input is refused before the service', () => {
  let api: TestApi;
  let calls: number;
  let state: string;
  before(async () => {
    api = await startApi();
    await fetch(`${api.url}/v1/kv/k`, { method: 'PUT', body: 'original' });
    await fetch(`${api.url}/v1/kv/a`, { method: 'PUT', body: 'original' });
    calls = api.kv.calls.length;
    state = api.kv.dump();
  });
  after(async () => api.close());

  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const r = await fetch(`${api.url}${c.path}`, c.init);
      const e = await errorOf(r);
      assert.equal(e.status, c.status, e.message);
      if (c.code) assert.equal(e.code, c.code);
      assert.equal(api.kv.calls.length, calls, 'the request reached the service');
      assert.deepEqual(api.cluster.calls, [], 'the request reached the cluster service');
      assert.equal(api.kv.dump(), state);
    });
  }

  it('405 names the allowed methods', async () => {
    const r = await fetch(`${api.url}/v1/kv/k`, { method: 'PATCH' });
    assert.equal(r.headers.get('allow'), 'GET, HEAD, PUT, DELETE');
    assert.equal((await fetch(`${api.url}/delete`, { method: 'GET' })).headers.get('allow'), 'DELETE');
  });

  it('the largest legal key, fully percent-encoded, is accepted', async () => {
    const r = await fetch(`${api.url}/v1/kv/${maxKeyEncoded}`, { method: 'PUT', body: 'max' });
    assert.equal(r.status, 200);
    assert.equal(api.kv.calls.at(-1)!.key!.byteLength, LIMITS.maxKeyBytes);
  });

  it('the largest legal value is accepted', async () => {
    const r = await fetch(`${api.url}/v1/kv/max-value`, { method: 'PUT', body: Buffer.alloc(LIMITS.maxValueBytes, 1) });
    assert.equal(r.status, 200);
  });
});
