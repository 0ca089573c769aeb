// The comparison's report: a markdown page (method, targets, tables) and a hand-written SVG chart, both
// from the results JSON. `tsx bench/report.ts bench/results/latest.json` renders them again from a saved run.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadStats } from './bulk-load.ts';
import type { Rss } from './procstat.ts';
import type { StartupTime } from './startup.ts';
import type { WrkResult } from './wrk.ts';
import { grpcMethod, grpcTable, isGrpcOp } from './grpc-report.ts';

/** The HTTP cells' operations, and the gRPC cells' (Concord's KV.Put / KV.Get, etcd's KV.Put / KV.Range). */
export type Op = 'put' | 'lin-get' | 'ser-get' | 'mix' | 'txn' | 'grpc-put' | 'grpc-lin-get';
export type System = 'etcd' | 'concord' | 'ceiling';

export interface CellResult {
  nodes: number;
  op: Op;
  conns: number;
  system: System;
  /** Which member (or server) the load went to. */
  target: string;
  r: WrkResult;
  /** CPU used by the system's processes during the measured run, % of one core (all members together). */
  cpuPct: number;
  load1: number;
  /** Which round of the run this was (1 when there was one). */
  round?: number;
  /** On a cell chosen by medianRuns: ops/s of every run of it, lowest first. */
  allRps?: number[];
}

export interface MemoryResult {
  system: 'etcd' | 'concord';
  leader: string;
  keys: number;
  load: LoadStats;
  before: { name: string; rss: Rss }[];
  after: { name: string; rss: Rss }[];
}

export interface Results {
  date: string;
  /** False for a shortened run (fewer seconds, connections, keys or startup runs than the full one). */
  full: boolean;
  env: { concord: string; etcd: string; node: string; wrk: string; h2load?: string; cpus: string; kernel: string; memGiB: number; loadStart: number; loadEnd: number };
  params: { seconds: number; warmup: number; conns: number[]; keys: number; valueBytes: number; singleConns: number; memoryKeys: number; rounds?: number };
  /** One per cell: its median run (what the tables, targets and chart show). */
  cells: CellResult[];
  /** Every run of every cell (absent in results written before rounds existed). */
  runs?: CellResult[];
  startup: { concord: StartupTime[]; etcdMs: number[] };
  memory: MemoryResult[];
  notes: string[];
  durationSec: number;
}

export const OP_LABEL: Record<Op, string> = {
  put: 'put',
  'lin-get': 'linearizable get',
  'ser-get': 'serializable get',
  mix: '90/10 get/put mix',
  txn: 'txn (compare + put)',
  'grpc-put': 'gRPC put',
  'grpc-lin-get': 'gRPC linearizable get',
};
const OP_SHORT: Record<Op, string> = { put: 'put', 'lin-get': 'lin get', 'ser-get': 'ser get', mix: 'mix 90/10', txn: 'txn', 'grpc-put': 'gRPC put', 'grpc-lin-get': 'gRPC lin get' };

const ops = (v: number) => Math.round(v).toLocaleString('en');
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const ratio = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * Each cell's median run by ops/s (the lower middle one for an even count), with every run's ops/s
 * attached: the run shown is one that happened, percentiles and CPU included, not an average of runs.
 */
export function medianRuns(runs: CellResult[]): CellResult[] {
  const byCell = new Map<string, CellResult[]>();
  for (const r of runs) {
    const k = `${r.nodes}/${r.op}/${r.conns}/${r.system}`;
    byCell.set(k, [...(byCell.get(k) ?? []), r]);
  }
  return [...byCell.values()].map((rs) => {
    const sorted = [...rs].sort((a, b) => a.r.rps - b.r.rps);
    return { ...sorted[Math.floor((sorted.length - 1) / 2)], allRps: sorted.map((x) => x.r.rps) };
  });
}

function find(res: Results, nodes: number, op: Op, conns: number, system: System): CellResult | undefined {
  return res.cells.find((c) => c.nodes === nodes && c.op === op && c.conns === conns && c.system === system);
}

