import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { KvStore, LARGE_VALUE_BYTES, type HistoryLimits, type RevisionChanges } from '../../src/storage/kv-store.ts';
import { bytes, tempDir, text } from './helpers.ts';

function open(dir: string, history?: HistoryLimits) {
  return new KvStore({ env: path.join(dir, 'kv'), group: 'g1', ...(history ? { history } : {}) });
}

/** A revision's changes as plain text, for comparing. */
const shown = (r: RevisionChanges) => ({
  revision: r.revision,
  changes: r.changes.map((c) => ({
    kind: c.kind,
    key: text(c.key),
    ...(c.value ? { value: text(c.value) } : {}),
    valueBytes: c.valueBytes,
    create: c.createRevision,
    version: c.version,
    ...(c.prev ? { prev: { ...(c.prev.value ? { value: text(c.prev.value) } : {}), create: c.prev.createRevision, mod: c.prev.modRevision, version: c.prev.version } } : {}),
  })),
});

test('each applied revision keeps its changes with the records they replaced; one that changed nothing is absent', async (t) => {
  const kv = open(tempDir(t));
  t.after(() => kv.close());
  await kv.applyAt(1, (tx) => tx.put(bytes('a'), bytes('1')));
  await kv.applyAt(2, (tx) => tx.put(bytes('a'), bytes('2')));
  await kv.applyAt(3, () => undefined);
  kv.applyAllSync([
    { index: 4, fn: (tx) => (tx.put(bytes('b'), bytes('x')), tx.put(bytes('b'), bytes('y')), tx.delete(bytes('a'))) },
    { index: 5, fn: (tx) => (tx.put(bytes('tmp'), bytes('t')), tx.delete(bytes('tmp'))) },
  ]);
  assert.equal(kv.historyFloor(), 1);
  const page = kv.readHistory(1, 1 << 20);
  assert.equal(page.last, 5);
  assert.deepStrictEqual(page.revisions.map(shown), [
    { revision: 1, changes: [{ kind: 'put', key: 'a', value: '1', valueBytes: 1, create: 1, version: 1 }] },
    { revision: 2, changes: [{ kind: 'put', key: 'a', value: '2', valueBytes: 1, create: 1, version: 2, prev: { value: '1', create: 1, mod: 1, version: 1 } }] },
    {
      revision: 4,
      changes: [
        { kind: 'put', key: 'b', value: 'y', valueBytes: 1, create: 4, version: 2 },
        { kind: 'delete', key: 'a', valueBytes: 0, create: 0, version: 0, prev: { value: '2', create: 1, mod: 2, version: 2 } },
      ],
    },
  ]);
  assert.deepStrictEqual(kv.readHistory(3, 1 << 20).revisions.map((r) => r.revision), [4]);
});

