// Leases in the replicated state machine over a real KvStore: a grant and keep-alives set the lease's expiry
// on the log clock (never shortened), keys attach to it and detach when written without it or deleted, and a
// revoke — or the clock entry that passes the expiry — deletes exactly the keys still attached, in key order
// at one revision, then the lease. The lease table survives a restart and a snapshot image (with the keys it
// names), and two replicas applying the same entries in different batches end identical. A new leader's
// promote entry renews every lease; a batch applied asynchronously (large values) sees its own grants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { encodeCommand, decodeCommand, type Command, type CommandResult } from '../../src/kv/commands.ts';
import { KvStateMachine } from '../../src/kv/state-machine.ts';
import { KvStore, LARGE_VALUE_BYTES } from '../../src/storage/kv-store.ts';
import type { Entry } from '../../src/raft/types.ts';
import { readFrames } from '../../src/storage/kv-snapshot-format.ts';
import { bytes, tempDir, text } from '../storage/helpers.ts';

const entry = (index: number, c: Command): Entry => ({ term: 1, index, type: 0, data: encodeCommand({ n: 'n1', s: index, c }) });
const put = (key: string, more: Partial<Extract<Command, { t: 'put' }>> = {}): Command => ({ t: 'put', key: bytes(key), value: bytes(`v-${key}`), ...more });
const grant = (lease: number, ms: number, now: number): Command => ({ t: 'grant', lease, ms, now });
const keepalive = (lease: number, now: number): Command => ({ t: 'keepalive', lease, now });
const clock = (now: number): Command => ({ t: 'clock', now });

function open(dir: string, group = 'g1'): { store: KvStore; sm: KvStateMachine } {
  const store = new KvStore({ env: path.join(dir, 'kv'), group });
  return { store, sm: new KvStateMachine(store) };
}

/** Applies the commands as entries from `first` on, one batch; returns each result by index. */
async function run(sm: KvStateMachine, first: number, ...cs: Command[]) {
  const out = await sm.apply(cs.map((c, i) => entry(first + i, c)));
  return cs.map((_, i) => out.get(first + i)?.result);
}

const keys = (store: KvStore) => store.range({}).items.map((r) => `${text(r.key)}${r.lease !== undefined ? `@L${r.lease}` : ''}`);

test('commands of leases round-trip through their encoding, a put and a batch put with a lease included', () => {
  const cs: Command[] = [
    grant(7, 5000, 123.5),
    keepalive(7, 456),
    { t: 'revoke', lease: 7 },
    { t: 'promote', now: 789 },
    put('k', { lease: 7, ifMatch: 3 }),
    { t: 'batch', ops: [{ t: 'put', key: bytes('a'), value: bytes('1'), lease: 9 }, { t: 'put', key: bytes('b'), value: bytes('2'), ttl: { ms: 1, now: 2 } }, { t: 'del', key: bytes('c') }] },
  ];
  for (const c of cs) assert.deepEqual(decodeCommand(encodeCommand({ n: 'n1', s: 1, c })).c, c);
  assert.throws(() => encodeCommand({ n: 'n1', s: 1, c: { t: 'batch', ops: [{ t: 'put', key: bytes('a'), value: bytes('1'), lease: 9, ttl: { ms: 1, now: 2 } }] } }), /TTL or a lease/);
});

test('a put with a lease that does not exist fails and writes nothing; a granted id cannot be granted again', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  const r = await run(sm, 1, put('k', { lease: 5 }), grant(5, 1000, 0), grant(5, 9000, 0), put('k', { lease: 5 }));
  assert.deepEqual(r[0], { ok: false, reason: 'not-found', revision: 1 });
  assert.deepEqual(r[1], { ok: true, revision: 2, ttlMs: 1000 });
  assert.deepEqual(r[2], { ok: false, reason: 'exists', revision: 3 });
  assert.deepEqual(r[3], { ok: true, revision: 4 });
  assert.deepEqual(store.leases.get(5), { ttlMs: 1000, expiresAt: 1000 }, 'the second grant changed nothing');
  assert.deepEqual(keys(store), ['k@L5']);
  const batch = await run(sm, 5, { t: 'batch', ops: [{ t: 'put', key: bytes('x'), value: bytes('1') }, { t: 'put', key: bytes('y'), value: bytes('2'), lease: 6 }] });
  assert.deepEqual(batch[0], { ok: false, reason: 'not-found', revision: 5 });
  assert.deepEqual(keys(store), ['k@L5'], 'a batch naming a missing lease writes none of its keys');
});

