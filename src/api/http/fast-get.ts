// GET /v1/kv/{key} without fastify's per-request machinery (routing, hooks, reply objects): the
// hottest route, where that machinery measured as much as the read itself (bench/results: a
// serializable get answered at 0.54x a bare node:http server through fastify; /health, which does
// nothing, at 0.7x). Only the plain request is taken: a valid key, no If-None-Match / If-Match, no
// query but `consistency`, a node not closing, and for a serializable read a node that knows a
// leader (the route marks the answers of one that does not as stale; see stale-reads.ts). Its answer
// — the value, 404, the service's error (503 with Retry-After, 504), or 500 for a failure the service
// did not describe (logged) — is byte-for-byte what the route sends. Anything else goes to fastify
// before any work is done.

import type { KvRecord, KvService } from '../../kv/types.ts';
import { ConcordError } from '../../util/errors.ts';
import { keyNotFound } from '../shared/kv-calls.ts';
import type { ApiLimits } from '../shared/limits.ts';
import { recordHeaderList } from './record-headers.ts';
import { keyFromPath } from './request-input.ts';
import { sendFastError, type FastReply } from './fast-reply.ts';

const PREFIX = '/v1/kv/';
/** Built once: only its status, code and message are written, and capturing a stack per miss cost ~7% of a follower's time. */
const NOT_FOUND = keyNotFound();
const INTERNAL = new ConcordError('internal', 'internal error');

export interface FastRouteOptions {
  kv: KvService;
  limits: ApiLimits;
  closing: () => boolean;
  /** Where a failure the service did not describe is reported. */
  logError: (err: unknown, msg: string) => void;
}

/**
 * Returns a handler that takes the request — answering it on `reply` — and returns true, or returns
 * false to leave it to fastify. `conditional`: the request has an If-Match or If-None-Match header.
 */
export type FastGet = (method: string, url: string, conditional: boolean, reply: FastReply) => boolean;

export function fastGet(o: FastRouteOptions): FastGet {
  // Made once, not per request: a closure per request (and the name-keeping wrapper around each)
  // measured ~1.5 us of a serializable read's ~12 us of JavaScript.
  const answer = (reply: FastReply, record: KvRecord | undefined) => {
    if (reply.gone) return;
    if (!record) return sendFastError(reply, NOT_FOUND);
    const body = record.value;
    reply.send(200, recordHeaderList(record, 'content-type', 'application/octet-stream', 'content-length', String(body.byteLength)), body);
  };
  const fail = (reply: FastReply, err: unknown) => {
    const known = err instanceof ConcordError ? err : INTERNAL;
    if (known === INTERNAL) o.logError(err, 'GET /v1/kv/{key} failed');
    if (!reply.gone) sendFastError(reply, known);
  };

  return (method, url, conditional, reply) => {
    if (method !== 'GET' || !url.startsWith(PREFIX) || conditional || o.closing()) return false;
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
    if (consistency === 'serializable') {
      if (o.kv.leaderless() !== undefined || o.kv.answersLocally?.(key) === false) return false;
      // Answered in this turn: no promise and no microtask hop per read. With the header list in answer(),
      // this took a follower from 41-43k to ~52k serializable reads/s (64 connections, quiet machine).
      let record: KvRecord | undefined;
      try {
        record = o.kv.getSerializable(key);
      } catch (err) {
        fail(reply, err);
        return true;
      }
      answer(reply, record);
    } else {
      o.kv.get(key, consistency ? { consistency } : undefined).then(
        (record) => answer(reply, record),
        (err: unknown) => fail(reply, err),
      );
    }
    return true;
  };
}
