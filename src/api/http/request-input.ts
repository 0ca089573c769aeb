// Turning request parts into service arguments. Route schemas have already checked the shape of
// query strings and headers; what is left here is what a schema cannot say: byte-exact decoding of
// keys and the size limits, which are a 413 (too large) rather than a 400 (malformed).

import type { FastifyRequest } from 'fastify';
import { ConcordError } from '../../kv/errors.ts';
import type { Consistency, ListOptions } from '../../kv/types.ts';
import { percentDecode, rawQuery } from './bytes.ts';
import { DEFAULT_LIST_LIMIT, type HttpLimits } from './limits.ts';

export function checkKey(key: Uint8Array, limits: HttpLimits, what = 'key'): Uint8Array {
  if (key.byteLength === 0) throw new ConcordError('bad-request', `${what} must not be empty`);
  if (key.byteLength > limits.maxKeyBytes) {
    throw new ConcordError('too-large', `${what} is ${key.byteLength} bytes; the limit is ${limits.maxKeyBytes}`);
  }
  return key;
}

export function checkValue(value: Uint8Array, limits: HttpLimits, what = 'value'): Uint8Array {
  if (value.byteLength > limits.maxValueBytes) {
    throw new ConcordError('too-large', `${what} is ${value.byteLength} bytes; the limit is ${limits.maxValueBytes}`);
  }
  return value;
}

/**
 * A key from a path parameter. Because rewriteUrl escapes every '%' before routing (see
 * server-options.ts), the router hands us the segment exactly as the client encoded it.
 */
export function keyFromPath(rawSegment: string | undefined, limits: HttpLimits, what = 'key'): Buffer {
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

export function keyFromQuery(request: FastifyRequest, limits: HttpLimits, name = 'key'): Buffer {
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

/** The listing a GET /v1/kv-style query asks for (the schema has checked limit and the enums). */
export function listOptions(request: FastifyRequest<{ Querystring: ListQuery }>, limits: HttpLimits): ListOptions {
  const q = request.query;
  // Present without a value (`?keys_only`) means true, as in most HTTP APIs.
  const opts: ListOptions = {
    limit: q.limit === undefined ? DEFAULT_LIST_LIMIT : Number(q.limit),
    keysOnly: q.keys_only === '' || q.keys_only === 'true' || q.keys_only === '1',
  };
  for (const name of ['prefix', 'start', 'end'] as const) {
    const bytes = queryBytes(request, name);
    if (bytes === undefined || bytes.byteLength === 0) continue; // empty means unbounded
    // No key is longer than the limit, so a longer bound is a mistake, reported like a long key.
    if (bytes.byteLength > limits.maxKeyBytes) {
      throw new ConcordError('too-large', `${name} is ${bytes.byteLength} bytes; the key limit is ${limits.maxKeyBytes}`);
    }
    opts[name] = bytes;
  }
  if (q.consistency) opts.consistency = q.consistency;
  return opts;
}
