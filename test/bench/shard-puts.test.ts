// The sharded-put benchmark measures something: its cell (one wrk per node at once, bench/shard-puts.ts) on
// 3 processes with --shards 3, once every shard has a leader and leadership has spread, counts puts through
// every node (a node that does not lead a key's shard forwards the put), not zero.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { concordCluster } from '../../bench/concord-cluster.ts';
import { PUT_SCRIPT, spreadPut, waitSpread } from '../../bench/shard-puts.ts';

const noWrk = spawnSync('wrk', ['--version']).error !== undefined;

it('a 1 s spread put cell on --shards 3 counts puts through every node', { skip: noWrk && 'wrk is not installed', timeout: 60_000 }, async () => {
  const { cluster, stop } = await concordCluster(3, ['--shards', '3']);
  try {
    await waitSpread(cluster.nodes, 3, 30_000);
    const r = await spreadPut(cluster.nodes.map((n) => n.url), PUT_SCRIPT.concord, 6, 1);
    for (const p of r.perNode) assert.ok(p.r.rps > 0, `${p.url}: ${p.r.rps} puts/s (${p.r.requests} requests, ${p.r.errors} errors)`);
    assert.ok(r.rps > 0 && r.p99ms > 0, JSON.stringify(r));
  } finally {
    await stop();
  }
});