test('pages end at the byte bound after whole revisions, and `last` says where to go on', async (t) => {
  const kv = open(tempDir(t));
  t.after(() => kv.close());
  for (let i = 1; i <= 10; i++) await kv.applyAt(i, (tx) => tx.put(bytes(`k${i}`), new Uint8Array(100)));
  const seen: number[] = [];
  let from = 1;
  for (;;) {
    const page = kv.readHistory(from, 250);
    assert.ok(page.revisions.length >= 1 && page.revisions.length <= 3, `a page of ${page.revisions.length}`);
    seen.push(...page.revisions.map((r) => r.revision));
    if (page.last === kv.appliedIndex()) break;
    from = page.last + 1;
  }
  assert.deepStrictEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test('the history and its floor survive a reopen, and so does the log clock', async (t) => {
  const dir = tempDir(t);
  const kv = open(dir);
  const stamp = Date.now() + 3_600_000; // an hour ahead of this machine's clock
  await kv.applyAt(1, (tx) => tx.put(bytes('a'), bytes('1')));
  kv.clock.observe(stamp);
  await kv.applyAt(2, (tx) => tx.put(bytes('a'), bytes('2')));
  await kv.close();
  const again = open(dir);
  t.after(() => again.close());
  assert.equal(again.historyFloor(), 1);
  assert.deepStrictEqual(again.readHistory(1, 1 << 20).revisions.map((r) => r.revision), [1, 2]);
  assert.ok(again.clock.now() >= stamp, 'the restored estimate continues from the persisted one, not from the wall clock');
});

test('compaction keeps the newest maxRevisions, removing at most a step of entries per applying transaction, and the floor only rises', async (t) => {
  const dir = tempDir(t);
  const wide = open(dir);
  for (let i = 1; i <= 300; i++) await wide.applyAt(i, (tx) => tx.put(bytes(`k${i % 7}`), bytes(String(i))));
  await wide.close();
  // Reopened with a window of 10: 290 entries are outside it, and a transaction removes at most 64.
  const kv = open(dir, { maxRevisions: 10, maxBytes: 1 << 30 });
  t.after(() => kv.close());
  await kv.applyAt(301, (tx) => tx.put(bytes('z'), bytes('301')));
  assert.equal(kv.historyFloor(), 65, 'one step: the 64 oldest entries');
  assert.equal(kv.readHistory(65, 1 << 30).revisions[0].revision, 65);
  let floor = kv.historyFloor();
  for (let i = 302; i <= 330; i++) {
    await kv.applyAt(i, (tx) => tx.put(bytes('z'), bytes(String(i))));
    assert.ok(kv.historyFloor() >= floor);
    floor = kv.historyFloor();
  }
  // Within the window's slack (an eighth of it, 2 revisions here) of its bound, every revision in it kept.
  assert.ok(floor >= 330 - 10 - 2 + 1 && floor <= 321, `floor ${floor}`);
  const page = kv.readHistory(floor, 1 << 30);
  assert.deepStrictEqual(page.revisions.map((r) => r.revision), Array.from({ length: 331 - floor }, (_, i) => floor + i));
});

test('a batch applied in one transaction is one history entry; pages and reads from inside it still start at the revision asked', async (t) => {
  const kv = open(tempDir(t));
  t.after(() => kv.close());
  kv.applyAllSync(Array.from({ length: 20 }, (_, i) => ({ index: i + 1, fn: (tx) => (i % 5 === 4 ? undefined : tx.put(bytes(`k${i}`), bytes('v'))) })));
  const page = kv.readHistory(7, 1 << 30);
  assert.deepStrictEqual(page.revisions.map((r) => r.revision), [7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19]);
  assert.equal(page.last, 20);
});

test('compaction by bytes removes the oldest entries while the history is larger than maxBytes', async (t) => {
  const kv = open(tempDir(t), { maxRevisions: 40, maxBytes: 5_000 });
  t.after(() => kv.close());
  for (let i = 1; i <= 100; i++) await kv.applyAt(i, (tx) => tx.put(bytes('k'), new Uint8Array(400)));
  const page = kv.readHistory(kv.historyFloor(), 1 << 30);
  // Each revision keeps ~800 bytes (value and previous value): about 6 fit, and an eighth more before a step.
  assert.ok(page.revisions.length >= 4 && page.revisions.length <= 8, `${page.revisions.length} revisions kept`);
  assert.equal(page.revisions[0].revision, kv.historyFloor());
  assert.equal(page.revisions.at(-1)!.revision, 100);
});

test('a transaction larger than the byte bound is kept: the newest revisions are never taken by it', async (t) => {
  const kv = open(tempDir(t), { maxRevisions: 1000, maxBytes: 1_000 });
  t.after(() => kv.close());
  kv.applyAllSync(Array.from({ length: 50 }, (_, i) => ({ index: i + 1, fn: (tx) => tx.put(bytes(`k${i}`), new Uint8Array(100)) })));
  assert.equal(kv.historyFloor(), 1);
  assert.equal(kv.readHistory(1, 1 << 30).revisions.length, 50);
  for (let i = 51; i <= 400; i++) await kv.applyAt(i, (tx) => tx.put(bytes('k'), new Uint8Array(100)));
  assert.ok(kv.historyFloor() > 51, `taken once older than the newest ones (floor ${kv.historyFloor()})`);
});

test('large values are not kept in the history, only their size', async (t) => {
  const kv = open(tempDir(t));
  t.after(() => kv.close());
  await kv.applyAt(1, (tx) => tx.put(bytes('big'), new Uint8Array(LARGE_VALUE_BYTES)));
  await kv.applyAllAsync([{ index: 2, fn: (tx) => tx.put(bytes('big'), new Uint8Array(LARGE_VALUE_BYTES + 1)) }]);
  const [r1, r2] = kv.readHistory(1, 1 << 30).revisions;
  assert.equal(r1.changes[0].value, undefined);
  assert.equal(r1.changes[0].valueBytes, LARGE_VALUE_BYTES);
  assert.equal(r2.changes[0].valueBytes, LARGE_VALUE_BYTES + 1);
  assert.equal(r2.changes[0].prev?.value, undefined);
  assert.equal(r2.changes[0].prev?.valueBytes, LARGE_VALUE_BYTES);
  assert.equal(r2.changes[0].prev?.modRevision, 1);
});

test('a snapshot import starts a new history after the image', async (t) => {
  const dir = tempDir(t);
  const source = new KvStore({ env: path.join(dir, 'src'), group: 'g1' });
  t.after(() => source.close());
  for (let i = 1; i <= 20; i++) await source.applyAt(i, (tx) => tx.put(bytes(`k${i}`), bytes('v')));
  const image = await source.exportSnapshotBytes();
  const kv = open(dir);
  t.after(() => kv.close());
  for (let i = 1; i <= 5; i++) await kv.applyAt(i, (tx) => tx.put(bytes('old'), bytes(String(i))));
  await kv.importSnapshot([image.data], 20);
  assert.equal(kv.historyFloor(), 21);
  assert.deepStrictEqual(kv.readHistory(1, 1 << 30).revisions, []);
  await kv.applyAt(21, (tx) => tx.put(bytes('new'), bytes('1')));
  assert.deepStrictEqual(kv.readHistory(21, 1 << 30).revisions.map(shown), [{ revision: 21, changes: [{ kind: 'put', key: 'new', value: '1', valueBytes: 1, create: 21, version: 1 }] }]);
  await kv.close();
  const again = open(dir);
  t.after(() => again.close());
  assert.equal(again.historyFloor(), 21);
});

test('waitApplied resolves when the applied index passes the revision, or at its timeout', async (t) => {
  const kv = open(tempDir(t));
  t.after(() => kv.close());
  const woken = kv.waitApplied(0, 60_000);
  await kv.applyAt(1, (tx) => tx.put(bytes('a'), bytes('1')));
  await woken;
  const started = performance.now();
  await kv.waitApplied(1, 50);
  assert.ok(performance.now() - started >= 45);
});
