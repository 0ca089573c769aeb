// Cache mode on three real processes: with --max-keys, the shard's leader evicts the least recently
// written keys past the limit, the same on every replica; a restarted node comes back; with several shards
// each keeps its share; with --max-bytes, the bytes of keys and values are bounded the same way, counted again
// by a restarted node. (That the node's reserved keys are never evicted: test/storage/write-order.test.ts.)
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';

const put = async (n: ProcNode, key: string, body = 'v') => assert.equal((await fetch(`${n.url}/v1/kv/${key}`, { method: 'PUT', body, signal: AbortSignal.timeout(10_000) })).status, 200);
const keysOn = async (n: ProcNode, prefix: string) =>
  ((await (await fetch(`${n.url}/v1/kv?prefix=${prefix}&keys_only=true&limit=10000&consistency=serializable`)).json()) as { items: Array<{ key: string }> }).items.map((i) => i.key);

describe('cache mode (--max-keys, --max-bytes)', () => {
  const clusters: ProcCluster[] = [];
  after(async () => Promise.all(clusters.map((c) => c.stop())));

  it('one shard: past 40 keys the least recently written go, on every node; a restarted node comes back', async () => {
    const c = await ProcCluster.create(3, ['--max-keys', '40']);
    clusters.push(c);
    await c.leader();
    for (let i = 0; i < 100; i++) await put(c.nodes[i % 3], `k${String(i).padStart(3, '0')}`);
    await put(c.nodes[0], 'k000'); // written again: now among the most recent
    const want = ['k000', ...Array.from({ length: 39 }, (_, i) => `k${String(61 + i).padStart(3, '0')}`)].sort();
    for (const n of c.nodes) await until(`${n.id} down to 40 keys`, async () => JSON.stringify(await keysOn(n, 'k')) === JSON.stringify(want), 15_000);
    await c.kill9(c.nodes[2]);
    await c.restart([c.nodes[2]]);
    await until('the restarted node serving again', async () => (await fetch(`${c.nodes[2].url}/v1/kv/k099`)).status === 200, 15_000);
  });

  it('four shards: each keeps its share, about 40 in all', async () => {
    const c = await ProcCluster.create(3, ['--max-keys', '40', '--shards', '4']);
    clusters.push(c);
    await c.leader();
    for (let i = 0; i < 200; i++) await put(c.nodes[i % 3], `s${i}`);
    await until('each shard down to its share (10)', async () => (await keysOn(c.nodes[0], 's')).length <= 40, 15_000);
    const left = await keysOn(c.nodes[1], 's');
    assert.ok(left.length >= 30 && left.length <= 40, `${left.length} keys left`);
    assert.ok(left.includes('s199'), 'the last written is kept');
  });

  it('--max-bytes 10KiB: keys of 1 KiB values past it go, least recently written first, on every node; a restarted node counts its bytes again', async () => {
    const c = await ProcCluster.create(3, ['--max-bytes', '10KiB']);
    clusters.push(c);
    await c.leader();
    const kib = 'x'.repeat(1020); // with a 4-byte key: 1,024 bytes a key
    for (let i = 0; i < 30; i++) await put(c.nodes[i % 3], `b${String(i).padStart(3, '0')}`, kib);
    const want = Array.from({ length: 10 }, (_, i) => `b${String(20 + i).padStart(3, '0')}`);
    for (const n of c.nodes) await until(`${n.id} down to 10 KiB (10 keys)`, async () => JSON.stringify(await keysOn(n, 'b')) === JSON.stringify(want), 15_000);
    await c.restart(c.nodes);
    await c.leader();
    await put(c.nodes[1], 'b030', kib);
    const after = [...want.slice(1), 'b030'];
    for (const n of c.nodes) await until(`${n.id} evicting by the recounted bytes`, async () => JSON.stringify(await keysOn(n, 'b')) === JSON.stringify(after), 15_000);
  });
});
