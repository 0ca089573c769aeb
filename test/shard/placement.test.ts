// Shards → members: every plan is valid (distinct replicas, min(R, N) of them), deterministic whatever
// the members' order, balanced (replicas and preferred leaders), and stable (re-planning a plan changes
// nothing). Movement on joins and leaves is in movement.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planPlacement, ringRule, type Assignment } from '../../src/shard/placement.ts';
import { leaderCounts, replicaCounts, totalReplicas } from '../../testkit/placement-stats.ts';
import { memberIds } from './support.ts';

/** A plan's input drawn at random: N members, S, R, V and maybe a current assignment (garbage allowed). */
const anyInput = fc
  .record({ n: fc.integer({ min: 1, max: 10 }), shards: fc.integer({ min: 1, max: 48 }), replicas: fc.integer({ min: 1, max: 5 }), vnodes: fc.integer({ min: 1, max: 24 }) })
  .chain(({ n, shards, replicas, vnodes }) =>
    memberIds(n + 3).chain((pool) =>
      fc.record({
        members: fc.constant(pool.slice(0, n)),
        shards: fc.constant(shards),
        replicas: fc.constant(replicas),
        vnodes: fc.constant(vnodes),
        current: fc.option(currentFrom(pool, shards), { nil: undefined }),
      }),
    ),
  );

/**
 * Any assignment of `shards` shards over `pool` (the members and three departed ids): too many or too
 * few replicas, a member twice, departed leaders, lopsided counts.
 */
function currentFrom(pool: string[], shards: number): fc.Arbitrary<Assignment> {
  return fc.array(fc.array(fc.constantFrom(...pool), { maxLength: 7 }), { minLength: shards, maxLength: shards });
}

/** Balanced input for the range: N = 3..9, S ∈ {16, 64, 256}, R = 3, random member ids. */
const clusterInput = fc.record({ members: fc.integer({ min: 3, max: 9 }).chain(memberIds), shards: fc.constantFrom(16, 64, 256) });

function assertValid(a: Assignment, members: readonly string[], shards: number, replicas: number): void {
  assert.equal(a.length, shards);
  const known = new Set(members);
  for (const [s, held] of a.entries()) {
    assert.equal(held.length, Math.min(replicas, members.length), `shard ${s}: ${held.length} replicas`);
    assert.equal(new Set(held).size, held.length, `shard ${s}: a member twice in ${held.join(',')}`);
    for (const m of held) assert.ok(known.has(m), `shard ${s} on ${m}, not a member`);
  }
}

/** Every member holds ⌊T/N⌋ or ⌈T/N⌉ replicas; and so within 10% of the mean, rounded out to whole replicas. */
function assertBalanced(a: Assignment, members: readonly string[], replicas: number): void {
  const mean = totalReplicas(a.length, replicas, members.length) / members.length;
  for (const [m, c] of replicaCounts(a, members)) {
    assert.ok(c === Math.floor(mean) || c === Math.ceil(mean), `${m} holds ${c} replicas, mean ${mean.toFixed(2)}`);
    assert.ok(c >= Math.floor(0.9 * mean) && c <= Math.ceil(1.1 * mean), `${m} holds ${c} replicas, not within 10% of ${mean.toFixed(2)}`);
  }
}

/** Every member is the preferred leader of ⌊S/N⌋ or ⌈S/N⌉ shards. */
function assertLeadersBalanced(a: Assignment, members: readonly string[]): void {
  const fair = a.length / members.length;
  for (const [m, c] of leaderCounts(a, members)) assert.ok(c === Math.floor(fair) || c === Math.ceil(fair), `${m} leads ${c} shards, S/N = ${fair.toFixed(2)}`);
}

