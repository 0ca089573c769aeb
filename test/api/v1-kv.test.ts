// HTTP API v1 key-value routes over real HTTP: put/get/delete, CAS, create-only, TTL, binary keys,
// listings and batches.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorOf, jsonInit, startApi, type TestApi } from './helpers.ts';

describe('HTTP API v1: keys', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  after(async () => api.close());

  it('PUT stores the body bytes; GET returns them with ETag, X-Create-Revision and X-Version', async () => {
    let r = await fetch(`${api.url}/v1/kv/hello`, { method: 'PUT', body: 'world' });
    assert.equal(r.status, 200);
    const { revision } = await r.json();
    assert.equal(typeof revision, 'number');
    assert.equal(r.headers.get('etag'), `"${revision}"`);

    r = await fetch(`${api.url}/v1/kv/hello`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    assert.equal(r.headers.get('etag'), `"${revision}"`);
    assert.equal(r.headers.get('x-create-revision'), String(revision));
    assert.equal(r.headers.get('x-version'), '1');
    assert.equal(await r.text(), 'world');

    r = await fetch(`${api.url}/v1/kv/hello`, { method: 'PUT', body: 'again' });
    const second = (await r.json()).revision;
    assert.ok(second > revision);
    r = await fetch(`${api.url}/v1/kv/hello`);
    assert.equal(r.headers.get('x-create-revision'), String(revision));
    assert.equal(r.headers.get('x-version'), '2');
    assert.equal(r.headers.get('etag'), `"${second}"`);
  });

  it('stores a JSON body as its bytes, whatever the content type', async () => {
    for (const [type, body] of [['application/json', '{"a":[1,2]}'], ['text/plain', 'plain'], ['application/x-www-form-urlencoded', 'a=b&c=d'], ['image/png', '\x89PNG']]) {
      const r = await fetch(`${api.url}/v1/kv/typed`, { method: 'PUT', headers: { 'content-type': type }, body });
      assert.equal(r.status, 200, type);
      assert.equal(await (await fetch(`${api.url}/v1/kv/typed`)).text(), body);
    }
  });

  it('an empty body stores an empty value', async () => {
    assert.equal((await fetch(`${api.url}/v1/kv/empty`, { method: 'PUT' })).status, 200);
    const r = await fetch(`${api.url}/v1/kv/empty`);
    assert.equal(r.status, 200);
    assert.equal((await r.arrayBuffer()).byteLength, 0);
  });

  it('?lease= reaches the service as the put\'s lease; on a service without leases the lease routes answer 501', async () => {
    assert.equal((await fetch(`${api.url}/v1/kv/leased?lease=9007199254740991`, { method: 'PUT', body: 'x' })).status, 200);
    assert.deepEqual(api.kv.calls.at(-1)!.opts, { lease: Number.MAX_SAFE_INTEGER });
    for (const [path, init] of [['/v1/leases', jsonInit('POST', { ttl: 5 })], ['/v1/leases/7/keepalive', { method: 'POST' }], ['/v1/leases/7', { method: 'DELETE' }], ['/v1/leases/7', {}], ['/v1/leases', {}]] as const) {
      const e = await errorOf(await fetch(`${api.url}${path}`, init));
      assert.deepEqual([e.status, e.code], [501, 'not-implemented'], path);
    }
  });

  it('GET of an absent key is a 404 error', async () => {
    const e = await errorOf(await fetch(`${api.url}/v1/kv/never-written`));
    assert.deepEqual([e.status, e.code], [404, 'not-found']);
  });

  it('binary keys and values round-trip: %00%FF', async () => {
    const value = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    let r = await fetch(`${api.url}/v1/kv/%00%FF`, { method: 'PUT', body: value });
    assert.equal(r.status, 200);
    const stored = api.kv.calls.at(-1)!;
    assert.deepEqual(stored.key, Buffer.from([0x00, 0xff]));
    r = await fetch(`${api.url}/v1/kv/%00%ff`); // hex digits in either case
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), value);
  });

  it('keys may contain "/", encoded or not, and they are different keys', async () => {
    await fetch(`${api.url}/v1/kv/a/b`, { method: 'PUT', body: 'slash' });
    await fetch(`${api.url}/v1/kv/a%2Fb%25`, { method: 'PUT', body: 'encoded' });
    assert.equal(await (await fetch(`${api.url}/v1/kv/a/b`)).text(), 'slash');
    assert.deepEqual(api.kv.calls.at(-1)!.key, Buffer.from('a/b'));
    assert.equal(await (await fetch(`${api.url}/v1/kv/a%2Fb%25`)).text(), 'encoded');
    assert.deepEqual(api.kv.calls.at(-1)!.key, Buffer.from('a/b%'));
    // '+' in a path is a plus, not a space; UTF-8 keys arrive percent-encoded.
    await fetch(`${api.url}/v1/kv/1+1`, { method: 'PUT', body: 'two' });
    assert.deepEqual(api.kv.calls.at(-1)!.key, Buffer.from('1+1'));
    await fetch(`${api.url}/v1/kv/${encodeURIComponent('ключ ✓')}`, { method: 'PUT', body: 'utf8' });
    assert.deepEqual(api.kv.calls.at(-1)!.key, Buffer.from('ключ ✓'));
  });

  it('DELETE answers {"deleted":1,"revision"}; a second DELETE is a 404', async () => {
    await fetch(`${api.url}/v1/kv/doomed`, { method: 'PUT', body: 'x' });
    let r = await fetch(`${api.url}/v1/kv/doomed`, { method: 'DELETE' });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.deleted, 1);
    assert.equal(typeof body.revision, 'number');
    assert.equal((await fetch(`${api.url}/v1/kv/doomed`)).status, 404);
    r = await fetch(`${api.url}/v1/kv/doomed`, { method: 'DELETE' });
    assert.deepEqual((await errorOf(r)).code, 'not-found');
  });

  it('HEAD gives the headers without the body; If-None-Match with the ETag gives 304', async () => {
    const { revision } = await (await fetch(`${api.url}/v1/kv/cached`, { method: 'PUT', body: 'abc' })).json();
    let r = await fetch(`${api.url}/v1/kv/cached`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('etag'), `"${revision}"`);
    assert.equal(await r.text(), '');
    r = await fetch(`${api.url}/v1/kv/cached`, { headers: { 'if-none-match': `"${revision}"` } });
    assert.equal(r.status, 304);
    r = await fetch(`${api.url}/v1/kv/cached`, { headers: { 'if-none-match': `"${revision + 100}"` } });
    assert.equal(r.status, 200);
  });

  it('?consistency= reaches the service; other values are a 400', async () => {
    await fetch(`${api.url}/v1/kv/c`, { method: 'PUT', body: 'x' });
    assert.equal((await fetch(`${api.url}/v1/kv/c?consistency=serializable`)).status, 200);
    assert.equal(api.kv.lastConsistency, 'serializable');
    assert.equal((await fetch(`${api.url}/v1/kv/c?consistency=linearizable`)).status, 200);
    assert.equal(api.kv.lastConsistency, 'linearizable');
    assert.equal((await fetch(`${api.url}/v1/kv/c?consistency=eventual`)).status, 400);
  });

  it('?ttl=SECONDS reaches the service as ttlSeconds', async () => {
    assert.equal((await fetch(`${api.url}/v1/kv/ttl?ttl=30`, { method: 'PUT', body: 'x' })).status, 200);
    assert.deepEqual(api.kv.calls.at(-1)!.opts, { ttlSeconds: 30 });
  });
});

