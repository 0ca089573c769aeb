// The wire format between nodes: a 4-byte big-endian length, then that many bytes holding one
// msgpack value. Every frame after the handshake is an array (a batch) of payloads.

import { randomBytes } from 'node:crypto';
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';

export const FRAME_HEADER_BYTES = 4;
/** Large enough for a frame holding one 64 MiB value plus its envelope. */
export const DEFAULT_MAX_FRAME_BYTES = 128 * 1024 * 1024;
/** The length prefix is a uint32; anything bigger could not even be described. */
export const MAX_FRAME_BYTES_LIMIT = 0xffff_ffff;

export interface CodecOptions {
  /**
   * Copy every decoded byte array out of the received frame. Off by default: copying cost ~4x
   * decode throughput in measurements. The price of not copying is that a decoded Uint8Array is
   * a view that keeps its whole frame (or socket chunk) alive, so a consumer that holds one for a
   * long time (a cache) should copy it itself.
   */
  copyBuffers?: boolean;
}

/**
 * Encodes and decodes frame bodies. msgpackr records are used because batches are arrays of
 * same-shaped objects: on Raft App envelopes they measured ~40% smaller frames and 3-4x faster
 * decoding than plain maps for batches of 100+. With no shared `structures` and no `sequential`
 * mode, each frame carries its own record definitions and the decoder starts every frame with an
 * empty structure table, so one codec can safely serve all connections: nothing a peer sends in
 * one frame can change how another frame (from it or anyone else) is decoded.
 */
export class FrameCodec {
  private readonly packr = new Packr({ useRecords: true });
  private readonly unpackr: Unpackr;

  constructor(opts: CodecOptions = {}) {
    // mapsAsObjects: plain msgpack maps (e.g. from a non-msgpackr peer) become objects, not Maps.
    this.unpackr = new Unpackr({ useRecords: true, mapsAsObjects: true, copyBuffers: opts.copyBuffers ?? false });
  }

  /**
   * A complete frame (header + body) in one buffer, so that sending it is a single write. msgpackr
   * reserves the header space in front of the body, which avoids copying the body. Throws what
   * msgpackr throws for unencodable values.
   */
  encodeFrame(value: unknown): Buffer {
    const frame = this.packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
    frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
    return frame;
  }

  /**
   * The same frame as encodeFrame, as a list of buffers to write in order, with every byte array of
   * at least OUT_OF_BAND_BYTES left where it is instead of copied into the frame: copying a 64 MiB
   * entry into fresh memory blocks the event loop long enough to delay heartbeats. Each such
   * array is swapped for a placeholder (a random per-codec token and its number) before packing; the
   * placeholder's bytes in the packed frame are then cut out and replaced by a bin 32 header
   * followed by the array itself, which is what msgpack writes for a byte array of that size, so the
   * receiver decodes these frames like any other.
   */
  encodeFrameParts(value: unknown): Buffer[] {
    const large: Uint8Array[] = [];
    const stripped = detachLarge(value, large, this.token, 0);
    if (large.length === 0) return [this.encodeFrame(value)];
    const packed = this.packr.pack(stripped, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
    const parts: Buffer[] = [];
    let from = 0;
    let length = packed.length - FRAME_HEADER_BYTES;
    for (let i = 0; i < large.length; i++) {
      const at = packed.indexOf(this.token, from);
      // A placeholder is `c4 <PLACEHOLDER_BYTES>` then the token and the array's number, in walk order.
      if (at < from + 2 || packed[at - 2] !== 0xc4 || packed[at - 1] !== PLACEHOLDER_BYTES || packed.readUInt32BE(at + TOKEN_BYTES) !== i) {
        return [this.encodeFrame(value)]; // the packer laid it out otherwise: copy, as ever
      }
      const data = large[i];
      const header = Buffer.allocUnsafe(5);
      header[0] = 0xc6;
      header.writeUInt32BE(data.byteLength, 1);
      parts.push(packed.subarray(from, at - 2), header, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      from = at + PLACEHOLDER_BYTES;
      length += 5 + data.byteLength - (2 + PLACEHOLDER_BYTES);
    }
    parts.push(packed.subarray(from));
    if (length > MAX_FRAME_BYTES_LIMIT) throw new RangeError(`frame of ${length} bytes cannot be described`);
    parts[0].writeUInt32BE(length, 0);
    return parts;
  }

  /** Bytes that identify this codec's placeholders; random, so that no payload contains them by chance. */
  private readonly token = randomBytes(TOKEN_BYTES);

  /** Decodes one frame body; throws on malformed input. */
  decodeBody(body: Uint8Array): unknown {
    return this.unpackr.unpack(body);
  }
}

/** Byte arrays from this size on travel outside the packed frame (encodeFrameParts). */
export const OUT_OF_BAND_BYTES = 1 << 20;
const TOKEN_BYTES = 16;
const PLACEHOLDER_BYTES = TOKEN_BYTES + 4;
/** Deeper than any envelope: the walk stops there rather than follow a cycle. */
const MAX_DETACH_DEPTH = 12;

/**
 * `v` with every byte array of OUT_OF_BAND_BYTES or more (in arrays and plain objects) replaced by a
 * placeholder, appended to `large` in walk order. What holds no such array is returned as it is;
 * what does is copied shallowly, so the caller's objects are never changed.
 */
function detachLarge(v: unknown, large: Uint8Array[], token: Buffer, depth: number): unknown {
  if (v instanceof Uint8Array) {
    if (v.byteLength < OUT_OF_BAND_BYTES) return v;
    const p = Buffer.allocUnsafe(PLACEHOLDER_BYTES);
    token.copy(p, 0);
    p.writeUInt32BE(large.length, TOKEN_BYTES);
    large.push(v);
    return p;
  }
  if (typeof v !== 'object' || v === null || depth >= MAX_DETACH_DEPTH) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const d = detachLarge(v[i], large, token, depth + 1);
      if (d !== v[i]) (out ??= v.slice())[i] = d;
    }
    return out ?? v;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return v;
  let out: Record<string, unknown> | undefined;
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const d = detachLarge(o[k], large, token, depth + 1);
    if (d !== o[k]) (out ??= { ...o })[k] = d;
  }
  return out ?? v;
}

