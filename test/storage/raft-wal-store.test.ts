import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MemoryStorage } from '../../src/raft/storage.ts';
import { RaftWalStore } from '../../src/storage/raft-wal-store.ts';
import { NodeWal } from '../../src/storage/node-wal.ts';
import { LARGE_ENTRY_BYTES } from '../../src/storage/raft-wal-format.ts';
import { SLAB_BYTES, SLAB_ENTRY_MAX_BYTES } from '../../src/storage/entry-slabs.ts';
import { EntryType } from '../../src/raft/types.ts';
import { bytes, entries, entry, tempDir } from './helpers.ts';
import { errorCode, observe } from './observe.ts';

function openStorage(dir: string, group = 'g1', extra: Partial<ConstructorParameters<typeof RaftWalStore>[0]> = {}) {
  return new RaftWalStore({ dir: path.join(dir, 'wal', group), group, snapshotDir: path.join(dir, 'snaps'), ...extra });
}

test('a fresh log reads like a fresh MemoryStorage', async (t) => {
  const s = openStorage(tempDir(t));
  t.after(() => s.close());
  assert.deepStrictEqual(observe(s), observe(new MemoryStorage()));
});

test('save persists entries and hard state; a reopen returns exactly the same state', async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir);
  await s.save({ hardState: { term: 3, vote: 'n2', commit: 2 }, entries: [entry(1, 1), entry(2, 2), entry(3, 3)] });
  const mem = new MemoryStorage();
  mem.append([entry(1, 1), entry(2, 2), entry(3, 3)]);
  mem.setHardState({ term: 3, vote: 'n2', commit: 2 });
  assert.deepStrictEqual(observe(s), observe(mem));
  await s.close();
  const again = openStorage(dir);
  t.after(() => again.close());
  assert.deepStrictEqual(observe(again), observe(mem));
  assert.deepStrictEqual(again.entries(2, 3, 0), [entry(2, 2)]);
});

test('small entries share slabs in memory, written one by one and after a reopen; larger ones keep a buffer of their own size', async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir);
  const small = (i: number) => ({ index: i, term: 1, type: EntryType.Normal, data: new Uint8Array(130).fill(i & 0xff) });
  const n = 1000;
  for (let i = 1; i <= n; i++) await s.save({ entries: [small(i)] });
  const medium = { index: n + 1, term: 1, type: EntryType.Normal, data: new Uint8Array(SLAB_ENTRY_MAX_BYTES + 1).fill(7) };
  await s.save({ entries: [medium] });
  const slabsFor = (store: RaftWalStore) => new Set(store.entries(1, n + 1, Infinity).map((e) => e.data.buffer)).size;
  const fewest = Math.ceil((n * 130) / SLAB_BYTES);
  // One buffer per entry (each record's own) takes three times the data in resident memory.
  assert.ok(slabsFor(s) <= fewest + 1, `${slabsFor(s)} buffers hold ${n} small entries`);
  assert.deepStrictEqual(s.entries(1, n + 1, Infinity), Array.from({ length: n }, (_, i) => small(i + 1)));
  const [m] = s.entries(n + 1, n + 2, Infinity);
  assert.ok(m.data.buffer.byteLength < 2 * medium.data.byteLength, 'a larger entry is not copied into a slab');
  assert.deepStrictEqual(m.data, medium.data);
  await s.close();
  const again = openStorage(dir);
  t.after(() => again.close());
  assert.ok(slabsFor(again) <= fewest + 1, 'replayed entries are copied into slabs too (not views of the segment read)');
  assert.deepStrictEqual(again.entries(1, n + 2, Infinity), [...Array.from({ length: n }, (_, i) => small(i + 1)), medium]);
  const [replayed] = again.entries(n + 1, n + 2, Infinity);
  assert.ok(replayed.data.buffer.byteLength < 2 * medium.data.byteLength, 'a replayed larger entry has its own buffer, not a view of the whole segment read');
});

