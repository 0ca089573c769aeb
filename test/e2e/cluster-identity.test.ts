// A member added with POST /v1/cluster/nodes and then started the wrong way — with the founders' --peers
// list, its own id included, so it founds a cluster of its own — stops at once with a message that gives
// the command that works; started that way, it catches up.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { freePort } from '../../testkit/ports.ts';
import { until } from '../../testkit/wait.ts';

let c: ProcCluster;
before(async () => {
  c = await ProcCluster.create(3);
});
after(() => c.stop());

it('a node that founded its own cluster by mistake stops, says how to start it, and started so it catches up', async () => {
  const leader = await c.leader();
  assert.equal((await fetch(`${leader.url}/v1/kv/before`, { method: 'PUT', body: 'v' })).status, 200);
  const [raft, http] = [await freePort(), await freePort()];
  const added = await fetch(`${leader.url}/v1/cluster/nodes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'n4', address: `127.0.0.1:${raft}`, learner: true }),
  });
  assert.equal(added.status, 200, await added.text());

  const founders = c.nodes[0].args[c.nodes[0].args.indexOf('--peers') + 1];
  const dataDir = path.join(c.dir, 'n4');
  const wrong = c.add('n4', ['server', '--node-id', 'n4', '--raft-addr', `127.0.0.1:${raft}`, '--http-addr', `127.0.0.1:${http}`, '--data-dir', dataDir, '--peers', `${founders},n4=127.0.0.1:${raft}`], `http://127.0.0.1:${http}`);
  const code = await until('n4 to stop by itself', () => (wrong.proc && wrong.proc.exitCode !== null ? wrong.proc.exitCode : undefined), 20_000);
  assert.equal(code, 1);
  const said = wrong.output.join('');
  assert.match(said, /node n4 holds the state of a cluster of its own .* it founded a new cluster when it should have joined one/);
  const suggested = /that is: concord (.*)\n/.exec(said)?.[1];
  assert.ok(suggested, said);
  assert.equal(suggested, `server --node-id n4 --raft-addr 127.0.0.1:${raft} --http-addr 127.0.0.1:${http} --data-dir ${dataDir} --no-bootstrap`);

  const others: ProcNode[] = c.nodes.filter((n) => n.id !== 'n4');
  for (const n of others) assert.equal(n.proc?.exitCode, null, `${n.id} still runs`);
  fs.rmSync(dataDir, { recursive: true });
  const right = c.add('n4-again', suggested.split(' '), `http://127.0.0.1:${http}`);
  await c.waitHealthy(right);
  await until('n4 to catch up', async () => (await fetch(`${right.url}/v1/kv/before?consistency=serializable`)).ok, 20_000);
});
