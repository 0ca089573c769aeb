// npm run bench -- shard-puts (= npx tsx bench/shard-puts.ts): puts spread over every node, Concord with
// --shards S next to etcd, in one run. Every system is a cluster of 3 processes on 127.0.0.1 (fresh temp
// dirs): etcd 3.4 (bench/etcd.ts), Concord --shards 1 and Concord --shards S for each S in BENCH_SHARDS.
// Concord waits until every shard has a leader and leadership has spread (each node leads ⌊S/n⌋..⌈S/n⌉
// shards) before any load. A cell = one wrk per node at once (1 thread each, the connections split evenly,
// random keys, the put script compare.ts uses for each system): any node takes any put, and a follower
// forwards it (etcd's followers to its leader, Concord's to the shard's leader). The cell's ops/s is the sum;
// its p50 the request-weighted mean of the per-node p50s, its p99 the worst node's p99 (conservative).
// Cells run in rounds, every system once a round, the order rotating; ratios pair each round's Concord run
// with that round's etcd run. BENCH_SCALE=1 adds Concord --shards BENCH_SCALE_SHARDS next to etcd on 3, 5
// and 7 nodes, same load.
//
// Writes bench/results/shard-puts-latest.{md,json} (a shortened run: quick.shard-puts.*), prints the markdown,
// then one JSON line naming the file for bench/run.ts. Progress goes to stderr.
// Env: BENCH_SECONDS (10), BENCH_WARMUP (2), BENCH_CONNECTIONS (64, in all), BENCH_ROUNDS (3),
// BENCH_SHARDS (3,6,12), BENCH_SCALE (0), BENCH_SCALE_SHARDS (12).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from '../testkit/wait.ts';
import type { ProcNode } from '../testkit/processes.ts';
import { concordCluster, concordVersion, srcChanged } from './concord-cluster.ts';
import { ensureEtcd, etcdPost, EtcdCluster, etcdVersion } from './etcd.ts';
import { cpuSeconds } from './procstat.ts';
import { ensureWrk, wrkAsync, wrkVersion, type WrkOptions, type WrkResult } from './wrk.ts';
import { progress } from './progress.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const num = (name: string, dflt: number) => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : dflt);

const SECONDS = num('BENCH_SECONDS', 10);
const WARMUP = num('BENCH_WARMUP', Math.min(2, SECONDS));
const CONNS = num('BENCH_CONNECTIONS', 64);
const ROUNDS = Math.max(1, num('BENCH_ROUNDS', 3));
/** The S values besides 1 (always measured, as the baseline); each once. */
const SHARDS = [...new Set((process.env.BENCH_SHARDS || '3,6,12').split(',').map(Number))].filter((s) => s !== 1);
const SCALE = num('BENCH_SCALE', 0) > 0;
const SCALE_SHARDS = num('BENCH_SCALE_SHARDS', 12);
const SCALE_NODES = [3, 5, 7];
const KEYS = 10_000;
const IDLE_SECONDS = 3;
const FULL = SECONDS >= 10 && ROUNDS >= 3 && CONNS === 64;

/** The put scripts compare.ts drives each system with: 100-byte values, a uniformly random key of KEYS. */
export const PUT_SCRIPT: Record<'etcd' | 'concord', Pick<WrkOptions, 'script' | 'env'>> = {
  etcd: { script: 'etcd.lua', env: { OP: 'put', SERIALIZABLE: '0', KEYS: String(KEYS) } },
  concord: { script: 'concord.lua', env: { OP: 'put', KEYS: String(KEYS) } },
};

const { log, note, notes, elapsedSec } = progress('shard-puts');

// ---- the cell -----------------------------------------------------------------------------------------

export interface SpreadResult {
  rps: number;
  requests: number;
  errors: number;
  /** Request-weighted mean of the per-node p50s. */
  p50ms: number;
  /** The worst node's p99 (and p99.9): conservative, the whole cell's own p99 is at most this. */
  p99ms: number;
  p999ms: number;
  perNode: Array<{ url: string; conns: number; r: WrkResult }>;
}

