// Keys → shards. A client in any language can compute a key's shard itself from three rules, stated
// here and in docs/sharding.md:
//   1. the hashed bytes: the key, or only its hash tag (Redis Cluster's `{tag}` rule, hashTag below);
//   2. the hash: XXH32 with seed 0 (xxHash's published specification, doc/xxhash_spec.md in
//      Cyan4973/xxHash), an unsigned 32-bit value h;
//   3. the shard: floor(h · S / 2^32) — multiply-shift, not modulo, so each shard is one contiguous
//      range of hash values [ceil(s·2^32/S), ceil((s+1)·2^32/S)).
// Pure: no I/O, no state.

const PRIME1 = 0x9e3779b1;
const PRIME2 = 0x85ebca77;
const PRIME3 = 0xc2b2ae3d;
const PRIME4 = 0x27d4eb2f;
const PRIME5 = 0x165667b1;

/** The most shards shardOf accepts: h · S stays below 2^53, so the product is exact in a double. */
export const MAX_SHARDS = 65_536;

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** Little-endian 32-bit lane at `i` (as a signed int32; Math.imul and the adds wrap it alike). */
function lane(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
}

/** One stripe round of one accumulator (spec step 2). */
function round(acc: number, input: number): number {
  return Math.imul(rotl((acc + Math.imul(input, PRIME2)) | 0, 13), PRIME1);
}

/**
 * XXH32 of `input` with `seed`, as an unsigned 32-bit integer. Follows the specification's steps in
 * order; every operation is modulo 2^32 (`| 0` after additions, Math.imul for products).
 */
export function xxh32(input: Uint8Array, seed = 0): number {
  const length = input.length;
  let i = 0;
  let acc: number;
  if (length >= 16) {
    let a1 = (seed + PRIME1 + PRIME2) | 0;
    let a2 = (seed + PRIME2) | 0;
    let a3 = seed | 0;
    let a4 = (seed - PRIME1) | 0;
    for (const last = length - 16; i <= last; i += 16) {
      a1 = round(a1, lane(input, i));
      a2 = round(a2, lane(input, i + 4));
      a3 = round(a3, lane(input, i + 8));
      a4 = round(a4, lane(input, i + 12));
    }
    acc = (rotl(a1, 1) + rotl(a2, 7) + rotl(a3, 12) + rotl(a4, 18)) | 0;
  } else {
    acc = (seed + PRIME5) | 0;
  }
  acc = (acc + length) | 0;
  for (; i + 4 <= length; i += 4) acc = Math.imul(rotl((acc + Math.imul(lane(input, i), PRIME3)) | 0, 17), PRIME4);
  for (; i < length; i++) acc = Math.imul(rotl((acc + Math.imul(input[i], PRIME5)) | 0, 11), PRIME1);
  acc = Math.imul(acc ^ (acc >>> 15), PRIME2);
  acc = Math.imul(acc ^ (acc >>> 13), PRIME3);
  return (acc ^ (acc >>> 16)) >>> 0;
}

/**
 * The bytes of `key` that decide its shard (Redis Cluster's rule): if the key holds a `{` (0x7B), and
 * after the first `{` a `}` (0x7D), and at least one byte lies between that first `{` and the first `}`
 * after it, only those bytes; otherwise the whole key. So `{user1}.name` and `{user1}.mail` share a
 * shard; `{}x`, `x{` and `x}{` hash whole; `a}{b}` hashes `b`; `{{a}}` hashes `{a`; `x{}{y}` hashes
 * whole (only the first `{` counts). Bytes, not characters: UTF-8 keys work unchanged.
 */
export function hashTag(key: Uint8Array): Uint8Array {
  // Plain loops: on keys of tens of bytes they beat TypedArray.indexOf's call overhead several times.
  let open = 0;
  while (open < key.length && key[open] !== OPEN_BRACE) open++;
  let close = open + 1;
  while (close < key.length && key[close] !== CLOSE_BRACE) close++;
  if (close >= key.length || close === open + 1) return key;
  return key.subarray(open + 1, close);
}

/**
 * `key` up to and including its hash tag's closing brace, if it has a tag: every key that starts with it has
 * the same tag (no brace comes before the tag's, and its first closing brace is the tag's), so the same shard.
 */
export function tagPrefix(key: Uint8Array): Uint8Array | undefined {
  const tag = hashTag(key);
  return tag === key ? undefined : key.subarray(0, tag.byteOffset - key.byteOffset + tag.byteLength + 1);
}

/** The shard in [0, shards) that owns a key whose hash is `hash` (unsigned 32-bit): floor(hash · shards / 2^32). */
export function shardOfHash(hash: number, shards: number): number {
  return Math.floor((hash * shards) / 4294967296);
}

/**
 * The shard of `key` among `shards` (an integer, 1..MAX_SHARDS): XXH32 (seed 0) of hashTag(key),
 * mapped by multiply-shift. Multiply-shift rather than modulo: both are off from uniform by at most
 * one part in 2^32/S (nothing that matters at S ≤ 65,536), but multiply-shift gives each shard one
 * contiguous range of hashes — shard s starts at point ceil(s·2^32/S) of the 32-bit ring that placement
 * walks — and reads as the top bits of the hash when S is a power of two.
 */
export function shardOf(key: Uint8Array, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new RangeError(`shards must be an integer from 1 to ${MAX_SHARDS}, got ${shards}`);
  }
  return shardOfHash(xxh32(hashTag(key)), shards);
}
