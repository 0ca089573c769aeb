// A blocked event loop sends no heartbeats, so the node says so in its log (as etcd does), naming how late.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const dir = tempDir('late-tick');
let node: NodeCore | undefined;

after(async () => {
  await node?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a tick later than half an election timeout is logged as a warning with its lateness', async () => {
  const lines: Array<{ msg: string; lateMs?: number; level: number }> = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  // tickMs 50, 10 election ticks: the warning starts past 250 ms between ticks.
  const [config] = await clusterConfigs(1, dir, { tickMs: 50, electionTicks: 10, peers: {}, bootstrap: true });
  node = await startNodeCore(config, pino({ level: 'warn' }, sink));
  await until('the node to lead', () => node!.group.node.status().role === 'leader');
  await new Promise((resolve) => setTimeout(resolve, 500)); // ~10 ticks on time
  const blockedUntil = Date.now() + 600;
  while (Date.now() < blockedUntil); // the event loop is blocked, as by a long synchronous task
  const late = () => lines.filter((l) => l.msg.startsWith('raft tick late'));
  const warning = await until('the warning', () => late().find((l) => l.lateMs! >= 450));
  assert.equal(warning.level, 40);
  assert.ok(warning.lateMs! < 5000, `lateMs ${warning.lateMs}`);
  // Ticks on time are not reported: ~10 before the block, and the warning's only company would be a
  // stall of the machine itself.
  assert.ok(late().length <= 3, `${late().length} warnings`);
});

it('the node’s own start, which blocks before the first tick, is not reported', async () => {
  const lines: Array<{ msg: string }> = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  const [config] = await clusterConfigs(1, tempDir('late-tick-start'), { tickMs: 50, electionTicks: 10, peers: {}, bootstrap: true });
  const starting = await startNodeCore(config, pino({ level: 'warn' }, sink));
  try {
    const blockedUntil = Date.now() + 600;
    while (Date.now() < blockedUntil); // the front ends being built, right after the core started
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(lines.filter((l) => l.msg.startsWith('raft tick late')), []);
  } finally {
    await starting.close();
  }
});
