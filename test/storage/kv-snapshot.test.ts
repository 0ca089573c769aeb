import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { KvStore, LARGE_VALUE_BYTES, type KvTx } from '../../src/storage/kv-store.ts';
import { crc32 } from '../../src/storage/checksum.ts';
import { DIRECT_KEY_MAX } from '../../src/storage/kv-record.ts';
import { bytes, countTurns, tempDir } from './helpers.ts';

const all = (kv: KvStore) =>
  kv.range({}).items.map((r) => [Buffer.from(r.key).toString('hex'), Buffer.from(r.value).toString('hex'), r.createRevision, r.modRevision, r.version, r.expiresAt]);

async function populate(kv: KvStore, n: number, from = 1): Promise<void> {
  const ps = [];
  for (let i = 0; i < n; i++) {
    ps.push(
      kv.applyAt(from + i, (tx) => {
        tx.put(bytes(`key-${String(i % 50).padStart(3, '0')}`), bytes(`value-${i}`), i % 7 === 0 ? { expiresAt: 1e12 + i } : {});
        if (i % 10 === 0) tx.put(Uint8Array.from(Buffer.concat([Buffer.alloc(DIRECT_KEY_MAX + 5, 1), Buffer.from([i])])), new Uint8Array(i));
        if (i % 13 === 0) tx.delete(bytes(`key-${String((i + 1) % 50).padStart(3, '0')}`));
      }),
    );
  }
  await Promise.all(ps);
}

test('export then import reproduces every record and the applied index, also after a reopen', async (t) => {
  const dir = tempDir(t);
  const src = new KvStore({ env: path.join(dir, 'a'), group: 'g' });
  t.after(() => src.close());
  await populate(src, 300);
  const { appliedIndex, data } = await src.exportSnapshotBytes();
  assert.equal(appliedIndex, 300);
  const dst = new KvStore({ env: path.join(dir, 'b'), group: 'g' });
  await dst.applyAt(5, (tx) => tx.put(bytes('stale'), bytes('gone after import')));
  await dst.applyAt(6, (tx) => tx.put(bytes('key-001'), bytes('replaced by the import')));
  assert.ok(dst.get(bytes('stale')) && dst.get(bytes('key-001')), 'read (and cached) before the import');
  await dst.importSnapshot([data], 300);
  assert.equal(dst.get(bytes('stale')), undefined, 'a point read after the import sees the imported state, not a cached one');
  assert.deepStrictEqual(dst.get(bytes('key-001'))?.value, src.get(bytes('key-001'))?.value);
  assert.deepStrictEqual(all(dst), all(src));
  assert.equal(dst.appliedIndex(), 300);
  assert.equal(dst.durableAppliedIndex(), 300);
  assert.equal(await dst.applyAt(300, () => 'x'), undefined);
  await dst.close();
  const reopened = new KvStore({ env: path.join(dir, 'b'), group: 'g' });
  t.after(() => reopened.close());
  assert.deepStrictEqual(all(reopened), all(src));
  assert.equal(reopened.appliedIndex(), 300);
});

test('an export is the state at the moment it was requested, whatever is applied while it streams', async (t) => {
  const dir = tempDir(t);
  const kv = new KvStore({ env: path.join(dir, 'a'), group: 'g' });
  t.after(() => kv.close());
  await populate(kv, 100);
  const expected = all(kv);
  const image = kv.exportSnapshot(64);
  await populate(kv, 50, 101);
  const chunks: Uint8Array[] = [];
  for await (const c of image) chunks.push(c);
  assert.ok(chunks.length > 3);
  assert.equal(image.appliedIndex, 100);
  const copy = new KvStore({ env: path.join(dir, 'b'), group: 'g' });
  t.after(() => copy.close());
  await copy.importSnapshot(chunks, 100);
  assert.deepStrictEqual(all(copy), expected);
});

