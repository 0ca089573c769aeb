// Snapshot data whose checksum fails is flagged, never handed out, and can be replaced at its own
// index: from the state machine (createSnapshot) or from a peer (save).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '../../src/storage/checksum.ts';
import { CorruptSnapshotError, RaftWalStore } from '../../src/storage/raft-wal-store.ts';
import { bytes, entries, tempDir } from './helpers.ts';
import { captureLogger, ERROR, flipSnapshotFileBit } from './corrupt.ts';

const conf = { voters: ['a', 'b'], learners: [] };
const image = (n: number, size = 5000) => new Uint8Array(size).map((_, i) => (i * 7 + n) % 256);

/** Snapshots up to `inlineMax` bytes go inside the WAL (covered by its record checksums), larger ones to files. */
function setup(t: TestContext, inlineMax = 1024) {
  const dir = tempDir(t);
  const snapshotDir = path.join(dir, 'snaps');
  const capture = captureLogger();
  const open = () => new RaftWalStore({ dir: path.join(dir, 'wal'), group: 'g', snapshotDir, inlineSnapshotMaxBytes: inlineMax, logger: capture.logger });
  return { dir, snapshotDir, open, lines: capture.lines };
}

const isCorruptAt = (index: number) => (err: Error) => err instanceof CorruptSnapshotError && err.index === index && err.group === 'g';

test('snapshot data that fails its checksum is flagged at open, refused, and replaced from the state machine', async (t) => {
  const { snapshotDir, open, lines } = setup(t, 0);
  const s = open();
  await s.save({ entries: entries(1, 10, 1), hardState: { term: 1, vote: '', commit: 10 } });
  await s.createSnapshot(5, conf, bytes('image@5'));
  await s.close();
  flipSnapshotFileBit(snapshotDir, 'g', 3);

  const again = open();
  assert.equal(again.snapshotStatus(), 'corrupt');
  assert.equal(lines.length, 1);
  assert.equal(lines[0].level, ERROR);
  assert.match(lines[0].msg, /snapshot data of raft group g at index 5 is corrupt \(checksum mismatch/);
  // The meta is still there (raft/ needs it); the data never is.
  assert.deepStrictEqual(again.snapshot().meta, { index: 5, term: 1, confState: conf });
  assert.deepStrictEqual(again.initialState().confState, conf);
  assert.throws(() => again.snapshot().data, isCorruptAt(5));
  // Repair at the same index, as the host does when its state machine has applied that far.
  const repaired = await again.createSnapshot(5, conf, bytes('image@5'));
  assert.deepStrictEqual([again.snapshotStatus(), Buffer.from(repaired.data).toString()], ['ok', 'image@5']);
  assert.deepStrictEqual(again.snapshotChecksum(), { crc32: crc32(bytes('image@5')), size: 7 });
  // Once intact, the usual rule is back: same index, nothing happens.
  await again.createSnapshot(5, conf, bytes('other'));
  assert.equal(Buffer.from(again.snapshot().data).toString(), 'image@5');
  await again.close();
  const third = open();
  t.after(() => third.close());
  assert.deepStrictEqual([third.snapshotStatus(), Buffer.from(third.snapshot().data).toString(), lines.length], ['ok', 'image@5', 1]);
});

test('a snapshot file with a flipped bit is flagged at open and replaced by a snapshot from a peer', async (t) => {
  const { snapshotDir, open, lines } = setup(t);
  const s = open();
  await s.save({ entries: entries(1, 10, 1) });
  await s.createSnapshot(6, conf, image(6));
  await s.close();
  const corruptFile = flipSnapshotFileBit(snapshotDir, 'g', 4321);

  const again = open();
  assert.equal(again.snapshotStatus(), 'corrupt');
  assert.match(lines[0].msg, /at index 6 is corrupt \(checksum mismatch/);
  assert.equal(lines[0].file, path.basename(corruptFile));
  assert.throws(() => again.snapshot().data, isCorruptAt(6));
  // A peer's snapshot at the same index is installed (as any snapshot from the leader: it replaces the log).
  const fromPeer = { meta: { index: 6, term: 1, confState: conf }, data: image(6) };
  await again.save({ snapshot: fromPeer, entries: [] });
  assert.equal(again.snapshotStatus(), 'ok');
  assert.deepStrictEqual(again.snapshot().data, fromPeer.data);
  assert.deepStrictEqual([again.firstIndex(), again.lastIndex()], [7, 6]);
  assert.deepStrictEqual(again.snapshotChecksum(), { crc32: crc32(image(6)), size: 5000 });
  // The replacement is what a reopen finds (replay must not skip it as a same-index snapshot).
  await again.close();
  const third = open();
  t.after(() => third.close());
  assert.deepStrictEqual([third.snapshotStatus(), third.snapshot().data, lines.length], ['ok', fromPeer.data, 1]);
});

test('a truncated or missing snapshot file is flagged too; a newer snapshot replaces it as usual', async (t) => {
  for (const damage of ['truncate', 'remove'] as const) {
    const { snapshotDir, open, lines } = setup(t);
    const s = open();
    await s.save({ entries: entries(1, 10, 1) });
    await s.createSnapshot(4, conf, image(4));
    await s.close();
    const file = path.join(snapshotDir, 'g', fs.readdirSync(path.join(snapshotDir, 'g'))[0]);
    if (damage === 'truncate') fs.truncateSync(file, 4096);
    else fs.rmSync(file);
    const again = open();
    assert.equal(again.snapshotStatus(), 'corrupt', damage);
    assert.match(lines[0].msg, damage === 'truncate' ? /4096 bytes, 5000 expected/ : /unreadable: ENOENT/);
    await again.createSnapshot(8, conf, image(8));
    assert.equal(again.snapshotStatus(), 'ok');
    assert.deepStrictEqual(again.snapshot().data, image(8));
    await again.close();
  }
});

test('a snapshot file that rots after open is caught when first read, and can then be replaced at its index', async (t) => {
  const { snapshotDir, open, lines } = setup(t);
  const s = open();
  await s.save({ entries: entries(1, 10, 1) });
  await s.createSnapshot(7, conf, image(7));
  await s.close();
  const again = open();
  t.after(() => again.close());
  assert.equal(again.snapshotStatus(), 'ok');
  flipSnapshotFileBit(snapshotDir, 'g', 17);
  const snap = again.snapshot();
  assert.throws(() => snap.data, isCorruptAt(7));
  assert.equal(again.snapshotStatus(), 'corrupt');
  assert.equal(lines.length, 1);
  await again.createSnapshot(7, conf, image(7));
  assert.deepStrictEqual([again.snapshotStatus(), again.snapshot().data], ['ok', image(7)]);
});

test('intact snapshots, inline and in files, round-trip with their checksums', async (t) => {
  const { open, lines } = setup(t);
  const s = open();
  await s.save({ entries: entries(1, 10, 1) });
  await s.createSnapshot(3, conf, bytes('small'));
  assert.deepStrictEqual(s.snapshotChecksum(), { crc32: crc32(bytes('small')), size: 5 });
  await s.createSnapshot(9, conf, image(9));
  await s.close();
  const again = open();
  t.after(() => again.close());
  assert.deepStrictEqual([again.snapshotStatus(), again.snapshot().data, again.snapshotChecksum()], ['ok', image(9), { crc32: crc32(image(9)), size: 5000 }]);
  assert.deepStrictEqual(lines, []);
});
