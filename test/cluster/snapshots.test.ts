// Snapshots and log compaction on real nodes (TCP + LMDB, one process): the log stays bounded, a
// follower behind the compacted log catches up by snapshot, and restarts after compaction recover.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { flipSnapshotFileBit } from '../storage/corrupt.ts';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import type { NodeConfig } from '../../src/cluster/config.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const enc = (s: string) => Buffer.from(s);
const dec = (b?: Uint8Array) => (b ? Buffer.from(b).toString() : undefined);
/** After writes i = 0..299 of `<prefix><i>` to key k<i % 40>, the value each key ends with. */
const lastW = (k: number, prefix = 'w') => `${prefix}${k <= 19 ? 280 + k : 240 + k}`;

describe('snapshots and compaction', () => {
  const dir = tempDir('snapshots');
  let configs: NodeConfig[];
  const nodes = new Map<string, NodeCore>();
  const log = pino({ level: 'silent' });
  const start = async (c: NodeConfig) => nodes.set(c.nodeId, await startNodeCore(c, log));
  const leader = () => [...nodes.values()].find((n) => n.group.node.status().role === 'leader');

  /**
   * Stop a follower, write past it, and wait until the leader has compacted the log it would need.
   * The leader's link to it is cut first, so that no appends wait in the leader's outbound queue while
   * it is down: delivered at restart, they could catch it up without a snapshot. rejoin() heals it.
   */
  async function leaveFollowerBehind(prefix: string): Promise<{ lagging: NodeConfig; stoppedAt: number }> {
    const lagging = configs.find((c) => c.nodeId !== leader()!.group.node.status().id)!;
    const stoppedAt = nodes.get(lagging.nodeId)!.log.lastIndex();
    leader()!.faults.cut(lagging.nodeId);
    await nodes.get(lagging.nodeId)!.close();
    nodes.delete(lagging.nodeId);
    for (let i = 0; i < 300; i++) await leader()!.kv.put(enc(`k${i % 40}`), enc(`${prefix}${i}`));
    await until('the leader to compact past the follower', () => leader()!.log.firstIndex() > stoppedAt + 1);
    return { lagging, stoppedAt };
  }

  async function rejoin(lagging: NodeConfig): Promise<void> {
    for (const n of nodes.values()) n.faults.heal(lagging.nodeId);
    await start(lagging);
  }

  before(async () => {
    // Small chunks, so every snapshot sent travels as many of them.
    configs = await clusterConfigs(3, dir, { snapshotEntries: 50, snapshotKeepEntries: 10, snapshotChunkBytes: 256 });
    for (const c of configs) await start(c);
    await until('every node to know the leader', () => [...nodes.values()].every((n) => n.group.node.status().leader !== ''));
  });

  after(async () => {
    for (const n of nodes.values()) await n.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the log is compacted as writes go on, on every node', async () => {
    for (let i = 0; i < 300; i++) await leader()!.kv.put(enc(`k${i % 40}`), enc(`v${i}`));
    await until('every node to snapshot and compact', () => [...nodes.values()].every((n) => n.snapshotter.snapshots > 0 && n.log.firstIndex() > 100));
    for (const n of nodes.values()) {
      const entries = n.log.lastIndex() - n.log.firstIndex() + 1;
      assert.ok(entries <= 50 + 10 + 50, `log holds ${entries} entries`);
    }
  });

  it('the members snapshot at staggered indices, each at its own point of the period', () => {
    // Period 50 - 10 = 40 entries; three members: points at 0, 13 and 26 past each multiple of 40.
    const ids = [...nodes.keys()].sort();
    const at = ids.map((id) => nodes.get(id)!.group.node.raft.log.snapshot().meta.index);
    ids.forEach((id, position) => {
      const pastPoint = (((at[position] - Math.floor((position * 40) / 3)) % 40) + 40) % 40;
      // A write applied while the previous export still ran can push a snapshot a few entries late.
      assert.ok(pastPoint < 10, `${id} (position ${position}) snapshotted at ${at[position]}, ${pastPoint} past its point: ${at}`);
    });
  });

  it('a follower that missed the compacted part catches up from a snapshot', async () => {
    const { lagging, stoppedAt } = await leaveFollowerBehind('w');
    await rejoin(lagging);
    const back = nodes.get(lagging.nodeId)!;
    await until('the follower to catch up', async () => dec((await back.kv.get(enc('k19'), { consistency: 'serializable' }))?.value) === 'w299');
    for (let i = 0; i < 40; i++) assert.equal(dec((await back.kv.get(enc(`k${i}`)))?.value), lastW(i));
    assert.ok(back.log.firstIndex() > stoppedAt + 1, 'its log now starts at a snapshot from the leader, past where it stopped');
    assert.ok(back.streamer.received >= 1, 'it arrived as a chunked stream');
    assert.ok(leader()!.streamer.chunksSent > 1, 'in more than one chunk');
  });

  it('a snapshot sent over a link losing 30% of messages still arrives (stalled transfers are restarted)', async () => {
    const { lagging } = await leaveFollowerBehind('z');
    const l = leader()!;
    for (const n of nodes.values()) n.faults.heal(lagging.nodeId);
    l.faults.drop(lagging.nodeId, 0.3); // lose 30% of what the leader sends it, chunks included
    await start(lagging);
    const back = nodes.get(lagging.nodeId)!;
    await until('the follower to catch up', async () => dec((await back.kv.get(enc('k19'), { consistency: 'serializable' }))?.value) === 'z299', 60_000);
    l.faults.clear();
    assert.ok(back.streamer.received >= 1);
  });

  it('every node restarted after compaction has exactly the same data', async () => {
    for (const c of configs) {
      await nodes.get(c.nodeId)!.close();
      nodes.delete(c.nodeId);
    }
    for (const c of configs) await start(c);
    await until('a leader', () => leader());
    for (const n of nodes.values()) {
      const listed = await n.kv.list({ prefix: enc('k') });
      assert.equal(listed.items.length, 40);
      for (let i = 0; i < 40; i++) assert.equal(dec((await n.kv.get(enc(`k${i}`)))?.value), lastW(i, 'z'));
    }
  });
});