export class FrameTooLargeError extends Error {
  constructor(readonly length: number, readonly max: number) {
    super(`frame of ${length} bytes exceeds the limit of ${max}`);
    this.name = 'FrameTooLargeError';
  }
}

/**
 * Cuts a byte stream into frame bodies. Bodies that arrive within one chunk are returned as views
 * of that chunk (no copy); a body spread over several chunks is assembled into one buffer that is
 * allocated once, when its length becomes known.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  private body: Buffer | null = null;
  private bodyFilled = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /**
   * Feeds one chunk and calls `onFrame` for every body it completes. Throws FrameTooLargeError as
   * soon as a header announces an oversized frame, before any of its body is buffered; the reader
   * is unusable afterwards (the caller closes the connection).
   */
  push(chunk: Buffer, onFrame: (body: Buffer) => void): void {
    let offset = 0;
    const end = chunk.length;
    while (offset < end) {
      if (this.body !== null) {
        const n = Math.min(this.body.length - this.bodyFilled, end - offset);
        chunk.copy(this.body, this.bodyFilled, offset, offset + n);
        this.bodyFilled += n;
        offset += n;
        if (this.bodyFilled === this.body.length) {
          const body = this.body;
          this.body = null;
          this.bodyFilled = 0;
          onFrame(body);
        }
        continue;
      }
      let length: number;
      if (this.headerFilled === 0 && end - offset >= FRAME_HEADER_BYTES) {
        length = chunk.readUInt32BE(offset); // the common case: the header is not split
        offset += FRAME_HEADER_BYTES;
      } else {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerFilled, end - offset);
        chunk.copy(this.header, this.headerFilled, offset, offset + n);
        this.headerFilled += n;
        offset += n;
        if (this.headerFilled < FRAME_HEADER_BYTES) return;
        this.headerFilled = 0;
        length = this.header.readUInt32BE(0);
      }
      if (length > this.maxFrameBytes) throw new FrameTooLargeError(length, this.maxFrameBytes);
      if (end - offset >= length) {
        const body = chunk.subarray(offset, offset + length);
        offset += length;
        onFrame(body);
      } else {
        this.body = Buffer.allocUnsafe(length);
        this.bodyFilled = 0;
      }
    }
  }

  /** Bytes of an incomplete frame held right now (for tests and diagnostics). */
  get bufferedBytes(): number {
    return this.headerFilled + this.bodyFilled;
  }
}
