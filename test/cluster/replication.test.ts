// Three nodes in one process, over real TCP and real LMDB files: replication, forwarding, reads, failover.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import type { NodeConfig } from '../../src/cluster/config.ts';
import { ConcordError } from '../../src/util/errors.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const enc = (s: string) => Buffer.from(s);
const dec = (b?: Uint8Array) => (b ? Buffer.from(b).toString() : undefined);

describe('a 3-node cluster over TCP and LMDB', () => {
  const dir = tempDir('replication');
  let configs: NodeConfig[];
  const nodes = new Map<string, NodeCore>();
  const log = pino({ level: 'silent' });

  const leaderId = () => [...nodes.entries()].find(([, n]) => n.group.node.status().role === 'leader')?.[0];

  before(async () => {
    configs = await clusterConfigs(3, dir);
    for (const c of configs) nodes.set(c.nodeId, await startNodeCore(c, log));
    await until('every node to know the leader', () => [...nodes.values()].every((n) => n.group.node.status().leader !== ''));
  });

  after(async () => {
    for (const n of nodes.values()) await n.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a write through a follower is readable on every node', async () => {
    const follower = [...nodes.keys()].find((id) => id !== leaderId())!;
    const { revision } = await nodes.get(follower)!.kv.put(enc('greeting'), enc('hello'));
    assert.ok(revision > 0);
    for (const n of nodes.values()) {
      const r = await n.kv.get(enc('greeting'));
      assert.equal(dec(r?.value), 'hello');
      assert.equal(r?.modRevision, revision);
      assert.equal(r?.version, 1);
    }
  });

  it('compare-and-swap and create-only are decided by the replicated state', async () => {
    const [a, b] = [...nodes.values()];
    const { revision } = await a.kv.put(enc('cas'), enc('v1'));
    await assert.rejects(b.kv.put(enc('cas'), enc('x'), { ifMatch: revision + 1000 }), (e: unknown) => e instanceof ConcordError && e.status === 412);
    await b.kv.put(enc('cas'), enc('v2'), { ifMatch: revision });
    await assert.rejects(a.kv.put(enc('cas'), enc('v3'), { ifNoneMatch: true }), (e: unknown) => e instanceof ConcordError && e.status === 412);
    assert.equal(dec((await a.kv.get(enc('cas')))?.value), 'v2');
  });

  it('delete, batch and ordered listing', async () => {
    const [a, b] = [...nodes.values()];
    await a.kv.batch([
      { op: 'put', key: enc('list/b'), value: enc('2') },
      { op: 'put', key: enc('list/a'), value: enc('1') },
      { op: 'put', key: enc('list/c'), value: enc('3') },
    ]);
    assert.equal((await b.kv.delete(enc('list/c'))).deleted, 1);
    assert.equal((await b.kv.delete(enc('list/c'))).deleted, 0);
    const listed = await b.kv.list({ prefix: enc('list/') });
    assert.deepEqual(listed.items.map((r) => dec(r.key)), ['list/a', 'list/b']);
  });

  it('a leader that shuts down hands leadership over before it goes', async () => {
    const old = leaderId()!;
    const cfg = configs.find((c) => c.nodeId === old)!;
    await nodes.get(old)!.close();
    nodes.delete(old);
    const successor = leaderId();
    assert.ok(successor && successor !== old, 'a successor leads the moment the old leader has closed');
    nodes.set(old, await startNodeCore(cfg, log));
    await until('every node to know the leader', () => [...nodes.values()].every((n) => n.group.node.status().leader !== ''));
  });

  it('stop the leader: the others serve writes within 3 s, and the old one catches up on restart (kill -9 is in test/e2e)', async () => {
    const old = leaderId()!;
    await nodes.get(old)!.close();
    nodes.delete(old);
    const started = Date.now();
    await until('a new leader', leaderId, 3000);
    const survivor = nodes.get(leaderId()!)!;
    await survivor.kv.put(enc('after-failover'), enc('yes'));
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    const cfg = configs.find((c) => c.nodeId === old)!;
    const back = await startNodeCore(cfg, log);
    nodes.set(old, back);
    await until('the old leader to catch up', async () => dec((await back.kv.get(enc('after-failover'), { consistency: 'serializable' }))?.value) === 'yes');
    assert.equal(dec((await back.kv.get(enc('greeting')))?.value), 'hello', 'data written before the crash survived on disk');
  });
});