test('import accepts the image split at any byte boundary', async (t) => {
  const dir = tempDir(t);
  const src = new KvStore({ env: path.join(dir, 'a'), group: 'g' });
  t.after(() => src.close());
  await populate(src, 60);
  const { data } = await src.exportSnapshotBytes();
  for (const size of [1, 3, 4, 5, 1000]) {
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < data.length; at += size) pieces.push(data.subarray(at, at + size));
    const dst = new KvStore({ env: path.join(dir, `b${size}`), group: 'g' });
    await dst.importSnapshot(pieces, 60);
    assert.deepStrictEqual(all(dst), all(src), `pieces of ${size}`);
    await dst.close();
  }
});

test('a truncated, foreign or mismatched image is refused and the old state is kept', async (t) => {
  const dir = tempDir(t);
  const src = new KvStore({ env: path.join(dir, 'a'), group: 'g' });
  t.after(() => src.close());
  await populate(src, 40);
  const { data } = await src.exportSnapshotBytes();
  const dst = new KvStore({ env: path.join(dir, 'b'), group: 'g' });
  t.after(() => dst.close());
  await dst.applyAt(7, (tx) => tx.put(bytes('mine'), bytes('kept')));
  const before = all(dst);
  await assert.rejects(dst.importSnapshot([data.subarray(0, data.length - 10)], 40), /truncated|ends inside/);
  await assert.rejects(dst.importSnapshot([data], 41), /taken at index 40/);
  await assert.rejects(dst.importSnapshot([Buffer.from([0, 0, 0, 1, 0xc0])], 40), /not a Concord KV snapshot|malformed/);
  await assert.rejects(dst.importSnapshot([Buffer.from([0, 0, 0, 1, 0x01])], 40), /not a Concord KV snapshot|malformed/);
  assert.deepStrictEqual(all(dst), before);
  assert.equal(dst.appliedIndex(), 7);
  await dst.importSnapshot([data], 40); // and a good one still works afterwards
  assert.deepStrictEqual(all(dst), all(src));
});

test('a process killed mid-import leaves the old state, and the partial data is dropped at the next open', async (t) => {
  const dir = tempDir(t);
  const src = new KvStore({ env: path.join(dir, 'a'), group: 'g' });
  await populate(src, 1000);
  const { data } = await src.exportSnapshotBytes();
  const expected = all(src);
  await src.close();
  const imagePath = path.join(dir, 'image.bin');
  fs.writeFileSync(imagePath, data);
  const target = path.join(dir, 'b');
  const kv = new KvStore({ env: target, group: 'g' });
  await kv.applyAt(3, (tx) => tx.put(bytes('old'), bytes('state')));
  const old = all(kv);
  await kv.close();

  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures', 'interrupted-import.ts'), target, imagePath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('importing')) resolve();
      if (d.toString().includes('finished')) reject(new Error('import finished before it could be interrupted'));
    });
    child.on('exit', () => reject(new Error('child exited early')));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));

  const raw = open({ path: target, readOnly: true });
  const dbs = [...raw.getKeys()].map(String);
  const meta = raw.openDB('kv-meta', {}).get('g') as { importing?: number };
  await raw.close();
  assert.ok(dbs.includes('kv:g:1') && meta.importing === 1, `the partial generation exists: ${dbs.join()}`);

  const after = new KvStore({ env: target, group: 'g' });
  assert.deepStrictEqual(all(after), old);
  assert.equal(after.appliedIndex(), 3);
  await after.importSnapshot([data], 1000);
  assert.deepStrictEqual(all(after), expected);
  await after.close();
  const check = open({ path: target, readOnly: true });
  // Only the new generation is left: the interrupted one was dropped, the replaced one too.
  assert.deepStrictEqual([...check.getKeys()].map(String).filter((k) => k.startsWith('kv:')), ['kv:g:1']);
  await check.close();
});

