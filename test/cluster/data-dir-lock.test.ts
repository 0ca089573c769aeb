// One process per data dir: the lock refuses a live holder and takes over what a dead one left.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataDirLockedError, LOCK_FILE, lockDataDir } from '../../src/cluster/data-dir-lock.ts';
import { tempDir } from '../../testkit/temp.ts';

const lockText = (dir: string) => fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8');
const writeLock = (dir: string, holder: object) => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(holder));
};

it('a second taker is refused with the holder named, and the dir is free again once released', () => {
  const dir = tempDir('lock');
  const lock = lockDataDir(dir, 'concord node n1');
  assert.throws(() => lockDataDir(dir, 'concord node n2'), (e: Error) => {
    assert.ok(e instanceof DataDirLockedError);
    assert.match(e.message, new RegExp(`in use by concord node n1 \\(pid ${process.pid}\\)`));
    assert.match(e.message, /one process per data dir/);
    return true;
  });
  assert.equal(JSON.parse(lockText(dir)).what, 'concord node n1', 'the refused taker left the holder’s lock alone');
  lock.release();
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
  lockDataDir(dir, 'concord node n2').release();
  assert.deepEqual(fs.readdirSync(dir), [], 'no private lock files left behind');
});

it('a lock left by a process killed with SIGKILL is taken over', async () => {
  const dir = tempDir('lock-killed');
  const code = `import('${path.resolve('src/cluster/data-dir-lock.ts')}').then((m) => { m.lockDataDir(${JSON.stringify(dir)}, 'victim'); console.log('locked'); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('locked') && resolve());
    child.once('exit', (c) => reject(new Error(`child exited with ${c} before locking`)));
  });
  assert.throws(() => lockDataDir(dir, 'me'), /in use by victim/, 'held while the child runs');
  await new Promise((r) => {
    child.once('exit', r);
    child.kill('SIGKILL');
  });
  const lock = lockDataDir(dir, 'me');
  assert.equal(JSON.parse(lockText(dir)).pid, process.pid);
  lock.release();
});

it('a lock of a killed process its parent has not reaped yet (a zombie) is taken over', async () => {
  const dir = tempDir('lock-zombie');
  // The shell's background child exits at once; the shell then becomes `sleep`, which never waits for it.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d) => resolve(String(d).trim()))));
  try {
    const start = () => fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    while (!/\) Z /.test(start())) await new Promise((r) => setTimeout(r, 10));
    const started = start().slice(start().lastIndexOf(')') + 2).split(' ')[19];
    writeLock(dir, { pid, started, host: os.hostname(), what: 'a killed node' });
    const lock = lockDataDir(dir, 'me');
    assert.equal(JSON.parse(lockText(dir)).pid, process.pid);
    lock.release();
  } finally {
    parent.kill('SIGKILL');
  }
});

it('a lock whose pid now belongs to a process started at another time (a reused pid) is stale', () => {
  const dir = tempDir('lock-reused');
  writeLock(dir, { pid: process.pid, started: 'another-start', host: os.hostname(), what: 'old' });
  lockDataDir(dir, 'new').release();
});

it('an unreadable lock file is taken over; a lock from another host never is', () => {
  const dir = tempDir('lock-odd');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, LOCK_FILE), 'garbage');
  lockDataDir(dir, 'me').release();
  writeLock(dir, { pid: 999_999_999, started: '1', host: `not-${os.hostname()}`, what: 'concord node far' });
  assert.throws(() => lockDataDir(dir, 'me'), /in use by concord node far \(pid 999999999 on host not-/);
});

it('release() leaves a lock that is no longer its own', () => {
  const dir = tempDir('lock-release');
  const lock = lockDataDir(dir, 'first');
  writeLock(dir, { pid: process.pid, started: 'x', host: os.hostname(), what: 'someone else' });
  lock.release();
  assert.match(lockText(dir), /someone else/);
});
