// POST /v1/txn: etcd's transaction in JSON. Every compare is checked, then the `success` ops run if all
// hold, else the `failure` ops — atomically, at one revision, within one shard.
//
//   {"compare": [{"key": "lock", "target": "version", "result": "equal", "version": 0}],
//    "success": [{"op": "put", "key": "lock", "value": "me"}],
//    "failure": [{"op": "get", "key": "lock"}]}
//   → {"succeeded": false, "revision": 42, "results": [{"op": "get", "kv": {"key": "lock", "value": "you", …}}]}
//
// A compare names its target and gives the operand in the field of that name: "value" (text, or base64 with
// "encoding": "base64"), "version", "create_revision" or "mod_revision" (whole numbers); result is "equal",
// "not_equal", "greater" or "less" (or =, !=, >, <). An absent key has version and revisions 0 and no value.

import type { FastifyInstance } from 'fastify';
import type { KvRecord, TxnCompare, TxnOp, TxnOpResult } from '../../kv/types.ts';
import { ConcordError } from '../../util/errors.ts';
import { checkKey, checkValue } from '../shared/input-checks.ts';
import type { HttpApiDeps } from './deps.ts';
import { decodeBytes, listItems, type JsonEncoding } from './kv-json.ts';
import { prefixEnd } from '../../storage/kv-record.ts';
import { errorResponses } from './schemas.ts';

const TARGETS = { value: 'value', version: 'version', create_revision: 'create', mod_revision: 'mod' } as const;
const RESULTS = { equal: 'equal', '=': 'equal', not_equal: 'not-equal', '!=': 'not-equal', greater: 'greater', '>': 'greater', less: 'less', '<': 'less' } as const;
/** Past any --max-txn-ops a node would be given; the service's own limit is the one that applies. */
const MAX_JSON_OPS = 100_000;

type JsonCompare = { key: string; target: keyof typeof TARGETS; result: keyof typeof RESULTS } & Partial<Record<'value', string> & Record<'version' | 'create_revision' | 'mod_revision', number>>;
type JsonOp = { op: 'get'; key: string } | { op: 'delete'; key: string; range_end?: string; prefix?: boolean } | { op: 'put'; key: string; value: string; lease?: number };

interface TxnBody {
  encoding?: JsonEncoding;
  compare?: JsonCompare[];
  success?: JsonOp[];
  failure?: JsonOp[];
}

const text = { type: 'string' } as const;
const whole = { type: 'integer', minimum: 0 } as const;
const opSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['op', 'key'],
  properties: {
    op: { type: 'string', enum: ['get', 'put', 'delete'] },
    key: text,
    value: text,
    range_end: { type: 'string', description: 'delete: every key from key up to this one, exclusive ("" or "\\u0000": to the last key) — etcd\'s DeleteRange' },
    prefix: { type: 'boolean', description: 'delete: every key starting with key' },
    lease: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'put: attach the key to this lease (a lease of the transaction\'s shard)' },
  },
} as const;
const bodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    encoding: { type: 'string', enum: ['utf8', 'base64'] },
    compare: {
      type: 'array',
      maxItems: MAX_JSON_OPS,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'target', 'result'],
        properties: { key: text, target: { type: 'string', enum: Object.keys(TARGETS) }, result: { type: 'string', enum: Object.keys(RESULTS) }, value: text, version: whole, create_revision: whole, mod_revision: whole },
      },
    },
    success: { type: 'array', maxItems: MAX_JSON_OPS, items: opSchema },
    failure: { type: 'array', maxItems: MAX_JSON_OPS, items: opSchema },
  },
} as const;

export async function v1TxnRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const { kv, limits } = deps;
  app.post<{ Body: TxnBody }>(
    '/v1/txn',
    { schema: { summary: 'Compare, then put, get or delete atomically at one revision (etcd\'s Txn), within one shard', tags: ['kv'], body: bodySchema, response: errorResponses } },
    async (request) => {
      const encoding = request.body.encoding ?? 'utf8';
      const bytes = (s: string, what: string) => decodeBytes(s, encoding, what);
      const compare = (request.body.compare ?? []).map((c, i): TxnCompare => {
        const what = `compare[${i}]`;
        const key = checkKey(bytes(c.key, `${what}.key`), limits, `${what}.key`);
        const operand = c[c.target];
        if (operand === undefined) throw new ConcordError('bad-request', `${what}: target "${c.target}" needs its operand in "${c.target}"`);
        return { key, target: TARGETS[c.target], result: RESULTS[c.result], operand: typeof operand === 'string' ? bytes(operand, `${what}.value`) : operand };
      });
      const ops = (list: JsonOp[] | undefined, branch: string) =>
        (list ?? []).map((o, i): TxnOp => {
          const what = `${branch}[${i}]`;
          const key = checkKey(bytes(o.key, `${what}.key`), limits, `${what}.key`);
          const ranged = ('range_end' in o && o.range_end !== undefined) || ('prefix' in o && o.prefix === true);
          if (ranged && o.op !== 'delete') throw new ConcordError('bad-request', `${what}: range_end and prefix apply to a delete only`);
          if ('lease' in o && o.lease !== undefined && o.op !== 'put') throw new ConcordError('bad-request', `${what}: lease applies to a put only`);
          if (o.op === 'delete' && ranged) return { op: 'delete', key, end: deletedRange(o, key, bytes, what) };
          if (o.op !== 'put') return { op: o.op, key };
          if (o.value === undefined) throw new ConcordError('bad-request', `${what}: a put needs a value`);
          return { op: 'put', key, value: checkValue(bytes(o.value, `${what}.value`), limits, `${what}.value`), ...(o.lease !== undefined ? { lease: o.lease } : {}) };
        });
      const r = await kv.txn({ compare, success: ops(request.body.success, 'success'), failure: ops(request.body.failure, 'failure') });
      return { succeeded: r.succeeded, revision: r.revision, results: r.results.map((x) => jsonResult(x, encoding)) };
    },
  );
}

/** The end of a delete's range: range_end's bytes, or for a prefix the first key past it (empty: to the last key). */
function deletedRange(o: { range_end?: string; prefix?: boolean; key: string }, key: Uint8Array, bytes: (s: string, what: string) => Uint8Array, what: string): Uint8Array {
  if (o.range_end !== undefined && o.prefix === true) throw new ConcordError('bad-request', `${what}: give range_end or prefix, not both`);
  if (o.range_end !== undefined) {
    const end = bytes(o.range_end, `${what}.range_end`);
    // A single 0 byte: to the last key, etcd's convention (taken literally, [key, "\0") is always empty).
    return end.byteLength === 1 && end[0] === 0 ? new Uint8Array(0) : end;
  }
  return prefixEnd(key) ?? new Uint8Array(0);
}

function jsonResult(r: TxnOpResult, encoding: JsonEncoding): unknown {
  if (r.op !== 'get') return r;
  return { op: 'get', kv: r.record ? jsonRecord(r.record, encoding) : null };
}

function jsonRecord(r: KvRecord, encoding: JsonEncoding): unknown {
  const [item] = listItems([r], encoding, encoding, false);
  return { ...item, create_revision: r.createRevision, version: r.version };
}
