// The Ready loop wakes once per event-loop turn (RaftGroup.kick): requests that arrive in separate
// callbacks of one I/O phase (as separate HTTP requests do) share one Ready, hence one fsync.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore } from '../../src/node/node-core.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

it('proposals made in separate callbacks of one event-loop turn are persisted with one fsync', async () => {
  const dir = tempDir('ready-batching');
  const [cfg] = await clusterConfigs(1, dir);
  const node = await startNodeCore(cfg, pino({ level: 'silent' }));
  try {
    await until('leader', () => node.group.node.status().role === 'leader');
    await node.kv.put(Buffer.from('warm'), Buffer.from('up'));
    let persists = 0;
    node.group.onPersist = () => persists++;
    // Twenty callbacks queued together run back to back in one check phase, with microtasks between them.
    const puts = await new Promise<Array<Promise<unknown>>>((resolve) => {
      const started: Array<Promise<unknown>> = [];
      for (let i = 0; i < 20; i++) {
        setImmediate(() => {
          started.push(node.kv.put(Buffer.from(`k${i}`), Buffer.from(`v${i}`)));
          if (started.length === 20) resolve(started);
        });
      }
    });
    await Promise.all(puts);
    assert.equal(persists, 1, `20 proposals from one turn took ${persists} fsyncs`);
  } finally {
    await node.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
