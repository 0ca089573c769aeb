// KV.Watch: the watch hub's events as a server stream, with HTTP's semantics (routes-v1-watch.ts): a
// PROGRESS event with the start cursor first and while quiet, each event with the cursor to resume from,
// and a watch ended on the server's side closed with its catalogue status (OUT_OF_RANGE for a compacted
// revision, UNAVAILABLE when it fell behind or the node shuts down: resume from the last cursor). The
// client's deadline or cancellation ends it.

import type * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import type { WatchEvent as HubEvent, WatchHub, WatchSink } from '../../kv/watch-hub.ts';
import type { Change, PriorRecord } from '../../kv/types.ts';
import { ConcordError } from '../../util/errors.ts';
import type { ApiLimits } from '../shared/limits.ts';
import { watchRequest } from '../shared/watch-request.ts';
import { KeyValueSchema, WatchEvent_Type, WatchEventSchema, type KeyValue, type WatchEvent, type WatchRequest } from './gen/concord_pb.ts';
import { MalformedRequest } from './service-def.ts';
import { Code, unimplementedStream, type Calls } from './status.ts';

type WatchCall = grpc.ServerWritableStream<WatchRequest, WatchEvent>;

/** What a message costs in the backlog beyond its keys and values. */
const MESSAGE_OVERHEAD_BYTES = 64;

export function watchHandler(hub: WatchHub | undefined, limits: ApiLimits, calls: Calls): grpc.handleServerStreamingCall<WatchRequest, WatchEvent> {
  if (!hub) return unimplementedStream('KV.Watch');
  return (call: WatchCall) => {
    const fail = (e: unknown) => call.emit('error', calls.toServiceError(e));
    if (call.request instanceof MalformedRequest) {
      call.emit('error', { code: Code.INVALID_ARGUMENT, details: `malformed request: ${call.request.reason}` });
      return;
    }
    const r = call.request;
    let req;
    try {
      if (r.fromRevision < 0n || r.fromRevision > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConcordError('bad-request', `from_revision: expected 0 to ${Number.MAX_SAFE_INTEGER}`);
      req = watchRequest(
        {
          ...(r.key.byteLength > 0 ? { key: r.key } : {}),
          prefix: r.prefix,
          fromRevision: Number(r.fromRevision),
          ...(r.cursor !== '' ? { cursor: r.cursor } : {}),
          ...(r.progressMs !== 0 ? { progressMs: r.progressMs } : {}),
        },
        limits,
      );
    } catch (e) {
      fail(e);
      return;
    }
    const sink = new GrpcSink(call, calls, r.prevKv);
    hub.open(req, sink).then((w) => {
      if (call.cancelled) return w.cancel();
      call.on('cancelled', () => w.cancel());
      sink.start(w.cursor);
    }, fail);
  };
}

class GrpcSink implements WatchSink {
  private pending: Array<() => void> | undefined = [];
  private pendingBytes = 0;
  private ended = false;
  private readonly waiters = new Set<{ bytes: number; wake: () => void }>();

  constructor(
    private readonly call: WatchCall,
    private readonly calls: Calls,
    private readonly prevKv: boolean,
  ) {}

  start(cursor: string): void {
    this.write(create(WatchEventSchema, { type: WatchEvent_Type.PROGRESS, cursor }), 0);
    const held = this.pending ?? [];
    this.pending = undefined;
    for (const run of held) run();
  }

  private later(run: () => void): void {
    if (this.pending) this.pending.push(run);
    else run();
  }

  /** Writes a message; its bytes count in the backlog until grpc-js has handed it to HTTP/2. */
  private write(m: WatchEvent, bytes: number): void {
    if (this.ended || this.call.cancelled) return;
    this.pendingBytes += bytes;
    this.call.write(m, () => {
      this.pendingBytes -= bytes;
      for (const w of this.waiters) if (this.pendingBytes < w.bytes) w.wake();
    });
  }

  send(events: HubEvent[]): void {
    for (const e of events) {
      const c = e.change;
      const m = create(WatchEventSchema, {
        type: c.kind === 'put' ? WatchEvent_Type.PUT : WatchEvent_Type.DELETE,
        kv: changeKv(c, e.revision),
        revision: BigInt(e.revision),
        cursor: e.cursor,
        shard: e.shard,
      });
      if (c.kind === 'put' && c.value === undefined) Object.assign(m, { valueOmitted: true, valueSize: BigInt(c.valueBytes) });
      if (this.prevKv && c.prev) {
        m.prevKv = priorKv(c.key, c.prev);
        if (c.prev.value === undefined) Object.assign(m, { prevValueOmitted: true, prevValueSize: BigInt(c.prev.valueBytes) });
      }
      const bytes = MESSAGE_OVERHEAD_BYTES + e.cursor.length + c.key.byteLength + (c.value?.byteLength ?? 0) + (this.prevKv ? (c.prev?.value?.byteLength ?? 0) : 0);
      this.later(() => this.write(m, bytes));
    }
  }

  progress(cursor: string): void {
    this.later(() => this.write(create(WatchEventSchema, { type: WatchEvent_Type.PROGRESS, cursor }), MESSAGE_OVERHEAD_BYTES + cursor.length));
  }

  close(reason: ConcordError): void {
    this.later(() => {
      this.ended = true;
      if (!this.call.cancelled) this.call.emit('error', this.calls.toServiceError(reason));
      for (const w of this.waiters) w.wake();
    });
  }

  backlog(): number {
    return this.pendingBytes;
  }

  drained(bytes: number): Promise<void> {
    if (this.pending || this.ended || this.call.cancelled || this.pendingBytes < bytes) return Promise.resolve();
    return new Promise((resolve) => {
      const w = {
        bytes,
        wake: () => {
          this.waiters.delete(w);
          this.call.off('cancelled', w.wake);
          resolve();
        },
      };
      this.waiters.add(w);
      this.call.once('cancelled', w.wake);
    });
  }
}

function changeKv(c: Change, revision: number): KeyValue {
  return create(KeyValueSchema, {
    key: c.key,
    ...(c.value ? { value: c.value } : {}),
    createRevision: BigInt(c.createRevision),
    modRevision: BigInt(revision),
    version: BigInt(c.version),
    lease: BigInt(c.lease ?? 0),
  });
}

function priorKv(key: Uint8Array, p: PriorRecord): KeyValue {
  return create(KeyValueSchema, {
    key,
    ...(p.value ? { value: p.value } : {}),
    createRevision: BigInt(p.createRevision),
    modRevision: BigInt(p.modRevision),
    version: BigInt(p.version),
  });
}
