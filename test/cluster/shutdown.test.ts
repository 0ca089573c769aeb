// A leader's shutdown hands leadership over (test/cluster/replication.test.ts), but must not wait the
// whole request timeout for a successor that can no longer take over.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const dir = tempDir('shutdown');
const open = new Set<NodeCore>();

after(async () => {
  for (const n of open) await n.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a leader whose followers are gone shuts down after about an election timeout, not the request timeout', async () => {
  const requestTimeoutMs = 20_000;
  // tickMs 50 and 10 election ticks: the core gives up a transfer after 0.5 s.
  const configs = await clusterConfigs(3, dir, { requestTimeoutMs, tickMs: 50, electionTicks: 10 });
  const nodes: NodeCore[] = [];
  for (const c of configs) {
    const n = await startNodeCore(c, pino({ level: 'silent' }));
    nodes.push(n);
    open.add(n);
  }
  const leader = await until('a leader', () => nodes.find((n) => n.group.node.status().role === 'leader'));
  await until('both followers to have answered the leader', () => Object.values(leader.group.node.status().progress ?? {}).every((pr) => pr.recentActive));
  // Both followers still look active to the leader when it starts closing, so it picks one to hand off to.
  for (const n of nodes) {
    if (n === leader) continue;
    await n.close();
    open.delete(n);
  }
  const started = Date.now();
  await leader.close();
  open.delete(leader);
  const took = Date.now() - started;
  assert.ok(took < requestTimeoutMs / 4, `close took ${took} ms`);
});
