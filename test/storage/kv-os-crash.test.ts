// The KV environment commits without fsync (openKvEnv). These tests check the guard that makes that
// safe (os-crash-guard.ts): after a process crash the files are kept, since the page cache had every
// commit; after an OS crash, acted out with another boot id, they are discarded, since they may be torn.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { KvStore } from '../../src/storage/kv-store.ts';
import { bytes, tempDir, text } from './helpers.ts';

/** Applies `n` puts in a child process and SIGKILLs it: the store is left open, unsynced. */
async function crashAfterApplying(dir: string, n: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures', 'apply-then-die.ts'), dir, String(n)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('applied') && resolve());
    child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
}

test('a process crash keeps every applied entry: the same boot finds the files intact', async (t) => {
  const dir = path.join(tempDir(t), 'kv');
  await crashAfterApplying(dir, 50);
  const kv = new KvStore({ env: dir, group: 'g' });
  t.after(() => kv.close());
  assert.equal(kv.discardedAfterOsCrash, false);
  assert.equal(kv.appliedIndex(), 50);
  assert.equal(text(kv.get(bytes('k50'))!.value), 'v50');
});

test('files left open when the OS went down are discarded: the store opens empty, to be rebuilt from Raft', async (t) => {
  const dir = path.join(tempDir(t), 'kv');
  await crashAfterApplying(dir, 50);
  const kv = new KvStore({ env: dir, group: 'g', bootId: 'another-boot' });
  t.after(() => kv.close());
  assert.equal(kv.discardedAfterOsCrash, true);
  assert.equal(kv.appliedIndex(), 0);
  assert.equal(kv.get(bytes('k1')), undefined);
  // The fresh store works and, closed cleanly, is kept at the next boot.
  kv.applyAllSync([{ index: 7, fn: (tx) => tx.put(bytes('a'), bytes('b')) }]);
  await kv.close();
  const again = new KvStore({ env: dir, group: 'g', bootId: 'a-third-boot' });
  t.after(() => again.close());
  assert.equal(again.discardedAfterOsCrash, false);
  assert.equal(again.appliedIndex(), 7);
});

test('a cleanly closed store is kept across boots, and where boots cannot be told apart an unclean one is not', async (t) => {
  const dir = path.join(tempDir(t), 'kv');
  const kv = new KvStore({ env: dir, group: 'g' });
  kv.applyAllSync([{ index: 3, fn: (tx) => tx.put(bytes('a'), bytes('b')) }]);
  await kv.close();
  assert.deepStrictEqual(fs.readdirSync(dir).sort(), ['data.mdb', 'lock.mdb'], 'no marker after a clean close');
  const reopened = new KvStore({ env: dir, group: 'g', bootId: 'after-a-reboot' });
  assert.equal(reopened.discardedAfterOsCrash, false);
  assert.equal(reopened.appliedIndex(), 3);
  await reopened.close();

  await crashAfterApplying(dir, 5);
  const unknown = new KvStore({ env: dir, group: 'g', bootId: '' });
  t.after(() => unknown.close());
  assert.equal(unknown.discardedAfterOsCrash, true, 'no boot id: an unclean shutdown counts as an OS crash');
});
