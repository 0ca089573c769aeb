// PUT /v1/kv/{key} without fastify's per-request machinery, as fast-get.ts does for reads: on the
// leader under puts, fastify's routing, hooks, schema checks, body parser and reply measured ~16% of
// the process's CPU (perf, 64 connections), more than the Raft core. Only the plain write is taken: a
// valid key, no query (a TTL goes to fastify), no If-Match / If-None-Match, a Content-Length within
// the value limit (no chunked body), a node not closing. Its answer — {"revision":N} with the ETag,
// or the service's error — is byte-for-byte what the route sends. Anything else goes to fastify
// before the body is read; once it is read there is no going back, so a failure the service did
// not describe is answered 500 here and logged.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KvService } from '../../kv/types.ts';
import { ConcordError } from '../../kv/errors.ts';
import { writeRawError } from './errors.ts';
import type { HttpLimits } from './limits.ts';
import { keyFromPath } from './request-input.ts';

const PREFIX = '/v1/kv/';
export const FAST_PUT_ROUTE = '/v1/kv/*';
const INTERNAL = new ConcordError('internal', 'internal error');

export interface FastPutOptions {
  kv: KvService;
  limits: HttpLimits;
  closing: () => boolean;
  /** Request metrics, as the fastify routes report them. */
  observe?: (method: string, route: string, status: number, seconds: number) => void;
  /** Where a failure the service did not describe is reported. */
  logError: (err: unknown, msg: string) => void;
}

/** Returns a request handler that takes the request and returns true, or returns false to leave it to fastify. */
export function fastPut(o: FastPutOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const observe = o.observe;
  const answered = (status: number, started: number) => observe?.('PUT', FAST_PUT_ROUTE, status, (performance.now() - started) / 1000);

  const write = (res: ServerResponse, key: Buffer, value: Buffer, started: number) => {
    o.kv.put(key, value).then(
      ({ revision }) => {
        if (res.destroyed) return;
        const body = `{"revision":${revision}}`;
        res.writeHead(200, ['etag', `"${revision}"`, 'content-type', 'application/json; charset=utf-8', 'content-length', String(body.length)]);
        res.end(body);
        answered(200, started);
      },
      (err: unknown) => {
        const known = err instanceof ConcordError ? err : INTERNAL;
        if (known === INTERNAL) o.logError(err, 'PUT /v1/kv/{key} failed');
        if (res.destroyed) return;
        writeRawError(res, known);
        answered(known.status, started);
      },
    );
  };

  return (req, res) => {
    const url = req.url;
    if (req.method !== 'PUT' || url === undefined || !url.startsWith(PREFIX) || url.includes('?') || o.closing()) return false;
    const h = req.headers;
    if (h['if-match'] !== undefined || h['if-none-match'] !== undefined || h['transfer-encoding'] !== undefined) return false;
    const declared = h['content-length'];
    if (declared === undefined) return false;
    const length = Number(declared);
    if (!Number.isSafeInteger(length) || length < 0 || length > o.limits.maxValueBytes) return false;
    let key: Buffer;
    try {
      key = keyFromPath(url.slice(PREFIX.length), o.limits);
    } catch {
      return false;
    }
    const started = observe ? performance.now() : 0;
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    req.on('data', (chunk: Buffer) => {
      if (first === undefined) first = chunk;
      else (more ??= [first]).push(chunk);
    });
    // A client that goes away mid-body ('aborted', then 'close') never gets 'end': nothing is written.
    req.on('end', () => write(res, key, more ? Buffer.concat(more) : (first ?? Buffer.alloc(0)), started));
    return true;
  };
}
