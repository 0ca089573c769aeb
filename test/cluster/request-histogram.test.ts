import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { RequestHistogram } from '../../src/cluster/request-histogram.ts';

it("the request histogram exposes exactly what prom-client's Histogram would for the same observations", async () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const ours = new Registry();
  const fast = new RequestHistogram('req_seconds', 'latency', buckets);
  ours.registerMetric(fast as unknown as Parameters<Registry['registerMetric']>[0]);
  const theirs = new Registry();
  const reference = new Histogram({ name: 'req_seconds', help: 'latency', labelNames: ['method', 'route', 'status'], buckets, registers: [theirs] });
  const samples: Array<[string, string, number, number]> = [
    ['GET', '/v1/kv/*', 200, 0.0004],
    ['GET', '/v1/kv/*', 200, 0.001], // on a bucket bound: counted in it
    ['GET', '/v1/kv/*', 404, 0.02],
    ['PUT', '/v1/kv/*', 200, 0.5],
    ['PUT', '/v1/kv/*', 200, 7], // beyond the last bound: +Inf only
  ];
  for (const [method, route, status, s] of samples) {
    fast.observe(method, route, status, s);
    reference.observe({ method, route, status: String(status) }, s);
  }
  const lines = (text: string) => text.trim().split('\n').sort();
  assert.deepEqual(lines(await ours.metrics()), lines(await theirs.metrics()));
});
