// GET /v1/kv (ordered listing) and POST /v1/batch (atomic multi-key write).

import type { FastifyInstance } from 'fastify';
import type { BatchOp } from '../../kv/types.ts';
import { checkBatchValues, checkKey, checkValue } from '../shared/input-checks.ts';
import type { HttpApiDeps } from './deps.ts';
import { decodeBytes, listItems, type JsonEncoding } from './kv-json.ts';
import { listOptions, type ListQuery } from './request-input.ts';
import { batchBodySchema, errorResponses, listQuerySchema, listResultSchema, revisionSchema } from './schemas.ts';

interface BatchBody {
  encoding?: JsonEncoding;
  ops: Array<{ op: 'put'; key: string; value: string; ttl?: number; lease?: number } | { op: 'delete'; key: string }>;
}

export async function v1ListBatchRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const { kv, limits } = deps;

  app.get<{ Querystring: ListQuery }>(
    '/v1/kv',
    {
      schema: {
        summary: 'List keys in byte order',
        description:
          'Keys and values are UTF-8 text unless encoding=base64. In a text listing, a key or value that is not valid UTF-8 is given in base64 ' +
          'and marked by keyEncoding / valueEncoding = "base64" on its item; other items are unchanged. A page holds at most `limit` items ' +
          'and 64 MiB of keys and values (at least one item).',
        tags: ['kv'],
        querystring: listQuerySchema,
        response: { 200: listResultSchema, ...errorResponses },
      },
    },
    async (request) => {
      const opts = listOptions(request, limits);
      const encoding = request.query.encoding ?? 'utf8';
      const { items, more } = await kv.list(opts);
      return { items: listItems(items, encoding, encoding, opts.keysOnly ?? false), more };
    },
  );

  app.post<{ Body: BatchBody }>(
    '/v1/batch',
    {
      schema: {
        summary: 'Apply puts and deletes atomically, at one revision',
        tags: ['kv'],
        body: batchBodySchema,
        response: { 200: revisionSchema, ...errorResponses },
      },
    },
    async (request) => {
      const encoding = request.body.encoding ?? 'utf8';
      const ops = request.body.ops.map((op, i): BatchOp => {
        const key = checkKey(decodeBytes(op.key, encoding, `ops[${i}].key`), limits, `ops[${i}].key`);
        if (op.op === 'delete') return { op: 'delete', key };
        const value = checkValue(decodeBytes(op.value, encoding, `ops[${i}].value`), limits, `ops[${i}].value`);
        return { op: 'put', key, value, ...(op.ttl !== undefined ? { ttlSeconds: op.ttl } : {}), ...(op.lease !== undefined ? { lease: op.lease } : {}) };
      });
      checkBatchValues(ops, limits);
      const { revision } = await kv.batch(ops);
      return { revision };
    },
  );
}
