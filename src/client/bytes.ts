// Keys and values as the client's callers give them (text or bytes) and as the protocols carry them.

import type { Bytes } from './types.ts';

export function toBytes(b: Bytes): Uint8Array {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
}

export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Every byte that is not an unreserved URL character as %XX: the server decodes it back to exactly these bytes. */
export function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Where the page after one ending at `lastKey` begins: the key followed by one 0x00 byte. */
export function keyAfter(lastKey: Uint8Array): Buffer {
  return Buffer.concat([lastKey, Buffer.of(0)]);
}
