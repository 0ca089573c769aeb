// KV service handlers: request messages become KvService calls with HTTP v1's checks (the shared helpers
// and limits of ../shared), and results become response messages. Watch is watch-handler.ts's.

import { create } from '@bufbuild/protobuf';
import { ConcordError } from '../../util/errors.ts';
import type { BatchOp, Consistency as KvConsistency, KvRecord, KvService, PutOptions, TxnCompare, TxnOp, TxnOpResult } from '../../kv/types.ts';
import { checkBatchValues, checkKey, checkValue, listBound } from '../shared/input-checks.ts';
import { deleteOrNotFound, keyNotFound } from '../shared/kv-calls.ts';
import { DEFAULT_LIST_LIMIT, MAX_BATCH_OPS, MAX_LIST_LIMIT, type ApiLimits } from '../shared/limits.ts';
import {
  BatchResponseSchema,
  Compare_Result,
  Compare_Target,
  Consistency,
  DeleteResponseSchema,
  GetResponseSchema,
  KeyValueSchema,
  ListResponseSchema,
  PutResponseSchema,
  TxnOpResultSchema,
  TxnResponseSchema,
  type Compare,
  type KeyValue,
  type KV,
  type TxnOp as GrpcTxnOp,
} from './gen/concord_pb.ts';
import type { GrpcHandlers, MethodsOf } from './service-def.ts';
import type { Calls } from './status.ts';
import { prefixEnd } from '../../storage/kv-record.ts';
import { watchHandler } from './watch-handler.ts';
import type { WatchHub } from '../../kv/watch-hub.ts';

/** The largest ttl_seconds, as HTTP's ?ttl= (ten digits). */
const MAX_TTL_SECONDS = 9_999_999_999n;
/** The largest if_match, as HTTP's If-Match (sixteen digits). */
const MAX_REVISION = 9_999_999_999_999_999n;

const bad = (message: string): ConcordError => new ConcordError('bad-request', message);

function consistency(c: Consistency): KvConsistency | undefined {
  switch (c) {
    case Consistency.UNSPECIFIED:
      return undefined;
    case Consistency.LINEARIZABLE:
      return 'linearizable';
    case Consistency.SERIALIZABLE:
      return 'serializable';
    default:
      throw bad(`consistency: unknown value ${String(c)} (expected LINEARIZABLE or SERIALIZABLE)`);
  }
}

export function ttlSeconds(v: bigint, what: string): number {
  if (v < 1n || v > MAX_TTL_SECONDS) throw bad(`${what}: expected 1 to ${MAX_TTL_SECONDS}`);
  return Number(v);
}

/** A delete's range end, if it names a range: range_end (a single 0 byte: to the last key), or past the prefix. */
function deletedRange(d: { rangeEnd: Uint8Array; prefix: boolean }, key: Uint8Array, what: string): Uint8Array | undefined {
  if (d.prefix && d.rangeEnd.byteLength > 0) throw bad(`${what}: range_end and prefix cannot both be set`);
  if (d.prefix) return prefixEnd(key) ?? new Uint8Array(0);
  if (d.rangeEnd.byteLength === 0) return undefined;
  if (d.rangeEnd.byteLength === 1 && d.rangeEnd[0] === 0) return new Uint8Array(0);
  return d.rangeEnd;
}

export function leaseId(v: bigint, what: string): number {
  if (v < 1n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`${what}: a lease id is 1 to ${Number.MAX_SAFE_INTEGER}`);
  return Number(v);
}

function ifMatch(v: bigint | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v < 0n || v > MAX_REVISION) throw bad(`if_match: expected a revision from 0 to ${MAX_REVISION}`);
  return Number(v);
}

export function keyValue(r: KvRecord): KeyValue {
  return create(KeyValueSchema, {
    key: r.key,
    value: r.value,
    createRevision: BigInt(r.createRevision),
    modRevision: BigInt(r.modRevision),
    version: BigInt(r.version),
    lease: BigInt(r.lease ?? 0),
  });
}

