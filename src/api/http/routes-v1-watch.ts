// GET /v1/watch: changes as server-sent events (text/event-stream), one event per change.
//
//   curl -N 'http://127.0.0.1:2379/v1/watch?prefix=app/'
//   id: 17
//   event: put
//   data: {"type":"put","key":"app/a","value":"1","revision":17,"createRevision":17,"modRevision":17,"version":1,"shard":0}
//
// Query: `key` or `prefix` (percent-encoded bytes; neither: every key), `from_revision` (a watch of one
// shard), `cursor` (or the Last-Event-ID header, which EventSource sends when it reconnects: it wins over
// both), `prev_kv` (each event carries the record it
// replaced), `encoding` (utf8 or base64, as the listing), `progress_ms`. The stream opens with a
// `progress` event carrying the start cursor, has one every progress_ms while quiet, and each event's `id`
// is the cursor to resume from (EventSource does so by itself). A watch that ends on the server's side
// (fell behind, compacted history, node shutting down) gets an `error` event with the catalogue's
// {"error":{"code","message"}} before the stream closes. Refusals before the stream starts (bad input, a
// compacted revision: 410) are ordinary JSON errors. A put that attached its key to a lease has `"lease":ID`.

import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Change, PriorRecord } from '../../kv/types.ts';
import type { WatchEvent, WatchSink } from '../../kv/watch-hub.ts';
import type { ConcordError } from '../../util/errors.ts';
import { MAX_CURSOR_LENGTH, PROGRESS_MS, watchRequest } from '../shared/watch-request.ts';
import type { HttpApiDeps } from './deps.ts';
import { errorBody, sendError } from './errors.ts';
import { encodeField, type JsonEncoding } from './kv-json.ts';
import { queryBytes, queryFlag } from './request-input.ts';
import { errorResponses } from './schemas.ts';

interface WatchQuery {
  key?: string;
  prefix?: string;
  from_revision?: string;
  cursor?: string;
  prev_kv?: string;
  encoding?: JsonEncoding;
  progress_ms?: string;
}

const flag = { type: 'string', enum: ['', 'true', 'false', '1', '0'] } as const;
const querySchema = {
  type: 'object',
  properties: {
    key: { type: 'string', description: 'Watch this key only (percent-encoded bytes)' },
    prefix: { type: 'string', description: 'Watch keys starting with these bytes (percent-encoded; neither key nor prefix: every key)' },
    from_revision: { type: 'string', pattern: '^[0-9]{1,15}$', description: "Start at this revision (a key's watch, or with one shard)" },
    cursor: { type: 'string', maxLength: MAX_CURSOR_LENGTH, description: 'Resume from an event id (as the Last-Event-ID header does)' },
    prev_kv: { ...flag, description: 'Each event carries the record it replaced' },
    encoding: { type: 'string', enum: ['utf8', 'base64'], description: 'How keys and values are written (default utf8)' },
    progress_ms: { type: 'string', pattern: '^[0-9]{1,6}$', description: `A progress event after this long without one (${PROGRESS_MS.min}-${PROGRESS_MS.max}, default ${PROGRESS_MS.default})` },
  },
} as const;


export async function v1WatchRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const { watch, limits } = deps;
  app.get<{ Querystring: WatchQuery }>(
    '/v1/watch',
    { schema: { summary: 'Watch changes as server-sent events', tags: ['kv'], querystring: querySchema, response: errorResponses } },
    async (request, reply) => {
      if (!watch) return sendError(reply, 501, 'GET /v1/watch is not served by this node');
      const q = request.query;
      // EventSource reconnects to the same URL with the last id it got: that resumes the stream, whatever
      // start (from_revision, cursor) the URL named for its first connection.
      const lastEventId = request.headers['last-event-id'];
      const resumed = typeof lastEventId === 'string' && lastEventId !== '';
      const req = watchRequest(
        {
          key: queryBytes(request, 'key'),
          prefix: queryBytes(request, 'prefix'),
          ...(resumed ? { cursor: lastEventId } : { ...(q.cursor !== undefined ? { cursor: q.cursor } : {}), ...(q.from_revision !== undefined ? { fromRevision: Number(q.from_revision) } : {}) }),
          ...(q.progress_ms !== undefined ? { progressMs: Number(q.progress_ms) } : {}),
        },
        limits,
      );
      const sink = new SseSink(reply.raw, q.encoding ?? 'utf8', queryFlag(q.prev_kv));
      const w = await watch.open(req, sink);
      void reply.hijack();
      // The client may have gone while the watch opened: its 'close' has passed then.
      if (reply.raw.destroyed || !reply.raw.socket || reply.raw.socket.destroyed) return w.cancel();
      reply.raw.on('close', () => w.cancel());
      sink.start(w.cursor);
    },
  );
}