test("large entries are written from and kept in the caller's buffers; a reopen and a checkpoint read them back intact", async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir);
  const big = Buffer.alloc(LARGE_ENTRY_BYTES + 5);
  for (let i = 0; i < big.length; i += 1001) big[i] = i & 0xff;
  const large = { index: 2, term: 1, type: EntryType.Normal, data: new Uint8Array(big.buffer, big.byteOffset, big.byteLength) };
  await s.save({ hardState: { term: 1, vote: 'n1', commit: 1 }, entries: [entry(1, 1), large, entry(3, 1)] });
  assert.equal(s.entries(2, 3, Infinity)[0].data.buffer, big.buffer, 'not copied');
  await s.close();
  let again = openStorage(dir);
  assert.ok(Buffer.from(again.entries(2, 3, Infinity)[0].data).equals(big));
  assert.deepStrictEqual(again.entries(3, 4, Infinity), [entry(3, 1)]);
  await again.close();
  // A WAL that starts a new segment at every write: the checkpoint after the compaction holds the large entry.
  const wal = new NodeWal({ dir: path.join(dir, 'wal', 'g1'), segmentBytes: 1 });
  again = new RaftWalStore({ wal, group: 'g1', snapshotDir: path.join(dir, 'snaps') });
  await again.save({ entries: [entry(4, 1)] });
  await again.compact(1);
  await again.save({ entries: [entry(5, 1)] });
  await again.close();
  await wal.close();
  assert.ok(wal.stats.segmentsStarted >= 1, 'a new segment was started');
  assert.ok(!fs.readdirSync(path.join(dir, 'wal', 'g1')).includes('0000000000000001.wal'), 'the first segment is gone: the checkpoint holds all');
  again = openStorage(dir);
  t.after(() => again.close());
  assert.equal(again.firstIndex(), 2);
  assert.ok(Buffer.from(again.entries(2, 3, Infinity)[0].data).equals(big));
  assert.equal(again.lastIndex(), 5);
});

test('appending at i replaces the stored suffix from i (conflicting entries), also across reopen', async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir);
  await s.save({ entries: entries(1, 10, 1) });
  await s.save({ entries: [entry(5, 2, 'new5'), entry(6, 2, 'new6')] });
  assert.equal(s.lastIndex(), 6);
  assert.equal(s.term(5), 2);
  assert.equal(s.term(4), 1);
  assert.equal(errorCode(() => s.term(7)), 'unavailable');
  assert.deepStrictEqual(s.entries(4, 7, Infinity).map((e) => e.term), [1, 2, 2]);
  await s.close();
  const again = openStorage(dir);
  t.after(() => again.close());
  assert.equal(again.lastIndex(), 6);
  assert.equal(new TextDecoder().decode(again.entries(6, 7, 100)[0].data), 'new6');
});

test('a gap is refused without changing anything', async (t) => {
  const s = openStorage(tempDir(t));
  t.after(() => s.close());
  await s.save({ entries: entries(1, 3, 1) });
  await assert.rejects(s.save({ hardState: { term: 9, vote: '', commit: 0 }, entries: [entry(5, 1)] }), /gap/);
  assert.equal(s.lastIndex(), 3);
  assert.equal(s.initialState().hardState.term, 0);
  await s.save({ entries: [entry(4, 1)] }); // still usable
  assert.equal(s.lastIndex(), 4);
});

test('entries() honours maxBytes like limitBytes and always returns at least one', async (t) => {
  const s = openStorage(tempDir(t));
  t.after(() => s.close());
  const big = Array.from({ length: 5 }, (_, i) => ({ index: i + 1, term: 1, type: 0 as const, data: new Uint8Array(100) }));
  await s.save({ entries: big });
  const mem = new MemoryStorage();
  mem.append(big);
  for (const max of [0, 116, 231, 232, 348, 10_000]) {
    assert.deepStrictEqual(s.entries(1, 6, max).length, mem.entries(1, 6, max).length, `maxBytes ${max}`);
  }
  assert.deepStrictEqual(s.entries(3, 3, 0), []);
});

test('compact and createSnapshot follow MemoryStorage and survive a reopen', async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir);
  const mem = new MemoryStorage();
  const ents = [...entries(1, 4, 1), ...entries(5, 8, 2)];
  await s.save({ entries: ents });
  mem.append(ents);
  const conf = { voters: ['a', 'b'], learners: ['c'] };
  const snap = await s.createSnapshot(6, conf, bytes('image@6'));
  assert.deepStrictEqual({ meta: snap.meta, data: Uint8Array.from(snap.data) }, mem.createSnapshot(6, conf, bytes('image@6')));
  await s.compact(5);
  mem.compact(5);
  assert.deepStrictEqual(observe(s), observe(mem));
  assert.equal(s.term(5), 2); // the dummy keeps the compacted entry's term, not the snapshot's
  await assert.rejects(s.compact(9), /beyond last index/);
  assert.equal((await s.createSnapshot(4, conf, bytes('old'))).meta.index, 6); // older: the current one
  await s.close();
  const again = openStorage(dir);
  t.after(() => again.close());
  assert.deepStrictEqual(observe(again), observe(mem));
});

