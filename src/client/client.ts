// createClient: one typed client over HTTP or gRPC with failover across endpoints, retries with backoff,
// a deadline per call, and the leader found and asked first — or, with several shards (over HTTP, whose
// status carries the shard map), a key's call sent to a node holding the key's shard, saving the hop a node
// not holding it would make.
//
// What is retried, on another endpoint (then, after a round over all of them, after a backoff):
// - reads (get, list, status, health): any answer that says "not now" (unavailable, timeout) or no answer;
// - writes only when a repeat cannot apply them twice: the request certainly never reached a server (no
//   connection could be made), or the write is conditional — a compare-and-swap (`ifMatch`) or create-only
//   put, a delete with `ifMatch` — so a second attempt after a first that did apply fails its condition
//   (precondition-failed) instead of writing again. Any other write that may have reached a server is
//   reported as it failed: it may or may not have been applied, and only the caller knows whether
//   repeating it is right. A transaction counts as a read when it writes nothing in either branch (its
//   compares would not keep a repeat from running the other branch).

import { shardOf } from '../shard/key-hash.ts';
import { keyAfter, toBytes } from './bytes.ts';
import { Endpoints, type Protocol } from './endpoints.ts';
import { ConcordClientError, isTransient } from './errors.ts';
import type {
  Attempt,
  BatchOp,
  Bytes,
  CallOptions,
  ClusterStatus,
  DeleteOptions,
  DeleteResult,
  GetOptions,
  Health,
  KeyValue,
  Lease,
  LeaseGrantOptions,
  LeaseInfo,
  ListItem,
  TxnOp,
  TxnRequest,
  TxnResult,
  ListOptions,
  ListPage,
  PutOptions,
  Transport,
  WatchEvent,
  WatchOptions,
  WatchStreamRequest,
} from './types.ts';

export interface ClientOptions {
  /** Nodes to talk to: `http://host:port`, `grpc://host:port`, or `host:port` with `protocol`. */
  endpoints: string[];
  /** For bare `host:port` endpoints (default http). */
  protocol?: Protocol;
  /** Each call's deadline, retries included (default 10000 ms). */
  timeoutMs?: number;
  /** Attempts per call at most, over all endpoints (default 5). */
  maxAttempts?: number;
  /** First backoff after a round over every endpoint failed (default 50 ms), doubling up to `maxBackoffMs` (default 1000). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Ask the leader first for writes and linearizable reads (default true; costs one status call per leader change). */
  preferLeader?: boolean;
}

type Retry = 'always' | 'if-not-sent';

