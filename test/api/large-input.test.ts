// Input as large or as deep as a request may carry, sent for real to a node (one in-process node on
// real files, real HTTP): legal input gets a correct answer with the data intact, illegal input a
// clear 4xx, and the node keeps serving. The checks on request data must be linear in time and
// constant in stack, whatever the size.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { pino } from 'pino';
import { startNode, type RunningNode } from '../../src/node/start-node.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';
import { errorOf, jsonInit } from './helpers.ts';

const MiB = 1024 * 1024;
const MAX_VALUE = 64 * MiB; // the default value limit, which seed 003 promises

/** 64 MiB that are not all alike, so a shifted or truncated copy does not compare equal. */
function bigValue(bytes: number, fill = 0x61): Buffer {
  const b = Buffer.alloc(bytes, fill);
  for (let i = 0; i < b.length; i += 4093) b[i] = i & 0x7f;
  return b;
}

/**
 * GET on a connection of its own. The client takes seconds to parse a page of hundreds of MB, longer
 * than the server keeps an idle connection open, so reusing one could race with its closing.
 */
function getOnNewConnection(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('large and deep input, sent to a node', () => {
  const dir = tempDir('large-input');
  let node: RunningNode;
  let url: string;

  before(async () => {
    const [config] = await clusterConfigs(1, dir, { maxValueBytes: MAX_VALUE, requestTimeoutMs: 60_000 });
    node = await startNode(config, pino({ level: 'silent' }));
    url = node.httpUrl;
    await until('the node to be ready', async () => (await fetch(`${url}/ready`)).status === 200);
  });

  after(async () => {
    await node.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The node still answers reads and writes. */
  async function stillServes(): Promise<void> {
    assert.equal((await fetch(`${url}/v1/kv/alive`, { method: 'PUT', body: 'yes' })).status, 200);
    assert.equal(await (await fetch(`${url}/v1/kv/alive`)).text(), 'yes');
  }

  it('seed 003 PUT /api/v1/kv/{key} takes a 64 MiB value in base64 and gives it back intact', async () => {
    const value = bigValue(MAX_VALUE);
    const b64 = value.toString('base64');
    const r = await fetch(`${url}/api/v1/kv/big`, jsonInit('PUT', { key: 'big', value: b64 }));
    assert.equal(r.status, 200, await r.clone().text());
    const got = await (await fetch(`${url}/api/v1/kv/big`)).json();
    assert.equal(got.key, 'big');
    assert.ok(got.value === b64, 'the base64 read back is the base64 written');
    const raw = Buffer.from(await (await fetch(`${url}/v1/kv/big`)).arrayBuffer());
    assert.ok(raw.equals(value), 'the raw bytes are intact');
    await stillServes();
  });

  it('illegal or oversized base64 of that size is a clear 4xx, and nothing is written', async () => {
    // The malformations at 8 MiB, already past where a backtracking check runs out of stack.
    const b64 = bigValue(MAX_VALUE).toString('base64');
    const b64of = (bytes: number) => bigValue(bytes).toString('base64');
    const cases: Array<[string, string, number]> = [
      ['a junk character near the end', `${b64.slice(0, -9)}*${b64.slice(-8)}`, 400],
      ['base64url characters', `-_${b64of(8 * MiB).slice(2)}`, 400],
      ['whitespace inside', `${b64of(8 * MiB).slice(0, 1000)}\n${b64of(8 * MiB).slice(1000)}`, 400],
      ['missing padding', b64of(8 * MiB + 2).replace(/=+$/, ''), 400],
      ['stray bits in the last group', `${b64of(8 * MiB).slice(0, -2)}B=`, 400],
      ['one byte over the limit', b64of(MAX_VALUE + 1), 413],
    ];
    for (const [what, value, status] of cases) {
      const e = await errorOf(await fetch(`${url}/api/v1/kv/bad`, jsonInit('PUT', { value })));
      assert.equal(e.status, status, what);
      assert.match(e.message, status === 400 ? /value is not valid base64/ : /limit/, what);
    }
    assert.equal((await fetch(`${url}/api/v1/kv/bad`)).status, 404);
    await stillServes();
  });

  it('POST /v1/batch with encoding=base64 takes a 64 MiB value', async () => {
    const value = bigValue(MAX_VALUE, 0x62);
    const ops = [{ op: 'put', key: Buffer.from('batch-big').toString('base64'), value: value.toString('base64') }];
    const r = await fetch(`${url}/v1/batch`, jsonInit('POST', { encoding: 'base64', ops }));
    assert.equal(r.status, 200, await r.clone().text());
    assert.ok(Buffer.from(await (await fetch(`${url}/v1/kv/batch-big`)).arrayBuffer()).equals(value));
    await stillServes();
  });

  it('a 64 MiB text value through seed 000 /add; a lone surrogate at its end is a 400', async () => {
    const text = 'ключ'.repeat(MAX_VALUE / 8);
    assert.equal((await fetch(`${url}/add`, jsonInit('POST', { key: 'text-big', value: text }))).status, 200);
    assert.ok(Buffer.from(await (await fetch(`${url}/v1/kv/text-big`)).arrayBuffer()).equals(Buffer.from(text)));
    const e = await errorOf(await fetch(`${url}/add`, jsonInit('POST', { key: 'text-bad', value: `${text.slice(1)}\uD800` })));
    assert.equal(e.status, 400);
    assert.match(e.message, /surrogate/);
    await stillServes();
  });

  it('a listing of values too large for one JSON answer comes in pages, each value intact', async () => {
    // JSON writes a NUL byte as \u0000: two such 64 MiB values are ~805 Mi characters, past V8's
    // string limit, so one page cannot hold both.
    const values = [Buffer.alloc(MAX_VALUE, 0), Buffer.alloc(MAX_VALUE, 1)];
    for (const [i, v] of values.entries()) assert.equal((await fetch(`${url}/v1/kv/list/${i}`, { method: 'PUT', body: v })).status, 200);
    const seen: Buffer[] = [];
    let start = '';
    for (let page = 0; page < 4; page++) {
      const r = await getOnNewConnection(`${url}/v1/kv?prefix=list%2F${start}`);
      assert.equal(r.status, 200, `page ${page}: ${r.text.slice(0, 200)}`);
      const body = JSON.parse(r.text) as { items: Array<{ key: string; value: string }>; more: boolean };
      assert.equal(body.items.length, 1, 'one 64 MiB value per page');
      seen.push(Buffer.from(body.items[0].value, 'utf8'));
      if (!body.more) break;
      start = `&start=${encodeURIComponent(`${body.items[0].key}\0`)}`;
    }
    assert.equal(seen.length, 2);
    for (const [i, v] of values.entries()) assert.ok(seen[i].equals(v), `value ${i} intact`);
    const keys = await (await fetch(`${url}/v1/kv?prefix=list%2F&keys_only`)).json();
    assert.deepEqual(keys, { items: keys.items, more: false });
    assert.equal(keys.items.length, 2, 'keys only: both on one page');
    await stillServes();
  });

  it('expired keys take no room in a page: one expired 64 MiB value does not leave a page empty with more = true', async () => {
    const put = async (key: string, body: BodyInit, ttl: boolean) =>
      assert.equal((await fetch(`${url}/v1/kv/${key}${ttl ? '?ttl=1' : ''}`, { method: 'PUT', body })).status, 200);
    await put('ttl%2Fa', Buffer.alloc(MAX_VALUE, 0x61), true);
    await put('ttl%2Fb', 'short-lived', true);
    await put('ttl%2Fc', 'stays', false);
    await until('both to expire', async () => (await fetch(`${url}/v1/kv/ttl%2Fb`)).status === 404, 5000);
    for (const limit of ['&limit=1', '']) {
      const body = await (await fetch(`${url}/v1/kv?prefix=ttl%2F${limit}`)).json();
      assert.deepEqual(body, { items: [{ key: 'ttl/c', value: 'stays', revision: body.items[0]?.revision }], more: false }, limit);
    }
    await stillServes();
  });

  it('JSON nested 200,000 deep is a 400 on every JSON route', async () => {
    const depth = 200_000; // V8's call stack holds ~10k frames: any recursive walk would overflow
    const arrays = '['.repeat(depth) + ']'.repeat(depth);
    const objects = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const routes: Array<[string, string]> = [
      ['POST', '/v1/batch'],
      ['POST', '/add'],
      ['PUT', '/put'],
      ['DELETE', '/delete'],
      ['PUT', '/api/v1/kv/deep'],
      ['POST', '/v1/cluster/nodes'],
      ['POST', '/api/v1/cluster/nodes'],
    ];
    for (const [method, path] of routes) {
      for (const body of [arrays, objects, `{"key":${objects},"value":${arrays},"ops":${arrays},"__proto__x":1}`]) {
        const e = await errorOf(await fetch(`${url}${path}`, jsonInit(method, body)));
        assert.equal(e.status, 400, `${method} ${path}`);
      }
    }
    await stillServes();
  });
});