test('createSnapshot below the compaction point but above the snapshot is refused as compacted', async (t) => {
  const s = openStorage(tempDir(t));
  t.after(() => s.close());
  const mem = new MemoryStorage();
  await s.save({ entries: entries(1, 8, 1) });
  mem.append(entries(1, 8, 1));
  await s.compact(5);
  mem.compact(5);
  const conf = { voters: ['a'], learners: [] };
  assert.equal(errorCode(() => mem.createSnapshot(4, conf, bytes('x'))), 'compacted');
  await assert.rejects(s.createSnapshot(4, conf, bytes('x')), (e: Error & { code?: string }) => e.code === 'compacted');
  assert.deepStrictEqual(observe(s), observe(mem));
});

test('a snapshot from the leader replaces the whole log; large data goes to a file', async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir, 'g1', { inlineSnapshotMaxBytes: 1024 });
  await s.save({ entries: entries(1, 20, 1) });
  const data = new Uint8Array(200_000).map((_, i) => i % 251);
  const snapshot = { meta: { index: 15, term: 4, confState: { voters: ['x'], learners: [] } }, data };
  await s.save({ snapshot, entries: [entry(16, 4)], hardState: { term: 4, vote: '', commit: 15 } });
  const mem = new MemoryStorage();
  mem.applySnapshot(snapshot);
  mem.append([entry(16, 4)]);
  mem.setHardState({ term: 4, vote: '', commit: 15 });
  assert.deepStrictEqual(observe(s), observe(mem));
  const file = s.snapshotFilePath();
  assert.ok(file && fs.statSync(file).size === data.byteLength);
  // An older snapshot is ignored, as MemoryStorage ignores it.
  await s.save({ snapshot: { meta: { index: 10, term: 3, confState: { voters: [], learners: [] } }, data: bytes('old') }, entries: [] });
  assert.equal(s.snapshot().meta.index, 15);
  await s.close();
  const again = openStorage(dir, 'g1', { inlineSnapshotMaxBytes: 1024 });
  t.after(() => again.close());
  assert.deepStrictEqual(observe(again), observe(mem));
  assert.deepStrictEqual(fs.readdirSync(path.dirname(file)), [path.basename(file)]);
});

test('replaced snapshot files are deleted; the previous one is kept for readers that hold it', async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir, 'g1', { inlineSnapshotMaxBytes: 10 });
  t.after(() => s.close());
  await s.save({ entries: entries(1, 5, 1) });
  const held = await s.createSnapshot(2, { voters: ['a'], learners: [] }, new Uint8Array(100).fill(2));
  await s.createSnapshot(3, { voters: ['a'], learners: [] }, new Uint8Array(100).fill(3));
  await s.createSnapshot(4, { voters: ['a'], learners: [] }, new Uint8Array(100).fill(4));
  await new Promise((r) => setTimeout(r, 50)); // deletion is asynchronous
  const files = fs.readdirSync(path.join(dir, 'snaps', 'g1'));
  assert.equal(files.length, 2, files.join());
  assert.equal(s.snapshot().data[0], 4);
  assert.equal(held.meta.index, 2);
});

test('leftover temp files and unreferenced snapshots are swept at open', async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir);
  await s.close();
  const groupDir = path.join(dir, 'snaps', 'g1');
  fs.writeFileSync(path.join(groupDir, 'snap-1.bin.tmp'), 'partial');
  fs.writeFileSync(path.join(groupDir, 'snap-2.bin'), 'orphan');
  const again = openStorage(dir);
  t.after(() => again.close());
  assert.deepStrictEqual(fs.readdirSync(groupDir), []);
});

