// npm run bench -- compare: Concord next to etcd and next to the ceiling of a Node HTTP server, on this
// machine, in one run. Both systems are driven by the same wrk load (2 threads), cell by cell, each
// system's run of a cell right after the other's (order alternating), so the ratios see the same noise.
// Their gRPC APIs are driven the same way by h2load (grpc-load.ts, grpc-kv.ts).
//
//   3 nodes × {put, linearizable get, serializable get, 90/10 get/put mix} × {16, 64} connections,
//   3 nodes × {gRPC put, gRPC linearizable get} × {16, 64} connections (Concord's gRPC vs etcd's),
//   1 node × {put, linearizable get} × 64 connections, a bare node:http server as the ceiling,
//   the time from `npm start` to a working cluster, and each node's RSS after loading 1M keys.
//
// Writes bench/results/latest.{md,svg,json} and a dated copy of each (a shortened run, e.g.
// BENCH_SECONDS=2, writes bench/results/quick.* instead and leaves latest alone). Progress goes to stderr.
// Env: BENCH_SECONDS (10), BENCH_WARMUP (2), BENCH_CONNECTIONS (16,64), BENCH_MEMORY_KEYS (1000000; 0 skips),
// BENCH_STARTUP_RUNS (3; 0 skips), BENCH_ROUNDS (3: every cell runs that many times, in rounds over all
// cells, and the report shows each cell's median run; the machine's load swings by a third within minutes),
// BENCH_GRPC (1; 0 leaves the gRPC cells out).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../testkit/ports.ts';
import { until } from '../testkit/wait.ts';
import { ProcCluster, type ProcNode } from '../testkit/processes.ts';
import { onCleanup } from './cleanup.ts';
import { concordCluster, concordVersion } from './concord-cluster.ts';
import { ensureEtcd, EtcdCluster, etcdVersion, type EtcdMember } from './etcd.ts';
import { bulkLoad, concordBatch, etcdTxn } from './bulk-load.ts';
import { cpuSeconds, rss, type Rss } from './procstat.ts';
import { medianRuns, renderMarkdown, renderSvg, type CellResult, type MemoryResult, type Op, type Results, type System } from './report.ts';
import { timeEtcdStart, timeNpmStart, type StartupTime } from './startup.ts';
import { ensureWrk, wrkAsync, wrkVersion, type WrkOptions, type WrkResult } from './wrk.ts';
import { ensureH2load, h2loadVersion } from './grpc-load.ts';
import { grpcLoad, type GrpcOp } from './grpc-kv.ts';
import { progress } from './progress.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const num = (name: string, dflt: number) => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : dflt);

const SECONDS = num('BENCH_SECONDS', 10);
const WARMUP = num('BENCH_WARMUP', Math.min(2, SECONDS));
const CONNS = (process.env.BENCH_CONNECTIONS ?? '16,64').split(',').map(Number);
const MEMORY_KEYS = num('BENCH_MEMORY_KEYS', 1_000_000);
const STARTUP_RUNS = num('BENCH_STARTUP_RUNS', 3);
const ROUNDS = Math.max(1, num('BENCH_ROUNDS', 3));
const KEYS = 10_000;
const VALUE = Buffer.alloc(100, 'v');
/** BENCH_OPS (put,lin-get,ser-get,mix,txn) narrows the HTTP cells; a run without all of them is a shortened one. */
const ALL_OPS: Op[] = ['put', 'lin-get', 'ser-get', 'mix', 'txn'];
const OPS: Op[] = process.env.BENCH_OPS ? (process.env.BENCH_OPS.split(',') as Op[]).filter((o) => ALL_OPS.includes(o)) : ALL_OPS;
const SINGLE_OPS: Op[] = ['put', 'lin-get'];
const SINGLE_CONNS = Math.max(...CONNS);
const GRPC_OPS: GrpcOp[] = num('BENCH_GRPC', 1) > 0 ? ['grpc-put', 'grpc-lin-get'] : [];
/** Lets the preload and the 1M-key load use 1,000-put transactions; single-key requests are unaffected. */
const ETCD_FLAGS = ['--max-txn-ops', '1000'];
const FULL = SECONDS >= 10 && CONNS.join() === '16,64' && MEMORY_KEYS >= 1_000_000 && STARTUP_RUNS >= 1 && ROUNDS >= 3 && OPS.length === ALL_OPS.length;

