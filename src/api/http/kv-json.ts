// Keys and values inside JSON bodies: UTF-8 text by default, base64 on request. Bytes that are not
// UTF-8 are refused (400, naming encoding=base64 as the way out) rather than sent in a different
// encoding the client did not ask for or mangled into U+FFFD: a client parsing text never gets
// something that silently is not the stored data.

import type { KvRecord } from '../../kv/types.ts';
import { base64Bytes, textBytes, toBase64, utf8Text } from './bytes.ts';

export type JsonEncoding = 'utf8' | 'base64';

export function encodeBytes(bytes: Uint8Array, encoding: JsonEncoding, what: string): string {
  return encoding === 'base64' ? toBase64(bytes) : utf8Text(bytes, what, '; ask with encoding=base64');
}

export function decodeBytes(text: string, encoding: JsonEncoding, what: string): Buffer {
  return encoding === 'base64' ? base64Bytes(text, what) : textBytes(text, what);
}

export interface ListItem {
  key: string;
  value?: string;
  revision: number;
}

/** Keys and values may be encoded differently: seed 003 has text keys but base64 values. */
export function listItems(items: KvRecord[], keys: JsonEncoding, values: JsonEncoding, keysOnly: boolean): ListItem[] {
  return items.map((r, i) => {
    const item: ListItem = { key: encodeBytes(r.key, keys, `key of item ${i}`), revision: r.modRevision };
    if (!keysOnly) item.value = encodeBytes(r.value, values, `value of item ${i}`);
    return item;
  });
}
