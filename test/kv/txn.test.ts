// The transaction rules outside any front end: checkTxn (what may reach the log: known parts, operands of
// the right kind, etcd's --max-txn-ops per list, the value bytes) and compareHolds (etcd's compare rules);
// a delete of a range as the state machine applies it.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTxn, compareHolds } from '../../src/kv/txn.ts';
import { encodeCommand } from '../../src/kv/commands.ts';
import { ConcordError } from '../../src/util/errors.ts';
import type { TxnCompare, TxnRequest } from '../../src/kv/types.ts';
import path from 'node:path';
import type { Command, CommandResult } from '../../src/kv/commands.ts';
import { KvStateMachine } from '../../src/kv/state-machine.ts';
import { KvStore, LARGE_VALUE_BYTES } from '../../src/storage/kv-store.ts';
import type { Entry } from '../../src/raft/types.ts';
import { tempDir } from '../storage/helpers.ts';

const b = (s: string) => new TextEncoder().encode(s);
const limits = { maxTxnOps: 3, maxValueBytes: 10 };
const noKeyCheck = () => {};
const req = (r: Partial<TxnRequest>): TxnRequest => ({ compare: [], success: [], failure: [], ...r });
const refused = (r: TxnRequest, code: string, message: RegExp) =>
  assert.throws(() => checkTxn(r, limits, noKeyCheck), (e: unknown) => e instanceof ConcordError && e.code === code && message.test(e.message), JSON.stringify(r, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)));

it('checkTxn: at most maxTxnOps in each list (as etcd counts), values within maxValueBytes, operands of the target\'s kind, known parts only', () => {
  const get = { op: 'get' as const, key: b('k') };
  checkTxn(req({ compare: [{ key: b('k'), target: 'version', result: 'equal', operand: 0 }], success: [get, get, get], failure: [get, get, get] }), limits, noKeyCheck);
  refused(req({ success: [get, get, get, get] }), 'too-large', /4 success ops; the limit is 3 \(--max-txn-ops\)/);
  refused(req({ compare: Array.from({ length: 4 }, () => ({ key: b('k'), target: 'mod' as const, result: 'equal' as const, operand: 1 })) }), 'too-large', /4 compares/);
  refused(req({ success: [{ op: 'put', key: b('k'), value: b('123456') }], failure: [{ op: 'put', key: b('k'), value: b('12345') }] }), 'too-large', /11 bytes of values; the limit is 10/);
  refused(req({ compare: [{ key: b('k'), target: 'value', result: 'equal', operand: b('12345678901') }] }), 'too-large', /11 bytes/);
  refused(req({ compare: [{ key: b('k'), target: 'version', result: 'equal', operand: -1 }] }), 'bad-request', /whole number of 0 or more/);
  refused(req({ compare: [{ key: b('k'), target: 'mod', result: 'equal', operand: 1.5 }] }), 'bad-request', /whole number/);
  refused(req({ compare: [{ key: b('k'), target: 'value', result: 'equal', operand: 3 }] }), 'bad-request', /must be bytes/);
  refused(req({ compare: [{ key: b('k'), target: 'size', result: 'equal', operand: 3 } as unknown as TxnCompare] }), 'bad-request', /unknown target size/);
  refused(req({ compare: [{ key: b('k'), target: 'mod', result: 'about', operand: 3 } as unknown as TxnCompare] }), 'bad-request', /result about/);
  refused(req({ success: [{ op: 'range', key: b('k') } as unknown as TxnRequest['success'][number]] }), 'bad-request', /unknown transaction operation range/);
});

it('the encoder refuses what it could not decode, rather than write it to the log', () => {
  assert.throws(() => encodeCommand({ n: 'n1', s: 1, c: { t: 'txn', ...req({ compare: [{ key: b('k'), target: 'size', result: 'equal', operand: 1 } as unknown as TxnCompare] }) } }), RangeError);
  assert.throws(() => encodeCommand({ n: 'n1', s: 1, c: { t: 'txn', ...req({ compare: [{ key: b('k'), target: 'version', result: 'equal', operand: b('1') }] }) } }), RangeError);
});

