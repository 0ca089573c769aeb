// Deterministic simulation, second half of the seeds `npm test` runs.
import { it } from 'node:test';
import { assertSeedsPass, STEPS } from './sim.ts';

it(`seeds 161–320 (3 and 5 nodes, ${STEPS} steps, faults): safety after every step, liveness after healing`, () => {
  assertSeedsPass(161, 160);
});
