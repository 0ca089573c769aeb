// The replicated state machine over a real KvStore. Expiry: a timed entry (a put with a TTL, or a clock
// entry) deletes every record due by its stamp at its own revision, before it runs, so an expired key is
// absent for every operation; two replicas applying the same entries in different batches, one of them
// restarted in between, end identical. Transactions: one entry, compares against the state before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { encodeCommand, type Command, type CommandResult } from '../../src/kv/commands.ts';
import { KvStateMachine } from '../../src/kv/state-machine.ts';
import { KvStore, LARGE_VALUE_BYTES } from '../../src/storage/kv-store.ts';
import { LogClock } from '../../src/storage/log-clock.ts';
import type { Entry } from '../../src/raft/types.ts';
import { bytes, tempDir, text } from '../storage/helpers.ts';

const entry = (index: number, c: Command): Entry => ({ term: 1, index, type: 0, data: encodeCommand({ n: 'n1', s: index, c }) });
const put = (key: string, value: string, more: Partial<Extract<Command, { t: 'put' }>> = {}): Command => ({ t: 'put', key: bytes(key), value: bytes(value), ...more });
const ttl = (ms: number, now: number) => ({ ttl: { ms, now } });
const clock = (now: number): Command => ({ t: 'clock', now });

function open(dir: string): { store: KvStore; sm: KvStateMachine } {
  const store = new KvStore({ env: path.join(dir, 'kv'), group: 'g1' });
  return { store, sm: new KvStateMachine(store) };
}

const listing = (store: KvStore) => store.range({}).items.map((r) => `${text(r.key)}=${text(r.value)}@${r.modRevision} v${r.version} c${r.createRevision}${r.expiresAt !== undefined ? `~${r.expiresAt}` : ''}`);

test('a key is present until a timed entry past its expiry is applied, then absent for reads, create-only, compare-and-swap and delete', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  const results = await sm.apply([entry(1, put('k', 'v', ttl(1000, 10_000))), entry(2, clock(10_999))]);
  assert.equal(store.get(bytes('k'))?.expiresAt, 11_000, 'expiry = the put\'s stamp + its TTL');
  assert.deepEqual(results.get(2)?.result, { ok: true, revision: 2 });
  assert.ok(store.get(bytes('k')), 'not yet: the clock has not reached it');
  await sm.apply([entry(3, clock(11_000))]);
  assert.equal(store.get(bytes('k')), undefined, 'deleted by the clock entry that reached it');
  assert.equal(store.expiries.size, 0);
  const after = await sm.apply([entry(4, { t: 'del', key: bytes('k') }), entry(5, put('k', 'again', { ifMatch: 1 })), entry(6, put('k', 'new', { ifNoneMatch: true }))]);
  assert.deepEqual(after.get(4)?.result, { ok: false, reason: 'not-found', revision: 4 });
  assert.deepEqual(after.get(5)?.result, { ok: false, reason: 'precondition-failed', revision: 5 });
  assert.deepEqual(after.get(6)?.result, { ok: true, revision: 6 });
  assert.deepEqual(listing(store), ['k=new@6 v1 c6'], 'a fresh key, version 1 again');
  assert.equal(store.get(bytes('k'))?.version, 1);
});

test('only a clock entry deletes: a put stamped past another key\'s expiry deletes nothing (a stamp from whichever node took it does not decide)', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  await sm.apply([entry(1, put('lock', 'a', ttl(500, 1000)))]);
  const r = await sm.apply([entry(2, put('lock', 'b', { ifNoneMatch: true, ...ttl(500, 9000) })), entry(3, put('other', 'x', ttl(500, 9000)))]);
  assert.deepEqual(r.get(2)?.result, { ok: false, reason: 'precondition-failed', revision: 2 }, 'still held until a clock entry reaches its expiry');
  assert.ok(store.get(bytes('lock')));
  const after = await sm.apply([entry(4, clock(1500)), entry(5, put('lock', 'c', { ifNoneMatch: true, ...ttl(500, 1600) }))]);
  assert.deepEqual(after.get(5)?.result, { ok: true, revision: 5 }, 'gone at the clock entry: taken');
  assert.deepEqual(listing(store), ['lock=c@5 v1 c5~2100', 'other=x@3 v1 c3~9500']);
});

