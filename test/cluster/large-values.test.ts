// A 64 MiB value replicates on a 3-node cluster without starving heartbeats into an election.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const dir = tempDir('large');
const nodes: NodeCore[] = [];

before(async () => {
  // All three nodes share this process's one thread here, so allow more than the 5 s default.
  for (const c of await clusterConfigs(3, dir, { requestTimeoutMs: 30_000, tickMs: 100 })) nodes.push(await startNodeCore(c, pino({ level: 'silent' })));
  await until('every node to know the leader', () => nodes.every((n) => n.group.node.status().leader !== ''));
});

after(async () => {
  for (const n of nodes) await n.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a 64 MiB value round-trips through every node, with no leader change', async () => {
  const term = nodes[0].group.node.status().term;
  const value = Buffer.alloc(64 * 1024 * 1024);
  for (let i = 0; i < value.length; i += 4096) value[i] = i & 0xff;
  const follower = nodes.find((n) => n.group.node.status().role !== 'leader')!;
  const { revision } = await follower.kv.put(Buffer.from('big'), value);
  for (const n of nodes) {
    const r = await n.kv.get(Buffer.from('big'));
    assert.equal(r?.value.byteLength, value.length);
    assert.ok(Buffer.from(r!.value).equals(value), 'the bytes are intact');
  }
  assert.equal(nodes[0].group.node.status().term, term, 'no election happened meanwhile');
  // More than --snapshot-bytes applied: a snapshot, and the entry is not among those kept behind it
  // (it would stay in memory and be rewritten into every new WAL segment).
  await until('every node to compact the 64 MiB entry away', () => nodes.every((n) => n.log.firstIndex() > revision), 30_000);
  await assert.rejects(follower.kv.put(Buffer.from('too-big'), Buffer.alloc(64 * 1024 * 1024 + 1)), /limit/);
});
