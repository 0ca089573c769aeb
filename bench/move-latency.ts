// npm run bench -- move-latency (= npx tsx bench/move-latency.ts): what clients see while shards move. A
// 3-node Concord cluster with --shards S (R = 3: every node holds every shard), preloaded with K keys, takes
// puts from C concurrent clients spread over the nodes; then a fourth node is added, the shard map gives it
// its share of the replicas (S·3/4), and each shard's leader copies them to it (learner, snapshot, promote)
// and removes the replica it replaces. Reported per phase — before the join, while replicas move (from the
// add until every shard is on its map's replicas), and after — puts/s, p50, p99 and max latency, and errors.
// The numbers compare phases of one run with each other (the clients run in this process, which shares the
// machine with the nodes), not with other systems.
//
// Writes bench/results/move-latency-latest.{md,json}, prints the markdown, then one JSON line naming the file
// for bench/run.ts. Env: BENCH_SHARDS (12), BENCH_KEYS (20000), BENCH_VALUE_BYTES (1024), BENCH_CLIENTS (32),
// BENCH_PHASE_SECONDS (10: before and after the move).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from '../testkit/wait.ts';
import { freePort } from '../testkit/ports.ts';
import { concordCluster, concordVersion, srcChanged } from './concord-cluster.ts';
import { progress } from './progress.ts';
import { cpuSeconds } from './procstat.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);
const SHARDS = num('BENCH_SHARDS', 12);
const KEYS = num('BENCH_KEYS', 20_000);
const VALUE_BYTES = num('BENCH_VALUE_BYTES', 1024);
const CLIENTS = num('BENCH_CLIENTS', 32);
const PHASE_SECONDS = num('BENCH_PHASE_SECONDS', 10);
const { log, note, notes } = progress('move-latency');

interface Sample {
  at: number;
  ms: number;
  ok: boolean;
}

interface ShardView {
  id: string;
  replicas: string[];
  hosted: boolean;
  voters: string[];
  learners: string[];
}

