// GET /v1/kv/{key} without fastify's per-request machinery (routing, hooks, reply objects): the
// hottest route, where that machinery measured as much as the read itself (bench/results: a
// serializable get answered at 0.54x a bare node:http server through fastify; /health, which does
// nothing, at 0.7x). Only the plain request is taken: a valid key, no If-None-Match, no query but
// `consistency`, a node not closing. Its answer — the value, 404, or the service's error (503 with
// Retry-After, 504) — is byte-for-byte what the route sends. Anything else goes to fastify before any
// work is done (a failure the service did not describe goes there after, to be answered and logged
// by the error handler).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KvRecord, KvService } from '../../kv/types.ts';
import { ConcordError } from '../../kv/errors.ts';
import { writeRawError } from './errors.ts';
import type { HttpLimits } from './limits.ts';
import { keyFromPath } from './request-input.ts';
import { keyNotFound, recordHeaderList } from './kv-calls.ts';

const PREFIX = '/v1/kv/';
export const FAST_GET_ROUTE = '/v1/kv/*';
/** Built once: only its status, code and message are written, and capturing a stack per miss cost ~7% of a follower's time. */
const NOT_FOUND = keyNotFound();

export interface FastGetOptions {
  kv: KvService;
  limits: HttpLimits;
  closing: () => boolean;
  /** Request metrics, as the fastify routes report them. */
  observe?: (method: string, route: string, status: number, seconds: number) => void;
}

/** Returns a request handler that answers and returns true, or returns false to leave the request to fastify. */
export function fastGet(o: FastGetOptions): (req: IncomingMessage, res: ServerResponse, fallback: () => void) => boolean {
  // Made once, not per request: a closure per request (and tsx's name-keeping wrapper around each)
  // measured ~1.5 us of a serializable read's ~12 us of JavaScript.
  const observe = o.observe;
  const answerError = (res: ServerResponse, err: ConcordError, started: number) => {
    writeRawError(res, err);
    observe?.('GET', FAST_GET_ROUTE, err.status, (performance.now() - started) / 1000);
  };
  const answer = (res: ServerResponse, record: KvRecord | undefined, started: number) => {
    if (res.destroyed) return;
    if (!record) return answerError(res, NOT_FOUND, started);
    const body = record.value; // node:http writes a Uint8Array as it is: no Buffer view to make
    res.writeHead(200, recordHeaderList(record, 'content-type', 'application/octet-stream', 'content-length', String(body.byteLength)));
    res.end(body);
    observe?.('GET', FAST_GET_ROUTE, 200, (performance.now() - started) / 1000);
  };
  const fail = (res: ServerResponse, err: unknown, started: number, fallback: () => void) => {
    if (!(err instanceof ConcordError)) return fallback();
    if (!res.destroyed) answerError(res, err, started);
  };

  return (req, res, fallback) => {
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !url.startsWith(PREFIX) || o.closing()) return false;
    if (req.headers['if-none-match'] !== undefined) return false;
    const q = url.indexOf('?');
    const raw = q < 0 ? url.slice(PREFIX.length) : url.slice(PREFIX.length, q);
    if (raw.length === 0) return false;
    let consistency: 'linearizable' | 'serializable' | undefined;
    if (q >= 0) {
      const query = url.slice(q + 1);
      if (query === 'consistency=serializable') consistency = 'serializable';
      else if (query === 'consistency=linearizable') consistency = 'linearizable';
      else return false;
    }
    let key: Buffer;
    try {
      key = keyFromPath(raw, o.limits);
    } catch {
      return false;
    }
    const started = observe ? performance.now() : 0;
    if (consistency === 'serializable') {
      // Answered in this turn: no promise and no microtask hop per read. With the header list in answer(),
      // this took a follower from 41-43k to ~52k serializable reads/s (64 connections, quiet machine).
      let record: KvRecord | undefined;
      try {
        record = o.kv.getSerializable(key);
      } catch (err) {
        fail(res, err, started, fallback);
        return true;
      }
      answer(res, record, started);
    } else {
      o.kv.get(key, consistency ? { consistency } : undefined).then(
        (record) => answer(res, record, started),
        (err: unknown) => fail(res, err, started, fallback),
      );
    }
    return true;
  };
}
