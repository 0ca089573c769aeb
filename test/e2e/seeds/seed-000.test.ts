// Seed 000's quick start, verbatim but for the binary and the ports, in a fresh directory: three terminals
// started with its flags (no --data-dir: each node keeps ./data/<name>), its curl sequence, then the life
// cycle its users go through next — kill -9 and restart with the same command, restart every node, a node
// whose old raft port is taken when it comes back, a fourth member joining and leaving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ProcCluster, retriedOnce, type ProcNode } from '../../../testkit/processes.ts';
import { freePort } from '../../../testkit/ports.ts';
import { until } from '../../../testkit/wait.ts';

interface Status {
  leader: string | null;
  nodes: Array<{ id: string; raftAddr: string; voter: boolean; gossipState: string }>;
}

const c = new ProcCluster();
const cwd = path.join(c.dir, 'seed-000');
const n: ProcNode[] = [];
const gossip: number[] = [];

/** `cargo run -- --name nodeK --http-addr 0.0.0.0:300K -g 0.0.0.0:400K [--gossip-join-addr 0.0.0.0:4001]` */
function start(k: number, http: number): ProcNode {
  const args = ['--name', `node${k}`, '--http-addr', `0.0.0.0:${http}`, '-g', `0.0.0.0:${gossip[k - 1]}`];
  if (k > 1) args.push('--gossip-join-addr', `0.0.0.0:${gossip[0]}`);
  return c.add(`node${k}`, args, `http://localhost:${http}`, cwd);
}

const add = (x: ProcNode, key: string, value: string) =>
  fetch(`${x.url}/add`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key, value }) });
const query = async (x: ProcNode, key: string, extra = '') => {
  const r = await fetch(`${x.url}/query?key=${key}${extra}`);
  return { status: r.status, text: await r.text() };
};
const status = async (x: ProcNode): Promise<Status> => (await fetch(`${x.url}/v1/cluster`)).json() as Promise<Status>;
/** Whether the node holds the value locally (a serializable read: no leader involved). */
const holds = async (x: ProcNode, key: string, value: string) => {
  try {
    const r = await fetch(`${x.url}/v1/kv/${key}?consistency=serializable`);
    return r.ok && (await r.text()) === value;
  } catch {
    return false;
  }
};

describe('seed 000: gossip quick start and life cycle', () => {
  before(async () => {
    fs.mkdirSync(cwd);
    const http = [await freePort(), await freePort(), await freePort()];
    for (let i = 0; i < 4; i++) gossip.push(await freePort());
    n.push(start(1, http[0]));
    await c.waitHealthy(n[0]);
    n.push(start(2, http[1]), start(3, http[2]));
    await Promise.all(n.map((x) => c.waitHealthy(x)));
    await until('three voters', async () => (await status(n[0])).nodes.filter((m) => m.voter).length === 3, 20_000);
  });

  after(() => c.stop());

  it('each node keeps its state in ./data/<name> of the directory it was started in', () => {
    assert.deepEqual(fs.readdirSync(path.join(cwd, 'data')).sort(), ['node1', 'node2', 'node3']);
  });

  it('the README’s curl sequence: add on node1, query all; add on node2, query all; delete on node1, query all', async () => {
    assert.equal((await add(n[0], 'hello', 'world')).status, 200);
    for (const x of n) assert.match((await query(x, 'hello')).text, /world/, `${x.id} returns hello`);
    assert.equal((await add(n[1], 'node2', 'hello node2')).status, 200);
    for (const x of n) assert.match((await query(x, 'node2')).text, /hello node2/, `${x.id} returns node2`);
    const del = await fetch(`${n[0].url}/delete`, { method: 'DELETE', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key: 'hello' }) });
    assert.equal(del.status, 200);
    for (const x of n) assert.equal((await query(x, 'hello')).status, 404, `${x.id} no longer has hello`);
  });

  it('kill -9 node2 and start it with the same command: it rejoins on its old raft address and catches up', async () => {
    const before = (await status(n[0])).nodes.find((m) => m.id === 'node2')!.raftAddr;
    await c.kill9(n[1]);
    assert.equal((await retriedOnce(() => add(n[0], 'while-down', 'written while node2 was down'))).status, 200, 'node2 may have been the leader');
    c.start(n[1]);
    await c.waitHealthy(n[1], 30_000);
    await until('node2 to catch up', () => holds(n[1], 'while-down', 'written while node2 was down'), 20_000);
    assert.equal((await status(n[0])).nodes.find((m) => m.id === 'node2')!.raftAddr, before, 'the same raft address as before');
    assert.match((await query(n[1], 'while-down')).text, /written while node2 was down/);
  });

  it('restart every node with the same commands: a leader again, and every answer as before', async () => {
    await c.restart(n);
    await c.leader(20_000);
    for (const x of n) {
      assert.match((await query(x, 'node2')).text, /hello node2/, `${x.id} returns node2`);
      assert.equal((await query(x, 'hello')).status, 404, `${x.id} still has no hello`);
    }
    assert.equal((await add(n[2], 'after-restart', 'yes')).status, 200);
  });

  it('a node whose old raft port is taken when it comes back listens on another, and the cluster commits the new address', async () => {
    const old = (await status(n[0])).nodes.find((m) => m.id === 'node3')!.raftAddr;
    await c.kill9(n[2]);
    const squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => squatter.listen(Number(old.split(':')[1]), '0.0.0.0', r));
    try {
      assert.equal((await retriedOnce(() => add(n[0], 'while-moved', 'v'))).status, 200, 'node3 may have been the leader');
      c.start(n[2]);
      await c.waitHealthy(n[2], 30_000);
      await until('node3’s new address committed on node1', async () => {
        const a = (await status(n[0])).nodes.find((m) => m.id === 'node3')?.raftAddr;
        return a !== undefined && a !== old && a !== '';
      }, 20_000);
      await until('node3 to catch up at its new address', () => holds(n[2], 'while-moved', 'v'), 20_000);
    } finally {
      squatter.close();
    }
  });

  it('a fourth node joins through the first node’s gossip address, and leaves on SIGTERM', async () => {
    const http = await freePort();
    const n4 = start(4, http);
    await c.waitHealthy(n4);
    await until('node4 in Raft, with the data', () => holds(n4, 'after-restart', 'yes'), 20_000);
    assert.ok((await status(n[0])).nodes.some((m) => m.id === 'node4'));
    const exited = new Promise<number | null>((r) => n4.proc!.once('exit', (code) => r(code)));
    n4.proc!.kill('SIGTERM');
    assert.equal(await exited, 0);
    n4.proc = undefined;
    await until('node4 gone from Raft', async () => !(await status(n[0])).nodes.some((m) => m.id === 'node4'), 15_000);
    assert.equal((await add(n[0], 'after-leave', 'ok')).status, 200);
  });
});
