// A kill -9 while the state machine applies batches asynchronously (applyAllAsync, the Raft host's path
// for a batch holding a large value): the records and the applied index are one LMDB transaction, so
// the store reopens at a batch boundary, with every batch reported applied, and a restart goes on
// from there.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';
import { KvStore } from '../../src/storage/kv-store.ts';
import { bytes, tempDir, text } from './helpers.ts';

/** Runs the fixture until it has reported `after` batches applied, lets it go on for `moreMs`, SIGKILLs it; the last index it reported. */
async function killWhileApplying(dir: string, after: number, moreMs: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures', 'async-applies-until-killed.ts'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let reported = 0;
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/applied (\d+)/g)) {
        reported = Number(m[1]);
        if (++seen === after) setTimeout(resolve, moreMs);
      }
    });
    child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  return reported;
}

function checkAtBatchBoundary(kv: KvStore, reported: number): number {
  const applied = kv.appliedIndex();
  assert.ok(applied >= reported, `applied ${applied}, but ${reported} was reported applied`);
  for (let i = 0; i < 10; i++) {
    const r = kv.get(bytes(`k${i}`))!;
    assert.deepEqual([text(r.value), r.modRevision, r.version], [`v${applied}`, applied, applied - 1], `k${i} is as batch ${applied} left it`);
  }
  const big = kv.get(bytes('big'))!;
  assert.deepEqual([big.modRevision, big.version, big.value.byteLength], [applied, applied - 1, 4 << 20]);
  assert.ok(big.value.every((b) => b === (applied & 0xff)), "the large value is batch's own, whole");
  return applied;
}

test('kill -9 in the middle of asynchronous applies leaves the store at a batch boundary, and a restart goes on from there', async (t) => {
  const dir = path.join(tempDir(t), 'kv');
  let last = 1;
  // Killed at various points: right after a batch was reported, or some way into the next ones.
  for (const [after, moreMs] of [[2, 0], [1, 7], [2, 23], [1, 61]]) {
    const reported = await killWhileApplying(dir, after, moreMs);
    const kv = new KvStore({ env: dir, group: 'g' });
    try {
      const applied = checkAtBatchBoundary(kv, reported);
      assert.ok(applied > last, 'the restart went on from where the store was');
      last = applied;
    } finally {
      await kv.close();
    }
  }
});
