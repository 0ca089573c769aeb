// Elastic membership with real processes: join through any member, automatic Raft membership, failure
// detection and replacement, refutation after a pause, graceful leave — no acknowledged write lost.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { freePort } from '../../testkit/ports.ts';
import { until } from '../../testkit/wait.ts';
import { shardOf } from '../../src/shard/key-hash.ts';
import { shardGroupId } from '../../src/node/shard-map.ts';
import { MAX_LIST_LIMIT } from '../../src/api/shared/limits.ts';

interface Status {
  leader: string | null;
  nodes: Array<{ id: string; gossipState: string; voter: boolean; role: string }>;
  shards: Array<{ id: string; voters: string[]; leader: string | null; replicas?: string[]; hosted?: boolean }>;
  shardMap?: { members: string[]; replicas: number };
}

const status = async (n: ProcNode): Promise<Status> => (await fetch(`${n.url}/v1/cluster`)).json() as Promise<Status>;

// Once with the single group, once with shards (given to the founder only: the others learn the count).
for (const shards of [1, 4]) describe(`gossip: five nodes joined through different members${shards > 1 ? `, ${shards} shards` : ''}`, () => {
  const c = new ProcCluster();
  const gossip: string[] = [];
  const acked = new Map<string, string>();
  const tuning = ['--voters', '3', '--dead-node-timeout-ms', '3000', '--tick-ms', '50'];

  async function addNode(i: number, joinVia?: number): Promise<ProcNode> {
    const [http, g] = [await freePort(), await freePort()];
    gossip[i] = `127.0.0.1:${g}`;
    const args = ['--name', `n${i + 1}`, '--http-addr', `127.0.0.1:${http}`, '-g', gossip[i], '--data-dir', path.join(c.dir, `n${i + 1}`), ...tuning];
    if (joinVia !== undefined) args.push('--gossip-join-addr', gossip[joinVia]);
    else args.push('--shards', String(shards));
    const n = c.add(`n${i + 1}`, args, `http://127.0.0.1:${http}`);
    await c.waitHealthy(n);
    return n;
  }

  async function write(n: ProcNode, key: string, value: string): Promise<boolean> {
    try {
      const r = await fetch(`${n.url}/v1/kv/${key}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(3000) });
      if (r.ok) acked.set(key, value);
      else console.log(`# write ${key} via ${n.id}: ${r.status} ${await r.text()}`);
      return r.ok;
    } catch (e) {
      console.log(`# write ${key} via ${n.id}: ${String(e)}`);
      return false;
    }
  }

  const live = () => c.nodes.filter((n) => n.proc);

  before(async () => {
    await addNode(0);
    await c.leader();
    await addNode(1, 0);
    await addNode(2, 1);
    await addNode(3, 2);
    await addNode(4, 0);
  });

  after(async () => c.stop());

  it('every node sees five alive members; three are voters, the rest learners', async () => {
    await until('3 voters + 2 learners, all alive, on every node', async () => {
      for (const n of live()) {
        const st = await status(n);
        if (st.nodes.length !== 5 || st.nodes.some((m) => m.gossipState !== 'alive')) return false;
        if (st.nodes.filter((m) => m.voter).length !== 3) return false;
      }
      return true;
    }, 30_000);
    for (const n of live()) assert.ok(await write(n, `hello-${n.id}`, n.id), `write via ${n.id}`);
  });

  it('a voter killed with -9 is marked dead everywhere within 5 s, then replaced by a learner', async () => {
    const st = await status(c.nodes[0]);
    const victimId = st.nodes.find((m) => m.voter && m.id !== st.leader)!.id;
    const victim = c.nodes.find((n) => n.id === victimId)!;
    await c.kill9(victim);
    const t0 = Date.now();
    await until('the victim dead on every live node', async () => {
      for (const n of live()) {
        const m = (await status(n)).nodes.find((x) => x.id === victimId);
        if (m && m.gossipState !== 'dead') return false;
      }
      return true;
    }, 5000);
    const detectedMs = Date.now() - t0;
    await until('three live voters again and the dead one removed', async () => {
      const s = await status(live()[0]);
      return !s.nodes.some((m) => m.id === victimId) && s.nodes.filter((m) => m.voter).length === 3;
    }, 20_000);
    console.log(`# detection ${detectedMs} ms`);
  });

  it('a node paused for 2 s is suspected, refutes, and stays a member', async () => {
    const n = live().find((x) => x !== c.nodes[0])!;
    n.proc!.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 2000));
    n.proc!.kill('SIGCONT');
    await until('the paused node alive again everywhere', async () => {
      for (const x of live()) {
        const m = (await status(x)).nodes.find((y) => y.id === n.id);
        if (!m || m.gossipState !== 'alive') return false;
      }
      return true;
    }, 10_000);
  });

  it('a node joins while writes go on; no acknowledged write is lost', async () => {
    let stop = false;
    let i = 0;
    const targets = live(); // the members already up; the newcomer is not serving yet
    const writer = (async () => {
      while (!stop) await write(targets[i++ % targets.length], `load-${i}`, `v${i}`);
    })();
    await addNode(5, 3);
    await until('the new node is a member everywhere', async () => {
      for (const n of live()) if (!(await status(n)).nodes.some((m) => m.id === 'n6')) return false;
      return true;
    }, 20_000);
    stop = true;
    await writer;
    const reader = live()[live().length - 1];
    for (const [k, v] of acked) assert.equal(await (await fetch(`${reader.url}/v1/kv/${k}`)).text(), v, `acknowledged ${k}`);
  });

  it('SIGTERM leaves gracefully: leadership handed off, removed from Raft, and no request fails on the others', async () => {
    const st = await status(c.nodes[0]);
    const leaverId = st.leader!;
    const leaver = c.nodes.find((n) => n.id === leaverId)!;
    const others = live().filter((n) => n !== leaver);
    let failed = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) if (!(await write(others[i % others.length], `leave-${i}`, `v${i}`))) failed++;
    })();
    const exited = new Promise<number | null>((r) => leaver.proc!.once('exit', (code) => r(code)));
    leaver.proc!.kill('SIGTERM');
    assert.equal(await exited, 0);
    leaver.proc = undefined;
    await until('the leaver gone from Raft on the others', async () => !(await status(others[0])).nodes.some((m) => m.id === leaverId && m.voter), 10_000);
    stop = true;
    await writer;
    assert.equal(failed, 0, 'no failed requests on the other nodes');
  });

  it(shards === 1 ? 'the one group has the voters of the metadata group, on every live node' : 'every shard ends on R = 3 of the live members, as the shard map says, hosted by exactly those', async () => {
    const sorted = (ids: string[]) => [...ids].sort().join();
    await until('every shard to follow the membership', async () => {
      const hostedOn = new Map<string, string[]>();
      const views = await Promise.all(live().map(async (n) => ({ n, st: await status(n) })));
      for (const { n, st } of views) {
        if (st.shards.length !== shards) return false;
        const members = sorted(st.nodes.filter((m) => m.role !== 'joining').map((m) => m.id));
        if (shards === 1) {
          const voters = sorted(st.nodes.filter((m) => m.voter).map((m) => m.id));
          if (st.shards.some((sh) => sorted(sh.voters) !== voters || sh.leader === null)) return false;
          continue;
        }
        if (sorted(st.shardMap?.members ?? []) !== members) return false;
        for (const sh of st.shards) {
          if (sh.replicas?.length !== 3) return false;
          if (!sh.hosted) continue;
          if (sorted(sh.voters) !== sorted(sh.replicas) || sh.leader === null) return false;
          hostedOn.set(sh.id, [...(hostedOn.get(sh.id) ?? []), n.id]);
        }
      }
      if (shards === 1) return true;
      const map = views[0].st.shards;
      return map.every((sh) => sorted(hostedOn.get(sh.id) ?? []) === sorted(sh.replicas!));
    }, 30_000);
  });

  it('every copy of every shard holds the same keys, values and revisions, with every acknowledged write', async () => {
    // A serializable listing answers a hosted shard from this node's own copy; its items split by shard.
    type Item = { key: string; value: string; revision: number };
    const shardIdOf = (key: string) => shardGroupId(shardOf(Buffer.from(key), shards), shards);
    /** The node's listing; undefined while some shard it forwards to does not answer (asked again). */
    const listing = async (n: ProcNode): Promise<{ items: Item[] } | undefined> => {
      const r = await fetch(`${n.url}/v1/kv?limit=${MAX_LIST_LIMIT}&consistency=serializable`, { signal: AbortSignal.timeout(5000) });
      if (r.status !== 200) {
        console.log(`# listing on ${n.id}: ${r.status} ${await r.text()}`);
        return undefined;
      }
      const page = (await r.json()) as { items: Item[]; more?: boolean };
      assert.ok(!page.more, 'one page holds every key');
      return page;
    };
    const copies = async () => {
      const byShard = new Map<string, Map<string, string>>();
      for (const n of live()) {
        const [st, list] = await Promise.all([status(n), listing(n)]);
        if (!list) return undefined;
        const mine = new Set(st.shards.filter((sh) => shards === 1 || sh.hosted).map((sh) => sh.id));
        const parts = new Map<string, Item[]>([...mine].map((id) => [id, []]));
        for (const it of list.items) parts.get(shardIdOf(it.key))?.push(it);
        for (const [id, items] of parts) byShard.set(id, (byShard.get(id) ?? new Map()).set(n.id, JSON.stringify(items)));
      }
      return byShard;
    };
    let last = new Map<string, Map<string, string>>();
    await until('every shard\'s copies identical', async () => {
      const seen = await copies();
      if (!seen) return false;
      last = seen;
      return last.size === shards && [...last.values()].every((c) => c.size >= 2 && new Set(c.values()).size === 1);
    }, 20_000).catch((e: unknown) => {
      for (const [id, c] of last) console.log(`# ${id}: ${[...c].map(([n, j]) => `${n} ${j.length} B`).join(', ')}`);
      throw e;
    });
    for (const [id, c] of last) {
      const items = new Map((JSON.parse([...c.values()][0]) as Item[]).map((it) => [it.key, it.value]));
      for (const [k, v] of acked) if (shardIdOf(k) === id) assert.equal(items.get(k), v, `acknowledged ${k} in ${id}`);
    }
  });
});
