// The fast routes (fast-get.ts, fast-put.ts) offered each request node:http parsed, before fastify
// sees it. Most requests never get here: the fast lane (fast-lane.ts) answers them straight off the
// socket. This is the path for what the lane hands to node:http — a request split across reads, a
// connection that sent something else first — so that those plain reads and writes stay fast too.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastGet } from './fast-get.ts';
import type { FastPut } from './fast-put.ts';
import { nodeReply, type ObserveRequest } from './fast-reply.ts';

export interface FastRoutes {
  get: FastGet;
  put: FastPut;
  observe?: ObserveRequest;
}

/** A Content-Length header's value as a byte count, or undefined if it is not plain digits. */
export function contentLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** Returns a handler that takes a node:http request (true) or leaves it to fastify (false). */
export function nodeFront(r: FastRoutes): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const { method, url } = req;
    if (method === undefined || url === undefined) return false;
    const h = req.headers;
    const conditional = h['if-match'] !== undefined || h['if-none-match'] !== undefined;
    if (method === 'GET') return r.get(method, url, conditional, nodeReply(method, res, r.observe));
    if (h['transfer-encoding'] !== undefined) return false;
    const length = contentLength(h['content-length']);
    const key = r.put.accepts(method, url, conditional, length);
    if (key === undefined) return false;
    // A body in one chunk is used as it is. One in several goes into a buffer of its declared size as
    // the chunks come (node:http holds a body to its Content-Length), not joined at the end: joining a
    // 64 MiB body copies it into fresh memory in one step, which delays Raft's heartbeats.
    let first: Buffer | undefined;
    let body: Buffer | undefined;
    let more: Buffer[] | undefined;
    let filled = 0;
    const reply = nodeReply(method, res, r.observe);
    req.on('data', (chunk: Buffer) => {
      if (first === undefined) {
        first = chunk;
        return;
      }
      if (body === undefined && more === undefined) {
        if (length === undefined || length < first.byteLength + chunk.byteLength) more = [first];
        else {
          body = Buffer.allocUnsafe(length);
          first.copy(body, 0);
          filled = first.byteLength;
        }
      }
      if (more) more.push(chunk);
      else filled += chunk.copy(body!, filled);
    });
    // A client that goes away mid-body ('aborted', then 'close') never gets 'end': nothing is written.
    req.on('end', () => r.put.write(key, more ? Buffer.concat(more) : body ? body.subarray(0, filled) : (first ?? Buffer.alloc(0)), reply));
    return true;
  };
}
