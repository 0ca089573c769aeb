// POST /v1/txn over HTTP against the in-memory service with the real compare rules: the JSON form (targets,
// results and their symbols, operands in the target's own field, base64), each op's result, and bad input
// refused with 400 before it reaches the service.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorOf, jsonInit, startApi, type TestApi } from './helpers.ts';

describe('POST /v1/txn', () => {
  let api: TestApi;
  before(async () => {
    api = await startApi();
  });
  after(() => api.close());
  const txn = async (body: unknown) => {
    const r = await fetch(`${api.url}/v1/txn`, jsonInit('POST', body));
    return { status: r.status, body: (await r.json()) as { succeeded: boolean; revision: number; results: unknown[] } };
  };

  it('a lock taken with version = 0, then refused to another holder, who reads who holds it', async () => {
    const take = (who: string) => txn({ compare: [{ key: 'lock', target: 'version', result: 'equal', version: 0 }], success: [{ op: 'put', key: 'lock', value: who }], failure: [{ op: 'get', key: 'lock' }] });
    const first = await take('alice');
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.results, [{ op: 'put', revision: first.body.revision }]);
    assert.equal(first.body.succeeded, true);
    const second = await take('bob');
    assert.equal(second.body.succeeded, false);
    assert.deepEqual(second.body.results, [{ op: 'get', kv: { key: 'lock', value: 'alice', revision: first.body.revision, create_revision: first.body.revision, version: 1 } }]);
  });

  it('compares on value, mod and create revision, with symbols; both branches may be empty; gets see the puts before them', async () => {
    const { body: put } = await txn({ success: [{ op: 'put', key: 'cfg', value: 'v1' }] });
    const r = await txn({
      compare: [
        { key: 'cfg', target: 'value', result: '=', value: 'v1' },
        { key: 'cfg', target: 'mod_revision', result: '<', mod_revision: put.revision + 1 },
        { key: 'cfg', target: 'create_revision', result: '!=', create_revision: 0 },
        { key: 'absent', target: 'version', result: 'less', version: 1 },
      ],
      success: [{ op: 'put', key: 'cfg', value: 'v2' }, { op: 'get', key: 'cfg' }, { op: 'delete', key: 'absent' }, { op: 'get', key: 'absent' }],
    });
    assert.equal(r.body.succeeded, true);
    assert.deepEqual(r.body.results.slice(1), [{ op: 'get', kv: { key: 'cfg', value: 'v2', revision: r.body.revision, create_revision: put.revision, version: 2 } }, { op: 'delete', deleted: 0 }, { op: 'get', kv: null }]);
    const valueOfAbsent = await txn({ compare: [{ key: 'absent', target: 'value', result: 'not_equal', value: 'x' }] });
    assert.equal(valueOfAbsent.body.succeeded, false, 'a value comparison on an absent key is false');
  });

  it('keys and values in base64', async () => {
    const r = await txn({ encoding: 'base64', success: [{ op: 'put', key: Buffer.from([0, 255]).toString('base64'), value: Buffer.from([1, 2]).toString('base64') }, { op: 'get', key: 'AP8=' }] });
    assert.deepEqual(r.body.results[1], { op: 'get', kv: { key: 'AP8=', value: 'AQI=', revision: r.body.revision, create_revision: r.body.revision, version: 1 } });
  });

  it('bad input is 400 and never reaches the service', async () => {
    const calls = api.kv.calls.length;
    for (const [body, message] of [
      [{ compare: [{ key: 'k', target: 'version', result: 'equal', value: 'x' }] }, /target "version" needs its operand in "version"/],
      [{ compare: [{ key: 'k', target: 'size', result: 'equal', version: 1 }] }, /target/],
      [{ compare: [{ key: 'k', target: 'version', result: 'equal', version: -1 }] }, /minimum|>= 0/],
      [{ success: [{ op: 'put', key: 'k' }] }, /a put needs a value/],
      [{ success: [{ op: 'get', key: '' }] }, /key/],
      [{ success: [{ op: 'get', key: 'k', extra: 1 }] }, /additional/],
      [{ encoding: 'base64', success: [{ op: 'get', key: '!!' }] }, /base64/],
    ] as const) {
      const e = await errorOf(await fetch(`${api.url}/v1/txn`, jsonInit('POST', body)));
      assert.equal(e.status, 400, JSON.stringify(body));
      assert.match(e.message, message, JSON.stringify(body));
    }
    assert.equal(api.kv.calls.length, calls);
  });
});
