// Seed 002's example with the config files Concord ships (examples/seed-002), in a fresh directory:
// `concord kava.conf`, `concord kava2.conf`, `concord kava3.conf` in three "terminals" form one cluster.
// Verbatim but for the ports: the copies get free ones. The README's `echo "…" | nc localhost 3001` is a
// TCP client that sends the line, half-closes (nc -N) and prints the answer; then the life cycle: kill -9
// and restart with the same command, restart every node.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ProcCluster, retriedOnce, type ProcNode } from '../../../testkit/processes.ts';
import { freePort, freeWithOffsets } from '../../../testkit/ports.ts';
import { until } from '../../../testkit/wait.ts';

const c = new ProcCluster();
const cwd = path.join(c.dir, 'seed-002');
const n: ProcNode[] = [];
const textPorts: number[] = [];

/** `echo "$line" | nc -N localhost PORT`: the answer, as nc prints it. */
const nc = (port: number, line: string) =>
  new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    s.on('data', (d) => out.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(out).toString('utf8')));
    s.end(`${line}\n`);
  });

const put = (x: ProcNode, key: string, value: string) => fetch(`${x.url}/v1/kv/${key}`, { method: 'PUT', body: value });
const read = async (x: ProcNode, key: string, consistency = 'linearizable') => {
  const r = await fetch(`${x.url}/v1/kv/${key}?consistency=${consistency}`);
  return { status: r.status, text: await r.text() };
};

describe('seed 002: three nodes from kava.conf, kava2.conf, kava3.conf', () => {
  before(async () => {
    fs.mkdirSync(cwd);
    const text = await Promise.all([1, 2, 3].map(() => freeWithOffsets([4000, 5000])));
    const gossip = await Promise.all([1, 2, 3].map(() => freePort()));
    textPorts.push(...text);
    const ports = (s: string) =>
      s.replace(/\b30(0|1)([123])\b/g, (_, kind: string, k: string) => String(kind === '0' ? text[Number(k) - 1] : gossip[Number(k) - 1]));
    for (const f of ['kava.conf', 'kava2.conf', 'kava3.conf']) {
      fs.writeFileSync(path.join(cwd, f), ports(fs.readFileSync(path.join('examples', 'seed-002', f), 'utf8')));
    }
    ['kava.conf', 'kava2.conf', 'kava3.conf'].forEach((f, i) => n.push(c.add(`node${i + 1}`, [f], `http://127.0.0.1:${text[i] + 5000}`, cwd)));
    await Promise.all(n.map((x) => c.waitHealthy(x)));
    await c.leader(20_000);
  });

  after(() => c.stop());

  it('each node says where its text protocol and its HTTP API are', () => {
    n.forEach((x, i) => {
      assert.match(x.output.join(''), new RegExp(`node ${x.id}, text protocol 127\\.0\\.0\\.1:${textPorts[i]} \\(nc 127\\.0\\.0\\.1 ${textPorts[i]}\\), HTTP ${x.url.replace(/[.]/g, '\\.')}`));
    });
  });

  it('one cluster: echo "PUT nickname codejitsu" | nc localhost 3001, then echo "READ nickname" | nc localhost 3002 (and 3003)', async () => {
    assert.equal(await nc(textPorts[0], 'PUT nickname codejitsu'), 'OK\n');
    assert.equal(await nc(textPorts[1], 'READ nickname'), 'codejitsu\n');
    assert.equal(await nc(textPorts[2], 'READ nickname'), 'codejitsu\n');
    for (const x of n.slice(1)) assert.deepEqual(await read(x, 'nickname'), { status: 200, text: 'codejitsu' }, 'the same data over HTTP');
    assert.equal(await nc(textPorts[2], 'BATCHPUT a 1 b 2'), 'OK\n');
    assert.equal(await nc(textPorts[0], 'RANGE a b'), 'a 1\nb 2\nEND\n');
    assert.equal(await nc(textPorts[1], 'DELETE a'), 'OK\n');
    assert.equal(await nc(textPorts[0], 'READ a'), 'NOT_FOUND\n');
    const st = (await (await fetch(`${n[1].url}/v1/cluster`)).json()) as { nodes: Array<{ id: string; voter: boolean }> };
    assert.deepEqual(st.nodes.filter((m) => m.voter).map((m) => m.id).sort(), ['node1', 'node2', 'node3']);
    assert.deepEqual(fs.readdirSync(path.join(cwd, 'data')).sort(), ['node1', 'node2', 'node3']);
  });

  it('kill -9 node2 and start it again with `concord kava2.conf`: it catches up', async () => {
    await c.kill9(n[1]);
    const r = await retriedOnce(() => put(n[0], 'while-down', 'yes')); // node2 may have been the leader
    assert.equal(r.status, 200, await r.text());
    c.start(n[1]);
    await c.waitHealthy(n[1], 30_000);
    await until('node2 to catch up', async () => (await read(n[1], 'while-down', 'serializable')).text === 'yes', 20_000);
  });

  it('restart every node with the same commands: the data is all there', async () => {
    await c.restart(n);
    for (const x of n) assert.deepEqual(await read(x, 'nickname'), { status: 200, text: 'codejitsu' }, x.id);
    for (const p of textPorts) assert.equal(await nc(p, 'READ nickname'), 'codejitsu\n');
    assert.equal((await put(n[2], 'after-restart', 'ok')).status, 200);
  });
});