describe('the snapshot size trigger', () => {
  it('compacts the log, and the WAL segments that only discarded entries need are deleted', async () => {
    const dir = tempDir('snap-segments');
    const segmentBytes = 16 * 1024;
    const [cfg] = await clusterConfigs(1, dir, { snapshotEntries: 500, snapshotKeepEntries: 10, walSegmentBytes: segmentBytes });
    const node = await startNodeCore(cfg, pino({ level: 'silent' }));
    const walDir = path.join(cfg.dataDir, 'wal');
    const segments = () => fs.readdirSync(walDir).filter((n) => n.endsWith('.wal'));
    try {
      await until('leader', () => node.group.node.status().role === 'leader');
      for (let i = 0; i < 2_100; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => node.kv.put(enc(`s${(i + j) % 50}`), enc(`v${i + j}`))));
      await until('a compacted log', () => node.snapshotter.snapshots > 0 && node.log.firstIndex() > 1_500);
      assert.equal(node.log.firstIndex() - 1, node.snapshotter.lastCompacted, 'compacted to the compaction point in one step');
      // Segments go once the group's BASE (written after a compaction) is in a later one, off the write path.
      await until('old segments gone', () => !segments().includes('0000000000000001.wal'), 5000);
      const names = segments().sort();
      assert.ok(Number(names.at(-1)!.slice(0, 16)) >= 4, `segments were started (${names.join(', ')})`);
      const bytes = names.reduce((sum, n) => sum + fs.statSync(path.join(walDir, n)).size, 0);
      // A segment ends past its size with the write that crossed it, which may carry a checkpoint (BASE) of the
      // live log: up to snapshotEntries + snapshotKeepEntries entries of under 80 bytes each, depending on how
      // far the log had grown past the compaction point when it was written (timing).
      const segmentMax = segmentBytes + (500 + 10) * 80;
      assert.ok(names.length <= 2 && bytes < 2 * segmentMax, `${names.length} segments, ${bytes} bytes on disk after ${node.log.lastIndex()} entries`);
    } finally {
      await node.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('snapshots and compacts once applied entries carry more than --snapshot-bytes, however few they are', async () => {
    const dir = tempDir('snap-bytes');
    const [cfg] = await clusterConfigs(1, dir, { snapshotEntries: 1_000_000, snapshotBytes: 64 * 1024, snapshotKeepEntries: 2 });
    const node = await startNodeCore(cfg, pino({ level: 'silent' }));
    try {
      await until('leader', () => node.group.node.status().role === 'leader');
      for (let i = 0; i < 10; i++) await node.kv.put(enc(`b${i}`), Buffer.alloc(4096, i));
      assert.equal(node.snapshotter.snapshots, 0, '40 KiB applied: under the threshold');
      for (let i = 10; i < 40; i++) await node.kv.put(enc(`b${i}`), Buffer.alloc(4096, i));
      await until('a snapshot', () => node.snapshotter.snapshots > 0 && node.log.firstIndex() > 10);
    } finally {
      await node.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the log memory budget (--raft-log-memory-bytes)', () => {
  it("keeps the in-memory logs of all a node's shards together under the budget by snapshotting the largest", async () => {
    const dir = tempDir('log-budget');
    const budgetBytes = 256 * 1024;
    // The groups' own policy would never snapshot here: only the node's budget does.
    const [cfg] = await clusterConfigs(1, dir, { shards: 4, snapshotEntries: 1_000_000, snapshotKeepEntries: 10, raftLogMemoryBytes: budgetBytes });
    const node = await startNodeCore(cfg, pino({ level: 'silent' }));
    const gauge = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await node.metrics.render())?.[1]);
    try {
      await until('leaders', () => node.cluster.status().then((s) => (s.shards ?? []).every((sh) => sh.leader !== undefined)), 10_000);
      // About 3,000 entries of ~270 bytes each in memory: three times the budget.
      for (let i = 0; i < 3_000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => node.kv.put(enc(`k${i + j}`), Buffer.alloc(150, j))));
      await until('back under the budget', async () => (await gauge('concord_raft_log_memory_bytes')) <= budgetBytes, 10_000);
      assert.ok((await gauge('concord_raft_log_budget_snapshots')) >= 2, 'the budget asked for snapshots');
      for (const i of [0, 1_499, 2_999]) assert.ok(Buffer.alloc(150, i % 100).equals((await node.kv.get(enc(`k${i}`)))!.value), `k${i} reads back`);
    } finally {
      await node.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('after an OS crash', () => {
  it('the state machine, open when the system went down, is discarded and rebuilt from the snapshot and the log', async () => {
    const dir = tempDir('os-crash');
    const [cfg] = await clusterConfigs(1, dir, { snapshotEntries: 20, snapshotKeepEntries: 5 });
    let node = await startNodeCore(cfg, pino({ level: 'silent' }));
    try {
      await until('leader', () => node.group.node.status().role === 'leader');
      for (let i = 0; i < 70; i++) await node.kv.put(enc(`o${i % 10}`), enc(`v${i}`));
      await until('a compacted log', () => node.snapshotter.snapshots > 0 && node.log.firstIndex() > 20);
      const applied = node.group.node.status().applied;
      await node.close();
      // What an OS crash leaves behind (os-crash-guard.ts): the marker of a boot that is not this one.
      fs.writeFileSync(path.join(cfg.dataDir, 'kv', 'open-in-boot'), 'a-boot-before-the-crash');
      const warnings: string[] = [];
      node = await startNodeCore(cfg, pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) }));
      assert.ok(warnings.some((w) => w.includes('discarded; rebuilding it')), `the files were discarded: ${warnings.join('')}`);
      await until('leader again', () => node.group.node.status().role === 'leader');
      await until('the log replayed', () => node.group.node.status().applied >= applied);
      for (let i = 0; i < 10; i++) assert.equal(dec((await node.kv.get(enc(`o${i}`)))?.value), `v${60 + i}`);
    } finally {
      await node.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a corrupt snapshot on disk', () => {
  it('is replaced at boot from the local state machine, and the node serves the same data', async () => {
    const dir = tempDir('corrupt-snap');
    const [cfg] = await clusterConfigs(1, dir, { snapshotEntries: 20, snapshotKeepEntries: 5 });
    let node = await startNodeCore(cfg, pino({ level: 'silent' }));
    try {
      await until('leader', () => node.group.node.status().role === 'leader');
      for (let i = 0; i < 60; i++) await node.kv.put(enc(`c${i % 10}`), enc(`v${i}`));
      await until('a snapshot', () => node.snapshotter.snapshots > 0);
      await node.close();
      flipSnapshotFileBit(path.join(cfg.dataDir, 'snapshots'), 'g0', 3);
      node = await startNodeCore(cfg, pino({ level: 'silent' }));
      await until('leader again', () => node.group.node.status().role === 'leader');
      for (let i = 0; i < 10; i++) assert.equal(dec((await node.kv.get(enc(`c${i}`)))?.value), `v${50 + i}`);
      assert.doesNotThrow(() => node.group.node.raft.log.snapshot().data, 'the snapshot reads cleanly again');
    } finally {
      await node.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is fetched again from a peer when the local state machine is behind it, and the node catches up', async () => {
    const dir = tempDir('corrupt-snap-fetch');
    const configs = await clusterConfigs(3, dir, { snapshotEntries: 20, snapshotKeepEntries: 5 });
    const nodes = new Map<string, NodeCore>();
    const start = async (c: NodeConfig) => nodes.set(c.nodeId, await startNodeCore(c, pino({ level: 'silent' })));
    const leader = () => [...nodes.values()].find((n) => n.group.node.status().role === 'leader');
    try {
      for (const c of configs) await start(c);
      await until('a leader', () => leader());
      for (let i = 0; i < 100; i++) await leader()!.kv.put(enc(`f${i % 10}`), enc(`v${i}`));
      await until('every node to snapshot', () => [...nodes.values()].every((n) => n.snapshotter.snapshots > 0 && n.log.firstIndex() > 20));
      const victim = configs.find((c) => nodes.get(c.nodeId)!.group.node.status().role !== 'leader')!;
      await nodes.get(victim.nodeId)!.close();
      nodes.delete(victim.nodeId);
      // The snapshot's bytes rot, and the state machine is gone too: nothing local can rebuild it.
      flipSnapshotFileBit(path.join(victim.dataDir, 'snapshots'), 'g0', 3);
      fs.rmSync(path.join(victim.dataDir, 'kv'), { recursive: true, force: true });
      for (let i = 100; i < 130; i++) await leader()!.kv.put(enc(`f${i % 10}`), enc(`v${i}`));
      await start(victim);
      const back = nodes.get(victim.nodeId)!;
      assert.ok(back.streamer.received >= 1, 'the snapshot came from a peer before Raft started');
      assert.doesNotThrow(() => back.group.node.raft.log.snapshot().data, 'the stored snapshot reads cleanly again');
      await until('it catches up', async () => dec((await back.kv.get(enc('f9'), { consistency: 'serializable' }))?.value) === 'v129');
      for (let i = 0; i < 10; i++) assert.equal(dec((await back.kv.get(enc(`f${i}`), { consistency: 'serializable' }))?.value), `v${120 + i}`);
      await leader()!.kv.put(enc('after'), enc('repair'));
      await until('it keeps replicating', async () => dec((await back.kv.get(enc('after'), { consistency: 'serializable' }))?.value) === 'repair');
    } finally {
      for (const n of nodes.values()) await n.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