test('a generation left behind by a crash after the switch is dropped at the next open', async (t) => {
  const dir = tempDir(t);
  const target = path.join(dir, 'kv');
  const kv = new KvStore({ env: target, group: 'g' });
  await populate(kv, 20);
  const { data } = await kv.exportSnapshotBytes();
  await kv.importSnapshot([data], 20); // now generation 1
  const expected = all(kv);
  await kv.close();
  // What a crash between the switch and the drop leaves: the old generation and the marker.
  const raw = open({ path: target, maxDbs: 8 });
  await raw.openDB('kv:g:0', { keyEncoding: 'binary', encoding: 'binary' }).put(Buffer.from('junk'), Buffer.from('x'));
  await raw.openDB('kv-meta', {}).put('g', { generation: 1, appliedIndex: 20, dropping: 0 });
  await raw.close();
  const again = new KvStore({ env: target, group: 'g' });
  assert.deepStrictEqual(all(again), expected);
  await again.close();
  const check = open({ path: target, readOnly: true });
  assert.deepStrictEqual([...check.getKeys()].map(String).filter((k) => k.startsWith('kv:')), ['kv:g:1']);
  assert.deepStrictEqual(check.openDB('kv-meta', {}).get('g'), { generation: 1, appliedIndex: 20 });
  await check.close();
});

test('an export lets the event loop run as it goes (a large snapshot must not stall heartbeats)', async (t) => {
  const kv = new KvStore({ env: path.join(tempDir(t), 'kv'), group: 'g' });
  t.after(() => kv.close());
  kv.applyAllSync(Array.from({ length: 5000 }, (_, i) => ({ index: i + 1, fn: (tx: KvTx) => tx.put(bytes(`k${i}`), new Uint8Array(100)) })));
  const stopCounting = countTurns();
  let chunks = 0;
  for await (const _chunk of kv.exportSnapshot(1 << 20)) chunks++;
  const turns = stopCounting();
  assert.ok(chunks <= 3, `${chunks} chunks`);
  assert.ok(turns >= 8, `the event loop turned ${turns} times while 5,000 records were exported (not only between chunks)`);
});

test('an export is made of small frames by default (each frame is encoded in one synchronous step)', async (t) => {
  const kv = new KvStore({ env: path.join(tempDir(t), 'kv'), group: 'g' });
  t.after(() => kv.close());
  // ~1.2 MB of records: one 1 MiB frame of these blocked the event loop 15-130 ms under load.
  kv.applyAllSync(Array.from({ length: 10_000 }, (_, i) => ({ index: i + 1, fn: (tx: KvTx) => tx.put(bytes(`key-${i}`), new Uint8Array(100)) })));
  const sizes: number[] = [];
  for await (const chunk of kv.exportSnapshot()) sizes.push(chunk.byteLength);
  assert.ok(sizes.length >= 16, `${sizes.length} frames`);
  const largest = Math.max(...sizes);
  assert.ok(largest <= 64 * 1024 + 512, `largest frame ${largest} bytes`); // 64 KiB of records, plus the one that crossed it and framing
  const image = await kv.exportSnapshotBytes(); // Raft's snapshot data: the same frames, concatenated
  assert.equal(image.data.byteLength, sizes.reduce((a, b) => a + b, 0));
});

test('an image holding large values is built off the event loop, equals the frames of exportSnapshot, and imports', async (t) => {
  const dir = tempDir(t);
  const src = new KvStore({ env: path.join(dir, 'a'), group: 'g' });
  t.after(() => src.close());
  await populate(src, 50);
  const big = Buffer.alloc(LARGE_VALUE_BYTES * 5 + 3);
  for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
  await src.applyAllAsync([{ index: 51, fn: (tx: KvTx) => tx.put(bytes('key-0025-big'), big) }]);
  const stopCounting = countTurns();
  const image = await src.exportSnapshotBytes(); // read in the worker thread, joined a slice per turn
  const turns = stopCounting();
  assert.ok(turns >= 3, `the event loop turned ${turns} times during the export`);
  const frames: Uint8Array[] = [];
  for await (const f of src.exportSnapshot()) frames.push(f); // read and encoded here, in one step per frame
  assert.ok(Buffer.from(image.data).equals(Buffer.concat(frames)), 'the same image');
  assert.equal(image.crc, crc32(image.data));
  assert.equal(image.appliedIndex, 51);
  const dst = new KvStore({ env: path.join(dir, 'b'), group: 'g' });
  t.after(() => dst.close());
  await dst.importSnapshot([image.data], 51);
  assert.deepStrictEqual(all(dst), all(src));
});
