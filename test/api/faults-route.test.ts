// POST /v1/debug/faults drives the transport's fault rules, and exists only where the node enables it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FaultRules } from '../../src/transport/faults.ts';
import { startApi, type TestApi } from './helpers.ts';

const post = (api: TestApi, body: unknown) =>
  fetch(`${api.url}/v1/debug/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('POST /v1/debug/faults', () => {
  let api: TestApi;
  let rules: FaultRules;
  before(async () => {
    rules = new FaultRules(() => 0); // random() = 0: a drop rule with any probability drops
    api = await startApi({ faults: rules });
  });
  after(() => api.close());

  it('cuts and heals a peer', async () => {
    assert.equal((await post(api, { action: 'cut', peer: 'n2' })).status, 200);
    assert.equal(rules.isCut('n2'), true);
    assert.equal(rules.isCut('n3'), false);
    assert.equal((await post(api, { action: 'heal', peer: 'n2' })).status, 200);
    assert.equal(rules.isCut('n2'), false);
    await post(api, { action: 'cut', peer: '*' });
    assert.equal(rules.isCut('n3'), true);
    await post(api, { action: 'heal' });
    assert.equal(rules.isCut('n3'), false);
  });

  it('sets drop and delay rules, and clear removes them all', async () => {
    assert.equal((await post(api, { action: 'drop', peer: 'n2', probability: 0.5 })).status, 200);
    assert.equal(rules.outbound('n2'), 'drop');
    assert.equal((await post(api, { action: 'delay', peer: 'n3', min_ms: 5, max_ms: 10 })).status, 200);
    assert.equal(rules.outbound('n3'), 5);
    assert.equal((await post(api, { action: 'clear' })).status, 200);
    assert.equal(rules.outbound('n2'), 0);
    assert.equal(rules.outbound('n3'), 0);
  });

  it('refuses malformed rules with 400 and changes nothing', async () => {
    for (const body of [{}, { action: 'explode' }, { action: 'cut' }, { action: 'drop', peer: 'n2' }, { action: 'drop', peer: 'n2', probability: 2 },
      { action: 'delay', peer: 'n2', min_ms: 10, max_ms: 5 }, { action: 'cut', peer: 'n2', extra: 1 }]) {
      const res = await post(api, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code.length > 0, true);
    }
    assert.equal(rules.outbound('n2'), 0);
  });

  it('is absent (404) on a node without fault injection', async () => {
    const plain = await startApi();
    try {
      assert.equal((await post(plain, { action: 'cut', peer: 'n2' })).status, 404);
    } finally {
      await plain.close();
    }
  });
});
