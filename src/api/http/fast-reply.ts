// Where the fast routes (fast-get.ts, fast-put.ts) send their answer: a node:http response, or a
// connection of the fast lane (fast-lane.ts). Both write the same bytes; both report the request to
// the metrics once, under the route pattern fastify would have matched.

import type { ServerResponse } from 'node:http';
import type { ConcordError } from '../../util/errors.ts';
import { errorBody, retryAfter } from './errors.ts';

/** The pattern fast answers are reported under: the route fastify would have matched. */
export const FAST_ROUTE = '/v1/kv/*';

/** Request metrics, as the fastify routes report them. */
export type ObserveRequest = (method: string, route: string, status: number, seconds: number) => void;

export interface FastReply {
  /** True once the client has gone: an answer would be dropped. */
  readonly gone: boolean;
  /**
   * Writes the answer: status, headers as node:http's flat [name, value, …] list (Content-Length
   * included), and a body — a string is sent as UTF-8, bytes as they are.
   */
  send(status: number, headers: string[], body: string | Uint8Array): void;
}

/**
 * Byte bodies up to this size go out as a latin1 string (one char per byte, so the same bytes):
 * node:http joins a string body to the head in one socket write, where a byte array is a second
 * chunk through the stream's writev. Measured 3-5% more serializable reads/s on a follower (100-byte
 * values, 8 paired runs); above a few KiB the string copy costs more than the second chunk.
 */
export const ONE_WRITE_MAX_BYTES = 4096;

export const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/** A FastReply on a node:http response. */
export function nodeReply(method: string, res: ServerResponse, observe: ObserveRequest | undefined): FastReply {
  const started = observe ? performance.now() : 0;
  return {
    get gone() {
      return res.destroyed;
    },
    send(status, headers, body) {
      res.writeHead(status, headers);
      if (typeof body === 'string') res.end(body);
      else if (body.byteLength <= ONE_WRITE_MAX_BYTES) res.end(latin1(body), 'latin1');
      else res.end(body); // node:http writes a Uint8Array as it is
      observe?.(method, FAST_ROUTE, status, (performance.now() - started) / 1000);
    },
  };
}

/** A service error exactly as sendError and the error handler answer it: status, JSON body, Retry-After. */
export function sendFastError(reply: FastReply, err: ConcordError): void {
  const body = JSON.stringify(errorBody(err.code, err.message));
  const headers = ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body))];
  if (err.retryAfterSeconds !== undefined) headers.push('retry-after', retryAfter(err.retryAfterSeconds));
  reply.send(err.status, headers, body);
}
