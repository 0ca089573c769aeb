// Turning request parts into service arguments. Route schemas have already checked the shape of
// query strings and headers; what is left here is what a schema cannot say: byte-exact decoding of
// keys, and the size limits of ../shared/input-checks.ts, which are a 413 (too large) rather than a
// 400 (malformed).

import type { FastifyRequest } from 'fastify';
import { ConcordError } from '../../util/errors.ts';
import type { Consistency, ListOptions } from '../../kv/types.ts';
import { checkKey, listBound } from '../shared/input-checks.ts';
import { DEFAULT_LIST_LIMIT, type ApiLimits } from '../shared/limits.ts';
import { percentDecode, rawQuery } from './bytes.ts';

/**
 * A key from a path parameter. Because rewriteUrl escapes every '%' before routing (see
 * server-options.ts), the router hands us the segment exactly as the client encoded it.
 */
export function keyFromPath(rawSegment: string | undefined, limits: ApiLimits, what = 'key'): Buffer {
  const key = percentDecode(rawSegment ?? '', what);
  checkKey(key, limits, what);
  return key;
}

const parsedQueries = new WeakMap<FastifyRequest, Map<string, string>>();

/**
 * A byte-valued query parameter, decoded from the raw URL: fastify's parsed query has already
 * turned it into a UTF-8 string, which loses bytes that are not UTF-8.
 */
export function queryBytes(request: FastifyRequest, name: string): Buffer | undefined {
  let query = parsedQueries.get(request);
  if (!query) parsedQueries.set(request, (query = rawQuery(request.originalUrl)));
  const raw = query.get(name);
  return raw === undefined ? undefined : percentDecode(raw, `query parameter '${name}'`, true);
}

export function keyFromQuery(request: FastifyRequest, limits: ApiLimits, name = 'key'): Buffer {
  const key = queryBytes(request, name);
  if (key === undefined) throw new ConcordError('bad-request', `query parameter '${name}' is required`);
  checkKey(key, limits, name);
  return key;
}

/** `"42"` or `42` (curl users drop the quotes); the header schema has checked the form. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  return Number(header.replaceAll('"', ''));
}

/** RFC 9110 If-None-Match on a read: `*` or a list of (possibly weak) entity tags. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

export interface ReadQuery {
  consistency?: Consistency;
}

export interface ListQuery extends ReadQuery {
  limit?: string;
  keys_only?: string;
  encoding?: 'utf8' | 'base64';
}

/** A flag in a query: present without a value (`?keys_only`) means true, as in most HTTP APIs. */
export function queryFlag(v: string | undefined): boolean {
  return v === '' || v === 'true' || v === '1';
}

/** The listing a GET /v1/kv-style query asks for (the schema has checked limit and the enums). */
export function listOptions(request: FastifyRequest<{ Querystring: ListQuery }>, limits: ApiLimits): ListOptions {
  const q = request.query;
  const opts: ListOptions = {
    limit: q.limit === undefined ? DEFAULT_LIST_LIMIT : Number(q.limit),
    keysOnly: queryFlag(q.keys_only),
  };
  for (const name of ['prefix', 'start', 'end'] as const) {
    const bytes = listBound(queryBytes(request, name), name, limits);
    if (bytes) opts[name] = bytes;
  }
  if (q.consistency) opts.consistency = q.consistency;
  return opts;
}
