// Deterministic simulation, first half of the seeds `npm test` runs (the other half runs in parallel).
import { it } from 'node:test';
import { assertSeedsPass, STEPS } from './sim.ts';

it(`seeds 1–160 (3 and 5 nodes, ${STEPS} steps, faults): safety after every step, liveness after healing`, () => {
  assertSeedsPass(1, 160);
});
