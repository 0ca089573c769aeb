// Keys and values inside JSON bodies: UTF-8 text by default, base64 on request (`encoding=base64`).
//
// A listing must answer whatever is stored, and a client parsing text must never get something
// that silently is not the stored data: so in a text listing an item whose key or value is not
// valid UTF-8 carries that one field in base64 and says so in a marker of its own (`keyEncoding`,
// `valueEncoding`: "base64"), never U+FFFD. Items of UTF-8 data look exactly as they always did.

import { isUtf8 } from 'node:buffer';
import type { KvRecord } from '../../kv/types.ts';
import { base64Bytes, textBytes, toBase64 } from './bytes.ts';

export type JsonEncoding = 'utf8' | 'base64';

export function decodeBytes(text: string, encoding: JsonEncoding, what: string): Buffer {
  return encoding === 'base64' ? base64Bytes(text, what) : textBytes(text, what);
}

export interface ListItem {
  key: string;
  /** Present only when the key is in base64 although the listing is text. */
  keyEncoding?: 'base64';
  value?: string;
  /** Present only when the value is in base64 although the listing asked for text. */
  valueEncoding?: 'base64';
  revision: number;
}

/** Bytes as the listing asked, or in base64 (`marked`) when they are not UTF-8 text. */
export function encodeField(bytes: Uint8Array, encoding: JsonEncoding): { text: string; marked: boolean } {
  if (encoding === 'base64') return { text: toBase64(bytes), marked: false };
  if (isUtf8(bytes)) return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), marked: false };
  return { text: toBase64(bytes), marked: true };
}

/** Keys and values may be encoded differently: seed 003 has text keys but base64 values. */
export function listItems(items: KvRecord[], keys: JsonEncoding, values: JsonEncoding, keysOnly: boolean): ListItem[] {
  return items.map((r) => {
    const key = encodeField(r.key, keys);
    const item: ListItem = { key: key.text, revision: r.modRevision };
    if (key.marked) item.keyEncoding = 'base64';
    if (!keysOnly) {
      const value = encodeField(r.value, values);
      item.value = value.text;
      if (value.marked) item.valueEncoding = 'base64';
    }
    return item;
  });
}
