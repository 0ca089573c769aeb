// The simulator can fail: deliberately broken Raft variants (behind a testing-only switch) are caught.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { firstSeedCatching } from './sim.ts';

it('a Raft that grants votes without the §5.4.1 up-to-date check is caught within the seeds npm test runs', () => {
  const caught = firstSeedCatching({ voteWithoutLogCheck: true }, 1, 320);
  assert.ok(caught, 'no seed in 1–320 caught the broken vote rule');
  assert.match(caught.error, /leader completeness|state machine safety|log matching|commit safety|stale read/);
});
