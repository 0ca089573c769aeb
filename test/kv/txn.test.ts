// The transaction rules outside any front end: checkTxn (what may reach the log: known parts, operands of
// the right kind, etcd's --max-txn-ops per list, the value bytes) and compareHolds (etcd's compare rules).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTxn, compareHolds } from '../../src/kv/txn.ts';
import { encodeCommand } from '../../src/kv/commands.ts';
import { ConcordError } from '../../src/util/errors.ts';
import type { TxnCompare, TxnRequest } from '../../src/kv/types.ts';

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
