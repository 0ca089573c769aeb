// Leases on three real processes. Of 4 shards on 2 replicas, so that some calls are forwarded to a node that
// hosts the lease's shard: granted in a key's shard, keys attached through any node and protocol, a key of
// another shard refused; a revoke deletes its keys at one revision everywhere; keep-alives hold a lease past
// its TTL and its expiry then deletes its keys. Of 2 shards on every node (so that a shard keeps a quorum):
// a lease kept alive lives through kill -9 of its shard's leader and through a partition that cuts the leader
// off, and the new leader renews every lease to its
// full TTL (the keep-alives of the failover could not get through) without bringing expired keys back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpcJs from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { createClient, type ConcordClient } from '../../src/client/index.ts';
import { Lease, LeaseKeepAliveRequestSchema, type LeaseKeepAliveResponse } from '../../src/api/grpc/gen/concord_pb.ts';
import { grpcDefinition } from '../../src/api/grpc/service-def.ts';
import { GrpcTestClient } from '../api/grpc-client.ts';
import { runCli } from '../cli/helpers.ts';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { freePort } from '../../testkit/ports.ts';
import { until } from '../../testkit/wait.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A describe's view of its cluster: clients (closed with it), and what each live node holds. */
function helpers(cluster: () => ProcCluster, grpc?: Map<string, number>) {
  const clients: ConcordClient[] = [];
  const live = () => cluster().nodes.filter((n) => n.proc);
  const client = (nodes: ProcNode[], protocol: 'http' | 'grpc' = 'http') => {
    const cl = createClient({ endpoints: nodes.map((n) => (protocol === 'http' ? n.url : `127.0.0.1:${grpc!.get(n.id)}`)), protocol, timeoutMs: 15_000 });
    clients.push(cl);
    return cl;
  };
  /** `key` as each live node reads it from its own state: present, absent, or the error that kept it from answering. */
  const presence = async (key: string) =>
    Promise.all(live().map(async (n) => `${n.id}: ${await client([n]).get(key, { consistency: 'serializable' }).then((r) => (r ? 'present' : 'absent'), (e: Error) => `error ${e.message}`)}`));
  /** Whether every live node reads `key` as present (or absent). */
  const everywhere = async (key: string, present: boolean) => (await presence(key)).every((p) => p.endsWith(present ? ': present' : ': absent'));
  /** The node leading `shard`, as the cluster reports it. */
  const shardLeader = async (shard: number): Promise<ProcNode | undefined> => {
    const id = (await client(live()).status()).shards.find((x) => x.id === `s${shard}`)?.leader;
    return cluster().nodes.find((n) => n.id === id && n.proc);
  };
  const close = () => clients.forEach((cl) => cl.close());
  return { live, client, presence, everywhere, shardLeader, close };
}