describe('planPlacement', () => {
  it('puts every shard on min(R, N) distinct members, with or without a current assignment', () => {
    fc.assert(
      fc.property(anyInput, (input) => assertValid(planPlacement(input), input.members, input.shards, input.replicas)),
      { numRuns: 300 },
    );
  });

  it('balances replicas and leaders for any input, even from a lopsided or stale current assignment', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const a = planPlacement(input);
        assertBalanced(a, input.members, input.replicas);
        assertLeadersBalanced(a, input.members);
      }),
      { numRuns: 300 },
    );
  });

  it('N = 3..9, S ∈ {16, 64, 256}, R = 3: replicas within 10% of the mean (⌊T/N⌋..⌈T/N⌉), leaders ⌊S/N⌋..⌈S/N⌉', () => {
    fc.assert(
      fc.property(clusterInput, ({ members, shards }) => {
        const a = planPlacement({ members, shards });
        assertValid(a, members, shards, 3);
        assertBalanced(a, members, 3);
        assertLeadersBalanced(a, members);
      }),
      { numRuns: 150 },
    );
  });

  it('gives the same plan whatever order the members come in', () => {
    fc.assert(
      fc.property(anyInput.chain((input) => fc.tuple(fc.constant(input), fc.shuffledSubarray(input.members, { minLength: input.members.length }))), ([input, shuffled]) => {
        assert.deepEqual(planPlacement({ ...input, members: shuffled }), planPlacement(input));
      }),
      { numRuns: 200 },
    );
  });

  it('re-planning a plan changes nothing, leaders included', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const a = planPlacement(input);
        assert.deepEqual(planPlacement({ ...input, current: a }), a);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a balanced current assignment as it is, leaders included, whatever ring it was planned on', () => {
    fc.assert(
      fc.property(anyInput, fc.integer({ min: 1, max: 24 }), (input, otherV) => {
        const current = planPlacement({ ...input, vnodes: otherV });
        const again = planPlacement({ ...input, current });
        assert.deepEqual(again.map((held) => held[0]), current.map((held) => held[0]));
        assert.deepEqual(again.map((held) => [...held].sort()), current.map((held) => [...held].sort()));
      }),
      { numRuns: 200 },
    );
  });

  it('with fewer members than R, every member holds every shard', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }).chain(memberIds), fc.integer({ min: 1, max: 64 }), (members, shards) => {
        const a = planPlacement({ members, shards, replicas: 5 });
        for (const held of a) assert.deepEqual([...held].sort(), [...members].sort());
        assertLeadersBalanced(a, members);
      }),
    );
  });

  it('balances leaders where early choices box them in: a spare lead passes along a chain (n1..n5, S = 6, R = 2, V = 1)', () => {
    // Six leads over five members: one member leads two. Here the ring would hand that slot to a member
    // whose shards do not need it, and only passing it on lets every shard get a leader.
    const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const a = planPlacement({ members, shards: 6, replicas: 2, vnodes: 1 });
    assertValid(a, members, 6, 2);
    assertBalanced(a, members, 2);
    assertLeadersBalanced(a, members);
  });

  it('a new cluster keeps the ring rule for most replicas: it only corrects the imbalance', () => {
    const members = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
    const ring = ringRule(members, 256);
    const plan = planPlacement({ members, shards: 256 });
    const same = plan.reduce((sum, held, s) => sum + held.filter((m) => ring[s].includes(m)).length, 0);
    assert.ok(same / (256 * 3) > 0.9, `${same} of ${256 * 3} replicas where the ring puts them`);
  });

  it('refuses input no plan can satisfy', () => {
    assert.throws(() => planPlacement({ members: [], shards: 4 }), RangeError);
    assert.throws(() => planPlacement({ members: ['a', 'a'], shards: 4 }), RangeError);
    assert.throws(() => planPlacement({ members: ['a'], shards: 0 }), RangeError);
    assert.throws(() => planPlacement({ members: ['a'], shards: 4, replicas: 0 }), RangeError);
    assert.throws(() => planPlacement({ members: ['a'], shards: 4, vnodes: 1.5 }), RangeError);
    assert.throws(() => planPlacement({ members: ['a'], shards: 4, current: [['a']] }), RangeError);
  });
});
