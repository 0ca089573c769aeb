// A KV snapshot image carries chained CRC-32s per frame: any flipped bit, any frame dropped or
// reordered aborts the import, and the state from before the import is kept.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Packr } from 'msgpackr';
import { CorruptKvSnapshotError, KvStore } from '../../src/storage/kv-store.ts';
import { DIRECT_KEY_MAX } from '../../src/storage/kv-record.ts';
import { FrameEncoder, type Frame } from '../../src/storage/kv-snapshot-format.ts';
import { bytes, tempDir } from './helpers.ts';

const all = (kv: KvStore) => kv.range({}).items.map((r) => [Buffer.from(r.key).toString(), Buffer.from(r.value).toString(), r.modRevision]);

async function source(dir: string): Promise<{ kv: KvStore; image: Buffer }> {
  const kv = new KvStore({ env: path.join(dir, 'src'), group: 'g' });
  const ps = [];
  for (let i = 1; i <= 60; i++) ps.push(kv.applyAt(i, (tx) => tx.put(bytes(`key-${i % 25}`), bytes(`value-${i}`))));
  await Promise.all(ps);
  const chunks: Uint8Array[] = [];
  for await (const c of kv.exportSnapshot(128)) chunks.push(c); // small frames: many of them
  return { kv, image: Buffer.concat(chunks) };
}

/** The image's magic and frames ([len][crc][document]), as separate buffers. */
function frames(image: Buffer): { magic: Buffer; frames: Buffer[] } {
  const out: Buffer[] = [];
  for (let at = 4; at < image.length; ) {
    const len = image.readUInt32BE(at);
    out.push(image.subarray(at, at + 8 + len));
    at += 8 + len;
  }
  return { magic: image.subarray(0, 4), frames: out };
}

/** A source store and its image, and a target store with state of its own (both closed after the test). */
async function sourceAndTarget(t: TestContext): Promise<{ src: KvStore; image: Buffer; dst: KvStore; before: ReturnType<typeof all> }> {
  const dir = tempDir(t);
  const { kv: src, image } = await source(dir);
  t.after(() => src.close());
  const dst = await target(dir);
  t.after(() => dst.close());
  return { src, image, dst, before: all(dst) };
}

/** A checksummed image (version 2 or later) made of the header, `body` and an end frame counting `count` records. */
function imageOf(version: number, appliedIndex: number, body: Frame[], count: number): Buffer {
  const encoder = new FrameEncoder();
  return Buffer.concat([encoder.encode({ format: 'concord-kv', version, appliedIndex }), ...body.map((f) => encoder.encode(f)), encoder.encode({ end: true, count })]);
}

async function target(dir: string): Promise<KvStore> {
  const kv = new KvStore({ env: path.join(dir, 'dst'), group: 'g' });
  await kv.applyAt(9, (tx) => tx.put(bytes('mine'), bytes('kept')));
  return kv;
}

test('an image with any one bit flipped is rejected, and the old state is kept', async (t) => {
  const { src, image, dst, before } = await sourceAndTarget(t);
  const { frames: parts } = frames(image);
  assert.ok(parts.length >= 6, `${parts.length} frames`);
  // Every byte of the magic, the first frame and the last one; evenly spaced bytes in between.
  const positions = new Set<number>();
  const lastFrame = image.length - parts[parts.length - 1].length;
  for (let i = 0; i < 4 + parts[0].length; i++) positions.add(i);
  for (let i = lastFrame; i < image.length; i++) positions.add(i);
  for (let i = 0; i < image.length; i += Math.ceil(image.length / 60)) positions.add(i);
  let checksumFailures = 0;
  for (const at of positions) {
    const bad = Buffer.from(image);
    bad[at] ^= 1 << at % 8;
    await assert.rejects(dst.importSnapshot([bad], 60), (err: Error) => {
      if (err instanceof CorruptKvSnapshotError) checksumFailures++;
      return true;
    });
    assert.deepStrictEqual(all(dst), before, `flip at ${at}`);
    assert.equal(dst.appliedIndex(), 9);
  }
  // Apart from the magic and the length fields, it is the checksum that catches it, before decoding.
  assert.ok(checksumFailures > positions.size * 0.8, `${checksumFailures} of ${positions.size}`);
  await dst.importSnapshot([image], 60); // the intact image still goes in
  assert.deepStrictEqual(all(dst), all(src));
});

test('frames reordered, dropped or repeated break the checksum chain', async (t) => {
  const { image, dst, before } = await sourceAndTarget(t);
  const { magic, frames: f } = frames(image);
  const n = f.length;
  const variants = {
    swapped: [magic, f[0], f[2], f[1], ...f.slice(3)],
    dropped: [magic, ...f.slice(0, 2), ...f.slice(3)],
    repeated: [magic, ...f.slice(0, 3), f[2], ...f.slice(3, n - 1), f[n - 1]],
  };
  for (const [name, pieces] of Object.entries(variants)) {
    await assert.rejects(dst.importSnapshot(pieces, 60), CorruptKvSnapshotError, name);
    assert.deepStrictEqual(all(dst), before, name);
  }
});

