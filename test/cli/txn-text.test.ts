// etcdctl's transaction text as `concord txn` reads it, and the answer as it prints it.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { formatTxnText, parseTxnText } from '../../src/cli/txn-text.ts';
import { UsageError } from '../../src/cli/errors.ts';

it('compares, success and failure requests, separated by blank lines, with every target and operator and quoted words', () => {
  const req = parseTxnText(['mod("key1") > "0"', 'val("k 2") = "a \\"quoted\\" value"', 'ver("k") != "3"', 'c("k") < "10"', '', 'put key1 "overwrote key1"', 'get "k 2"', '', 'del key1', ''].join('\n'));
  assert.deepEqual(req, {
    compare: [
      { key: 'key1', target: 'modRevision', result: '>', operand: 0 },
      { key: 'k 2', target: 'value', result: '=', operand: 'a "quoted" value' },
      { key: 'k', target: 'version', result: '!=', operand: 3 },
      { key: 'k', target: 'createRevision', result: '<', operand: 10 },
    ],
    success: [{ op: 'put', key: 'key1', value: 'overwrote key1' }, { op: 'get', key: 'k 2' }],
    failure: [{ op: 'delete', key: 'key1' }],
  });
  assert.deepEqual(parseTxnText('\nput a b\n'), { compare: [], success: [{ op: 'put', key: 'a', value: 'b' }], failure: [] }, 'no compares: success runs');
  assert.deepEqual(parseTxnText('\ndel a c\ndel --prefix "p/"\ndelete k ""\n').success, [
    { op: 'delete', key: 'a', end: 'c' },
    { op: 'delete', key: 'p/', prefix: true },
    { op: 'delete', key: 'k', end: '' },
  ], 'ranges: del KEY END (etcdctl\'s), del --prefix KEY, and "" for to the last key');
  assert.deepEqual(parseTxnText('\nput --lease=42 k v\n').success, [{ op: 'put', key: 'k', value: 'v', lease: 42 }], 'put --lease=ID KEY VALUE');
});

it('mistakes are usage errors that quote the line', () => {
  for (const [text, why] of [
    ['size("k") = "1"', /target size is not one of/],
    ['mod(k) > "0"', /expected TARGET\("KEY"\) OP "OPERAND"/],
    ['mod("k") > "x"', /compares with a whole number/],
    ['\nput k', /put takes a key and a value/],
    ['\nput k a b', /put takes a key and a value/],
    ['\nget a b', /get takes one key/],
    ['\nrange a', /range is not put, get or del/],
    ['\nget --prefix a', /--prefix applies to del only/],
    ['\ndel --prefix a b', /del takes a key and an end of its range, or --prefix and a key/],
    ['\ndel a b c', /del takes a key and an end of its range/],
    ['\nget --lease=4 k', /--lease applies to put only/],
    ['\nput --lease=x k v', /--lease: expected a lease id/],
    ['\nput --lease=0 k v', /--lease: expected a lease id/],
    ['\nput k "unterminated', /put takes a key and a value|not a well-formed/],
  ] as const) {
    assert.throws(() => parseTxnText(text), (e: unknown) => e instanceof UsageError && why.test(e.message), text);
  }
});

it('the answer as etcdctl prints it: SUCCESS or FAILURE, then each request\'s answer after a blank line', () => {
  const kv = { key: Buffer.from('k'), value: Buffer.from('v'), createRevision: 1, modRevision: 2, version: 2, stale: false };
  assert.equal(formatTxnText({ succeeded: true, revision: 5, results: [{ op: 'put', revision: 5 }, { op: 'get', kv }, { op: 'delete', deleted: 1 }] }), 'SUCCESS\n\nOK\n\nk\nv\n\n1\n');
  assert.equal(formatTxnText({ succeeded: false, revision: 5, results: [] }), 'FAILURE\n');
});
