// Leases, etcd's: POST /v1/leases grants one, POST /v1/leases/{id}/keepalive renews it, DELETE /v1/leases/{id}
// revokes it (deleting its keys), GET /v1/leases/{id} tells its time to live (and ?keys=true its keys), and
// GET /v1/leases lists them all.
// PUT /v1/kv/{key}?lease={id} attaches a key (routes-v1-key.ts). Semantics: KvService, kv/types.ts.

import type { FastifyInstance } from 'fastify';
import { leaseMethod, MAX_LEASE_TTL_SECONDS } from '../../kv/lease-ids.ts';
import { checkKey } from '../shared/input-checks.ts';
import type { HttpApiDeps } from './deps.ts';
import { decodeBytes, encodeField, type JsonEncoding } from './kv-json.ts';
import { queryFlag } from './request-input.ts';
import { errorResponses } from './schemas.ts';

const leaseId = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const ttl = { type: 'integer', minimum: 1, maximum: MAX_LEASE_TTL_SECONDS } as const;
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' } } } as const;
const grantSchema = {
  type: 'object',
  required: ['id', 'ttl'],
  properties: { id: leaseId, ttl: { ...ttl, description: 'Seconds the lease runs for from now unless kept alive' } },
} as const;

interface GrantBody {
  ttl: number;
  id?: number;
  key?: string;
  encoding?: JsonEncoding;
}

export async function v1LeaseRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const { kv, limits } = deps;

  app.post<{ Body: GrantBody }>(
    '/v1/leases',
    {
      schema: {
        summary: 'Grant a lease',
        description:
          'A lease lives in one shard: its id modulo the shard count. Keys attached to it must be in that shard. `key` (or a {tag}) puts the lease in ' +
          "that key's shard; `id` picks the id (absent: the server picks one).",
        tags: ['leases'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['ttl'],
          properties: {
            ttl,
            id: leaseId,
            key: { type: 'string', description: 'Put the lease in the shard of this key (UTF-8 text, or base64 when encoding is base64)' },
            encoding: { type: 'string', enum: ['utf8', 'base64'] },
          },
        },
        response: { 200: grantSchema, ...errorResponses },
      },
    },
    async (request) => {
      const b = request.body;
      const key = b.key === undefined ? undefined : checkKey(decodeBytes(b.key, b.encoding ?? 'utf8', 'key'), limits, 'key');
      const g = await leaseMethod(kv, 'grantLease')(b.ttl, { ...(b.id !== undefined ? { id: b.id } : {}), ...(key ? { key } : {}) });
      return { id: g.id, ttl: g.ttlSeconds };
    },
  );

  app.get(
    '/v1/leases',
    {
      schema: {
        summary: 'Every lease, by id, with its time left (etcd\'s LeaseLeases)',
        tags: ['leases'],
        response: {
          200: {
            type: 'object',
            required: ['leases'],
            properties: { leases: { type: 'array', items: { type: 'object', required: ['id', 'ttl', 'granted_ttl'], properties: { id: leaseId, ttl: { type: 'integer' }, granted_ttl: { type: 'integer' } } } } },
          },
          ...errorResponses,
        },
      },
    },
    async () => ({ leases: (await leaseMethod(kv, 'leases')()).map((l) => ({ id: l.id, ttl: l.ttlSeconds, granted_ttl: l.grantedTtlSeconds })) }),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/leases/:id/keepalive',
    { schema: { summary: 'Renew a lease for its TTL from now', tags: ['leases'], params: idParams, response: { 200: grantSchema, ...errorResponses } } },
    async (request) => {
      const g = await leaseMethod(kv, 'keepAliveLease')(Number(request.params.id));
      return { id: g.id, ttl: g.ttlSeconds };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/leases/:id',
    {
      schema: {
        summary: 'Revoke a lease: its keys are deleted, at one revision',
        tags: ['leases'],
        params: idParams,
        response: { 200: { type: 'object', required: ['revision', 'deleted'], properties: { revision: { type: 'integer' }, deleted: { type: 'integer' } } }, ...errorResponses },
      },
    },
    async (request) => {
      return leaseMethod(kv, 'revokeLease')(Number(request.params.id));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { keys?: string; encoding?: JsonEncoding } }>(
    '/v1/leases/:id',
    {
      schema: {
        summary: "A lease's time to live (and with keys=true, its keys in key order)",
        tags: ['leases'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: { keys: { type: 'string', enum: ['', 'true', 'false', '1', '0'] }, encoding: { type: 'string', enum: ['utf8', 'base64'] } },
        },
        response: {
          200: {
            type: 'object',
            required: ['id', 'ttl', 'granted_ttl'],
            properties: {
              id: leaseId,
              ttl: { type: 'integer', description: 'Seconds left, rounded up (0 once due, until the lease is revoked)' },
              granted_ttl: { type: 'integer' },
              keys: { type: 'array', items: { type: 'object', required: ['key'], properties: { key: { type: 'string' }, keyEncoding: { type: 'string', enum: ['base64'] } } } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const withKeys = queryFlag(request.query.keys);
      const info = await leaseMethod(kv, 'leaseTimeToLive')(Number(request.params.id), { keys: withKeys });
      const out: { id: number; ttl: number; granted_ttl: number; keys?: Array<{ key: string; keyEncoding?: 'base64' }> } = { id: info.id, ttl: info.ttlSeconds, granted_ttl: info.grantedTtlSeconds };
      if (withKeys) {
        out.keys = (info.keys ?? []).map((k) => {
          const f = encodeField(k, request.query.encoding ?? 'utf8');
          return f.marked ? { key: f.text, keyEncoding: 'base64' as const } : { key: f.text };
        });
      }
      return out;
    },
  );
}
