// `concord list` as a user runs it, against the real HTTP front end (over the in-memory service):
// keys and values that are not UTF-8 are printed escaped, never raw, and the command exits 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, type TestApi } from '../api/helpers.ts';
import { runCli } from './helpers.ts';

describe('concord list with keys and values that are not UTF-8', () => {
  let api: TestApi;
  const put = async (path: string, body: BodyInit) => assert.equal((await fetch(`${api.url}/v1/kv/${path}`, { method: 'PUT', body })).status, 200);

  before(async () => {
    api = await startApi();
    await put('plain', 'text');
    await put('%FF%00k', 'v'); // key not UTF-8
    await put('bin', Buffer.from([0xc3, 0x28])); // value not UTF-8
    await put('caf%E9%5C', Buffer.from('ключ\x1b[31m')); // a latin-1 key ending in a backslash; an escape sequence in a UTF-8 value
  });
  after(async () => api.close());

  it('the table shows them escaped (\\xHH), control characters escaped too, and exits 0', async () => {
    const r = await runCli(['list', '--server', api.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const out = r.stdout.toString('utf8');
    const lit = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const row = (key: string, value: string) => new RegExp(`│ ${lit(key)} +│ ${lit(value)} +│ \\d+ +│`);
    assert.match(out, row('plain', 'text'));
    assert.match(out, row('\\xFF\\x00k', 'v'));
    assert.match(out, row('bin', '\\xC3('));
    assert.match(out, row('caf\\xE9\\\\', 'ключ\\x1B[31m'), 'control characters escaped in UTF-8 text too');
    assert.doesNotMatch(out, /[\x00-\x08\x0b-\x1f\x7f-\x9f]|\uFFFD/, 'no raw control byte, no replacement character');
  });

  it('--format json prints the listing as the server gave it: base64 with keyEncoding / valueEncoding', async () => {
    const r = await runCli(['list', '--server', api.url, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout.toString('utf8'));
    const byKey = new Map(body.items.map((i: { key: string }) => [i.key, i]));
    assert.deepEqual(byKey.get('/wBr'), { key: '/wBr', keyEncoding: 'base64', value: 'v', revision: (byKey.get('/wBr') as { revision: number }).revision });
    assert.equal((byKey.get('bin') as { valueEncoding?: string }).valueEncoding, 'base64');
    assert.equal((byKey.get('bin') as { value: string }).value, 'wyg=');
    assert.equal((byKey.get('plain') as { keyEncoding?: string }).keyEncoding, undefined);
    assert.equal(body.more, false);
  });

  it('--prefix and --limit still work next to them', async () => {
    const r = await runCli(['list', '--server', api.url, '--limit', '1', '--prefix', 'p']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString('utf8'), /│ plain +│ text +│/);
  });
});
