// When a member takes its entry-count snapshot (snapshotDue): once per period, at a point of the
// period that depends on its position, so that the members of a group do not snapshot at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { snapshotDue } from '../../src/cluster/snapshotter.ts';

/** Advance the applied index by `steps` from 0, snapshotting whenever one is due; the snapshot indices. */
function run(steps: number[], period: number, position: number, members: number): number[] {
  let applied = 0;
  let snapshotIndex = 0;
  const taken: number[] = [];
  for (const step of steps) {
    applied += step;
    if (snapshotDue(applied, snapshotIndex, period, position, members)) taken.push((snapshotIndex = applied));
  }
  return taken;
}

describe('snapshotDue', () => {
  it('a single member snapshots at every multiple of the period', () => {
    assert.deepEqual(run(Array(1000).fill(1), 100, 0, 1), [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });

  it('three members snapshot a third of a period apart, once per period each', () => {
    const taken = [0, 1, 2].map((p) => run(Array(1000).fill(1), 99, p, 3));
    assert.deepEqual(taken[0], [99, 198, 297, 396, 495, 594, 693, 792, 891, 990]);
    assert.deepEqual(taken[1], [33, 132, 231, 330, 429, 528, 627, 726, 825, 924]);
    assert.deepEqual(taken[2], [66, 165, 264, 363, 462, 561, 660, 759, 858, 957]);
  });

  it('whatever the batch sizes: each member snapshots about once per period, and never close to another', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 200, maxLength: 400 }), fc.integer({ min: 3, max: 7 }), (steps, members) => {
        const period = 1000;
        const maxStep = Math.max(...steps);
        const all: number[] = [];
        for (let p = 0; p < members; p++) {
          const taken = run(steps, period, p, members);
          for (let i = 1; i < taken.length; i++) {
            const gap = taken[i] - taken[i - 1];
            assert.ok(gap > period - maxStep && gap < period + maxStep, `member ${p}: snapshots ${taken[i - 1]} and ${taken[i]}`);
          }
          all.push(...taken);
        }
        all.sort((a, b) => a - b);
        for (let i = 1; i < all.length; i++) {
          assert.ok(all[i] - all[i - 1] > period / members - 2 * maxStep, `two members snapshot at ${all[i - 1]} and ${all[i]}`);
        }
      }),
    );
  });

  it("after a snapshot installed from the leader, the next one comes at the member's next point, within a period", () => {
    assert.equal(snapshotDue(150, 140, 100, 1, 3), false);
    assert.equal(snapshotDue(232, 140, 100, 1, 3), false, 'its point after 140 is 233');
    assert.equal(snapshotDue(233, 140, 100, 1, 3), true);
  });
});
