// Transactions as the state machine applies them (etcd's Txn): every compare is checked against the state
// the entry sees, then the ops of the branch that holds run in order, each seeing the writes before it,
// all at the entry's revision. Identical on every replica, like any other command.

import type { KvTx } from '../storage/kv-tx.ts';
import { compareBytes, isLeaseId } from '../storage/kv-record.ts';
import { ConcordError } from '../util/errors.ts';
import type { KvRecord, TxnCompare, TxnOpResult, TxnRequest } from './types.ts';

export const TXN_TARGETS = ['value', 'version', 'create', 'mod'] as const;
export const TXN_RESULTS = ['equal', 'not-equal', 'greater', 'less'] as const;
export const TXN_OPS = ['get', 'put', 'delete'] as const;

/**
 * Refuses a transaction before it is proposed unless every part is well formed (what reaches the log must
 * decode and apply on every replica): known targets, results and ops, a whole number of 0 or more for every
 * target but the value, at most `maxTxnOps` compares and at most that many ops in each branch (etcd's
 * --max-txn-ops), and the values it carries within maxValueBytes together.
 */
export function checkTxn(req: TxnRequest, limits: { maxTxnOps: number; maxValueBytes: number }, checkKey: (key: Uint8Array) => void): void {
  const bad = (m: string) => new ConcordError('bad-request', m);
  for (const [name, list] of [['compares', req.compare], ['success ops', req.success], ['failure ops', req.failure]] as const) {
    if (list.length > limits.maxTxnOps) throw new ConcordError('too-large', `a transaction holds ${list.length} ${name}; the limit is ${limits.maxTxnOps} (--max-txn-ops)`);
  }
  let bytes = 0;
  for (const cmp of req.compare) {
    checkKey(cmp.key);
    if (!TXN_TARGETS.includes(cmp.target) || !TXN_RESULTS.includes(cmp.result)) throw bad(`compare: unknown target ${String(cmp.target)} or result ${String(cmp.result)}`);
    if (cmp.target === 'value') {
      if (!(cmp.operand instanceof Uint8Array)) throw bad('compare on value: the operand must be bytes');
      bytes += cmp.operand.byteLength;
    } else if (!(typeof cmp.operand === 'number' && Number.isSafeInteger(cmp.operand) && cmp.operand >= 0)) {
      throw bad(`compare on ${cmp.target}: expected a whole number of 0 or more`);
    }
  }
  for (const op of [...req.success, ...req.failure]) {
    if (!TXN_OPS.includes(op.op)) throw bad(`unknown transaction operation ${String(op.op)}`);
    checkKey(op.key);
    if (op.op === 'delete' && op.end !== undefined && op.end.byteLength > 0) checkKey(op.end);
    if (op.op === 'put' && op.lease !== undefined && !isLeaseId(op.lease)) throw bad(`lease ${op.lease} is not an integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
    if (op.op === 'put') bytes += op.value.byteLength;
  }
  if (bytes > limits.maxValueBytes) throw new ConcordError('too-large', `a transaction carries ${bytes} bytes of values; the limit is ${limits.maxValueBytes}`);
}

/** Whether `cmp` holds for `record` (undefined = absent: version and revisions 0; a value comparison is false). */
export function compareHolds(cmp: TxnCompare, record: KvRecord | undefined): boolean {
  let order: number;
  if (cmp.target === 'value') {
    if (!record || typeof cmp.operand === 'number') return false;
    order = compareBytes(record.value, cmp.operand);
  } else {
    if (typeof cmp.operand !== 'number') return false;
    const have = !record ? 0 : cmp.target === 'version' ? record.version : cmp.target === 'create' ? record.createRevision : record.modRevision;
    order = Math.sign(have - cmp.operand);
  }
  switch (cmp.result) {
    case 'equal':
      return order === 0;
    case 'not-equal':
      return order !== 0;
    case 'greater':
      return order > 0;
    case 'less':
      return order < 0;
  }
}

/**
 * Runs the transaction; undefined, with nothing written, when the branch that holds puts a key with a lease that
 * does not exist (etcd fails such a transaction whole).
 */
export function applyTxn(tx: KvTx, req: TxnRequest): { succeeded: boolean; results: TxnOpResult[] } | undefined {
  const succeeded = req.compare.every((cmp) => compareHolds(cmp, tx.get(cmp.key)));
  const branch = succeeded ? req.success : req.failure;
  if (branch.some((op) => op.op === 'put' && op.lease !== undefined && !tx.lease(op.lease))) return undefined;
  const results: TxnOpResult[] = [];
  for (const op of branch) {
    switch (op.op) {
      case 'get': {
        // Copied now: a large value's record reads LMDB lazily, and by the time the answer is sent a later
        // entry may have changed the key.
        const record = tx.get(op.key);
        results.push(record ? { op: 'get', record: { ...record } } : { op: 'get' });
        break;
      }
      case 'put':
        tx.put(op.key, op.value, op.lease !== undefined ? { lease: op.lease } : {});
        results.push({ op: 'put', revision: tx.revision });
        break;
      case 'delete': {
        if (op.end === undefined) {
          results.push({ op: 'delete', deleted: tx.delete(op.key) ? 1 : 0 });
          break;
        }
        let deleted = 0;
        for (const key of tx.rangeKeys(op.key, op.end)) if (tx.delete(key)) deleted++;
        results.push({ op: 'delete', deleted });
        break;
      }
    }
  }
  return { succeeded, results };
}

/** Every key a transaction names, compares and both branches (the shards it needs). */
export function txnKeys(req: TxnRequest): Uint8Array[] {
  return [...req.compare.map((c) => c.key), ...req.success.map((o) => o.key), ...req.failure.map((o) => o.key)];
}
