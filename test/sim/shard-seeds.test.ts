// Deterministic simulation of a sharded cluster (shard-world.ts): seeds `npm test` runs, and the broken host
// and Raft variants it must catch. `npm run sim:shards -- --seeds 3000` soaks more.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runShardSeed, SHARD_STEPS } from './shard-run.ts';
import type { ShardSimOptions } from './shard-world.ts';

const SAFETY = /leader completeness|commit safety|state machine safety|log matching|election safety/;

const LIVENESS = /liveness: not converged .* writes unacknowledged/;

/** The seeds' failures; with `until`, stops at the first failure it matches. */
function failures(from: number, count: number, bugs?: ShardSimOptions['bugs'], until?: RegExp): string[] {
  const out: string[] = [];
  for (let seed = from; seed < from + count && !(until && out.some((f) => until.test(f))); seed++) {
    const r = runShardSeed({ seed, steps: SHARD_STEPS, bugs });
    if (!r.ok) out.push(`${r.error?.split('\n')[0]}\n  replay: ${r.replay}`);
  }
  return out;
}

it(`seeds 1–150 (3–5 members joining and leaving, 2–5 shards, R 2–4, ${SHARD_STEPS} steps, faults): every shard safe after every step, on its map's replicas after healing`, () => {
  const failed = failures(1, 150);
  assert.equal(failed.length, 0, `simulation failures:\n${failed.join('\n')}`);
});

// A copy deleted while its shard still counts it as a voter takes that vote away: with a replica down too,
// the shard loses its quorum and writes stay unacknowledged after healing. It does not reach a safety
// violation here because the membership gate waits for every shard to follow the map, so a shard is given
// back to a member only after the shard has removed it; with a gate that looks only at the deciding member's
// shards, the shard could still count the deleted copy as a voter when it came back empty, and its empty log
// would vote (the next case).
it('a host that deletes a copy as soon as the map drops it, with Raft letting empty logs vote, is caught leaving writes unacknowledged within seeds 1–100', () => {
  const failed = failures(1, 100, { deleteWhenMapDrops: true, voteWithEmptyLog: true }, LIVENESS);
  assert.ok(failed.some((f) => LIVENESS.test(f)), `not caught:\n${failed.join('\n') || 'every seed passed'}`);
});

it('the same with a membership gate that looks only at the deciding member\'s shards is caught losing committed entries within seeds 1–300', () => {
  const failed = failures(1, 300, { deleteWhenMapDrops: true, voteWithEmptyLog: true, gateOnHostedOnly: true }, SAFETY);
  assert.ok(failed.some((f) => SAFETY.test(f)), `no safety violation caught:\n${failed.join('\n')}`);
});

// A copy's acknowledgement held back past its deletion reaches the leader after the member has a new, empty copy:
// counted as the new copy's, it sets a match the copy does not hold, and the leader then probes it above that
// match for ever.
it("a Raft that counts a deleted copy's acknowledgement for the new copy is caught leaving a copy behind within seeds 1–10", () => {
  const failed = failures(1, 10, { acceptAnyCopy: true }, /liveness: not converged/);
  assert.ok(failed.some((f) => /liveness: not converged .*(not applied on|the map wants)/.test(f)), `not caught:\n${failed.join('\n') || 'every seed passed'}`);
});

it('a Raft that lets an empty log vote is caught within seeds 1–600, with the real host policies', () => {
  const failed = failures(1, 600, { voteWithEmptyLog: true }, SAFETY);
  assert.ok(failed.some((f) => SAFETY.test(f)), `no safety violation caught: ${failed.join('\n') || 'every seed passed'}`);
});
