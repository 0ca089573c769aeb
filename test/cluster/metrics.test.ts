// The node's gauges and counters read their sources at scrape time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeMetrics } from '../../src/cluster/metrics.ts';
import type { RaftGroup } from '../../src/cluster/raft-group.ts';
import type { PeerStatsSource } from '../../src/cluster/peer-stats.ts';
import type { CacheStats } from '../../src/storage/read-cache.ts';

test('Raft gauges and the read cache metrics show what their sources say at each scrape', async () => {
  const status = { term: 3, commit: 7, applied: 6, role: 'leader' };
  const group = { node: { status: () => status }, leaderChanges: 1 } as unknown as RaftGroup;
  const transport = { stats: () => ({ peers: {}, inbound: {} }) } as unknown as PeerStatsSource;
  const m = new NodeMetrics(group, transport);
  const cache: CacheStats = { hits: 5, misses: 2, entries: 4, bytes: 900, capacityBytes: 1 << 20 };
  m.watchCache(() => cache);
  const read = async () => {
    const text = await m.render();
    return Object.fromEntries(text.split('\n').filter((l) => /^concord_(raft_term|raft_commit_index|cache_)/.test(l)).map((l) => l.split(' ') as [string, string]));
  };
  assert.deepEqual(await read(), { concord_raft_term: '3', concord_raft_commit_index: '7', concord_cache_hits_total: '5', concord_cache_misses_total: '2', concord_cache_entries: '4', concord_cache_bytes: '900' });
  status.term = 4;
  cache.hits = 9;
  cache.bytes = 1200;
  const again = await read();
  assert.deepEqual([again.concord_raft_term, again.concord_cache_hits_total, again.concord_cache_bytes], ['4', '9', '1200']);
});