/** `conns` connections split as evenly as they go over `n` targets (64 over 3: 22, 21, 21). */
export function split(conns: number, n: number): number[] {
  if (conns < n) throw new Error(`${conns} connections cannot be spread over ${n} nodes`);
  return Array.from({ length: n }, (_, i) => Math.floor(conns / n) + (i < conns % n ? 1 : 0));
}

/** One wrk per url, all at once for `seconds`, a thread each; their results summed as SpreadResult says. */
export async function spreadPut(urls: string[], script: Pick<WrkOptions, 'script' | 'env'>, conns: number, seconds: number): Promise<SpreadResult> {
  const c = split(conns, urls.length);
  const rs = await Promise.all(urls.map((url, i) => wrkAsync(url, { ...script, connections: c[i], seconds, threads: 1 })));
  const requests = rs.reduce((a, r) => a + r.requests, 0);
  return {
    rps: rs.reduce((a, r) => a + r.rps, 0),
    requests,
    errors: rs.reduce((a, r) => a + r.errors, 0),
    p50ms: rs.reduce((a, r) => a + r.p50ms * r.requests, 0) / requests,
    p99ms: Math.max(...rs.map((r) => r.p99ms)),
    p999ms: Math.max(...rs.map((r) => r.p999ms)),
    perNode: rs.map((r, i) => ({ url: urls[i], conns: c[i], r })),
  };
}

// ---- the systems --------------------------------------------------------------------------------------

interface ClusterShard {
  id: string;
  leader: string | null;
  term?: number;
  /** False for a shard the answering node holds no copy of (it then knows no leader). */
  hosted?: boolean;
}

/** The shards as `node` sees them (GET /v1/cluster); with --shards 1, the one group g0. */
export async function shardsOf(node: ProcNode): Promise<ClusterShard[]> {
  const r = await fetch(`${node.url}/v1/cluster`, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`${node.id} /v1/cluster: ${r.status}`);
  return ((await r.json()) as { shards: ClusterShard[] }).shards;
}

/**
 * Every shard as the nodes holding a copy report it (a node lists the shards it does not hold with no leader):
 * the leader they agree on, or null while any of them knows none or they disagree.
 */
export function mergeShardViews(views: ReadonlyArray<ClusterShard[]>): ClusterShard[] {
  return views[0].map((s, i) => {
    const copies = views.map((v) => v[i]).filter((c) => c !== undefined && c.hosted !== false);
    const leader = copies.length > 0 && copies.every((c) => c.leader !== null && c.leader === copies[0].leader) ? copies[0].leader : null;
    return { ...(copies[0] ?? s), leader };
  });
}

/** How many shards each node leads, from one view: `n1 4, n2 4, n3 4`. */
const leaderCounts = (ids: string[], shards: ClusterShard[]) => ids.map((id) => `${id} ${shards.filter((s) => s.leader === id).length}`).join(', ');

/**
 * Until every node sees `shards` shards, each with the same leader on every node, and each node leads
 * ⌊S/n⌋..⌈S/n⌉ of them. Returns the view and how long it took; throws with the last view on a timeout.
 */
export async function waitSpread(nodes: ProcNode[], shards: number, timeoutMs = 60_000): Promise<{ shards: ClusterShard[]; ms: number }> {
  const start = Date.now();
  const [lo, hi] = [Math.floor(shards / nodes.length), Math.ceil(shards / nodes.length)];
  let last = 'no answer yet';
  const view = await until(() => `every one of ${shards} shards led, each node leading ${lo}..${hi} (last seen: ${last})`, async () => {
    const views = await Promise.all(nodes.map((n) => shardsOf(n).catch(() => undefined)));
    if (views.some((v) => !v || v.length !== shards)) return undefined;
    const v0 = mergeShardViews(views as ClusterShard[][]);
    last = `${v0.map((s) => `${s.id}:${s.leader}`).join(' ')}; ${leaderCounts(nodes.map((n) => n.id), v0)}`;
    if (v0.some((s) => s.leader === null)) return undefined;
    const counts = nodes.map((n) => v0.filter((s) => s.leader === n.id).length);
    return counts.every((k) => k >= lo && k <= hi) ? v0 : undefined;
  }, timeoutMs);
  return { shards: view, ms: Date.now() - start };
}

