// The Node client's failover and retry rules, over real HTTP and gRPC servers (the real front ends over the
// in-memory KvService, which counts every call that reaches it and can be told to fail): which failures
// send a call to the next endpoint and which are reported, that a write that may have applied is never
// sent twice, that backoff and the server's retry hint bound the attempts, that the leader is asked first,
// and that a deadline ends a call.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { KV } from '../../src/api/grpc/gen/concord_pb.ts';
import { grpcDefinition } from '../../src/api/grpc/service-def.ts';
import { buildHttpApi } from '../../src/api/http/index.ts';
import { startGrpcServer, type GrpcServer } from '../../src/api/grpc/server.ts';
import { createClient, ConcordClientError, type ConcordClient, type ClientOptions } from '../../src/client/index.ts';
import { ConcordError } from '../../src/util/errors.ts';
import type { ClusterStatus } from '../../src/cluster/types.ts';
import { LIMITS } from '../api/helpers.ts';
import { MemoryCluster, MemoryKv } from '../api/memory-kv.ts';
import { freePort } from '../../testkit/ports.ts';

/** A cluster member as status reports it: its own id and the leader's. */
class NamedCluster extends MemoryCluster {
  constructor(
    private readonly self: string,
    public leader: string,
  ) {
    super();
  }

  override async status(): Promise<ClusterStatus> {
    return { ...(await super.status()), self: this.self, leader: this.leader };
  }
}

interface FakeNode {
  kv: MemoryKv;
  cluster: NamedCluster;
  http: string;
  grpc: string;
  close(): Promise<void>;
}

async function startNode(self: string, leader: string): Promise<FakeNode> {
  const kv = new MemoryKv();
  const cluster = new NamedCluster(self, leader);
  const app = buildHttpApi({ kv, cluster, limits: LIMITS, logger: false, nodeId: self });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const grpc: GrpcServer = await startGrpcServer({ kv, cluster, limits: LIMITS, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
  const port = (app.server.address() as net.AddressInfo).port;
  return { kv, cluster, http: `http://127.0.0.1:${port}`, grpc: grpc.address, close: async () => void (await Promise.all([app.close(), grpc.close()])) };
}

const unavailable = () => new ConcordError('unavailable', 'no leader (no quorum)', 1);
const puts = (n: FakeNode) => n.kv.calls.filter((c) => c.method === 'put').length;

async function failure(p: Promise<unknown>): Promise<ConcordClientError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConcordClientError, String(e));
    return e;
  }
  assert.fail('the call succeeded');
}