describe('HTTP API v1: compare-and-swap and create-only', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  after(async () => api.close());

  it('If-Match with the current ETag succeeds; with a stale one it is a 412 and nothing changes', async () => {
    const first = (await (await fetch(`${api.url}/v1/kv/cas`, { method: 'PUT', body: 'v1' })).json()).revision;
    let r = await fetch(`${api.url}/v1/kv/cas`, { method: 'PUT', headers: { 'if-match': `"${first}"` }, body: 'v2' });
    assert.equal(r.status, 200);
    const before = api.kv.dump();
    r = await fetch(`${api.url}/v1/kv/cas`, { method: 'PUT', headers: { 'if-match': `"${first}"` }, body: 'v3' });
    assert.deepEqual(Object.values(await errorOf(r)).slice(0, 2), [412, 'precondition-failed']);
    assert.equal(api.kv.dump(), before);
    assert.equal(await (await fetch(`${api.url}/v1/kv/cas`)).text(), 'v2');
  });

  it('If-Match accepts an unquoted revision too', async () => {
    const rev = (await (await fetch(`${api.url}/v1/kv/cas2`, { method: 'PUT', body: 'a' })).json()).revision;
    assert.equal((await fetch(`${api.url}/v1/kv/cas2`, { method: 'PUT', headers: { 'if-match': String(rev) }, body: 'b' })).status, 200);
  });

  it('If-None-Match: * creates once, then 412', async () => {
    let r = await fetch(`${api.url}/v1/kv/once`, { method: 'PUT', headers: { 'if-none-match': '*' }, body: 'first' });
    assert.equal(r.status, 200);
    r = await fetch(`${api.url}/v1/kv/once`, { method: 'PUT', headers: { 'if-none-match': '*' }, body: 'second' });
    assert.equal(r.status, 412);
    assert.equal(await (await fetch(`${api.url}/v1/kv/once`)).text(), 'first');
  });

  it('DELETE with If-Match: stale is 412, current deletes', async () => {
    const rev = (await (await fetch(`${api.url}/v1/kv/cad`, { method: 'PUT', body: 'x' })).json()).revision;
    assert.equal((await fetch(`${api.url}/v1/kv/cad`, { method: 'DELETE', headers: { 'if-match': `"${rev - 1}"` } })).status, 412);
    assert.equal((await fetch(`${api.url}/v1/kv/cad`, { method: 'DELETE', headers: { 'if-match': `"${rev}"` } })).status, 200);
  });

  it('malformed preconditions are a 400 and never reach the service', async () => {
    const calls = api.kv.calls.length;
    const bad: Array<Record<string, string>> = [{ 'if-match': 'W/"1"' }, { 'if-match': '*' }, { 'if-match': '"abc"' }, { 'if-none-match': '"3"' }, { 'if-match': '"1"', 'if-none-match': '*' }];
    for (const headers of bad) {
      const r = await fetch(`${api.url}/v1/kv/cas`, { method: 'PUT', headers, body: 'x' });
      assert.equal(r.status, 400, JSON.stringify(headers));
    }
    assert.equal(api.kv.calls.length, calls);
  });
});