async function put(url: string, key: string, value: Uint8Array<ArrayBuffer>): Promise<boolean> {
  const res = await fetch(`${url}/v1/kv/${key}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res.status === 200;
}

/** Whether every node has a map planned for `members` and every shard is on exactly its replicas, as the nodes holding it see it. */
async function settled(urls: string[], members: number): Promise<boolean> {
  const status = await Promise.all(urls.map(async (u) => (await (await fetch(`${u}/v1/cluster`)).json()) as { shards: ShardView[]; shardMap?: { members: string[] } }));
  if (status.some((s) => s.shardMap?.members.length !== members)) return false;
  const views = status.map((s) => s.shards);
  return views[0].every((s, i) => {
    const copies = views.map((v) => v[i]).filter((c) => c.hosted);
    const want = [...s.replicas].sort().join();
    return copies.length === s.replicas.length && copies.every((c) => [...c.voters].sort().join() === want && c.learners.length === 0);
  });
}

function phase(samples: Sample[], from: number, to: number) {
  const inside = samples.filter((s) => s.at >= from && s.at < to);
  const ok = inside.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
  const q = (p: number) => (ok.length === 0 ? NaN : ok[Math.min(ok.length - 1, Math.floor(p * ok.length))]);
  const seconds = (to - from) / 1000;
  return { seconds, putsPerSec: ok.length / seconds, p50: q(0.5), p99: q(0.99), max: ok.at(-1) ?? NaN, errors: inside.length - ok.length };
}

async function main(): Promise<void> {
  log(`3 nodes, --shards ${SHARDS}, ${KEYS} keys of ${VALUE_BYTES} B, ${CLIENTS} clients`);
  const { cluster, stop } = await concordCluster(3, ['--shards', String(SHARDS)]);
  try {
    const urls = cluster.nodes.map((n) => n.url);
    await until('every shard led', async () => ((await (await fetch(`${urls[0]}/v1/cluster`)).json()) as { shards: Array<{ leader: string | null }> }).shards.every((s) => s.leader !== null), 20_000);
    const value = new Uint8Array(VALUE_BYTES).fill(118);
    for (let i = 0; i < KEYS; i += CLIENTS * 4) {
      await Promise.all(Array.from({ length: Math.min(CLIENTS * 4, KEYS - i) }, (_, j) => put(urls[(i + j) % 3], `k${i + j}`, value)));
    }
    log(`preloaded ${KEYS} keys`);

    const samples: Sample[] = [];
    const cpu = (): number[] => [...cluster.nodes].map((n) => (n.proc?.pid ? cpuSeconds(n.proc.pid) : 0));
    const cpuStart = cpu();
    const t0 = performance.now();
    let running = true;
    let targets = urls;
    const loops = Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = 0; running; i++) {
        const start = performance.now();
        const ok = await put(targets[(c + i) % targets.length], `k${(c * 7919 + i * 104_729) % KEYS}`, value).catch(() => false);
        samples.push({ at: start - t0, ms: performance.now() - start, ok });
      }
    });
    await new Promise((r) => setTimeout(r, PHASE_SECONDS * 1000));

    const [raft, http, grpc] = [await freePort(), await freePort(), await freePort()];
    const n4 = cluster.add('n4', ['server', '--node-id', 'n4', '--raft-addr', `127.0.0.1:${raft}`, '--http-addr', `127.0.0.1:${http}`, '--grpc-addr', `127.0.0.1:${grpc}`, '--data-dir', path.join(cluster.dir, 'n4'), '--no-bootstrap'], `http://127.0.0.1:${http}`);
    await cluster.waitHealthy(n4);
    const addedAt = performance.now() - t0;
    if (process.env.BENCH_MARK_CLOCK) note(`n4 added at CLOCK_MONOTONIC ${process.hrtime.bigint()} ns (to line up with the nodes' CPU profiles)`);
    const cpuAdded = cpu();
    // Every quarter second while replicas move: each node's CPU so far (the puts of each window are counted at the end).
    const ticks: Array<{ at: number; cpu: number[] }> = [{ at: addedAt, cpu: cpuAdded }];
    const sampler = setInterval(() => ticks.push({ at: performance.now() - t0, cpu: cpu() }), 250);
    const added = await fetch(`${urls[0]}/v1/cluster/nodes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'n4', address: `127.0.0.1:${raft}` }) });
    if (!added.ok) throw new Error(`adding n4: ${added.status} ${await added.text()}`);
    log('n4 added; waiting for the replicas to move');
    const all = [...urls, n4.url];
    await until('every shard on its map\'s replicas', () => settled(all, 4).catch(() => false), 300_000);
    const settledAt = performance.now() - t0;
    clearInterval(sampler);
    const cpuSettled = cpu();
    targets = all;
    log(`moved in ${((settledAt - addedAt) / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, PHASE_SECONDS * 1000));
    running = false;
    await Promise.all(loops);
    const end = performance.now() - t0;
    const cpuEnd = cpu();
    const share = (a: number[], b: number[], ms: number) => b.map((c, k) => `${Math.round(((c - (a[k] ?? 0)) / (ms / 1000)) * 100)}%`).join(' / ');
    note(`CPU of n1 / n2 / n3 (/ n4), % of one core: before ${share(cpuStart, cpuAdded.slice(0, 3), addedAt)}; moving ${share(cpuAdded, cpuSettled, settledAt - addedAt)}; after ${share(cpuSettled, cpuEnd, end - settledAt)} (the clients, in the bench process, take the rest)`);
    const windows = ticks.slice(1).map(({ at, cpu: now }, k) => {
      const prev = ticks[k];
      const started = samples.filter((x) => x.at >= prev.at && x.at < at);
      const pct = now.map((c, j) => Math.round(((c - (prev.cpu[j] ?? 0)) / ((at - prev.at) / 1000)) * 100));
      return `+${((prev.at - addedAt) / 1000).toFixed(2)} s: CPU % ${pct.join(' / ')}; ${started.length} puts started, slowest ${Math.round(Math.max(0, ...started.map((x) => x.ms)))} ms`;
    });
    note(`while moving, by quarter second (n1 / n2 / n3 / n4): ${windows.join('; ')}`);
    const hosted = await Promise.all(all.map(async (u) => Number(/^concord_shards_hosted (\d+)$/m.exec(await (await fetch(`${u}/metrics`)).text())?.[1])));
    note(`replicas per node at the end: ${hosted.join(', ')} (n1..n4)`);

    const phases = { before: phase(samples, 0, addedAt), moving: phase(samples, addedAt, settledAt), after: phase(samples, settledAt, end) };
    const row = (name: string, p: ReturnType<typeof phase>) => `| ${name} | ${p.seconds.toFixed(1)} | ${Math.round(p.putsPerSec).toLocaleString('en-US')} | ${p.p50.toFixed(2)} | ${p.p99.toFixed(2)} | ${p.max.toFixed(1)} | ${p.errors} |`;
    const md = [
      `# Puts while shards move (${new Date().toISOString().slice(0, 16)}Z)`,
      '',
      `Concord ${concordVersion()}${srcChanged() ? ' (with uncommitted changes)' : ''}, ${os.cpus().length} cores; 3 nodes with --shards ${SHARDS} (R = 3), ${KEYS} keys of ${VALUE_BYTES} B preloaded, ${CLIENTS} clients putting through every node; then a fourth node added: ${SHARDS * 3 / 4} replicas copied to it and as many removed elsewhere.`,
      '',
      '| phase | seconds | puts/s | p50 ms | p99 ms | max ms | errors |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      row('before (3 nodes)', phases.before),
      row('replicas moving', phases.moving),
      row('after (4 nodes)', phases.after),
      '',
      ...notes.map((n) => `- ${n}`),
      '',
      `Command: \`BENCH_SHARDS=${SHARDS} BENCH_KEYS=${KEYS} BENCH_CLIENTS=${CLIENTS} npm run bench -- move-latency\`.`,
    ].join('\n');
    const out = path.join(here, 'results', 'move-latency-latest');
    fs.writeFileSync(`${out}.md`, `${md}\n`);
    fs.writeFileSync(`${out}.json`, JSON.stringify({ shards: SHARDS, keys: KEYS, clients: CLIENTS, phases, hosted }, null, 2));
    console.log(md);
    console.log(JSON.stringify({ result: `${out}.md` }));
  } finally {
    await stop();
  }
}

await main();
