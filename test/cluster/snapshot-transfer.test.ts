// A large snapshot travels in chunks while heartbeats and client writes go on: no election, no failed write.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const dir = tempDir('big-snap');
const nodes = new Map<string, NodeCore>();
after(async () => {
  for (const n of nodes.values()) await n.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a ~20 MiB snapshot streams to a follower without an election and without failing client writes', async () => {
  const configs = await clusterConfigs(3, dir, { snapshotEntries: 100, snapshotKeepEntries: 10, tickMs: 100, requestTimeoutMs: 20_000 });
  for (const c of configs) nodes.set(c.nodeId, await startNodeCore(c, pino({ level: 'silent' })));
  await until('every node to know the leader', () => [...nodes.values()].every((n) => n.group.node.status().leader !== ''));
  const leader = [...nodes.values()].find((n) => n.group.node.status().role === 'leader')!;
  const lagging = configs.find((c) => c.nodeId !== leader.group.node.status().id)!;
  // Cut first, so that nothing for it waits in the leader's outbound queue while it is down: appends
  // queued there would be delivered at restart and could catch it up without any snapshot.
  leader.faults.cut(lagging.nodeId);
  await nodes.get(lagging.nodeId)!.close();
  nodes.delete(lagging.nodeId);
  const big = Buffer.alloc(100 * 1024, 7);
  for (let i = 0; i < 200; i++) await leader.kv.put(Buffer.from(`big${i}`), big);
  const afterBig = leader.group.node.status().applied;
  for (let i = 0; i < 150; i++) await leader.kv.put(Buffer.from(`small${i % 10}`), Buffer.from(`v${i}`));
  // Snapshots are taken in the background and can lag on a loaded machine: wait for one that holds
  // every big value (the log is compacted to 10 entries before the snapshot's index), not just any.
  await until('a snapshot holding all 20 MiB, and the log compacted past the stopped follower', () => leader.log.firstIndex() > afterBig - 10);

  const term = leader.group.node.status().term;
  leader.faults.heal(lagging.nodeId);
  nodes.set(lagging.nodeId, await startNodeCore(lagging, pino({ level: 'silent' })));
  const back = nodes.get(lagging.nodeId)!;
  let writes = 0;
  let failures = 0;
  let stop = false;
  const writer = (async () => {
    while (!stop) {
      try {
        await leader.kv.put(Buffer.from(`during${writes % 20}`), Buffer.from('x'));
        writes++;
      } catch {
        failures++;
      }
    }
  })();
  await until('the follower to hold the snapshot', async () => (await back.kv.get(Buffer.from('big199'), { consistency: 'serializable' }))?.value.byteLength === big.length, 30_000);
  stop = true;
  await writer;
  // Counted where they arrive: the leader may have started the transfer while the follower was down
  // (its transport queues the first chunks until the follower is back), so its own count can start early.
  assert.ok(back.streamer.received >= 1, 'a snapshot arrived');
  assert.ok(back.streamer.chunksReceived >= 15, `received in ${back.streamer.chunksReceived} chunks`);
  assert.equal(leader.group.node.status().term, term, 'no election during the transfer');
  assert.equal(back.group.node.status().term, term);
  assert.equal(failures, 0);
  assert.ok(writes > 0, 'client writes went on during the transfer');
});