export interface ConcordClient {
  readonly protocol: Protocol;
  /** The key's value and revisions, or undefined if it does not exist. */
  get(key: Bytes, opts?: GetOptions): Promise<KeyValue | undefined>;
  /** Writes the key; resolves with the new revision. precondition-failed when `ifMatch` / `createOnly` does not hold. */
  put(key: Bytes, value: Bytes, opts?: PutOptions): Promise<number>;
  /** Deletes the key: `{deleted: 0}` if it did not exist. */
  delete(key: Bytes, opts?: DeleteOptions): Promise<DeleteResult>;
  /** One page of keys in byte order; `nextStart` continues it. */
  list(opts?: ListOptions): Promise<ListPage>;
  /** Every key in the range, page by page. */
  listAll(opts?: ListOptions): AsyncGenerator<ListItem>;
  /** Puts and deletes applied atomically at one revision; resolves with it. */
  batch(ops: BatchOp[], opts?: CallOptions): Promise<number>;
  /** Compares, then the `success` or the `failure` ops, atomically at one revision; the keys must share a shard. */
  txn(req: TxnRequest, opts?: CallOptions): Promise<TxnResult>;
  status(opts?: CallOptions): Promise<ClusterStatus>;
  addNode(id: string, raftAddress: string, opts?: CallOptions & { learner?: boolean }): Promise<ClusterStatus>;
  removeNode(id: string, opts?: CallOptions): Promise<ClusterStatus>;
  /** The first endpoint that answers: its liveness and node id. */
  health(opts?: CallOptions): Promise<Health>;
  /**
   * Changes as they happen: a progress event with the start position first, then one event per change (and
   * progress while quiet), until `signal` aborts. A stream the server ends (it fell behind, the node shut
   * down) or a lost connection is resumed from the last event's cursor, on another endpoint after a failure,
   * with backoff; the watch fails (ConcordClientError) when the server refuses it (`compacted`, bad input) or
   * no endpoint takes it for `maxAttempts` tries in a row.
   */
  watch(opts?: WatchOptions): AsyncGenerator<WatchEvent>;
  /**
   * Grants a lease (etcd's): it expires `ttlSeconds` after its grant or last keep-alive, and its expiry or
   * revoke deletes every key attached to it (PutOptions.lease). With several shards, only keys of the lease's
   * shard can be attached: grant it with `key` (a key or {tag}) to put it in that key's shard.
   */
  grantLease(ttlSeconds: number, opts?: LeaseGrantOptions): Promise<Lease>;
  /** Renews the lease for its TTL from now; not-found once it has expired or been revoked. */
  keepAliveLease(id: number, opts?: CallOptions): Promise<Lease>;
  /**
   * Keeps the lease alive until `stop()` (or `signal`): a keep-alive every third of its TTL (or `intervalMs`),
   * each given up after that long, and a failed one tried again a quarter second later. `done` settles when it
   * stops: resolves when stopped, rejects with not-found once the lease is gone (it expired while no keep-alive
   * got through, or was revoked).
   */
  keepLeaseAlive(id: number, opts?: { intervalMs?: number; signal?: AbortSignal }): { stop(): void; done: Promise<void> };
  /** Deletes the keys attached to the lease, then the lease, at one revision; not-found if it does not exist. */
  revokeLease(id: number, opts?: CallOptions): Promise<{ revision: number; deleted: number }>;
  /** The lease's time left (and with `keys`, its keys); undefined if it does not exist. */
  leaseTimeToLive(id: number, opts?: CallOptions & { keys?: boolean }): Promise<LeaseInfo | undefined>;
  /** Every lease, by id, with its time left. */
  leases(opts?: CallOptions): Promise<LeaseInfo[]>;
  /** Closes every connection; the client cannot be used after. */
  close(): void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** The server's progress interval when a watch names none, and how many of them without any event mean a lost stream. */
const DEFAULT_WATCH_PROGRESS_MS = 5000;
/** keepLeaseAlive: the least time between renewals, and what it waits after a failed one. */
const KEEP_ALIVE_RETRY_MS = 250;
/** keepLeaseAlive: how long its first renewal may take (the TTL, which bounds the others, is not known yet; a lease has at least 1 s). */
const KEEP_ALIVE_FIRST_TIMEOUT_MS = 1000;
const WATCH_SILENCE_PROGRESS_PERIODS = 3;

export function createClient(options: ClientOptions): ConcordClient {
  const endpoints = new Endpoints(options.endpoints, options.protocol);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const backoffMs = options.backoffMs ?? 50;
  const maxBackoffMs = options.maxBackoffMs ?? 1000;
  const preferLeader = options.preferLeader ?? true;
  let closed = false;

  /**
   * Learns the leader (and which endpoint is which node) when it is not known: once per leader, not once per
   * call, also when the leader is none of the endpoints (calls then go to any; a node forwards). Failures are
   * ignored: the call itself will report.
   */
  async function findLeader(at: Attempt): Promise<void> {
    if (!preferLeader || endpoints.size === 1 || (endpoints.leaderId !== undefined && endpoints.heard)) return;
    const first = endpoints.order(false)[0];
    const learn = (t: Transport) =>
      t.status(at).then(
        (s) => endpoints.learn(t, s.self, s.leader, s.shards),
        () => undefined,
      );
    await learn(first);
    // Every endpoint's node id is needed to find the leader among them, or the holders of a key's shard.
    const named = endpoints.shardReplicas !== undefined || (endpoints.leaderId !== undefined && !endpoints.leaderKnown());
    if (named) await Promise.all(endpoints.unnamed().map(learn));
  }

  /** The nodes holding `key`'s shard, preferred leader first, when the client knows the shard map. */
  function holders(key: Uint8Array | undefined): string[] | undefined {
    const map = endpoints.shardReplicas;
    return key !== undefined && map !== undefined && key.byteLength > 0 ? map[shardOf(key, map.length)] : undefined;
  }

  async function run<T>(what: string, retry: Retry, toLeader: boolean, opts: CallOptions | undefined, fn: (t: Transport, at: Attempt) => Promise<T>, key?: Uint8Array): Promise<T> {
    if (closed) throw new ConcordClientError('bad-request', 'the client is closed');
    const ms = opts?.timeoutMs ?? timeoutMs;
    const signal = opts?.signal ? AbortSignal.any([AbortSignal.timeout(ms), opts.signal]) : AbortSignal.timeout(ms);
    const at: Attempt = { signal, deadline: Date.now() + ms };
    if (toLeader || key !== undefined) await findLeader(at);
    let last: ConcordClientError | undefined;
    const order = endpoints.order(toLeader, holders(key)); // fixed for the call: a failure must not bring the same node round again at once
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const t = order[attempt % order.length];
      if (attempt > 0 && attempt % order.length === 0) {
        const round = attempt / order.length;
        const hint = last?.details.retryAfterMs ?? 0;
        const jittered = backoffMs * 2 ** (round - 1) * (0.5 + Math.random() / 2);
        await sleep(Math.min(maxBackoffMs, Math.max(hint, jittered)), signal);
      }
      if (signal.aborted) break;
      try {
        const res = await fn(t, at);
        endpoints.answered(t);
        return res;
      } catch (e) {
        if (!(e instanceof ConcordClientError)) throw e;
        if (e.code === 'deadline') {
          // The node did not answer within the call's time (cut off, frozen): the next call does not start with
          // it, nor with the leader it was taken for — unless the caller, not the time, ended this one.
          if (!opts?.signal?.aborted) endpoints.failed(t);
          break;
        }
        // An answer that a retry cannot change (precondition-failed, not-found…) is the node working as it should.
        if (isTransient(e)) endpoints.failed(t);
        else endpoints.answered(t);
        last = e;
        const again = isTransient(e) && (retry === 'always' || e.details.notSent === true);
        if (!again) throw e;
      }
    }
    if (opts?.signal?.aborted) throw new ConcordClientError('deadline', `${what}: aborted`, last?.details ?? {});
    if (signal.aborted) {
      const code = last?.code === 'unreachable' ? 'unreachable' : 'deadline';
      throw new ConcordClientError(code, `${what}: no answer within ${ms} ms${last ? ` (last: ${last.message})` : ''}`, { ...last?.details, ...(last ? { last } : {}) });
    }
    throw last!;
  }

