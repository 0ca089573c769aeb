// End to end with --shards: real processes whose key space is split over several Raft groups, each on the
// R = 3 members the shard map gives it. With 3 members every member hosts every shard; shard leadership goes
// to the map's preferred leaders; a fourth member takes its share of replicas (the others delete the copies
// they gave up) and requests for shards a node does not host are forwarded; a member removed leaves every
// shard; kill -9 and restart lose no acknowledged write, and at the end every replica holds the same data.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BIN, ProcCluster, retriedOnce, type ProcNode } from '../../testkit/processes.ts';
import { freePort } from '../../testkit/ports.ts';
import { until } from '../../testkit/wait.ts';
import { shardOf } from '../../src/shard/key-hash.ts';
import { createClient } from '../../src/client/client.ts';

const SHARDS = 4;
const run = promisify(execFile);

interface Shard {
  id: string;
  leader: string | null;
  voters: string[];
  learners: string[];
  appliedIndex: number;
  keys: number;
  bytes: number;
  following: boolean;
  replicas: string[];
  hosted: boolean;
  seenFrom?: string;
  move?: string;
}

async function shardsOf(n: ProcNode): Promise<Shard[]> {
  const st = (await (await fetch(`${n.url}/v1/cluster`)).json()) as { shards: Shard[] };
  return st.shards;
}

/** Every key and value on `n`, from its own state. */
async function contents(n: ProcNode): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (let start = '', more = true; more; ) {
    const r = await fetch(`${n.url}/v1/kv?consistency=serializable&limit=1000&start=${encodeURIComponent(start)}`);
    assert.equal(r.status, 200, await r.clone().text());
    const page = (await r.json()) as { items: Array<{ key: string; value: string }>; more: boolean };
    for (const i of page.items) out.push([i.key, i.value]);
    more = page.more;
    if (more) start = `${page.items[page.items.length - 1].key}\u0000`;
  }
  return out;
}

/** Until every running node reports the same applied index for every shard (nothing in flight). */
async function settled(c: ProcCluster, members: ProcNode[]): Promise<void> {
  await until('every replica of every shard to apply the same index', async () => {
    const views = await Promise.all(members.map((n) => shardsOf(n).catch(() => undefined)));
    if (views.some((v) => v === undefined || v.length !== SHARDS)) return false;
    for (let i = 0; i < SHARDS; i++) {
      const copies = views.map((v) => v![i]).filter((s) => s.hosted);
      if (copies.some((s) => s.appliedIndex !== copies[0].appliedIndex || s.leader === null)) return false;
    }
    return true;
  }, 20_000);
}

/** Until every shard is led by its preferred leader (the first of its replicas in the map), as `n` sees it. */
async function ledAsPlanned(n: ProcNode): Promise<Shard[]> {
  let shards: Shard[] = [];
  await until('every shard led by its preferred leader', async () => {
    shards = await shardsOf(n);
    return shards.every((s) => !s.hosted || s.leader === s.replicas[0]);
  }, 20_000);
  return shards;
}

