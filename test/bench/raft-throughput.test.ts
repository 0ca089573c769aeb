// The in-process Raft benchmark measures something: every configuration commits proposals (a host loop that
// drives the core wrongly — no persisted(), say — commits nothing, and the benchmark must not report that as a
// figure).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { measure } from '../../bench/raft-throughput.ts';

it('every raft-throughput configuration reports committed proposals, not zero', () => {
  const results = measure(150);
  assert.equal(results.length, 6);
  for (const r of results) assert.ok(r.opsPerSec > 0, `${r.name}: ${r.opsPerSec} ops/s`);
});
