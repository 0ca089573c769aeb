// Checksums of the Raft WAL: a torn final record is cut with one warn line, damage with intact
// records after it (or in a segment's base) refuses the open, and a compaction interrupted anywhere
// leaves a log that opens.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CorruptLogError, RaftWalStore } from '../../src/storage/raft-wal-store.ts';
import { bytes, entries, entry, tempDir } from './helpers.ts';
import { observe } from './observe.ts';
import { captureLogger, WARN } from './corrupt.ts';

function setup(t: TestContext) {
  const dir = tempDir(t);
  const walDir = path.join(dir, 'wal');
  const capture = captureLogger();
  const open = () => new RaftWalStore({ dir: walDir, group: 'g', snapshotDir: path.join(dir, 'snaps'), logger: capture.logger });
  const segment = () => path.join(walDir, fs.readdirSync(walDir).filter((n) => n.endsWith('.wal')).sort().at(-1)!);
  return { dir, walDir, open, segment, lines: capture.lines };
}

/** Entries 1..6 (term 1) committed up to 6, then 7..10 (term 2) with commit 10 as the last record. */
async function twoRecords(s: RaftWalStore): Promise<void> {
  await s.save({ entries: entries(1, 6, 1), hardState: { term: 1, vote: 'a', commit: 6 } });
  await s.save({ entries: entries(7, 10, 2), hardState: { term: 2, vote: 'b', commit: 10 } });
}

test('an intact log reopens silently, exactly as written', async (t) => {
  const { open, lines } = setup(t);
  const s = open();
  await twoRecords(s);
  await s.createSnapshot(4, { voters: ['a'], learners: [] }, bytes('image@4'));
  await s.compact(3);
  await s.save({ entries: [entry(11, 2)] });
  const before = observe(s);
  await s.close();
  const again = open();
  t.after(() => again.close());
  assert.deepStrictEqual(observe(again), before);
  assert.equal(again.snapshotStatus(), 'ok');
  assert.deepStrictEqual(lines, []);
});

for (const [how, damage] of [
  ['cut short (a torn write)', (file: string) => fs.truncateSync(file, fs.statSync(file).size - 7)],
  ['with a flipped bit', (file: string) => flipByte(file, fs.statSync(file).size - 3)],
  ['followed by zeros (an extended, unwritten tail)', (file: string) => fs.appendFileSync(file, Buffer.alloc(300))],
] as const) {
  test(`a final record ${how} is cut at open with one warn line, and the cut is on disk`, async (t) => {
    const { open, segment, lines } = setup(t);
    const s = open();
    await twoRecords(s);
    await s.close();
    const whole = fs.statSync(segment()).size;
    damage(segment());
    const again = open();
    const zeros = how.startsWith('followed');
    // Zeros after intact records cut only the zeros; damage to the last record loses that record.
    assert.equal(again.lastIndex(), zeros ? 10 : 6);
    assert.deepStrictEqual(again.initialState().hardState, zeros ? { term: 2, vote: 'b', commit: 10 } : { term: 1, vote: 'a', commit: 6 });
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0].level, WARN);
    assert.match(lines[0].msg, /torn final record/);
    if (zeros) assert.equal(fs.statSync(segment()).size, whole);
    // Appending works again from the cut, and the repair is durable: no second warning.
    await again.save({ entries: [entry(again.lastIndex() + 1, 3, 'new')], hardState: { term: 3, vote: '', commit: 6 } });
    await again.close();
    const third = open();
    t.after(() => third.close());
    assert.equal(third.term(third.lastIndex()), 3);
    assert.equal(lines.length, 1);
  });
}

test('damage inside the log refuses the open and changes nothing', async (t) => {
  const { open, segment } = setup(t);
  const s = open();
  await twoRecords(s);
  await s.save({ entries: [entry(11, 2)] });
  await s.close();
  // A byte of entry 3's data, in the first save record: records after it are intact.
  const file = segment();
  const at = fs.readFileSync(file).indexOf(Buffer.from('e3'));
  flipByte(file, at);
  const damaged = fs.readFileSync(file);
  assert.throws(() => open(), (e: Error) => e instanceof CorruptLogError && /damage inside the log/.test(e.message));
  assert.deepStrictEqual(fs.readFileSync(file), damaged, 'nothing was cut or rewritten');
});

test('a damaged base record refuses the open', async (t) => {
  const { open, segment } = setup(t);
  const s = open();
  await twoRecords(s);
  await s.close();
  flipByte(segment(), 12);
  assert.throws(() => open(), (e: Error) => e instanceof CorruptLogError && /intact base record/.test(e.message));
});

test('a compaction interrupted before or after its new segment was renamed into place leaves a log that opens', async (t) => {
  const { open, walDir, lines } = setup(t);
  const s = open();
  await twoRecords(s);
  await s.createSnapshot(8, { voters: ['a'], learners: [] }, bytes('image@8'));
  const beforeCompaction = observe(s);
  const oldSegment = fs.readdirSync(walDir).find((n) => n.endsWith('.wal'))!;
  const oldBytes = fs.readFileSync(path.join(walDir, oldSegment));
  await s.compact(7);
  const afterCompaction = observe(s);
  await s.close();
  const segments = fs.readdirSync(walDir);
  assert.equal(segments.length, 1, `after close, only the new segment: ${segments.join(', ')}`); // close() waits for the old one's deletion
  const [newSegment] = segments;
  assert.notEqual(newSegment, oldSegment);
  const newBytes = fs.readFileSync(path.join(walDir, newSegment));

  // Crash after the rename, before the old segment was deleted: the new one wins, the old one goes.
  fs.writeFileSync(path.join(walDir, oldSegment), oldBytes);
  const a = open();
  assert.deepStrictEqual(observe(a), afterCompaction);
  await a.close();
  assert.deepStrictEqual(fs.readdirSync(walDir), [newSegment]);

  // Crash before the rename: the new segment is a temporary file, swept; the old log is whole.
  fs.rmSync(path.join(walDir, newSegment));
  fs.writeFileSync(path.join(walDir, oldSegment), oldBytes);
  fs.writeFileSync(path.join(walDir, newSegment + '.tmp'), newBytes.subarray(0, 20));
  const b = open();
  t.after(() => b.close());
  assert.deepStrictEqual(observe(b), beforeCompaction);
  assert.deepStrictEqual(fs.readdirSync(walDir), [oldSegment]);
  assert.deepStrictEqual(lines, []);
});

function flipByte(file: string, at: number): void {
  const b = fs.readFileSync(file);
  b[at] ^= 0x20;
  fs.writeFileSync(file, b);
}
