// Runs one seed of the sharded simulation: a fault phase with every shard's safety checked after every step,
// then a healing phase that must bring every shard onto the latest map's replicas within a fixed bound.

import { ShardWorld, type ShardSimOptions } from './shard-world.ts';

export const SHARD_STEPS = 3000;
/** After healing, every shard led by its map's replicas with everything applied, within this many ticks. */
export const SHARD_CONVERGE_TICKS = 600;

export interface ShardSeedResult {
  seed: number;
  ok: boolean;
  error?: string;
  replay: string;
  stats: ShardWorld['stats'];
}

export function shardReplayCommand(o: { seed: number; steps: number; bugs?: ShardSimOptions['bugs'] }): string {
  const bugs = Object.entries(o.bugs ?? {}).filter(([, v]) => v).map(([k]) => ` --bug ${k}`).join('');
  return `npm run sim:shards -- --seed ${o.seed} --steps ${o.steps}${bugs} --trace`;
}

export function runShardSeed(opts: ShardSimOptions): ShardSeedResult {
  const replay = shardReplayCommand(opts);
  let world: ShardWorld | undefined;
  try {
    world = new ShardWorld(opts);
    for (let i = 0; i < opts.steps; i++) world.step(true);
    world.healEverything();
    let why = world.converged();
    for (let steps = 0; why !== undefined; steps++) {
      if (steps > world.ticksToSteps(SHARD_CONVERGE_TICKS)) throw new Error(`liveness: not converged ${SHARD_CONVERGE_TICKS} ticks after healing: ${why}`);
      world.step(false);
      why = world.converged();
    }
    return { seed: opts.seed, ok: true, replay, stats: world.stats };
  } catch (e) {
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    return { seed: opts.seed, ok: false, error: `seed ${opts.seed} failed at step ${world?.now ?? 0}: ${msg}`, replay, stats: world?.stats ?? ({} as ShardWorld['stats']) };
  }
}
