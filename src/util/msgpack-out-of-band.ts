// msgpack without copying large byte arrays into the packed buffer: the value is packed with each
// large array swapped for a placeholder (a random per-process token and the array's number), and the
// placeholder's bytes in the result are then cut out and replaced by a bin 32 header followed by the
// array itself, which is exactly what msgpack writes for a byte array of that size. The result is a
// list of buffers to write in order, holding the caller's arrays, byte for byte what packing the
// value would have given. Copying a 64 MiB array into fresh memory blocks the event loop long enough
// to delay Raft's heartbeats (docs/architecture.md).

import { randomBytes } from 'node:crypto';

const TOKEN = randomBytes(16);
const PLACEHOLDER_BYTES = TOKEN.byteLength + 4;
/** Deeper than any message or frame: the walk stops there rather than follow a cycle. */
const MAX_DEPTH = 12;

/**
 * `pack(value)` as a list of buffers, with byte arrays of `minBytes` or more (in arrays and plain
 * objects) left where they are; undefined if the value holds none, or if the packer laid a
 * placeholder out otherwise than as a bin 8 (the caller then packs as ever). `pack` must write
 * Uint8Arrays as msgpack bin; bytes it reserves in front of the result stay in front of the first part.
 */
export function packOutOfBand(pack: (v: unknown) => Buffer, value: unknown, minBytes: number): Buffer[] | undefined {
  const large: Uint8Array[] = [];
  const stripped = detach(value, large, minBytes, 0);
  if (large.length === 0) return undefined;
  const packed = pack(stripped);
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < large.length; i++) {
    const at = packed.indexOf(TOKEN, from);
    if (at < from + 2 || packed[at - 2] !== 0xc4 || packed[at - 1] !== PLACEHOLDER_BYTES || packed.readUInt32BE(at + TOKEN.byteLength) !== i) return undefined;
    const data = large[i];
    const header = Buffer.allocUnsafe(5);
    header[0] = 0xc6;
    header.writeUInt32BE(data.byteLength, 1);
    parts.push(packed.subarray(from, at - 2), header, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    from = at + PLACEHOLDER_BYTES;
  }
  parts.push(packed.subarray(from));
  return parts;
}

/**
 * `v` with every byte array of `minBytes` or more replaced by a placeholder, appended to `large` in
 * walk order. What holds no such array is returned as it is; what does is copied shallowly, so the
 * caller's objects are never changed.
 */
function detach(v: unknown, large: Uint8Array[], minBytes: number, depth: number): unknown {
  if (v instanceof Uint8Array) {
    if (v.byteLength < minBytes) return v;
    const p = Buffer.allocUnsafe(PLACEHOLDER_BYTES);
    TOKEN.copy(p, 0);
    p.writeUInt32BE(large.length, TOKEN.byteLength);
    large.push(v);
    return p;
  }
  if (typeof v !== 'object' || v === null || depth >= MAX_DEPTH) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const d = detach(v[i], large, minBytes, depth + 1);
      if (d !== v[i]) (out ??= v.slice())[i] = d;
    }
    return out ?? v;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return v;
  let out: Record<string, unknown> | undefined;
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const d = detach(o[k], large, minBytes, depth + 1);
    if (d !== o[k]) (out ??= { ...o })[k] = d;
  }
  return out ?? v;
}