test('a batch\'s puts with a TTL expire like single puts (stamped once for the batch); its other puts stay', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  const batch: Command = { t: 'batch', ops: [{ t: 'put', key: bytes('s1'), value: bytes('a'), ttl: { ms: 1000, now: 5000 } }, { t: 'put', key: bytes('keep'), value: bytes('b') }, { t: 'put', key: bytes('s2'), value: bytes('c'), ttl: { ms: 3000, now: 5000 } }] };
  await sm.apply([entry(1, batch)]);
  assert.deepEqual(listing(store), ['keep=b@1 v1 c1', 's1=a@1 v1 c1~6000', 's2=c@1 v1 c1~8000']);
  assert.ok(store.clock.now() >= 5000, 'the batch\'s stamp moved the log clock');
  await sm.apply([entry(2, clock(6000))]);
  assert.deepEqual(listing(store), ['keep=b@1 v1 c1', 's2=c@1 v1 c1~8000']);
  await sm.apply([entry(3, clock(8000))]);
  assert.deepEqual(listing(store), ['keep=b@1 v1 c1']);
});

test('keys due at one instant are deleted in key order, so a restarted replica\'s history lists the same changes in the same order', async (t) => {
  const dir = tempDir(t);
  const keys = ['zeta', 'alpha', 'mid', 'beta', 'omega', 'kappa'];
  const batch: Command = { t: 'batch', ops: keys.map((k) => ({ t: 'put' as const, key: bytes(k), value: bytes('v'), ttl: { ms: 100, now: 1000 } })) };
  const live = open(path.join(dir, 'a'));
  const restarted = open(path.join(dir, 'b'));
  await live.sm.apply([entry(1, batch)]);
  await restarted.sm.apply([entry(1, batch)]);
  await restarted.store.close();
  const again = new KvStore({ env: path.join(dir, 'b', 'kv'), group: 'g1' }); // its expiry index rebuilt by a scan
  t.after(async () => {
    await live.store.close();
    await again.close();
  });
  await live.sm.apply([entry(2, clock(1100))]);
  await new KvStateMachine(again).apply([entry(2, clock(1100))]);
  const order = (s: KvStore) => s.readHistory(2, 1 << 20).revisions[0].changes.map((c) => `${c.kind} ${text(c.key)}`);
  assert.deepStrictEqual(order(live.store), [...keys].sort().map((k) => `delete ${k}`));
  assert.deepStrictEqual(order(again), order(live.store));
});

test('a key written again without a TTL, or with a later one, is not deleted by its earlier expiry', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  await sm.apply([entry(1, put('a', '1', ttl(100, 0))), entry(2, put('b', '1', ttl(100, 0))), entry(3, put('a', '2')), entry(4, put('b', '2', ttl(1000, 50)))]);
  await sm.apply([entry(5, clock(500))]);
  assert.deepEqual(listing(store), ['a=2@3 v2 c1', 'b=2@4 v2 c2~1050']);
  await sm.apply([entry(6, clock(1050))]);
  assert.deepEqual(listing(store), ['a=2@3 v2 c1']);
});

test('two replicas applying the same entries — one in a single batch, one entry by entry with a restart between — end identical', async (t) => {
  const log: Entry[] = [];
  let i = 0;
  for (let k = 0; k < 40; k++) {
    const now = 1000 + k * 37;
    log.push(entry(++i, put(`key${k % 13}`, `v${k}`, k % 3 === 0 ? {} : ttl((k % 7) * 60, now))));
    if (k % 5 === 4) log.push(entry(++i, clock(now + 20)));
  }
  log.push(entry(++i, clock(100_000)));
  const a = open(tempDir(t));
  await a.sm.apply(log);
  const dirB = tempDir(t);
  let b = open(dirB);
  const seen: string[][] = [];
  for (const [n, e] of log.entries()) {
    if (n === 25) {
      await b.store.close();
      b = open(dirB);
    }
    await b.sm.apply([e]);
    seen.push(listing(b.store));
  }
  assert.deepEqual(listing(b.store), listing(a.store));
  assert.ok(seen.some((l) => l.some((r) => r.includes('~'))), 'keys with expiries were held on the way');
  assert.ok(listing(a.store).every((r) => !r.includes('~')), 'and all of them expired by the last clock entry');
  await a.store.close();
  await b.store.close();
});

