// The client over Concord's gRPC API (proto/concord.proto), with the generated protobuf-es messages and the
// same grpc-js method definitions the server serves. @grpc/grpc-js is loaded on the first call, so programs
// (and CLI commands) that speak HTTP never pay for loading it.

import { create, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type * as grpc from '@grpc/grpc-js';
import {
  Cluster,
  Compare_Result,
  Compare_Target,
  Consistency as PbConsistency,
  KV,
  Lease,
  WatchEvent_Type,
  WatchRequestSchema,
  type ClusterStatus as PbStatus,
  type KeyValue as PbKeyValue,
  type TxnOpResult as PbTxnOpResult,
  type WatchEvent as PbWatchEvent,
} from '../api/grpc/gen/concord_pb.ts';
import { grpcDefinition, type GrpcDefinition } from '../api/grpc/service-def.ts';
import { asBuffer, toBytes } from './bytes.ts';
import { ConcordClientError, isServerErrorCode, socketReason, type ServerErrorCode } from './errors.ts';
import type { Attempt, BatchOp, ClusterStatus, Consistency, DeleteResult, Health, KeyValue, Lease as LeaseGrant, LeaseInfo, ListItem, ListOptions, PutOptions, Transport, TxnOpResult, TxnRequest, TxnResult, WatchEvent, WatchStreamRequest } from './types.ts';

const TXN_TARGETS = {
  value: { target: Compare_Target.VALUE, operand: 'value' },
  version: { target: Compare_Target.VERSION, operand: 'version' },
  createRevision: { target: Compare_Target.CREATE_REVISION, operand: 'createRevision' },
  modRevision: { target: Compare_Target.MOD_REVISION, operand: 'modRevision' },
} as const;
const TXN_RESULTS = { '=': Compare_Result.EQUAL, '!=': Compare_Result.NOT_EQUAL, '>': Compare_Result.GREATER, '<': Compare_Result.LESS } as const;

/** Above the server's largest message (a 64 MiB value or listing page plus framing). */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

/** gRPC status codes by the protocol's numbers, and the catalogue code each stands for. */
const BY_STATUS: Record<number, ServerErrorCode> = {
  3: 'bad-request',
  4: 'timeout',
  5: 'not-found',
  8: 'too-large',
  9: 'precondition-failed',
  11: 'compacted',
  12: 'unimplemented',
  13: 'internal',
  14: 'unavailable',
};
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const CANCELLED = 1;

/** grpc-js's words for a call that failed because no connection could be made: nothing was sent. */
const NOT_CONNECTED = /No connection established|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|Name resolution failed/;

const definitions = new WeakMap<object, Record<string, grpc.MethodDefinition<unknown, unknown>>>();

/** grpc-js's method definitions of a service, built once. */
function definition<S extends GenServiceMethods>(service: GenService<S>): GrpcDefinition<S> {
  let def = definitions.get(service);
  if (!def) definitions.set(service, (def = grpcDefinition(service) as unknown as Record<string, grpc.MethodDefinition<unknown, unknown>>));
  return def as unknown as GrpcDefinition<S>;
}

const consistency = (c: Consistency | undefined): PbConsistency =>
  c === 'serializable' ? PbConsistency.SERIALIZABLE : c === 'linearizable' ? PbConsistency.LINEARIZABLE : PbConsistency.UNSPECIFIED;

export class GrpcTransport implements Transport {
  private client: Promise<{ grpcJs: typeof grpc; client: grpc.Client }> | undefined;
  private closed = false;

  /** `endpoint` is host:port. */
  constructor(readonly endpoint: string) {}

  private connect(): Promise<{ grpcJs: typeof grpc; client: grpc.Client }> {
    return (this.client ??= import('@grpc/grpc-js').then((grpcJs) => {
      const client = new grpcJs.Client(this.endpoint, grpcJs.credentials.createInsecure(), {
        'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
        'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
        'grpc.enable_channelz': 0,
      });
      if (this.closed) client.close();
      return { grpcJs, client };
    }));
  }

  close(): void {
    this.closed = true;
    void this.client?.then(({ client }) => client.close());
  }

  private async call<S extends GenServiceMethods, K extends keyof S & string>(
    service: GenService<S>,
    method: K,
    req: MessageInitShape<S[K]['input']>,
    at: Attempt,
  ): Promise<MessageShape<S[K]['output']>> {
    const { grpcJs, client } = await this.connect();
    const { signal } = at;
    signal.throwIfAborted();
    const def = definition(service)[method];
    const message = create(service.method[method].input, req);
    return new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, message as never, new grpcJs.Metadata(), { deadline: at.deadline }, (err, res) => {
        signal.removeEventListener('abort', cancel);
        if (err) reject(this.failure(err, at));
        else resolve(res as MessageShape<S[K]['output']>);
      });
      const cancel = () => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
    });
  }

  private failure(err: grpc.ServiceError, at: Attempt): ConcordClientError {
    const endpoint = this.endpoint;
    if ((err.code === CANCELLED || (err.code === DEADLINE_EXCEEDED && !err.metadata?.get('concord-error-code').length)) && at.signal.aborted) return new ConcordClientError('deadline', 'the call was aborted or ran out of time', { endpoint });
    const catalogue = err.metadata?.get('concord-error-code')[0];
    if (catalogue === undefined && err.code === UNAVAILABLE) {
      // Not the server's answer: the connection failed, before sending (nothing applied) or during the call.
      const socketCode = /\b(E[A-Z]{4,})\b/.exec(err.details)?.[1];
      const reason = socketCode ? socketReason(socketCode) : err.details;
      return new ConcordClientError('unreachable', `cannot reach ${endpoint} (${reason})`, { endpoint, status: err.code, notSent: NOT_CONNECTED.test(err.details) });
    }
    const code = isServerErrorCode(catalogue) ? catalogue : (BY_STATUS[err.code] ?? 'internal');
    const retryAfter = Number(err.metadata?.get('retry-after')[0]);
    return new ConcordClientError(code, err.details || `gRPC status ${err.code}`, {
      endpoint,
      status: err.code,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
    });
  }

  async *watch(req: WatchStreamRequest, signal: AbortSignal): AsyncGenerator<WatchEvent> {
    const { grpcJs, client } = await this.connect();
    signal.throwIfAborted();
    const def = definition(KV).watch;
    const message = create(WatchRequestSchema, {
      ...(req.key ? { key: req.key } : {}),
      ...(req.prefix ? { prefix: req.prefix } : {}),
      ...(req.cursor !== undefined ? { cursor: req.cursor } : req.fromRevision !== undefined ? { fromRevision: BigInt(req.fromRevision) } : {}),
      prevKv: req.prevKv,
      ...(req.progressMs !== undefined ? { progressMs: req.progressMs } : {}),
    });
    const stream = client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, message as never, new grpcJs.Metadata(), {});
    const cancel = () => stream.cancel();
    signal.addEventListener('abort', cancel, { once: true });
    try {
      for await (const m of stream as AsyncIterable<PbWatchEvent>) yield watchEvent(m);
    } catch (e) {
      throw this.failure(e as grpc.ServiceError, { signal, deadline: Infinity });
    } finally {
      signal.removeEventListener('abort', cancel);
      stream.cancel();
    }
    throw new ConcordClientError('unreachable', `the watch stream from ${this.endpoint} ended`, { endpoint: this.endpoint });
  }

  async get(key: Uint8Array, c: Consistency | undefined, at: Attempt): Promise<KeyValue | undefined> {
    try {
      const res = await this.call(KV, 'get', { key, consistency: consistency(c) }, at);
      return { ...keyValue(res.kv), stale: res.stale };
    } catch (e) {
      if (e instanceof ConcordClientError && e.code === 'not-found') return undefined;
      throw e;
    }
  }

  async put(key: Uint8Array, value: Uint8Array, o: PutOptions, at: Attempt): Promise<number> {
    const req = {
      key,
      value,
      createOnly: o.createOnly === true,
      ...(o.ifMatch !== undefined ? { ifMatch: BigInt(o.ifMatch) } : {}),
      ...(o.ttlSeconds !== undefined ? { ttlSeconds: BigInt(o.ttlSeconds) } : {}),
      ...(o.lease !== undefined ? { lease: BigInt(o.lease) } : {}),
    };
    return Number((await this.call(KV, 'put', req, at)).revision);
  }

  async delete(key: Uint8Array, ifMatch: number | undefined, at: Attempt): Promise<DeleteResult> {
    try {
      const res = await this.call(KV, 'delete', { key, ...(ifMatch !== undefined ? { ifMatch: BigInt(ifMatch) } : {}) }, at);
      return { deleted: Number(res.deleted), revision: Number(res.revision) };
    } catch (e) {
      if (e instanceof ConcordClientError && e.code === 'not-found') return { deleted: 0 };
      throw e;
    }
  }

  async list(o: ListOptions, at: Attempt): Promise<{ items: ListItem[]; more: boolean }> {
    const req = {
      ...(o.prefix !== undefined ? { prefix: toBytes(o.prefix) } : {}),
      ...(o.start !== undefined ? { start: toBytes(o.start) } : {}),
      ...(o.end !== undefined ? { end: toBytes(o.end) } : {}),
      limit: o.limit ?? 0,
      keysOnly: o.keysOnly === true,
      consistency: consistency(o.consistency),
    };
    const res = await this.call(KV, 'list', req, at);
    return { items: res.items.map((i) => ({ key: asBuffer(i.key), value: asBuffer(i.value), modRevision: Number(i.modRevision) })), more: res.more };
  }

  async batch(ops: Array<BatchOp<Uint8Array>>, at: Attempt): Promise<number> {
    const req = {
      ops: ops.map((o) =>
        o.op === 'put'
          ? { op: { case: 'put' as const, value: { key: o.key, value: o.value, ...(o.ttlSeconds !== undefined ? { ttlSeconds: BigInt(o.ttlSeconds) } : {}), lease: BigInt(o.lease ?? 0) } } }
          : { op: { case: 'delete' as const, value: { key: o.key } } },
      ),
    };
    return Number((await this.call(KV, 'batch', req, at)).revision);
  }

  async txn(req: Required<TxnRequest<Uint8Array>>, at: Attempt): Promise<TxnResult> {
    const ops = (list: Required<TxnRequest<Uint8Array>>['success']) =>
      list.map((o) => {
        if (o.op === 'put') return { op: { case: 'put' as const, value: { key: o.key, value: o.value, lease: BigInt(o.lease ?? 0) } } };
        if (o.op === 'get') return { op: { case: 'get' as const, value: { key: o.key } } };
        // range_end: one 0 byte for "to the last key" (an empty one means no range), etcd's convention.
        const rangeEnd = o.end === undefined ? new Uint8Array(0) : o.end.byteLength === 0 ? Uint8Array.of(0) : o.end;
        return { op: { case: 'delete' as const, value: { key: o.key, rangeEnd, prefix: o.prefix === true } } };
      });
    const compare = req.compare.map((c) => {
      const t = TXN_TARGETS[c.target];
      const operand = typeof c.operand === 'number' ? BigInt(c.operand) : c.operand;
      return { key: c.key, target: t.target, result: TXN_RESULTS[c.result], operand: { case: t.operand, value: operand } as never };
    });
    const res = await this.call(KV, 'txn', { compare, success: ops(req.success), failure: ops(req.failure) }, at);
    const result = (r: PbTxnOpResult): TxnOpResult => {
      if (r.result.case === 'put') return { op: 'put', revision: Number(r.result.value.revision) };
      if (r.result.case === 'delete') return { op: 'delete', deleted: Number(r.result.value.deleted) };
      const kv = r.result.case === 'get' ? r.result.value.kv : undefined;
      return kv ? { op: 'get', kv: { ...keyValue(kv), stale: false } } : { op: 'get' };
    };
    return { succeeded: res.succeeded, revision: Number(res.revision), results: res.results.map(result) };
  }

  async grantLease(ttlSeconds: number, id: number | undefined, key: Uint8Array | undefined, at: Attempt): Promise<LeaseGrant> {
    const res = await this.call(Lease, 'grant', { ttlSeconds: BigInt(ttlSeconds), id: BigInt(id ?? 0), ...(key ? { key } : {}) }, at);
    return { id: Number(res.id), ttlSeconds: Number(res.ttlSeconds) };
  }

  async keepAliveLease(id: number, at: Attempt): Promise<LeaseGrant> {
    const res = await this.call(Lease, 'keepAlive', { id: BigInt(id) }, at);
    return { id: Number(res.id), ttlSeconds: Number(res.ttlSeconds) };
  }

  async revokeLease(id: number, at: Attempt): Promise<{ revision: number; deleted: number }> {
    const res = await this.call(Lease, 'revoke', { id: BigInt(id) }, at);
    return { revision: Number(res.revision), deleted: Number(res.deleted) };
  }

  async leaseTimeToLive(id: number, keys: boolean, at: Attempt): Promise<LeaseInfo | undefined> {
    const res = await this.call(Lease, 'timeToLive', { id: BigInt(id), keys }, at);
    if (res.ttlSeconds < 0n) return undefined;
    return { id: Number(res.id), ttlSeconds: Number(res.ttlSeconds), grantedTtlSeconds: Number(res.grantedTtlSeconds), ...(keys ? { keys: res.keys.map(asBuffer) } : {}) };
  }

  async leases(at: Attempt): Promise<LeaseInfo[]> {
    const res = await this.call(Lease, 'leases', {}, at);
    return res.leases.map((l) => ({ id: Number(l.id), ttlSeconds: Number(l.ttlSeconds), grantedTtlSeconds: Number(l.grantedTtlSeconds) }));
  }

  async status(at: Attempt): Promise<ClusterStatus> {
    return clusterStatus(await this.call(Cluster, 'status', {}, at));
  }

  async addNode(id: string, address: string, learner: boolean, at: Attempt): Promise<ClusterStatus> {
    return clusterStatus(await this.call(Cluster, 'addNode', { id, address, learner }, at));
  }

  async removeNode(id: string, at: Attempt): Promise<ClusterStatus> {
    return clusterStatus(await this.call(Cluster, 'removeNode', { id }, at));
  }

  /** The node's status stands in for HTTP's /health: it answers, and says who it is. */
  async health(at: Attempt): Promise<Health> {
    const s = await this.status(at);
    return { status: 'ok', nodeId: s.self };
  }
}