for (const protocol of ['http', 'grpc'] as const) {
  describe(`client over ${protocol}: failover and retries`, () => {
    let a: FakeNode;
    let b: FakeNode;
    const clients: ConcordClient[] = [];
    const client = (nodes: Array<FakeNode | string>, o: Partial<ClientOptions> = {}) => {
      const c = createClient({ endpoints: nodes.map((n) => (typeof n === 'string' ? n : n[protocol])), protocol, backoffMs: 20, ...o });
      clients.push(c);
      return c;
    };
    before(async () => {
      [a, b] = await Promise.all([startNode('a', 'a'), startNode('b', 'a')]);
    });
    beforeEach(() => {
      for (const n of [a, b]) {
        n.kv.failWith = undefined;
        n.kv.delayMs = 0;
        n.kv.calls.length = 0;
        n.cluster.leader = 'a';
      }
    });
    after(async () => {
      for (const c of clients) c.close();
      await Promise.all([a.close(), b.close()]);
    });

    it('a plain put answered "unavailable" may have been applied: reported, never sent to another node', async () => {
      a.kv.failWith = unavailable();
      const e = await failure(client([a, b]).put('k', 'v'));
      assert.equal(e.code, 'unavailable');
      assert.equal(e.details.retryAfterMs, 1000);
      assert.deepEqual([puts(a), puts(b)], [1, 0]);
    });

    it('a compare-and-swap or create-only put cannot apply twice: retried on the next node', async () => {
      a.kv.failWith = unavailable();
      const c = client([a, b]);
      assert.ok((await c.put('new', 'v', { createOnly: true })) > 0);
      const rev = await c.put('new', 'w', { ifMatch: b.kv.revision });
      assert.ok(rev > 0);
      assert.deepEqual([puts(a), puts(b)], [1, 2], 'the second starts with b: a failed a moment ago, so it goes after the others for a while');
      assert.equal(String((await c.get('new'))?.value), 'w');
    });

    it('a node that does not answer within a call\'s time (the leader, cut off from its peers) is tried after the others by the next calls, until it answers again', async () => {
      const c = client([a, b]);
      await c.put('warm', 'v'); // learns that a leads
      a.kv.delayMs = 60_000; // a takes calls and never answers them
      const e = await failure(c.put('h', '1', { timeoutMs: 500 }));
      assert.equal(e.code, 'deadline');
      const t0 = Date.now();
      assert.ok((await c.put('h', '2', { timeoutMs: 5000 })) > 0);
      assert.ok(Date.now() - t0 < 1000, `answered by b at once, not after waiting on a (${Date.now() - t0} ms)`);
      assert.deepEqual([puts(a), puts(b)], [2, 1], 'a: the warm-up and the hung put; b: the next put');
    });

    it('a node that answers with a refusal a retry cannot change (precondition-failed) stays first in line', async () => {
      const c = client([a, b]);
      await c.put('taken', 'v');
      assert.equal((await failure(c.put('taken', 'w', { createOnly: true }))).code, 'precondition-failed');
      await c.put('next', 'v');
      assert.deepEqual([puts(a), puts(b)], [3, 0], 'every put went to the leader, a');
    });

    it('reads answered "unavailable" or "timeout" go to the next node', async () => {
      await client([b]).put('r', 'from b');
      a.kv.failWith = unavailable();
      assert.equal(String((await client([a, b]).get('r'))?.value), 'from b');
      a.kv.failWith = new ConcordError('timeout', 'not committed within 5000 ms');
      assert.deepEqual((await client([a, b]).list({ prefix: 'r' })).items.map((i) => String(i.key)), ['r']);
    });

    it('a node that refuses the connection never got the write: even a plain put goes to the next node', async () => {
      const dead = `127.0.0.1:${await freePort()}`;
      const rev = await client([protocol === 'http' ? `http://${dead}` : dead, b]).put('k2', 'v');
      assert.ok(rev > 0);
      assert.equal(puts(b), 1);
    });

    it('refusals that a retry cannot fix are reported at once: precondition-failed, bad-request', async () => {
      const c = client([a, b]);
      await c.put('p', 'v');
      assert.equal((await failure(c.put('p', 'w', { createOnly: true }))).code, 'precondition-failed');
      assert.equal((await failure(c.put('', 'w'))).code, 'bad-request');
      assert.equal(puts(b), 0, 'the second node was never asked');
    });

    it('absent keys: get resolves undefined, delete {deleted: 0}', async () => {
      const c = client([a]);
      assert.equal(await c.get('absent'), undefined);
      assert.deepEqual(await c.delete('absent'), { deleted: 0 });
    });

    it('after a round over every node fails, it backs off, honouring the server\'s retry hint, within the deadline', async () => {
      a.kv.failWith = b.kv.failWith = unavailable(); // Retry-After: 1 s
      const e = await failure(client([a, b], { maxAttempts: 20, timeoutMs: 400 }).get('k'));
      assert.equal(e.code, 'deadline');
      assert.match(e.message, /no answer within 400 ms \(last: .*no leader/);
      const gets = [a, b].map((n) => n.kv.calls.filter((c) => c.method === 'get').length);
      assert.deepEqual(gets, [1, 1], 'one round, then a wait longer than the deadline');
    });

    it('the leader is asked first for writes and linearizable reads; serializable reads go anywhere', async () => {
      a.cluster.leader = b.cluster.leader = 'b';
      const c = client([a, b]);
      await c.put('lead', 'v');
      assert.deepEqual([puts(a), puts(b)], [0, 1]);
      await c.get('lead');
      assert.equal(a.kv.calls.filter((x) => x.method === 'get').length, 0);
      // The leader fails: the next write finds its way to the other node, and the leader is learnt again.
      b.kv.failWith = unavailable();
      assert.ok((await c.put('lead2', 'x', { createOnly: true })) > 0);
      assert.equal(puts(a), 1);
    });

    it('a leader that is none of the endpoints is learnt once, not asked for on every call', async () => {
      a.cluster.leader = b.cluster.leader = 'elsewhere';
      const statuses = () => a.cluster.calls.filter((x) => x === 'status').length + b.cluster.calls.filter((x) => x === 'status').length;
      const before = statuses();
      const c = client([a, b]);
      for (let i = 0; i < 5; i++) await c.put(`else${i}`, 'v');
      assert.ok(statuses() - before <= 2, `${statuses() - before} status calls for 5 puts`);
      assert.equal(puts(a) + puts(b), 5);
    });

    it('a deadline ends a call that gets no answer', async () => {
      a.kv.delayMs = 5_000;
      const started = Date.now();
      const e = await failure(client([a], { timeoutMs: 200 }).get('slow'));
      assert.equal(e.code, 'deadline');
      assert.ok(Date.now() - started < 2_000, `ended after ${Date.now() - started} ms`);
      const ac = new AbortController();
      const p = client([a]).get('slow', { signal: ac.signal });
      ac.abort();
      assert.equal((await failure(p)).code, 'deadline');
    });
  });
}

describe('client over http: a connection that drops during a call', () => {
  let server: net.Server;
  let requests = 0;
  before(async () => {
    // Reads the request, then resets the connection without answering: the write may have been applied.
    server = net.createServer((s) =>
      s.once('data', () => {
        requests++;
        s.resetAndDestroy();
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('a plain put is not sent again; a read is, until the attempts run out', async () => {
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const c = createClient({ endpoints: [url], maxAttempts: 3, backoffMs: 1 });
    try {
      const e = await failure(c.put('k', 'v'));
      assert.equal(e.code, 'unreachable');
      assert.equal(e.details.notSent, false);
      assert.equal(requests, 1);
      assert.equal((await failure(c.get('k'))).code, 'unreachable');
      assert.equal(requests, 4);
    } finally {
      c.close();
    }
  });
});

describe('client: endpoints', () => {
  it('http://, https://, grpc:// and bare host:port; one protocol per client; bad addresses refused at once', () => {
    assert.equal(createClient({ endpoints: ['127.0.0.1:1', 'http://127.0.0.1:2'] }).protocol, 'http');
    assert.equal(createClient({ endpoints: ['grpc://127.0.0.1:1', '127.0.0.1:2'], protocol: 'grpc' }).protocol, 'grpc');
    assert.equal(createClient({ endpoints: ['grpc://[::1]:1'] }).protocol, 'grpc');
    for (const [endpoints, pattern] of [
      [[], /no endpoints/],
      [['http://a:1', 'grpc://b:2'], /one protocol/],
      [['ftp://a:1'], /expected http:\/\/, https:\/\/ or grpc:\/\//],
      [['a'], /expected host:port/],
      [['http://a:1/path'], /expected host:port/],
      [['a:0'], /port 1 to 65535/],
      [['grpc://a:70000'], /port 1 to 65535/],
    ] as const) {
      assert.throws(() => createClient({ endpoints: [...endpoints] }), pattern, JSON.stringify(endpoints));
    }
  });
});

describe('client over grpc: the deadline travels with the call', () => {
  it('the server sees the call\'s deadline (grpc-timeout), so it can stop work the client no longer waits for', async () => {
    const server = new grpc.Server();
    let deadline: grpc.Deadline | undefined;
    const handlers = Object.fromEntries(Object.keys(grpcDefinition(KV)).map((m) => [m, (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      deadline = call.getDeadline();
      cb({ code: grpc.status.NOT_FOUND, details: 'absent' });
    }]));
    server.addService(grpcDefinition(KV), handlers as never);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const c = createClient({ endpoints: [`127.0.0.1:${port}`], protocol: 'grpc', timeoutMs: 3_000 });
    try {
      const before = Date.now();
      assert.equal(await c.get('k', { consistency: 'serializable' }), undefined);
      const ms = deadline instanceof Date ? deadline.getTime() : Number(deadline);
      assert.ok(Number.isFinite(ms) && ms > before && ms <= before + 3_100, `deadline ${String(deadline)}`);
    } finally {
      c.close();
      server.forceShutdown();
    }
  });
});
