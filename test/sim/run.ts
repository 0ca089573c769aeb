// Runs one seed of the simulation: a fault phase with safety checked after every step, then a
// healing phase that must reach a leader and full convergence within fixed bounds.

import type { TestingOnlyBugs } from '../../src/raft/raft.ts';
import { ELECTION_TICK, SimWorld, type SimOptions } from './world.ts';

/** After healing: a leader within this many ticks, and everything committed and applied within the next. */
export const LEADER_BOUND_TICKS = 10 * ELECTION_TICK;
export const CONVERGE_BOUND_TICKS = 30 * ELECTION_TICK;

export interface SeedResult {
  seed: number;
  ok: boolean;
  error?: string;
  replay: string;
  stats: SimWorld['stats'];
}

export function replayCommand(o: { seed: number; nodes: number; steps: number; bugs?: TestingOnlyBugs }): string {
  const bugs = Object.entries(o.bugs ?? {}).filter(([, v]) => v).map(([k]) => ` --bug ${k}`).join('');
  return `npm run sim -- --seed ${o.seed} --nodes ${o.nodes} --steps ${o.steps}${bugs} --trace`;
}

export function runSeed(opts: SimOptions): SeedResult {
  const replay = replayCommand(opts);
  let world: SimWorld | undefined;
  try {
    world = new SimWorld(opts);
    for (let i = 0; i < opts.steps; i++) world.step(true);
    world.healEverything();
    let steps = 0;
    while (!world.leader()) {
      if (++steps > world.ticksToSteps(LEADER_BOUND_TICKS)) throw new Error(`liveness: no leader ${LEADER_BOUND_TICKS} ticks after healing`);
      world.step(false);
    }
    steps = 0;
    while (!world.converged()) {
      if (++steps > world.ticksToSteps(CONVERGE_BOUND_TICKS)) {
        throw new Error(`liveness: not converged ${CONVERGE_BOUND_TICKS} ticks after a leader emerged (${world.pendingWrites()} writes pending)`);
      }
      world.step(false);
    }
    return { seed: opts.seed, ok: true, replay, stats: world.stats };
  } catch (e) {
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    return { seed: opts.seed, ok: false, error: `seed ${opts.seed} failed at step ${world?.now ?? 0}: ${msg}`, replay, stats: world?.stats ?? ({} as SimWorld['stats']) };
  }
}