const TARGETS: Partial<Record<Compare_Target, { target: TxnCompare['target']; operand: NonNullable<Compare['operand']['case']> }>> = {
  [Compare_Target.VALUE]: { target: 'value', operand: 'value' },
  [Compare_Target.VERSION]: { target: 'version', operand: 'version' },
  [Compare_Target.CREATE_REVISION]: { target: 'create', operand: 'createRevision' },
  [Compare_Target.MOD_REVISION]: { target: 'mod', operand: 'modRevision' },
};
const RESULTS: Partial<Record<Compare_Result, TxnCompare['result']>> = {
  [Compare_Result.EQUAL]: 'equal',
  [Compare_Result.NOT_EQUAL]: 'not-equal',
  [Compare_Result.GREATER]: 'greater',
  [Compare_Result.LESS]: 'less',
};

function txnCompare(c: Compare, what: string, limits: ApiLimits): TxnCompare {
  const t = TARGETS[c.target];
  const result = RESULTS[c.result];
  if (!t) throw bad(`${what}.target: expected VALUE, VERSION, CREATE_REVISION or MOD_REVISION`);
  if (!result) throw bad(`${what}.result: expected EQUAL, NOT_EQUAL, GREATER or LESS`);
  if (c.operand.case !== t.operand) throw bad(`${what}: target ${Compare_Target[c.target]} needs its operand in ${t.operand}`);
  const key = checkKey(c.key, limits, `${what}.key`);
  const v = c.operand.value;
  if (typeof v === 'bigint' && (v < 0n || v > MAX_REVISION)) throw bad(`${what}: expected 0 to ${MAX_REVISION}`);
  return { key, target: t.target, result, operand: typeof v === 'bigint' ? Number(v) : v };
}

function txnOp(o: GrpcTxnOp, what: string, limits: ApiLimits): TxnOp {
  switch (o.op.case) {
    case 'get':
      if (o.op.value.consistency === Consistency.SERIALIZABLE) throw bad(`${what}.get: a transaction reads at its own revision (no serializable reads)`);
      return { op: 'get', key: checkKey(o.op.value.key, limits, `${what}.key`) };
    case 'put': {
      const p = o.op.value;
      if (p.ifMatch !== undefined || p.createOnly || p.ttlSeconds !== undefined) throw bad(`${what}.put: if_match, create_only and ttl_seconds do not apply inside a transaction (use compares, or a lease)`);
      const put: TxnOp = { op: 'put', key: checkKey(p.key, limits, `${what}.key`), value: checkValue(p.value, limits, `${what}.value`) };
      return p.lease !== 0n ? { ...put, lease: leaseId(p.lease, `${what}.lease`) } : put;
    }
    case 'delete': {
      const d = o.op.value;
      if (d.ifMatch !== undefined) throw bad(`${what}.delete: if_match does not apply inside a transaction (use compares)`);
      const key = checkKey(d.key, limits, `${what}.key`);
      const end = deletedRange(d, key, `${what}.delete`);
      return end === undefined ? { op: 'delete', key } : { op: 'delete', key, end };
    }
    default:
      throw bad(`${what}: neither get, put nor delete`);
  }
}

function txnResult(r: TxnOpResult, revision: number) {
  switch (r.op) {
    case 'get':
      return create(TxnOpResultSchema, { result: { case: 'get', value: create(GetResponseSchema, r.record ? { kv: keyValue(r.record) } : {}) } });
    case 'put':
      return create(TxnOpResultSchema, { result: { case: 'put', value: create(PutResponseSchema, { revision: BigInt(r.revision) }) } });
    case 'delete':
      return create(TxnOpResultSchema, { result: { case: 'delete', value: create(DeleteResponseSchema, { deleted: BigInt(r.deleted), revision: BigInt(revision) }) } });
  }
}

