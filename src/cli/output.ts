// How client commands print: JSON for programs, tables for people, and raw bytes where a value is the answer.

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

/** Long or multi-line cells would make a table unreadable; the full value is one `get` away. */
export function cell(text: string, max = 60): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