test('a revoke deletes exactly the keys still attached, in key order at its revision, and the lease; keys written without it or deleted since stay out', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  await run(sm, 1, grant(1, 30_000, 0), grant(2, 60_000, 0), put('c', { lease: 1 }), put('a', { lease: 1 }), put('b', { lease: 1 }), put('d', { lease: 1 }), put('e', { lease: 1 }));
  // b: written again without a lease; d: moved to lease 2; e: deleted; f: never attached.
  await run(sm, 8, put('b'), put('d', { lease: 2 }), { t: 'del', key: bytes('e') }, put('f'));
  assert.deepEqual(store.leaseKeys(1).map(text), ['a', 'c']);
  assert.deepEqual(store.leaseKeys(2).map(text), ['d']);
  const [revoked, again] = await run(sm, 12, { t: 'revoke', lease: 1 }, { t: 'revoke', lease: 1 });
  assert.deepEqual(revoked, { ok: true, revision: 12, deleted: 2 });
  assert.deepEqual(again, { ok: false, reason: 'not-found', revision: 13 });
  assert.deepEqual(keys(store), ['b', 'd@L2', 'f']);
  assert.equal(store.leases.get(1), undefined);
  assert.equal(store.nextExpiry(), 60_000, 'the revoked lease\'s expiry brings no clock entry about');
  assert.deepEqual(
    store.readHistory(3, 1 << 20).revisions[0].changes.map((c) => [text(c.key), c.lease]),
    [['c', 1]],
    'the history names the lease a put attached',
  );
  assert.equal(store.readHistory(8, 1 << 20).revisions[0].changes[0].lease, undefined, 'and none for a put without one');
  const page = store.readHistory(12, 1 << 20);
  assert.deepEqual(
    page.revisions.map((r) => [r.revision, r.changes.map((c) => `${c.kind} ${text(c.key)}`)]),
    [[12, ['delete a', 'delete c']]],
    'one revision, its deletes in key order',
  );
});

test('a lease expires at the clock entry whose stamp passes its expiry; a keep-alive moves the expiry to its stamp + TTL and never earlier', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  await run(sm, 1, grant(3, 1000, 10_000), put('k', { lease: 3 }));
  assert.equal(store.nextExpiry(), 11_000);
  await run(sm, 3, keepalive(3, 10_500));
  assert.equal(store.leases.get(3)?.expiresAt, 11_500);
  const [late] = await run(sm, 4, keepalive(3, 10_200));
  assert.deepEqual(late, { ok: true, revision: 4, ttlMs: 1000 });
  assert.equal(store.leases.get(3)?.expiresAt, 11_500, 'a keep-alive stamped earlier (a lagging estimate) does not shorten it');
  await run(sm, 5, clock(11_499));
  assert.deepEqual(keys(store), ['k@L3'], 'not yet');
  await run(sm, 6, clock(11_500));
  assert.deepEqual(keys(store), [], 'the clock entry revoked it');
  assert.equal(store.leases.get(3), undefined);
  assert.equal(store.nextExpiry(), undefined);
  const [gone] = await run(sm, 7, keepalive(3, 11_600));
  assert.deepEqual(gone, { ok: false, reason: 'not-found', revision: 7 }, 'an expired lease cannot be kept alive');
});

test('the leases and the keys they name survive a restart and a snapshot image; two replicas applying in different batches agree', async (t) => {
  const dir = tempDir(t);
  const cs: Command[] = [grant(1, 5000, 1000), grant(2, 9000, 1000), put('a', { lease: 1 }), put('b', { lease: 2 }), put('c', { lease: 1 }), keepalive(1, 2000), put('c'), { t: 'revoke', lease: 2 }];
  const one = open(dir, 'one');
  await run(one.sm, 1, ...cs);
  const two = open(path.join(dir, 'b'), 'two');
  for (let i = 0; i < cs.length; i++) {
    await run(two.sm, i + 1, cs[i]);
    if (i === 3) {
      await two.store.close();
      Object.assign(two, open(path.join(dir, 'b'), 'two'));
    }
  }
  for (const { store } of [one, two]) {
    assert.deepEqual(keys(store), ['a@L1', 'c']);
    assert.deepEqual(store.leases.all(), [[1, { ttlMs: 5000, expiresAt: 7000 }]]);
    assert.deepEqual(store.leaseKeys(1).map(text), ['a']);
  }
  // Both exports: the worker's (Raft snapshots) and the one read on the event loop (backups).
  const image = await one.store.exportSnapshotBytes();
  const streamed = one.store.exportSnapshot();
  const chunks: Uint8Array[] = [];
  for await (const c of streamed) chunks.push(c);
  const stores = [one.store, two.store];
  for (const [name, data] of [['three', [image.data]], ['four', chunks]] as const) {
    const other = open(path.join(dir, name), name);
    stores.push(other.store);
    await other.store.importSnapshot(data, image.appliedIndex);
    assert.deepEqual(other.store.leases.all(), [[1, { ttlMs: 5000, expiresAt: 7000 }]]);
    assert.deepEqual(other.store.leaseKeys(1).map(text), ['a']);
    await run(other.sm, image.appliedIndex + 1, clock(7000));
    assert.deepEqual(keys(other.store), ['c'], 'the imported lease expires and takes its key');
  }
  for (const s of stores) await s.close();
});

