// The text protocol's words. A line is words separated by spaces or tabs. A word is either bare — any bytes
// but space, tab, CR, LF and a leading `"` — or quoted, as in Redis's inline commands: `"…"` with the
// escapes \\ \" \n \r \t \0 \s (space) and \xHH (any byte). Quoting lets every key and value, empty, with
// spaces, newlines or binary bytes, travel on one line and round-trip exactly.
//
// Answers use the same encoding: a key or value is written bare when that is unambiguous — valid UTF-8
// without whitespace, control characters, `"` or `\`, and not one of the answer words (OK, NOT_FOUND,
// END, ERR) — and quoted otherwise. So a bare NOT_FOUND is always the absence of a key, never a value.

import { isUtf8 } from 'node:buffer';

export class TokenError extends Error {}

const ESCAPES: Record<string, number> = { '\\': 0x5c, '"': 0x22, n: 0x0a, r: 0x0d, t: 0x09, '0': 0x00, s: 0x20 };
const HEX = /^[0-9a-fA-F]{2}$/;

const isBlank = (b: number) => b === 0x20 || b === 0x09;

/** Splits one line (without its line end) into words; a malformed quoted word is a TokenError. */
export function splitWords(line: Buffer): Buffer[] {
  const words: Buffer[] = [];
  let i = 0;
  while (i < line.length) {
    if (isBlank(line[i])) {
      i++;
      continue;
    }
    if (line[i] !== 0x22) {
      const start = i;
      while (i < line.length && !isBlank(line[i])) i++;
      words.push(line.subarray(start, i));
      continue;
    }
    const out = Buffer.allocUnsafe(line.length - i);
    let n = 0;
    i++;
    for (;;) {
      if (i >= line.length) throw new TokenError('a quoted word has no closing "');
      const b = line[i++];
      if (b === 0x22) break;
      if (b !== 0x5c) {
        out[n++] = b;
        continue;
      }
      const e = String.fromCharCode(line[i] ?? 0);
      if (e === 'x' && HEX.test(line.toString('latin1', i + 1, i + 3))) {
        out[n++] = parseInt(line.toString('latin1', i + 1, i + 3), 16);
        i += 3;
      } else if (e in ESCAPES && i < line.length) {
        out[n++] = ESCAPES[e];
        i++;
      } else {
        throw new TokenError(`unknown escape \\${e} in a quoted word (use \\\\ \\" \\n \\r \\t \\0 \\s or \\xHH)`);
      }
    }
    if (i < line.length && !isBlank(line[i])) throw new TokenError('a quoted word must be followed by a space or the end of the line');
    words.push(out.subarray(0, n));
  }
  return words;
}

const RESERVED = new Set(['OK', 'NOT_FOUND', 'END', 'ERR']);
const PLAIN_BYTE = (b: number) => b > 0x20 && b !== 0x7f && b !== 0x22 && b !== 0x5c;

/** A key or value as an answer writes it: bare when unambiguous, else quoted with escapes. */
export function encodeWord(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length > 0 && buf.every(PLAIN_BYTE) && isUtf8(buf)) {
    const text = buf.toString('utf8');
    if (!RESERVED.has(text)) return text;
  }
  let out = '"';
  for (const b of buf) {
    if (b === 0x5c) out += '\\\\';
    else if (b === 0x22) out += '\\"';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}
