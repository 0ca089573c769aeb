// Transactions on three real processes with 4 shards on 2 replicas each, so every node lacks some shard and
// forwards its transactions: one {tag}'s keys change together from every node; of many concurrent takers
// of a lock, exactly one succeeds; keys in two shards are refused with the shards named; a range within one
// {tag} is deleted through every front end, and one across shards refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpcJs from '@grpc/grpc-js';
import { createClient } from '../../src/client/index.ts';
import { KV } from '../../src/api/grpc/gen/concord_pb.ts';
import { GrpcTestClient } from '../api/grpc-client.ts';
import { shardOf } from '../../src/shard/key-hash.ts';
import { freePort } from '../../testkit/ports.ts';
import { runCli } from '../cli/helpers.ts';
import { ProcCluster } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';

interface TxnAnswer {
  succeeded: boolean;
  revision: number;
  results: Array<{ op: string; kv?: { key: string; value: string; version: number } | null; revision?: number }>;
}

describe('transactions on a 3-process cluster with 4 shards', () => {
  let c: ProcCluster;
  const grpc = new Map<string, number>();
  before(async () => {
    for (const id of ['n1', 'n2', 'n3']) grpc.set(id, await freePort());
    c = await ProcCluster.create(3, (id) => ['--shards', '4', '--replicas', '2', '--grpc-addr', `127.0.0.1:${grpc.get(id)}`]);
    await c.leader();
  });
  after(async () => c?.stop());

  const txn = async (url: string, body: unknown) => {
    const r = await fetch(`${url}/v1/txn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
    return { status: r.status, body: (await r.json()) as TxnAnswer & { error?: { message: string } } };
  };

  it('from every node, a transfer between two keys of one {tag} happens whole, compared on the balance it read', async () => {
    const [a, b] = ['{acct}.alice', '{acct}.bob'];
    assert.equal((await txn(c.nodes[0].url, { success: [{ op: 'put', key: a, value: '100' }, { op: 'put', key: b, value: '0' }] })).status, 200);
    for (const n of c.nodes) {
      const read = await txn(n.url, { success: [{ op: 'get', key: a }, { op: 'get', key: b }] });
      const [from, to] = read.body.results.map((r) => Number(r.kv!.value));
      const moved = await txn(n.url, {
        compare: [{ key: a, target: 'value', result: 'equal', value: String(from) }],
        success: [{ op: 'put', key: a, value: String(from - 10) }, { op: 'put', key: b, value: String(to + 10) }, { op: 'get', key: a }],
        failure: [{ op: 'get', key: a }],
      });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      assert.equal(moved.body.succeeded, true, `${n.id}: ${JSON.stringify(moved.body)}`);
      assert.equal(moved.body.results[2].kv!.value, String(from - 10));
    }
    const end = await txn(c.nodes[2].url, { success: [{ op: 'get', key: a }, { op: 'get', key: b }] });
    assert.deepEqual(end.body.results.map((r) => r.kv!.value), ['70', '30']);
  });

  it('of 30 concurrent takers of one lock, spread over the nodes, exactly one succeeds and the rest read its holder', async () => {
    const takers = Array.from({ length: 30 }, (_, i) => txn(c.nodes[i % 3].url, {
      compare: [{ key: 'lock/{job}', target: 'version', result: 'equal', version: 0 }],
      success: [{ op: 'put', key: 'lock/{job}', value: `taker-${i}` }],
      failure: [{ op: 'get', key: 'lock/{job}' }],
    }));
    const answers = await Promise.all(takers);
    assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.find((a) => a.status !== 200)));
    const winners = answers.flatMap((a, i) => (a.body.succeeded ? [i] : []));
    assert.equal(winners.length, 1, `winners: ${winners}`);
    for (const a of answers) if (!a.body.succeeded) assert.equal(a.body.results[0].kv!.value, `taker-${winners[0]}`);
  });

  it('the client library, over HTTP and over gRPC: compares on each target, each op\'s result, and a read-only transaction', async () => {
    for (const [protocol, endpoints] of [['http', c.nodes.map((n) => n.url)], ['grpc', c.nodes.map((n) => `127.0.0.1:${grpc.get(n.id)}`)]] as const) {
      const client = createClient({ endpoints: [...endpoints], protocol });
      try {
        const key = `{client}.${protocol}`;
        const created = await client.txn({ compare: [{ key, target: 'version', result: '=', operand: 0 }], success: [{ op: 'put', key, value: 'v1' }, { op: 'get', key }] });
        assert.equal(created.succeeded, true, protocol);
        const got = created.results[1];
        assert.ok(got.op === 'get' && got.kv?.value.toString() === 'v1' && got.kv.modRevision === created.revision && got.kv.version === 1, `${protocol}: ${JSON.stringify(got)}`);
        const swapped = await client.txn({
          compare: [
            { key, target: 'value', result: '=', operand: 'v1' },
            { key, target: 'modRevision', result: '=', operand: created.revision },
            { key, target: 'createRevision', result: '>', operand: 0 },
          ],
          success: [{ op: 'put', key, value: 'v2' }, { op: 'delete', key: `{client}.absent` }],
          failure: [{ op: 'get', key }],
        });
        assert.deepEqual([swapped.succeeded, swapped.results.map((r) => r.op)], [true, ['put', 'delete']], protocol);
        assert.ok(swapped.results[1].op === 'delete' && swapped.results[1].deleted === 0);
        const read = await client.txn({ compare: [{ key, target: 'value', result: '=', operand: 'v1' }], failure: [{ op: 'get', key }] });
        assert.ok(!read.succeeded && read.results[0].op === 'get' && read.results[0].kv?.value.toString() === 'v2', protocol);
        await assert.rejects(client.txn({ compare: [{ key, target: 'version', result: '=', operand: 'one' }] }), TypeError);
      } finally {
        client.close();
      }
    }
  });

  it('concord txn reads etcdctl\'s text on stdin, over HTTP and over gRPC, and prints as etcdctl does', async () => {
    const text = ['version("{cli}.k") = "0"', '', 'put {cli}.k "first value"', 'get {cli}.k', '', 'get {cli}.k', ''].join('\n');
    const first = await runCli(['txn', '--server', c.nodes[1].url], { input: text });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.toString(), 'SUCCESS\n\nOK\n\n{cli}.k\nfirst value\n');
    const again = await runCli(['txn', '--protocol', 'grpc', '--server', `127.0.0.1:${grpc.get('n3')}`, '--format', 'json'], { input: text });
    assert.equal(again.code, 0, again.stderr);
    const j = JSON.parse(again.stdout.toString()) as { succeeded: boolean; results: Array<{ op: string; kv: { value: string; version: number } }> };
    assert.deepEqual([j.succeeded, j.results[0].kv.value, j.results[0].kv.version], [false, 'first value', 1]);
    const bad = await runCli(['txn', '--server', c.nodes[0].url], { input: 'size("k") = "1"\n' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /target size is not one of/);
  });

  it('the lock recipe of docs/client.md: a holder that stalls past its TTL loses the lock, and its fenced write is refused', async () => {
    const client = createClient({ endpoints: c.nodes.map((n) => n.url) });
    try {
      const lock = '{report}.lock';
      const fencedWrite = (token: number, who: string) =>
        client.txn({ compare: [{ key: lock, target: 'modRevision', result: '=', operand: token }], success: [{ op: 'put', key: '{report}.data', value: `written by ${who}` }] });
      const slow = await client.put(lock, 'slow', { createOnly: true, ttlSeconds: 1 });
      assert.equal((await fencedWrite(slow, 'slow')).succeeded, true);
      await assert.rejects(client.put(lock, 'fast', { createOnly: true, ttlSeconds: 10 }), (e: { code?: string }) => e.code === 'precondition-failed', 'held');
      // The slow holder stalls past its TTL; the lock expires and another takes it.
      const fast = await until('the lock free again', async () => client.put(lock, 'fast', { createOnly: true, ttlSeconds: 10 }).catch(() => undefined), 10_000);
      assert.ok(fast > slow);
      assert.equal((await fencedWrite(slow, 'slow')).succeeded, false, "the stale holder's write is refused");
      assert.equal((await fencedWrite(fast, 'fast')).succeeded, true);
      const renewed = await client.put(lock, 'fast', { ifMatch: fast, ttlSeconds: 10 });
      assert.equal((await client.delete(lock, { ifMatch: renewed })).deleted, 1);
      assert.equal((await client.get('{report}.data'))?.value.toString(), 'written by fast');
    } finally {
      client.close();
    }
  });

  it('keys in two shards are refused with 400, naming the shards, and nothing is written', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `spread-${i}`);
    const first = keys[0];
    const other = keys.find((k) => shardOf(Buffer.from(k), 4) !== shardOf(Buffer.from(first), 4))!;
    const r = await txn(c.nodes[1].url, { success: [{ op: 'put', key: first, value: '1' }, { op: 'put', key: other, value: '1' }] });
    assert.equal(r.status, 400);
    assert.match(r.body.error!.message, /a transaction is atomic only within one shard, but its keys fall in shards \d, \d of 4/);
    assert.equal((await fetch(`${c.nodes[0].url}/v1/kv/${first}`)).status, 404);
  });

  it('a delete of a range within one {tag}: by prefix or [key, end) over HTTP, by prefix over gRPC\'s plain Delete, and as the CLI\'s del --prefix; a range across shards is refused', async () => {
    const cl = createClient({ endpoints: [`127.0.0.1:${grpc.get('n2')}`], protocol: 'grpc', timeoutMs: 15_000 });
    try {
      const put = (k: string) => cl.put(k, 'v');
      for (const k of ['{dr}.a1', '{dr}.a2', '{dr}.b1', '{dr}.b2', '{dr}.c1', '{dr}.c2']) await put(k);
      const http = await txn(c.nodes[0].url, { success: [{ op: 'delete', key: '{dr}.a', prefix: true }, { op: 'delete', key: '{dr}.b1', range_end: '{dr}.b3' }] });
      assert.equal(http.status, 200);
      assert.deepEqual(http.body.results, [{ op: 'delete', deleted: 2 }, { op: 'delete', deleted: 2 }]);
      const cli = await runCli(['txn', '--server', c.nodes[2].url], { input: '\ndel --prefix "{dr}.c"\n\n' });
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.stdout.toString(), 'SUCCESS\n\n2\n');
      await put('{dr}.d1');
      await put('{dr}.d2');
      const g = new GrpcTestClient(`127.0.0.1:${grpc.get('n3')}`);
      try {
        const plain = await g.call(KV, 'delete', { key: Buffer.from('{dr}.d'), prefix: true });
        assert.equal(plain.deleted, 2n);
        const toTheEnd = await g.call(KV, 'delete', { key: Buffer.from('{dr}.'), rangeEnd: Uint8Array.of(0) }).catch((e: grpcJs.ServiceError) => e);
        assert.equal((toTheEnd as grpcJs.ServiceError).code, grpcJs.status.INVALID_ARGUMENT, 'a range to the last key spans shards');
      } finally {
        g.close();
      }
      await put('{dr}.e1');
      const viaTxn = await cl.txn({ success: [{ op: 'delete', key: '{dr}.', prefix: true }] });
      assert.deepEqual(viaTxn.results, [{ op: 'delete', deleted: 1 }]);
      assert.deepEqual((await cl.list({ prefix: '{dr}' })).items, []);
      const across = await txn(c.nodes[1].url, { success: [{ op: 'delete', key: 'plain/', prefix: true }] });
      assert.equal(across.status, 400);
      assert.match(across.body.error!.message, /spans shards: with several shards a range must lie within one \{tag\}/);
      const toTheEnd = await txn(c.nodes[1].url, { success: [{ op: 'delete', key: '{dr}.z', range_end: '\u0000' }] });
      assert.equal(toTheEnd.status, 400, 'range_end "\\u0000" is to the last key, as over gRPC: across shards');
      const both = await txn(c.nodes[1].url, { success: [{ op: 'get', key: '{dr}.a', prefix: true }] });
      assert.equal(both.status, 400, 'a range on a get');
    } finally {
      cl.close();
    }
  });
});
