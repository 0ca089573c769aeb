// SIGTERM: stop accepting, finish the requests in flight, flush, close storage, exit 0.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProcCluster } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';

let c: ProcCluster | undefined;
after(async () => c?.stop());

/**
 * A PUT whose headers the server has read (it answered 100 Continue) and half of whose body is sent;
 * `finish()` sends the rest.
 */
async function startUpload(url: string, key: string, value: Buffer) {
  const u = new URL(`${url}/v1/kv/${key}`);
  const req = http.request({
    host: u.hostname,
    port: u.port,
    path: u.pathname,
    method: 'PUT',
    headers: { 'content-length': value.length, expect: '100-continue' },
  });
  const response = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  await new Promise<void>((resolve) => req.once('continue', resolve));
  req.write(value.subarray(0, value.length / 2));
  return { finish: () => req.end(value.subarray(value.length / 2)), response };
}

it('SIGTERM with uploads in flight: they complete with 200, the process exits 0, and the writes survive', async () => {
  c = await ProcCluster.create(1);
  const node = c.nodes[0];
  await c.leader();
  const values = Array.from({ length: 5 }, (_, i) => Buffer.alloc(256 * 1024, 65 + i));
  const uploads = await Promise.all(values.map((v, i) => startUpload(node.url, `inflight-${i}`, v)));
  const exited = new Promise<number | null>((resolve) => node.proc!.once('exit', (code) => resolve(code)));
  node.proc!.kill('SIGTERM');
  await until('the node to stop taking new requests', async () => {
    const status = await fetch(`${node.url}/health`).then((r) => r.status, () => 0);
    return status === 503 || status === 0;
  });
  for (const u of uploads) u.finish();
  const statuses = await Promise.all(uploads.map((u) => u.response));
  assert.deepEqual(statuses, [200, 200, 200, 200, 200], 'requests in flight when the signal came are finished');
  assert.equal(await exited, 0, `exit code; output: ${node.output.join('').slice(-800)}`);
  const refused = await fetch(`${node.url}/health`).then((r) => r.status, () => 0);
  assert.equal(refused, 0, 'nothing listens after exit');
  node.proc = undefined;
  c.start(node);
  await c.waitHealthy(node);
  await c.leader();
  for (const [i, v] of values.entries()) {
    const got = Buffer.from(await (await fetch(`${node.url}/v1/kv/inflight-${i}`)).arrayBuffer());
    assert.ok(got.equals(v), `inflight-${i} survived the shutdown`);
  }
});
