// Requests for a shard hosted elsewhere: forwarded to a replica (through the real frame codec, as the peer
// transport sends them), answered with the replica's result or its own error; a replica that no longer hosts
// the shard answers `moved`, after which the sender waits for the newer map and follows it; a read that got
// no answer is tried on another replica, a write never is.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ShardCalls } from '../../src/node/shard-calls.ts';
import { RemoteShard } from '../../src/kv/forwarded.ts';
import { FrameCodec } from '../../src/transport/frame-codec.ts';
import type { PeerEnvelope } from '../../src/cluster/peer-envelope.ts';
import { ConcordError } from '../../src/util/errors.ts';
import { MemoryKv } from '../api/memory-kv.ts';
import type { ShardView } from '../../src/cluster/shard-view.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString() : undefined);

interface Node {
  calls: ShardCalls;
  /** Shard → its service, if this node runs it. */
  hosts: Map<number, MemoryKv>;
  /** Shard → how this node's copy sees it. */
  views: Map<number, ShardView>;
  epoch: number;
  map: Map<number, string[]>;
}

/** Nodes wired by an in-process network; `silent` nodes receive but never answer, `down` ones refuse sends. */
function network(ids: string[]) {
  const codec = new FrameCodec();
  const nodes = new Map<string, Node>();
  const silent = new Set<string>();
  const down = new Set<string>();
  const sent: Array<{ from: string; to: string }> = [];
  for (const self of ids) {
    const node: Node = { hosts: new Map(), views: new Map(), epoch: 1, map: new Map(), calls: undefined as unknown as ShardCalls };
    node.calls = new ShardCalls({
      self,
      send: (to, env: PeerEnvelope) => {
        if (down.has(to)) return false;
        sent.push({ from: self, to });
        const frame = codec.encodeFrame(env);
        setImmediate(() => {
          const got = codec.decodeBody(frame.subarray(4)) as PeerEnvelope;
          const peer = nodes.get(to)!;
          if (got.kq && !silent.has(to)) peer.calls.serve(self, got.kq as never);
          if (got.ks) peer.calls.answered(got.ks as never);
        });
        return true;
      },
      connected: (id) => !down.has(id),
      replicas: (s) => node.map.get(s) ?? [],
      epoch: () => node.epoch,
      waitForEpoch: async (e) => {
        // The newer map arrives a moment later.
        await new Promise((r) => setTimeout(r, 5));
        node.epoch = Math.max(node.epoch, e);
        node.map = new Map(nodes.get('c')!.map);
      },
      local: (s) => node.hosts.get(s),
      view: (s) => node.views.get(s),
      timeoutMs: 200,
      log: pino({ level: 'silent' }),
    });
    nodes.set(self, node);
  }
  return { nodes, silent, down, sent };
}

