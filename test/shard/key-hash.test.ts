// Keys → shards: XXH32 against the specification's published vectors, the hash-tag rule, and the
// multiply-shift map onto shards.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hashTag, MAX_SHARDS, shardOf, shardOfHash, xxh32 } from '../../src/shard/key-hash.ts';
import { shardPoint } from '../../src/shard/ring.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** xxHash's sanity buffer: byte i is the top byte of PRIME32 · PRIME64^i (mod 2^64). */
function sanityBuffer(length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  let gen = 2654435761n;
  for (let i = 0; i < length; i++) {
    buffer[i] = Number(gen >> 56n);
    gen = (gen * 11400714785074694797n) & 0xffff_ffff_ffff_ffffn;
  }
  return buffer;
}

describe('xxh32', () => {
  it("matches xxHash's own sanity vectors (cli/xsum_sanity_check.c): lengths 0, 1, 14 and 222, seeds 0 and PRIME32", () => {
    const vectors: [length: number, seed: number, hash: number][] = [
      [0, 0, 0x02cc5d05],
      [0, 2654435761, 0x36b78ae7],
      [1, 0, 0xcf65b03e],
      [1, 2654435761, 0xb4545aa4],
      [14, 0, 0x1208e7e2],
      [14, 2654435761, 0x6af1d1fe],
      [222, 0, 0x5bd11dbd],
      [222, 2654435761, 0x58803c5f],
    ];
    const buffer = sanityBuffer(222);
    for (const [length, seed, hash] of vectors) assert.equal(xxh32(buffer.subarray(0, length), seed), hash, `length ${length}, seed ${seed}`);
  });

  it('matches published vectors for ASCII strings, which cover each tail length and one full stripe', () => {
    const vectors: [string, number][] = [
      ['a', 0x550d7456],
      ['abc', 0x32d153ff],
      ['abcd', 0xa3643705],
      ['abcdefghijklmnop', 0x9d2d8b62],
    ];
    for (const [s, hash] of vectors) assert.equal(xxh32(utf8(s)), hash, s);
  });

  it('is an unsigned 32-bit integer, and reads only the bytes of its view', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(8), (bytes, pad) => {
        const h = xxh32(bytes);
        assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
        const framed = new Uint8Array(bytes.length + 2 * pad).fill(0xff);
        framed.set(bytes, pad);
        assert.equal(xxh32(framed.subarray(pad, pad + bytes.length)), h);
      }),
    );
  });
});

describe('hashTag (Redis Cluster rule)', () => {
  const tagOf = (key: string): string => text(hashTag(utf8(key)));
  const cases: [key: string, hashed: string, why: string][] = [
    ['{user1}.name', 'user1', 'the part between the braces'],
    ['plain', 'plain', 'no brace: the whole key'],
    ['{}', '{}', 'nothing between the braces: the whole key'],
    ['{}{a}', '{}{a}', 'the first { and the first } after it are empty: the whole key, later tags ignored'],
    ['{a', '{a', 'no } after the {: the whole key'],
    ['a}', 'a}', 'a } with no { before it: the whole key'],
    ['a}{b}', 'b', 'a } before the first { does not count'],
    ['{{a}}', '{a', 'nested: from the first { to the first } after it'],
    ['x{a}{b}', 'a', 'only the first tag'],
    ['{ }', ' ', 'one byte between is enough'],
    ['{é}x', 'é', 'bytes, so UTF-8 tags work'],
  ];
  for (const [key, hashed, why] of cases) it(`${JSON.stringify(key)} hashes ${JSON.stringify(hashed)}: ${why}`, () => assert.equal(tagOf(key), hashed));

  it('keys with the same tag share a shard, whatever surrounds it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }).filter((t) => !t.includes('}')), fc.string(), fc.string(), fc.integer({ min: 1, max: MAX_SHARDS }), (tag, before, after, shards) => {
        const prefix = before.replaceAll('{', '');
        assert.equal(shardOf(utf8(`${prefix}{${tag}}${after}`), shards), shardOf(utf8(tag), shards));
      }),
    );
  });
});

describe('shardOf', () => {
  it('is floor(xxh32 · S / 2^32) of the hashed bytes, always in [0, S)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: MAX_SHARDS }), (key, shards) => {
        const s = shardOf(key, shards);
        assert.ok(Number.isInteger(s) && s >= 0 && s < shards);
        assert.equal(s, Number((BigInt(xxh32(hashTag(key))) * BigInt(shards)) >> 32n));
      }),
    );
  });

  it('a shard is the range of hashes from its ring point up to the next shard’s point', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_SHARDS }), fc.nat(), (shards, pick) => {
        const s = pick % shards;
        assert.equal(shardOfHash(shardPoint(s, shards), shards), s);
        if (shardPoint(s, shards) > 0) assert.equal(shardOfHash(shardPoint(s, shards) - 1, shards), s - 1);
        assert.equal(shardOfHash(2 ** 32 - 1, shards), shards - 1);
      }),
    );
  });

  it('a power of two S takes the top bits of the hash', () => {
    const key = utf8('some key');
    for (let bits = 0; bits <= 16; bits++) assert.equal(shardOf(key, 2 ** bits), bits === 0 ? 0 : xxh32(key) >>> (32 - bits));
  });

  it('spreads sequential keys as a uniform draw would: chi-square of 64,000 keys over 64 shards', () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) counts[shardOf(utf8(`key:${i}`), 64)]++;
    const chiSquare = counts.reduce((sum, c) => sum + (c - 1000) ** 2 / 1000, 0);
    // 63 degrees of freedom: mean 63, standard deviation 11.2; 110 is past the 99.9th percentile.
    assert.ok(chiSquare < 110, `chi-square ${chiSquare.toFixed(1)}; counts ${counts.join(' ')}`);
  });

  it('refuses a shard count that is not an integer from 1 to MAX_SHARDS', () => {
    for (const bad of [0, -1, 1.5, NaN, MAX_SHARDS + 1]) assert.throws(() => shardOf(utf8('k'), bad), RangeError);
  });
});
