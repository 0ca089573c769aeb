// The write order of cache mode: least recently written first, rebuilt from the records by revision, and
// never holding the node's reserved keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { KvStore } from '../../src/storage/kv-store.ts';
import { RESERVED_KEY_PREFIX } from '../../src/storage/kv-record.ts';
import { bytes, tempDir, text } from './helpers.ts';

const keys = (store: KvStore, n = 100) => store.writeOrder!.oldest(n).map((w) => `${text(w.key)}@${w.revision}`);

test('least recently written first: a key written again moves to the end, a deleted one leaves; rebuilt the same on reopening', async (t) => {
  const dir = tempDir(t);
  let store = new KvStore({ env: path.join(dir, 'kv'), group: 'g1', trackWrites: true });
  await store.applyAt(1, (tx) => tx.put(bytes('a'), bytes('1')));
  await store.applyAt(2, (tx) => tx.put(bytes('b'), bytes('1')));
  await store.applyAt(3, (tx) => tx.put(bytes(`${RESERVED_KEY_PREFIX}shards`), bytes('{}')));
  await store.applyAt(4, (tx) => tx.put(bytes('c'), bytes('1')));
  await store.applyAt(5, (tx) => tx.put(bytes('a'), bytes('2')));
  await store.applyAt(6, (tx) => tx.delete(bytes('b')));
  assert.deepEqual(keys(store), ['c@4', 'a@5'], 'the reserved key is never a candidate');
  assert.deepEqual(keys(store, 1), ['c@4']);
  await store.close();
  store = new KvStore({ env: path.join(dir, 'kv'), group: 'g1', trackWrites: true });
  t.after(() => store.close());
  assert.deepEqual(keys(store), ['c@4', 'a@5']);
  const plain = new KvStore({ env: path.join(tempDir(t), 'kv'), group: 'g1' });
  t.after(() => plain.close());
  assert.equal(plain.writeOrder, undefined, 'kept only when asked for');
});
