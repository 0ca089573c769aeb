// Shared by the simulation test files: run a range of seeds and report failures with their replay commands.
import assert from 'node:assert/strict';
import { runSeed } from './run.ts';
import type { TestingOnlyBugs } from '../../src/raft/raft.ts';

export const STEPS = 2000;
/** Odd seeds run 3 nodes, even seeds 5 (as `npm run sim` does). */
export const nodesFor = (seed: number) => (seed % 2 === 1 ? 3 : 5);

export function assertSeedsPass(from: number, count: number): void {
  const failures: string[] = [];
  let quietTicks = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = runSeed({ seed, nodes: nodesFor(seed), steps: STEPS });
    if (!r.ok) failures.push(`${r.error?.split('\n')[0]}\n  replay: ${r.replay}`);
    quietTicks += r.stats.quiesced ?? 0;
  }
  assert.equal(failures.length, 0, `simulation failures:\n${failures.join('\n')}`);
  assert.ok(quietTicks > 0, 'some seeds had quiescent groups (their faults hit quiet groups too)');
}

/** The first seed in the range on which the broken variant is caught, or undefined. */
export function firstSeedCatching(bugs: TestingOnlyBugs, from: number, count: number): { seed: number; error: string } | undefined {
  for (let seed = from; seed < from + count; seed++) {
    const r = runSeed({ seed, nodes: nodesFor(seed), steps: STEPS, bugs });
    if (!r.ok) return { seed, error: r.error ?? '' };
  }
  return undefined;
}
