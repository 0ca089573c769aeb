// npm run sim -- [--seeds N] [--from S] [--seed S] [--nodes 3|5] [--steps M] [--bug NAME] [--trace]
// Soak many seeds, or replay one with a full trace.

import { parseArgs } from 'node:util';
import { runSeed } from './run.ts';
import type { TestingOnlyBugs } from '../../src/raft/raft.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    from: { type: 'string', default: '1' },
    seed: { type: 'string' },
    nodes: { type: 'string' },
    steps: { type: 'string', default: '2000' },
    bug: { type: 'string', multiple: true, default: [] },
    trace: { type: 'boolean', default: false },
  },
});

const bugs: TestingOnlyBugs = {};
for (const b of values.bug ?? []) {
  if (b !== 'commitPriorTermByCount' && b !== 'voteWithoutLogCheck') {
    console.error(`unknown --bug ${b} (commitPriorTermByCount | voteWithoutLogCheck)`);
    process.exit(2);
  }
  bugs[b] = true;
}
const steps = Number(values.steps);
const seeds = values.seed !== undefined ? [Number(values.seed)] : Array.from({ length: Number(values.seeds) }, (_, i) => Number(values.from) + i);

let failed = 0;
const started = Date.now();
for (const seed of seeds) {
  // Odd seeds run 3 nodes, even seeds 5, unless --nodes says otherwise.
  const nodes = values.nodes !== undefined ? Number(values.nodes) : seed % 2 === 1 ? 3 : 5;
  const r = runSeed({ seed, nodes, steps, bugs, trace: values.trace ? (l) => console.log(l) : undefined });
  if (!r.ok) {
    failed++;
    console.log(`FAIL ${r.error}\n  replay: ${r.replay}`);
  } else if (values.seed !== undefined) {
    console.log(`ok seed ${seed}`, r.stats);
  }
}
console.log(`${seeds.length - failed} passed, ${failed} failed (${seeds.length} seeds x ${steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(failed > 0 ? 1 : 0);
