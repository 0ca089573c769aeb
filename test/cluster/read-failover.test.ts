// A linearizable read waiting on a leader that vanished: the follower sent its ReadIndex request to a leader
// that will never answer. Once another leader is elected, the read must be asked of it and complete —
// well before the request timeout, which is set long here so that waiting it out cannot pass for success.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const REQUEST_TIMEOUT_MS = 30_000;

describe('linearizable reads across the loss of the leader', () => {
  const dir = tempDir('read-failover');
  const nodes = new Map<string, NodeCore>();

  before(async () => {
    const configs = await clusterConfigs(3, dir, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
    for (const c of configs) nodes.set(c.nodeId, await startNodeCore(c, pino({ level: 'silent' })));
    await until('every node to know the leader', () => [...nodes.values()].every((n) => n.group.node.status().leader !== ''));
  });
  after(async () => {
    for (const n of nodes.values()) await n.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a read sent to a leader that is then cut off completes through the next leader, long before the request timeout', async () => {
    const [any] = nodes.values();
    await any.kv.put(Buffer.from('k'), Buffer.from('v'));
    const leaderId = any.group.node.status().leader;
    const follower = [...nodes.entries()].find(([id]) => id !== leaderId)![1];
    await until('the follower to have applied the put', async () => (await follower.kv.get(Buffer.from('k'), { consistency: 'serializable' }))?.value !== undefined);
    const leader = nodes.get(leaderId)!;
    leader.faults.cut('*');
    try {
      const started = performance.now();
      const read = await follower.kv.get(Buffer.from('k'));
      const ms = performance.now() - started;
      assert.equal(Buffer.from(read!.value).toString(), 'v');
      assert.notEqual(follower.group.node.status().leader, leaderId, 'answered through another leader');
      assert.ok(ms < REQUEST_TIMEOUT_MS / 3, `the read took ${Math.round(ms)} ms`);
    } finally {
      leader.faults.heal();
    }
  });

  it('a read request lost on the way to a live leader is sent again, and completes long before the request timeout', async () => {
    const leaderId = await until('every node to follow one leader', () => {
      const seen = new Set([...nodes.values()].map((n) => n.group.node.status().leader));
      const [id] = seen;
      return seen.size === 1 && id && nodes.get(id)?.group.node.status().role === 'leader' ? id : undefined;
    });
    const follower = [...nodes.entries()].find(([id]) => id !== leaderId)![1];
    follower.faults.drop(leaderId, 1); // everything the follower sends its leader is lost, the ReadIndex request too
    const started = performance.now();
    const read = follower.kv.get(Buffer.from('k'));
    setTimeout(() => follower.faults.drop(leaderId, 0), 300);
    assert.equal(Buffer.from((await read)!.value).toString(), 'v');
    const ms = performance.now() - started;
    assert.equal(follower.group.node.status().leader, leaderId, 'the same leader answered');
    assert.ok(ms < REQUEST_TIMEOUT_MS / 3, `the read took ${Math.round(ms)} ms`);
  });
});
