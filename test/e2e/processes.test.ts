// The harness every end-to-end test stands on: a cluster that cannot start says why at once and leaves
// no process behind (one left running keeps its test file, and so `npm test`, from ever finishing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcCluster, runningProcesses } from '../../testkit/processes.ts';

test('a node that cannot start fails create() at once with its output, and the others are stopped', async () => {
  const started = Date.now();
  await assert.rejects(
    ProcCluster.create(3, (id) => (id === 'n2' ? ['--max-value-bytes', 'lots'] : [])),
    /n2 exited with code 2 before answering \/health \(output: .*max-value-bytes/s,
  );
  assert.ok(Date.now() - started < 10_000, 'did not wait for the health timeout');
  assert.equal(runningProcesses(), 0, 'n1 and n3 were stopped');
});

test('a cluster that starts is healthy and its stop() ends every process', async () => {
  const c = await ProcCluster.create(2);
  assert.equal(runningProcesses(), 2);
  await c.stop();
  assert.equal(runningProcesses(), 0);
});
