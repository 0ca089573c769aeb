// TTLs on three real processes: a key put with ?ttl= is deleted by a replicated clock entry once the log's
// time passes its expiry — gone from every node alike, for reads, listings, create-only puts and deletes —
// and a kill -9 of the leader neither loses it early nor brings it back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('TTLs on a 3-process cluster', () => {
  let c: ProcCluster;
  before(async () => {
    c = await ProcCluster.create(3);
    await c.leader();
  });
  after(async () => c?.stop());

  const live = () => c.nodes.filter((n) => n.proc);
  const status = async (n: ProcNode, path: string, init?: RequestInit) => (await fetch(`${n.url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) })).status;
  /** Whether every live node answers `key` with `want` to a serializable read (its own applied state). */
  const everywhere = async (key: string, want: number) => (await Promise.all(live().map((n) => status(n, `/v1/kv/${key}?consistency=serializable`)))).every((s) => s === want);

  it('a key put with ?ttl=1 through a follower is gone from every node soon after, and absent for listing, delete and create-only', async () => {
    const leader = await c.leader();
    const follower = c.nodes.find((n) => n !== leader)!;
    const t0 = Date.now();
    assert.equal(await status(follower, '/v1/kv/session/a?ttl=1', { method: 'PUT', body: 'x' }), 200);
    assert.equal(await status(leader, '/v1/kv/session/a'), 200);
    await until('the key gone from every node', () => everywhere('session%2Fa', 404), 10_000);
    assert.ok(Date.now() - t0 >= 900, `gone ${Date.now() - t0} ms after the put, before its TTL`);
    for (const n of live()) {
      const list = (await (await fetch(`${n.url}/v1/kv?prefix=session/`)).json()) as { items: unknown[] };
      assert.deepEqual(list.items, [], `${n.id}'s listing`);
    }
    assert.equal(await status(leader, '/v1/kv/session/a', { method: 'DELETE' }), 404);
    assert.equal(await status(follower, '/v1/kv/session/a', { method: 'PUT', body: 'mine', headers: { 'if-none-match': '*' } }), 200, 'create-only succeeds on the expired key');
  });

  it('a batch\'s put with a ttl expires on every node; the batch\'s other put stays', async () => {
    const post = await fetch(`${c.nodes[0].url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ops: [{ op: 'put', key: 'bt/short', value: 'x', ttl: 1 }, { op: 'put', key: 'bt/keep', value: 'y' }] }),
    });
    assert.equal(post.status, 200);
    assert.equal(await status(c.nodes[1], '/v1/kv/bt%2Fshort'), 200);
    await until('the timed key gone from every node', () => everywhere('bt%2Fshort', 404), 10_000);
    assert.ok(await everywhere('bt%2Fkeep', 200));
    const refused = await fetch(`${c.nodes[0].url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops: [{ op: 'put', key: 'k', value: 'v', ttl: 0 }] }) });
    assert.equal(refused.status, 400);
  });

  it('the largest TTL (9999999999 s) keeps its key and arms no timer past what setTimeout can hold', async () => {
    const leader = await c.leader();
    assert.equal(await status(leader, '/v1/kv/forever?ttl=9999999999', { method: 'PUT', body: 'x' }), 200);
    await sleep(500);
    assert.equal(await status(leader, '/v1/kv/forever'), 200);
    for (const n of live()) assert.ok(!n.output.join('').includes('TimeoutOverflowWarning'), `${n.id}: ${n.output.join('').slice(-500)}`);
    assert.equal(await status(leader, '/v1/kv/forever', { method: 'DELETE' }), 200);
  });

  it('across kill -9 of the leader a key is neither lost before its TTL nor resurrected after it', async () => {
    const leader = await c.leader();
    const t0 = Date.now();
    assert.equal(await status(leader, '/v1/kv/lease-like?ttl=4', { method: 'PUT', body: 'held' }), 200);
    await c.kill9(leader);
    const next = await c.leader(15_000);
    const wait = 2500 - (Date.now() - t0);
    if (wait > 0) await sleep(wait);
    assert.ok(Date.now() - t0 < 3800, 'still inside the TTL when checked');
    assert.equal(await status(next, '/v1/kv/lease-like'), 200, 'present under the new leader before its TTL ran out');
    await until('the key gone from the survivors', () => everywhere('lease-like', 404), 15_000);
    assert.ok(Date.now() - t0 >= 3900, `gone ${Date.now() - t0} ms after the put`);
    c.start(leader);
    await c.waitHealthy(leader, 30_000);
    await until('the old leader caught up', async () => (await status(leader, '/v1/kv/lease-like?consistency=serializable')) === 404, 15_000);
    assert.equal(await status(leader, '/v1/kv/lease-like'), 404, 'not resurrected by the restarted former leader');
  });
});
