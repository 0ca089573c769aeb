// Crash safety: kill -9 nodes at random points of a write-heavy run, many times, with snapshots and log
// compaction happening throughout. No acknowledged write may be lost and every node must end up with the
// same data.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';
import { seededRng } from '../../src/util/prng.ts';

const KILLS = 50;
const BUDGET_MS = 60_000;
let c: ProcCluster | undefined;
after(async () => c?.stop());

it(`${KILLS} kill -9s during writes (bounded to ${BUDGET_MS / 1000} s): no acknowledged write lost, replicas agree`, async () => {
  c = await ProcCluster.create(3, ['--snapshot-entries', '50', '--snapshot-keep-entries', '10', '--tick-ms', '50']);
  await c.leader();
  // The kill schedule is seeded (CRASH_SEED=n replays it); the interleaving with the writers is not.
  const seed = Number(process.env.CRASH_SEED ?? 1);
  const rng = seededRng(seed);
  const acked = new Map<string, string>();
  let ackCount = 0;
  let stop = false;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const n = c!.nodes[(w + i) % 3];
      const key = `w${w}-${i % 300}`; // overwrites, so compaction has work
      const value = `${w}-${i}`;
      try {
        const r = await fetch(`${n.url}/v1/kv/${key}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(2000) });
        if (r.ok) {
          acked.set(key, value);
          ackCount++;
        }
      } catch {
        await new Promise((r) => setTimeout(r, 20)); // that node is down; try another
      }
    }
  });
  const started = Date.now();
  let kills = 0;
  // Enough kills and enough acknowledged writes between them, however slow the machine (within the budget).
  // Each kill waits for a write acknowledged since the one before: a kill must land in a run of writes,
  // and a node takes longer to start (~2.5 s) than the delays below, so a schedule on the clock alone
  // mostly kills nodes that are still starting and leaves the cluster without a quorum for the whole run.
  while ((kills < KILLS || acked.size <= 100) && Date.now() - started < BUDGET_MS) {
    const ackedBefore = ackCount;
    await until('a write acknowledged since the last kill', async () => ackCount > ackedBefore || Date.now() - started > BUDGET_MS, BUDGET_MS);
    await new Promise((r) => setTimeout(r, 100 + rng.int(0, 600)));
    const victim = c.nodes[rng.int(0, 3)];
    await c.kill9(victim);
    kills++;
    c.start(victim); // straight back, from whatever its disk holds
  }
  stop = true;
  await Promise.all(writers);
  await Promise.all(c.nodes.map((n) => c!.waitHealthy(n)));
  await c.leader();
  for (const n of c.nodes) {
    const errors = n.output.join('').split('\n').filter((l) => /"level":(40|50|60)/.test(l));
    if (errors.length > 0) console.log(`# ${n.id} logged:\n${errors.slice(-5).join('\n')}`);
  }
  assert.ok(kills >= 20, `only ${kills} kills fit in the budget`);
  assert.ok(acked.size > 100, `only ${acked.size} writes acknowledged`);
  // Every acknowledged write is readable, with its latest acknowledged value or a later one.
  const reader = c.nodes[0];
  for (const [key, value] of acked) {
    const r = await fetch(`${reader.url}/v1/kv/${key}`);
    assert.equal(r.status, 200, `acknowledged ${key} lost`);
    const [w, i] = (await r.text()).split('-').map(Number);
    const [w0, i0] = value.split('-').map(Number);
    assert.ok(w === w0 && i >= i0, `${key}: read ${w}-${i}, acknowledged ${value}`);
  }
  // Every replica converges to the same data.
  const dump = async (url: string) => (await fetch(`${url}/v1/kv?limit=10000&consistency=serializable`)).text();
  await until('all replicas identical', async () => {
    const [a, b, d] = await Promise.all(c!.nodes.map((n) => dump(n.url)));
    return a === b && b === d;
  }, 20_000);
  // Snapshots and compaction really ran under the crashes.
  const compacted = await Promise.all(
    c.nodes.map(async (n) => Number(/^concord_raft_compacted_index (\d+)/m.exec(await (await fetch(`${n.url}/metrics`)).text())?.[1] ?? 0)),
  );
  assert.ok(Math.max(...compacted) > 0, `no node compacted its log (${compacted})`);
  console.log(`# CRASH_SEED=${seed}: ${kills} kills, ${acked.size} keys acknowledged`);
});
