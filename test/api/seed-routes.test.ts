// The seeds' routes, called as their READMEs call them: with curl (the README commands, host and
// port aside) when curl is installed, and with fetch for the response shapes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { curl, errorOf, hasCurl, jsonInit, startApi, type TestApi } from './helpers.ts';

const noCurl = (await hasCurl()) ? false : 'curl is not installed';

/** curl, plus the status code on the last line. */
async function curlStatus(args: string[]): Promise<{ status: number; body: string }> {
  const out = await curl([...args, '-w', '\n%{http_code}']);
  const nl = out.lastIndexOf('\n');
  return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
}

describe('seed 000 (gossip store): /add, /query, /delete', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  after(async () => api.close());

  it('the README quick start, with curl', { skip: noCurl }, async () => {
    const u = api.url;
    let r = await curlStatus(['-X', 'POST', `${u}/add`, '-H', 'Content-Type: application/json', '-d', '{"key": "hello", "value": "world"}']);
    assert.equal(r.status, 200, r.body);
    r = await curlStatus(['-X', 'GET', `${u}/query?key=hello`]);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).value, 'world');
    r = await curlStatus(['-X', 'POST', `${u}/add`, '-H', 'Content-Type: application/json', '-d', '{"key": "node2", "value": "hello node2"}']);
    assert.equal(r.status, 200);
    r = await curlStatus(['-X', 'GET', `${u}/query?key=node2`]);
    assert.equal(JSON.parse(r.body).value, 'hello node2');
    r = await curlStatus(['-X', 'DELETE', `${u}/delete`, '-H', 'Content-Type: application/json', '-d', '{"key": "hello"}']);
    assert.equal(r.status, 200, r.body);
    r = await curlStatus(['-X', 'GET', `${u}/query?key=hello`]);
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body).error.code, 'not-found');
  });

  it('response shapes follow v1', async () => {
    let r = await fetch(`${api.url}/add`, jsonInit('POST', { key: 'shape', value: 'v' }));
    const { revision } = await r.json();
    assert.equal(typeof revision, 'number');
    r = await fetch(`${api.url}/query?key=shape`);
    assert.deepEqual(await r.json(), { key: 'shape', value: 'v', revision });
    r = await fetch(`${api.url}/delete`, jsonInit('DELETE', { key: 'shape' }));
    assert.deepEqual(await r.json(), { deleted: 1, revision: revision + 1 });
    r = await fetch(`${api.url}/delete`, jsonInit('DELETE', { key: 'shape' }));
    assert.equal((await errorOf(r)).status, 404);
  });

  it('extra fields in the body are ignored, as the seed did', async () => {
    const r = await fetch(`${api.url}/add`, jsonInit('POST', { key: 'x', value: 'y', ttl: 5 }));
    assert.equal(r.status, 200);
  });

  it('a value written as bytes through v1 is refused as text with a pointer to /v1/kv', async () => {
    await fetch(`${api.url}/v1/kv/bin`, { method: 'PUT', body: Buffer.from([0xff]) });
    const e = await errorOf(await fetch(`${api.url}/query?key=bin`));
    assert.equal(e.status, 400);
    assert.match(e.message, /\/v1\/kv/);
  });
});

