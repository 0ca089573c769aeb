import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { crc32, crc32js, crc32OfFields, crc32OfFile } from '../../src/storage/checksum.ts';
import { tempDir } from './helpers.ts';

test('CRC-32 matches the published check values', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  assert.equal(crc32(new Uint8Array(32)), 0x190a55ad);
  assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
  assert.equal(crc32(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x91267e8a);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32js(new Uint8Array(1000).fill(0x5a)), crc32(new Uint8Array(1000).fill(0x5a)));
});

test('the JavaScript CRC-32 and zlib.crc32 agree, so values never depend on which one ran', (t) => {
  const native = (zlib as { crc32?: (b: Uint8Array, v?: number) => number }).crc32;
  if (!native) return t.skip('this Node has no zlib.crc32');
  for (let n = 0; n < 1200; n += n < 300 ? 1 : 37) {
    const b = randomBytes(n);
    const seed = (n * 2654435761) >>> 0;
    assert.equal(crc32js(b, seed), native(b, seed), `length ${n}`);
    assert.equal(crc32js(b, 0, n >> 2, n), native(b.subarray(n >> 2)), `length ${n}, from ${n >> 2}`);
  }
});

test('CRC-32 continues across pieces at any split, and the file variant agrees', (t) => {
  for (let n = 0; n < 300; n++) {
    const b = randomBytes(n);
    const whole = crc32(b);
    for (const k of [0, n >> 1, n]) {
      assert.equal(crc32(b.subarray(k), crc32(b.subarray(0, k))), whole, `length ${n} split at ${k}`);
      assert.equal(crc32(b, crc32(b, 0, 0, k), k), whole, `length ${n}, ranges split at ${k}`);
      assert.equal(crc32(b, 0, k, n - (n >> 2)), crc32(b.subarray(k, n - (n >> 2))), `length ${n}, range from ${k}`);
    }
  }
  const big = randomBytes((3 << 20) + 5);
  const file = path.join(tempDir(t), 'f.bin');
  fs.writeFileSync(file, big);
  assert.deepStrictEqual(crc32OfFile(file), { crc: crc32(big), size: big.byteLength });
});

test('record checksums depend on the values of the fields, in order', () => {
  assert.equal(crc32OfFields(['hs', 1, 'a', 2]), crc32OfFields(['hs', 1, 'a', 2]));
  assert.notEqual(crc32OfFields(['hs', 1, 'a', 2]), crc32OfFields(['hs', 2, 'a', 1]));
  assert.notEqual(crc32OfFields(['x', ['a', 'b']]), crc32OfFields(['x', ['ab']]));
  assert.notEqual(crc32OfFields(['x', ['a'], []]), crc32OfFields(['x', [], ['a']]));
  assert.notEqual(crc32OfFields(['x', null]), crc32OfFields(['x', 0]));
  const long = 'v'.repeat(5000); // beyond the initial scratch buffer
  assert.equal(crc32OfFields([long, 1]), crc32OfFields([long, 1]));
  assert.notEqual(crc32OfFields([long, 1]), crc32OfFields([long + 'w', 1]));
});
