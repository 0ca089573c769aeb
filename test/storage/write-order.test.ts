// The write order of cache mode: least recently written first, rebuilt from the records by revision, and
// never holding the node's reserved keys; its bytes (keys and values) counted alike when written and rebuilt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { KvStore } from '../../src/storage/kv-store.ts';
import { RESERVED_KEY_PREFIX } from '../../src/storage/kv-record.ts';
import { bytes, tempDir, text } from './helpers.ts';

const keys = (store: KvStore, n = 100) => store.writeOrder!.pastBounds(0, 0, n).map((w) => `${text(w.key)}@${w.revision}`);

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

test('the bytes of keys and values: kept up by writes and deletes, the same when rebuilt; pastBounds takes the oldest until both bounds hold', async (t) => {
  const dir = tempDir(t);
  let store = new KvStore({ env: path.join(dir, 'kv'), group: 'g1', trackWrites: true });
  await store.applyAt(1, (tx) => tx.put(bytes('a'), new Uint8Array(100)));
  await store.applyAt(2, (tx) => tx.put(bytes('bb'), new Uint8Array(10)));
  await store.applyAt(3, (tx) => tx.put(bytes('ccc'), new Uint8Array(1000)));
  await store.applyAt(4, (tx) => tx.put(bytes('a'), new Uint8Array(50)));
  await store.applyAt(5, (tx) => tx.delete(bytes('bb')));
  assert.equal(store.writeOrder!.bytes, 1 + 50 + 3 + 1000);
  assert.equal(store.writeOrder!.size, 2);
  await store.close();
  store = new KvStore({ env: path.join(dir, 'kv'), group: 'g1', trackWrites: true });
  t.after(() => store.close());
  const order = store.writeOrder!;
  assert.equal(order.bytes, 1054, 'rebuilt from the records: the same count');
  const names = (ws: { key: Uint8Array }[]) => ws.map((w) => text(w.key));
  assert.deepEqual(names(order.pastBounds(10, 2000, 100)), [], 'within both bounds');
  assert.deepEqual(names(order.pastBounds(10, 100, 100)), ['ccc'], 'the oldest (ccc, 1,003 bytes) brings it to 51');
  assert.deepEqual(names(order.pastBounds(10, 50, 100)), ['ccc', 'a']);
  assert.deepEqual(names(order.pastBounds(1, 1 << 20, 100)), ['ccc'], 'the key bound alone');
  assert.deepEqual(names(order.pastBounds(0, 0, 1)), ['ccc'], 'at most n');
});