describe('seed 001 (memberlist store): /put, /get, /get/key=, /delete?key=, /set', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  after(async () => api.close());

  it('every README endpoint, with curl', { skip: noCurl }, async () => {
    const u = api.url;
    let r = await curlStatus(['-X', 'PUT', `${u}/put`, '-H', 'Content-Type: application/json', '-d', '{"key": "your-key", "value": "your-value"}']);
    assert.equal(r.status, 200, r.body);
    r = await curlStatus([`${u}/get/key=your-key`]);
    assert.equal(JSON.parse(r.body).value, 'your-value');
    r = await curlStatus([`${u}/get?key=your-key`]);
    assert.equal(JSON.parse(r.body).value, 'your-value');
    r = await curlStatus(['-X', 'POST', `${u}/set/k2/v2`]);
    assert.equal(r.status, 200, r.body);
    r = await curlStatus([`${u}/get?key=k2`]);
    assert.equal(JSON.parse(r.body).value, 'v2');
    r = await curlStatus(['-X', 'DELETE', `${u}/delete?key=your-key`]);
    assert.equal(r.status, 200, r.body);
    r = await curlStatus([`${u}/get/key=your-key`]);
    assert.equal(r.status, 404);
  });

  it('/set and /get/key= percent-decode their path segments', async () => {
    assert.equal((await fetch(`${api.url}/set/a%20key/a%2Fvalue`, { method: 'POST' })).status, 200);
    assert.deepEqual(await (await fetch(`${api.url}/get/key=a%20key`)).json(), { key: 'a key', value: 'a/value', revision: api.kv.revision });
    assert.equal(await (await fetch(`${api.url}/v1/kv/a%20key`)).text(), 'a/value');
  });

  it('DELETE /delete takes the key from the query (001) or the body (000)', async () => {
    await fetch(`${api.url}/put`, jsonInit('PUT', { key: 'q', value: '1' }));
    await fetch(`${api.url}/put`, jsonInit('PUT', { key: 'b', value: '1' }));
    assert.equal((await fetch(`${api.url}/delete?key=q`, { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(`${api.url}/delete`, jsonInit('DELETE', { key: 'b' }))).status, 200);
    // Both, agreeing, is fine too.
    await fetch(`${api.url}/put`, jsonInit('PUT', { key: 'both', value: '1' }));
    assert.equal((await fetch(`${api.url}/delete?key=both`, jsonInit('DELETE', { key: 'both' }))).status, 200);
  });

  it('query keys use form encoding: + is a space', async () => {
    await fetch(`${api.url}/put`, jsonInit('PUT', { key: 'a b', value: 'spaced' }));
    assert.equal((await (await fetch(`${api.url}/get?key=a+b`)).json()).value, 'spaced');
    assert.equal((await (await fetch(`${api.url}/get?key=a%20b`)).json()).value, 'spaced');
  });
});

describe('seed 003 (raft store): /api/v1', () => {
  let api: TestApi;
  before(async () => (api = await startApi()));
  after(async () => api.close());

  it('the README HTTP API section, with curl', { skip: noCurl }, async () => {
    const u = api.url;
    let r = await curlStatus(['-X', 'PUT', `${u}/api/v1/kv/mykey`, '-H', 'Content-Type: application/json', '-d', '{"key": "mykey", "value": "SGVsbG8sIFdvcmxkIQ=="}']);
    assert.equal(r.status, 200, r.body);
    r = await curlStatus([`${u}/api/v1/kv/mykey`]);
    assert.equal(Buffer.from(JSON.parse(r.body).value, 'base64').toString(), 'Hello, World!');
    r = await curlStatus([`${u}/api/v1/kv`]);
    assert.deepEqual(JSON.parse(r.body).items.map((i: { key: string }) => i.key), ['mykey']);
    r = await curlStatus(['-X', 'DELETE', `${u}/api/v1/kv/mykey`]);
    assert.equal(r.status, 200, r.body);
    r = await curlStatus([`${u}/api/v1/cluster/status`]);
    assert.equal(JSON.parse(r.body).leader, 'n1');
    for (const [id, port] of [['node2', 7002], ['node3', 7003], ['node4', 7004]]) {
      r = await curlStatus(['-X', 'POST', `${u}/api/v1/cluster/nodes`, '-H', 'Content-Type: application/json', '-d', `{"node_id": "${id}", "address": "127.0.0.1:${port}"}`]);
      assert.equal(r.status, 200, r.body);
    }
    assert.equal(api.cluster.nodes.get('node4'), '127.0.0.1:7004');
    r = await curlStatus(['-X', 'DELETE', `${u}/api/v1/cluster/nodes/node4`]);
    assert.equal(r.status, 200, r.body);
    assert.equal(api.cluster.nodes.has('node4'), false);
    r = await curlStatus([`${u}/api/v1/health`]);
    assert.equal(JSON.parse(r.body).status, 'ok');
    r = await curlStatus([`${u}/api/v1/metrics`]);
    assert.equal(r.body, api.metricsText);
  });

  it('GET answers {"key","value":<base64>,"revision"}; the value is the decoded bytes', async () => {
    const value = Buffer.from([0, 1, 0xff]);
    const { revision } = await (await fetch(`${api.url}/api/v1/kv/bytes`, jsonInit('PUT', { key: 'bytes', value: value.toString('base64') }))).json();
    assert.deepEqual(await (await fetch(`${api.url}/api/v1/kv/bytes`)).json(), { key: 'bytes', value: value.toString('base64'), revision });
    assert.deepEqual(Buffer.from(await (await fetch(`${api.url}/v1/kv/bytes`)).arrayBuffer()), value);
  });

  it('the body key may be left out; the path names the key', async () => {
    assert.equal((await fetch(`${api.url}/api/v1/kv/nokey`, jsonInit('PUT', { value: 'eA==' }))).status, 200);
    assert.equal(await (await fetch(`${api.url}/v1/kv/nokey`)).text(), 'x');
  });

  it('listing: text keys, base64 values, v1 query parameters', async () => {
    await fetch(`${api.url}/v1/kv/p%2F1`, { method: 'PUT', body: 'one' });
    await fetch(`${api.url}/v1/kv/p%2F2`, { method: 'PUT', body: 'two' });
    const body = await (await fetch(`${api.url}/api/v1/kv?prefix=p/&limit=1`)).json();
    assert.deepEqual(body.items.map((i: { key: string; value: string }) => [i.key, i.value]), [['p/1', Buffer.from('one').toString('base64')]]);
    assert.equal(body.more, true);
  });

  it('DELETE of an absent key and removing a non-member are 404s', async () => {
    assert.equal((await errorOf(await fetch(`${api.url}/api/v1/kv/ghost`, { method: 'DELETE' }))).status, 404);
    assert.equal((await errorOf(await fetch(`${api.url}/api/v1/cluster/nodes/ghost`, { method: 'DELETE' }))).status, 404);
  });
});
