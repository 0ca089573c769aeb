// Checksums of the Raft WAL: a torn final record is cut with one warn line, damage with intact
// records after it (or in a segment's header) refuses the open, and a new segment interrupted
// anywhere in its life cycle leaves a log that opens.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CorruptLogError, RaftWalStore } from '../../src/storage/raft-wal-store.ts';
import { NodeWal } from '../../src/storage/node-wal.ts';
import { crc32 } from '../../src/storage/checksum.ts';
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

test('a damaged segment header, or a segment of another format, refuses the open', async (t) => {
  const { open, segment } = setup(t);
  const s = open();
  await twoRecords(s);
  await s.close();
  const file = segment();
  const intact = fs.readFileSync(file);
  flipByte(file, 9); // the header's format byte: its checksum fails
  assert.throws(() => open(), (e: Error) => e instanceof CorruptLogError && /does not start with an intact header/.test(e.message));
  // A header that checks out but names a format this version does not read.
  const other = Buffer.from(intact);
  other[9] = 9;
  other.writeUInt32LE(crc32(other, 0, 8, 10), 4);
  fs.writeFileSync(file, other);
  assert.throws(() => open(), (e: Error) => e instanceof CorruptLogError && /is in format 9; this version reads format 2/.test(e.message));
});

test('a new segment interrupted anywhere in its life cycle leaves a log that opens, with every group intact', async (t) => {
  const dir = tempDir(t);
  const walDir = path.join(dir, 'wal');
  const capture = captureLogger();
  const open = (segmentBytes?: number, maxSegments?: number) => {
    const wal = new NodeWal({ dir: walDir, logger: capture.logger, ...(segmentBytes ? { segmentBytes, maxSegments } : {}) });
    const store = (group: string) => new RaftWalStore({ wal, group, snapshotDir: path.join(dir, 'snaps'), logger: capture.logger });
    return { wal, a: store('a'), b: store('b') };
  };
  const close = async (n: ReturnType<typeof open>) => {
    await Promise.all([n.a.close(), n.b.close()]);
    await n.wal.close();
  };
  const segments = () => fs.readdirSync(walDir).sort();
  let n = open();
  await twoRecords(n.a);
  await n.b.save({ entries: entries(1, 3, 1) });
  await close(n);
  const [first] = segments();
  const firstBytes = fs.readFileSync(path.join(walDir, first));

  // A WAL that starts a new segment at every write and keeps two: a's first save goes to the second
  // segment; its next to a third, and the groups holding the first are asked to checkpoint there.
  n = open(1, 2);
  await n.a.save({ entries: [entry(11, 2)] });
  const [, second] = segments();
  const secondBytes = fs.readFileSync(path.join(walDir, second));
  const before = { a: observe(n.a), b: observe(n.b) };
  await n.a.save({ entries: [entry(12, 2)] });
  const expected = { a: observe(n.a), b: observe(n.b) };
  await close(n);
  assert.equal(n.wal.stats.segmentsStarted, 2);
  const [third] = segments();
  assert.ok(third > second, `only the third segment is left (${segments().join(', ')})`);
  const thirdBytes = fs.readFileSync(path.join(walDir, third));
  const reopened = async (what: string, want: typeof expected, after: string[]) => {
    const m = open();
    assert.deepStrictEqual({ a: observe(m.a), b: observe(m.b) }, want, what);
    await close(m);
    assert.deepStrictEqual(segments(), after, what);
  };

  // Crash after the checkpoints, before the old segments were deleted: they are deleted at open.
  fs.writeFileSync(path.join(walDir, first), firstBytes);
  fs.writeFileSync(path.join(walDir, second), secondBytes);
  await reopened('old segments left over', expected, [third]);

  // Crash before the checkpoints: the third segment holds a's record, whose BASE the first one has.
  const header = 10;
  const aRecord = thirdBytes.subarray(header, header + 8 + thirdBytes.readUInt32LE(header));
  fs.writeFileSync(path.join(walDir, first), firstBytes);
  fs.writeFileSync(path.join(walDir, second), secondBytes);
  fs.writeFileSync(path.join(walDir, third), Buffer.concat([thirdBytes.subarray(0, header), aRecord]));
  await reopened('no checkpoint yet', expected, [first, second, third]);

  // Crash before the third segment was renamed into place: a temporary file, swept.
  fs.rmSync(path.join(walDir, third));
  fs.writeFileSync(path.join(walDir, third + '.tmp'), thirdBytes.subarray(0, 5));
  await reopened('no third segment', before, [first, second]);
  assert.deepStrictEqual(capture.lines, []);
});

function flipByte(file: string, at: number): void {
  const b = fs.readFileSync(file);
  b[at] ^= 0x20;
  fs.writeFileSync(file, b);
}
