// Checksums of the Raft log on disk: a corrupt tail is cut with one warn line, corruption inside
// the log or in a meta record refuses the open, and reads never return a corrupt entry.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CorruptLogError, LmdbRaftStorage } from '../../src/storage/raft-log-store.ts';
import { bytes, entries, entry, tempDir } from './helpers.ts';
import { observe } from './observe.ts';
import { captureLogger, flipBitInFile, flipEntryBit, overwriteEntry, withRawRaftEnv, WARN } from './corrupt.ts';

function setup(t: TestContext) {
  const dir = tempDir(t);
  const envPath = path.join(dir, 'raft');
  const capture = captureLogger();
  const open = (extra: { verifyEntriesOnOpen?: number } = {}) =>
    new LmdbRaftStorage({ env: envPath, group: 'g', snapshotDir: path.join(dir, 'snaps'), logger: capture.logger, ...extra });
  return { dir, envPath, open, lines: capture.lines };
}

/** A log of entries 1..10 (terms 1 and 2), everything committed. */
async function tenEntries(s: LmdbRaftStorage): Promise<void> {
  await s.save({ entries: [...entries(1, 6, 1), ...entries(7, 10, 2)], hardState: { term: 2, vote: 'a', commit: 10 } });
}

test('an intact log reopens silently, exactly as written', async (t) => {
  const { open, lines } = setup(t);
  const s = open();
  await tenEntries(s);
  await s.createSnapshot(4, { voters: ['a'], learners: [] }, bytes('image@4'));
  await s.compact(3);
  const before = observe(s);
  await s.close();
  const again = open();
  t.after(() => again.close());
  assert.deepStrictEqual(observe(again), before);
  assert.equal(again.snapshotStatus(), 'ok');
  assert.deepStrictEqual(lines, []);
});

