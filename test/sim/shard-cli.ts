// npm run sim:shards -- [--seeds N] [--from S] [--seed S] [--steps M] [--bug NAME] [--trace]
// The sharded simulation: soak many seeds, or replay one with a full trace.

import { parseArgs } from 'node:util';
import { runShardSeed, SHARD_STEPS } from './shard-run.ts';
import type { ShardSimOptions } from './shard-world.ts';

const BUGS = ['deleteWhenMapDrops', 'gateOnHostedOnly', 'voteWithEmptyLog', 'voteWithoutLogCheck', 'commitPriorTermByCount', 'acceptAnyCopy'] as const;
const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    from: { type: 'string', default: '1' },
    seed: { type: 'string' },
    steps: { type: 'string', default: String(SHARD_STEPS) },
    bug: { type: 'string', multiple: true, default: [] },
    trace: { type: 'boolean', default: false },
  },
});

const bugs: NonNullable<ShardSimOptions['bugs']> = {};
for (const b of values.bug ?? []) {
  if (!(BUGS as readonly string[]).includes(b)) {
    console.error(`unknown --bug ${b} (${BUGS.join(' | ')})`);
    process.exit(2);
  }
  bugs[b as (typeof BUGS)[number]] = true;
}
const steps = Number(values.steps);
const seeds = values.seed !== undefined ? [Number(values.seed)] : Array.from({ length: Number(values.seeds) }, (_, i) => Number(values.from) + i);

let failed = 0;
const started = Date.now();
const total = { memberChanges: 0, replicasDeleted: 0, replicasCreated: 0, lateAcks: 0, writesAcked: 0 };
for (const seed of seeds) {
  const r = runShardSeed({ seed, steps, bugs, trace: values.trace ? (l) => console.log(l) : undefined });
  for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += r.stats[k] ?? 0;
  if (!r.ok) {
    failed++;
    console.log(`FAIL ${r.error}\n  replay: ${r.replay}`);
  } else if (values.seed !== undefined) {
    console.log(`ok seed ${seed}`, r.stats);
  }
}
console.log(`${seeds.length - failed} passed, ${failed} failed (${seeds.length} seeds x ${steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s; ${JSON.stringify(total)})`);
process.exit(failed > 0 ? 1 : 0);
