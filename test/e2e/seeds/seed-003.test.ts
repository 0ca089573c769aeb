// Seed 003's README, step by step and verbatim but for the binary and the ports, in a fresh directory (its
// commands give no --data-dir: each node keeps ./data/<node id>): bootstrap one node, start two more with
// --peers, add them over the cluster API, use the REST API and the CLI client as the README does, then the
// life cycle — kill -9 and restart with the same command, restart every node, a 64 MB value, add and remove.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BIN, ProcCluster, retriedOnce, type ProcNode } from '../../../testkit/processes.ts';
import { freePort } from '../../../testkit/ports.ts';
import { until } from '../../../testkit/wait.ts';

const run = promisify(execFile);

describe('seed 003: multi-node cluster started and grown as its README shows', () => {
  const c = new ProcCluster();
  const nodes: ProcNode[] = [];

  const cwd = path.join(c.dir, 'seed-003');

  before(async () => {
    fs.mkdirSync(cwd);
    const raft = [await freePort(), await freePort(), await freePort()];
    const http = [await freePort(), await freePort(), await freePort()];
    // cargo run --bin kvstore-server -- --node-id node1 --bind-address 127.0.0.1:7001 --http-port 8081 --bootstrap
    nodes.push(c.add('node1', ['--node-id', 'node1', '--bind-address', `127.0.0.1:${raft[0]}`, '--http-port', String(http[0]), '--bootstrap'], `http://127.0.0.1:${http[0]}`, cwd));
    // … --node-id node2 --bind-address 127.0.0.1:7002 --http-port 8082 --peers 127.0.0.1:7001 (and node3)
    nodes.push(c.add('node2', ['--node-id', 'node2', '--bind-address', `127.0.0.1:${raft[1]}`, '--http-port', String(http[1]), '--peers', `127.0.0.1:${raft[0]}`], `http://127.0.0.1:${http[1]}`, cwd));
    nodes.push(c.add('node3', ['--node-id', 'node3', '--bind-address', `127.0.0.1:${raft[2]}`, '--http-port', String(http[2]), '--peers', `127.0.0.1:${raft[0]},127.0.0.1:${raft[1]}`], `http://127.0.0.1:${http[2]}`, cwd));
    await Promise.all(nodes.map((n) => c.waitHealthy(n)));
    await c.leader();
    for (const [i, id] of [[1, 'node2'], [2, 'node3']] as const) {
      // Adding a voter waits for the previous change to be applied; retry while one is in progress.
      await until(`${id} to be added`, async () => {
        const r = await fetch(`${nodes[0].url}/api/v1/cluster/nodes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ node_id: id, address: `127.0.0.1:${raft[i]}` }),
        });
        return r.ok;
      });
    }
  });

  after(async () => c.stop());

  it('every node reports the three members and one leader', async () => {
    await until('three voters seen by every node', async () => {
      for (const n of nodes) {
        const st = (await (await fetch(`${n.url}/api/v1/cluster/status`)).json()) as { leader: string | null; nodes: Array<{ id: string }> };
        if (!st.leader || st.nodes.length !== 3) return false;
      }
      return true;
    });
  });

  it('the REST API replicates to the added nodes', async () => {
    const value = Buffer.from('Hello, World!').toString('base64');
    const put = await fetch(`${nodes[0].url}/api/v1/kv/mykey`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'mykey', value }) });
    assert.ok(put.ok, `PUT answered ${put.status}`);
    for (const n of nodes.slice(1)) {
      await until(`${n.id} to have mykey`, async () => (await fetch(`${n.url}/v1/kv/mykey?consistency=serializable`)).ok);
      assert.equal(await (await fetch(`${n.url}/v1/kv/mykey`)).text(), 'Hello, World!');
    }
  });

  it('the CLI client works as the README uses it', async () => {
    const server = ['--server', nodes[2].url];
    await run(process.execPath, [BIN, 'put', 'cli-key', 'Hello, World!', ...server]);
    const got = await run(process.execPath, [BIN, 'get', 'cli-key', ...server]);
    assert.equal(got.stdout.trim(), 'Hello, World!');
    assert.match((await run(process.execPath, [BIN, 'list', ...server])).stdout, /cli-key/);
    assert.match((await run(process.execPath, [BIN, 'cluster-status', ...server])).stdout, /node1[\s\S]*node2[\s\S]*node3/);
    assert.match((await run(process.execPath, [BIN, 'health', ...server])).stdout, /ok/i);
    await run(process.execPath, [BIN, 'delete', 'cli-key', ...server]);
    await assert.rejects(run(process.execPath, [BIN, 'get', 'cli-key', ...server]), (e: { code?: number; stderr?: string }) => e.code === 3 && /not found/i.test(e.stderr ?? ''));
  });

  it('each node keeps its state in ./data/<node id> of the directory it was started in', () => {
    assert.deepEqual(fs.readdirSync(path.join(cwd, 'data')).sort(), ['node1', 'node2', 'node3']);
  });

  it('kill -9 a node and start it with the same command: it catches up', async () => {
    await c.kill9(nodes[1]);
    const put = await retriedOnce(() => fetch(`${nodes[0].url}/v1/kv/while-down`, { method: 'PUT', body: 'yes' }));
    assert.equal(put.status, 200, 'node2 may have been the leader');
    c.start(nodes[1]);
    await c.waitHealthy(nodes[1], 30_000);
    await until('node2 to catch up', async () => (await fetch(`${nodes[1].url}/v1/kv/while-down?consistency=serializable`)).ok, 20_000);
  });

  it('restart every node with the same commands: one leader again, and the data is there', async () => {
    await c.restart(nodes);
    await c.leader(20_000);
    for (const n of nodes) {
      const r = await fetch(`${n.url}/api/v1/kv/mykey`);
      assert.equal(r.status, 200, n.id);
      assert.match(await r.text(), /SGVsbG8sIFdvcmxkIQ==|Hello, World!/, n.id);
    }
  });

  it('a 64 MB value (the README’s limit) goes in through PUT /api/v1/kv and comes out whole on another node', async () => {
    const value = Buffer.alloc(64 * 1024 * 1024);
    for (let i = 0; i < value.length; i += 4096) value.writeUInt32LE(i * 2654435761 >>> 0, i);
    const sum = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const body = JSON.stringify({ key: 'big', value: value.toString('base64') });
    const put = await retriedOnce(() => fetch(`${nodes[0].url}/api/v1/kv/big`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body }));
    assert.equal(put.status, 200, await put.text());
    const got = await fetch(`${nodes[2].url}/v1/kv/big`);
    assert.equal(got.status, 200);
    assert.equal(sum(new Uint8Array(await got.arrayBuffer())), sum(value));
  });

  it('the CLI adds and removes members; removing the leader hands leadership over first', async () => {
    const [raft4, http4] = [await freePort(), await freePort()];
    const node4 = c.add('node4', ['--node-id', 'node4', '--bind-address', `127.0.0.1:${raft4}`, '--http-port', String(http4), '--no-bootstrap'], `http://127.0.0.1:${http4}`, cwd);
    await c.waitHealthy(node4);
    const server = ['--server', nodes[0].url];
    const added = await run(process.execPath, [BIN, 'cluster-add', 'node4', `127.0.0.1:${raft4}`, '--learner', ...server]);
    assert.match(added.stdout, /added node4 .* as a learner/);
    await until('node4 to catch up', async () => (await fetch(`${node4.url}/v1/kv/mykey?consistency=serializable`)).ok);
    assert.match((await run(process.execPath, [BIN, 'cluster-remove', 'node4', ...server])).stdout, /removed node4/);
    await c.kill9(node4);

    const leader = await c.leader();
    const follower = nodes.find((n) => n !== leader)!;
    await run(process.execPath, [BIN, 'cluster-remove', leader.id, '--server', follower.url]);
    const st = (await (await fetch(`${follower.url}/v1/cluster`)).json()) as { leader: string | null; nodes: Array<{ id: string }> };
    assert.ok(st.leader && st.leader !== leader.id, 'a new leader');
    assert.ok(!st.nodes.some((n) => n.id === leader.id), 'the old leader is no longer a member');
    const put = await fetch(`${follower.url}/v1/kv/after-removal`, { method: 'PUT', body: 'ok' });
    assert.equal(put.status, 200);
  });
});