describe('HTTP API v1: listing and batches', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  beforeEach(async () => {
    const ops = ['a', 'b/1', 'b/2', 'b/3', 'c'].map((key) => ({ op: 'put', key, value: `v-${key}` }));
    const r = await fetch(`${api.url}/v1/batch`, jsonInit('POST', { ops }));
    assert.equal(r.status, 200);
  });
  after(async () => api.close());

  it('GET /v1/kv lists in key order with revisions', async () => {
    const body = await (await fetch(`${api.url}/v1/kv`)).json();
    assert.deepEqual(body.items.map((i: { key: string }) => i.key), ['a', 'b/1', 'b/2', 'b/3', 'c']);
    assert.equal(body.items[0].value, 'v-a');
    assert.equal(typeof body.items[0].revision, 'number');
    assert.equal(body.more, false);
  });

  it('prefix, start/end, limit and more', async () => {
    let body = await (await fetch(`${api.url}/v1/kv?prefix=b%2F`)).json();
    assert.deepEqual(body.items.map((i: { key: string }) => i.key), ['b/1', 'b/2', 'b/3']);
    body = await (await fetch(`${api.url}/v1/kv?start=b/2&end=c`)).json();
    assert.deepEqual(body.items.map((i: { key: string }) => i.key), ['b/2', 'b/3']);
    body = await (await fetch(`${api.url}/v1/kv?limit=2`)).json();
    assert.equal(body.items.length, 2);
    assert.equal(body.more, true);
  });

  it('keys_only omits values', async () => {
    for (const q of ['keys_only', 'keys_only=true', 'keys_only=1']) {
      const body = await (await fetch(`${api.url}/v1/kv?${q}`)).json();
      assert.equal(body.items[0].value, undefined, q);
      assert.equal(body.items[0].key, 'a');
    }
    const body = await (await fetch(`${api.url}/v1/kv?keys_only=false`)).json();
    assert.equal(body.items[0].value, 'v-a');
  });

  it('binary data: encoding=base64 lists it unmarked; a text listing gives it in base64, marked per field', async () => {
    await fetch(`${api.url}/v1/kv/%FF%00`, { method: 'PUT', body: Buffer.from([0xc3, 0x28]) });
    let r = await fetch(`${api.url}/v1/kv?prefix=%FF`);
    assert.equal(r.status, 200);
    let body = await r.json();
    const revision = body.items[0].revision;
    assert.deepEqual(body.items, [{ key: '/wA=', keyEncoding: 'base64', value: 'wyg=', valueEncoding: 'base64', revision }]);
    r = await fetch(`${api.url}/v1/kv?prefix=%FF&encoding=base64`);
    body = await r.json();
    assert.deepEqual(body.items, [{ key: Buffer.from([0xff, 0]).toString('base64'), value: 'wyg=', revision }]);
  });

  it('limit must be 1..10000; other list parameters are checked too', async () => {
    for (const q of ['limit=0', 'limit=10001', 'limit=-1', 'limit=abc', 'limit=1.5', 'encoding=hex', 'keys_only=yes', 'consistency=eventual', 'prefix=%ZZ', 'limit=1&limit=2']) {
      const r = await fetch(`${api.url}/v1/kv?${q}`);
      assert.equal(r.status, 400, q);
      await errorOf(r);
    }
    assert.equal((await fetch(`${api.url}/v1/kv?limit=10000&prefix=b`)).status, 200);
  });

  it('a batch applies puts and deletes at one revision', async () => {
    const r = await fetch(`${api.url}/v1/batch`, jsonInit('POST', { ops: [{ op: 'delete', key: 'a' }, { op: 'put', key: 'd', value: 'new' }] }));
    const { revision } = await r.json();
    assert.equal((await fetch(`${api.url}/v1/kv/a`)).status, 404);
    const g = await fetch(`${api.url}/v1/kv/d`);
    assert.equal(g.headers.get('etag'), `"${revision}"`);
    assert.equal(await g.text(), 'new');
  });

  it('a batch with encoding=base64 carries binary keys and values', async () => {
    const ops = [{ op: 'put', key: Buffer.from([0, 0xff]).toString('base64'), value: Buffer.from([1, 2, 3]).toString('base64') }];
    assert.equal((await fetch(`${api.url}/v1/batch`, jsonInit('POST', { encoding: 'base64', ops }))).status, 200);
    assert.deepEqual(Buffer.from(await (await fetch(`${api.url}/v1/kv/%00%FF`)).arrayBuffer()), Buffer.from([1, 2, 3]));
  });
});