const { log, note, notes, elapsedSec } = progress('compare');

// ---- the two systems behind one face ----------------------------------------------------------------

interface Target {
  url: string;
  /** host:port of its gRPC API (etcd: the client port, which serves both). */
  grpc: string;
  name: string;
}

interface Sut {
  system: 'etcd' | 'concord';
  /** Where put, linearizable get and the mix go (the leader), and serializable get (a follower). */
  targets(): Promise<{ leader: Target; follower: Target }>;
  pids(): number[];
  script(op: Op): Pick<WrkOptions, 'script' | 'env'>;
  stop(): Promise<void>;
}

function etcdSut(c: EtcdCluster): Sut {
  const t = (m: EtcdMember): Target => ({ url: m.clientUrl, grpc: m.clientUrl.replace(/^http:\/\//, ''), name: m.name });
  return {
    system: 'etcd',
    async targets() {
      const leader = await c.leader();
      return { leader: t(leader), follower: t(c.members.find((m) => m !== leader) ?? leader) };
    },
    pids: () => c.pids(),
    script: (op) => ({ script: 'etcd.lua', env: { OP: wrkOp(op), SERIALIZABLE: op === 'ser-get' ? '1' : '0', KEYS: String(KEYS) } }),
    stop: () => c.stop(),
  };
}

function concordSut(c: ProcCluster, stop: () => Promise<void>): Sut {
  const t = (n: ProcNode): Target => ({ url: n.url, grpc: n.args[n.args.indexOf('--grpc-addr') + 1], name: n.id });
  return {
    system: 'concord',
    async targets() {
      const leader = await c.leader();
      return { leader: t(leader), follower: t(c.nodes.find((n) => n !== leader) ?? leader) };
    },
    pids: () => c.nodes.flatMap((n) => (n.proc?.pid !== undefined && n.proc.exitCode === null ? [n.proc.pid] : [])),
    script: (op) => ({
      script: 'concord.lua',
      env: { OP: wrkOp(op), KEYS: String(KEYS), ...(op === 'ser-get' ? { CONSISTENCY: 'serializable' } : {}) },
    }),
    stop,
  };
}

/** The wrk scripts' OP for a cell's op (both reads are "get"; the script's own setting picks the consistency). */
const wrkOp = (op: Op): string => (op === 'put' || op === 'mix' || op === 'txn' ? op : 'get');

async function checkLoaded(s: Sut): Promise<void> {
  const { leader } = await s.targets();
  const last = `key-${KEYS - 1}`;
  const r = s.system === 'concord'
    ? await fetch(`${leader.url}/v1/kv/${last}`)
    : await fetch(`${leader.url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(last).toString('base64') }) });
  const body = await r.text();
  if (!r.ok || (s.system === 'etcd' && !body.includes('"kvs"'))) throw new Error(`${s.system}: ${last} not loaded (${r.status} ${body.slice(0, 200)})`);
}

// ---- cells ------------------------------------------------------------------------------------------

/** Every measured run, in order; the report's cells are the median run of each (medianRuns). */
const runs: CellResult[] = [];
let cellNo = 0;
let cellTotal = 0;
const lastLeader = new Map<string, string>();

/**
 * What a cell runs: `run` for the warm-up and again for the measured run, with `before` between them and
 * `after` on the measured result (the gRPC cells' checks, which h2load's own counts need; grpc-kv.ts).
 */
interface CellLoad<R extends WrkResult = WrkResult> {
  run(seconds: number): Promise<R>;
  before?(): Promise<void>;
  after?(r: R): Promise<{ r: R; problems: string[] }>;
}

const wrkLoad = (url: string, opts: Pick<WrkOptions, 'script' | 'env'>, conns: number): CellLoad => ({ run: (seconds) => wrkAsync(url, { ...opts, connections: conns, seconds }) });

async function runCell<R extends WrkResult>(round: number, nodes: number, op: Op, conns: number, system: System, target: string, load: CellLoad<R>, pids: number[]): Promise<void> {
  cellNo++;
  const label = `${nodes} node${nodes > 1 ? 's' : ''} · ${op} · ${conns} conns · ${system} (${target}) · round ${round}`;
  if (WARMUP > 0) await load.run(WARMUP);
  await load.before?.();
  const cpu0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const w0 = performance.now();
  const measured = await load.run(SECONDS);
  const wall = (performance.now() - w0) / 1000;
  const cpuPct = (100 * (pids.reduce((a, p) => a + cpuSeconds(p), 0) - cpu0)) / wall;
  const checked = load.after ? await load.after(measured) : { r: measured, problems: [] };
  const r = checked.r;
  for (const p of checked.problems) note(`${label}: ${p}`);
  const load1 = os.loadavg()[0];
  runs.push({ nodes, op, conns, system, target, r, cpuPct, load1, round });
  log(`[${cellNo}/${cellTotal}] ${label}: ${Math.round(r.rps).toLocaleString('en')} ops/s, p50 ${r.p50ms.toFixed(2)} p99 ${r.p99ms.toFixed(2)} p99.9 ${r.p999ms.toFixed(2)} ms, errors ${r.errors}, server CPU ${cpuPct.toFixed(0)}%, load ${load1.toFixed(1)}`);
  if (r.errors > 0.001 * r.requests) {
    note(`${label}: ${r.errors} errors out of ${r.requests} requests (non-2xx ${r.non2xx}, socket ${JSON.stringify(r.socketErrors)})`);
  }
}

const isGrpc = (op: Op): op is GrpcOp => (GRPC_OPS as Op[]).includes(op);

/** One group = one (nodes, op, conns): each system in turn, the order rotating from group to group. */
async function runGroup(round: number, groupNo: number, nodes: number, op: Op, conns: number, suts: Sut[], ceiling?: { url: string; pid: number }): Promise<void> {
  const group: Array<() => Promise<void>> = [];
  for (const s of suts) {
    group.push(async () => {
      const { leader, follower } = await s.targets();
      const t = op === 'ser-get' ? follower : leader;
      const key = `${nodes}/${s.system}`;
      if (lastLeader.has(key) && lastLeader.get(key) !== leader.name) note(`${s.system} (${nodes} nodes): leader moved from ${lastLeader.get(key)} to ${leader.name} before ${op} at ${conns} conns`);
      lastLeader.set(key, leader.name);
      const where = `${t.name}, ${t === leader ? 'leader' : 'follower'}`;
      if (!isGrpc(op)) return runCell(round, nodes, op, conns, s.system, where, wrkLoad(t.url, s.script(op), conns), s.pids());
      // A gRPC cell whose checks fail is left out of the results (noted) and the run goes on.
      try {
        await runCell(round, nodes, op, conns, s.system, where, grpcLoad(s.system, t.grpc, op, conns, VALUE), s.pids());
      } catch (e) {
        failed = true;
        note(`${nodes} nodes · ${op} · ${conns} conns · ${s.system} · round ${round}: ${(e as Error).message}`);
      }
    });
  }
  if (ceiling) group.push(() => runCell(round, nodes, op, conns, 'ceiling', 'node:http', wrkLoad(`${ceiling.url}/`, { script: 'plain.lua' }, conns), [ceiling.pid]));
  const k = groupNo % group.length;
  for (const run of [...group.slice(k), ...group.slice(0, k)]) await run();
}


// ---- main -------------------------------------------------------------------------------------------

function newResults(): Results {
  return {
    date: new Date().toISOString(),
    full: FULL,
    env: {
      concord: concordVersion(),
      etcd: etcdVersion(),
      node: process.version,
      wrk: wrkVersion(),
      ...(GRPC_OPS.length > 0 ? { h2load: h2loadVersion() } : {}),
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
      kernel: `${os.type()} ${os.release()}`,
      memGiB: os.totalmem() / 2 ** 30,
      loadStart: os.loadavg()[0],
      loadEnd: NaN,
    },
    params: { seconds: SECONDS, warmup: WARMUP, conns: CONNS, keys: KEYS, valueBytes: VALUE.length, singleConns: SINGLE_CONNS, memoryKeys: MEMORY_KEYS, rounds: ROUNDS },
    cells: [],
    runs,
    startup: { concord: [], etcdMs: [] },
    memory: [],
    notes,
    durationSec: NaN,
  };
}

let failed = false;
/** Runs one part of the benchmark; a failure is noted in the report and the rest still runs. */
async function phase(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    failed = true;
    note(`${name} failed: ${(e as Error).stack ?? String(e)}`.slice(0, 1500));
  }
}

async function loadBoth(suts: Sut[], etcdUrl: string): Promise<void> {
  log(`preloading ${KEYS.toLocaleString('en')} keys (100-byte values) into each`);
  const e = await bulkLoad(KEYS, 1000, 2, etcdTxn(etcdUrl, VALUE));
  const c = await bulkLoad(KEYS, 5000, 2, concordBatch((await suts[1].targets()).leader.url, VALUE));
  for (const [who, st] of [['etcd', e], ['Concord', c]] as const) {
    for (const f of st.failures) note(`${who} preload: ${f}`);
  }
  for (const s of suts) await checkLoaded(s);
}

async function comparison(): Promise<void> {
  // The ceiling: a bare node:http server, running for the whole comparison.
  const port = await freePort();
  const bare = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'bare-http.ts'), String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const unregisterBare = onCleanup(() => bare.kill('SIGKILL'));
  const ceiling = { url: `http://127.0.0.1:${port}`, pid: bare.pid! };
  try {
    await until('the bare server', async () => fetch(`${ceiling.url}/`).then((r) => r.ok, () => false));
    for (const n of [3, 1]) {
      await phase(`the ${n}-node cells`, async () => {
        log(`starting a ${n}-member etcd and a ${n}-node Concord`);
        const etcdC = await EtcdCluster.create(n, ETCD_FLAGS);
        const suts: Sut[] = [etcdSut(etcdC)];
        try {
          const cc = await concordCluster(n);
          suts.push(concordSut(cc.cluster, cc.stop));
          await loadBoth(suts, (await etcdC.leader()).clientUrl);
          let g = 0;
          for (let round = 1; round <= ROUNDS; round++) {
            if (n === 3) {
              for (const conns of CONNS) {
                for (const op of OPS) await runGroup(round, g++, n, op, conns, suts, op === 'ser-get' ? ceiling : undefined);
                for (const op of GRPC_OPS) await runGroup(round, g++, n, op, conns, suts);
              }
            } else {
              for (const op of SINGLE_OPS) await runGroup(round, g++, n, op, SINGLE_CONNS, suts);
            }
          }
        } finally {
          for (const s of suts) await s.stop();
        }
      });
    }
  } finally {
    bare.kill();
    unregisterBare();
  }
}

async function main(results: Results): Promise<void> {
  cellTotal = ROUNDS * (CONNS.length * ((OPS.length + GRPC_OPS.length) * 2 + (OPS.includes('ser-get') ? 1 : 0)) + SINGLE_OPS.length * 2);
  log(`${cellTotal} cells of ${WARMUP} s warm-up + ${SECONDS} s; about ${Math.round((cellTotal * (WARMUP + SECONDS)) / 60)} min of load, plus setup, startup timing and the ${MEMORY_KEYS.toLocaleString('en')}-key memory test`);

  // Time to a working cluster first, while nothing else of ours runs.
  await phase('startup timing', async () => {
    for (let i = 0; i < STARTUP_RUNS; i++) {
      const c: StartupTime = await timeNpmStart();
      results.startup.concord.push(c);
      const e = await timeEtcdStart();
      results.startup.etcdMs.push(e);
      log(`startup ${i + 1}/${STARTUP_RUNS}: npm start → nodes up ${(c.nodesUpMs / 1000).toFixed(2)} s, → write+read ${(c.writeReadMs / 1000).toFixed(2)} s; etcd (3 members) → put+range ${(e / 1000).toFixed(2)} s`);
    }
  });

  await comparison();

  // Memory after loading MEMORY_KEYS keys, one system at a time.
  if (MEMORY_KEYS > 0) {
    await phase('the Concord memory test', async () => {
      results.memory.push(await memory('concord'));
    });
    await phase('the etcd memory test', async () => {
      results.memory.push(await memory('etcd'));
    });
  }
}

function rssAll(pids: { name: string; pid: number }[]): { name: string; rss: Rss }[] {
  return pids.map((p) => ({ name: p.name, rss: rss(p.pid) }));
}

/** A fresh 3-node cluster of one system: RSS of each member before and 5 s after loading MEMORY_KEYS keys. */
async function memory(system: 'etcd' | 'concord'): Promise<MemoryResult> {
  const how = system === 'concord' ? 'POST /v1/batch, 5,000 puts a request' : 'POST /v3/kv/txn, 1,000 puts a request';
  log(`memory: a fresh 3-node ${system}, loading ${MEMORY_KEYS.toLocaleString('en')} keys (${how}, 4 in flight)`);
  let pids: { name: string; pid: number }[];
  let leader: string;
  let send: (from: number, to: number) => Promise<void>;
  let stop: () => Promise<void>;
  let follower: string;
  if (system === 'concord') {
    const cc = await concordCluster(3);
    stop = cc.stop;
    pids = cc.cluster.nodes.map((n) => ({ name: n.id, pid: n.proc!.pid! }));
    const l = await cc.cluster.leader();
    [leader, send] = [l.id, concordBatch(l.url, VALUE)];
    follower = `${cc.cluster.nodes.find((x) => x !== l)!.url}/v1/kv/key-${MEMORY_KEYS - 1}?consistency=serializable`;
  } else {
    const c = await EtcdCluster.create(3, ETCD_FLAGS);
    stop = () => c.stop();
    pids = c.members.map((m) => ({ name: m.name, pid: m.proc!.pid! }));
    const l = await c.leader();
    [leader, send] = [l.name, etcdTxn(l.clientUrl, VALUE)];
    follower = '';
  }
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const before = rssAll(pids);
    const load = await bulkLoad(MEMORY_KEYS, system === 'concord' ? 5000 : 1000, 4, send);
    for (const f of load.failures) note(`${system} memory load: ${f}`);
    // Let followers apply and background work (snapshots, compaction) settle.
    await new Promise((r) => setTimeout(r, 5000));
    if (follower) {
      const probe = await fetch(follower);
      if (!probe.ok) note(`${system} memory test: a follower did not have key-${MEMORY_KEYS - 1} 5 s after the load (${probe.status})`);
    }
    const after = rssAll(pids);
    log(`memory: ${system} loaded in ${load.seconds.toFixed(1)} s (slowest request ${(load.slowestMs / 1000).toFixed(1)} s, ${load.failures.length} retried); RSS ${after.map((a) => `${a.name} ${a.rss.rssMiB.toFixed(0)} MiB`).join(', ')}`);
    return { system, leader, keys: MEMORY_KEYS, load, before, after };
  } finally {
    await stop();
  }
}

function write(results: Results): string {
  results.cells = medianRuns(results.runs ?? results.cells);
  const dir = path.join(here, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = results.date.slice(0, 16).replace(/:/g, '-');
  // A full run that went wrong somewhere keeps only its dated copy: latest stays the last good one.
  const names = !results.full ? ['quick'] : failed ? [stamp] : ['latest', stamp];
  for (const name of names) {
    fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(results, null, 1)}\n`);
    fs.writeFileSync(path.join(dir, `${name}.svg`), renderSvg(results));
    fs.writeFileSync(path.join(dir, `${name}.md`), renderMarkdown(results, `${name}.svg`));
  }
  return path.join(dir, `${names[0]}.md`);
}

ensureWrk();
ensureEtcd();
if (GRPC_OPS.length > 0) ensureH2load();
const results = newResults();
try {
  await main(results);
} finally {
  results.env.loadEnd = os.loadavg()[0];
  results.durationSec = elapsedSec();
  const file = write(results);
  log(`done in ${(results.durationSec / 60).toFixed(1)} min; wrote ${path.relative(root, file)}${!results.full ? ' (a shortened run: latest.md left alone)' : failed ? ' (something failed: latest.md left alone)' : ' and a dated copy'}`);
  console.log(JSON.stringify({ bench: 'compare', report: file }));
}
if (failed) process.exitCode = 1;
