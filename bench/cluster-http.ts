// Put and linearizable get on a 3-process Concord cluster through HTTP v1, next to a bare node:http
// server measured in the same run (the ceiling of any Node HTTP service here). 100-byte values over
// 10,000 keys, 64 connections, wrk. Prints one JSON line per measurement for bench/run.ts.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../testkit/ports.ts';
import { until } from '../testkit/wait.ts';
import { ProcCluster } from '../testkit/processes.ts';
import { ensureWrk, wrk, type WrkResult } from './wrk.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const here = path.dirname(fileURLToPath(import.meta.url));

function report(name: string, r: WrkResult, ceiling: number): void {
  console.log(JSON.stringify({ bench: 'cluster-http', name, opsPerSec: r.rps, p50ms: r.p50ms, p99ms: r.p99ms, errors: r.errors, ratioToBaseline: r.rps / ceiling }));
}

ensureWrk();

const port = await freePort();
const bare = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'bare-http.ts'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
await until('the bare server', async () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false));
wrk(`http://127.0.0.1:${port}/`, { connections: CONNECTIONS, seconds: 2 });
const ceiling = wrk(`http://127.0.0.1:${port}/`, { connections: CONNECTIONS, seconds: SECONDS });
bare.kill();
report('bare node:http (ceiling)', ceiling, ceiling.rps);

const cluster = await ProcCluster.create(3);
try {
  const leader = await cluster.leader();
  // Load every key once so gets hit, then warm up.
  for (let i = 0; i < 10_000; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => fetch(`${leader.url}/v1/kv/key-${i + j}`, { method: 'PUT', body: 'x'.repeat(100) })));
  }
  wrk(leader.url, { script: 'concord.lua', env: { OP: 'put' }, connections: CONNECTIONS, seconds: 2 });
  report('concord put (3 nodes, via leader)', wrk(leader.url, { script: 'concord.lua', env: { OP: 'put' }, connections: CONNECTIONS, seconds: SECONDS }), ceiling.rps);
  report('concord linearizable get (via leader)', wrk(leader.url, { script: 'concord.lua', connections: CONNECTIONS, seconds: SECONDS }), ceiling.rps);
  const follower = cluster.nodes.find((n) => n !== leader)!;
  report('concord linearizable get (via follower)', wrk(follower.url, { script: 'concord.lua', connections: CONNECTIONS, seconds: SECONDS }), ceiling.rps);
  report('concord serializable get (via follower)', wrk(follower.url, { script: 'concord.lua', connections: CONNECTIONS, seconds: SECONDS, env: { CONSISTENCY: 'serializable' } }), ceiling.rps);
} finally {
  await cluster.stop();
}
