// Movement: joins copy exactly as few replicas as any balanced plan can (fewestCopies), a join of
// member N+1 at most 1.2 · S·R/(N+1); a leave copies the leaving member's replicas, more only when a
// hole cannot go straight to a survivor. And diffAssignments turns one assignment into the next one
// replica at a time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diffAssignments, type Move } from '../../src/shard/moves.ts';
import { planPlacement, ringRule, type Assignment } from '../../src/shard/placement.ts';
import { seededRng } from '../../src/util/prng.ts';
import { copies, fewestCopies, randomMembers, replicaCounts, totalReplicas } from '../../testkit/placement-stats.ts';
import { memberIds } from './support.ts';

/** A cluster of N + 1 = 4..10 members (random ids), S ∈ {16, 64, 256}, R = 3, planned from scratch. */
const settled = fc.record({ all: fc.integer({ min: 4, max: 10 }).chain(memberIds), shards: fc.constantFrom(16, 64, 256) });

describe('movement', () => {
  it('a join of member N+1 copies exactly the fewest replicas, at most 1.2 · S·R/(N+1), all onto the new member', () => {
    // All onto the new member: here every old member holds ⌊T/N⌋ ≥ ⌈T/(N+1)⌉ already (T = 3S ≥ 48,
    // N ≤ 9), so none is under its new target. And the new member's ⌈T/(N+1)⌉ ≤ 1.2 · T/(N+1) once
    // T/(N+1) ≥ 5; the smallest case, T = 48 on 10 members, asks 5 ≤ 5.76.
    fc.assert(
      fc.property(settled, ({ all, shards }) => {
        const members = all.slice(0, -1);
        const joiner = all[all.length - 1];
        const before = planPlacement({ members, shards });
        const after = planPlacement({ members: all, shards, current: before });
        const copied = copies(before, after);
        const fair = totalReplicas(shards, 3, all.length) / all.length;
        assert.equal(copied, fewestCopies(before, all, 3));
        assert.ok(copied <= 1.2 * fair, `copied ${copied}, S·R/(N+1) = ${fair.toFixed(2)}`);
        for (const m of diffAssignments(before, after)) assert.equal(m.add, joiner, `shard ${m.shard} copied to ${m.add}`);
      }),
      { numRuns: 150 },
    );
  });

  it('a newcomer takes mostly shards the ring gives it: on average over 200 clusters, 70% or more', () => {
    // The ring for N+1 members is what consistent hashing alone would place; the planner copies as
    // many replicas as balance needs and picks them where the newcomer comes early in ring order.
    const rng = seededRng(26);
    const shares = Array.from({ length: 200 }, (_, i) => {
      const all = randomMembers(rng, 4 + (i % 7));
      const shards = [16, 64, 256][i % 3];
      const joiner = all[all.length - 1];
      const before = planPlacement({ members: all.slice(0, -1), shards });
      const after = planPlacement({ members: all, shards, current: before });
      const ring = ringRule(all, shards);
      const taken = after.flatMap((held, s) => (held.includes(joiner) ? [s] : []));
      return taken.filter((s) => ring[s].includes(joiner)).length / taken.length;
    });
    const mean = shares.reduce((a, b) => a + b, 0) / shares.length;
    assert.ok(mean >= 0.7, `the newcomer's shards agree with the ring ${(100 * mean).toFixed(1)}% of the time`);
  });

  it("a leave copies the leaving member's replicas, and at most 1.2× that; other shards only for the extra", () => {
    // From a balanced start no count needs rebalancing: the survivors hold ⌊T/N⌋ or ⌈T/N⌉, and
    // T/(N−1) > T/N leaves none over a new target (fewestCopies = the leaver's count). A copy beyond
    // that is needed only when a hole's shard is already on every survivor with room (survivors that
    // hold most shards, e.g. S = 16 going from 5 members to 4); it re-routes one replica elsewhere.
    fc.assert(
      fc.property(settled, fc.nat(), ({ all, shards }, pick) => {
        const leaver = all[pick % all.length];
        const members = all.filter((m) => m !== leaver);
        const before = planPlacement({ members: all, shards });
        const after = planPlacement({ members, shards, current: before });
        const held = replicaCounts(before, all).get(leaver)!;
        const copied = copies(before, after);
        assert.equal(fewestCopies(before, members, 3), held);
        assert.ok(copied >= held && copied <= 1.2 * held, `copied ${copied}, the leaver held ${held}`);
        const leaverShards = before.flatMap((h, s) => (h.includes(leaver) ? [s] : []));
        const touched = new Set(diffAssignments(before, after).map((m) => m.shard));
        for (const s of leaverShards) assert.ok(touched.has(s), `shard ${s} lost ${leaver} but gained nobody`);
        assert.ok(touched.size - leaverShards.length <= copied - held, `${touched.size - leaverShards.length} other shards touched for ${copied - held} extra copies`);
      }),
      { numRuns: 200 },
    );
  });

  it('members joining (any number, any S, R ≤ N, V) copy exactly the fewest replicas a balanced plan can', () => {
    // With no holes, every excess replica moves straight from a member over its cap to one with room,
    // and such a pair always has a shard to move (the giver holds more), so nothing costs extra.
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }).chain(memberIds), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 40 }), fc.nat(), (pool, shards, replicas, vnodes, k) => {
        const from = pool.slice(0, Math.max(Math.min(replicas, pool.length - 1), 1 + (k % (pool.length - 1))));
        fc.pre(from.length >= replicas);
        const before = planPlacement({ members: from, shards, replicas, vnodes });
        const after = planPlacement({ members: pool, shards, replicas, vnodes, current: before });
        assert.equal(copies(before, after), fewestCopies(before, pool, replicas));
      }),
      { numRuns: 300 },
    );
  });
});