describe('forwarded requests for a shard hosted elsewhere', () => {
  it('round-trip every operation with its result, byte values and revisions intact', async () => {
    const { nodes } = network(['a', 'b']);
    const b = nodes.get('b')!;
    b.hosts.set(3, new MemoryKv());
    nodes.get('a')!.map.set(3, ['a', 'b']);
    const remote = new RemoteShard(3, (op) => nodes.get('a')!.calls.call(3, op));
    const binary = new Uint8Array([0, 255, 10, 13, 0]);
    const { revision } = await remote.put(enc('k'), binary);
    const got = await remote.get(enc('k'));
    assert.deepEqual([Buffer.from(got!.value), got!.modRevision], [Buffer.from(binary), revision]);
    assert.equal(await remote.get(enc('absent')), undefined);
    await remote.batch([{ op: 'put', key: enc('k2'), value: enc('v2') }]);
    const page = await remote.list({ prefix: enc('k') });
    assert.deepEqual(page.items.map((i) => dec(i.key)), ['k', 'k2']);
    assert.deepEqual(await remote.delete(enc('k2')), { deleted: 1, revision: 3 });
    assert.equal((await remote.getOrStale(enc('k'))).record?.version, 1);
    assert.equal((await remote.listOrStale({})).items.length, 1);
  });

  it("answer with the replica's own error (code, message, retry hint)", async () => {
    const { nodes } = network(['a', 'b']);
    const kv = new MemoryKv();
    kv.failWith = new ConcordError('unavailable', 'no quorum in shard 3', 2);
    nodes.get('b')!.hosts.set(3, kv);
    nodes.get('a')!.map.set(3, ['b']);
    await assert.rejects(nodes.get('a')!.calls.call(3, { t: 'put', key: enc('k'), value: enc('v') }), (e: unknown) => e instanceof ConcordError && e.code === 'unavailable' && e.message === 'no quorum in shard 3' && e.retryAfterSeconds === 2);
  });

  it('follow a newer map after a `moved` answer', async () => {
    const { nodes } = network(['a', 'b', 'c']);
    // a's map says b; b gave the shard to c (epoch 2), and says so.
    nodes.get('a')!.map.set(7, ['b']);
    const b = nodes.get('b')!;
    b.epoch = 2;
    const c = nodes.get('c')!;
    c.map.set(7, ['c']);
    const kv = new MemoryKv();
    c.hosts.set(7, kv);
    await nodes.get('a')!.calls.call(7, { t: 'put', key: enc('k'), value: enc('v') });
    assert.equal(dec(kv.getSerializable(enc('k'))?.value), 'v');
    assert.equal(nodes.get('a')!.epoch, 2);
    assert.deepEqual(nodes.get('a')!.calls.counts, { forwarded: 1, moved: 1, failed: 0 });
  });

  it('try another replica for a read that got no answer, but never for a write', async () => {
    const { nodes, silent, sent } = network(['a', 'b', 'c']);
    const a = nodes.get('a')!;
    a.map.set(1, ['b', 'c']);
    for (const id of ['b', 'c']) {
      const kv = new MemoryKv();
      await kv.put(enc('k'), enc(`from ${id}`));
      nodes.get(id)!.hosts.set(1, kv);
    }
    silent.add('b');
    const read = (await a.calls.call(1, { t: 'get', key: enc('k') })) as { value: Uint8Array };
    assert.equal(dec(read.value), 'from c', 'b did not answer in half the time; c did');
    sent.length = 0;
    await assert.rejects(a.calls.call(1, { t: 'put', key: enc('k'), value: enc('w') }), (e: unknown) => e instanceof ConcordError && e.code === 'timeout' && /may or may not have been applied/.test(e.message));
    assert.deepEqual(sent.map((s) => s.to), ['b'], 'the write went to b only');
    assert.equal(dec(nodes.get('c')!.hosts.get(1)!.getSerializable(enc('k'))?.value), 'from c', 'c never saw the write');
  });

  it('skip a replica that cannot be reached, for reads and writes alike', async () => {
    const { nodes, down } = network(['a', 'b', 'c']);
    const a = nodes.get('a')!;
    a.map.set(1, ['b', 'c']);
    const kv = new MemoryKv();
    nodes.get('c')!.hosts.set(1, kv);
    down.add('b');
    await a.calls.call(1, { t: 'put', key: enc('k'), value: enc('v') });
    assert.equal(dec(kv.getSerializable(enc('k'))?.value), 'v');
    down.add('c');
    await assert.rejects(a.calls.call(1, { t: 'get', key: enc('k') }), (e: unknown) => e instanceof ConcordError && e.code === 'unavailable' && /tried b, c/.test(e.message));
  });

  it('a status question is answered with the replica\'s view of the shard; one that hosts no copy, or never answers, gives none', async () => {
    const { nodes, silent } = network(['a', 'b', 'c']);
    const view: ShardView = { seenFrom: 'b', role: 'leader', leader: 'b', voters: ['b', 'c'], learners: ['d'], term: 3, commitIndex: 9, appliedIndex: 9, keys: 4, bytes: 4096 };
    nodes.get('b')!.views.set(2, view);
    const a = nodes.get('a')!.calls;
    assert.deepEqual(await a.view('b', 2, 100), view);
    assert.equal(await a.view('b', 1, 100), undefined);
    silent.add('c');
    nodes.get('c')!.views.set(2, view);
    const t0 = Date.now();
    assert.equal(await a.view('c', 2, 50), undefined);
    assert.ok(Date.now() - t0 >= 45);
  });
});