test('the log clock: the newest stamp applied plus the time since; continued from a persisted estimate by this node\'s own elapsed time; before either, the wall clock', async () => {
  const clock = new LogClock();
  assert.equal(clock.persisted(), undefined);
  assert.ok(Math.abs(clock.now() - Date.now()) < 1000);
  clock.observe(5000);
  const at = clock.now();
  assert.ok(at >= 5000 && at < 6000, String(at));
  clock.observe(4000);
  assert.ok(clock.now() >= at, 'an older stamp (another node\'s lagging estimate) does not set it back');
  const [stamp, wall] = clock.persisted()!;
  const restarted = new LogClock();
  restarted.restore(stamp, wall - 60_000); // persisted a minute ago by this node's wall clock
  assert.ok(restarted.now() >= stamp + 60_000 && restarted.now() < stamp + 61_000, 'the downtime counted, not replayed stamps');
  restarted.observe(stamp + 1);
  assert.ok(restarted.now() >= stamp + 60_000, 'replaying an old stamp after a restart does not set it back');
});

test('a transaction is one entry: its compares see the state before it, its ops each see the ones before, and two replicas agree', async (t) => {
  const txnEntries = [
    entry(1, put('a', '1')),
    entry(2, { t: 'txn', compare: [{ key: bytes('a'), target: 'value', result: 'equal', operand: bytes('1') }], success: [{ op: 'put', key: bytes('a'), value: bytes('2') }, { op: 'get', key: bytes('a') }, { op: 'delete', key: bytes('b') }], failure: [] }),
    entry(3, { t: 'txn', compare: [{ key: bytes('a'), target: 'version', result: 'equal', operand: 1 }], success: [{ op: 'put', key: bytes('a'), value: bytes('x') }], failure: [{ op: 'get', key: bytes('a') }, { op: 'put', key: bytes('b'), value: bytes('lost') }] }),
  ];
  const one = open(tempDir(t));
  const two = open(tempDir(t));
  t.after(async () => {
    await one.store.close();
    await two.store.close();
  });
  const r = await one.sm.apply(txnEntries);
  assert.ok(r.size > 0);
  for (const e of txnEntries) await two.sm.apply([e]);
  const two1 = r.get(2)?.result as CommandResult | undefined;
  assert.ok(two1?.ok && two1.txn?.succeeded);
  assert.equal(two1.txn.results[1].op === 'get' && text(two1.txn.results[1].record!.value), '2', 'the get saw the put before it');
  const three = r.get(3)?.result as CommandResult | undefined;
  assert.ok(three?.ok && three.txn && !three.txn.succeeded, 'version is 2 by then: the failure branch ran');
  assert.deepEqual(listing(one.store), ['a=2@2 v2 c1', 'b=lost@3 v1 c3']);
  assert.deepEqual(listing(two.store), listing(one.store));
});

test('a transaction\'s get of a large value answers it as of its own revision, though a later entry of the batch deletes the key', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  const big = 'x'.repeat(LARGE_VALUE_BYTES);
  await sm.apply([entry(1, put('big', big))]);
  const r = await sm.apply([entry(2, { t: 'txn', compare: [], success: [{ op: 'get', key: bytes('big') }], failure: [] }), entry(3, { t: 'del', key: bytes('big') })]);
  const got = (r.get(2)?.result as CommandResult | undefined)?.ok ? (r.get(2)!.result as Extract<CommandResult, { ok: true }>).txn?.results[0] : undefined;
  assert.ok(got?.op === 'get' && got.record);
  assert.equal(got.record.value.byteLength, big.length);
  assert.equal(got.record.modRevision, 1);
});

test('an eviction deletes each named key only if it is still at the revision the leader saw', async (t) => {
  const { store, sm } = open(tempDir(t));
  t.after(() => store.close());
  await sm.apply([entry(1, put('old', '1')), entry(2, put('kept', '1')), entry(3, put('kept', '2'))]);
  const r = await sm.apply([entry(4, { t: 'evict', keys: [{ key: bytes('old'), revision: 1 }, { key: bytes('kept'), revision: 2 }, { key: bytes('gone'), revision: 1 }] })]);
  assert.deepEqual(r.get(4)?.result, { ok: true, revision: 4, deleted: 1 });
  assert.deepEqual(listing(store), ['kept=2@3 v2 c2'], 'written again since the leader looked: kept');
});
