// Listings answer whatever is stored: a key or value that is not UTF-8 never makes a text listing
// fail. It comes in base64 with a marker on its own item and field (keyEncoding / valueEncoding),
// every UTF-8 item stays exactly as it was, and paging continues past such keys byte for byte.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jsonInit, startApi, type TestApi } from './helpers.ts';

interface Item {
  key: string;
  value?: string;
  revision: number;
  keyEncoding?: string;
  valueEncoding?: string;
}

/** The key's bytes, whichever way the item carries them. */
const keyBytes = (i: Item): Buffer => (i.keyEncoding === 'base64' ? Buffer.from(i.key, 'base64') : Buffer.from(i.key, 'utf8'));
const pct = (b: Uint8Array): string => [...b].map((x) => `%${x.toString(16).padStart(2, '0').toUpperCase()}`).join('');

describe('listings with keys and values that are not UTF-8', () => {
  let api: TestApi;
  const rev: Record<string, number> = {};
  const put = async (name: string, path: string, body: BodyInit) => {
    const r = await fetch(`${api.url}/v1/kv/${path}`, { method: 'PUT', body });
    assert.equal(r.status, 200);
    rev[name] = (await r.json()).revision;
  };

  before(async () => {
    api = await startApi();
    await put('a', 'a', 'plain');
    await put('ff00k', '%FF%00k', 'text value'); // key not UTF-8, value is
    await put('ff01', '%FF%01', Buffer.from([0xc3, 0x28])); // neither
    await put('m', 'm', Buffer.from([0x80])); // value not UTF-8, key is
    await put('z', 'z', 'last');
  });
  after(async () => api.close());

  it('GET /v1/kv answers 200: UTF-8 items as before, the others in base64 with a marker per field', async () => {
    const r = await fetch(`${api.url}/v1/kv`);
    assert.equal(r.status, 200);
    assert.equal(
      await r.text(),
      '{"items":[' +
        `{"key":"a","revision":${rev.a},"value":"plain"},` +
        `{"key":"m","revision":${rev.m},"value":"gA==","valueEncoding":"base64"},` +
        `{"key":"z","revision":${rev.z},"value":"last"},` +
        `{"key":"/wBr","revision":${rev.ff00k},"value":"text value","keyEncoding":"base64"},` +
        `{"key":"/wE=","revision":${rev.ff01},"value":"wyg=","keyEncoding":"base64","valueEncoding":"base64"}` +
        '],"more":false}',
    );
  });

  it('a listing of UTF-8 data only is byte for byte the old shape (no marker fields at all)', async () => {
    const text = await (await fetch(`${api.url}/v1/kv?end=m`)).text();
    assert.equal(text, `{"items":[{"key":"a","revision":${rev.a},"value":"plain"}],"more":false}`);
    const page = await (await fetch(`${api.url}/v1/kv?start=z&limit=1`)).text();
    assert.equal(page, `{"items":[{"key":"z","revision":${rev.z},"value":"last"}],"more":true}`);
  });

  it('keys_only marks the keys; encoding=base64 gives everything in base64, unmarked', async () => {
    let body = await (await fetch(`${api.url}/v1/kv?keys_only&prefix=%FF`)).json();
    assert.deepEqual(body.items, [
      { key: '/wBr', keyEncoding: 'base64', revision: rev.ff00k },
      { key: '/wE=', keyEncoding: 'base64', revision: rev.ff01 },
    ]);
    body = await (await fetch(`${api.url}/v1/kv?prefix=%FF&encoding=base64`)).json();
    assert.deepEqual(body.items, [
      { key: '/wBr', value: Buffer.from('text value').toString('base64'), revision: rev.ff00k },
      { key: '/wE=', value: 'wyg=', revision: rev.ff01 },
    ]);
  });

  it("seed 003's GET /api/v1/kv marks keys that are not UTF-8 (its values are base64 anyway)", async () => {
    const r = await fetch(`${api.url}/api/v1/kv?prefix=%FF`);
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.deepEqual(body.items, [
      { key: '/wBr', keyEncoding: 'base64', value: Buffer.from('text value').toString('base64'), revision: rev.ff00k },
      { key: '/wE=', keyEncoding: 'base64', value: 'wyg=', revision: rev.ff01 },
    ]);
    const keysOnly = await (await fetch(`${api.url}/api/v1/kv?keys_only`)).json();
    assert.deepEqual(keysOnly.items.map(keyBytes), ['a', 'm', 'z', '\xff\x00k', '\xff\x01'].map((k) => Buffer.from(k, 'latin1')));
  });

  for (const route of ['/v1/kv', '/api/v1/kv']) {
    it(`${route} pages one key at a time across the binary keys: start = last key's bytes + 0x00, percent-encoded`, async () => {
      const seen: Buffer[] = [];
      let start = '';
      for (let page = 0; page < 10; page++) {
        const r = await fetch(`${api.url}${route}?limit=1${start}`);
        assert.equal(r.status, 200, `page ${page}`);
        const body = (await r.json()) as { items: Item[]; more: boolean };
        assert.equal(body.items.length, 1);
        const key = keyBytes(body.items[0]);
        seen.push(key);
        if (!body.more) break;
        start = `&start=${pct(Buffer.concat([key, Buffer.from([0])]))}`;
      }
      assert.deepEqual(seen, ['a', 'm', 'z', '\xff\x00k', '\xff\x01'].map((k) => Buffer.from(k, 'latin1')));
    });
  }

  it('the binary keys listed can be read by their bytes, and the node keeps serving', async () => {
    const body = await (await fetch(`${api.url}/v1/kv?prefix=%FF`)).json();
    const r = await fetch(`${api.url}/v1/kv/${pct(keyBytes(body.items[1]))}`);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), Buffer.from([0xc3, 0x28]));
    const b = await fetch(`${api.url}/v1/batch`, jsonInit('POST', { encoding: 'base64', ops: [{ op: 'put', key: 'YQ==', value: 'cGxhaW4=' }] }));
    assert.equal(b.status, 200);
    assert.equal((await fetch(`${api.url}/health`)).status, 200);
  });

  it('the OpenAPI document names both markers on both listings', async () => {
    const doc = await (await fetch(`${api.url}/openapi.json`)).json();
    for (const path of ['/v1/kv', '/api/v1/kv']) {
      const schema = doc.paths[path].get.responses['200'].content['application/json'].schema;
      const props = schema.properties.items.items.properties;
      assert.deepEqual(props.keyEncoding.enum, ['base64'], path);
      assert.deepEqual(props.valueEncoding.enum, ['base64'], path);
    }
  });
});
