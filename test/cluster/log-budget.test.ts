// The node's memory budget for in-memory Raft logs, as a policy: over budget, the largest log that a
// snapshot would shrink is snapshotted, one at a time; under it, nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { LogBudget, type BudgetedLog } from '../../src/cluster/log-budget.ts';

function fake(id: string, bytes: number, compactable = 100) {
  const g = { id, bytes, compactable, asked: 0, finish: () => {} };
  const log: BudgetedLog = {
    id,
    memoryBytes: () => g.bytes,
    compactable: () => g.compactable,
    snapshotNow: () => {
      g.asked++;
      return new Promise<void>((r) => (g.finish = () => ((g.bytes = 10), (g.compactable = 0), r())));
    },
  };
  return { g, log };
}

test('over budget, the largest log a snapshot would shrink is snapshotted, one at a time, until under', async (t) => {
  const a = fake('a', 400);
  const b = fake('b', 900, 0); // the largest, but nothing to gain: its log is what it must keep
  const c = fake('c', 600);
  const budget = new LogBudget({ budgetBytes: 1000, groups: () => [a.log, b.log, c.log], intervalMs: 60_000, logger: pino({ level: 'silent' }) });
  t.after(() => budget.close());
  budget.check();
  assert.deepStrictEqual([a.g.asked, b.g.asked, c.g.asked], [0, 0, 1], 'c: the largest with something to gain');
  budget.check();
  assert.equal(c.g.asked, 1, 'one at a time: nothing more while it runs');
  c.g.finish();
  await new Promise((r) => setImmediate(r));
  budget.check();
  assert.deepStrictEqual([a.g.asked, c.g.asked], [1, 1], 'still over (1310): a next');
  a.g.finish();
  await new Promise((r) => setImmediate(r));
  budget.check();
  assert.deepStrictEqual([a.g.asked, b.g.asked, c.g.asked], [1, 0, 1], 'nothing left to gain: nothing asked');
  assert.equal(budget.snapshots, 2);
});

test('under budget nothing is snapshotted', (t) => {
  const a = fake('a', 400);
  const budget = new LogBudget({ budgetBytes: 1000, groups: () => [a.log], intervalMs: 60_000, logger: pino({ level: 'silent' }) });
  t.after(() => budget.close());
  budget.check();
  assert.equal(a.g.asked, 0);
});
