// End to end: real concord processes, real sockets, real files.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';

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

  it('seed 000’s quick-start curl sequence, as its README runs it across three nodes', async () => {
    const [n1, n2, n3] = c.nodes;
    const add = (n: typeof n1, key: string, value: string) =>
      fetch(`${n.url}/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key, value }) });
    const query = async (n: typeof n1, key: string) => {
      const r = await fetch(`${n.url}/query?key=${key}`);
      return { status: r.status, body: await r.text() };
    };
    assert.ok((await add(n1, 'hello', 'world')).ok);
    for (const n of [n1, n2, n3]) assert.match((await query(n, 'hello')).body, /world/);
    assert.ok((await add(n2, 'node2', 'hello node2')).ok);
    for (const n of [n1, n2, n3]) assert.match((await query(n, 'node2')).body, /hello node2/);
    const del = await fetch(`${n1.url}/delete`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'hello' }) });
    assert.ok(del.ok);
    for (const n of [n1, n2, n3]) assert.equal((await query(n, 'hello')).status, 404);
  });

  it('seed 001’s API: PUT /put, GET /get/key=…, GET /get?key=, POST /set/{key}/{value}, DELETE /delete?key=', async () => {
    const [a, b, cc] = c.nodes;
    let r = await fetch(`${a.url}/put`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'your-key', value: 'your-value' }) });
    assert.ok(r.ok);
    assert.match(await (await fetch(`${b.url}/get/key=your-key`)).text(), /your-value/);
    assert.match(await (await fetch(`${cc.url}/get?key=your-key`)).text(), /your-value/);
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