it('compareHolds: an absent key has version and revisions 0 and no value; bytes compare in order', () => {
  const rec = { key: b('k'), value: b('m'), createRevision: 3, modRevision: 7, version: 2 };
  const c = (target: TxnCompare['target'], result: TxnCompare['result'], operand: TxnCompare['operand']) => ({ key: b('k'), target, result, operand });
  assert.equal(compareHolds(c('version', 'equal', 0), undefined), true);
  assert.equal(compareHolds(c('create', 'less', 1), undefined), true);
  assert.equal(compareHolds(c('value', 'not-equal', b('x')), undefined), false, 'no value to compare');
  assert.equal(compareHolds(c('value', 'greater', b('a')), rec), true);
  assert.equal(compareHolds(c('value', 'less', b('ma')), rec), true, 'a prefix sorts first');
  assert.equal(compareHolds(c('mod', 'equal', 7), rec), true);
  assert.equal(compareHolds(c('version', 'greater', 2), rec), false);
  assert.equal(compareHolds(c('create', 'not-equal', 3), rec), false);
});

it('a transaction\'s delete of a range: [key, end) or to the last key, in key order at one revision; it sees the batch\'s and its own earlier writes (applied synchronously or not); long keys included', async (t) => {
  const dir = tempDir(t);
  const store = new KvStore({ env: path.join(dir, 'kv'), group: 'g1' });
  t.after(() => store.close());
  const sm = new KvStateMachine(store);
  const long = `a/${'x'.repeat(3000)}`; // stored by its hash: sorts apart from its neighbours in LMDB
  const entry = (index: number, c: Command): Entry => ({ term: 1, index, type: 0, data: encodeCommand({ n: 'n1', s: index, c }) });
  const put = (k: string, v: Uint8Array = b('v')): Command => ({ t: 'put', key: b(k), value: v });
  const del = (key: string, end: string): TxnRequest['success'][number] => ({ op: 'delete', key: b(key), end: b(end) });
  const keys = () => store.range({}).items.map((r) => (r.key.byteLength > 20 ? 'long' : new TextDecoder().decode(r.key)));
  await sm.apply([entry(1, put('a/1')), entry(2, put(long)), entry(3, put('b'))]);
  // One batch: a put, then a transaction that puts one more and deletes [a/, a0): a/1, the long key, a/2 and a/3.
  const out = await sm.apply([entry(4, put('a/2')), entry(5, { t: 'txn', compare: [], success: [{ op: 'put', key: b('a/3'), value: b('v') }, del('a/', 'a0')], failure: [] })]);
  const r5 = out.get(5)?.result as CommandResult;
  assert.deepEqual(r5.ok && r5.txn?.results, [{ op: 'put', revision: 5 }, { op: 'delete', deleted: 4 }]);
  assert.deepEqual(keys(), ['b']);
  const page = store.readHistory(5, 1 << 20);
  const name = (k: Uint8Array) => (k.byteLength > 20 ? 'long' : new TextDecoder().decode(k));
  assert.deepEqual(
    page.revisions[0].changes.map((c) => `${c.kind} ${name(c.key)}`),
    ['delete a/1', 'delete a/2', 'delete long'],
    'one revision, deletes in key order (a/3, created and deleted by the transaction, changed nothing)',
  );
  // A batch holding a large value is applied asynchronously: its earlier puts are not in LMDB yet.
  const big = new Uint8Array(LARGE_VALUE_BYTES);
  const async = await sm.apply([entry(6, put('c/1', big)), entry(7, put('c/2')), entry(8, { t: 'txn', compare: [], success: [del('c/', '')], failure: [] })]);
  const r8 = async.get(8)?.result as CommandResult;
  assert.deepEqual(r8.ok && r8.txn?.results, [{ op: 'delete', deleted: 2 }], 'an empty end: to the last key (b is before c/)');
  assert.deepEqual(keys(), ['b']);
  const none = await sm.apply([entry(9, { t: 'txn', compare: [], success: [del('z', 'a')], failure: [] })]);
  const r9 = none.get(9)?.result as CommandResult;
  assert.deepEqual(r9.ok && r9.txn?.results, [{ op: 'delete', deleted: 0 }], 'an empty range (end before key) deletes nothing');
});
