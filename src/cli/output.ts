// How client commands print: JSON for programs, tables for people, and raw bytes where a value is the answer.

import { isUtf8 } from 'node:buffer';
import Table from 'cli-table3';
import { UsageError } from './errors.ts';

export const FORMATS = ['json', 'table', 'text'] as const;
export type Format = (typeof FORMATS)[number];

export function parseFormat(text: string | undefined, dflt: Format): Format {
  if (text === undefined) return dflt;
  if (!(FORMATS as readonly string[]).includes(text)) throw new UsageError(`--format: expected ${FORMATS.join(', ')} (got ${JSON.stringify(text)})`);
  return text as Format;
}

export function write(data: string | Uint8Array): void {
  process.stdout.write(data);
}

export function printJson(value: unknown): void {
  write(`${JSON.stringify(value, null, 2)}\n`);
}

/** No colours: the same bytes whether stdout is a terminal or a file, so output can be diffed and grepped. */
export function printTable(head: string[], rows: Array<Array<string | number | boolean>>): void {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map((c) => String(c)));
  write(`${t.toString()}\n`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A value as JSON can carry it: text if it is valid UTF-8, else base64 (and says so). */
export function jsonValue(bytes: Uint8Array): { value: string; encoding?: 'base64' } {
  try {
    return { value: utf8.decode(bytes) };
  } catch {
    return { value: Buffer.from(bytes).toString('base64'), encoding: 'base64' };
  }
}

/** Characters a table cell shows. */
export const CELL_CHARS = 60;

/** C0 controls (but the line breaks and tabs turned into spaces), DEL and C1 controls. */
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;
const hex = (n: number, digits: number) => n.toString(16).toUpperCase().padStart(digits, '0');

/**
 * Long or multi-line cells would make a table unreadable; the full value is one `get` away. Control
 * characters are shown escaped (\x1B, \u0085): written raw, a key could move the cursor, recolour
 * or retitle the terminal.
 */
export function cell(text: string, max = CELL_CHARS): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ').replace(CONTROL, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x80 ? `\\x${hex(n, 2)}` : `\\u${hex(n, 4)}`;
  });
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Length of the UTF-8 sequence a lead byte starts (0: not a lead byte). */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Bytes that are not UTF-8 text, for a table cell: each valid UTF-8 character as itself (cell() then
 * escapes C1 controls), every other byte, C0 controls and DEL as \xHH, and a backslash as \\.
 * Readable where it is mostly text, and no raw byte reaches the terminal. Stops once the text is longer than `maxChars` (a
 * cell shows 60 characters of a value that may be 64 MiB).
 */
export function escapedBytes(bytes: Uint8Array, maxChars = Infinity): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  for (let i = 0; i < b.length && out.length <= maxChars; ) {
    const n = sequenceLength(b[i]);
    if (n > 1 && i + n <= b.length && isUtf8(b.subarray(i, i + n))) {
      out += b.toString('utf8', i, i + n);
      i += n;
    } else {
      const c = b[i++];
      if (n === 1 && c >= 0x20 && c !== 0x7f) out += c === 0x5c ? '\\\\' : String.fromCharCode(c);
      else out += `\\x${hex(c, 2)}`;
    }
  }
  return out;
}
