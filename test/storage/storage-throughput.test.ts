// Throughput and group commit, measured on real files. The assertions are loose (they catch a
// lost batching, not a slow disk); the numbers are printed as test diagnostics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { RaftWalStore } from '../../src/storage/raft-wal-store.ts';
import { KvStore } from '../../src/storage/kv-store.ts';
import { openKvEnv } from '../../src/storage/lmdb-env.ts';
import { bytes, tempDir } from './helpers.ts';

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000)).toLocaleString('en-US');

test('10,000 saves issued together share a handful of writes', async (t) => {
  const dir = tempDir(t);
  const s = new RaftWalStore({ dir: path.join(dir, 'wal'), group: 'g', snapshotDir: path.join(dir, 'snaps') });
  // Each write to the WAL is one writev on a file opened O_DSYNC: one fdatasync-equivalent.
  let writes = 0;
  const writev = fs.writev;
  (fs as { writev: typeof fs.writev }).writev = ((...args: Parameters<typeof fs.writev>) => {
    writes++;
    return writev(...args);
  }) as typeof fs.writev;
  t.after(() => void ((fs as { writev: typeof fs.writev }).writev = writev));
  const N = 10_000;
  const data = new Uint8Array(100).fill(7);
  const started = performance.now();
  const saves = [];
  for (let i = 1; i <= N; i++) saves.push(s.save({ entries: [{ index: i, term: 1, type: 0, data }], hardState: { term: 1, vote: 'a', commit: i - 1 } }));
  await Promise.all(saves);
  const ms = performance.now() - started;
  t.diagnostic(`raft log: ${N} concurrent saves in ${ms.toFixed(0)} ms = ${rate(N, ms)} saves/s, ${writes} writes`);
  assert.ok(writes <= 3, `${writes} writes for ${N} saves`);
  assert.equal(s.lastIndex(), N);

  // One at a time, each save pays a whole synchronous write: the latency a lone proposal sees.
  const M = 200;
  const t0 = performance.now();
  for (let i = N + 1; i <= N + M; i++) await s.save({ entries: [{ index: i, term: 1, type: 0, data }] });
  const serial = performance.now() - t0;
  t.diagnostic(`raft log: sequential awaited saves ${(serial / M).toFixed(3)} ms each = ${rate(M, serial)} saves/s`);
  await s.close();
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
