// Seed 001's usage, verbatim but for the binary and the ports, in a fresh directory: `go run main.go` is
// `concord` with no command; "several nodes on the same machine using different ports" are more `concord`
// processes joining the first through gossip; every endpoint of its API table; then the life cycle — kill -9
// and restart with the same command, a node that fails (the rest keep answering), and one that leaves.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ProcCluster, retriedOnce, type ProcNode } from '../../../testkit/processes.ts';
import { freePort } from '../../../testkit/ports.ts';
import { until } from '../../../testkit/wait.ts';

const c = new ProcCluster();
const cwd = path.join(c.dir, 'seed-001');
const n: ProcNode[] = [];
let seedGossip = '';

async function start(name: string, join: boolean): Promise<ProcNode> {
  const [http, gossip] = [await freePort(), await freePort()];
  if (!join) seedGossip = `127.0.0.1:${gossip}`;
  const args = ['--name', name, '--http-addr', `127.0.0.1:${http}`, '-g', `127.0.0.1:${gossip}`, ...(join ? ['--join', seedGossip] : [])];
  return c.add(name, args, `http://127.0.0.1:${http}`, cwd);
}

const putJson = (x: ProcNode, key: string, value: string) =>
  fetch(`${x.url}/put`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key, value }) });
const get = async (x: ProcNode, pathAndQuery: string) => {
  const r = await fetch(`${x.url}${pathAndQuery}`);
  return { status: r.status, text: await r.text() };
};

describe('seed 001: nodes on one machine, its REST API, failures', () => {
  before(async () => {
    fs.mkdirSync(cwd);
    n.push(await start('node1', false));
    await c.waitHealthy(n[0]);
    n.push(await start('node2', true), await start('node3', true));
    await Promise.all(n.map((x) => c.waitHealthy(x)));
    await until('three voters', async () => {
      const st = (await (await fetch(`${n[0].url}/v1/cluster`)).json()) as { nodes: Array<{ voter: boolean }> };
      return st.nodes.filter((m) => m.voter).length === 3;
    }, 20_000);
  });

  after(() => c.stop());

  it('PUT /put, GET /get?key= and GET /get/key=…, POST /set/{key}/{value}, DELETE /delete?key= — on any node', async () => {
    assert.equal((await putJson(n[0], 'your-key', 'your-value')).status, 200);
    for (const x of n) {
      assert.match((await get(x, '/get?key=your-key')).text, /your-value/, x.id);
      assert.match((await get(x, '/get/key=your-key')).text, /your-value/, x.id);
    }
    assert.equal((await fetch(`${n[1].url}/set/colour/blue`, { method: 'POST' })).status, 200);
    assert.match((await get(n[2], '/get?key=colour')).text, /blue/);
    assert.equal((await fetch(`${n[2].url}/delete?key=colour`, { method: 'DELETE' })).status, 200);
    for (const x of n) assert.equal((await get(x, '/get?key=colour')).status, 404, x.id);
  });

  it('kill -9 a node and start it with the same command: it has every change made meanwhile', async () => {
    await c.kill9(n[2]);
    assert.equal((await retriedOnce(() => putJson(n[0], 'while-down', 'x'))).status, 200);
    assert.equal((await retriedOnce(() => fetch(`${n[1].url}/delete?key=your-key`, { method: 'DELETE' }))).status, 200);
    c.start(n[2]);
    await c.waitHealthy(n[2], 30_000);
    await until('node3 to catch up', async () => (await get(n[2], '/v1/kv/while-down?consistency=serializable')).status === 200, 20_000);
    assert.equal((await get(n[2], '/v1/kv/your-key?consistency=serializable')).status, 404);
  });

  it('one node fails: the others keep serving reads and writes (a quorum remains)', async () => {
    await c.kill9(n[1]);
    assert.equal((await retriedOnce(() => putJson(n[0], 'one-down', 'still'))).status, 200);
    assert.match((await get(n[2], '/get?key=one-down')).text, /still/);
    c.start(n[1]);
    await c.waitHealthy(n[1], 30_000);
  });

  it('a node that leaves (SIGTERM) is removed from the cluster; the others go on', async () => {
    const leaver = await start('node4', true);
    await c.waitHealthy(leaver);
    await until('node4 to have the data', async () => (await get(leaver, '/v1/kv/one-down?consistency=serializable')).status === 200, 20_000);
    const exited = new Promise<number | null>((r) => leaver.proc!.once('exit', (code) => r(code)));
    leaver.proc!.kill('SIGTERM');
    assert.equal(await exited, 0);
    leaver.proc = undefined;
    await until('node4 gone from Raft', async () => {
      const st = (await (await fetch(`${n[0].url}/v1/cluster`)).json()) as { nodes: Array<{ id: string }> };
      return !st.nodes.some((m) => m.id === 'node4');
    }, 15_000);
    assert.equal((await putJson(n[0], 'after-leave', 'ok')).status, 200);
  });
});
