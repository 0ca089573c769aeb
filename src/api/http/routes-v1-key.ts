// PUT | GET | DELETE /v1/kv/{key}: one key, raw bytes in and out. The key is everything after
// /v1/kv/ (slashes included), percent-decoded to bytes.

import type { FastifyInstance } from 'fastify';
import { ConcordError } from '../../util/errors.ts';
import type { PutOptions } from '../../kv/types.ts';
import { checkValue } from '../shared/input-checks.ts';
import { deleteOrNotFound } from '../shared/kv-calls.ts';
import { asBuffer } from './bytes.ts';
import type { HttpApiDeps } from './deps.ts';
import { deriveLimits } from './limits.ts';
import { recordHeaders } from './record-headers.ts';
import { etagMatches, keyFromPath, parseIfMatch, type ReadQuery } from './request-input.ts';
import { deleteResultSchema, errorResponses, ifMatchHeaderSchema, putQuerySchema, readQuerySchema, revisionSchema } from './schemas.ts';
import { getMarked } from './stale-reads.ts';

const EMPTY = Buffer.alloc(0);
/** Routes with no body to speak of: a stray one is refused early rather than read. */
const NO_BODY_LIMIT = 1024;

interface KeyParams {
  '*': string;
}

export async function v1KeyRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const { kv, limits } = deps;

  // The body is the value, whatever its content type: JSON is stored as the bytes that were sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.put<{ Params: KeyParams; Querystring: { ttl?: string; lease?: string }; Headers: { 'if-match'?: string; 'if-none-match'?: string } }>(
    '/v1/kv/*',
    {
      bodyLimit: deriveLimits(limits).rawBodyLimit,
      schema: {
        summary: 'Write a key; the body is the value',
        tags: ['kv'],
        querystring: putQuerySchema,
        headers: {
          type: 'object',
          properties: {
            'if-match': ifMatchHeaderSchema,
            'if-none-match': { type: 'string', enum: ['*'], description: 'Create only: fail with 412 if the key exists' },
          },
        },
        response: { 200: revisionSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const key = keyFromPath(request.params['*'], limits);
      const value = checkValue((request.body as Buffer | undefined) ?? EMPTY, limits);
      const opts: PutOptions = {};
      const ifMatch = parseIfMatch(request.headers['if-match']);
      if (ifMatch !== undefined) opts.ifMatch = ifMatch;
      if (request.headers['if-none-match'] === '*') opts.ifNoneMatch = true;
      if (opts.ifMatch !== undefined && opts.ifNoneMatch) {
        throw new ConcordError('bad-request', 'If-Match and If-None-Match cannot both hold');
      }
      if (request.query.ttl !== undefined) opts.ttlSeconds = Number(request.query.ttl);
      if (request.query.lease !== undefined) opts.lease = Number(request.query.lease);
      const { revision } = await kv.put(key, value, opts);
      void reply.header('etag', `"${revision}"`);
      return { revision };
    },
  );

  app.get<{ Params: KeyParams; Querystring: ReadQuery; Headers: { 'if-none-match'?: string } }>(
    '/v1/kv/*',
    {
      schema: {
        summary: 'Read a key: the raw value, ETag = its modRevision',
        tags: ['kv'],
        querystring: readQuerySchema,
        response: {
          200: {
            description: 'The value; headers ETag ("modRevision"), X-Create-Revision, X-Version, X-Concord-Lease (the lease it is attached to, if any); X-Concord-Stale and X-Concord-Last-Contact on a serializable read while this node knows no leader',
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          304: { description: 'If-None-Match matched the ETag', type: 'null' },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const key = keyFromPath(request.params['*'], limits);
      const record = await getMarked(kv, key, request.query.consistency, reply, false);
      const headers = recordHeaders(record);
      void reply.headers(headers);
      if (etagMatches(request.headers['if-none-match'], headers.etag)) return reply.code(304).send();
      return reply.type('application/octet-stream').send(asBuffer(record.value));
    },
  );

  app.delete<{ Params: KeyParams; Headers: { 'if-match'?: string } }>(
    '/v1/kv/*',
    {
      bodyLimit: NO_BODY_LIMIT,
      schema: {
        summary: 'Delete a key (404 if absent)',
        tags: ['kv'],
        headers: { type: 'object', properties: { 'if-match': ifMatchHeaderSchema } },
        response: { 200: deleteResultSchema, ...errorResponses },
      },
    },
    async (request) => {
      const key = keyFromPath(request.params['*'], limits);
      return deleteOrNotFound(kv, key, parseIfMatch(request.headers['if-match']));
    },
  );
}
