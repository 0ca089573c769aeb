// Values up to the limit (64 MiB) do not cost the cluster its leader: 20 puts of 64 MiB in a row on three
// real processes, half through the leader and half through a follower, with no election, and no node
// whose event loop ran for half an election timeout without letting a Raft tick through
// (docs/architecture.md, "Large values").
//
// Real processes, not the in-process cluster: each node has its own event loop, as in production, so a
// stall measured is one node's own. A late tick is judged by how long the node's main thread ran
// between the two ticks (ranMs in the warning), not by the wall clock alone: on a machine busy with
// other work, a node the kernel does not run for half a second is late too, through no fault of its
// own; the wall-clock figures are printed. The same key each time keeps the state at one value: every
// put triggers a snapshot (--snapshot-bytes is 64 MiB), and an export of a state of many such values
// is a different cost (docs/architecture.md).
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';

const MIB = 1024 * 1024;
const PUTS = 20;
/** Half of the default election timeout (10 ticks of 100 ms): a leader silent that long may be replaced. */
const HALF_ELECTION_TIMEOUT_S = 0.5;

let c: ProcCluster;
before(async () => {
  // A 64 MiB put is written three times on each node (log, state machine, snapshot): on a busy machine
  // it can take longer than the default 5 s request timeout, which is not what this test is about.
  c = await ProcCluster.create(3, ['--request-timeout-ms', '60000']);
  await c.leader();
});
after(async () => c?.stop());

/** A sample of `name` from the node's /metrics. */
async function metric(node: ProcNode, name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${node.id} reports ${name}`);
  return Number(m[1]);
}

/** The longest event-loop delay since the previous call, wall clock (prom-client's monitorEventLoopDelay maximum, reset by each scrape). */
const maxStallSeconds = (node: ProcNode) => metric(node, 'concord_process_nodejs_eventloop_lag_max_seconds');

it(`${PUTS} puts of 64 MiB in a row: no election, and no node's event loop runs half an election timeout without a tick`, { timeout: 600_000 }, async () => {
  const leader = await c.leader();
  const follower = c.nodes.find((n) => n !== leader)!;
  const termBefore = await metric(leader, 'concord_raft_term');
  // The window starts now: startup's stalls (loading modules) and its late-tick warnings are not counted.
  for (const n of c.nodes) await maxStallSeconds(n);
  const outputBefore = c.nodes.map((n) => n.output.join('').length);

  const value = Buffer.alloc(64 * MIB);
  const putMs: number[] = [];
  for (let i = 0; i < PUTS; i++) {
    value.writeUInt32BE(i, 0);
    value.writeUInt32BE(i, value.length - 4);
    const via = i % 2 === 0 ? leader : follower;
    const t0 = performance.now();
    const r = await fetch(`${via.url}/v1/kv/big`, { method: 'PUT', body: value });
    assert.equal(r.status, 200, `put ${i} via ${via.id}: ${r.status} ${await r.text()}`);
    putMs.push(Math.round(performance.now() - t0));
  }

  const stalls = await Promise.all(c.nodes.map(maxStallSeconds));
  const late = c.nodes.flatMap((n, i) =>
    n.output
      .join('')
      .slice(outputBefore[i])
      .split('\n')
      .filter((l) => l.includes('raft tick late') && l.endsWith('}'))
      .map((l) => ({ node: n.id, ...(JSON.parse(l) as { lateMs: number; ranMs?: number }) })),
  );
  console.log(JSON.stringify({ maxStallMs: Object.fromEntries(c.nodes.map((n, i) => [n.id, Math.round(stalls[i] * 1000)])), lateTicks: late.map((l) => ({ node: l.node, lateMs: l.lateMs, ranMs: l.ranMs })), putMs }));
  const termAfter = await metric(await c.leader(), 'concord_raft_term');
  assert.equal(termAfter, termBefore, `no election: term ${termBefore} -> ${termAfter}`);
  for (const l of late) {
    assert.ok(l.ranMs !== undefined, 'the warning says how long the thread ran (Linux)');
    assert.ok(l.ranMs < HALF_ELECTION_TIMEOUT_S * 1000, `${l.node}'s event loop ran ${l.ranMs} ms without a tick (${l.lateMs} ms late)`);
  }

  const got = Buffer.from(await (await fetch(`${follower.url}/v1/kv/big`)).arrayBuffer());
  assert.ok(got.equals(value), 'the last value reads back intact');
});