describe('leases on a 3-process cluster of 4 shards on 2 replicas', () => {
  let c: ProcCluster;
  const grpc = new Map<string, number>();
  const { client, everywhere, close } = helpers(() => c, grpc);
  before(async () => {
    for (const id of ['n1', 'n2', 'n3']) grpc.set(id, await freePort());
    c = await ProcCluster.create(3, (id) => ['--shards', '4', '--replicas', '2', '--grpc-addr', `127.0.0.1:${grpc.get(id)}`]);
    await c.leader();
  });
  after(async () => {
    close();
    await c?.stop();
  });

  it('a lease granted in a {tag}\'s shard takes keys of that shard through any node and protocol, refuses others, and its revoke deletes them at one revision', async () => {
    const [h1, g2, h3] = [client([c.nodes[0]]), client([c.nodes[1]], 'grpc'), client([c.nodes[2]])];
    const stopWatching = new AbortController();
    const seen = new Map<string, Array<{ type: string; key: string; lease?: number; revision: number }>>();
    const watching = [h3, g2].map(async (cl, i) => {
      const events: Array<{ type: string; key: string; lease?: number; revision: number }> = [];
      seen.set(String(i), events);
      for await (const e of cl.watch({ prefix: '{svc}', signal: stopWatching.signal })) {
        if (e.type !== 'progress') events.push({ type: e.type, key: String(e.kv.key), lease: e.kv.lease, revision: e.revision });
      }
    });
    await sleep(500);
    const { id, ttlSeconds } = await h1.grantLease(60, { key: '{svc}' });
    assert.equal(ttlSeconds, 60);
    const r1 = await h1.put('{svc}/a', 'x', { lease: id });
    await g2.put('{svc}/b', 'y', { lease: id });
    await h3.batch([{ op: 'put', key: '{svc}/c', value: 'z', lease: id }, { op: 'put', key: '{svc}/plain', value: 'w' }]);
    for (const cl of [h3, g2]) assert.ok((await cl.leases()).some((l) => l.id === id && l.grantedTtlSeconds === 60), 'listed, from every shard, by every node');
    assert.equal((await h3.get('{svc}/a'))?.lease, id, 'a read names the lease (HTTP X-Concord-Lease)');
    assert.equal((await g2.get('{svc}/b'))?.lease, id, 'and over gRPC (KeyValue.lease)');
    assert.equal((await g2.get('{svc}/plain'))?.lease, undefined);
    for (const cl of [h1, g2, h3]) {
      const info = await cl.leaseTimeToLive(id, { keys: true });
      assert.deepEqual(info?.keys?.map(String), ['{svc}/a', '{svc}/b', '{svc}/c'], 'every node, hosting the shard or not, names the same keys');
      assert.ok(info!.ttlSeconds > 50 && info!.ttlSeconds <= 60, String(info!.ttlSeconds));
    }
    let refused = 0;
    const taken = ['{svc}/a', '{svc}/b', '{svc}/c'];
    for (const k of ['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7']) {
      const res = await fetch(`${c.nodes[0].url}/v1/kv/${k}?lease=${id}`, { method: 'PUT', body: 'v' });
      if (res.status === 200) {
        taken.push(k);
        continue;
      }
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /a lease's keys must be in its shard/);
      refused++;
    }
    assert.ok(refused > 0, 'some of 8 keys fall in another of the 4 shards');
    assert.ok(await everywhere(taken.at(-1)!, true));
    assert.equal((await fetch(`${c.nodes[1].url}/v1/kv/k?lease=${id}&ttl=5`, { method: 'PUT', body: 'v' })).status, 400, 'a lease and a TTL together');

    const revoked = await g2.revokeLease(id);
    assert.equal(revoked.deleted, taken.length);
    assert.ok(revoked.revision > r1);
    await until('the leased keys gone from every node', async () => {
      for (const k of taken) if (!(await everywhere(k, false))) return false;
      return true;
    }, 10_000);
    assert.ok(await everywhere('{svc}/plain', true), 'a key of the batch without the lease stays');
    await until('both watchers saw the revoke', () => [...seen.values()].every((ev) => ev.filter((e) => e.type === 'delete').length === 3), 10_000);
    stopWatching.abort();
    await Promise.all(watching);
    for (const events of seen.values()) {
      assert.deepEqual(events.filter((e) => e.type === 'put').map((e) => [e.key, e.lease]), [['{svc}/a', id], ['{svc}/b', id], ['{svc}/c', id], ['{svc}/plain', undefined]], 'put events name the lease (SSE and gRPC)');
      const deletes = events.filter((e) => e.type === 'delete');
      assert.deepEqual(deletes.map((e) => [e.key, e.revision]), ['{svc}/a', '{svc}/b', '{svc}/c'].map((k) => [k, revoked.revision]), 'one delete per key, at the revoke\'s revision, in key order');
    }
    assert.equal(await h3.leaseTimeToLive(id), undefined);
    assert.ok(!(await g2.leases()).some((l) => l.id === id), 'no longer listed');
    await assert.rejects(h1.keepAliveLease(id), (e: Error & { code?: string }) => e.code === 'not-found');
    await assert.rejects(h1.put('{svc}/late', 'v', { lease: id }), (e: Error & { code?: string }) => e.code === 'not-found');
    const res = await fetch(`${c.nodes[2].url}/v1/leases/${id}`, { method: 'DELETE' });
    assert.equal(res.status, 404);
  });

  it('a transaction puts keys with a lease, over HTTP and gRPC; one naming a lease that does not exist fails whole (not-found)', async () => {
    const [h, g] = [client([c.nodes[0]]), client([c.nodes[2]], 'grpc')];
    const { id } = await h.grantLease(30, { key: '{tx}' });
    await h.txn({ success: [{ op: 'put', key: '{tx}.a', value: '1', lease: id }] });
    await g.txn({ success: [{ op: 'put', key: '{tx}.b', value: '2', lease: id }] });
    assert.deepEqual((await g.leaseTimeToLive(id, { keys: true }))?.keys?.map(String), ['{tx}.a', '{tx}.b']);
    const missing = (await h.txn({ success: [{ op: 'put', key: '{tx}.c', value: '3' }, { op: 'put', key: '{tx}.d', value: '4', lease: id + 4 }] }).catch((e: unknown) => e)) as { code?: string };
    assert.equal(missing.code, 'not-found');
    assert.equal(await h.get('{tx}.c'), undefined, 'nothing of it was written');
    assert.equal((await g.revokeLease(id)).deleted, 2);
  });

  it('concord lease grant, put --lease, lease ttl --keys, keep-alive --once and revoke, over HTTP and gRPC; exit 3 once the lease is gone', async () => {
    const viaHttp = ['--server', c.nodes[1].url];
    const viaGrpc = ['--protocol', 'grpc', '--server', `127.0.0.1:${grpc.get('n3')}`];
    const granted = await runCli(['lease', 'grant', '30', '--key', '{cli}', ...viaHttp]);
    assert.equal(granted.code, 0, granted.stderr);
    const id = granted.stdout.toString().trim();
    assert.match(id, /^[1-9][0-9]*$/);
    assert.equal((await runCli(['put', '{cli}/k', 'v', '--lease', id, ...viaGrpc])).code, 0);
    assert.equal(JSON.parse((await runCli(['get', '{cli}/k', '--format', 'json', ...viaHttp])).stdout.toString()).lease, Number(id), 'get --format json names the lease');
    const ttl = await runCli(['lease', 'ttl', id, '--keys', ...viaGrpc]);
    assert.equal(ttl.code, 0, ttl.stderr);
    assert.match(ttl.stdout.toString(), new RegExp(`^lease ${id}: (29|30) s left of 30\n\{cli\}/k\n$`));
    assert.ok((await runCli(['lease', 'list', '--format', 'text', ...viaGrpc])).stdout.toString().split('\n').includes(id), 'concord lease list names it');
    const json = await runCli(['lease', 'keep-alive', id, '--once', '--format', 'json', ...viaHttp]);
    assert.deepEqual(JSON.parse(json.stdout.toString()), { id: Number(id), ttl: 30 });
    assert.equal((await runCli(['put', 'k', 'v', '--lease', id, '--ttl', '5', ...viaHttp])).code, 2, '--lease with --ttl is a usage error');
    const revoked = await runCli(['lease', 'revoke', id, ...viaHttp]);
    assert.match(revoked.stdout.toString(), new RegExp(`^lease ${id} revoked: 1 key deleted at revision \\d+\n$`));
    for (const args of [['lease', 'ttl', id, ...viaGrpc], ['lease', 'revoke', id, ...viaHttp], ['lease', 'keep-alive', id, ...viaGrpc]]) {
      const r = await runCli(args);
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`lease ${id} does not exist`));
    }
    assert.equal((await runCli(['get', '{cli}/k', ...viaHttp])).code, 3);
  });

  it('gRPC KeepAliveStream answers each keep-alive in order and ends with NOT_FOUND at a lease that does not exist', async () => {
    const g = new GrpcTestClient(`127.0.0.1:${grpc.get('n2')}`);
    try {
      const cl = client([c.nodes[0]]);
      const { id } = await cl.grantLease(10);
      const def = grpcDefinition(Lease).keepAliveStream;
      const stream = g.client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, new grpcJs.Metadata(), { deadline: Date.now() + 15_000 });
      const answers: LeaseKeepAliveResponse[] = [];
      const ended = new Promise<grpcJs.ServiceError>((resolve, reject) => {
        stream.on('data', (m: LeaseKeepAliveResponse) => answers.push(m));
        stream.on('error', resolve);
        stream.on('end', () => reject(new Error('ended without an error')));
      });
      for (let i = 0; i < 3; i++) stream.write(create(LeaseKeepAliveRequestSchema, { id: BigInt(id) }));
      await until('three answers', () => answers.length === 3, 10_000);
      assert.deepEqual(answers.map((a) => [a.id, a.ttlSeconds]), [[BigInt(id), 10n], [BigInt(id), 10n], [BigInt(id), 10n]]);
      stream.write(create(LeaseKeepAliveRequestSchema, { id: BigInt(id) + 4n }));
      const e = await ended;
      assert.equal(e.code, grpcJs.status.NOT_FOUND);
      assert.match(e.details, /does not exist/);
      await cl.revokeLease(id);
    } finally {
      g.close();
    }
  });

  it('keep-alives hold a lease past its TTL; once they stop, its expiry deletes its keys on every node, not before the TTL has run', async () => {
    const cl = client(c.nodes, 'grpc');
    const { id } = await cl.grantLease(2, { key: 'session/1' });
    await cl.put('session/1', 'alive', { lease: id });
    const keeper = cl.keepLeaseAlive(id);
    await sleep(4500);
    assert.ok(await everywhere('session/1', true), 'kept alive for more than twice its TTL');
    keeper.stop();
    await keeper.done;
    const stopped = Date.now();
    await until('the key gone from every node', () => everywhere('session/1', false), 15_000);
    assert.ok(Date.now() - stopped >= 1000, `gone ${Date.now() - stopped} ms after the last keep-alive: before its TTL ran`);
    const kept = cl.keepLeaseAlive(id);
    await assert.rejects(kept.done, (e: Error & { code?: string }) => e.code === 'not-found', 'keeping an expired lease alive fails');
  });
});