  const writeRetry = (conditional: boolean): Retry => (conditional ? 'always' : 'if-not-sent');

  const client: ConcordClient = {
    protocol: endpoints.protocol,
    get: (key, o) => {
      const k = toBytes(key);
      return run('get', 'always', o?.consistency !== 'serializable', o, (t, s) => t.get(k, o?.consistency, s), k);
    },
    put: (key, value, o = {}) => {
      const [k, v] = [toBytes(key), toBytes(value)];
      return run('put', writeRetry(o.ifMatch !== undefined || o.createOnly === true), true, o, (t, s) => t.put(k, v, o, s), k);
    },
    delete: (key, o) => {
      const k = toBytes(key);
      return run('delete', writeRetry(o?.ifMatch !== undefined), true, o, (t, s) => t.delete(k, o?.ifMatch, s), k);
    },
    list: async (o = {}) => {
      const page = await run('list', 'always', o.consistency !== 'serializable', o, (t, s) => t.list(o, s));
      const lastKey = page.items.at(-1)?.key;
      return { ...page, ...(page.more && lastKey ? { nextStart: keyAfter(lastKey) } : {}) };
    },
    listAll: async function* (o = {}) {
      let start = o.start;
      for (;;) {
        const page = await client.list({ ...o, ...(start !== undefined ? { start } : {}) });
        yield* page.items;
        if (!page.nextStart) return;
        start = page.nextStart;
      }
    },
    batch: (ops, o) => {
      const bytes = ops.map((op): BatchOp<Uint8Array> => (op.op === 'put' ? { ...op, key: toBytes(op.key), value: toBytes(op.value) } : { op: 'delete', key: toBytes(op.key) }));
      return run('batch', 'if-not-sent', true, o, (t, s) => t.batch(bytes, s));
    },
    txn: (req, o) => {
      const ops = (list: TxnRequest['success']) =>
        (list ?? []).map((op): TxnOp<Uint8Array> => {
          if (op.op === 'put') return { op: 'put', key: toBytes(op.key), value: toBytes(op.value), ...(op.lease !== undefined ? { lease: op.lease } : {}) };
          if (op.op === 'get') return { op: 'get', key: toBytes(op.key) };
          return { op: 'delete', key: toBytes(op.key), ...(op.end !== undefined ? { end: toBytes(op.end) } : {}), ...(op.prefix ? { prefix: true } : {}) };
        });
      const r = {
        compare: (req.compare ?? []).map((c) => ({ ...c, key: toBytes(c.key), operand: typeof c.operand === 'number' ? c.operand : toBytes(c.operand) })),
        success: ops(req.success),
        failure: ops(req.failure),
      };
      const wrong = r.compare.find((c) => (c.target === 'value') === (typeof c.operand === 'number'));
      if (wrong) return Promise.reject(new TypeError(`txn compare on ${wrong.target}: the operand must be ${wrong.target === 'value' ? 'bytes or a string' : 'a number'}`));
      const readOnly = [...r.success, ...r.failure].every((op) => op.op === 'get');
      const first = [...r.compare, ...r.success, ...r.failure][0]?.key;
      return run('txn', readOnly ? 'always' : 'if-not-sent', true, o, (t, s) => t.txn(r, s), first);
    },
    grantLease: (ttlSeconds, o = {}) => {
      const key = o.key === undefined ? undefined : toBytes(o.key);
      return run('grantLease', 'if-not-sent', true, o, (t, s) => t.grantLease(ttlSeconds, o.id, key, s), key);
    },
    keepAliveLease: (id, o) => run('keepAliveLease', 'always', true, o, (t, s) => t.keepAliveLease(id, s)),
    keepLeaseAlive: (id, o = {}) => {
      const stopper = new AbortController();
      const signal = o.signal ? AbortSignal.any([o.signal, stopper.signal]) : stopper.signal;
      const done = (async () => {
        let waitMs = 0;
        let interval: number | undefined = o.intervalMs;
        while (!signal.aborted) {
          await sleep(waitMs, signal);
          if (signal.aborted) return;
          try {
            // A renewal stuck (a write forwarded to a leader that died is answered only by a timeout) is given
            // up after one interval, and tried again: the next one must land before the lease runs out.
            const { ttlSeconds } = await client.keepAliveLease(id, { signal, timeoutMs: Math.max(KEEP_ALIVE_RETRY_MS, Math.round(interval ?? KEEP_ALIVE_FIRST_TIMEOUT_MS)) });
            interval = o.intervalMs ?? Math.max(KEEP_ALIVE_RETRY_MS, Math.round((ttlSeconds * 1000) / 3));
            waitMs = interval;
          } catch (e) {
            if (signal.aborted) return;
            // Tried again soon, while the lease may still be alive; the server says when it is not.
            if (!(e instanceof ConcordClientError) || !(isTransient(e) || e.code === 'deadline')) throw e;
            waitMs = KEEP_ALIVE_RETRY_MS;
          }
        }
      })();
      // A caller that never awaits `done` must not have its process ended by an unhandled rejection.
      done.catch(() => {});
      return { stop: () => stopper.abort(), done };
    },
    revokeLease: (id, o) => run('revokeLease', 'if-not-sent', true, o, (t, s) => t.revokeLease(id, s)),
    leaseTimeToLive: (id, o) => run('leaseTimeToLive', 'always', true, o, (t, s) => t.leaseTimeToLive(id, o?.keys === true, s)),
    leases: (o) => run('leases', 'always', true, o, (t, s) => t.leases(s)),
    status: (o) =>
      run('status', 'always', false, o, async (t, s) => {
        const st = await t.status(s);
        endpoints.learn(t, st.self, st.leader, st.shards);
        return st;
      }),
    addNode: (id, addr, o) => run('addNode', 'if-not-sent', true, o, (t, s) => t.addNode(id, addr, o?.learner === true, s)),
    removeNode: (id, o) => run('removeNode', 'if-not-sent', true, o, (t, s) => t.removeNode(id, s)),
    health: (o) => run('health', 'always', false, o, (t, s) => t.health(s)),
    watch: async function* (o = {}) {
      if (closed) throw new ConcordClientError('bad-request', 'the client is closed');
      const signal = o.signal ?? new AbortController().signal;
      const req: WatchStreamRequest = {
        ...(o.key !== undefined ? { key: toBytes(o.key) } : {}),
        ...(o.prefix !== undefined ? { prefix: toBytes(o.prefix) } : {}),
        ...(o.cursor !== undefined ? { cursor: o.cursor } : o.fromRevision !== undefined ? { fromRevision: o.fromRevision } : {}),
        prevKv: o.prevKv === true,
        ...(o.progressMs !== undefined ? { progressMs: o.progressMs } : {}),
      };
      const order = endpoints.order(false);
      // A stream that brings nothing, not even its progress events, for this long is taken as lost (a node
      // frozen or cut off keeps its connections open) and resumed elsewhere.
      const silentMs = WATCH_SILENCE_PROGRESS_PERIODS * (o.progressMs ?? DEFAULT_WATCH_PROGRESS_MS);
      let failures = 0;
      /** Endpoints that answered `compacted` since the last event: each replica keeps its own history, so every one is asked. */
      const compacted = new Set<Transport>();
      for (let i = 0; !signal.aborted; ) {
        const stream = new AbortController();
        const both = AbortSignal.any([signal, stream.signal]);
        let silence = setTimeout(() => stream.abort(), silentMs);
        try {
          for await (const e of order[i % order.length].watch(req, both)) {
            clearTimeout(silence);
            silence = setTimeout(() => stream.abort(), silentMs);
            failures = 0;
            compacted.clear();
            req.cursor = e.cursor;
            yield e;
          }
        } catch (e) {
          if (signal.aborted) return;
          const t = order[i % order.length];
          if (e instanceof ConcordClientError && e.code === 'compacted' && compacted.size < order.length - 1 && !compacted.has(t)) {
            compacted.add(t);
            i++;
            continue;
          }
          const lost = stream.signal.aborted ? new ConcordClientError('unreachable', `the watch stream from ${order[i % order.length].endpoint} went silent for ${silentMs} ms`) : e;
          if (!(lost instanceof ConcordClientError) || !isTransient(lost) || ++failures >= maxAttempts) throw lost;
          i++; // any replica resumes a cursor: the next endpoint, so a node shutting down or cut off is not asked again at once
          await sleep(Math.min(maxBackoffMs, Math.max(lost.details.retryAfterMs ?? 0, backoffMs * 2 ** (failures - 1))), signal);
        } finally {
          clearTimeout(silence);
        }
      }
    },
    close: () => {
      closed = true;
      endpoints.close();
    },
  };
  return client;
}
