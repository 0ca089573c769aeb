// The node's WAL as its groups share it: one write per event-loop turn for every group's records,
// and a group that is not open keeps its records (and the segment they are in) until it checkpoints.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { NodeWal } from '../../src/storage/node-wal.ts';
import { RaftWalStore } from '../../src/storage/raft-wal-store.ts';
import { entries, tempDir } from './helpers.ts';

const GROUPS = Array.from({ length: 8 }, (_, i) => `s${i}`);

test("every group's saves issued in one event-loop turn share one durable write", async (t) => {
  const dir = tempDir(t);
  const wal = new NodeWal({ dir: path.join(dir, 'wal') });
  const stores = GROUPS.map((group) => new RaftWalStore({ wal, group, snapshotDir: path.join(dir, 'snaps') }));
  t.after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await wal.close();
  });
  await Promise.all(stores.map((s) => s.save({ entries: [] }))); // the new groups' first records
  const before = wal.stats.writes;
  await Promise.all(stores.map((s, i) => s.save({ entries: entries(1, 3, 1), hardState: { term: 1, vote: `n${i}`, commit: 2 } })));
  assert.equal(wal.stats.writes - before, 1, 'one write for eight groups');
  // Saves issued while that write runs go together in the next.
  const first = Promise.all(stores.map((s) => s.save({ entries: entries(4, 4, 1) })));
  await new Promise((r) => setImmediate(r));
  const second = Promise.all(stores.map((s) => s.save({ entries: entries(5, 5, 1) })));
  await Promise.all([first, second]);
  assert.ok(wal.stats.writes - before <= 3, `${wal.stats.writes - before} writes for three rounds`);
  for (const s of stores) assert.equal(s.lastIndex(), 5);
});

test('a group moves its BASE forward when it compacts, and one idle since is asked to once segments pile up', async (t) => {
  const dir = tempDir(t);
  const walDir = path.join(dir, 'wal');
  const wal = new NodeWal({ dir: walDir, segmentBytes: 200, maxSegments: 3 });
  const store = (group: string) => new RaftWalStore({ wal, group, snapshotDir: path.join(dir, 'snaps') });
  const busy = store('busy');
  const idle = store('idle');
  t.after(async () => {
    await Promise.all([busy.close(), idle.close()]);
    await wal.close();
  });
  await idle.save({ entries: entries(1, 4, 1), hardState: { term: 1, vote: 'a', commit: 4 } });
  for (let i = 1; i <= 20; i++) await busy.save({ entries: entries(i, i, 1) });
  assert.ok(wal.behind('busy'), "busy's BASE is behind: it has not compacted");
  await busy.compact(10);
  assert.ok(!wal.behind('busy'), 'compacting moved it to the current segment');
  for (let i = 21; i <= 80; i++) {
    await busy.save({ entries: entries(i, i, 1) });
    if (i % 10 === 0) await busy.compact(i - 5);
    // The allowed three, the one just started, and one started before the checkpoints land.
    assert.ok(wal.segmentFiles().length <= 5, `${wal.segmentFiles().join(', ')} at ${i}`);
  }
  assert.ok(wal.stats.segmentsStarted >= 10, `${wal.stats.segmentsStarted} segments started`);
  assert.ok(!wal.segmentFiles().includes('0000000000000001.wal'), 'idle was asked for a checkpoint, and the first segment went');
  assert.deepStrictEqual([idle.firstIndex(), idle.lastIndex(), idle.initialState().hardState], [1, 4, { term: 1, vote: 'a', commit: 4 }]);
});

test('a group that is not open keeps its records, and the segment they are in, until it is opened', async (t) => {
  const dir = tempDir(t);
  const walDir = path.join(dir, 'wal');
  const open = () => new NodeWal({ dir: walDir, segmentBytes: 200, maxSegments: 2 });
  const store = (wal: NodeWal, group: string) => new RaftWalStore({ wal, group, snapshotDir: path.join(dir, 'snaps') });
  let wal = open();
  const quiet = store(wal, 'quiet');
  await quiet.save({ entries: entries(1, 4, 1), hardState: { term: 1, vote: 'a', commit: 4 } });
  await quiet.close();
  let busy = store(wal, 'busy');
  for (let i = 1; i <= 40; i++) {
    await busy.save({ entries: entries(i, i, 1) });
    if (i % 10 === 0) await busy.compact(i - 1);
  }
  await busy.close();
  await wal.close();
  assert.ok(wal.stats.segmentsStarted >= 5, `${wal.stats.segmentsStarted} segments started`);
  assert.equal(fs.readdirSync(walDir).sort()[0], '0000000000000001.wal', "the segment with quiet's records stays");

  wal = open();
  const q = store(wal, 'quiet');
  busy = store(wal, 'busy');
  t.after(async () => {
    await Promise.all([q.close(), busy.close()]);
    await wal.close();
  });
  assert.deepStrictEqual([q.firstIndex(), q.lastIndex(), q.initialState().hardState], [1, 4, { term: 1, vote: 'a', commit: 4 }]);
  assert.deepStrictEqual([busy.firstIndex(), busy.lastIndex()], [40, 40]);
  for (let i = 41; i <= 50; i++) await busy.save({ entries: entries(i, i, 1) });
  assert.ok(!fs.readdirSync(walDir).includes('0000000000000001.wal'), 'opened, quiet checkpointed when asked, and the segment went');
  assert.deepStrictEqual([q.firstIndex(), q.lastIndex()], [1, 4]);
});

test('a destroyed group is gone at the next open, holds no segment, and its id can start a new group', async (t) => {
  const dir = tempDir(t);
  const walDir = path.join(dir, 'wal');
  const snaps = path.join(dir, 'snaps');
  let wal = new NodeWal({ dir: walDir, segmentBytes: 200, maxSegments: 2 });
  const store = (group: string) => new RaftWalStore({ wal, group, snapshotDir: snaps, initialConfState: { voters: ['n1'], learners: [] } });
  const doomed = store('doomed');
  let kept = store('kept');
  await doomed.save({ entries: entries(1, 5, 1), hardState: { term: 1, vote: 'n1', commit: 5 } });
  await doomed.createSnapshot(3, { voters: ['n1'], learners: [] }, Buffer.from('image'));
  assert.ok(fs.existsSync(path.join(snaps, 'doomed')));
  await assert.rejects(wal.drop('doomed'), /is open/);
  await doomed.destroy();
  assert.ok(!fs.existsSync(path.join(snaps, 'doomed')), 'its snapshot files are gone');
  // The segment its records are in goes once the group left holds it no more.
  for (let i = 1; i <= 30; i++) {
    await kept.save({ entries: entries(i, i, 1) });
    if (i % 10 === 0) await kept.compact(i - 1);
  }
  assert.ok(!wal.segmentFiles().includes('0000000000000001.wal'), `${wal.segmentFiles().join(', ')}`);
  await kept.close();
  await wal.close();

  wal = new NodeWal({ dir: walDir, segmentBytes: 200, maxSegments: 2 });
  kept = store('kept');
  const reborn = store('doomed');
  t.after(async () => {
    await Promise.all([kept.close(), reborn.close()]);
    await wal.close();
  });
  assert.deepStrictEqual([reborn.firstIndex(), reborn.lastIndex(), reborn.snapshotIndex(), reborn.initialState().hardState], [1, 0, 0, { term: 0, vote: '', commit: 0 }], 'a new, empty group');
  assert.equal(kept.lastIndex(), 30);
});