describe('leases on a 3-process cluster of 2 shards, each on every node', () => {
  let c: ProcCluster;
  const { client, presence, everywhere, shardLeader, close } = helpers(() => c);
  before(async () => {
    c = await ProcCluster.create(3, ['--shards', '2', '--fault-injection']);
    await c.leader();
  });
  after(async () => {
    close();
    await c?.stop();
  });

  it('a lease kept alive through kill -9 of its shard\'s leader lives on: the new leader renews every lease before anything expires', async () => {
    const cl = client(c.nodes);
    const { id } = await cl.grantLease(5, { key: 'member/1' });
    await cl.put('member/1', 'here', { lease: id });
    const keeper = cl.keepLeaseAlive(id);
    await sleep(1000);
    const leader = await until('the shard\'s leader', () => shardLeader(id % 2), 10_000);
    try {
      await c.kill9(leader);
      await sleep(11_000);
      const seen = await presence('member/1');
      assert.ok(seen.every((p) => p.endsWith(': present')), `kept alive across the failover (more than twice its TTL): ${seen.join(', ')}`);
    } finally {
      keeper.stop();
      if (!leader.proc) c.start(leader);
      await c.waitHealthy(leader, 30_000);
    }
    await keeper.done;
    await until('the key gone once the keep-alives stopped', () => everywhere('member/1', false), 20_000);
  });

  it('a lease kept alive while its shard\'s leader is cut off from the others lives on, on the majority\'s side and after the heal', async () => {
    const cl = client(c.nodes);
    const { id } = await cl.grantLease(4, { key: 'member/2' });
    await cl.put('member/2', 'here', { lease: id });
    const keeper = cl.keepLeaseAlive(id);
    const leader = await until('the shard\'s leader', () => shardLeader(id % 2), 10_000);
    const fault = (body: unknown) => fetch(`${leader.url}/v1/debug/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    try {
      assert.equal((await fault({ action: 'cut', peer: '*' })).status, 200);
      await sleep(10_000);
      for (const n of c.nodes.filter((x) => x !== leader)) {
        assert.notEqual(await client([n]).get('member/2', { consistency: 'serializable' }), undefined, `${n.id}, on the majority's side`);
      }
      assert.ok((await cl.leaseTimeToLive(id))!.ttlSeconds > 0);
    } finally {
      await fault({ action: 'heal' });
    }
    await until('the cut-off node caught up', async () => (await client([leader]).leaseTimeToLive(id).catch(() => undefined)) !== undefined, 15_000);
    assert.ok(await everywhere('member/2', true));
    keeper.stop();
    await keeper.done;
    await until('the key gone once the keep-alives stopped', () => everywhere('member/2', false), 20_000);
  });

  it('kill -9 of the leader of the lease\'s shard: the new leader renews the lease to its full TTL, and it expires later without bringing its key back', async () => {
    const cl = client(c.nodes);
    const { id } = await cl.grantLease(6, { key: 'lock' });
    await cl.put('lock', 'held', { lease: id });
    await sleep(3000);
    const before = await cl.leaseTimeToLive(id);
    assert.ok(before!.ttlSeconds <= 4, `${before!.ttlSeconds} s left after 3 s`);
    const leader = await until('the shard\'s leader', () => shardLeader(id % 2), 10_000);
    await c.kill9(leader);
    const killed = Date.now();
    const renewed = await until('the lease renewed by the new leader', async () => {
      const info = await cl.leaseTimeToLive(id).catch(() => undefined);
      return info && info.ttlSeconds >= 5 && info;
    }, 10_000);
    assert.equal(renewed.grantedTtlSeconds, 6);
    assert.ok(await everywhere('lock', true));
    await until('the key gone from the survivors', () => everywhere('lock', false), 20_000);
    assert.ok(Date.now() - killed >= 4000, `gone ${Date.now() - killed} ms after the kill: its renewed TTL had not run`);
    c.start(leader);
    await c.waitHealthy(leader, 30_000);
    await until('the old leader caught up', async () => (await client([leader]).get('lock', { consistency: 'serializable' }).catch(() => 'x')) === undefined, 20_000);
    assert.equal(await client([leader]).leaseTimeToLive(id), undefined, 'the lease is gone on the restarted node too');
  });
});