test('an image in the version 1 format (no checksums) is still imported', async (t) => {
  const dir = tempDir(t);
  const packr = new Packr({ useRecords: false, moreTypes: false });
  const frame = (doc: unknown) => {
    const body = packr.pack(doc);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    return Buffer.concat([head, body]);
  };
  const v1 = Buffer.concat([
    frame({ format: 'concord-kv', version: 1, appliedIndex: 12 }),
    frame({ records: [[bytes('a'), bytes('1'), 3, 12, 2, null]] }),
    frame({ end: true, count: 1 }),
  ]);
  const dst = await target(dir);
  t.after(() => dst.close());
  await dst.importSnapshot([v1.subarray(0, 7), v1.subarray(7)], 12);
  assert.deepStrictEqual(all(dst), [['a', '1', 12]]);
  assert.equal(dst.appliedIndex(), 12);
});

test('an image in the version 2 format (decoded records) is still imported', async (t) => {
  const dir = tempDir(t);
  const longKey = Buffer.alloc(DIRECT_KEY_MAX + 40, 'z');
  const v2 = imageOf(2, 20, [{ records: [[bytes('a'), bytes('1'), 3, 12, 2, null], [longKey, bytes('long'), 5, 20, 1, 1e12]] }], 2);
  const dst = await target(dir);
  t.after(() => dst.close());
  await dst.importSnapshot([v2], 20);
  assert.deepStrictEqual(all(dst), [['a', '1', 12], [longKey.toString(), 'long', 20]]);
  assert.equal(dst.get(longKey)?.expiresAt, 1e12);
});

test('a well-formed image whose records no node wrote is refused, and the old state is kept', async (t) => {
  const { src, image, dst, before } = await sourceAndTarget(t);
  // A genuine stored record to take apart: the first key as LMDB holds it.
  const unpackr = new Packr({ useRecords: false });
  const stored = frames(image).frames.map((f) => unpackr.unpack(f.subarray(8)) as { stored?: Uint8Array[] });
  const pairs = stored.flatMap((d) => d.stored ?? []);
  assert.ok(pairs.length >= 50, 'the export carries stored records (version 3)');
  const [key, record] = [Buffer.from(pairs[0]), Buffer.from(pairs[1])];
  const flipped = (at: number, bits: number) => {
    const b = Buffer.from(record);
    b[at] ^= bits;
    return b;
  };
  const nan = Buffer.from(record);
  nan.writeDoubleLE(NaN, 9);
  const longKey = Buffer.alloc(DIRECT_KEY_MAX + 40, 'z');
  const keyLength = Buffer.alloc(4);
  keyLength.writeUInt32LE(longKey.length);
  const withFullKey = Buffer.concat([Buffer.from([2]), record.subarray(1, 25), keyLength, longKey, bytes('v')]);
  const wrongHash = Buffer.concat([longKey.subarray(0, DIRECT_KEY_MAX), Buffer.alloc(32)]);
  const bad: Record<string, unknown> = {
    'an odd number of items': [key, record, key],
    'an unknown flag': [key, flipped(0, 4)],
    'a record shorter than its fixed part': [key, record.subarray(0, 20)],
    'a revision that is not an integer': [key, nan],
    'an empty stored key': [Buffer.alloc(0), record],
    'a stored key longer than a direct key, without the full key': [wrongHash, record],
    'a full key whose hash is not the stored key': [wrongHash, withFullKey],
    'a full key longer than the record': [key, withFullKey.subarray(0, 40)],
    'a string where bytes belong': ['key-1', record],
  };
  for (const [name, items] of Object.entries(bad)) {
    await assert.rejects(dst.importSnapshot([imageOf(3, 60, [{ stored: items as Uint8Array[] }], 1)], 60), /malformed/, name);
    assert.deepStrictEqual(all(dst), before, name);
  }
  // The same frames with a correct full key do go in: the checks above are what refused them.
  const longStoredKey = Buffer.concat([longKey.subarray(0, DIRECT_KEY_MAX), createHash('sha256').update(longKey).digest()]);
  const good = imageOf(3, 60, [{ stored: [key, record, longStoredKey, withFullKey] }], 2);
  await dst.importSnapshot([good], 60);
  assert.deepStrictEqual(all(dst).map(([k, v]) => [k, v]), [[key.toString(), Buffer.from(src.get(key)!.value).toString()], [longKey.toString(), 'v']]);
});
