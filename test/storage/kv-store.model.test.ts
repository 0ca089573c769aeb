// Model test: random puts and deletes (short keys, and long keys that share a prefix longer than
// what LMDB can store directly) and random range queries, against a plain sorted-array model of
// etcd's revision rules.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import { KvStore } from '../../src/storage/kv-store.ts';
import { DIRECT_KEY_MAX } from '../../src/storage/kv-record.ts';
import { tempDir } from './helpers.ts';

const LONG = Buffer.alloc(DIRECT_KEY_MAX - 2, 0x61);
// Keys from a tiny alphabet so that they collide, share prefixes and include 0x00/0xff.
const shortKey = fc.uint8Array({ minLength: 1, maxLength: 3 }).map((k) => k.map((b) => [0x00, 0x61, 0x62, 0xff][b % 4]));
const key = fc.oneof(
  shortKey,
  shortKey.map((tail) => Uint8Array.from(Buffer.concat([LONG, tail]))), // straddles the direct limit
  shortKey.map((tail) => Uint8Array.from(Buffer.concat([LONG, Buffer.alloc(10, 0x62), tail]))), // hashed, same stored prefix
);
const op = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key, value: fc.uint8Array({ maxLength: 4 }) }),
  fc.record({ kind: fc.constant('delete' as const), key }),
);
const query = fc.record({
  start: fc.option(key, { nil: undefined }),
  end: fc.option(key, { nil: undefined }),
  prefix: fc.option(fc.oneof(shortKey, fc.constant(Uint8Array.from(LONG)), shortKey.map((t) => Uint8Array.from(Buffer.concat([LONG, t])))), { nil: undefined }),
  limit: fc.option(fc.nat(6), { nil: undefined }),
});

interface ModelRecord {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
}

test('KvStore matches a sorted model for revisions and range queries', async (t) => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(op, { maxLength: 4 }), { minLength: 1, maxLength: 15 }), fc.array(query, { minLength: 1, maxLength: 8 }), async (entries, queries) => {
      const kv = new KvStore({ env: path.join(tempDir(t), `kv-${run++}`), group: 'g' });
      const model = new Map<string, ModelRecord>();
      try {
        await Promise.all(
          entries.map((ops, i) =>
            kv.applyAt(i + 1, (tx) => {
              for (const o of ops) {
                if (o.kind === 'put') tx.put(o.key, o.value);
                else tx.delete(o.key);
              }
            }),
          ),
        );
        entries.forEach((ops, i) => {
          for (const o of ops) {
            const k = Buffer.from(o.key).toString('hex');
            const prev = model.get(k);
            if (o.kind === 'delete') model.delete(k);
            else
              model.set(k, {
                key: Buffer.from(o.key),
                value: Buffer.from(o.value),
                createRevision: prev ? prev.createRevision : i + 1,
                modRevision: i + 1,
                version: prev ? prev.version + 1 : 1,
              });
          }
        });
        const sorted = [...model.values()].sort((a, b) => Buffer.compare(a.key, b.key));
        for (const q of queries) {
          const inRange = sorted.filter(
            (r) =>
              (!q.start || Buffer.compare(r.key, q.start) >= 0) &&
              (!q.end || Buffer.compare(r.key, q.end) < 0) &&
              (!q.prefix || r.key.subarray(0, q.prefix.length).equals(q.prefix)),
          );
          const limit = q.limit || Infinity;
          const expected = { items: inRange.slice(0, limit).map(show), more: inRange.length > limit };
          const got = kv.range(q);
          assert.deepStrictEqual({ items: got.items.map(show), more: got.more }, expected);
        }
        for (const r of sorted) assert.deepStrictEqual(show(kv.get(r.key)!), show(r));
      } finally {
        await kv.close();
      }
    }),
    { numRuns: 100 },
  );
});

test('batches through applyAllSync, with the read cache on (even a tiny one) or off, read back as the model says, after each batch', async (t) => {
  let run = 0;
  const entry = fc.array(op, { minLength: 1, maxLength: 3 });
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ entries: fc.array(entry, { minLength: 1, maxLength: 5 }), reads: fc.array(key, { maxLength: 6 }) }), { minLength: 1, maxLength: 10 }),
      fc.constantFrom(0, 700, 16 << 20),
      async (batches, cacheBytes) => {
        const kv = new KvStore({ env: path.join(tempDir(t), `kv-batch-${run++}`), group: 'g', cacheBytes });
        const model = new Map<string, ModelRecord>();
        let index = 0;
        try {
          for (const batch of batches) {
            kv.applyAllSync(
              batch.entries.map((ops) => {
                const revision = ++index;
                for (const o of ops) {
                  const k = Buffer.from(o.key).toString('hex');
                  const prev = model.get(k);
                  if (o.kind === 'delete') model.delete(k);
                  else model.set(k, { key: Buffer.from(o.key), value: Buffer.from(o.value), createRevision: prev ? prev.createRevision : revision, modRevision: revision, version: prev ? prev.version + 1 : 1 });
                }
                return {
                  index: revision,
                  fn: (tx: Parameters<Parameters<KvStore['applyAllSync']>[0][number]['fn']>[0]) => {
                    for (const o of ops) {
                      if (o.kind === 'put') tx.put(o.key, o.value);
                      else tx.delete(o.key);
                    }
                  },
                };
              }),
            );
            // Reads fill the cache; the next batch's writes then read what they replace from it.
            for (const k of batch.reads) {
              const want = model.get(Buffer.from(k).toString('hex'));
              const got = kv.get(k);
              assert.deepStrictEqual(got && show(got), want && show(want));
            }
          }
          for (const r of model.values()) assert.deepStrictEqual(show(kv.get(r.key)!), show(r));
        } finally {
          await kv.close();
        }
      },
    ),
    { numRuns: 100 },
  );
});

function show(r: { key: Uint8Array; value: Uint8Array; createRevision: number; modRevision: number; version: number }) {
  return [Buffer.from(r.key).toString('hex'), Buffer.from(r.value).toString('hex'), r.createRevision, r.modRevision, r.version];
}