test('a promote entry renews every lease to its stamp + TTL, and shortens none', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  // Lease 3 was stamped by a node whose estimate ran ahead: a promote stamped earlier leaves it as it is.
  await run(sm, 1, grant(1, 1000, 10_000), grant(2, 60_000, 10_000), grant(3, 1000, 20_000), put('a', { lease: 1 }));
  const [promoted] = await run(sm, 5, { t: 'promote', now: 10_900 }, clock(11_500));
  assert.deepEqual(promoted, { ok: true, revision: 5 });
  assert.deepEqual(store.leases.all(), [
    [1, { ttlMs: 1000, expiresAt: 11_900 }],
    [2, { ttlMs: 60_000, expiresAt: 70_900 }],
    [3, { ttlMs: 1000, expiresAt: 21_000 }],
  ]);
  assert.deepEqual(keys(store), ['a@L1'], 'the clock entry at 11,500 no longer expires lease 1');
  await run(sm, 7, clock(11_900));
  assert.deepEqual(keys(store), []);
});

test('a batch applied asynchronously (it holds a large value) sees the lease an earlier entry of it granted, and persists the outcome', async (t) => {
  const dir = tempDir(t);
  const { store, sm } = open(dir);
  const big = new Uint8Array(LARGE_VALUE_BYTES);
  const r = await run(sm, 1, grant(9, 5000, 0), { t: 'put', key: bytes('big'), value: big, lease: 9 }, grant(10, 5000, 0), put('kept', { lease: 10 }), { t: 'revoke', lease: 9 }, put('after', { lease: 9 }));
  assert.deepEqual(r.map((x) => (x as CommandResult | undefined)?.ok), [true, true, true, true, true, false]);
  assert.deepEqual(keys(store), ['kept@L10'], 'the revoke in the same batch deleted the large key');
  await store.close();
  const again = open(dir);
  t.after(() => again.store.close());
  assert.deepEqual(keys(again.store), ['kept@L10']);
  assert.deepEqual(again.store.leases.all(), [[10, { ttlMs: 5000, expiresAt: 5000 }]]);
  assert.deepEqual(again.store.leaseKeys(10).map(text), ['kept']);
});

test('without a read cache too, an entry applied asynchronously sees the earlier entries of its batch: a revoke deletes the large key just attached, a delete the key just put', async (t) => {
  const store = new KvStore({ env: path.join(tempDir(t), 'kv'), group: 'g1', cacheBytes: 0 });
  t.after(() => store.close());
  const sm = new KvStateMachine(store);
  const big = new Uint8Array(LARGE_VALUE_BYTES);
  await run(sm, 1, grant(4, 5000, 0));
  const r = await run(sm, 2, { t: 'put', key: bytes('big'), value: big, lease: 4 }, { t: 'revoke', lease: 4 }, put('gone'), { t: 'del', key: bytes('gone') }, put('kept', { ifNoneMatch: true }), put('kept', { ifNoneMatch: true }));
  assert.deepEqual(r.map((x) => (x as CommandResult | undefined)?.ok), [true, true, true, true, true, false]);
  assert.deepEqual((r[1] as CommandResult & { deleted?: number }).deleted, 1);
  assert.deepEqual(keys(store), ['kept']);
});

test('an image is written in format 4 only when the store holds leases, else in format 3, which nodes of the version before leases read', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  const version = async () => {
    const image = await store.exportSnapshotBytes();
    for await (const frame of readFrames([image.data])) return 'version' in frame ? frame.version : undefined;
  };
  await run(sm, 1, put('k'));
  assert.equal(await version(), 3);
  await run(sm, 2, grant(1, 5000, 0));
  assert.equal(await version(), 4);
  await run(sm, 3, { t: 'revoke', lease: 1 });
  assert.equal(await version(), 3);
});

test('a transaction\'s put attaches its key to a lease; a branch naming a lease that does not exist fails whole, writing nothing', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  const txn = (lease: number): Command => ({ t: 'txn', compare: [], success: [{ op: 'put', key: bytes('t1'), value: bytes('v') }, { op: 'put', key: bytes('t2'), value: bytes('v'), lease }], failure: [] });
  const r = await run(sm, 1, grant(8, 5000, 0), txn(8), txn(9));
  assert.deepEqual((r[1] as CommandResult & { txn?: unknown }).ok, true);
  assert.deepEqual(r[2], { ok: false, reason: 'not-found', revision: 3 });
  assert.deepEqual(keys(store), ['t1', 't2@L8'], 'the failed transaction wrote neither key again');
  assert.equal(store.get(bytes('t1'))?.modRevision, 2);
  assert.deepEqual(decodeCommand(encodeCommand({ n: 'n1', s: 1, c: txn(8) })).c, txn(8));
});
