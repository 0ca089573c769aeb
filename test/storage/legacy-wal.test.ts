// A data dir written with one WAL per group (format 1, test/storage/fixtures/wal-format-1, made by the
// version before the node WAL) opens with every group's log as it was, moved into the node's WAL.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { NodeWal } from '../../src/storage/node-wal.ts';
import { RaftWalStore } from '../../src/storage/raft-wal-store.ts';
import { tempDir, text } from './helpers.ts';
import { captureLogger } from './corrupt.ts';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'wal-format-1');

function copyFixture(t: TestContext): string {
  const dir = tempDir(t);
  fs.cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

function openBoth(dir: string) {
  const capture = captureLogger();
  const wal = new NodeWal({ dir: path.join(dir, 'wal'), logger: capture.logger });
  const open = (group: string) => new RaftWalStore({ wal, group, snapshotDir: path.join(dir, 'snapshots'), logger: capture.logger });
  return { wal, g0: open('g0'), s3: open('s3'), lines: capture.lines };
}

async function closeBoth(n: ReturnType<typeof openBoth>): Promise<void> {
  await Promise.all([n.g0.close(), n.s3.close()]);
  await n.wal.close();
}

/** What the fixture's generator wrote (see the top of this file). */
function assertFixtureState(n: ReturnType<typeof openBoth>): void {
  const { g0, s3 } = n;
  assert.deepStrictEqual([g0.firstIndex(), g0.lastIndex()], [9, 20]);
  assert.deepStrictEqual(g0.initialState(), { hardState: { term: 2, vote: 'n2', commit: 18 }, confState: { voters: ['n1', 'n2', 'n3'], learners: [] } });
  assert.deepStrictEqual(
    g0.entries(9, 21, Infinity).map((e) => [e.index, e.term, text(e.data)]),
    Array.from({ length: 12 }, (_, i) => [9 + i, 9 + i <= 12 ? 1 : 2, `g0-${9 + i}`]),
  );
  assert.equal(g0.snapshotStatus(), 'ok');
  assert.equal(g0.snapshot().meta.index, 10);
  assert.equal(text(g0.snapshot().data), 'snapshot-of-g0-at-10');
  assert.deepStrictEqual(s3.initialState(), { hardState: { term: 3, vote: '', commit: 1 }, confState: { voters: ['n1'], learners: ['n4'] } });
  assert.deepStrictEqual(
    s3.entries(1, 3, Infinity).map((e) => [e.index, e.term, e.type, text(e.data)]),
    [
      [1, 3, 1, ''],
      [2, 3, 0, 's3-2'],
    ],
  );
}

test('per-group WALs of format 1 are moved into the node WAL once, each group exactly as it was', async (t) => {
  const dir = copyFixture(t);
  let n = openBoth(dir);
  assertFixtureState(n);
  assert.deepStrictEqual(fs.readdirSync(path.join(dir, 'wal')), ['0000000000000001.wal'], 'the per-group directories are gone');
  assert.equal(n.lines.length, 1);
  assert.match(n.lines[0].msg, /moved the per-group logs of 2 group\(s\) into the node's log/);
  await n.g0.save({ entries: [{ index: 21, term: 2, type: 0, data: new TextEncoder().encode('g0-21') }] });
  await closeBoth(n);
  n = openBoth(dir);
  t.after(() => closeBoth(n));
  assert.equal(n.g0.lastIndex(), 21);
  assert.deepStrictEqual(n.lines, [], 'nothing to move the second time');
});

test('a move interrupted after the node WAL was in place finishes by deleting the old directories', async (t) => {
  const dir = copyFixture(t);
  const moved = copyFixture(t);
  await closeBoth(openBoth(moved));
  // The crash: the node WAL's first segment is in place, the per-group directories not yet deleted.
  fs.copyFileSync(path.join(moved, 'wal', '0000000000000001.wal'), path.join(dir, 'wal', '0000000000000001.wal'));
  const n = openBoth(dir);
  t.after(() => closeBoth(n));
  assertFixtureState(n);
  assert.deepStrictEqual(fs.readdirSync(path.join(dir, 'wal')), ['0000000000000001.wal']);
});

test('a move interrupted before the node WAL was in place starts over', async (t) => {
  const dir = copyFixture(t);
  fs.writeFileSync(path.join(dir, 'wal', '0000000000000001.wal.tmp'), Buffer.alloc(17));
  const n = openBoth(dir);
  t.after(() => closeBoth(n));
  assertFixtureState(n);
  assert.deepStrictEqual(fs.readdirSync(path.join(dir, 'wal')), ['0000000000000001.wal']);
});