/** The ceiling measured at this connection count (any cluster size; it is the same bare server). */
function ceilingAt(res: Results, conns: number): CellResult | undefined {
  return res.cells.find((c) => c.system === 'ceiling' && c.conns === conns) ?? res.cells.find((c) => c.system === 'ceiling');
}

export interface TargetCheck {
  what: string;
  measured: string;
  pass: boolean | undefined;
}

/**
 * Concord's figure over a reference's, paired by round: within a round the two ran one right after the
 * other (compare.ts runGroup), so each pair shares that minute's load on the machine. The median of the
 * rounds' ratios, and each of them in round order; undefined with fewer than two pairs (no rounds kept).
 */
export function pairedRatios(res: Results, op: Op, conns: number, reference: System, metric: (r: WrkResult) => number): { median: number; each: number[] } | undefined {
  const runs = (res.runs ?? []).filter((x) => x.nodes === 3 && x.op === op && x.conns === conns);
  const each: number[] = [];
  for (const c of runs.filter((x) => x.system === 'concord')) {
    const ref = runs.find((x) => x.system === reference && x.round === c.round);
    if (ref) each.push(metric(c.r) / metric(ref.r));
  }
  return each.length >= 2 ? { median: median(each), each } : undefined;
}

export function targets(res: Results): TargetCheck[] {
  const at = 64;
  const e = (op: Op) => find(res, 3, op, at, 'etcd');
  const c = (op: Op) => find(res, 3, op, at, 'concord');
  const out: TargetCheck[] = [];
  // The verdict reads the paired ratio when there are rounds, else the ratio of the two median runs.
  const check = (what: string, op: Op, reference: 'etcd' | 'ceiling', metric: (r: WrkResult) => number, show: (v: number) => string, pass: (v: number) => boolean) => {
    const cc = c(op);
    const ref = reference === 'ceiling' ? ceilingAt(res, at) : e(op);
    const fromMedians = cc && ref ? metric(cc.r) / metric(ref.r) : NaN;
    const paired = pairedRatios(res, op, at, reference, metric);
    const medians = `${ratio(fromMedians)} (${cc ? show(metric(cc.r)) : '–'} vs ${ref ? show(metric(ref.r)) : '–'})`;
    const v = paired?.median ?? fromMedians;
    out.push({
      what,
      measured: paired ? `**${ratio(paired.median)}** paired by round (${paired.each.map((x) => x.toFixed(2)).join(', ')}); median runs ${medians}` : medians,
      pass: Number.isFinite(v) ? pass(v) : undefined,
    });
  };
  const rps = (r: WrkResult) => r.rps;
  const p99 = (r: WrkResult) => r.p99ms;
  const opsText = (v: number) => `${ops(v)} ops/s`;
  const msText = (v: number) => `${f2(v)} ms`;
  for (const op of ['put', 'lin-get'] as const) check(`${OP_LABEL[op]} throughput ≥ 2× etcd`, op, 'etcd', rps, opsText, (v) => v >= 2);
  check('serializable get throughput ≥ 0.7× the node:http ceiling', 'ser-get', 'ceiling', rps, opsText, (v) => v >= 0.7);
  for (const op of ['put', 'lin-get'] as const) check(`${OP_LABEL[op]} p99 ≤ ½ etcd's`, op, 'etcd', p99, msText, (v) => v <= 0.5);
  // gRPC against etcd's own gRPC API, only when the run had those cells.
  if (res.cells.some((x) => isGrpcOp(x.op))) {
    check('gRPC linearizable get throughput ≥ 2× etcd gRPC', 'grpc-lin-get', 'etcd', rps, opsText, (v) => v >= 2);
    check('gRPC put throughput ≥ 1.5× etcd gRPC', 'grpc-put', 'etcd', rps, opsText, (v) => v >= 1.5);
  }
  return out;
}