interface Sut {
  name: string;
  system: 'etcd' | 'concord';
  nodes: number;
  shards?: number;
  urls: string[];
  pids(): number[];
  /** Each Raft group's leader and term, `group → leader@term`, for telling elections apart. */
  leaders(): Promise<Map<string, string>>;
  /** The tail of every member's output, for a cell with errors. */
  output(): string;
  stop(): Promise<void>;
  /** Where leadership stood when measuring began, how long the wait for it took, the CPU it used idle. */
  settled: string;
}

async function etcdSystem(n: number): Promise<Sut> {
  const c = await EtcdCluster.create(n);
  return {
    name: 'etcd',
    system: 'etcd',
    nodes: n,
    urls: c.members.map((m) => m.clientUrl),
    pids: () => c.pids(),
    async leaders() {
      const l = await c.leader();
      const st = await etcdPost<{ raft_term: string }>(l.clientUrl, '/v3/maintenance/status', {});
      return new Map([['raft', `${l.name}@${st.raft_term}`]]);
    },
    output: () => c.members.map((m) => `--- ${m.name}\n${m.output.join('').slice(-1500)}`).join('\n'),
    stop: () => c.stop(),
    settled: `leader ${(await c.leader()).name}`,
  };
}

async function concordSystem(n: number, shards: number): Promise<Sut> {
  const { cluster, stop } = await concordCluster(n, ['--shards', String(shards)]);
  try {
    const { shards: view, ms } = await waitSpread(cluster.nodes, shards);
    return {
      name: `Concord --shards ${shards}`,
      system: 'concord',
      nodes: n,
      shards,
      urls: cluster.nodes.map((x) => x.url),
      pids: () => cluster.nodes.flatMap((x) => (x.proc?.pid !== undefined && x.proc.exitCode === null ? [x.proc.pid] : [])),
      async leaders() {
        const views = (await Promise.all(cluster.nodes.map((node) => shardsOf(node).catch(() => undefined)))).filter((v): v is ClusterShard[] => v !== undefined);
        return views.length === 0 ? new Map() : new Map(mergeShardViews(views).map((s) => [s.id, `${s.leader}@${s.term ?? '?'}`]));
      },
      output: () => cluster.nodes.map((x) => `--- ${x.id}\n${x.output.join('').slice(-1500)}`).join('\n'),
      stop,
      settled: `${leaderCounts(cluster.nodes.map((x) => x.id), view)} (${(ms / 1000).toFixed(1)} s after /health)`,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

// ---- the rounds ---------------------------------------------------------------------------------------

interface Run {
  part: 'main' | 'scale';
  system: string;
  nodes: number;
  round: number;
  /** Its place in the round's order, from 1. */
  order: number;
  r: SpreadResult;
  /** CPU of the system's processes during the measured run, % of one core, all members together. */
  cpuPct: number;
  /** CPU of the other systems' processes (idle clusters left running) meanwhile, % of one core. */
  othersCpuPct: number;
  load1: number;
}

const runs: Run[] = [];
let failed = false;
let cellNo = 0;
let cellTotal = 0;

function changes(a: Map<string, string>, b: Map<string, string>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).map((k) => `${k} ${a.get(k) ?? '–'} → ${b.get(k) ?? '–'}`);
}

const lastLeaders = new Map<Sut, Map<string, string>>();

async function cell(part: Run['part'], s: Sut, all: Sut[], round: number, order: number): Promise<void> {
  cellNo++;
  const label = `${s.nodes} nodes · ${s.name} · round ${round}`;
  const before = await s.leaders();
  const prev = lastLeaders.get(s);
  if (prev && changes(prev, before).length > 0) note(`${label}: leadership changed since its last cell: ${changes(prev, before).join('; ')}`);
  const script = PUT_SCRIPT[s.system];
  if (WARMUP > 0) await spreadPut(s.urls, script, CONNS, WARMUP);
  const others = all.filter((o) => o !== s).flatMap((o) => o.pids());
  const pids = s.pids();
  const sum = (ps: number[]) => ps.reduce((a, p) => a + cpuSeconds(p), 0);
  const [cpu0, other0, w0] = [sum(pids), sum(others), performance.now()];
  const r = await spreadPut(s.urls, script, CONNS, SECONDS);
  const wall = (performance.now() - w0) / 1000;
  const cpuPct = (100 * (sum(pids) - cpu0)) / wall;
  const othersCpuPct = (100 * (sum(others) - other0)) / wall;
  const load1 = os.loadavg()[0];
  runs.push({ part, system: s.name, nodes: s.nodes, round, order, r, cpuPct, othersCpuPct, load1 });
  const after = await s.leaders();
  lastLeaders.set(s, after);
  if (changes(before, after).length > 0) note(`${label}: leadership changed during the cell: ${changes(before, after).join('; ')}`);
  log(`[${cellNo}/${cellTotal}] ${label}: ${Math.round(r.rps).toLocaleString('en')} puts/s (${r.perNode.map((p) => Math.round(p.r.rps)).join(' + ')}), p50 ${r.p50ms.toFixed(2)} p99 ${r.p99ms.toFixed(2)} ms, errors ${r.errors}, server CPU ${cpuPct.toFixed(0)}%, others ${othersCpuPct.toFixed(0)}%, load ${load1.toFixed(1)}`);
  for (const p of r.perNode) if (p.r.unreadable !== undefined) note(`${label}: wrk's output for ${p.url} gave no request rate (counted as an error); it ended:\n${p.r.unreadable}`);
  if (r.errors > 0.001 * r.requests) {
    note(`${label}: ${r.errors} errors out of ${r.requests} requests (${r.perNode.map((p) => `${p.url}: non-2xx ${p.r.non2xx}, socket ${JSON.stringify(p.r.socketErrors)}`).join('; ')})\n${s.output()}`);
  }
}

/** ROUNDS rounds over `suts`, every system once a round, the order rotating by one each round. */
async function rounds(part: Run['part'], suts: Sut[]): Promise<void> {
  for (let round = 1; round <= ROUNDS; round++) {
    const k = (round - 1) % suts.length;
    const order = [...suts.slice(k), ...suts.slice(0, k)];
    for (const [i, s] of order.entries()) {
      try {
        await cell(part, s, suts, round, i + 1);
      } catch (e) {
        failed = true;
        note(`${s.nodes} nodes · ${s.name} · round ${round} failed: ${(e as Error).message}\n${s.output()}`.slice(0, 4000));
      }
    }
  }
}

/** Starts the systems one after the other (a failed start is noted and left out), runs `fn`, stops them all. */
async function withSystems(starts: Array<[string, () => Promise<Sut>]>, fn: (suts: Sut[]) => Promise<void>): Promise<Sut[]> {
  const suts: Sut[] = [];
  try {
    for (const [name, start] of starts) {
      log(`starting ${name}`);
      try {
        const s = await start();
        suts.push(s);
        log(`${name} up; ${s.settled}`);
      } catch (e) {
        failed = true;
        note(`${name} did not start: ${(e as Error).message}`.slice(0, 4000));
      }
    }
    // What each costs standing idle (ticks, heartbeats, gossip), all of them up and none under load.
    const sum = (s: Sut) => s.pids().reduce((a, p) => a + cpuSeconds(p), 0);
    const cpu0 = suts.map(sum);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    suts.forEach((s, i) => (s.settled += `; idle ${((100 * (sum(s) - cpu0[i])) / IDLE_SECONDS).toFixed(0)}% CPU (${IDLE_SECONDS} s, all systems idle)`));
    await fn(suts);
  } finally {
    for (const s of suts) await s.stop();
  }
  return suts;
}

// ---- the report ---------------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ops = (v: number) => Math.round(v).toLocaleString('en');
const x2 = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');

interface Results {
  date: string;
  full: boolean;
  env: { concord: string; srcChanged: boolean; etcd: string; node: string; wrk: string; cpus: string; nproc: number; kernel: string; memGiB: number; loadStart: number; loadEnd: number };
  params: { seconds: number; warmup: number; conns: number; rounds: number; shards: number[]; keys: number; scale: boolean; scaleShards: number };
  settled: Array<{ part: Run['part']; system: string; nodes: number; leaders: string }>;
  runs: Run[];
  notes: string[];
  durationSec: number;
}

/** A system's median run by ops/s (the lower middle one), and its ratios to etcd paired by round. */
function summary(rs: Run[], part: Run['part'], nodes: number, system: string) {
  const mine = rs.filter((x) => x.part === part && x.nodes === nodes && x.system === system).sort((a, b) => a.round - b.round);
  const byRps = [...mine].sort((a, b) => a.r.rps - b.r.rps);
  const med = byRps[Math.floor((byRps.length - 1) / 2)];
  const pair = (f: (r: SpreadResult) => number) => mine.flatMap((m) => {
    const e = rs.find((x) => x.part === part && x.nodes === nodes && x.system === 'etcd' && x.round === m.round);
    return e ? [f(m.r) / f(e.r)] : [];
  });
  const rpsRatios = pair((r) => r.rps);
  const p99Ratios = pair((r) => r.p99ms);
  return { mine, med, rpsRatios, p99Ratios, rps: median(rpsRatios), p99: median(p99Ratios) };
}

function systemTable(res: Results, part: Run['part'], nodes: number, systems: string[]): string[] {
  const L = [
    '| system | puts/s (median round) | each round | vs etcd, paired (each round) | p50 ms | p99 ms (worst node) | p99 vs etcd, paired | errors | server CPU | CPU per put | load 1 min |',
    '| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const name of systems) {
    const s = summary(res.runs, part, nodes, name);
    if (!s.med) continue;
    const m = s.med;
    const vs = name === 'etcd' ? '—' : `**${x2(s.rps)}** (${s.rpsRatios.map((v) => v.toFixed(2)).join(', ')})`;
    const p99vs = name === 'etcd' ? '—' : `${x2(s.p99)} (${s.p99Ratios.map((v) => v.toFixed(2)).join(', ')})`;
    L.push(`| ${name} | ${ops(m.r.rps)} | ${s.mine.map((x) => ops(x.r.rps)).join(', ')} | ${vs} | ${m.r.p50ms.toFixed(2)} | ${ms(m.r.p99ms)} | ${p99vs} | ${m.r.errors} | ${m.cpuPct.toFixed(0)}% | ${Math.round((m.cpuPct / 100) * 1e6 / m.r.rps)} µs | ${m.load1.toFixed(1)} |`);
  }
  return L;
}

function roundsTable(res: Results, part: Run['part']): string[] {
  const L = [
    '| nodes | round | # | system | puts/s | per node | p50 ms | p99 ms per node | errors | server CPU | idle clusters\' CPU | load |',
    '| ---: | ---: | ---: | --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const x of res.runs.filter((r) => r.part === part)) {
    L.push(`| ${x.nodes} | ${x.round} | ${x.order} | ${x.system} | ${ops(x.r.rps)} | ${x.r.perNode.map((p) => ops(p.r.rps)).join(' / ')} | ${x.r.p50ms.toFixed(2)} | ${x.r.perNode.map((p) => ms(p.r.p99ms)).join(' / ')} | ${x.r.errors} | ${x.cpuPct.toFixed(0)}% | ${x.othersCpuPct.toFixed(0)}% | ${x.load1.toFixed(1)} |`);
  }
  return L;
}

export function renderMarkdown(res: Results): string {
  const p = res.params;
  const systems = ['etcd', 'Concord --shards 1', ...p.shards.map((s) => `Concord --shards ${s}`)];
  const L: string[] = [];
  L.push(`# Sharded puts spread over every node: Concord vs etcd — ${res.date.slice(0, 16).replace('T', ' ')} UTC`, '');
  if (!res.full) L.push('> **Shortened run** (fewer seconds or rounds, or other connections, than `npm run bench -- shard-puts` with no env): not for quoting.', '');
  L.push('## Method', '');
  L.push(`- **Machine:** nproc ${res.env.nproc} (${res.env.cpus}), ${res.env.memGiB.toFixed(0)} GiB, ${res.env.kernel}; shared with other work. Load average (1 min) ${res.env.loadStart.toFixed(2)} at the start, ${res.env.loadEnd.toFixed(2)} at the end; each run's is in the tables.`);
  L.push(`- **Versions:** Concord ${res.env.concord}${res.env.srcChanged ? ' **with uncommitted changes under src/ in the work tree**' : ''} on Node ${res.env.node}; etcd ${res.env.etcd} (Debian's etcd-server); wrk ${res.env.wrk}.`);
  L.push(`- **Clusters:** every system 3 processes on 127.0.0.1, fresh temp dirs, default settings, all started before the first cell and left running (idle) while the others are measured — their CPU meanwhile is in the rounds table. etcd: bench/etcd.ts. Concord: \`concord server … --grpc-addr <free port> --shards S\` (bench/concord-cluster.ts), S = 1 and ${p.shards.join(', ')}; before measuring, every shard had a leader agreed by every node and each node led ⌊S/3⌋..⌈S/3⌉ shards (the leaders at that moment are listed below).`);
  L.push(`- **Load:** one wrk per node, all at once (1 thread each), ${p.conns} connections in all split evenly (${split(p.conns, 3).join(' / ')}), the put scripts compare.ts uses (etcd: \`POST /v3/kv/put\` through its JSON gateway; Concord: \`PUT /v1/kv/{key}\`), a key of ${p.keys.toLocaleString('en')} picked uniformly per request, 100-byte values; nothing preloaded. A node that does not lead forwards: etcd's follower to its leader, Concord's to the key's shard leader. ${p.warmup} s warm-up, then ${p.seconds} s measured.`);
  L.push(`- **Figures:** puts/s = the sum over the nodes' wrk runs. p50 = the mean of the per-node p50s weighted by requests. **p99 = the worst node's p99**: conservative, the cell's own p99 is no higher. errors = non-2xx + socket errors. server CPU = CPU time of the system's 3 processes during the measured run, % of one core (from /proc); CPU per put = that over puts/s. load = 1-minute load average right after the run.`);
  L.push(`- **Rounds:** ${p.rounds} rounds, every system once a round, the order rotating by one each round (the # column). Each system's row is its median round by puts/s; "vs etcd, paired" is the median of the per-round ratios (Concord's run over etcd's run of the same round), each round's in brackets.`);
  L.push(`- **Reproduce:** \`npm run bench -- shard-puts\` (${(res.durationSec / 60).toFixed(1)} min here)${p.scale ? `; with \`BENCH_SCALE=1\` (this run) also etcd and Concord --shards ${p.scaleShards} on ${SCALE_NODES.join(', ')} nodes` : ''}.`);
  L.push('', '## 3 nodes, spread put', '');
  L.push(...systemTable(res, 'main', 3, systems), '');
  L.push(`Targets: put ≥ 2× etcd and put p99 ≤ 0.5× etcd's (paired medians above). ${systems.slice(1).map((name) => {
    const s = summary(res.runs, 'main', 3, name);
    return `${name}: ${s.med ? `${s.rps >= 2 ? 'put **pass**' : 'put **miss**'}, ${s.p99 <= 0.5 ? 'p99 **pass**' : 'p99 **miss**'}` : 'not measured'}`;
  }).join('; ')}.`, '');
  if (p.scale) {
    L.push(`## Scale-out: etcd and Concord --shards ${p.scaleShards} on ${SCALE_NODES.join(', ')} nodes`, '');
    for (const n of SCALE_NODES) {
      if (!res.runs.some((x) => x.part === 'scale' && x.nodes === n)) continue;
      L.push(`**${n} nodes** (${split(p.conns, n).join(' / ')} connections)`, '');
      L.push(...systemTable(res, 'scale', n, ['etcd', `Concord --shards ${p.scaleShards}`]), '');
    }
  }
  L.push('## Every run', '');
  L.push(...roundsTable(res, 'main'), '');
  if (p.scale) L.push(...roundsTable(res, 'scale'), '');
  L.push('## Leaders when measuring began', '');
  for (const s of res.settled) L.push(`- ${s.nodes} nodes, ${s.system}: ${s.leaders}`);
  L.push('', '## Notes', '');
  L.push(...(res.notes.length > 0 ? res.notes.map((n) => `- ${n.split('\n')[0]}${n.includes('\n') ? ` (node output in the JSON)` : ''}`) : ['- none: no errors, no leadership change between or during the cells']));
  return `${L.join('\n')}\n`;
}

