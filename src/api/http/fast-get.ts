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
/**
 * Values up to this size are written as a latin1 string (one char per byte, so the same bytes):
 * node:http joins a string body to the head and sends both in one socket write, where a byte array
 * goes out as a second chunk through the stream's buffered writev. Measured 3-5% more serializable
 * reads/s on a follower (100-byte values, two clusters loaded at once, 8 paired runs); above a few KiB
 * the string copy would cost more than the second chunk.
 */
const ONE_WRITE_MAX_BYTES = 4096;

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
    const body = record.value;
    res.writeHead(200, recordHeaderList(record, 'content-type', 'application/octet-stream', 'content-length', String(body.byteLength)));
    if (body.byteLength <= ONE_WRITE_MAX_BYTES) res.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1'), 'latin1');
    else res.end(body); // node:http writes a Uint8Array as it is
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