/** A watch's events as server-sent events on a response; held back until start() has sent the headers. */
class SseSink implements WatchSink {
  private pending: string[] | undefined = [];
  private ended: string | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly encoding: JsonEncoding,
    private readonly prevKv: boolean,
  ) {}

  start(cursor: string): void {
    this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    this.res.write(`retry: 1000\n\n${progressEvent(cursor)}`);
    for (const p of this.pending ?? []) this.res.write(p);
    this.pending = undefined;
    if (this.ended !== undefined) this.res.end(this.ended);
  }

  private write(text: string): void {
    if (this.pending) this.pending.push(text);
    else if (!this.res.destroyed) this.res.write(text);
  }

  send(events: WatchEvent[]): void {
    let text = '';
    for (const e of events) text += `id: ${e.cursor}\nevent: ${e.change.kind}\ndata: ${this.data(e)}\n\n`;
    this.write(text);
  }

  progress(cursor: string): void {
    this.write(progressEvent(cursor));
  }

  close(reason: ConcordError): void {
    const last = `event: error\ndata: ${JSON.stringify(errorBody(reason.code, reason.message))}\n\n`;
    if (this.pending) this.ended = last;
    else if (!this.res.destroyed) this.res.end(last);
  }

  backlog(): number {
    return this.res.writableLength + (this.pending?.reduce((n, p) => n + p.length, 0) ?? 0);
  }

  drained(bytes: number): Promise<void> {
    if (this.pending || this.res.destroyed || this.res.writableLength < bytes) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done).off('close', done);
        resolve();
      };
      this.res.on('drain', done).on('close', done);
    });
  }

  /** The event's JSON, made once per change and form however many watchers get it. */
  private data(e: WatchEvent): string {
    const forms = (encodedChanges[this.encoding] ??= [new WeakMap(), new WeakMap()]);
    const cache = forms[this.prevKv ? 1 : 0];
    let json = cache.get(e.change);
    if (json === undefined) cache.set(e.change, (json = JSON.stringify(changeJson(e, this.encoding, this.prevKv))));
    return json;
  }
}

const encodedChanges: Partial<Record<JsonEncoding, [WeakMap<Change, string>, WeakMap<Change, string>]>> = {};

function progressEvent(cursor: string): string {
  return `id: ${cursor}\nevent: progress\ndata: {"cursor":"${cursor}"}\n\n`;
}

interface JsonRecord {
  [field: string]: string | number | boolean | JsonRecord;
}

function changeJson(e: WatchEvent, encoding: JsonEncoding, prevKv: boolean): JsonRecord {
  const c = e.change;
  const key = encodeField(c.key, encoding);
  const out: JsonRecord = { type: c.kind, key: key.text };
  if (key.marked) out.keyEncoding = 'base64';
  if (c.kind === 'put') Object.assign(out, valueJson(c.value, c.valueBytes, encoding));
  Object.assign(out, { revision: e.revision, createRevision: c.createRevision, modRevision: e.revision, version: c.version, shard: e.shard });
  if (c.lease !== undefined) out.lease = c.lease;
  if (prevKv && c.prev) out.prev = priorJson(c.prev, encoding);
  return out;
}

function priorJson(p: PriorRecord, encoding: JsonEncoding): JsonRecord {
  return { ...valueJson(p.value, p.valueBytes, encoding), createRevision: p.createRevision, modRevision: p.modRevision, version: p.version };
}

/** A value, or (one the history does not keep) its size with valueOmitted. */
function valueJson(value: Uint8Array | undefined, valueBytes: number, encoding: JsonEncoding): JsonRecord {
  if (value === undefined) return { valueOmitted: true, valueBytes };
  const v = encodeField(value, encoding);
  return v.marked ? { value: v.text, valueEncoding: 'base64' } : { value: v.text };
}
