// Keys and values are bytes, but they reach HTTP as percent-encoded URL text, JSON strings or base64.
// These conversions are strict: input that does not decode exactly is a 400, never a guess, so no
// two different requests can name the same key and no byte is silently replaced.

import { isUtf8 } from 'node:buffer';
import { ConcordError } from '../../util/errors.ts';

const HEX: Record<string, number> = {};
for (let i = 0; i < 16; i++) {
  HEX[i.toString(16)] = i;
  HEX[i.toString(16).toUpperCase()] = i;
}

/**
 * Percent-decodes URL text to bytes (any byte may be sent as %XX). `plusIsSpace` is for query
 * strings (form encoding); in a path '+' is itself.
 */
export function percentDecode(raw: string, what: string, plusIsSpace = false): Buffer {
  if (!raw.includes('%') && !(plusIsSpace && raw.includes('+'))) return Buffer.from(raw, 'utf8');
  const out = Buffer.allocUnsafe(Buffer.byteLength(raw, 'utf8'));
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hi = HEX[raw[i + 1]];
      const lo = HEX[raw[i + 2]];
      if (hi === undefined || lo === undefined) {
        throw new ConcordError('bad-request', `${what} has a bad percent-encoding at character ${i}`);
      }
      out[n++] = hi * 16 + lo;
      i += 2;
    } else if (c === 0x2b /* + */ && plusIsSpace) {
      out[n++] = 0x20;
    } else if (c < 0x80) {
      out[n++] = c;
    } else {
      // Node rejects raw non-ASCII bytes in a request line, so this is only reachable from
      // already-decoded text; encode it as UTF-8 like the fast path does.
      const ch = String.fromCodePoint(raw.codePointAt(i)!);
      n += out.write(ch, n, 'utf8');
      i += ch.length - 1;
    }
  }
  return out.subarray(0, n);
}

/**
 * The query string of a raw (undecoded) URL as name → undecoded value, first occurrence wins.
 * Values stay raw so that byte-valued parameters (keys, prefixes) can be decoded without loss.
 */
export function rawQuery(url: string): Map<string, string> {
  const params = new Map<string, string>();
  const q = url.indexOf('?');
  if (q < 0) return params;
  for (const part of url.slice(q + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    let name: string;
    try {
      name = percentDecode(rawName, 'a query parameter name', true).toString('utf8');
    } catch {
      continue; // an undecodable name cannot be one we look for
    }
    if (!params.has(name)) params.set(name, eq < 0 ? '' : part.slice(eq + 1));
  }
  return params;
}

/** Bytes as text, or a 400 when they are not valid UTF-8 (never a lossy replacement). */
export function utf8Text(bytes: Uint8Array, what: string, hint = ''): string {
  if (!isUtf8(bytes)) throw new ConcordError('bad-request', `${what} is not valid UTF-8${hint}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/**
 * String.prototype.isWellFormed (ES2024; Node 20 has it, the ES2022 lib we compile against does not
 * declare it): one native pass, several times faster than a /\p{Surrogate}/u scan on large text.
 */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/** A JSON string as UTF-8 bytes; lone surrogates (legal in JSON, not in UTF-8) are a 400, not U+FFFD. */
export function textBytes(text: string, what: string): Buffer {
  if (!isWellFormed(text)) throw new ConcordError('bad-request', `${what} contains an unpaired surrogate`);
  return Buffer.from(text, 'utf8');
}

/**
 * Standard, padded, canonical base64 only: the text must be exactly what encoding its bytes gives
 * back. Buffer.from(s, 'base64') alone would skip junk characters, accept base64url and missing
 * padding, and ignore stray bits, so two different texts could name the same bytes. Decoding and
 * re-encoding is linear in time and constant in stack, whatever the input; a regular expression
 * over the whole text backtracks once per group and exhausts V8's regexp stack on large values.
 */
export function base64Bytes(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) throw new ConcordError('bad-request', `${what} is not valid base64 (standard alphabet, padded)`);
  return bytes;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** A zero-copy Buffer view, for handing stored bytes to the HTTP response. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
