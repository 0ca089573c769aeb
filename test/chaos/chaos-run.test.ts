// The short chaos runs npm test includes (the long one is `npm run chaos -- --time 600 --nodes 5`):
// real processes, every kind of fault, a recorded history checked for linearizability, and watchers whose
// streams are checked against it. And proof that
// the machinery can fail: the same run with serializable reads checked as linearizable is caught.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tempDir } from '../../testkit/temp.ts';
import { CHAOS_DEFAULTS, runChaos } from '../../chaos/runner.ts';

const log = (line: string) => {
  if (process.env.CHAOS_LOG) console.error(line);
};

describe('chaos (real processes, faults, linearizability checker)', () => {
  it('3 nodes, 4 shards, 10 clients, kill / pause / partitions / bridge / membership / kill during moves for 45 s: linearizable, nothing lost', async () => {
    const out = tempDir('chaos');
    try {
      const report = await runChaos({ ...CHAOS_DEFAULTS, shards: 4, seconds: 45, seed: Number(process.env.CHAOS_SEED ?? 1), out, log });
      assert.equal(report.verdict, 'linearizable', `${report.line}\n${report.check.keys.map((k) => `${k.key}: ${k.verdict} ${k.explanation ?? ''}`).join('\n')}`);
      assert.equal(report.unansweredFinalReads, 0, 'every node answers the final reads after healing');
      assert.deepStrictEqual(report.watchProblems, [], 'every watcher saw every acknowledged write once, in order, as the others did');
      const kinds = new Set(report.history.faults.map((f) => f.kind));
      assert.ok(kinds.size >= 3, `several kinds of fault happened: ${[...kinds].join(', ')}`);
      const acked = report.history.operations.filter((op) => op.outcome === 'ok' && op.kind !== 'get').length;
      assert.ok(acked > 200, `enough acknowledged writes to mean something (${acked})`);
      assert.ok(fs.readFileSync(report.timelineFile, 'utf8').includes('<svg'), 'a timeline was written');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('3 nodes, 4 shards: members replaced and a node killed -9 while shards move to the new one, for 30 s: linearizable, nothing lost', async () => {
    const out = tempDir('chaos-move-kill');
    try {
      const report = await runChaos({ ...CHAOS_DEFAULTS, shards: 4, seconds: 30, seed: 3, faults: ['move-kill'], out, log });
      assert.equal(report.verdict, 'linearizable', `${report.line}\n${report.check.keys.map((k) => `${k.key}: ${k.verdict} ${k.explanation ?? ''}`).join('\n')}`);
      assert.equal(report.unansweredFinalReads, 0, 'every node answers the final reads after healing');
      assert.deepStrictEqual(report.watchProblems, [], 'every watcher saw every acknowledged write once, in order, as the others did');
      const duringMoves = report.history.faults.filter((f) => f.kind === 'move-kill' && / while shard \S+ moves/.test(f.description));
      assert.ok(duringMoves.length >= 1, `a node was killed while a shard moved: ${report.history.faults.map((f) => f.description).join(' / ')}`);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a deliberately weakened run (serializable reads, an isolated follower) is reported NOT linearizable', async () => {
    const out = tempDir('chaos-weak');
    try {
      const report = await runChaos({ ...CHAOS_DEFAULTS, seconds: 15, seed: 2, weak: true, faults: ['isolate-follower'], out, log });
      assert.equal(report.verdict, 'not linearizable', report.line);
      assert.ok(report.check.keys.some((k) => k.verdict === 'violation' && k.explanation), 'the violation is explained');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