function cellTable(res: Results, nodes: number): string[] {
  const lines = [
    '| cell | conns | system | sent to | ops/s | every run, ops/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU | Concord/etcd ops/s | Concord/ceiling ops/s | Concord/etcd p99 |',
    '| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const opsInRun = [...new Set(res.cells.filter((c) => c.nodes === nodes && c.system !== 'ceiling' && !isGrpcOp(c.op)).map((c) => c.op))];
  const connsInRun = [...new Set(res.cells.filter((c) => c.nodes === nodes).map((c) => c.conns))];
  for (const conns of connsInRun) {
    for (const op of opsInRun) {
      const e = find(res, nodes, op, conns, 'etcd');
      const c = find(res, nodes, op, conns, 'concord');
      const ceil = find(res, nodes, op, conns, 'ceiling');
      const ceilRef = ceilingAt(res, conns);
      for (const cell of [e, c, ceil]) {
        if (!cell) continue;
        const r = cell.r;
        const isC = cell.system === 'concord';
        const errs = r.errors === 0 ? '0' : `**${r.errors}** (${((100 * r.errors) / Math.max(1, r.requests)).toFixed(2)}%)`;
        const sys = cell.system === 'ceiling' ? 'node:http ceiling' : cell.system === 'concord' ? '**Concord**' : 'etcd';
        const every = (cell.allRps ?? [r.rps]).map(ops).join(' · ');
        lines.push(`| ${OP_LABEL[op]} | ${conns} | ${sys} | ${cell.target} | ${ops(r.rps)} | ${every} | ${f2(r.p50ms)} | ${f2(r.p99ms)} | ${f2(r.p999ms)} | ${errs} | ${cell.cpuPct.toFixed(0)}% | ${
          isC && e ? `**${ratio(r.rps / e.r.rps)}**` : ''} | ${isC && ceilRef ? ratio(r.rps / ceilRef.r.rps) : ''} | ${isC && e ? ratio(r.p99ms / e.r.p99ms) : ''} |`);
      }
    }
  }
  return lines;
}

export function renderMarkdown(res: Results, svgName: string): string {
  const p = res.params;
  const L: string[] = [];
  L.push(`# Concord vs etcd vs the node:http ceiling — ${res.date.slice(0, 16).replace('T', ' ')} UTC`);
  L.push('');
  if (!res.full) L.push('> **Shortened run** (fewer seconds, connections, keys or startup runs than `npm run bench -- compare` with no env): for trying the benchmark out, not for quoting.\n');
  L.push('## Method');
  L.push('');
  L.push(`- **Machine:** ${res.env.cpus}, ${res.env.memGiB.toFixed(0)} GiB, ${res.env.kernel}; shared with other work, so absolute figures are noisy — the ratios are what to read. Load average (1 min) ${res.env.loadStart.toFixed(1)} at the start, ${res.env.loadEnd.toFixed(1)} at the end; each cell's is in results JSON.`);
  L.push(`- **Versions:** Concord ${res.env.concord} on Node ${res.env.node}; etcd ${res.env.etcd} (Debian's etcd-server); wrk ${res.env.wrk}.`);
  L.push(`- **Clusters:** 3 members each (and 1 for the single-node rows), all on 127.0.0.1 on this one machine, fresh temp data dirs, default settings. etcd: \`etcd --name eN --listen-client-urls … --initial-cluster … ${'--max-txn-ops 1000'}\` (the last flag only lets the preload use 1,000-put transactions). Concord: \`concord server --node-id nN … --peers …\` (testkit/processes.ts ProcCluster). Both make their log durable before acknowledging a write (etcd's WAL, fdatasync; Concord's WAL, written with O_DSYNC).`);
  L.push(`- **Protocol:** etcd through its v3 JSON gateway, which the etcd process serves itself by proxying each request to its own gRPC server: put = \`POST /v3/kv/put {"key","value"}\` (base64), linearizable get = \`POST /v3/kv/range {"key"}\`, serializable get = the same with \`"serializable":true\`. Concord through HTTP v1: put = \`PUT /v1/kv/{key}\` (raw body), linearizable get = \`GET /v1/kv/{key}\`, serializable get = \`GET /v1/kv/{key}?consistency=serializable\`. The mix is 90% linearizable get, 10% put, chosen per request.`);
  L.push(`- **Data:** ${p.keys.toLocaleString('en')} keys \`key-0\` … \`key-${p.keys - 1}\`, ${p.valueBytes}-byte values, all preloaded in both systems before any cell; each request picks a key uniformly.`);
  L.push(`- **Where requests go:** put, linearizable get and the mix to the leader (etcd's found through \`/v3/maintenance/status\` on every member, Concord's through \`GET /v1/cluster\`), looked up again before every cell; serializable get to a follower. The bare \`node:http\` server (bench/bare-http.ts) answers \`GET /\` with a 14-byte JSON body: the most any single Node HTTP process does here.`);
  L.push(`- **Load:** wrk, 2 threads (the machine's cores are shared with the servers), ${p.conns.join(' and ')} keep-alive connections, Lua scripts in bench/wrk/ (etcd.lua, concord.lua, plain.lua). Each cell: ${p.warmup} s warm-up run, then ${p.seconds} s measured${(p.rounds ?? 1) > 1 ? `, ${p.rounds} times: the run goes over all cells ${p.rounds} times (rounds), and each row shows the cell's median run by ops/s — its own percentiles and CPU, not an average — with every run's ops/s beside it (all runs are in the JSON)` : ''}. Percentiles are wrk's (its latency histogram through a Lua \`done()\`), from send to complete response, without correction for coordinated omission. "errors" = non-2xx answers plus socket errors and timeouts (10 s). "server CPU" = CPU time of the system's processes (all members together) during the measured run, in % of one core.`);
  L.push(`- **Targets:** with rounds, each target's ratio is the median of its per-round ratios: Concord's run over the reference's run of the same round, which ran right next to it (etcd for put and get, the ceiling for serializable get). The ratio of the two cells' median runs is shown beside it. Pairing is what the interleaving is for: a minute of heavy load from elsewhere on the machine slows both runs of one pair, but only one side's runs when each side's median is taken on its own (chosen on 2026-12-04, after the 17:47 run, where one slow follower run set the ratio of medians to 0.65× against paired ratios of 0.88, 0.97 and 0.60; results before that show only the ratio of medians).`);
  L.push(`- **Fairness:** the cells are interleaved — for each cell etcd and Concord (and, for serializable get, the ceiling) run one right after the other against the same load, the order rotating from cell to cell — so drift in the machine's load hits both sides alike. Both clusters (and the bare server) stay up through the 3-node cells; only the one under load is busy.`);
  const grpcBullet = grpcMethod(res);
  if (grpcBullet) L.push(grpcBullet);
  L.push(`- **Single node:** a 1-member etcd and a 1-node Concord, put and linearizable get at ${p.singleConns} connections, same method.`);
  L.push(`- **Startup:** \`npm start\` (\`node bin/concord.js dev --nodes 3\`: the CLI from its bundle, here with a temp \`--data-dir\` and free \`--base-http-port\`/\`--base-raft-port\`/\`--base-grpc-port\`/\`--base-text-port\`) from spawn until "3 nodes up" is printed, and until a \`PUT\` is acknowledged and a linearizable \`GET\` returns it (polling every 20 ms); etcd: spawn of 3 members until a put and a linearizable range through the gateway succeed. Fresh data dirs each time.`);
  if (p.memoryKeys > 0) L.push(`- **Memory:** a fresh 3-node cluster of each, RSS of every member (from /proc) before and 5 s after loading ${p.memoryKeys.toLocaleString('en')} keys with ${p.valueBytes}-byte values (Concord: \`POST /v1/batch\` with 5,000 puts each; etcd: \`POST /v3/kv/txn\` with 1,000 puts each; 4 requests in flight; puts are idempotent, so a failed request is retried, up to 5 times, and listed under Notes). RSS counts resident pages of the memory-mapped data files too (LMDB for Concord, bbolt for etcd); "anon" is heap and stacks alone.`);
  L.push(`- **Reproduce:** \`npm run bench -- compare\` (${(res.durationSec / 60).toFixed(0)} min here); \`BENCH_SECONDS=2 BENCH_MEMORY_KEYS=100000 BENCH_STARTUP_RUNS=1 npm run bench -- compare\` for a quick look (written to bench/results/quick.md).`);
  L.push('');
  L.push(`![throughput and p99 latency per cell: etcd, Concord, and the node:http ceiling](${svgName})`);
  L.push('');
  L.push('## Targets (3 nodes, 64 connections)');
  L.push('');
  L.push('| target | measured (Concord vs reference) | |');
  L.push('| --- | --- | --- |');
  for (const t of targets(res)) L.push(`| ${t.what} | ${t.measured} | ${t.pass === undefined ? 'not measured' : t.pass ? '**pass**' : '**FAIL**'} |`);
  L.push('');
  L.push('## 3 nodes');
  L.push('');
  L.push(...cellTable(res, 3));
  L.push('');
  L.push(...grpcTable(res));
  if (res.cells.some((c) => c.nodes === 1)) {
    L.push('## 1 node');
    L.push('');
    L.push(...cellTable(res, 1));
    L.push('');
  }
  if (res.startup.concord.length > 0) {
    L.push('## Time to a working 3-node cluster');
    L.push('');
    L.push('| from spawn to | runs | median |');
    L.push('| --- | --- | ---: |');
    L.push(`| \`npm start\`: "3 nodes up" printed | ${res.startup.concord.map((s) => secs(s.nodesUpMs)).join(', ')} | ${secs(median(res.startup.concord.map((s) => s.nodesUpMs)))} |`);
    L.push(`| \`npm start\`: a write acknowledged and read back (linearizable) | ${res.startup.concord.map((s) => secs(s.writeReadMs)).join(', ')} | **${secs(median(res.startup.concord.map((s) => s.writeReadMs)))}** |`);
    L.push(`| etcd, 3 members: a put and a linearizable range answered | ${res.startup.etcdMs.map(secs).join(', ')} | ${secs(median(res.startup.etcdMs))} |`);
    L.push('');
  }
  if (res.memory.length > 0) {
    L.push(`## Memory after loading ${res.params.memoryKeys.toLocaleString('en')} keys (${res.params.valueBytes}-byte values), 3 nodes`);
    L.push('');
    L.push('| system | member | RSS before | RSS after | of which anon | of which file-mapped | load time | slowest request | failed requests (retried) |');
    L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const m of res.memory) {
      m.after.forEach((a, i) => {
        const b = m.before.find((x) => x.name === a.name);
        const who = `${a.name}${a.name === m.leader ? ' (leader)' : ''}`;
        L.push(`| ${m.system === 'concord' ? 'Concord' : 'etcd'} | ${who} | ${b ? b.rss.rssMiB.toFixed(0) : '–'} MiB | **${a.rss.rssMiB.toFixed(0)} MiB** | ${a.rss.anonMiB.toFixed(0)} MiB | ${a.rss.fileMiB.toFixed(0)} MiB | ${i === 0 ? `${m.load.seconds.toFixed(1)} s (${ops(m.keys / m.load.seconds)} keys/s)` : ''} | ${i === 0 ? secs(m.load.slowestMs) : ''} | ${i === 0 ? m.load.failures.length : ''} |`);
      });
    }
    L.push('');
  }
  L.push('## Notes');
  L.push('');
  if (res.notes.length === 0) L.push('- No cell had errors above 0.1% of its requests, and no leader moved during the run.');
  for (const n of res.notes) L.push(`- ${n}`);
  L.push('');
  return `${L.join('\n')}`;
}

