// Model test: random sequences of save / compact / createSnapshot (some issued together without
// awaiting, some invalid, with reopens in between) must leave RaftWalStore observably identical
// to MemoryStorage, the reference semantics raft/ is tested against. Three groups share one node
// WAL whose segments are tiny and few, so their records interleave in shared writes and the WAL starts
// new segments, has the groups checkpoint and deletes old segments all through the run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { MemoryStorage } from '../../src/raft/storage.ts';
import type { Entry, HardState, Snapshot } from '../../src/raft/types.ts';
import { RaftWalStore } from '../../src/storage/raft-wal-store.ts';
import { NodeWal } from '../../src/storage/node-wal.ts';
import { entryOverheadBytes } from '../../src/storage/entry-slabs.ts';
import { tempDir } from './helpers.ts';
import { observe } from './observe.ts';

const conf = fc.record({ voters: fc.subarray(['a', 'b', 'c']), learners: fc.subarray(['d']) });
const dataSize = fc.constantFrom(0, 7, 3000); // 3000 > inline threshold below: stored as a file

const command = fc.oneof(
  fc.record({
    kind: fc.constant('save' as const),
    start: fc.integer({ min: -4, max: 2 }), // relative to lastIndex + 1; > 0 is a gap
    count: fc.integer({ min: 0, max: 5 }),
    term: fc.integer({ min: 1, max: 9 }),
    hardState: fc.option(fc.record({ term: fc.nat(9), vote: fc.constantFrom('', 'a', 'b'), commit: fc.nat(40) }), { nil: undefined }),
    snapshot: fc.option(fc.record({ ahead: fc.integer({ min: -2, max: 8 }), term: fc.integer({ min: 1, max: 9 }), conf, size: dataSize }), {
      nil: undefined,
    }),
  }),
  fc.record({ kind: fc.constant('compact' as const), back: fc.integer({ min: -1, max: 6 }) }),
  fc.record({ kind: fc.constant('createSnapshot' as const), back: fc.integer({ min: -1, max: 6 }), conf, size: dataSize }),
  fc.record({ kind: fc.constant('reopen' as const) }),
);

type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

function payload(size: number, seed: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 31 + seed) % 256);
}

/** Apply to the model now; return what the real storage must do (resolve or reject) and how to ask it. */
function plan(mem: MemoryStorage, c: Exclude<Command, { kind: 'reopen' }>, seq: number): { expectError: boolean; run: (s: RaftWalStore) => Promise<unknown> } {
  const attempt = (fn: () => void) => {
    try {
      fn();
      return false;
    } catch {
      return true;
    }
  };
  if (c.kind === 'save') {
    let snapshot: Snapshot | undefined;
    let base = mem.lastIndex();
    if (c.snapshot) {
      const index = mem.snapshot().meta.index + c.snapshot.ahead;
      snapshot = { meta: { index, term: c.snapshot.term, confState: c.snapshot.conf }, data: payload(c.snapshot.size, seq) };
      if (index > mem.snapshot().meta.index) base = index;
    }
    // With a snapshot, never a gap: MemoryStorage would have applied the snapshot before failing.
    const first = Math.max(1, base + 1 + (snapshot ? Math.min(c.start, 0) : c.start));
    const ents: Entry[] = Array.from({ length: c.count }, (_, i) => ({ index: first + i, term: c.term, type: 0, data: payload(i % 3, seq + i) }));
    const hardState: HardState | undefined = c.hardState;
    const expectError = attempt(() => {
      if (ents.length > 0 && !snapshot) {
        const probe = ents.filter((e) => e.index > mem.firstIndex() - 1);
        if (probe.length > 0 && probe[0].index > mem.lastIndex() + 1) throw new Error('gap');
      }
      if (snapshot) mem.applySnapshot(snapshot);
      mem.append(ents);
      if (hardState) mem.setHardState(hardState);
    });
    return { expectError, run: (s) => s.save({ entries: ents, ...(hardState ? { hardState } : {}), ...(snapshot ? { snapshot } : {}) }) };
  }
  const index = mem.lastIndex() - c.back;
  if (c.kind === 'compact') return { expectError: attempt(() => mem.compact(index)), run: (s) => s.compact(index) };
  const data = payload(c.size, seq);
  return { expectError: attempt(() => mem.createSnapshot(index, c.conf, data)), run: (s) => s.createSnapshot(index, c.conf, data) };
}

