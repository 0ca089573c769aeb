// The client over HTTP API v1: node:http with a keep-alive agent per endpoint (not fetch, whose URL
// parser folds the keys "." and ".." away as path segments). Keys travel percent-encoded byte by byte;
// listings and batches in base64, so any bytes round-trip.

import http from 'node:http';
import https from 'node:https';
import { ConcordClientError, isServerErrorCode, socketReason, type ServerErrorCode } from './errors.ts';
import { asBuffer, percentEncode } from './bytes.ts';
import type { Attempt, BatchOp, ClusterStatus, Consistency, DeleteResult, Health, KeyValue, Lease, LeaseInfo, ListItem, ListOptions, PutOptions, Transport, TxnOpResult, TxnRequest, TxnResult, WatchEvent, WatchStreamRequest } from './types.ts';
import { readEvents, watchPath } from './sse-watch.ts';

const TXN_TARGETS = { value: 'value', version: 'version', createRevision: 'create_revision', modRevision: 'mod_revision' } as const;
type RawTxnResult = { op: 'get'; kv: { key: string; value: string; revision: number; create_revision: number; version: number } | null } | { op: 'put'; revision: number } | { op: 'delete'; deleted: number };

/** Socket errors raised before any byte of the request could reach a server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);


interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const b64 = (b: Uint8Array): string => asBuffer(b).toString('base64');

export class HttpTransport implements Transport {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(readonly endpoint: string) {
    this.url = new URL(endpoint);
    const Agent = this.url.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
  }

  close(): void {
    this.agent.destroy();
  }

  private request(method: string, path: string, at: Attempt, body?: Uint8Array, headers: Record<string, string> = {}): Promise<Reply> {
    const mod = this.url.protocol === 'https:' ? https : http;
    return new Promise<Reply>((resolve, reject) => {
      const req = mod.request(
        { host: this.url.hostname, port: this.url.port, method, path, agent: this.agent, signal: at.signal, headers: { ...headers, ...(body ? { 'content-length': String(body.byteLength) } : {}) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', (e) => reject(this.networkError(e)));
        },
      );
      req.on('error', (e) => reject(this.networkError(e)));
      req.end(body);
    });
  }

  private networkError(e: Error & { code?: string }): ConcordClientError {
    if (e.name === 'AbortError') return new ConcordClientError('deadline', 'the call was aborted or ran out of time', { endpoint: this.endpoint });
    const notSent = e.code !== undefined && NOT_SENT.has(e.code);
    return new ConcordClientError('unreachable', `cannot reach ${this.endpoint} (${e.code ? socketReason(e.code) : e.message})`, { endpoint: this.endpoint, notSent });
  }

  /** A non-2xx answer as the server's catalogue code and message. */
  private failure(r: Reply): ConcordClientError {
    let code: string | undefined;
    let message = r.body.toString('utf8').slice(0, 500);
    try {
      const parsed = JSON.parse(message) as { error?: { code?: string; message?: string } };
      code = parsed.error?.code;
      message = parsed.error?.message ?? message;
    } catch {
      /* not our JSON: keep the text */
    }
    const known: ServerErrorCode = isServerErrorCode(code) ? code : r.status === 501 ? 'unimplemented' : r.status >= 500 ? 'internal' : 'bad-request';
    const retryAfter = Number(r.headers['retry-after']);
    return new ConcordClientError(known, message || `HTTP ${r.status}`, {
      endpoint: this.endpoint,
      status: r.status,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
    });
  }

  private async json<T>(method: string, path: string, at: Attempt, body?: unknown): Promise<T> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const r = await this.request(method, path, at, data, data ? { 'content-type': 'application/json' } : {});
    if (r.status < 200 || r.status > 299) throw this.failure(r);
    return JSON.parse(r.body.toString('utf8')) as T;
  }

  async get(key: Uint8Array, consistency: Consistency | undefined, at: Attempt): Promise<KeyValue | undefined> {
    const r = await this.request('GET', `/v1/kv/${percentEncode(key)}${consistency ? `?consistency=${consistency}` : ''}`, at);
    if (r.status !== 200) {
      const e = this.failure(r);
      if (e.code === 'not-found') return undefined;
      throw e;
    }
    return {
      key: asBuffer(key),
      value: r.body,
      modRevision: num(String(r.headers.etag ?? '').replace(/[W/"]/g, '')),
      createRevision: num(r.headers['x-create-revision']),
      version: num(r.headers['x-version']),
      stale: r.headers['x-concord-stale'] === 'true',
      ...(r.headers['x-concord-lease'] !== undefined ? { lease: num(r.headers['x-concord-lease']) } : {}),
    };
  }

  async put(key: Uint8Array, value: Uint8Array, opts: PutOptions, at: Attempt): Promise<number> {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (opts.ifMatch !== undefined) headers['if-match'] = `"${opts.ifMatch}"`;
    if (opts.createOnly) headers['if-none-match'] = '*';
    const query = [...(opts.ttlSeconds !== undefined ? [`ttl=${opts.ttlSeconds}`] : []), ...(opts.lease !== undefined ? [`lease=${opts.lease}`] : [])];
    const r = await this.request('PUT', `/v1/kv/${percentEncode(key)}${query.length > 0 ? `?${query.join('&')}` : ''}`, at, value, headers);
    if (r.status !== 200) throw this.failure(r);
    return num((JSON.parse(r.body.toString('utf8')) as { revision: number }).revision);
  }

  async delete(key: Uint8Array, ifMatch: number | undefined, at: Attempt): Promise<DeleteResult> {
    const r = await this.request('DELETE', `/v1/kv/${percentEncode(key)}`, at, undefined, ifMatch === undefined ? {} : { 'if-match': `"${ifMatch}"` });
    if (r.status === 404) {
      const e = this.failure(r);
      if (e.code === 'not-found') return { deleted: 0 };
      throw e;
    }
    if (r.status !== 200) throw this.failure(r);
    const res = JSON.parse(r.body.toString('utf8')) as { deleted: number; revision: number };
    return { deleted: num(res.deleted), revision: num(res.revision) };
  }

  async list(opts: ListOptions, at: Attempt): Promise<{ items: ListItem[]; more: boolean }> {
    const q = ['encoding=base64'];
    for (const name of ['prefix', 'start', 'end'] as const) {
      const v = opts[name];
      if (v !== undefined) q.push(`${name}=${percentEncode(typeof v === 'string' ? Buffer.from(v) : v)}`);
    }
    if (opts.limit !== undefined) q.push(`limit=${opts.limit}`);
    if (opts.keysOnly) q.push('keys_only=true');
    if (opts.consistency) q.push(`consistency=${opts.consistency}`);
    const res = await this.json<{ items: Array<{ key: string; value?: string; revision: number }>; more: boolean }>('GET', `/v1/kv?${q.join('&')}`, at);
    return {
      items: res.items.map((i) => ({ key: Buffer.from(i.key, 'base64'), value: Buffer.from(i.value ?? '', 'base64'), modRevision: num(i.revision) })),
      more: res.more === true,
    };
  }

  async batch(ops: Array<BatchOp<Uint8Array>>, at: Attempt): Promise<number> {
    const put = (o: Extract<BatchOp<Uint8Array>, { op: 'put' }>) => ({ op: 'put', key: b64(o.key), value: b64(o.value), ...(o.ttlSeconds !== undefined ? { ttl: o.ttlSeconds } : {}), ...(o.lease !== undefined ? { lease: o.lease } : {}) });
    const body = { encoding: 'base64', ops: ops.map((o) => (o.op === 'put' ? put(o) : { op: 'delete', key: b64(o.key) })) };
    return num((await this.json<{ revision: number }>('POST', '/v1/batch', at, body)).revision);
  }

  async txn(req: Required<TxnRequest<Uint8Array>>, at: Attempt): Promise<TxnResult> {
    const ops = (list: Required<TxnRequest<Uint8Array>>['success']) =>
      list.map((o) => {
        if (o.op === 'put') return { op: 'put', key: b64(o.key), value: b64(o.value), ...(o.lease !== undefined ? { lease: o.lease } : {}) };
        if (o.op === 'get') return { op: 'get', key: b64(o.key) };
        return { op: 'delete', key: b64(o.key), ...(o.end !== undefined ? { range_end: b64(o.end) } : {}), ...(o.prefix ? { prefix: true } : {}) };
      });
    const body = {
      encoding: 'base64',
      compare: req.compare.map((c) => ({ key: b64(c.key), target: TXN_TARGETS[c.target], result: c.result, [TXN_TARGETS[c.target]]: typeof c.operand === 'number' ? c.operand : b64(c.operand) })),
      success: ops(req.success),
      failure: ops(req.failure),
    };
    const res = await this.json<{ succeeded: boolean; revision: number; results: RawTxnResult[] }>('POST', '/v1/txn', at, body);
    const result = (r: RawTxnResult): TxnOpResult => {
      if (r.op === 'put') return { op: 'put', revision: num(r.revision) };
      if (r.op === 'delete') return { op: 'delete', deleted: num(r.deleted) };
      if (!r.kv) return { op: 'get' };
      const kv = r.kv;
      return { op: 'get', kv: { key: Buffer.from(kv.key, 'base64'), value: Buffer.from(kv.value, 'base64'), modRevision: num(kv.revision), createRevision: num(kv.create_revision), version: num(kv.version), stale: false } };
    };
    return { succeeded: res.succeeded === true, revision: num(res.revision), results: res.results.map(result) };
  }

  async grantLease(ttlSeconds: number, id: number | undefined, key: Uint8Array | undefined, at: Attempt): Promise<Lease> {
    const res = await this.json<{ id: number; ttl: number }>('POST', '/v1/leases', at, { ttl: ttlSeconds, ...(id !== undefined ? { id } : {}), ...(key ? { key: b64(key), encoding: 'base64' } : {}) });
    return { id: num(res.id), ttlSeconds: num(res.ttl) };
  }

  async keepAliveLease(id: number, at: Attempt): Promise<Lease> {
    const res = await this.json<{ id: number; ttl: number }>('POST', `/v1/leases/${id}/keepalive`, at);
    return { id: num(res.id), ttlSeconds: num(res.ttl) };
  }

  async revokeLease(id: number, at: Attempt): Promise<{ revision: number; deleted: number }> {
    const res = await this.json<{ revision: number; deleted: number }>('DELETE', `/v1/leases/${id}`, at);
    return { revision: num(res.revision), deleted: num(res.deleted) };
  }

  async leaseTimeToLive(id: number, keys: boolean, at: Attempt): Promise<LeaseInfo | undefined> {
    try {
      const res = await this.json<{ id: number; ttl: number; granted_ttl: number; keys?: Array<{ key: string }> }>('GET', `/v1/leases/${id}${keys ? '?keys=true&encoding=base64' : ''}`, at);
      return { id: num(res.id), ttlSeconds: num(res.ttl), grantedTtlSeconds: num(res.granted_ttl), ...(keys ? { keys: (res.keys ?? []).map((k) => Buffer.from(k.key, 'base64')) } : {}) };
    } catch (e) {
      if (e instanceof ConcordClientError && e.code === 'not-found') return undefined;
      throw e;
    }
  }

  async leases(at: Attempt): Promise<LeaseInfo[]> {
    const res = await this.json<{ leases: Array<{ id: number; ttl: number; granted_ttl: number }> }>('GET', '/v1/leases', at);
    return res.leases.map((l) => ({ id: num(l.id), ttlSeconds: num(l.ttl), grantedTtlSeconds: num(l.granted_ttl) }));
  }

  async status(at: Attempt): Promise<ClusterStatus> {
    return clusterStatus(await this.json<RawStatus>('GET', '/v1/cluster', at));
  }

  async addNode(id: string, address: string, learner: boolean, at: Attempt): Promise<ClusterStatus> {
    return clusterStatus(await this.json<RawStatus>('POST', '/v1/cluster/nodes', at, { id, address, ...(learner ? { learner } : {}) }));
  }

  async removeNode(id: string, at: Attempt): Promise<ClusterStatus> {
    return clusterStatus(await this.json<RawStatus>('DELETE', `/v1/cluster/nodes/${encodeURIComponent(id)}`, at));
  }

  async health(at: Attempt): Promise<Health> {
    return this.json<Health>('GET', '/health', at);
  }

  async *watch(req: WatchStreamRequest, signal: AbortSignal): AsyncGenerator<WatchEvent> {
    const mod = this.url.protocol === 'https:' ? https : http;
    // Its own connection, not the agent's: a stream would hold one of the pooled sockets for as long as it runs.
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const r = mod.request({ host: this.url.hostname, port: this.url.port, path: watchPath(req), signal, headers: { accept: 'text/event-stream' } }, resolve);
      r.on('error', (e) => reject(this.networkError(e)));
      r.end();
    });
    try {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        throw this.failure({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      }
      yield* readEvents(res, this.endpoint);
    } catch (e) {
      if (e instanceof ConcordClientError) throw e;
      throw this.networkError(e as Error);
    } finally {
      res.destroy();
    }
    // Ended without the server's error event: the connection was cut.
    throw new ConcordClientError('unreachable', `the watch stream from ${this.endpoint} ended`, { endpoint: this.endpoint });
  }
}

interface RawStatus {
  clusterId?: string;
  self?: string;
  leader?: string | null;
  term?: number;
  nodes?: Array<Partial<ClusterStatus['nodes'][number]>>;
  shards?: Array<{ id?: string; leader?: string | null; voters?: string[]; learners?: string[]; replicas?: string[]; hosted?: boolean; keys?: number; bytes?: number; seenFrom?: string; move?: string }>;
  shardMap?: { epoch: number; members: string[]; replicas: number };
  rebalance?: ClusterStatus['rebalance'];
}

function clusterStatus(s: RawStatus): ClusterStatus {
  return {
    clusterId: s.clusterId ?? '',
    self: s.self ?? '',
    ...(s.leader ? { leader: s.leader } : {}),
    term: num(s.term),
    nodes: (s.nodes ?? []).map((n) => ({
      id: n.id ?? '',
      raftAddr: n.raftAddr ?? '',
      ...(n.httpAddr ? { httpAddr: n.httpAddr } : {}),
      role: n.role ?? '',
      term: num(n.term),
      commitIndex: num(n.commitIndex),
      appliedIndex: num(n.appliedIndex),
      voter: n.voter === true,
      reachable: n.reachable === true,
    })),
    shards: (s.shards ?? []).map((sh) => ({
      id: sh.id ?? '',
      ...(sh.leader ? { leader: sh.leader } : {}),
      voters: sh.voters ?? [],
      learners: sh.learners ?? [],
      ...(Array.isArray(sh.replicas) ? { replicas: sh.replicas } : {}),
      ...(typeof sh.hosted === 'boolean' ? { hosted: sh.hosted } : {}),
      ...(typeof sh.keys === 'number' ? { keys: sh.keys } : {}),
      ...(typeof sh.bytes === 'number' ? { bytes: sh.bytes } : {}),
      ...(typeof sh.seenFrom === 'string' ? { seenFrom: sh.seenFrom } : {}),
      ...(typeof sh.move === 'string' ? { move: sh.move } : {}),
    })),
    ...(s.shardMap ? { shardMap: s.shardMap } : {}),
    ...(s.rebalance ? { rebalance: s.rebalance } : {}),
  };
}