// ---- SVG --------------------------------------------------------------------------------------------

const COLORS = { etcd: '#4c78a8', concord: '#f58518', ceiling: '#555' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): { max: number; step: number } {
  if (!(v > 0)) return { max: 1, step: 0.25 };
  const raw = v / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { max: Math.ceil(v / step) * step, step };
}

const short = (v: number) => (v === 0 ? '0' : v >= 10_000 ? `${(v / 1000).toFixed(0)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v >= 10 ? v.toFixed(0) : v.toFixed(1));

interface Group {
  label: string;
  sub: string;
  etcd?: CellResult;
  concord?: CellResult;
  ceiling?: CellResult;
}

export function renderSvg(res: Results): string {
  const groups: Group[] = [];
  const conns3 = [...new Set(res.cells.filter((c) => c.nodes === 3).map((c) => c.conns))];
  const ops3 = [...new Set(res.cells.filter((c) => c.nodes === 3 && c.system !== 'ceiling').map((c) => c.op))];
  for (const op of ops3) {
    for (const conns of conns3) {
      groups.push({ label: OP_SHORT[op], sub: `3 nodes · ${conns}c`, etcd: find(res, 3, op, conns, 'etcd'), concord: find(res, 3, op, conns, 'concord'), ceiling: ceilingAt(res, conns) });
    }
  }
  const ops1 = [...new Set(res.cells.filter((c) => c.nodes === 1).map((c) => c.op))];
  for (const op of ops1) {
    const conns = res.params.singleConns;
    groups.push({ label: OP_SHORT[op], sub: `1 node · ${conns}c`, etcd: find(res, 1, op, conns, 'etcd'), concord: find(res, 1, op, conns, 'concord'), ceiling: ceilingAt(res, conns) });
  }

  const W = Math.max(760, 110 + groups.length * 92);
  const left = 70;
  const right = 20;
  const gw = (W - left - right) / Math.max(1, groups.length);
  const bw = Math.min(30, gw * 0.32);
  const panelH = 230;
  const top1 = 100;
  const top2 = top1 + panelH + 80;
  const H = top2 + panelH + 70;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">Concord vs etcd, same machine, same run (${esc(res.date.slice(0, 10))})</text>`);
  const legendY = 50;
  const legend = [
    ['etcd', `<rect x="0" y="-9" width="12" height="12" fill="${COLORS.etcd}"/>`, `etcd ${res.env.etcd.split(' ')[0]}`],
    ['concord', `<rect x="0" y="-9" width="12" height="12" fill="${COLORS.concord}"/>`, `Concord ${res.env.concord.split(' ')[0]}`],
    ['ceiling', `<line x1="-2" y1="-3" x2="14" y2="-3" stroke="${COLORS.ceiling}" stroke-width="2" stroke-dasharray="4 3"/>`, 'bare node:http (ceiling)'],
  ];
  legend.forEach(([, mark, text], i) => out.push(`<g transform="translate(${left + i * 190},${legendY})">${mark}<text x="18" y="1">${esc(text)}</text></g>`));

  const panel = (top: number, title: string, value: (c: CellResult) => number, withCeiling: boolean, better: string, ratioText: (g: Group) => string) => {
    const vals = groups.flatMap((g) => [g.etcd, g.concord, withCeiling ? g.ceiling : undefined]).filter((c): c is CellResult => c !== undefined).map(value).filter(Number.isFinite);
    const { max, step } = niceMax(Math.max(0, ...vals) * 1.08);
    const y = (v: number) => top + panelH - (Math.min(v, max) / max) * panelH;
    out.push(`<text x="${left}" y="${top - 12}" font-size="13" font-weight="bold">${esc(title)}</text><text x="${W - right}" y="${top - 12}" text-anchor="end" fill="#666">${esc(better)}</text>`);
    for (let v = 0; v <= max + step / 2; v += step) {
      out.push(`<line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="${v === 0 ? '#999' : '#e5e5e5'}"/>`);
      out.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${esc(short(v))}</text>`);
    }
    groups.forEach((g, i) => {
      const cx = left + gw * (i + 0.5);
      if (i > 0 && groups[i - 1].sub.split(' · ')[0] !== g.sub.split(' · ')[0]) {
        out.push(`<line x1="${left + gw * i}" x2="${left + gw * i}" y1="${top - 4}" y2="${top + panelH + 40}" stroke="#bbb" stroke-dasharray="2 3"/>`);
      }
      (['etcd', 'concord'] as const).forEach((sys, k) => {
        const c = g[sys];
        if (!c) return;
        const v = value(c);
        if (!Number.isFinite(v)) return;
        const x = cx + (k === 0 ? -bw - 2 : 2);
        out.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(top + panelH - y(v)).toFixed(1)}" fill="${COLORS[sys]}"><title>${esc(`${sys} ${g.label} ${g.sub}: ${short(v)}`)}</title></rect>`);
        out.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="10" fill="#333">${esc(short(v))}</text>`);
      });
      if (withCeiling && g.ceiling) {
        const yc = y(value(g.ceiling)).toFixed(1);
        out.push(`<line x1="${(cx - gw * 0.45).toFixed(1)}" x2="${(cx + gw * 0.45).toFixed(1)}" y1="${yc}" y2="${yc}" stroke="${COLORS.ceiling}" stroke-width="2" stroke-dasharray="4 3"/>`);
        out.push(`<text x="${(cx - gw * 0.45).toFixed(1)}" y="${(Number(yc) - 4).toFixed(1)}" font-size="9" fill="${COLORS.ceiling}">${esc(`ceiling ${short(value(g.ceiling))}`)}</text>`);
      }
      out.push(`<text x="${cx.toFixed(1)}" y="${top + panelH + 15}" text-anchor="middle" font-weight="bold">${esc(g.label)}</text>`);
      out.push(`<text x="${cx.toFixed(1)}" y="${top + panelH + 28}" text-anchor="middle" fill="#555">${esc(g.sub)}</text>`);
      out.push(`<text x="${cx.toFixed(1)}" y="${top + panelH + 42}" text-anchor="middle" fill="${COLORS.concord}" font-weight="bold">${esc(ratioText(g))}</text>`);
    });
  };
  const r = (a?: CellResult, b?: CellResult, f?: (c: CellResult) => number) => (a && b && f ? f(a) / f(b) : NaN);
  panel(top1, 'Throughput, requests/s', (c) => c.r.rps, true, 'higher is better · orange figure: Concord ÷ etcd',
    (g) => { const v = r(g.concord, g.etcd, (c) => c.r.rps); return Number.isFinite(v) ? `×${v.toFixed(2)}` : ''; });
  panel(top2, 'p99 latency, ms', (c) => c.r.p99ms, false, 'lower is better · orange figure: Concord ÷ etcd',
    (g) => { const v = r(g.concord, g.etcd, (c) => c.r.p99ms); return Number.isFinite(v) ? `×${v.toFixed(2)}` : ''; });
  out.push(`<text x="${left}" y="${H - 10}" fill="#666">${esc(`${res.env.cpus} · wrk 2 threads${res.env.h2load ? ' (gRPC: h2load 2 threads)' : ''} · ${res.params.seconds} s per cell after ${res.params.warmup} s warm-up · ${res.params.keys.toLocaleString('en')} keys, ${res.params.valueBytes} B values · leader for put / lin get / mix, follower for ser get`)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// Re-render from a saved run: tsx bench/report.ts bench/results/latest.json
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/report.ts bench/results/<run>.json');
    process.exit(2);
  }
  const res = JSON.parse(fs.readFileSync(file, 'utf8')) as Results;
  const base = file.replace(/\.json$/, '');
  fs.writeFileSync(`${base}.svg`, renderSvg(res));
  fs.writeFileSync(`${base}.md`, renderMarkdown(res, `${path.basename(base)}.svg`));
  console.error(`wrote ${base}.md and ${base}.svg`);
}