function watchEvent(m: PbWatchEvent): WatchEvent {
  if (m.type === WatchEvent_Type.PROGRESS) return { type: 'progress', cursor: m.cursor };
  const e: WatchEvent = { type: m.type === WatchEvent_Type.DELETE ? 'delete' : 'put', cursor: m.cursor, revision: Number(m.revision), shard: m.shard, kv: keyValue(m.kv) };
  if (m.prevKv) e.prev = keyValue(m.prevKv);
  if (m.valueOmitted) e.valueOmittedBytes = Number(m.valueSize);
  if (m.prevValueOmitted) e.prevValueOmittedBytes = Number(m.prevValueSize);
  return e;
}

function keyValue(kv: PbKeyValue | undefined): Omit<KeyValue, 'stale'> {
  return {
    key: asBuffer(kv?.key ?? new Uint8Array()),
    value: asBuffer(kv?.value ?? new Uint8Array()),
    createRevision: Number(kv?.createRevision ?? 0n),
    modRevision: Number(kv?.modRevision ?? 0n),
    version: Number(kv?.version ?? 0n),
    ...(kv && kv.lease !== 0n ? { lease: Number(kv.lease) } : {}),
  };
}

/** The status as the Cluster service answers it, in the client's shape. */
export function clusterStatus(s: PbStatus): ClusterStatus {
  return {
    clusterId: s.clusterId,
    self: s.self,
    ...(s.leader ? { leader: s.leader } : {}),
    term: Number(s.term),
    nodes: s.nodes.map((n) => ({
      id: n.id,
      raftAddr: n.raftAddr,
      ...(n.httpAddr ? { httpAddr: n.httpAddr } : {}),
      role: n.role,
      term: Number(n.term),
      commitIndex: Number(n.commitIndex),
      appliedIndex: Number(n.appliedIndex),
      voter: n.voter,
      reachable: n.reachable,
    })),
    shards: s.shards.map((sh) => ({
      id: sh.id,
      ...(sh.leader ? { leader: sh.leader } : {}),
      voters: sh.voters,
      learners: sh.learners,
      ...(sh.replicas.length > 0 ? { replicas: sh.replicas, hosted: sh.hosted } : {}),
      ...(sh.keys !== undefined ? { keys: Number(sh.keys) } : {}),
      ...(sh.bytes !== undefined ? { bytes: Number(sh.bytes) } : {}),
      ...(sh.seenFrom ? { seenFrom: sh.seenFrom } : {}),
      ...(sh.move ? { move: sh.move } : {}),
    })),
    ...(s.rebalance
      ? { rebalance: { epoch: Number(s.rebalance.epoch), settled: Number(s.rebalance.settled), planned: Number(s.rebalance.planned), running: Number(s.rebalance.running), unknown: Number(s.rebalance.unknown) } }
      : {}),
  };
}
