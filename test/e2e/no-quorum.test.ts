// Without a quorum, requests fail fast and clearly (503 + Retry-After) instead of hanging.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster } from '../../testkit/processes.ts';

let c: ProcCluster;
before(async () => {
  c = await ProcCluster.create(3, ['--request-timeout-ms', '2000']);
  await c.leader();
  assert.equal((await fetch(`${c.nodes[0].url}/v1/kv/k`, { method: 'PUT', body: 'v' })).status, 200);
});
after(async () => c?.stop());

it('with two of three nodes killed, writes and linearizable reads wait for a leader, then get 503 with Retry-After within the timeout', async () => {
  await c.kill9(c.nodes[1]);
  await c.kill9(c.nodes[2]);
  const survivor = c.nodes[0].url;
  for (const [method, path, body] of [['PUT', '/v1/kv/k', 'v2'], ['GET', '/v1/kv/k', undefined]] as const) {
    const t0 = Date.now();
    const r = await fetch(`${survivor}${path}`, { method, body, signal: AbortSignal.timeout(10_000) });
    const took = Date.now() - t0;
    assert.ok(r.status === 503 || r.status === 504, `${method} answered ${r.status}`);
    if (r.status === 503) assert.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After is set');
    assert.ok(took < 3000, `${method} took ${took} ms with a 2000 ms request timeout`);
    const body2 = (await r.json()) as { error: { code: string } };
    assert.ok(body2.error.code);
  }
  // Serializable reads still answer from local state.
  const s = await fetch(`${survivor}/v1/kv/k?consistency=serializable`);
  assert.equal(s.status, 200);
  assert.equal(await s.text(), 'v');
});
