// Seed 003's REST API under /api/v1, as its README calls it with curl. Its values travel as base64
// in JSON (PUT body {"key","value":"<base64>"}); its keys are text. The README shows no responses,
// so answers follow v1: reads and listings use v1's item shape {"key","value","revision"} with the
// value in base64, cluster routes answer the v1 cluster status. Reads take ?consistency= as /v1/kv
// does, and may fall back to stale local reads when the node allows it (stale-reads.ts).

import type { FastifyInstance } from 'fastify';
import { ConcordError } from '../../util/errors.ts';
import { checkValue } from '../shared/input-checks.ts';
import { deleteOrNotFound } from '../shared/kv-calls.ts';
import type { ApiLimits } from '../shared/limits.ts';
import { addNode } from '../shared/membership.ts';
import { base64Bytes, textBytes, toBase64, utf8Text } from './bytes.ts';
import type { HttpApiDeps } from './deps.ts';
import { listItems } from './kv-json.ts';
import { keyFromPath, listOptions, type ListQuery, type ReadQuery } from './request-input.ts';
import { clusterResponses, nodeIdFromPath, nodeIdParamsSchema } from './routes-cluster.ts';
import { healthHandler, healthRouteSchema, metricsHandler, metricsRouteSchema } from './routes-ops.ts';
import { deleteResultSchema, errorResponses, listQuerySchema, listResultSchema, nodeIdSchema, raftAddressSchema, readQuerySchema, revisionSchema } from './schemas.ts';
import { getMarked, listMarked } from './stale-reads.ts';

const TEXT_KEYS = '; seed 003 keys are text, use /v1/kv for binary keys';
const TAGS = ['seed 003'];

const entrySchema = {
  type: 'object',
  required: ['key', 'value', 'revision'],
  properties: { key: { type: 'string' }, value: { type: 'string', description: 'base64' }, revision: { type: 'integer' } },
} as const;

/** Seed 003 keys are text: the path segment must decode to UTF-8. */
function textKey(raw: string, limits: ApiLimits): Buffer {
  const key = keyFromPath(raw, limits);
  utf8Text(key, 'key', TEXT_KEYS);
  return key;
}

export async function seed003Routes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const { kv, cluster, limits } = deps;
  const fallback = deps.staleSeedReads ?? false;

  app.put<{ Params: { '*': string }; Body: { key?: string; value: string } }>(
    '/api/v1/kv/*',
    {
      schema: {
        summary: 'Seed 003: store a key; the value is base64',
        tags: TAGS,
        body: {
          type: 'object',
          required: ['value'],
          properties: { key: { type: 'string', description: 'Optional; must equal the key in the path' }, value: { type: 'string', description: 'base64' } },
        },
        response: { 200: revisionSchema, ...errorResponses },
      },
    },
    async (request) => {
      const key = textKey(request.params['*'], limits);
      if (request.body.key !== undefined && !textBytes(request.body.key, 'key').equals(key)) {
        throw new ConcordError('bad-request', 'the key in the body differs from the key in the path');
      }
      const value = checkValue(base64Bytes(request.body.value, 'value'), limits);
      const { revision } = await kv.put(key, value);
      return { revision };
    },
  );

  app.get<{ Params: { '*': string }; Querystring: ReadQuery }>(
    '/api/v1/kv/*',
    { schema: { summary: 'Seed 003: read a key', tags: TAGS, querystring: readQuerySchema, response: { 200: entrySchema, ...errorResponses } } },
    async (request, reply) => {
      const key = textKey(request.params['*'], limits);
      const record = await getMarked(kv, key, request.query.consistency, reply, fallback);
      return { key: key.toString('utf8'), value: toBase64(record.value), revision: record.modRevision };
    },
  );

  app.delete<{ Params: { '*': string } }>(
    '/api/v1/kv/*',
    { bodyLimit: 1024, schema: { summary: 'Seed 003: delete a key', tags: TAGS, response: { 200: deleteResultSchema, ...errorResponses } } },
    (request) => deleteOrNotFound(kv, textKey(request.params['*'], limits)),
  );

  app.get<{ Querystring: ListQuery }>(
    '/api/v1/kv',
    {
      schema: {
        summary: 'Seed 003: list keys (text) with their values (base64); encoding=base64 makes keys base64 too',
        tags: TAGS,
        querystring: listQuerySchema,
        response: { 200: listResultSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const opts = listOptions(request, limits);
      const { items, more } = await listMarked(kv, opts, reply, fallback);
      return { items: listItems(items, request.query.encoding ?? 'utf8', 'base64', opts.keysOnly ?? false), more };
    },
  );

  app.get('/api/v1/cluster/status', { schema: { summary: 'Seed 003: cluster status (as GET /v1/cluster)', tags: TAGS, response: clusterResponses } }, () =>
    cluster.status(),
  );

  app.post<{ Body: { node_id: string; address: string } }>(
    '/api/v1/cluster/nodes',
    {
      schema: {
        summary: 'Seed 003: add a member',
        tags: TAGS,
        body: {
          type: 'object',
          required: ['node_id', 'address'],
          properties: { node_id: nodeIdSchema, address: raftAddressSchema },
        },
        response: clusterResponses,
      },
    },
    (request) => addNode(cluster, request.body.node_id, request.body.address),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/cluster/nodes/:id',
    { schema: { summary: 'Seed 003: remove a member', tags: TAGS, params: nodeIdParamsSchema, response: clusterResponses } },
    (request) => cluster.removeNode(nodeIdFromPath(request.params.id)),
  );

  app.get('/api/v1/health', { schema: { ...healthRouteSchema, tags: TAGS } }, healthHandler(deps));
  app.get('/api/v1/metrics', { schema: { ...metricsRouteSchema, tags: TAGS } }, metricsHandler(deps));
}
