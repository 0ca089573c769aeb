// A member removed while it is cut off never receives the metadata group's entry that removes it, nor the
// shard maps after it. Once it can talk again it must find out — by asking a member, whose answer carries the
// map the cluster acts on — and delete the copies of shards no one counts it in any more, even after the
// others, having not heard from it for a while, dropped their links to it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';

const SHARDS = 4;

interface Shard {
  id: string;
  leader: string | null;
  voters: string[];
  replicas: string[];
  hosted: boolean;
}

const status = async (n: ProcNode) => (await (await fetch(`${n.url}/v1/cluster`, { signal: AbortSignal.timeout(3000) })).json()) as { leader: string | null; shards: Shard[]; shardMap: { members: string[] } };
const hosted = async (n: ProcNode) => Number(/^concord_shards_hosted (\d+)$/m.exec(await (await fetch(`${n.url}/metrics`)).text())?.[1]);
const fault = (n: ProcNode, body: Record<string, unknown>) =>
  fetch(`${n.url}/v1/debug/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => assert.equal(r.status, 200));

describe(`a member removed while cut off (4 processes, --shards ${SHARDS}, R = 3)`, () => {
  let c: ProcCluster;
  before(async () => {
    c = await ProcCluster.create(4, ['--shards', String(SHARDS), '--fault-injection']);
    await until('every shard led, each node holding 3', async () => (await Promise.all(c.nodes.map(hosted))).every((h) => h === 3), 20_000);
  });
  after(async () => c?.stop());

  it('finds out once it can talk again, and deletes every copy; the others hold every key', async () => {
    const [n1, , , n4] = c.nodes;
    const others = c.nodes.slice(0, 3);
    for (let i = 0; i < 60; i++) assert.equal((await fetch(`${n1.url}/v1/kv/k${i}`, { method: 'PUT', body: `v${i}` })).status, 200);
    for (const n of others) {
      await fault(n, { action: 'cut', peer: 'n4' });
      await fault(n4, { action: 'cut', peer: n.id });
    }
    const cutAt = Date.now();
    // Removed by whichever of the others leads the metadata group (retried while shards still move, or while a new leader is chosen).
    await until('n4 removed', async () => {
      const leaderId = (await status(n1)).leader;
      const leader = others.find((n) => n.id === leaderId);
      if (!leader) return false;
      const r = await fetch(`${leader.url}/v1/cluster/nodes/n4`, { method: 'DELETE' });
      return r.status === 200 || r.status === 404;
    }, 30_000);
    await until('every shard on n1, n2, n3', async () => (await Promise.all(others.map(hosted))).every((h) => h === SHARDS), 30_000);
    assert.equal(await hosted(n4), 3, 'cut off, n4 knows nothing and keeps its copies');
    // Long enough unheard for the others to drop their links to n4 (ten election timeouts).
    await new Promise((r) => setTimeout(r, Math.max(0, 12_000 - (Date.now() - cutAt))));
    for (const n of [...others, n4]) await fault(n, { action: 'clear' });
    await until('n4 to delete every copy', async () => (await hosted(n4)) === 0, 30_000);
    assert.ok(n4.output.join('').includes('no longer a member of the cluster'), 'n4 says why');
    for (const n of others) for (const i of [0, 31, 59]) assert.equal(await (await fetch(`${n.url}/v1/kv/k${i}`)).text(), `v${i}`, `k${i} on ${n.id}`);
    const st = await status(n1);
    assert.deepEqual([...st.shardMap.members].sort(), ['n1', 'n2', 'n3']);
    for (const s of st.shards) assert.deepEqual([...s.voters].sort(), ['n1', 'n2', 'n3'], s.id);
  });
});
