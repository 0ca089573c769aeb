// Seed 004's usage, in a fresh directory: its node is `concord` with no command, serving its clients on
// gRPC's 127.0.0.1:50051 as the seed's node does; its GUI client is `concord gui`, which says where the
// dashboard will be; Get, Set, Delete and List; then the life cycle
// and the seed's wishes that exist: a node restarted with the same command keeps its data, and membership
// changes without downtime — a member added and removed while a client writes, no write failing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ProcCluster, type ProcNode } from '../../../testkit/processes.ts';
import { freePort } from '../../../testkit/ports.ts';
import { until } from '../../../testkit/wait.ts';
import { runCli } from '../../cli/helpers.ts';
import { GrpcTestClient } from '../../api/grpc-client.ts';
import { KV } from '../../../src/api/grpc/gen/concord_pb.ts';

const c = new ProcCluster();
const cwd = path.join(c.dir, 'seed-004');
let node: ProcNode;

const set = (key: string, value: string, x = node) => fetch(`${x.url}/v1/kv/${key}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(10_000) });
const getText = async (key: string, x = node) => {
  const r = await fetch(`${x.url}/v1/kv/${key}`);
  return { status: r.status, text: await r.text() };
};
const members = async () => ((await (await fetch(`${node.url}/v1/cluster`)).json()) as { nodes: Array<{ id: string; voter: boolean }> }).nodes;

describe('seed 004: a node, its operations, and membership changes without downtime', () => {
  before(async () => {
    fs.mkdirSync(cwd);
    const [http, raft] = [await freePort(), await freePort()];
    // ./target/debug/distributed_kv
    node = c.add('n1', ['--http-addr', `127.0.0.1:${http}`, '--raft-addr', `127.0.0.1:${raft}`], `http://127.0.0.1:${http}`, cwd);
    await c.waitHealthy(node);
  });

  after(() => c.stop());

  it('concord gui (the seed’s GUI client) says where the dashboard will be', async () => {
    const r = await runCli(['gui'], { cwd });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dashboard will be served by every node at http:\/\/<node HTTP address>\/ui/);
  });

  it('Get, Set, Delete and List', async () => {
    assert.equal((await set('alpha', '1')).status, 200);
    assert.equal((await set('beta', '2')).status, 200);
    assert.deepEqual(await getText('alpha'), { status: 200, text: '1' });
    const list = (await (await fetch(`${node.url}/v1/kv`)).json()) as { items: Array<{ key: string }> };
    assert.deepEqual(list.items.map((i) => i.key), ['alpha', 'beta']);
    assert.equal((await fetch(`${node.url}/v1/kv/alpha`, { method: 'DELETE' })).status, 200);
    assert.equal((await getText('alpha')).status, 404);
    assert.deepEqual(fs.readdirSync(path.join(cwd, 'data')), ['n1'], 'the node keeps ./data/n1');
  });

  it('kill -9 and the same command again: the data is there', async () => {
    await c.restart([node]);
    assert.deepEqual(await getText('beta'), { status: 200, text: '2' });
  });

  it('a member added and removed while a client writes: no write fails', async () => {
    const [http, raft] = [await freePort(), await freePort()];
    const n2 = c.add('n2', ['--node-id', 'n2', '--http-addr', `127.0.0.1:${http}`, '--raft-addr', `127.0.0.1:${raft}`, '--no-bootstrap'], `http://127.0.0.1:${http}`, cwd);
    await c.waitHealthy(n2);
    let stop = false;
    const failures: string[] = [];
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const r = await set(`load-${i}`, String(i)).catch((e: unknown) => ({ status: 0, text: () => Promise.resolve(String(e)) }));
        if (r.status === 200) writes++;
        else failures.push(`${r.status} ${await r.text()}`);
      }
    })();
    try {
      const add = await fetch(`${node.url}/v1/cluster/nodes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'n2', address: `127.0.0.1:${raft}` }) });
      assert.equal(add.status, 200, await add.text());
      await until('n2 to catch up', async () => (await fetch(`${n2.url}/v1/kv/beta?consistency=serializable`)).ok, 20_000);
      assert.deepEqual((await members()).filter((m) => m.voter).map((m) => m.id).sort(), ['n1', 'n2']);
      const remove = await fetch(`${node.url}/v1/cluster/nodes/n2`, { method: 'DELETE' });
      assert.equal(remove.status, 200, await remove.text());
      assert.deepEqual((await members()).map((m) => m.id), ['n1']);
    } finally {
      stop = true;
      await writer;
    }
    assert.deepEqual(failures, []);
    assert.ok(writes > 0);
  });

  it('the node serves gRPC clients on 127.0.0.1:50051, the seed’s client port, with no flag for it', async () => {
    const client = new GrpcTestClient('127.0.0.1:50051');
    try {
      assert.equal(await client.health(''), 'SERVING');
      await client.call(KV, 'put', { key: Buffer.from('via-grpc'), value: Buffer.from('set') });
      assert.deepEqual(await getText('via-grpc'), { status: 200, text: 'set' }, 'the same store over HTTP');
      assert.equal(Buffer.from((await client.call(KV, 'get', { key: Buffer.from('via-grpc') })).kv!.value).toString(), 'set');
    } finally {
      client.client.close();
    }
  });
});