test('a corrupt last entry is cut at open with one warn line; the commit index is clamped and the repair persisted', async (t) => {
  const { envPath, open, lines } = setup(t);
  const s = open();
  await tenEntries(s);
  const expected = observe(s).entries.slice(0, 9);
  await s.close();
  await flipEntryBit(envPath, 'g', 10, 8 * 14 + 3); // a bit of the data

  const again = open();
  assert.equal(again.lastIndex(), 9);
  assert.equal(again.term(9), 2);
  assert.equal(again.initialState().hardState.commit, 9);
  assert.deepStrictEqual(observe(again).entries, expected);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  const [line] = lines;
  assert.equal(line.level, WARN);
  assert.match(line.msg, /corrupt tail: entry 10 fails their checksum \(first: checksum mismatch.*truncated the log to 9; commit index clamped from 10 to 9/);
  assert.deepStrictEqual([line.corruptFrom, line.corruptTo, line.lastIndex, line.commitBefore, line.commitAfter], [10, 10, 9, 10, 9]);
  // Appending works again from the cut, and the repair is on disk: no second warning.
  await again.save({ entries: [entry(10, 3, 'new')], hardState: { term: 3, vote: '', commit: 9 } });
  await again.close();
  const third = open();
  t.after(() => third.close());
  assert.equal(third.lastIndex(), 10);
  assert.equal(third.term(10), 3);
  assert.equal(lines.length, 1);
});

test('a corrupt run at the end (a garbage value, a bad term, a short value) is cut as one tail', async (t) => {
  const { envPath, open, lines } = setup(t);
  const s = open();
  await tenEntries(s);
  await s.close();
  await flipEntryBit(envPath, 'g', 8, 4 * 8 + 1); // the term
  await overwriteEntry(envPath, 'g', 9, bytes('garbage that is long enough'));
  await overwriteEntry(envPath, 'g', 10, new Uint8Array([1, 2, 3]));
  const again = open();
  t.after(() => again.close());
  assert.deepStrictEqual([again.lastIndex(), again.term(7), again.initialState().hardState.commit], [7, 2, 7]);
  assert.equal(lines.length, 1);
  assert.match(lines[0].msg, /entries 8\.\.10 fail their checksum.*truncated the log to 7; commit index clamped from 10 to 7/);
});

test('a tail above the commit index is cut without touching the commit index', async (t) => {
  const { envPath, open, lines } = setup(t);
  const s = open();
  await s.save({ entries: entries(1, 10, 1), hardState: { term: 1, vote: '', commit: 6 } });
  await s.close();
  await flipEntryBit(envPath, 'g', 10, 0); // a bit of the stored checksum itself
  const again = open();
  t.after(() => again.close());
  assert.deepStrictEqual([again.lastIndex(), again.initialState().hardState.commit], [9, 6]);
  assert.doesNotMatch(lines[0].msg, /clamped/);
});

test('corruption inside the log refuses the open and changes nothing', async (t) => {
  const { envPath, open, lines } = setup(t);
  const s = open();
  await tenEntries(s);
  await s.close();
  await flipEntryBit(envPath, 'g', 5, 8 * 13);
  assert.throws(
    () => open(),
    (err: Error) =>
      err instanceof CorruptLogError && /entry 5 is corrupt \(checksum mismatch.*entry 6 after it is intact: damage inside the log/.test(err.message),
  );
  assert.throws(() => open(), CorruptLogError); // still refused: nothing was cut
  await withRawRaftEnv(envPath, ({ log }) => assert.ok(log.getBinary(['g', 10])));
  assert.deepStrictEqual(lines, []);
});

test('an intact entry stored under another index is caught (the index is checksummed too)', async (t) => {
  const { envPath, open } = setup(t);
  const s = open();
  await s.save({ entries: entries(1, 5, 1).map((e) => ({ ...e, data: bytes('same') })) });
  await s.close();
  await withRawRaftEnv(envPath, ({ log }) => log.putSync(['g', 3], log.getBinary(['g', 2])!));
  assert.throws(() => open(), /entry 3 is corrupt/);
});

test('a bad tail reaching down to the snapshot index is refused: those entries are committed and applied', async (t) => {
  const { envPath, open } = setup(t);
  const s = open();
  await tenEntries(s);
  await s.createSnapshot(8, { voters: ['a'], learners: [] }, bytes('image@8'));
  await s.close();
  for (const i of [8, 9, 10]) await flipEntryBit(envPath, 'g', i, 8 * 13);
  assert.throws(() => open(), /entries from 8 are corrupt.*at or below the snapshot index 8/);
});

test('a tampered meta record (hard state, offset, snapshot meta) refuses the open', async (t) => {
  for (const [field, tamper] of [
    ['hardState', (r: Record<string, unknown>) => (r.term = 7)],
    ['offset', (r: Record<string, unknown>) => (r.index = 2)],
    ['snapshot', (r: Record<string, unknown>) => ((r.meta as { confState: { voters: string[] } }).confState.voters = ['x'])],
  ] as const) {
    const { envPath, open } = setup(t);
    const s = open();
    await tenEntries(s);
    await s.createSnapshot(5, { voters: ['a'], learners: [] }, bytes('image@5'));
    await s.compact(4);
    await s.close();
    await withRawRaftEnv(envPath, ({ meta }) => {
      const record = meta.get(['g', field])!;
      tamper(record);
      meta.putSync(['g', field], record);
    });
    assert.throws(() => open(), new RegExp(`the ${field} record fails its checksum`), field);
  }
});

test('entries outside the verified window are still checked when read', async (t) => {
  const { envPath, open, lines } = setup(t);
  const s = open();
  await tenEntries(s);
  await s.close();
  await flipEntryBit(envPath, 'g', 3, 8 * 13 + 2);
  const again = open({ verifyEntriesOnOpen: 5 });
  t.after(() => again.close());
  assert.equal(again.lastIndex(), 10);
  assert.deepStrictEqual(lines, []);
  assert.equal(again.entries(4, 11, Infinity).length, 7);
  assert.throws(() => again.entries(1, 11, Infinity), (err: Error) => err instanceof CorruptLogError && /entry 3 is corrupt/.test(err.message));
});

test('a byte flipped in the LMDB data file itself is caught like any other corruption', async (t) => {
  const { envPath, open, lines } = setup(t);
  const s = open();
  const marker = Buffer.from('the-last-entry-payload-0123456789');
  await s.save({ entries: [...entries(1, 9, 1), { index: 10, term: 1, type: 0, data: marker }], hardState: { term: 1, vote: '', commit: 10 } });
  await s.close();
  // LMDB has no checksums of its own: the flipped byte is read back as if it were the data.
  assert.ok(flipBitInFile(path.join(envPath, 'data.mdb'), marker, 7) >= 1);
  const again = open();
  t.after(() => again.close());
  assert.deepStrictEqual([again.lastIndex(), again.initialState().hardState.commit], [9, 9]);
  assert.match(lines[0].msg, /entry 10 fails their checksum/);
});

test('a log written without checksums (format 1) is rewritten with them at open', async (t) => {
  const { envPath, open, lines } = setup(t);
  // What the previous version wrote: f64 term | type | data, and meta records without crc.
  const v1 = (term: number, data: string) => {
    const b = Buffer.alloc(9 + data.length);
    b.writeDoubleLE(term, 0);
    b.write(data, 9);
    return b;
  };
  await withRawRaftEnv(envPath, ({ log, meta }) => {
    for (let i = 3; i <= 6; i++) log.putSync(['g', i], v1(i < 5 ? 1 : 2, `old${i}`));
    meta.putSync(['g', 'hardState'], { term: 2, vote: 'b', commit: 5 });
    meta.putSync(['g', 'offset'], { index: 2, term: 1 });
    meta.putSync(['g', 'snapshot'], { meta: { index: 2, term: 1, confState: { voters: ['a', 'b'], learners: [] } }, inline: Buffer.from('img') });
  });
  const s = open();
  assert.match(lines[0].msg, /rewritten in the checksummed format 2 \(4 entries\)/);
  const o = observe(s);
  assert.deepStrictEqual([o.first, o.last, o.terms, o.initial.hardState], [3, 6, [1, 1, 1, 2, 2], { term: 2, vote: 'b', commit: 5 }]);
  assert.deepStrictEqual(o.entries.map((e) => Buffer.from(e.data).toString()), ['old3', 'old4', 'old5', 'old6']);
  assert.deepStrictEqual([Buffer.from(o.snapshot.data).toString(), s.snapshotStatus()], ['img', 'ok']);
  await s.close();
  await flipEntryBit(envPath, 'g', 4, 8 * 13); // now protected like any other log
  assert.throws(() => open(), CorruptLogError);
});
