import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/close-then-exit.ts', import.meta.url));

test('close() releases every handle: a process that used the transport exits by itself', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let closedAt = 0;
  child.stdout.on('data', (chunk) => {
    out += chunk;
    if (closedAt === 0 && /^closed;/m.test(out)) closedAt = performance.now();
  });
  child.stderr.on('data', (chunk) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // The only bound on waiting: a hung child is killed so the test fails instead of hanging.
  const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await exited;
  const lingered = performance.now() - closedAt;
  clearTimeout(guard);
  assert.equal(code, 0, `child did not exit cleanly:\n${out}`);
  assert.ok(closedAt > 0, `child never reported close():\n${out}`);
  const took = Number(/close\(\) took (\d+) ms/.exec(out)?.[1]);
  assert.ok(took < 1000, `close() took ${took} ms: it waited for something instead of closing it`);
  // The fixture leaves a 60 s delayed message and a 5 s handshake timeout pending: exiting well
  // before either proves close() cleared them rather than the process waiting them out.
  assert.ok(lingered < 2000, `process lingered ${lingered.toFixed(0)} ms after close()`);
});
