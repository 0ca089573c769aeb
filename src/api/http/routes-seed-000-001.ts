// The two gossip seeds' routes, as their READMEs call them with curl:
//   seed 000: POST /add {"key","value"} · GET /query?key= · DELETE /delete with body {"key"}
//   seed 001: PUT /put {"key","value"} · GET /get?key= · GET /get/key={key} · DELETE /delete?key=
//             · POST /set/{key}/{value}
// They share DELETE /delete (body for 000, query for 001), hence one module. Neither README shows a
// response, so answers follow v1: writes {"revision"}, deletes {"deleted","revision"}, reads
// {"key","value","revision"}, absent keys 404. Both seeds stored strings, so these routes speak
// UTF-8 text; binary keys and values go through /v1/kv. Reads take ?consistency= as /v1/kv does, and
// may fall back to stale local reads when the node allows it (stale-reads.ts).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConcordError } from '../../util/errors.ts';
import type { KvService } from '../../kv/types.ts';
import { checkKey, checkValue } from '../shared/input-checks.ts';
import { deleteOrNotFound } from '../shared/kv-calls.ts';
import type { ApiLimits } from '../shared/limits.ts';
import { percentDecode, textBytes, utf8Text } from './bytes.ts';
import type { HttpApiDeps } from './deps.ts';
import { keyFromPath, keyFromQuery, queryBytes, type ReadQuery } from './request-input.ts';
import { deleteResultSchema, errorResponses, keyValueBodySchema, readQuerySchema, revisionSchema } from './schemas.ts';
import { getMarked } from './stale-reads.ts';

const TEXT_ONLY = '; these routes store text, use /v1/kv for bytes';

const textEntrySchema = {
  type: 'object',
  required: ['key', 'value', 'revision'],
  properties: { key: { type: 'string' }, value: { type: 'string' }, revision: { type: 'integer' } },
} as const;
const keyQuerySchema = { type: 'object', required: ['key'], properties: { key: { type: 'string' }, ...readQuerySchema.properties } } as const;

const readResponses = { 200: textEntrySchema, ...errorResponses };
const writeResponses = { 200: revisionSchema, ...errorResponses };
const deleteResponses = { 200: deleteResultSchema, ...errorResponses };

/** Key and value from a JSON body, as text. */
function jsonEntry(body: { key: string; value: string }, limits: ApiLimits): { key: Buffer; value: Buffer } {
  const key = textBytes(body.key, 'key');
  checkKey(key, limits);
  const value = textBytes(body.value, 'value');
  checkValue(value, limits);
  return { key, value };
}

async function putText(kv: KvService, key: Uint8Array, value: Uint8Array): Promise<{ revision: number }> {
  const { revision } = await kv.put(key, value);
  return { revision };
}

/** A read as v1 makes it (?consistency=), with the stale fallback when the node has it on (stale-reads.ts). */
async function getText(
  deps: HttpApiDeps,
  key: Buffer,
  request: FastifyRequest<{ Querystring: ReadQuery }>,
  reply: FastifyReply,
): Promise<{ key: string; value: string; revision: number }> {
  const keyText = utf8Text(key, 'key', TEXT_ONLY);
  const record = await getMarked(deps.kv, key, request.query.consistency, reply, deps.staleSeedReads ?? false);
  return { key: keyText, value: utf8Text(record.value, 'value', TEXT_ONLY), revision: record.modRevision };
}

export async function seed000And001Routes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const { kv, limits } = deps;

  // ---- seed 000 ----
  app.post<{ Body: { key: string; value: string } }>(
    '/add',
    { schema: { summary: 'Seed 000: store a pair', tags: ['seed 000'], body: keyValueBodySchema, response: writeResponses } },
    (request) => {
      const { key, value } = jsonEntry(request.body, limits);
      return putText(kv, key, value);
    },
  );

  app.get<{ Querystring: ReadQuery }>(
    '/query',
    { schema: { summary: 'Seed 000: read a key', tags: ['seed 000'], querystring: keyQuerySchema, response: readResponses } },
    (request, reply) => getText(deps, keyFromQuery(request, limits), request, reply),
  );

  app.delete(
    '/delete',
    {
      schema: {
        summary: 'Seeds 000 and 001: delete a key named by a JSON body {"key"} (000) or ?key= (001)',
        tags: ['seed 000', 'seed 001'],
        querystring: { type: 'object', properties: { key: { type: 'string' } } },
        response: deleteResponses,
      },
    },
    // The body is optional here, which a body schema cannot say: it is checked by hand.
    (request) => deleteOrNotFound(kv, deleteKey(queryBytes(request, 'key'), request.body, limits)),
  );

  // ---- seed 001 ----
  app.put<{ Body: { key: string; value: string } }>(
    '/put',
    { schema: { summary: 'Seed 001: store a pair', tags: ['seed 001'], body: keyValueBodySchema, response: writeResponses } },
    (request) => {
      const { key, value } = jsonEntry(request.body, limits);
      return putText(kv, key, value);
    },
  );

  app.get<{ Querystring: ReadQuery }>(
    '/get',
    { schema: { summary: 'Seed 001: read a key', tags: ['seed 001'], querystring: keyQuerySchema, response: readResponses } },
    (request, reply) => getText(deps, keyFromQuery(request, limits), request, reply),
  );

  // The seed's README spells the query as a path segment, literally /get/key=your-key.
  app.get<{ Params: { key: string }; Querystring: ReadQuery }>(
    '/get/key=:key',
    {
      schema: {
        summary: 'Seed 001: read a key (query spelled as a path)',
        tags: ['seed 001'],
        params: { type: 'object', properties: { key: { type: 'string' } } },
        querystring: readQuerySchema,
        response: readResponses,
      },
    },
    (request, reply) => getText(deps, keyFromPath(request.params.key, limits), request, reply),
  );

  app.post<{ Params: { key: string; value: string } }>(
    '/set/:key/:value',
    {
      bodyLimit: 1024,
      schema: {
        summary: 'Seed 001: store a pair given in the path',
        tags: ['seed 001'],
        params: { type: 'object', properties: { key: { type: 'string' }, value: { type: 'string' } } },
        response: writeResponses,
      },
    },
    (request) => {
      const key = keyFromPath(request.params.key, limits);
      const value = checkValue(percentDecode(request.params.value, 'value'), limits);
      utf8Text(key, 'key', TEXT_ONLY);
      utf8Text(value, 'value', TEXT_ONLY);
      return putText(kv, key, value);
    },
  );
}

/** DELETE /delete's key: from ?key= (seed 001) or a JSON body {"key"} (seed 000); both must agree. */
function deleteKey(fromQuery: Buffer | undefined, body: unknown, limits: ApiLimits): Buffer {
  let fromBody: Buffer | undefined;
  if (body !== undefined && body !== null) {
    const key = (body as { key?: unknown }).key;
    if (typeof body !== 'object' || Array.isArray(body) || typeof key !== 'string') {
      throw new ConcordError('bad-request', 'body must be a JSON object {"key": "<string>"}');
    }
    fromBody = textBytes(key, 'key');
  }
  if (fromQuery && fromBody && !fromQuery.equals(fromBody)) {
    throw new ConcordError('bad-request', 'the key in the query and the key in the body differ');
  }
  const key = fromQuery ?? fromBody;
  if (!key) throw new ConcordError('bad-request', 'name the key as ?key= or in a JSON body {"key": "…"}');
  checkKey(key, limits);
  utf8Text(key, 'key', TEXT_ONLY);
  return key;
}
