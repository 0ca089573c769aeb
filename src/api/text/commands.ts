// Seed 002's commands over one KvService, with HTTP v1's semantics: reads are linearizable, BATCHPUT is
// one atomic batch, errors come from the same catalogue. Each command yields its answer lines (RANGE may
// yield many, page by page, so a long range is never held in memory whole).

import { ConcordError } from '../../util/errors.ts';
import type { KvService } from '../../kv/types.ts';
import { MAX_BATCH_OPS } from '../shared/limits.ts';
import { encodeWord } from './tokens.ts';

/** Keys listed per page while a RANGE answer is written. */
const RANGE_PAGE = 1000;

export const HELP = 'commands: PUT key value | READ key | DELETE key | BATCHPUT k1 v1 k2 v2 … | RANGE start end (both included; READRANGE too)';

type Name = 'PUT' | 'READ' | 'DELETE' | 'BATCHPUT' | 'RANGE' | 'READRANGE';

function arity(name: string, words: Buffer[], n: number, usage: string): void {
  if (words.length !== n) throw new ConcordError('bad-request', `${name} takes ${usage} (got ${words.length - 1} word${words.length === 2 ? '' : 's'}; quote a word that holds spaces: "two words")`);
}

/** The smallest key after `key`: RANGE's end is included, KvService.list's is not. */
const after = (key: Uint8Array): Uint8Array => Buffer.concat([key, Buffer.of(0)]);

export async function* execute(kv: KvService, words: Buffer[]): AsyncGenerator<string> {
  const name = words[0].toString('latin1').toUpperCase() as Name;
  switch (name) {
    case 'PUT':
      arity(name, words, 3, 'a key and a value');
      await kv.put(words[1], words[2]);
      yield 'OK';
      return;
    case 'READ': {
      arity(name, words, 2, 'a key');
      const rec = await kv.get(words[1]);
      yield rec ? encodeWord(rec.value) : 'NOT_FOUND';
      return;
    }
    case 'DELETE':
      arity(name, words, 2, 'a key');
      yield (await kv.delete(words[1])).deleted > 0 ? 'OK' : 'NOT_FOUND';
      return;
    case 'BATCHPUT': {
      const pairs = words.length - 1;
      if (pairs === 0 || pairs % 2 !== 0) throw new ConcordError('bad-request', 'BATCHPUT takes key value pairs: BATCHPUT k1 v1 k2 v2 …');
      if (pairs / 2 > MAX_BATCH_OPS) throw new ConcordError('too-large', `BATCHPUT takes at most ${MAX_BATCH_OPS} pairs`);
      const ops = [];
      for (let i = 1; i < words.length; i += 2) ops.push({ op: 'put' as const, key: words[i], value: words[i + 1] });
      await kv.batch(ops);
      yield 'OK';
      return;
    }
    case 'RANGE':
    case 'READRANGE':
      arity(name, words, 3, 'a start key and an end key');
      yield* range(kv, words[1], after(words[2]));
      return;
    default:
      throw new ConcordError('bad-request', `unknown command ${JSON.stringify(words[0].toString('utf8').slice(0, 32))}; ${HELP}`);
  }
}

async function* range(kv: KvService, start: Uint8Array, end: Uint8Array): AsyncGenerator<string> {
  // The first page is linearizable; later pages continue from the last key (a listing, not a snapshot).
  for (let from = start; ; ) {
    const page = await kv.list({ start: from, end, limit: RANGE_PAGE });
    for (const rec of page.items) yield `${encodeWord(rec.key)} ${encodeWord(rec.value)}`;
    if (!page.more || page.items.length === 0) break;
    from = after(page.items[page.items.length - 1].key);
  }
  yield 'END';
}

/** One answer line for an error: `ERR <code>: <message>`, the codes of the error catalogue. */
export function errorLine(e: unknown): string {
  if (e instanceof ConcordError) return `ERR ${e.code}: ${e.message.replace(/[\r\n]+/g, ' ')}`;
  return 'ERR internal: the command failed on the server';
}