/** Applies `moves` to `from` one at a time, checking each step keeps a shard's replicas distinct. */
function apply(from: Assignment, moves: Move[]): Set<string>[] {
  const state = from.map((held) => new Set(held));
  for (const { shard, add, remove } of moves) {
    if (add !== null) {
      assert.ok(!state[shard].has(add), `shard ${shard}: ${add} added twice`);
      state[shard].add(add);
    }
    if (remove !== null) assert.ok(state[shard].delete(remove), `shard ${shard}: ${remove} removed but not there`);
  }
  return state;
}

describe('diffAssignments', () => {
  const assignment = (shards: number) => fc.array(fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { maxLength: 5 }), { minLength: shards, maxLength: shards });
  const pair = fc.integer({ min: 0, max: 20 }).chain((s) => fc.tuple(assignment(s), assignment(s)));

  it('turns one assignment into the other, one replica at a time, never holding a member twice', () => {
    fc.assert(
      fc.property(pair, ([from, to]) => {
        const moves = diffAssignments(from, to);
        assert.deepEqual(apply(from, moves), to.map((held) => new Set(held)));
        for (const m of moves) assert.ok(m.add !== null || m.remove !== null);
      }),
    );
  });

  it('copies exactly the members each shard gains, and pairs each with one it loses while there are both', () => {
    fc.assert(
      fc.property(pair, ([from, to]) => {
        const moves = diffAssignments(from, to);
        assert.equal(moves.filter((m) => m.add !== null).length, copies(from, to));
        for (let s = 0; s < to.length; s++) {
          const mine = moves.filter((m) => m.shard === s);
          const gained = to[s].filter((m) => !from[s].includes(m)).length;
          const lost = from[s].filter((m) => !to[s].includes(m)).length;
          assert.equal(mine.length, Math.max(gained, lost));
        }
      }),
    );
  });

  it('finds nothing to do between an assignment and itself, leader order aside', () => {
    const a = [['a', 'b', 'c'], ['b', 'c', 'd']];
    assert.deepEqual(diffAssignments(a, [['c', 'b', 'a'], ['d', 'b', 'c']]), []);
    assert.throws(() => diffAssignments(a, [['a']]), RangeError);
  });
});
