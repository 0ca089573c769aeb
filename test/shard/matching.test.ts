// The capacitated assignment under placement: augment() finds a chain whenever a larger assignment
// exists (checked against an independent max-flow), never exceeds a cap, and changes nothing when it
// finds none.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Matching } from '../../src/shard/matching.ts';

/** Max flow source → item (need) → agent (allowed, 1 each) → sink (cap), by BFS augmenting paths on a dense matrix. */
function maxFlow(need: number[], caps: number[], allowed: boolean[][]): number {
  const items = need.length;
  const agents = caps.length;
  const size = items + agents + 2;
  const source = size - 2;
  const sink = size - 1;
  const residual = Array.from({ length: size }, () => new Array<number>(size).fill(0));
  need.forEach((k, i) => (residual[source][i] = k));
  caps.forEach((k, a) => (residual[items + a][sink] = k));
  allowed.forEach((row, i) => row.forEach((ok, a) => (residual[i][items + a] = ok ? 1 : 0)));
  let flow = 0;
  for (;;) {
    const prev = new Array<number>(size).fill(-1);
    prev[source] = source;
    for (const queue = [source]; queue.length > 0 && prev[sink] < 0; ) {
      const u = queue.shift()!;
      for (let v = 0; v < size; v++) {
        if (prev[v] >= 0 || residual[u][v] === 0) continue;
        prev[v] = u;
        queue.push(v);
      }
    }
    if (prev[sink] < 0) return flow;
    for (let v = sink; v !== source; v = prev[v]) {
      residual[prev[v]][v]--;
      residual[v][prev[v]]++;
    }
    flow++;
  }
}

const instance = fc.integer({ min: 1, max: 6 }).chain((items) =>
  fc.integer({ min: 1, max: 5 }).chain((agents) =>
    fc.record({
      need: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: items, maxLength: items }),
      caps: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: agents, maxLength: agents }),
      allowed: fc.array(fc.array(fc.boolean(), { minLength: agents, maxLength: agents }), { minLength: items, maxLength: items }),
      order: fc.array(fc.nat(items - 1), { maxLength: 12 }),
    }),
  ),
);

describe('Matching.augment', () => {
  it('reaches a maximum assignment, whatever order items ask in, within every cap', () => {
    fc.assert(
      fc.property(instance, ({ need, caps, allowed, order }) => {
        const m = new Matching(need.length, caps.length, (i, a) => allowed[i][a]);
        caps.forEach((k, a) => (m.cap[a] = k));
        // Greedy first, in a random order (it can box items in), then augment every item until it stops.
        for (const i of order) {
          const a = caps.findIndex((_, b) => m.canTake(i, b) && m.spare(b) > 0);
          if (a >= 0 && m.holders[i].size < need[i]) m.add(i, a);
        }
        need.forEach((k, i) => {
          while (m.holders[i].size < k) if (m.augment(i) < 0) break;
        });
        const total = m.holders.reduce((sum, h) => sum + h.size, 0);
        assert.equal(total, maxFlow(need, caps, allowed));
        caps.forEach((k, a) => assert.ok(m.load(a) <= k, `agent ${a} holds ${m.load(a)} > ${k}`));
        m.holders.forEach((h, i) => h.forEach((a) => assert.ok(allowed[i][a], `item ${i} on agent ${a}`)));
      }),
      { numRuns: 500 },
    );
  });

  it('moves items along a chain when no free agent may take the item, and changes nothing when none can', () => {
    // Item 0 may go only to agent 0, which is full with item 1; item 1 may also go to agent 1.
    const allowed = [
      [true, false],
      [true, true],
    ];
    const m = new Matching(2, 2, (i, a) => allowed[i][a]);
    m.cap.splice(0, 2, 1, 1);
    m.add(1, 0);
    assert.equal(m.augment(0), 1);
    assert.deepEqual([[...m.holders[0]], [...m.holders[1]]], [[0], [1]]);
    // Now both agents are full and item 1 cannot be on agent 0 twice: nothing to do.
    assert.equal(m.augment(1), -1);
    assert.deepEqual([[...m.holders[0]], [...m.holders[1]]], [[0], [1]]);
    // A chain through a holding `movable` refuses is not taken.
    const n = new Matching(2, 2, (i, a) => allowed[i][a]);
    n.cap.splice(0, 2, 1, 1);
    n.add(1, 0);
    assert.equal(n.augment(0, () => false), -1);
  });
});
