// A watch over HTTP: GET /v1/watch read as server-sent events (the server's routes-v1-watch.ts), in base64
// so any bytes round-trip. An `error` event is the server's reason for ending the stream.

import type { IncomingMessage } from 'node:http';
import { ConcordClientError, isServerErrorCode } from './errors.ts';
import { percentEncode } from './bytes.ts';
import type { WatchedRecord, WatchEvent, WatchStreamRequest } from './types.ts';

/** The route and query for `req` (keys percent-encoded byte by byte; answers in base64). */
export function watchPath(req: WatchStreamRequest): string {
  const q = ['encoding=base64'];
  if (req.key) q.push(`key=${percentEncode(req.key)}`);
  if (req.prefix && req.prefix.byteLength > 0) q.push(`prefix=${percentEncode(req.prefix)}`);
  if (req.cursor !== undefined) q.push(`cursor=${encodeURIComponent(req.cursor)}`);
  else if (req.fromRevision !== undefined) q.push(`from_revision=${req.fromRevision}`);
  if (req.prevKv) q.push('prev_kv=true');
  if (req.progressMs !== undefined) q.push(`progress_ms=${req.progressMs}`);
  return `/v1/watch?${q.join('&')}`;
}

interface RawRecord {
  key?: string;
  value?: string;
  valueOmitted?: boolean;
  valueBytes?: number;
  createRevision?: number;
  modRevision?: number;
  version?: number;
}

interface RawChange extends RawRecord {
  lease?: number;
  type: 'put' | 'delete';
  revision: number;
  shard: number;
  prev?: RawRecord;
}

const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64');

function record(key: Buffer, r: RawRecord): WatchedRecord {
  return { key, value: b64(r.value), createRevision: r.createRevision ?? 0, modRevision: r.modRevision ?? 0, version: r.version ?? 0 };
}

/** One server-sent event as a WatchEvent; undefined for what a watch does not use. */
function watchEvent(type: string, id: string | undefined, data: string, endpoint: string): WatchEvent | undefined {
  if (type === 'error') {
    let code: string | undefined;
    let message = data;
    try {
      const e = (JSON.parse(data) as { error?: { code?: string; message?: string } }).error;
      code = e?.code;
      message = e?.message ?? data;
    } catch {
      /* keep the text */
    }
    throw new ConcordClientError(isServerErrorCode(code) ? code : 'internal', message, { endpoint });
  }
  if (id === undefined) return undefined;
  if (type === 'progress') return { type: 'progress', cursor: id };
  if (type !== 'put' && type !== 'delete') return undefined;
  const c = JSON.parse(data) as RawChange;
  const key = b64(c.key);
  const e: WatchEvent = { type, cursor: id, revision: c.revision, shard: c.shard, kv: { ...record(key, c), ...(c.lease !== undefined ? { lease: c.lease } : {}) } };
  if (c.valueOmitted) e.valueOmittedBytes = c.valueBytes ?? 0;
  if (c.prev) {
    e.prev = record(key, c.prev);
    if (c.prev.valueOmitted) e.prevValueOmittedBytes = c.prev.valueBytes ?? 0;
  }
  return e;
}

/** The events of an event-stream response, in order, until it ends. */
export async function* readEvents(res: IncomingMessage, endpoint: string): AsyncGenerator<WatchEvent> {
  res.setEncoding('utf8');
  let buffered = '';
  for await (const chunk of res as AsyncIterable<string>) {
    buffered += chunk;
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let type = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon === 0) continue; // a comment
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
      }
      const e = watchEvent(type, id, data.join('\n'), endpoint);
      if (e) yield e;
    }
  }
}