test('groups sharing a WAL each read back only their own records; a group opens once, and group ids are checked', async (t) => {
  const dir = tempDir(t);
  const open = () => {
    const wal = new NodeWal({ dir: path.join(dir, 'wal') });
    return { wal, a: new RaftWalStore({ wal, group: 'a', snapshotDir: path.join(dir, 'snaps') }), b: new RaftWalStore({ wal, group: 'b', snapshotDir: path.join(dir, 'snaps') }) };
  };
  let n = open();
  await Promise.all([n.a.save({ entries: entries(1, 5, 1), hardState: { term: 1, vote: 'x', commit: 5 } }), n.b.save({ entries: entries(1, 2, 3) })]);
  await n.a.compact(2);
  assert.throws(() => new RaftWalStore({ wal: n.wal, group: 'a', snapshotDir: path.join(dir, 'snaps') }), /group a is open already/);
  assert.throws(() => new RaftWalStore({ wal: n.wal, group: 'bad/group', snapshotDir: path.join(dir, 'snaps') }), /invalid group id/);
  await Promise.all([n.a.close(), n.b.close()]);
  await n.wal.close();
  n = open();
  t.after(async () => {
    await Promise.all([n.a.close(), n.b.close()]);
    await n.wal.close();
  });
  assert.deepStrictEqual([n.a.firstIndex(), n.a.lastIndex(), n.a.term(5), n.a.initialState().hardState], [3, 5, 1, { term: 1, vote: 'x', commit: 5 }]);
  assert.deepStrictEqual([n.b.firstIndex(), n.b.lastIndex(), n.b.term(2), n.b.initialState().hardState], [1, 2, 3, { term: 0, vote: '', commit: 0 }]);
});

test('the initial membership is persisted, so a reopen without it returns it', async (t) => {
  const dir = tempDir(t);
  const s = openStorage(dir, 'g1', { initialConfState: { voters: ['n1', 'n2', 'n3'], learners: [] } });
  await s.close();
  const again = openStorage(dir);
  t.after(() => again.close());
  assert.deepStrictEqual(again.initialState().confState, { voters: ['n1', 'n2', 'n3'], learners: [] });
});

test('saves issued without awaiting apply in order, and each resolves only when its data is readable', async (t) => {
  const s = openStorage(tempDir(t));
  t.after(() => s.close());
  const seen: number[] = [];
  const ps = [];
  for (let i = 1; i <= 50; i++) {
    const save = s.save({ entries: [entry(i, 1)], hardState: { term: 1, vote: '', commit: i - 1 } });
    // Yield now and then so that the saves span several writes.
    if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    ps.push(save.then(() => seen.push(s.lastIndex() >= i ? s.term(i) : -i)));
  }
  await Promise.all(ps);
  assert.deepStrictEqual(seen, new Array(50).fill(1));
  // A truncation issued in the same batch as the appends it truncates.
  const more = [s.save({ entries: entries(51, 60, 1) }), s.save({ entries: [entry(40, 2)] })];
  await Promise.all(more);
  assert.equal(s.lastIndex(), 40);
  assert.equal(s.term(40), 2);
  assert.equal(s.initialState().hardState.commit, 49);
});

test("saves issued while a snapshot's data file is being written do not wait for it, unless they could change what it records", async (t) => {
  const s = openStorage(tempDir(t), 'g1', { inlineSnapshotMaxBytes: 16 });
  t.after(() => s.close());
  await s.save({ entries: entries(1, 10, 1) });
  const order: string[] = [];
  const snap = s.createSnapshot(5, { voters: ['a'], learners: [] }, new Uint8Array(4 << 20)).then(() => order.push('snapshot'));
  const after = s.save({ entries: [entry(11, 1)] }).then(() => order.push('save after it'));
  await Promise.all([snap, after]);
  assert.deepEqual(order, ['save after it', 'snapshot'], 'an append past the snapshot index went ahead of the 4 MiB file');
  assert.equal(s.snapshot().meta.index, 5);
  assert.equal(s.lastIndex(), 11);

  // A save that rewrites the entry at the snapshot's index must take effect after the snapshot, as issued.
  order.length = 0;
  const snap2 = s.createSnapshot(8, { voters: ['a'], learners: [] }, new Uint8Array(4 << 20)).then(() => order.push('snapshot'));
  const rewrite = s.save({ entries: [entry(8, 2)] }).then(() => order.push('rewrite'));
  await Promise.all([snap2, rewrite]);
  assert.deepEqual(order, ['snapshot', 'rewrite']);
  assert.equal(s.snapshot().meta.term, 1, 'the snapshot recorded the term of entry 8 before it was rewritten');
  assert.equal(s.term(8), 2);
});
