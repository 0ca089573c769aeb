// Online backup and restore, round trip on 100,000 keys: `concord backup` from a running cluster,
// `concord restore` into a new data dir, a server started on it holds exactly the same data.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BIN, ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { freePort } from '../../testkit/ports.ts';

const run = promisify(execFile);
const KEYS = 100_000;
const key = (i: number) => `k${String(i).padStart(6, '0')}`;
let c: ProcCluster | undefined;
after(async () => c?.stop());

async function countKeys(url: string): Promise<{ count: number; sample: Map<string, string> }> {
  const sample = new Map<string, string>();
  let count = 0;
  let start = '';
  for (;;) {
    const r = await fetch(`${url}/v1/kv?limit=10000${start ? `&start=${encodeURIComponent(start)}` : ''}`);
    const page = (await r.json()) as { items: Array<{ key: string; value: string }>; more: boolean };
    count += page.items.length;
    for (const it of page.items) if (Number(it.key.slice(1)) % 9973 === 0) sample.set(it.key, it.value);
    if (!page.more) return { count, sample };
    start = `${page.items[page.items.length - 1].key}\u0000`;
  }
}

it(`a backup of ${KEYS.toLocaleString('en')} keys taken online restores into a new cluster with exactly that data`, async () => {
  c = await ProcCluster.create(3);
  const leader = await c.leader();
  for (let i = 0; i < KEYS; i += 1000) {
    const ops = Array.from({ length: 1000 }, (_, j) => ({ op: 'put', key: key(i + j), value: `v${i + j}` }));
    const r = await fetch(`${leader.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops }) });
    assert.equal(r.status, 200);
  }
  const follower = c.nodes.find((n) => n !== leader)!;
  const file = path.join(c.dir, 'cluster.backup');
  const b = await run(process.execPath, [BIN, 'backup', '--out', file, '--server', follower.url]);
  assert.match(b.stdout, /^backup of index \d+: \d+ bytes to .*, sha256 [0-9a-f]{64}\n$/);
  assert.ok(fs.existsSync(`${file}.sha256`));

  const dataDir = path.join(c.dir, 'restored');
  const r = await run(process.execPath, [BIN, 'restore', file, '--data-dir', dataDir, '--node-id', 'r1']);
  assert.match(r.stdout, /^restored index \d+ into /);
  const [http, raft] = [await freePort(), await freePort()];
  const restored = c.add('r1', ['server', '--node-id', 'r1', '--data-dir', dataDir, '--http-addr', `127.0.0.1:${http}`, '--raft-addr', `127.0.0.1:${raft}`], `http://127.0.0.1:${http}`);
  await c.waitHealthy(restored);

  const { count, sample } = await countKeys(restored.url);
  assert.equal(count, KEYS);
  for (const [k, v] of sample) assert.equal(v, `v${Number(k.slice(1))}`);
  const put = await fetch(`${restored.url}/v1/kv/after-restore`, { method: 'PUT', body: 'yes' });
  assert.equal(put.status, 200, 'the restored cluster takes writes');
});

it('a damaged backup is refused: by its sha256, and by the image checksums without one', async () => {
  const file = path.join(c!.dir, 'cluster.backup');
  const bytes = fs.readFileSync(file);
  bytes[Math.floor(bytes.length / 2)] ^= 0x20;
  const bad = path.join(c!.dir, 'bad.backup');
  fs.writeFileSync(bad, bytes);
  fs.copyFileSync(`${file}.sha256`, `${bad}.sha256`);
  await assert.rejects(run(process.execPath, [BIN, 'restore', bad, '--data-dir', path.join(c!.dir, 'x1')]), (e: { code?: number; stderr?: string }) => e.code === 1 && /does not match/.test(e.stderr ?? ''));
  fs.rmSync(`${bad}.sha256`);
  await assert.rejects(run(process.execPath, [BIN, 'restore', bad, '--data-dir', path.join(c!.dir, 'x2')]), (e: { code?: number; stderr?: string }) => e.code === 1 && /restore failed/.test(e.stderr ?? ''));
  assert.ok(!fs.existsSync(path.join(c!.dir, 'x2')), 'a failed restore leaves no half-made data dir');
});

it('a backup of a sharded cluster holds every shard, those hosted elsewhere fetched from their replicas, and restores into a cluster with that many shards', async () => {
  // R = 2 of 3 members: 8 replicas over 3 nodes, so no node holds all 4 shards.
  const s = await ProcCluster.create(3, () => ['--shards', '4', '--replicas', '2']);
  try {
    const node = s.nodes[0];
    const N = 2_000;
    for (let i = 0; i < N; i += 100) {
      await Promise.all(Array.from({ length: 100 }, async (_, j) => assert.equal((await fetch(`${node.url}/v1/kv/${key(i + j)}`, { method: 'PUT', body: `v${i + j}` })).status, 200)));
    }
    const hosted = async (n: ProcNode) => ((await (await fetch(`${n.url}/v1/cluster`)).json()) as { shards: Array<{ hosted: boolean }> }).shards.filter((x) => x.hosted).length;
    const counts = await Promise.all(s.nodes.map(hosted));
    const from = s.nodes[counts.findIndex((c) => c > 0 && c < 4)];
    assert.ok(from, `a node hosting some shards but not all (hosted: ${counts.join(', ')})`);
    const file = path.join(s.dir, 'sharded.backup');
    const b = await run(process.execPath, [BIN, 'backup', '--out', file, '--server', from.url]);
    assert.match(b.stdout, /^backup of 4 shards at indexes \d+, \d+, \d+, \d+: \d+ bytes to .*, sha256 [0-9a-f]{64}\n$/);

    // A body cut short is refused, and leaves nothing behind.
    const cut = path.join(s.dir, 'cut.backup');
    fs.writeFileSync(cut, fs.readFileSync(file).subarray(0, fs.statSync(file).size - 10));
    await assert.rejects(run(process.execPath, [BIN, 'restore', cut, '--data-dir', path.join(s.dir, 'x3')]), (e: { stderr?: string }) => /ends inside section 3 of 4/.test(e.stderr ?? ''));
    assert.ok(!fs.existsSync(path.join(s.dir, 'x3')));

    const dataDir = path.join(s.dir, 'restored');
    await assert.rejects(run(process.execPath, [BIN, 'restore', file, '--data-dir', path.join(s.dir, 'x4'), '--replicas', '0']), (e: { stderr?: string }) => /--replicas: expected a whole number in 1\.\.7/.test(e.stderr ?? ''));
    const r = await run(process.execPath, [BIN, 'restore', file, '--data-dir', dataDir, '--node-id', 'r1', '--replicas', '2']);
    assert.match(r.stdout, /^restored 4 shards at indexes /);
    const [http, raft] = [await freePort(), await freePort()];
    const restored = s.add('r1', ['server', '--node-id', 'r1', '--data-dir', dataDir, '--http-addr', `127.0.0.1:${http}`, '--raft-addr', `127.0.0.1:${raft}`], `http://127.0.0.1:${http}`);
    await s.waitHealthy(restored);
    const status = (await (await fetch(`${restored.url}/v1/cluster`)).json()) as { shards?: unknown[]; shardMap?: { replicas: number } };
    assert.equal(status.shards?.length, 4, 'the restored cluster has the backup\'s shards');
    assert.equal(status.shardMap?.replicas, 2, 'and the --replicas restore was given');
    const { count } = await countKeys(restored.url);
    assert.equal(count, N);
    for (const i of [0, 777, 1_999]) assert.equal(await (await fetch(`${restored.url}/v1/kv/${key(i)}`)).text(), `v${i}`);
    assert.equal((await fetch(`${restored.url}/v1/kv/after-restore`, { method: 'PUT', body: 'yes' })).status, 200, 'it takes writes');
  } finally {
    await s.stop();
  }
});