describe(`a 3-process cluster with --shards ${SHARDS}`, () => {
  let c: ProcCluster;
  const acked = new Map<string, string>();
  const put = async (n: ProcNode, key: string, value: string) => {
    const r = await retriedOnce(() => fetch(`${n.url}/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(6000) }));
    if (r.ok) acked.set(key, value);
    return r;
  };

  before(async () => {
    c = await ProcCluster.create(3, ['--shards', String(SHARDS)]);
    await settled(c, c.nodes);
  });
  after(async () => c?.stop());

  it('every node hosts every shard (R = 3 of 3), with the founders as voters; each node leads its share, as the map prefers', async () => {
    const shards = await ledAsPlanned(c.nodes[0]);
    const led = new Map<string, number>();
    for (const s of shards) led.set(s.leader!, (led.get(s.leader!) ?? 0) + 1);
    assert.deepEqual([...led.values()].sort(), [1, 1, 2], `4 shards over 3 members: ${JSON.stringify([...led])}`);
    for (const n of c.nodes) {
      const shards = await shardsOf(n);
      assert.deepEqual(shards.map((s) => s.id), ['s0', 's1', 's2', 's3']);
      for (const s of shards) assert.deepEqual([s.voters, [...s.replicas].sort(), s.hosted], [['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], true]);
      const metrics = await (await fetch(`${n.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`^concord_shards_hosted ${SHARDS}$`, 'm'));
    }
  });

  it('keys land in their own shard; any node reads any key; a listing merges the shards in key order', async () => {
    const before = await shardsOf(c.nodes[0]);
    const keys = Array.from({ length: 200 }, (_, i) => `key-${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((k, i) => put(c.nodes[i % 3], k, `v${i}`).then((r) => assert.equal(r.status, 200))));
    const perShard = new Array<number>(SHARDS).fill(0);
    for (const k of keys) perShard[shardOf(Buffer.from(k), SHARDS)]++;
    // A write is acknowledged once its shard's leader applied it; a follower's copy applies it when it learns
    // the commit index (the next append or heartbeat), so n1 and n2 are read once they have.
    let after: Shard[] = [];
    await until('n1 and n2 to apply the writes', async () => {
      after = await shardsOf(c.nodes[0]);
      const second = await shardsOf(c.nodes[1]);
      return after.every((s, i) => s.appliedIndex - before[i].appliedIndex >= perShard[i] && second[i].keys >= perShard[i]);
    }, 5_000);
    for (let i = 0; i < SHARDS; i++) {
      assert.ok(perShard[i] > 0, `shard ${i} got keys`);
      assert.ok(after[i].appliedIndex - before[i].appliedIndex >= perShard[i], `shard ${i} applied its ${perShard[i]} writes`);
    }
    for (const n of c.nodes) assert.equal(await (await fetch(`${n.url}/v1/kv/key-123`)).text(), 'v123');
    const sized = await shardsOf(c.nodes[1]);
    for (let i = 0; i < SHARDS; i++) assert.ok(sized[i].keys >= perShard[i] && sized[i].bytes > 0 && sized[i].following, `shard ${i}: ${JSON.stringify(sized[i])}`);
    const metrics = await (await fetch(`${c.nodes[1].url}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    // Read after the status: the node may have applied more meanwhile, never less.
    assert.ok(gauge('concord_keys') >= sized.reduce((n, s) => n + s.keys, 0) && gauge('concord_keys') >= keys.length, 'the node-wide key gauge sums its shards');
    assert.ok(gauge('concord_kv_bytes') >= sized.reduce((n, s) => n + s.bytes, 0));
    const cli = await run(process.execPath, [BIN, 'cluster-status', '--server', c.nodes[0].url]);
    for (const id of ['s0', 's1', 's2', 's3']) assert.match(cli.stdout, new RegExp(`│ ${id}\\s+│ n\\d,n\\d,n\\d\\s+│ n\\d\\s+│ n1,n2,n3\\s+│\\s+│ \\d+\\s+│ \\d+`));
    const page = (await (await fetch(`${c.nodes[2].url}/v1/kv?prefix=key-&limit=50`)).json()) as { items: Array<{ key: string }>; more: boolean };
    assert.deepEqual(page.items.map((i) => i.key), keys.slice(0, 50));
    assert.equal(page.more, true);
  });

  it('a batch within one shard is atomic; one across shards is refused and changes nothing', async () => {
    const ops = (keys: string[]) => ({ ops: keys.map((key) => ({ op: 'put', key, value: 'b' })) });
    const post = (body: unknown) => fetch(`${c.nodes[1].url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const tagged = ['{user7}:name', '{user7}:mail', '{user7}:plan'];
    assert.equal((await post(ops(tagged))).status, 200);
    for (const k of tagged) assert.equal(await (await fetch(`${c.nodes[0].url}/v1/kv/${encodeURIComponent(k)}`)).text(), 'b');
    const spread = ['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6'];
    assert.ok(new Set(spread.map((k) => shardOf(Buffer.from(k), SHARDS))).size > 1);
    const refused = await post(ops(spread));
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /shard/);
    for (const k of spread) assert.equal((await fetch(`${c.nodes[0].url}/v1/kv/${k}`)).status, 404);
  });

  it('kill -9 a node under write load, restart it with another --shards: no acknowledged write lost, the cluster keeps its count', async () => {
    let stop = false;
    const writers = [0, 1].map(async (w) => {
      for (let i = 0; !stop; i++) await put(c.nodes[w], `load-${w}-${i}`, `x${i}`).catch(() => undefined);
    });
    await new Promise((r) => setTimeout(r, 500));
    const victim = c.nodes[2];
    await c.kill9(victim);
    await new Promise((r) => setTimeout(r, 1000));
    victim.args = [...victim.args.filter((a, i, all) => a !== '--shards' && all[i - 1] !== '--shards'), '--shards', '8'];
    c.start(victim);
    await c.waitHealthy(victim);
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(writers);
    assert.ok(acked.size > 200);
    await settled(c, c.nodes);
    assert.equal((await shardsOf(victim)).length, SHARDS);
    const want = [...acked].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const n of c.nodes) {
      const have = new Map(await contents(n));
      for (const [k, v] of want) assert.equal(have.get(k), v, `${k} on ${n.id}`);
    }
  });

  it('a fourth member takes its share of replicas, the others delete what they gave up, and every node serves every key; a member removed leaves every shard', async () => {
    const [raft, http] = [await freePort(), await freePort()];
    const n4 = c.add('n4', ['server', '--node-id', 'n4', '--raft-addr', `127.0.0.1:${raft}`, '--http-addr', `127.0.0.1:${http}`, '--data-dir', path.join(c.dir, 'n4'), '--no-bootstrap'], `http://127.0.0.1:${http}`);
    await c.waitHealthy(n4);
    const leader = await c.leader();
    const added = await fetch(`${leader.url}/v1/cluster/nodes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'n4', address: `127.0.0.1:${raft}` }) });
    assert.equal(added.status, 200, await added.text());
    // The next change waits until every shard has taken this one (a shard promotes n4 only a steward pass after adding it).
    const early = await fetch(`${leader.url}/v1/cluster/nodes/n3`, { method: 'DELETE' });
    assert.equal(early.status, 503);
    assert.match(await early.text(), /shards are still taking the last membership change/);
    // 12 replicas over 4 members: 3 each; every shard on exactly the members its map entry names.
    await until('every shard on exactly its 3 replicas', async () => {
      const views = await Promise.all(c.nodes.map((n) => shardsOf(n).catch(() => [] as Shard[])));
      if (views.some((v) => v.length !== SHARDS || v.filter((s) => s.hosted).length !== 3)) return false;
      return views[0].every((s, i) => {
        const on = c.nodes.filter((_, k) => views[k][i].hosted).map((n) => n.id).sort();
        return s.replicas.length === 3 && on.join() === [...s.replicas].sort().join() && views.every((v) => !v[i].hosted || [...v[i].voters].sort().join() === on.join());
      });
    }, 40_000);
    for (const n of c.nodes) assert.match(await (await fetch(`${n.url}/metrics`)).text(), /^concord_shards_hosted 3$/m, `${n.id} hosts 3 shards`);
    // Any node's status shows every shard as one of its replicas sees it, and counts them settled.
    await until('n4 to see every shard settled', async () => {
      const st = (await (await fetch(`${n4.url}/v1/cluster`)).json()) as { shards: Shard[]; rebalance: Record<string, number> };
      return st.rebalance.settled === SHARDS && st.shards.every((s) => s.leader !== null && s.move === 'settled');
    }, 10_000);
    const keysSeenBy = async (n: ProcNode) => {
      const shards = await shardsOf(n);
      for (const s of shards.filter((x) => !x.hosted)) assert.ok(s.replicas.includes(s.seenFrom!), `${s.id} seen from one of its replicas: ${JSON.stringify(s)} on ${n.id}`);
      return shards.reduce((sum, s) => sum + s.keys, 0);
    };
    await settled(c, c.nodes);
    assert.equal(await keysSeenBy(n4), await keysSeenBy(c.nodes[0]), 'the shards\' keys add up to the same total from any node');
    let steps = '';
    for (const n of c.nodes) steps += await (await fetch(`${n.url}/metrics`)).text();
    const moved = (step: string) => [...steps.matchAll(new RegExp(`^concord_shard_moves_total\\{step="${step}"\\} (\\d+)`, 'gm'))].reduce((x, m) => x + Number(m[1]), 0);
    assert.ok(moved('add_learner') >= 3 && moved('promote') >= 3 && moved('remove') >= 3, 'the shard leaders counted the moves\' steps');
    assert.equal((await put(n4, 'from-n4', 'yes')).status, 200);
    // Every node answers for every key: a shard it does not host is asked of one that does.
    const missing = (await shardsOf(n4)).find((s) => !s.hosted)!;
    const there = [...acked.keys()].filter((k) => `s${shardOf(Buffer.from(k), SHARDS)}` === missing.id).slice(0, 20);
    assert.ok(there.length > 0);
    for (const n of c.nodes) for (const k of there) assert.equal(await (await fetch(`${n.url}/v1/kv/${encodeURIComponent(k)}`)).text(), acked.get(k), `${k} via ${n.id}`);
    assert.match(await (await fetch(`${n4.url}/metrics`)).text(), /^concord_shard_forwarded_total\{outcome="forwarded"\} [1-9]/m);
    const listed = (await (await fetch(`${n4.url}/v1/kv?prefix=key-&limit=1000`)).json()) as { items: unknown[] };
    assert.equal(listed.items.length, 200, 'a listing on n4 merges every shard, hosted or not');
    // The client library reads the map and sends each key to a node holding its shard: nothing is forwarded.
    const forwarded = async () => {
      let sum = 0;
      for (const n of c.nodes) sum += Number(/^concord_shard_forwarded_total\{outcome="forwarded"\} (\d+)/m.exec(await (await fetch(`${n.url}/metrics`)).text())?.[1] ?? 0);
      return sum;
    };
    const client = createClient({ endpoints: c.nodes.map((n) => n.url) });
    try {
      const before = await forwarded();
      for (let i = 0; i < 40; i++) await client.put(`routed-${i}`, `r${i}`);
      for (let i = 0; i < 40; i++) assert.equal(Buffer.from((await client.get(`routed-${i}`))!.value).toString(), `r${i}`);
      assert.equal(await forwarded(), before, 'no call went to a node without the key\'s shard');
    } finally {
      client.close();
    }

    const removed = await fetch(`${(await c.leader()).url}/v1/cluster/nodes/n3`, { method: 'DELETE' });
    assert.equal(removed.status, 200, await removed.text());
    const members = c.nodes.filter((n) => n.id !== 'n3');
    await until('n3 to be out of every shard', async () => {
      const shards = await shardsOf(c.nodes[0]);
      return shards.every((s) => !s.voters.includes('n3') && !s.learners.includes('n3'));
    }, 30_000);
    await until('every member hosts every shard again', async () => (await Promise.all(members.map((n) => shardsOf(n)))).every((v) => v.every((s) => s.hosted)), 30_000);
    await ledAsPlanned(c.nodes[0]);
    await settled(c, members);
    const reference = await contents(members[0]);
    assert.ok(reference.length >= acked.size);
    for (const n of members.slice(1)) assert.deepEqual(await contents(n), reference, `${n.id} holds what ${members[0].id} holds`);
  });
});
