// PUT /v1/kv/{key} without fastify's per-request machinery, as fast-get.ts does for reads: on the
// leader under puts, fastify's routing, hooks, schema checks, body parser and reply measured ~16% of
// the process's CPU (perf, 64 connections), more than the Raft core. Only the plain write is taken: a
// valid key, no query (a TTL goes to fastify), no If-Match / If-None-Match, a Content-Length within
// the value limit (no chunked body), a node not closing. Its answer — {"revision":N} with the ETag,
// or the service's error — is byte-for-byte what the route sends. Anything else goes to fastify
// before the body is read; once it is read there is no going back, so a failure the service did
// not describe is answered 500 here and logged.

import { ConcordError } from '../../util/errors.ts';
import { keyFromPath } from './request-input.ts';
import { sendFastError, type FastReply } from './fast-reply.ts';
import type { FastRouteOptions } from './fast-get.ts';

const PREFIX = '/v1/kv/';
const INTERNAL = new ConcordError('internal', 'internal error');

export interface FastPut {
  /**
   * The key of a write this path takes, or undefined to leave the request to fastify (its body
   * unread). `contentLength`: the declared body size, undefined without one (or with a chunked body).
   */
  accepts(method: string, url: string, conditional: boolean, contentLength: number | undefined): Buffer | undefined;
  /** Writes the value of an accepted request and answers on `reply`. */
  write(key: Buffer, value: Buffer, reply: FastReply): void;
}

export function fastPut(o: FastRouteOptions): FastPut {
  const failed = (reply: FastReply, err: unknown) => {
    const known = err instanceof ConcordError ? err : INTERNAL;
    if (known === INTERNAL) o.logError(err, 'PUT /v1/kv/{key} failed');
    if (!reply.gone) sendFastError(reply, known);
  };
  return {
    accepts(method, url, conditional, contentLength) {
      if (method !== 'PUT' || !url.startsWith(PREFIX) || url.includes('?') || conditional || o.closing()) return undefined;
      if (contentLength === undefined || contentLength > o.limits.maxValueBytes) return undefined;
      try {
        return keyFromPath(url.slice(PREFIX.length), o.limits);
      } catch {
        return undefined;
      }
    },
    write(key, value, reply) {
      o.kv.put(key, value).then(({ revision }) => {
        if (reply.gone) return;
        const body = `{"revision":${revision}}`;
        reply.send(200, ['etag', `"${revision}"`, 'content-type', 'application/json; charset=utf-8', 'content-length', String(body.length)], body);
      }, (err: unknown) => failed(reply, err));
    },
  };
}
