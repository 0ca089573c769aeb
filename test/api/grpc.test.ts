// The gRPC front end over real HTTP/2 with a real @grpc/grpc-js client, against the in-memory KvService:
// every RPC and its HTTP v1 semantics, every error code's mapping, deadlines, the RPCs not built yet
// answering UNIMPLEMENTED at once, the health service and server reflection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { startGrpcServer, type GrpcServer } from '../../src/api/grpc/server.ts';
import { Cluster, Compare_Result, Compare_Target, Consistency, KV, Lease } from '../../src/api/grpc/gen/concord_pb.ts';
import { GRPC_STATUS } from '../../src/api/grpc/status.ts';
import { ConcordError, type ErrorCode } from '../../src/util/errors.ts';
import { GrpcTestClient } from './grpc-client.ts';
import { MemoryCluster, MemoryKv } from './memory-kv.ts';

const LIMITS = { maxKeyBytes: 1024, maxValueBytes: 64 * 1024 };
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The gRPC status a call failed with (and its error), or a failure if it succeeded. */
async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  assert.fail('the call succeeded');
}

describe('gRPC API', () => {
  const kv = new MemoryKv();
  const cluster = new MemoryCluster();
  let server: GrpcServer;
  let c: GrpcTestClient;
  before(async () => {
    server = await startGrpcServer({ kv, cluster, limits: LIMITS, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
    c = new GrpcTestClient(server.address);
  });
  after(async () => {
    c.close();
    await server.close();
  });

  it('Put, Get, Delete with binary keys and values; revisions as HTTP gives them', async () => {
    const key = Buffer.of(0x00, 0xff, 0x2f, 0x25);
    const put = await c.call(KV, 'put', { key, value: Buffer.of(0, 1, 2, 0xc3, 0x28) });
    assert.ok(put.revision > 0n);
    const got = await c.call(KV, 'get', { key });
    assert.deepEqual(Buffer.from(got.kv!.key), key);
    assert.deepEqual(Buffer.from(got.kv!.value), Buffer.of(0, 1, 2, 0xc3, 0x28));
    assert.equal(got.kv!.modRevision, put.revision);
    assert.equal(got.kv!.createRevision, put.revision);
    assert.equal(got.kv!.version, 1n);
    assert.equal(got.stale, false);
    const again = await c.call(KV, 'put', { key, value: b('v2') });
    const got2 = await c.call(KV, 'get', { key });
    assert.equal(got2.kv!.version, 2n);
    assert.equal(got2.kv!.createRevision, put.revision);
    assert.equal(got2.kv!.modRevision, again.revision);
    const del = await c.call(KV, 'delete', { key });
    assert.equal(del.deleted, 1n);
    assert.ok(del.revision > again.revision);
    assert.equal((await failure(c.call(KV, 'get', { key }))).code, grpc.status.NOT_FOUND);
    assert.equal((await failure(c.call(KV, 'delete', { key }))).code, grpc.status.NOT_FOUND);
    const empty = await c.call(KV, 'put', { key: b('empty'), value: new Uint8Array(0) });
    assert.equal((await c.call(KV, 'get', { key: b('empty') })).kv!.modRevision, empty.revision);
  });

  it('compare-and-swap (if_match), create-only, both at once refused; Delete honours if_match', async () => {
    const { revision } = await c.call(KV, 'put', { key: b('cas'), value: b('1') });
    const wrong = await failure(c.call(KV, 'put', { key: b('cas'), value: b('2'), ifMatch: revision + 100n }));
    assert.equal(wrong.code, grpc.status.FAILED_PRECONDITION);
    const ok = await c.call(KV, 'put', { key: b('cas'), value: b('2'), ifMatch: revision });
    assert.equal((await failure(c.call(KV, 'put', { key: b('cas'), value: b('x'), createOnly: true }))).code, grpc.status.FAILED_PRECONDITION);
    await c.call(KV, 'put', { key: b('fresh'), value: b('x'), createOnly: true });
    assert.equal((await failure(c.call(KV, 'put', { key: b('cas'), value: b('x'), createOnly: true, ifMatch: ok.revision }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await failure(c.call(KV, 'delete', { key: b('cas'), ifMatch: revision }))).code, grpc.status.FAILED_PRECONDITION);
    assert.equal((await c.call(KV, 'delete', { key: b('cas'), ifMatch: ok.revision })).deleted, 1n);
    // if_match 0 is a real precondition (no key has modRevision 0), not "absent"
    assert.equal((await failure(c.call(KV, 'put', { key: b('fresh'), value: b('y'), ifMatch: 0n }))).code, grpc.status.FAILED_PRECONDITION);
  });

  it('ttl_seconds as HTTP\'s ?ttl= (1 to 9999999999); lease as ?lease= (1 to 2^53 - 1)', async () => {
    await c.call(KV, 'put', { key: b('ttl'), value: b('x'), ttlSeconds: 30n });
    assert.deepEqual(kv.calls.at(-1)?.opts, { ttlSeconds: 30 });
    for (const ttlSeconds of [0n, -1n, 10_000_000_000n]) {
      assert.equal((await failure(c.call(KV, 'put', { key: b('ttl'), value: b('x'), ttlSeconds }))).code, grpc.status.INVALID_ARGUMENT, String(ttlSeconds));
    }
    await c.call(KV, 'put', { key: b('ttl'), value: b('x'), lease: 7n });
    assert.deepEqual(kv.calls.at(-1)?.opts, { lease: 7 });
    for (const lease of [-1n, 2n ** 53n]) {
      assert.equal((await failure(c.call(KV, 'put', { key: b('ttl'), value: b('x'), lease }))).code, grpc.status.INVALID_ARGUMENT, String(lease));
    }
  });

  it('consistency: linearizable by default, serializable passed through and marked stale while no leader is known', async () => {
    await c.call(KV, 'put', { key: b('c'), value: b('v') });
    await c.call(KV, 'get', { key: b('c') });
    assert.equal(kv.lastConsistency, undefined); // the service's default: linearizable
    await c.call(KV, 'get', { key: b('c'), consistency: Consistency.LINEARIZABLE });
    assert.equal(kv.lastConsistency, 'linearizable');
    await c.call(KV, 'get', { key: b('c'), consistency: Consistency.SERIALIZABLE });
    assert.equal(kv.lastConsistency, 'serializable');
    assert.equal((await failure(c.call(KV, 'get', { key: b('c'), consistency: 9 as Consistency }))).code, grpc.status.INVALID_ARGUMENT);
    kv.noLeader = { lastContactMs: 1234 };
    try {
      const r = await c.call(KV, 'get', { key: b('c'), consistency: Consistency.SERIALIZABLE });
      assert.equal(r.stale, true);
      assert.equal(r.lastContactMs, 1234n);
      const lin = await failure(c.call(KV, 'get', { key: b('c') }));
      assert.equal(lin.code, grpc.status.UNAVAILABLE);
      assert.deepEqual(lin.metadata.get('retry-after'), ['1']);
    } finally {
      kv.noLeader = undefined;
    }
  });

  it('List: ordered, prefix/start/end, limit and more, keys_only, limits as HTTP\'s', async () => {
    for (const k of ['l/a', 'l/b', 'l/c', 'l/d', 'm/a']) await c.call(KV, 'put', { key: b(k), value: b(`v-${k}`) });
    const keys = (r: { items: Array<{ key: Uint8Array }> }) => r.items.map((i) => Buffer.from(i.key).toString());
    const all = await c.call(KV, 'list', { prefix: b('l/') });
    assert.deepEqual(keys(all), ['l/a', 'l/b', 'l/c', 'l/d']);
    assert.equal(all.more, false);
    assert.equal(Buffer.from(all.items[0].value).toString(), 'v-l/a');
    const page1 = await c.call(KV, 'list', { prefix: b('l/'), limit: 2 });
    assert.deepEqual(keys(page1), ['l/a', 'l/b']);
    assert.equal(page1.more, true);
    const page2 = await c.call(KV, 'list', { prefix: b('l/'), limit: 2, start: Buffer.concat([page1.items[1].key, Buffer.of(0)]) });
    assert.deepEqual(keys(page2), ['l/c', 'l/d']);
    assert.deepEqual(keys(await c.call(KV, 'list', { start: b('l/b'), end: b('l/d') })), ['l/b', 'l/c']);
    const ko = await c.call(KV, 'list', { prefix: b('l/'), keysOnly: true });
    assert.ok(ko.items.every((i) => i.value.byteLength === 0 && i.modRevision > 0n));
    await c.call(KV, 'list', { prefix: b('l/'), consistency: Consistency.SERIALIZABLE });
    assert.equal(kv.lastConsistency, 'serializable');
    assert.deepEqual(kv.calls.at(-1)?.opts, { limit: 1000, keysOnly: false, prefix: b('l/'), consistency: 'serializable' });
    assert.equal((await failure(c.call(KV, 'list', { limit: 10_001 }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await failure(c.call(KV, 'list', { prefix: Buffer.alloc(LIMITS.maxKeyBytes + 1) }))).code, grpc.status.RESOURCE_EXHAUSTED);
  });

  it('Batch: puts and deletes at one revision; empty, unset and oversized batches refused before the service', async () => {
    await c.call(KV, 'put', { key: b('b/old'), value: b('x') });
    const r = await c.call(KV, 'batch', {
      ops: [{ op: { case: 'put', value: { key: b('b/1'), value: b('one') } } }, { op: { case: 'put', value: { key: b('b/2'), value: b('two') } } }, { op: { case: 'delete', value: { key: b('b/old') } } }],
    });
    const [one, two] = await Promise.all([c.call(KV, 'get', { key: b('b/1') }), c.call(KV, 'get', { key: b('b/2') })]);
    assert.equal(one.kv!.modRevision, r.revision);
    assert.equal(two.kv!.modRevision, r.revision);
    assert.equal((await failure(c.call(KV, 'get', { key: b('b/old') }))).code, grpc.status.NOT_FOUND);
    const before = kv.dump();
    const calls = kv.calls.length;
    assert.equal((await failure(c.call(KV, 'batch', { ops: [] }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await failure(c.call(KV, 'batch', { ops: [{}] }))).code, grpc.status.INVALID_ARGUMENT);
    const half = { op: { case: 'put' as const, value: { key: b('b/big'), value: Buffer.alloc(LIMITS.maxValueBytes / 2 + 1) } } };
    assert.equal((await failure(c.call(KV, 'batch', { ops: [half, half] }))).code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await failure(c.call(KV, 'batch', { ops: [{ op: { case: 'delete', value: { key: new Uint8Array(0) } } }] }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal(kv.dump(), before);
    assert.equal(kv.calls.length, calls);
  });

  it('sizes and empty keys: INVALID_ARGUMENT and RESOURCE_EXHAUSTED, the service never called', async () => {
    const calls = kv.calls.length;
    assert.equal((await failure(c.call(KV, 'put', { key: new Uint8Array(0), value: b('x') }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await failure(c.call(KV, 'get', { key: new Uint8Array(0) }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await failure(c.call(KV, 'put', { key: Buffer.alloc(LIMITS.maxKeyBytes + 1, 1), value: b('x') }))).code, grpc.status.RESOURCE_EXHAUSTED);
    const big = await failure(c.call(KV, 'put', { key: b('k'), value: Buffer.alloc(LIMITS.maxValueBytes + 1) }));
    assert.equal(big.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(big.details, /the limit is 65536/);
    assert.equal(kv.calls.length, calls);
  });

  it('every code of the error catalogue maps to its gRPC status, with the catalogue code and (unavailable) the retry hint in metadata', async () => {
    const expected: Record<ErrorCode, grpc.status> = {
      'bad-request': grpc.status.INVALID_ARGUMENT,
      'not-found': grpc.status.NOT_FOUND,
      'method-not-allowed': grpc.status.UNIMPLEMENTED,
      'precondition-failed': grpc.status.FAILED_PRECONDITION,
      compacted: grpc.status.OUT_OF_RANGE,
      'too-large': grpc.status.RESOURCE_EXHAUSTED,
      unavailable: grpc.status.UNAVAILABLE,
      timeout: grpc.status.DEADLINE_EXCEEDED,
      internal: grpc.status.INTERNAL,
      'not-implemented': grpc.status.UNIMPLEMENTED,
    };
    assert.deepEqual(GRPC_STATUS, expected);
    try {
      for (const code of Object.keys(expected) as ErrorCode[]) {
        kv.failWith = new ConcordError(code, `boom ${code}`, code === 'unavailable' ? 2 : undefined);
        const e = await failure(c.call(KV, 'put', { key: b('e'), value: b('x') }));
        assert.equal(e.code, expected[code], code);
        assert.equal(e.details, `boom ${code}`);
        assert.deepEqual(e.metadata.get('concord-error-code'), [code]);
        if (code === 'unavailable') {
          assert.deepEqual(e.metadata.get('retry-after'), ['2']);
          assert.deepEqual(e.metadata.get('grpc-retry-pushback-ms'), ['2000']);
        }
      }
      kv.failWith = new TypeError('secret detail');
      const e = await failure(c.call(KV, 'list', {}));
      assert.equal(e.code, grpc.status.INTERNAL);
      assert.equal(e.details, 'internal error');
    } finally {
      kv.failWith = undefined;
    }
  });

  it('deadlines: a call that outlives its client\'s deadline is cut at it (grpc-hostile.test.ts: one already past is not started)', async () => {
    kv.delayMs = 3000;
    try {
      const t0 = Date.now();
      const e = await failure(c.call(KV, 'get', { key: b('c') }, { deadlineMs: 300 }));
      assert.equal(e.code, grpc.status.DEADLINE_EXCEEDED);
      assert.ok(Date.now() - t0 < 2000, `cut after ${Date.now() - t0} ms`);
    } finally {
      kv.delayMs = 0;
    }
  });

  it('Txn: compares, then the branch that holds, with each op\'s result; operands checked against the target; options that do not apply refused', async () => {
    const lock = { compare: [{ key: b('txn/lock'), target: Compare_Target.VERSION, result: Compare_Result.EQUAL, operand: { case: 'version' as const, value: 0n } }], success: [{ op: { case: 'put' as const, value: { key: b('txn/lock'), value: b('alice') } } }], failure: [{ op: { case: 'get' as const, value: { key: b('txn/lock') } } }] };
    const first = await c.call(KV, 'txn', lock);
    assert.equal(first.succeeded, true);
    assert.equal(first.results[0].result.case, 'put');
    const second = await c.call(KV, 'txn', { ...lock, success: [{ op: { case: 'put' as const, value: { key: b('txn/lock'), value: b('bob') } } }] });
    assert.equal(second.succeeded, false);
    const got = second.results[0].result;
    assert.ok(got.case === 'get' && Buffer.from(got.value.kv!.value).toString() === 'alice' && got.value.kv!.modRevision === first.revision);
    const wrongOperand = await failure(c.call(KV, 'txn', { compare: [{ key: b('k'), target: Compare_Target.VERSION, result: Compare_Result.EQUAL, operand: { case: 'value' as const, value: b('x') } }] }));
    assert.equal(wrongOperand.code, grpc.status.INVALID_ARGUMENT);
    assert.match(wrongOperand.details, /needs its operand in version/);
    const ttl = await failure(c.call(KV, 'txn', { success: [{ op: { case: 'put' as const, value: { key: b('k'), value: b('v'), ttlSeconds: 5n } } }] }));
    assert.equal(ttl.code, grpc.status.INVALID_ARGUMENT);
  });

  it('on a node whose service keeps no history or leases, Watch and every Lease RPC answer UNIMPLEMENTED at once, with a message', async () => {
    const t0 = Date.now();
    const results = await Promise.all([
      failure(c.stream(KV, 'watch', { prefix: b('a') }, { deadlineMs: 5000 })),
      failure(c.call(Lease, 'grant', { ttlSeconds: 10n }, { deadlineMs: 5000 })),
      failure(c.call(Lease, 'keepAlive', { id: 1n }, { deadlineMs: 5000 })),
      failure(c.call(Lease, 'revoke', { id: 1n }, { deadlineMs: 5000 })),
      failure(c.call(Lease, 'timeToLive', { id: 1n }, { deadlineMs: 5000 })),
    ]);
    for (const e of results) {
      assert.equal(e.code, grpc.status.UNIMPLEMENTED, e.message);
      assert.match(e.details, /^KV\.Watch is not implemented yet$|^leases are not available on this node$/);
    }
    assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms`);
  });

  it('Cluster: Status, AddNode, RemoveNode as /v1/cluster answers them, with its checks', async () => {
    const st = await c.call(Cluster, 'status', {});
    assert.equal(st.clusterId, 'test');
    assert.equal(st.leader, 'n1');
    assert.equal(st.term, 2n);
    assert.deepEqual(st.nodes.map((n) => [n.id, n.raftAddr, n.role, n.voter]), [['n1', '127.0.0.1:7001', 'leader', true]]);
    assert.deepEqual(st.shards.map((s) => [s.id, s.leader, s.voters]), [['0', 'n1', ['n1']]]);
    const added = await c.call(Cluster, 'addNode', { id: 'n2', address: '127.0.0.1:7002' });
    assert.deepEqual(added.nodes.map((n) => n.id), ['n1', 'n2']);
    assert.equal((await failure(c.call(Cluster, 'addNode', { id: 'bad id!', address: '127.0.0.1:7003' }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await failure(c.call(Cluster, 'addNode', { id: 'n3', address: 'no-port' }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await failure(c.call(Cluster, 'addNode', { id: 'n3', address: '127.0.0.1:0' }))).code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual((await c.call(Cluster, 'removeNode', { id: 'n2' })).nodes.map((n) => n.id), ['n1']);
    assert.equal((await failure(c.call(Cluster, 'removeNode', { id: 'n9' }))).code, grpc.status.NOT_FOUND);
  });

  it('grpc.health.v1.Health: SERVING for the server and each service; an unknown service is NOT_FOUND', async () => {
    assert.equal(await c.health(''), 'SERVING');
    for (const s of ['concord.v1.KV', 'concord.v1.Cluster', 'concord.v1.Lease']) assert.equal(await c.health(s), 'SERVING', s);
    assert.equal((await failure(c.health('nope.Service'))).code, grpc.status.NOT_FOUND);
  });

  it('server reflection lists the services and serves concord.proto, so tools need no .proto file', async () => {
    const services = await c.reflectionServices();
    for (const s of ['concord.v1.KV', 'concord.v1.Lease', 'concord.v1.Cluster', 'grpc.health.v1.Health']) assert.ok(services.includes(s), `${s} in ${services.join(', ')}`);
    const file = await c.reflect({ file_containing_symbol: 'concord.v1.KV' });
    const protos = (file.file_descriptor_response as { file_descriptor_proto: Buffer[] }).file_descriptor_proto;
    assert.ok(protos.some((p) => p.includes('concord.v1') && p.includes('PutRequest') && p.includes('if_match')));
  });
});

describe('gRPC API: closing', () => {
  it('calls in flight finish before close resolves', async () => {
    const kv = new MemoryKv();
    const server = await startGrpcServer({ kv, cluster: new MemoryCluster(), limits: LIMITS, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
    const c = new GrpcTestClient(server.address);
    await c.call(KV, 'put', { key: b('k'), value: b('v') });
    kv.delayMs = 300;
    const inFlight = c.call(KV, 'get', { key: b('k') });
    await new Promise((r) => setTimeout(r, 50));
    await server.close();
    assert.equal(Buffer.from((await inFlight).kv!.value).toString(), 'v');
    c.close();
  });
});
