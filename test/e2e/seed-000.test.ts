// Seed 000's quick start, verbatim but for the ports: three terminals started with its flags, then its
// curl sequence run at once — every node returns the data.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ProcCluster, type ProcNode } from './processes.ts';
import { freePort } from '../cluster/helpers.ts';

const c = new ProcCluster();
const n: ProcNode[] = [];

before(async () => {
  const http = [await freePort(), await freePort(), await freePort()];
  const gossip = [await freePort(), await freePort(), await freePort()];
  const dir = (i: number) => ['--data-dir', path.join(c.dir, `node${i + 1}`)];
  // cargo run -- --name node1 --http-addr 0.0.0.0:3001 -g 0.0.0.0:4001
  n.push(c.add('node1', ['--name', 'node1', '--http-addr', `0.0.0.0:${http[0]}`, '-g', `0.0.0.0:${gossip[0]}`, ...dir(0)], `http://localhost:${http[0]}`));
  await c.waitHealthy(n[0]);
  // cargo run -- --name node2 --http-addr 0.0.0.0:3002 -g 0.0.0.0:4002 --gossip-join-addr 0.0.0.0:4001 (and node3)
  for (const i of [1, 2]) {
    const args = ['--name', `node${i + 1}`, '--http-addr', `0.0.0.0:${http[i]}`, '-g', `0.0.0.0:${gossip[i]}`, '--gossip-join-addr', `0.0.0.0:${gossip[0]}`, ...dir(i)];
    n.push(c.add(`node${i + 1}`, args, `http://localhost:${http[i]}`));
  }
  await Promise.all(n.map((x) => c.waitHealthy(x)));
});

after(async () => c.stop());

const add = (x: ProcNode, key: string, value: string) =>
  fetch(`${x.url}/add`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key, value }) });
const query = async (x: ProcNode, key: string) => {
  const r = await fetch(`${x.url}/query?key=${key}`);
  return { status: r.status, text: await r.text() };
};

it('the README’s curl sequence: add on node1, query all; add on node2, query all; delete on node1, query all', async () => {
  assert.equal((await add(n[0], 'hello', 'world')).status, 200);
  for (const x of n) assert.match((await query(x, 'hello')).text, /world/, `${x.id} returns hello`);
  assert.equal((await add(n[1], 'node2', 'hello node2')).status, 200);
  for (const x of n) assert.match((await query(x, 'node2')).text, /hello node2/, `${x.id} returns node2`);
  const del = await fetch(`${n[0].url}/delete`, { method: 'DELETE', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key: 'hello' }) });
  assert.equal(del.status, 200);
  for (const x of n) assert.equal((await query(x, 'hello')).status, 404, `${x.id} no longer has hello`);
});