const GROUPS = ['a', 'b', 'c'];

/** What memoryBytes() must say: every entry in the log, its data and the fixed cost. */
function memoryOf(s: RaftWalStore): number {
  const first = s.firstIndex();
  const last = s.lastIndex();
  return last < first ? 0 : s.entries(first, last + 1, Infinity).reduce((n, e) => n + e.data.byteLength + entryOverheadBytes(e.data.byteLength), 0);
}

test('RaftWalStore behaves exactly like MemoryStorage, for each of several groups sharing a WAL', async (t) => {
  let run = 0;
  let segmentsStarted = 0;
  let maxSegments = 0;
  const batch = fc.record({ groups: fc.array(fc.constantFrom(...GROUPS.keys()), { minLength: 1, maxLength: 3 }), commands: fc.array(command, { minLength: 1, maxLength: 4 }) });
  await fc.assert(
    fc.asyncProperty(fc.array(batch, { minLength: 1, maxLength: 12 }), async (batches) => {
      const dir = path.join(tempDir(t), `run-${run++}`);
      const open = () => {
        const wal = new NodeWal({ dir: path.join(dir, 'wal'), segmentBytes: 600, maxSegments: 2 });
        const stores = GROUPS.map((group) => new RaftWalStore({ wal, group, snapshotDir: path.join(dir, 'snaps'), inlineSnapshotMaxBytes: 1024 }));
        return { wal, stores };
      };
      const close = async (n: ReturnType<typeof open>) => {
        segmentsStarted += n.wal.stats.segmentsStarted;
        await Promise.all(n.stores.map((s) => s.close()));
        await n.wal.close();
        maxSegments = Math.max(maxSegments, fs.readdirSync(path.join(dir, 'wal')).length);
      };
      let node = open();
      const mems = GROUPS.map(() => new MemoryStorage());
      let seq = 0;
      try {
        for (const { groups, commands } of batches) {
          // Commands of a batch are issued together, without awaiting, to one or more groups: one write.
          const issued: { expectError: boolean; outcome: Promise<string> }[] = [];
          for (const c of commands) {
            if (c.kind === 'reopen') continue;
            for (const g of new Set(groups)) {
              const p = plan(mems[g], c, seq++);
              const outcome = p.run(node.stores[g]).then(
                () => 'ok',
                (e: Error) => `error: ${e.message}`,
              );
              issued.push({ expectError: p.expectError, outcome });
            }
          }
          const outcomes = await Promise.all(issued.map((i) => i.outcome));
          for (const [i, { expectError }] of issued.entries()) {
            assert.equal(outcomes[i] !== 'ok', expectError, `command ${i} of ${JSON.stringify(commands)}: ${outcomes[i]}`);
          }
          for (const g of GROUPS.keys()) {
            assert.deepStrictEqual(observe(node.stores[g]), observe(mems[g]), `group ${GROUPS[g]}`);
            assert.equal(node.stores[g].memoryBytes(), memoryOf(node.stores[g]), `group ${GROUPS[g]}: memory accounted entry by entry`);
          }
          maxSegments = Math.max(maxSegments, node.wal.segmentFiles().length);
          if (commands.some((c) => c.kind === 'reopen')) {
            await close(node);
            node = open();
            for (const g of GROUPS.keys()) assert.deepStrictEqual(observe(node.stores[g]), observe(mems[g]), `group ${GROUPS[g]} after a reopen`);
          }
        }
      } finally {
        await close(node);
      }
    }),
    { numRuns: 150 },
  );
  // The runs did exercise the segment life cycle.
  assert.ok(segmentsStarted > 100, `${segmentsStarted} segments started`);
  // Bounded: beyond the 2 allowed, the one started while the checkpoints that free the oldest are
  // written, and one more if a write starts yet another before they land.
  assert.ok(maxSegments <= 4, `at most 4 segments at once (${maxSegments})`);
});
