// End to end: real concord processes, real sockets, real files.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster } from './processes.ts';
import { until } from '../cluster/helpers.ts';

describe('a 3-process cluster', () => {
  let c: ProcCluster;
  before(async () => {
    c = await ProcCluster.create(3);
    await c.leader();
  });
  after(async () => c?.stop());

  it('a write on one node is readable on every node', async () => {
    const r = await fetch(`${c.nodes[1].url}/v1/kv/hello`, { method: 'PUT', body: 'world' });
    assert.equal(r.status, 200);
    const { revision } = (await r.json()) as { revision: number };
    for (const n of c.nodes) {
      const g = await fetch(`${n.url}/v1/kv/hello`);
      assert.equal(g.status, 200);
      assert.equal(await g.text(), 'world');
      assert.equal(g.headers.get('etag'), `"${revision}"`);
    }
  });

  it('seed 000’s quick start: POST /add, GET /query, DELETE /delete', async () => {
    const [a, b] = c.nodes;
    let r = await fetch(`${a.url}/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'foo', value: 'bar' }) });
    assert.ok(r.ok);
    r = await fetch(`${b.url}/query?key=foo`);
    assert.ok(r.ok);
    assert.match(await r.text(), /bar/);
    r = await fetch(`${b.url}/delete`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'foo' }) });
    assert.ok(r.ok);
    assert.equal((await fetch(`${a.url}/v1/kv/foo`)).status, 404);
  });

  it('seed 001’s quick start: PUT /put, GET /get?key=, POST /set/{key}/{value}, DELETE /delete?key=', async () => {
    const [a, , cc] = c.nodes;
    let r = await fetch(`${a.url}/put`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'k1', value: 'v1' }) });
    assert.ok(r.ok);
    r = await fetch(`${cc.url}/get?key=k1`);
    assert.match(await r.text(), /v1/);
    r = await fetch(`${cc.url}/set/k2/v2`, { method: 'POST' });
    assert.ok(r.ok);
    assert.equal(await (await fetch(`${a.url}/v1/kv/k2`)).text(), 'v2');
    r = await fetch(`${a.url}/delete?key=k2`, { method: 'DELETE' });
    assert.ok(r.ok);
    assert.equal((await fetch(`${cc.url}/v1/kv/k2`)).status, 404);
  });

  it('kill -9 the leader: a new leader serves writes within 3 s; the old one restarts and catches up', async () => {
    const old = await c.leader();
    await c.kill9(old);
    const t0 = Date.now();
    const others = c.nodes.filter((n) => n !== old);
    await until('a write after failover', async () => {
      try {
        return (await fetch(`${others[0].url}/v1/kv/failover`, { method: 'PUT', body: 'ok', signal: AbortSignal.timeout(500) })).ok;
      } catch {
        return false;
      }
    }, 3000);
    assert.ok(Date.now() - t0 < 3000);
    c.start(old);
    await c.waitHealthy(old);
    await until('the old leader to catch up', async () => (await fetch(`${old.url}/v1/kv/failover?consistency=serializable`)).status === 200);
  });

  it('kill -9 every node mid-load and restart: every acknowledged write is there', async () => {
    const acked: string[] = [];
    let stop = false;
    const writers = c.nodes.map(async (n, w) => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await fetch(`${n.url}/v1/kv/load-${w}-${i}`, { method: 'PUT', body: `v${i}`, signal: AbortSignal.timeout(1000) });
          if (r.ok) acked.push(`load-${w}-${i}`);
        } catch {
          /* not acknowledged */
        }
      }
    });
    await until('some acknowledged writes', () => acked.length >= 100, 20_000);
    await Promise.all(c.nodes.map((n) => c.kill9(n)));
    stop = true;
    await Promise.all(writers);
    for (const n of c.nodes) c.start(n);
    await Promise.all(c.nodes.map((n) => c.waitHealthy(n)));
    await c.leader();
    for (const key of acked) {
      const r = await fetch(`${c.nodes[0].url}/v1/kv/${key}`);
      assert.equal(r.status, 200, `acknowledged write ${key} was lost`);
    }
  });
});
