// The idle-groups benchmark measures something: idle groups exchange heartbeats (about 40 messages a second
// per group of 3 at a 100 ms tick), and the CPU figure is a real, positive number.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { idleCost } from '../../bench/idle-groups.ts';

it('idle groups are measured ticking: heartbeats flow and CPU is counted', async () => {
  const r = await idleCost(4, 500);
  assert.ok(r.messagesPerSec > 4 * 20, `${r.messagesPerSec} messages/s for 4 groups`);
  assert.ok(r.cpuPctPerNode > 0 && r.cpuPctPerNode < 100, `${r.cpuPctPerNode}% of a core`);
});
