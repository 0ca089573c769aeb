// Throughput and group commit, measured on real files. The assertions are loose (they catch a
// lost batching, not a slow disk); the numbers are printed as test diagnostics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { LmdbRaftStorage } from '../../src/storage/raft-log-store.ts';
import { KvStore } from '../../src/storage/kv-store.ts';
import { openKvEnv, openRaftLogEnv } from '../../src/storage/lmdb-env.ts';
import { bytes, tempDir } from './helpers.ts';

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000)).toLocaleString('en-US');

test('10,000 saves issued together share a handful of fsynced commits', async (t) => {
  const dir = tempDir(t);
  const env = openRaftLogEnv(path.join(dir, 'raft'));
  const s = new LmdbRaftStorage({ env, group: 'g', snapshotDir: path.join(dir, 'snaps') });
  let commits = 0;
  env.on('aftercommit', () => commits++);
  const N = 10_000;
  const data = new Uint8Array(100).fill(7);
  const started = performance.now();
  const saves = [];
  for (let i = 1; i <= N; i++) saves.push(s.save({ entries: [{ index: i, term: 1, type: 0, data }], hardState: { term: 1, vote: 'a', commit: i - 1 } }));
  await Promise.all(saves);
  const ms = performance.now() - started;
  t.diagnostic(`raft log: ${N} concurrent saves in ${ms.toFixed(0)} ms = ${rate(N, ms)} saves/s, ${commits} commits`);
  assert.ok(commits <= 20, `${commits} commits for ${N} saves`);
  assert.equal(s.lastIndex(), N);

  // One at a time, each save pays a whole fsync: the latency a lone proposal sees.
  const M = 200;
  const t0 = performance.now();
  for (let i = N + 1; i <= N + M; i++) await s.save({ entries: [{ index: i, term: 1, type: 0, data }] });
  const serial = performance.now() - t0;
  t.diagnostic(`raft log: sequential awaited saves ${(serial / M).toFixed(3)} ms each = ${rate(M, serial)} saves/s`);

  // Many groups in one environment issuing at once (a node hosting many shards) share fsyncs too.
  const groups = Array.from({ length: 100 }, (_, g) => new LmdbRaftStorage({ env, group: `shard-${g}`, snapshotDir: path.join(dir, 'snaps') }));
  commits = 0;
  const t1 = performance.now();
  const all = [];
  for (let round = 1; round <= 20; round++) for (const g of groups) all.push(g.save({ entries: [{ index: round, term: 1, type: 0, data }] }));
  await Promise.all(all);
  const multi = performance.now() - t1;
  t.diagnostic(`raft log: 100 groups x 20 saves in ${multi.toFixed(0)} ms = ${rate(2000, multi)} saves/s, ${commits} commits`);
  assert.ok(commits <= 20);
  for (const g of groups) await g.close();
  await s.close();
  await env.close();
});

test('applyAt batches consecutive entries into few transactions', async (t) => {
  const dir = tempDir(t);
  const env = openKvEnv(path.join(dir, 'kv'));
  const kv = new KvStore({ env, group: 'g' });
  let commits = 0;
  env.on('aftercommit', () => commits++);
  const N = 100_000;
  const value = new Uint8Array(100).fill(1);
  const keys = Array.from({ length: N }, (_, i) => bytes(`key-${i % 10_000}`));
  const started = performance.now();
  const applies = [];
  for (let i = 1; i <= N; i++) applies.push(kv.applyAt(i, (tx) => tx.put(keys[i - 1], value)));
  await Promise.all(applies);
  const ms = performance.now() - started;
  t.diagnostic(`kv: ${N} concurrent applyAt (one 100-byte put each) in ${ms.toFixed(0)} ms = ${rate(N, ms)} applies/s, ${commits} commits`);
  assert.ok(commits <= 50, `${commits} commits`);
  assert.equal(kv.get(keys[9_999])!.version, 10);

  const t1 = performance.now();
  for (let i = N + 1; i <= N + 1000; i++) await kv.applyAt(i, (tx) => tx.put(keys[i % 10_000], value));
  const awaited = performance.now() - t1;
  t.diagnostic(`kv: 1000 awaited applyAt one by one: ${(awaited / 1000).toFixed(3)} ms each`);

  const t2 = performance.now();
  let found = 0;
  for (let i = 0; i < 100_000; i++) if (kv.get(keys[i % 10_000])) found++;
  const reads = performance.now() - t2;
  t.diagnostic(`kv: get ${rate(found, reads)} reads/s`);
  assert.equal(await kv.flush(), N + 1000);
  await kv.close();
  await env.close();
});