export function kvHandlers(kv: KvService, limits: ApiLimits, calls: Calls, watch?: WatchHub): GrpcHandlers<MethodsOf<typeof KV>> {
  const { unary } = calls;
  return {
    get: unary(async (req) => {
      const key = checkKey(req.key, limits);
      const c = consistency(req.consistency);
      const record = await kv.get(key, c ? { consistency: c } : undefined);
      const stale = c === 'serializable' ? kv.leaderless() : undefined;
      if (!record) throw keyNotFound();
      return create(GetResponseSchema, {
        kv: keyValue(record),
        stale: stale !== undefined,
        ...(stale?.lastContactMs !== undefined ? { lastContactMs: BigInt(stale.lastContactMs) } : {}),
      });
    }),

    put: unary(async (req) => {
      const key = checkKey(req.key, limits);
      const value = checkValue(req.value, limits);
      const opts: PutOptions = {};
      if (req.lease !== 0n) opts.lease = leaseId(req.lease, 'lease');
      const m = ifMatch(req.ifMatch);
      if (m !== undefined) opts.ifMatch = m;
      if (req.createOnly) opts.ifNoneMatch = true;
      if (m !== undefined && req.createOnly) throw bad('if_match and create_only cannot both hold');
      if (req.ttlSeconds !== undefined) {
        opts.ttlSeconds = ttlSeconds(req.ttlSeconds, 'ttl_seconds');
      }
      const { revision } = await kv.put(key, value, opts);
      return create(PutResponseSchema, { revision: BigInt(revision) });
    }),

    delete: unary(async (req) => {
      const key = checkKey(req.key, limits);
      const end = deletedRange(req, key, 'delete');
      if (end !== undefined) {
        // A range is a transaction of one delete: atomic at one revision.
        if (req.ifMatch !== undefined) throw bad('if_match does not apply to a range (range_end, prefix)');
        const t = await kv.txn({ compare: [], success: [{ op: 'delete', key, end }], failure: [] });
        const done = t.results[0];
        return create(DeleteResponseSchema, { deleted: BigInt(done?.op === 'delete' ? done.deleted : 0), revision: BigInt(t.revision) });
      }
      const r = await deleteOrNotFound(kv, key, ifMatch(req.ifMatch));
      return create(DeleteResponseSchema, { deleted: BigInt(r.deleted), revision: BigInt(r.revision) });
    }),

    list: unary(async (req) => {
      if (req.limit > MAX_LIST_LIMIT) throw bad(`limit: expected 1 to ${MAX_LIST_LIMIT} (0 = ${DEFAULT_LIST_LIMIT})`);
      const c = consistency(req.consistency);
      const prefix = listBound(req.prefix, 'prefix', limits);
      const start = listBound(req.start, 'start', limits);
      const end = listBound(req.end, 'end', limits);
      const { items, more } = await kv.list({
        limit: req.limit === 0 ? DEFAULT_LIST_LIMIT : req.limit,
        keysOnly: req.keysOnly,
        ...(prefix ? { prefix } : {}),
        ...(start ? { start } : {}),
        ...(end ? { end } : {}),
        ...(c ? { consistency: c } : {}),
      });
      return create(ListResponseSchema, { items: items.map(keyValue), more });
    }),

    batch: unary(async (req) => {
      if (req.ops.length === 0 || req.ops.length > MAX_BATCH_OPS) throw bad(`ops: expected 1 to ${MAX_BATCH_OPS} operations`);
      const ops = req.ops.map((o, i): BatchOp => {
        if (o.op.case === 'put') {
          const p = o.op.value;
          const value = checkValue(p.value, limits, `ops[${i}].value`);
          const put: BatchOp = { op: 'put', key: checkKey(p.key, limits, `ops[${i}].key`), value };
          if (p.ttlSeconds !== undefined) put.ttlSeconds = ttlSeconds(p.ttlSeconds, `ops[${i}].ttl_seconds`);
          if (p.lease !== 0n) put.lease = leaseId(p.lease, `ops[${i}].lease`);
          return put;
        }
        if (o.op.case === 'delete') return { op: 'delete', key: checkKey(o.op.value.key, limits, `ops[${i}].key`) };
        throw bad(`ops[${i}]: neither put nor delete`);
      });
      checkBatchValues(ops, limits);
      const { revision } = await kv.batch(ops);
      return create(BatchResponseSchema, { revision: BigInt(revision) });
    }),

    txn: unary(async (req) => {
      const r = await kv.txn({
        compare: req.compare.map((c, i) => txnCompare(c, `compare[${i}]`, limits)),
        success: req.success.map((o, i) => txnOp(o, `success[${i}]`, limits)),
        failure: req.failure.map((o, i) => txnOp(o, `failure[${i}]`, limits)),
      });
      return create(TxnResponseSchema, { succeeded: r.succeeded, revision: BigInt(r.revision), results: r.results.map((x) => txnResult(x, r.revision)) });
    }),
    watch: watchHandler(watch, limits, calls),
  };
}