// ---- main ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  ensureWrk();
  ensureEtcd();
  const res: Results = {
    date: new Date().toISOString(),
    full: FULL,
    env: {
      concord: concordVersion(), srcChanged: srcChanged(), etcd: etcdVersion(), node: process.version, wrk: wrkVersion(),
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`, nproc: os.availableParallelism(), kernel: `${os.type()} ${os.release()}`,
      memGiB: os.totalmem() / 2 ** 30, loadStart: os.loadavg()[0], loadEnd: NaN,
    },
    params: { seconds: SECONDS, warmup: WARMUP, conns: CONNS, rounds: ROUNDS, shards: SHARDS, keys: KEYS, scale: SCALE, scaleShards: SCALE_SHARDS },
    settled: [],
    runs,
    notes,
    durationSec: NaN,
  };
  const keep = (part: Run['part']) => (suts: Sut[]) => res.settled.push(...suts.map((s) => ({ part, system: s.name, nodes: s.nodes, leaders: s.settled })));
  cellTotal = ROUNDS * ((2 + SHARDS.length) + (SCALE ? 2 * SCALE_NODES.length : 0));
  log(`${cellTotal} cells of ${WARMUP} s warm-up + ${SECONDS} s; about ${Math.round((cellTotal * (WARMUP + SECONDS + 1)) / 60)} min of load plus starting the clusters`);
  try {
    keep('main')(await withSystems([
      ['etcd (3 members)', () => etcdSystem(3)],
      ...[1, ...SHARDS].map((s): [string, () => Promise<Sut>] => [`Concord --shards ${s} (3 nodes)`, () => concordSystem(3, s)]),
    ], (suts) => rounds('main', suts)));
    if (SCALE) {
      for (const n of SCALE_NODES) {
        keep('scale')(await withSystems([
          [`etcd (${n} members)`, () => etcdSystem(n)],
          [`Concord --shards ${SCALE_SHARDS} (${n} nodes)`, () => concordSystem(n, SCALE_SHARDS)],
        ], (suts) => rounds('scale', suts)));
      }
    }
  } catch (e) {
    failed = true;
    note(`the run failed: ${(e as Error).stack ?? String(e)}`.slice(0, 4000));
  } finally {
    res.env.loadEnd = os.loadavg()[0];
    res.durationSec = elapsedSec();
    const md = renderMarkdown(res);
    const dir = path.join(here, 'results');
    fs.mkdirSync(dir, { recursive: true });
    // A shortened run leaves latest alone; quick.* is git-ignored.
    const base = path.join(dir, FULL ? 'shard-puts-latest' : 'quick.shard-puts');
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(res, null, 1)}\n`);
    fs.writeFileSync(`${base}.md`, md);
    console.log(md);
    log(`done in ${(res.durationSec / 60).toFixed(1)} min; wrote ${path.relative(root, base)}.{md,json}`);
    console.log(JSON.stringify({ bench: 'shard-puts', report: `${base}.md` }));
  }
  if (failed) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
