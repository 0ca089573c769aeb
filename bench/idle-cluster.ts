// npm run bench -- idle-cluster (= npx tsx bench/idle-cluster.ts): what an idle node of a real cluster costs,
// with every Raft group quiet (quiescence) and, for comparison, while the groups still heartbeat.
//
// For each S in BENCH_SHARDS: a 3-node static cluster (`concord server --shards S`, bench/concord-cluster.ts,
// fresh temp dirs, default settings, nothing written). Each node hosts S+1 groups (every shard and the
// metadata group g0; with S = 1, g0 is the one shard, so 1 group). Once every shard has a leader and
// leadership has spread (by the nodes' gauges on GET /metrics), wait until every node's `concord_raft_groups_quiesced`
// counts all its groups, then take each process's CPU (utime + stime of all its threads, /proc/PID/stat)
// over BENCH_SECONDS; then its RSS, and the gauge again. Nothing talks to the nodes during the window.
//
// Before quiescence: with the default timing (100 ms ticks, 10-tick election timeout) a group goes quiet
// 2 election timeouts = 2 s after its last activity, so no window of BENCH_SECONDS fits between leadership
// settling and quiescence. With BENCH_PRE=1 (the default) a second cluster per S is therefore started with
// `--election-ticks E`, an election timeout of BENCH_SECONDS + 10 s (see PRE_ELECTION_TICKS), so that no group
// goes quiet before the window ends; heartbeats still go out every tick (heartbeatTick is 1 whatever the election timeout), so that window is
// what the same groups cost while heartbeating. The gauge must read 0 at both ends of that window.
//
// Clusters run one at a time. Prints a markdown report and writes it to bench/results/idle-cluster-latest.md
// (a shortened run, BENCH_SECONDS < 20: results/quick.idle-cluster.md), then one JSON line naming the file
// for bench/run.ts. Progress on stderr. Env: BENCH_SHARDS (1,16,64,256), BENCH_SECONDS (20), BENCH_PRE (1).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../src/cluster/config.ts';
import type { ProcNode } from '../testkit/processes.ts';
import { until } from '../testkit/wait.ts';
import { concordCluster, concordVersion, srcChanged } from './concord-cluster.ts';
import { cpuSeconds, rss } from './procstat.ts';
import { progress } from './progress.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const num = (name: string, dflt: number) => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : dflt);

const SHARDS = (process.env.BENCH_SHARDS || '1,16,64,256').split(',').map(Number);
const SECONDS = num('BENCH_SECONDS', 20);
const PRE = num('BENCH_PRE', 1) > 0;
const FULL = SECONDS >= 20;
const NODES = 3;
const TARGET_PCT = 2;
const TARGET_SHARDS = 256;
/**
 * --election-ticks for the pre-quiescence clusters: an election timeout of BENCH_SECONDS + 10 s. A group is
 * first elected one randomized timeout (T..2T) after the start and goes quiet 2T after its last activity, so
 * not before 3T; leadership has settled by about 2T, and the window ends BENCH_SECONDS later, ~10 s before 3T.
 */
const PRE_ELECTION_TICKS = Math.ceil(((SECONDS + 10) * 1000) / DEFAULTS.tickMs);
const PRE_QUIET_AFTER_S = (2 * PRE_ELECTION_TICKS * DEFAULTS.tickMs) / 1000;

const { log, note, notes, elapsedSec } = progress('idle-cluster');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Raft groups a node hosts with S shards: every shard and g0, which is itself the shard when S = 1. */
const groupsPerNode = (shards: number) => (shards === 1 ? 1 : shards + 1);

// ---- what /proc and /metrics say ----------------------------------------------------------------------

/**
 * TCP data each process has sent so far, per connection (`ss -tinp`: bytes_sent, data_segs_out), keyed by the
 * connection's addresses. Idle, that is the peer links alone: nothing else talks during a window.
 */
function tcpSent(pids: number[]): Map<number, Map<string, { bytes: number; segs: number }>> {
  const out = new Map(pids.map((p) => [p, new Map<string, { bytes: number; segs: number }>()]));
  let text: string;
  try {
    text = execFileSync('ss', ['-tinpH', 'state', 'established'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch {
    return out;
  }
  // One line per connection (addresses, users:(("node",pid=N,fd=M))), then its tcp_info on an indented line.
  let conn: { pid: number; key: string } | undefined;
  for (const line of text.split('\n')) {
    if (!/^\s/.test(line)) {
      const pid = Number(/pid=(\d+)/.exec(line)?.[1]);
      conn = out.has(pid) ? { pid, key: line.trim().split(/\s+/).slice(2, 4).join(' ') } : undefined;
    } else if (conn) {
      const num = (field: string) => Number(new RegExp(`\\b${field}:(\\d+)`).exec(line)?.[1] ?? 0);
      out.get(conn.pid)?.set(conn.key, { bytes: num('bytes_sent'), segs: num('data_segs_out') });
      conn = undefined;
    }
  }
  return out;
}

/** What `after` sent beyond `before`, per process (a connection opened meanwhile counts from 0). */
function tcpDelta(before: ReturnType<typeof tcpSent>, after: ReturnType<typeof tcpSent>, pid: number): { bytes: number; segs: number } {
  let bytes = 0, segs = 0;
  for (const [key, v] of after.get(pid) ?? []) {
    const b = before.get(pid)?.get(key);
    bytes += v.bytes - (b?.bytes ?? 0);
    segs += v.segs - (b?.segs ?? 0);
  }
  return { bytes, segs };
}

/** The machine's busy and total CPU time so far, in clock ticks of all cores (/proc/stat's first line). */
function machineTicks(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total }; // idle and iowait are not busy
}

interface Gauges {
  /** concord_raft_groups_quiesced: this node's quiet groups. */
  quiet: number;
  /** concord_shards_led: data shards this node leads. */
  led: number;
  /** concord_raft_role{role="leader"}: 1 if this node leads the metadata group g0. */
  metaLeader: number;
}

/** The gauges this benchmark reads from a node's GET /metrics (a scrape reads; it wakes no group). */
async function gauges(node: ProcNode): Promise<Gauges> {
  const r = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`${node.id} /metrics: ${r.status}`);
  const text = await r.text();
  const read = (re: RegExp) => {
    const m = re.exec(text);
    if (!m) throw new Error(`${node.id} /metrics has no ${re.source}`);
    return Number(m[1]);
  };
  return { quiet: read(/^concord_raft_groups_quiesced (\d+)/m), led: read(/^concord_shards_led (\d+)/m), metaLeader: read(/^concord_raft_role\{role="leader"\} (\d+)/m) };
}

const quietCounts = (nodes: ProcNode[]) => Promise.all(nodes.map((n) => gauges(n).then((g) => g.quiet, () => NaN)));

/**
 * Until leadership has settled and spread, by the nodes' own gauges: g0 has exactly one leader, the nodes lead
 * S shards between them, each ⌊S/n⌋..⌈S/n⌉. (Not GET /v1/cluster, as shard-puts.ts's waitSpread does: at
 * S ≥ 128 it answers 500, MDB_READERS_FULL.) Returns how many shards each node leads.
 */
async function waitSettled(nodes: ProcNode[], shards: number, timeoutMs: number): Promise<number[]> {
  const [lo, hi] = [Math.floor(shards / nodes.length), Math.ceil(shards / nodes.length)];
  let last = 'no answer yet';
  return until(() => `g0 led and ${shards} shards led, each node leading ${lo}..${hi} (last seen: ${last})`, async () => {
    const gs = await Promise.all(nodes.map((n) => gauges(n).catch((e: Error) => e)));
    last = gs.map((g, i) => `${nodes[i].id}: ${g instanceof Error ? g.message : `g0 ${g.metaLeader ? 'leader' : 'not leader'}, leads ${g.led}`}`).join('; ');
    const ok = gs.every((g): g is Gauges => !(g instanceof Error)) && gs.reduce((a, g) => a + g.metaLeader, 0) === 1 &&
      gs.reduce((a, g) => a + g.led, 0) === shards && gs.every((g) => g.led >= lo && g.led <= hi);
    if (ok) return gs.map((g) => (g as Gauges).led);
    await sleep(230); // until() waits 20 ms more: a scrape of each node about every quarter second
    return undefined;
  }, timeoutMs);
}

// ---- one cluster --------------------------------------------------------------------------------------

interface Window {
  /** Per node, n1…n3: % of one core (all threads) over the window. */
  cpuPct: number[];
  rssMiB: number[];
  /** Write syscalls per second (mostly peer frames when idle). */
  /** TCP segments with data and bytes each node sent per second (the peer links: nothing else is open and busy). */
  segsPerSec: number[];
  bytesPerSec: number[];
  quietStart: number[];
  quietEnd: number[];
  seconds: number;
  load1: number;
  /** The whole machine's busy CPU in the window, % of one core, and the part not used by these 3 nodes. */
  machinePct: number;
  othersPct: number;
}

interface Cell {
  mode: 'quiet' | 'pre';
  shards: number;
  groups: number;
  /** From the start of the processes to every node answering /health, then to leadership spread. */
  healthyS: number;
  settledS: number;
  /** From leadership spread to every group quiet on every node ('quiet' cells). */
  toQuietS?: number;
  leaders: string;
  w?: Window;
  error?: string;
}

async function measure(nodes: ProcNode[], quietStart: number[]): Promise<Window> {
  const pids = nodes.map((n) => {
    const pid = n.proc?.pid;
    if (pid === undefined || n.proc?.exitCode !== null) throw new Error(`${n.id} is not running`);
    return pid;
  });
  const cpu0 = pids.map(cpuSeconds);
  const tcp0 = tcpSent(pids);
  const m0 = machineTicks();
  const w0 = performance.now();
  await sleep(SECONDS * 1000);
  const cpu1 = pids.map(cpuSeconds);
  const tcp1 = tcpSent(pids);
  const m1 = machineTicks();
  const seconds = (performance.now() - w0) / 1000;
  const load1 = os.loadavg()[0];
  const rssMiB = pids.map((p) => rss(p).rssMiB);
  const quietEnd = await quietCounts(nodes);
  const cpuPct = pids.map((_, i) => (100 * (cpu1[i] - cpu0[i])) / seconds);
  // /proc/stat counts in USER_HZ (100 a second) over all cores.
  const machinePct = (m1.busy - m0.busy) / seconds;
  return {
    cpuPct,
    rssMiB,
    segsPerSec: pids.map((p) => tcpDelta(tcp0, tcp1, p).segs / seconds),
    bytesPerSec: pids.map((p) => tcpDelta(tcp0, tcp1, p).bytes / seconds),
    quietStart,
    quietEnd,
    seconds,
    load1,
    machinePct,
    // /proc/stat samples per tick and per CPU, a process's times are accounted otherwise: a difference of ~1% of
    // a core either way is noise, and below 0 is shown as 0.
    othersPct: Math.max(0, machinePct - cpuPct.reduce((a, b) => a + b, 0)),
  };
}

async function runCell(mode: Cell['mode'], shards: number): Promise<Cell> {
  const groups = groupsPerNode(shards);
  const extra = ['--shards', String(shards), ...(mode === 'pre' ? ['--election-ticks', String(PRE_ELECTION_TICKS)] : [])];
  const cell: Cell = { mode, shards, groups, healthyS: NaN, settledS: NaN, leaders: '' };
  const label = `--shards ${shards}${mode === 'pre' ? ` --election-ticks ${PRE_ELECTION_TICKS} (before quiescence)` : ' (quiescent)'}`;
  log(`starting ${label}`);
  const start = Date.now();
  const { cluster, stop } = await concordCluster(NODES, extra);
  try {
    const nodes = cluster.nodes;
    cell.healthyS = (Date.now() - start) / 1000;
    // The first election waits one randomized election timeout (up to 2 of them), then leadership spreads.
    const electionS = (mode === 'pre' ? PRE_ELECTION_TICKS : DEFAULTS.electionTicks) * DEFAULTS.tickMs / 1000;
    const led = await waitSettled(nodes, shards, (2 * electionS + 120) * 1000);
    cell.settledS = (Date.now() - start) / 1000;
    cell.leaders = nodes.map((n, i) => `${n.id} ${led[i]}`).join(', ');
    log(`${label}: healthy after ${cell.healthyS.toFixed(1)} s, leadership spread after ${cell.settledS.toFixed(1)} s (${cell.leaders})`);
    let quietStart: number[];
    if (mode === 'quiet') {
      const settled = Date.now();
      let last: number[] = [];
      await until(() => `every node to report ${groups} groups quiet (last: ${last.join(' / ')})`, async () => {
        last = await quietCounts(nodes);
        if (last.every((q) => q === groups)) return true;
        await sleep(230); // until() waits 20 ms more: a scrape of each node about every quarter second
        return false;
      }, 180_000);
      cell.toQuietS = (Date.now() - settled) / 1000;
      quietStart = last;
      log(`${label}: all ${groups} groups quiet on every node ${cell.toQuietS.toFixed(1)} s after leadership spread`);
    } else {
      quietStart = await quietCounts(nodes);
      if (quietStart.some((q) => q !== 0)) note(`${label}: groups already quiet when the window began (${quietStart.join(' / ')})`);
    }
    const w = await measure(nodes, quietStart);
    cell.w = w;
    const want = mode === 'quiet' ? groups : 0;
    if (w.quietEnd.some((q) => q !== want)) note(`${label}: quiet groups at the end of the window ${w.quietEnd.join(' / ')}, not ${want} on every node`);
    log(`${label}: CPU ${w.cpuPct.map((c) => c.toFixed(2)).join(' / ')} % of a core, RSS ${w.rssMiB.map((r) => r.toFixed(0)).join(' / ')} MiB, quiet ${w.quietEnd.join(' / ')}, load ${w.load1.toFixed(2)}, machine ${w.machinePct.toFixed(0)}% (others ${w.othersPct.toFixed(0)}%)`);
  } finally {
    await stop();
  }
  return cell;
}

// ---- the report ---------------------------------------------------------------------------------------

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');

function table(cells: Cell[]): string[] {
  const L = [
    '| S | groups per node | CPU, % of one core: mean | max | per node (n1 / n2 / n3) | RSS MiB: mean | max | quiet at the end (at the start) | TCP sent per node: segments/s (bytes/s) | start → spread | spread → all quiet | load 1 min | machine busy (others) |',
    '| ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const c of cells) {
    if (!c.w) {
      L.push(`| ${c.shards} | ${c.groups} | failed: ${(c.error ?? '').split('\n')[0].slice(0, 200)} | | | | | | | | | | |`);
      continue;
    }
    const w = c.w;
    L.push(`| ${c.shards} | ${c.groups} | **${f2(mean(w.cpuPct))}%** | ${f2(Math.max(...w.cpuPct))}% | ${w.cpuPct.map(f2).join(' / ')} | ${f0(mean(w.rssMiB))} | ${f0(Math.max(...w.rssMiB))} | ${w.quietEnd.join(' / ')} (${w.quietStart.join(' / ')}) | ${w.segsPerSec.map((v, i) => `${f0(v)} (${f0(w.bytesPerSec[i])})`).join(' / ')} | ${c.settledS.toFixed(1)} s | ${c.toQuietS !== undefined ? `${c.toQuietS.toFixed(1)} s` : '—'} | ${w.load1.toFixed(2)} | ${f0(w.machinePct)}% (${f0(w.othersPct)}%) |`);
  }
  return L;
}

interface Results {
  date: string;
  concord: string;
  srcChanged: boolean;
  node: string;
  nproc: number;
  cpus: string;
  loadStart: number;
  loadEnd: number;
  cells: Cell[];
  durationSec: number;
}

function renderMarkdown(res: Results): string {
  const quiet = res.cells.filter((c) => c.mode === 'quiet');
  const pre = res.cells.filter((c) => c.mode === 'pre');
  const L: string[] = [];
  L.push(`# Idle cluster: CPU and memory of idle nodes, quiescent and not — ${res.date.slice(0, 16).replace('T', ' ')} UTC`, '');
  if (!FULL) L.push('> **Shortened run** (BENCH_SECONDS < 20): not for quoting.', '');
  L.push('## Method', '');
  L.push(`- **Machine:** nproc ${res.nproc} (${res.cpus}); shared with other work. Load average (1 min) ${res.loadStart.toFixed(2)} at the start, ${res.loadEnd.toFixed(2)} at the end; each window's, and the whole machine's busy CPU in it (/proc/stat, % of one core; in brackets the part not used by the 3 nodes measured, ±1%), are in the tables.`);
  L.push(`- **Version:** Concord ${res.concord}${res.srcChanged ? ' **with uncommitted changes under src/ in the work tree**' : ''}, Node ${res.node}.`);
  L.push(`- **Cluster:** 3 processes of \`concord server --peers … --shards S\` on 127.0.0.1 (bench/concord-cluster.ts; gRPC on a free port, no gossip, default tick ${DEFAULTS.tickMs} ms and election timeout ${DEFAULTS.electionTicks} ticks), fresh temp dirs, nothing written by a client; one cluster at a time. A node hosts every shard and the metadata group g0: S + 1 groups (1 when S = 1: g0 is the shard).`);
  L.push(`- **Window:** after leadership settled (by the gauges on GET /metrics: one node leading g0, the nodes leading S shards between them, each ⌊S/3⌋..⌈S/3⌉), and (quiescent table) every node's \`concord_raft_groups_quiesced\` counted all its groups: ${SECONDS} s with no request to any node; CPU = utime + stime of each process, all threads (/proc/PID/stat), over the window's wall time, % of one core; RSS = VmRSS at the end; TCP sent = data segments and bytes over each node's connections (\`ss -tinp\`, before and after; only the peer links carry anything in a window); quiet = the gauge at the end (at the start).`);
  L.push(`- **Before quiescence:** a group goes quiet 2 election timeouts (${(2 * DEFAULTS.electionTicks * DEFAULTS.tickMs) / 1000} s by default) after its last activity, so with the default timing no ${SECONDS} s window fits between leadership settling and quiescence (the "spread → all quiet" column). The second table's clusters are started with \`--election-ticks ${PRE_ELECTION_TICKS}\` (an election timeout of ${(PRE_ELECTION_TICKS * DEFAULTS.tickMs) / 1000} s, T: the first elections come T..2T after the start, quiescence ${PRE_QUIET_AFTER_S} s after a group's last activity, so not before 3T, after the window); the leader still heartbeats every tick, so the window is the cost of the same groups heartbeating. The gauge read 0 at both ends of the window unless the Notes say otherwise.`);
  L.push(`- **Reproduce:** \`npm run bench -- idle-cluster\` (${(res.durationSec / 60).toFixed(1)} min here); \`BENCH_SHARDS\`, \`BENCH_SECONDS\`, \`BENCH_PRE=0\` (skips the second table).`);
  L.push('', '## Quiescent (every group quiet)', '');
  L.push(...table(quiet), '');
  const t = quiet.find((c) => c.shards === TARGET_SHARDS && c.w);
  if (t?.w) {
    const max = Math.max(...t.w.cpuPct);
    L.push(`Target: a node hosting ${TARGET_SHARDS} idle replicas spends ≤ ${TARGET_PCT}% of one core. At S = ${TARGET_SHARDS}: mean ${f2(mean(t.w.cpuPct))}%, max ${f2(max)}% over the 3 nodes — **${max <= TARGET_PCT ? 'met' : 'missed'}**.`, '');
  } else {
    L.push(`Target: a node hosting ${TARGET_SHARDS} idle replicas spends ≤ ${TARGET_PCT}% of one core — not measured in this run (S = ${TARGET_SHARDS} not in BENCH_SHARDS, or it failed).`, '');
  }
  if (pre.length > 0) {
    L.push(`## Before quiescence (\`--election-ticks ${PRE_ELECTION_TICKS}\`, groups heartbeating)`, '');
    L.push(...table(pre), '');
  }
  L.push('## Leaders when measuring began', '');
  for (const c of res.cells) L.push(`- S = ${c.shards}, ${c.mode === 'quiet' ? 'quiescent' : 'before quiescence'}: ${c.leaders || '–'}`);
  L.push('', '## Notes', '');
  L.push(...(notes.length > 0 ? notes.map((n) => `- ${n.split('\n')[0]}`) : ['- none: every window began and ended with the quiet count expected']));
  return `${L.join('\n')}\n`;
}

// ---- main ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const res: Results = {
    date: new Date().toISOString(),
    concord: concordVersion(),
    srcChanged: srcChanged(),
    node: process.version,
    nproc: os.availableParallelism(),
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    loadStart: os.loadavg()[0],
    loadEnd: NaN,
    cells: [],
    durationSec: NaN,
  };
  let failed = false;
  log(`S = ${SHARDS.join(', ')}; ${SECONDS} s windows; ${PRE ? `also before quiescence (--election-ticks ${PRE_ELECTION_TICKS})` : 'quiescent only'}`);
  for (const shards of SHARDS) {
    for (const mode of PRE ? (['quiet', 'pre'] as const) : (['quiet'] as const)) {
      try {
        res.cells.push(await runCell(mode, shards));
      } catch (e) {
        failed = true;
        const error = (e as Error).message;
        note(`--shards ${shards} (${mode === 'quiet' ? 'quiescent' : 'before quiescence'}) failed: ${error}`.slice(0, 2000));
        res.cells.push({ mode, shards, groups: groupsPerNode(shards), healthyS: NaN, settledS: NaN, leaders: '', error });
      }
    }
  }
  res.loadEnd = os.loadavg()[0];
  res.durationSec = elapsedSec();
  const md = renderMarkdown(res);
  const dir = path.join(here, 'results');
  fs.mkdirSync(dir, { recursive: true });
  // A shortened run leaves latest alone; quick.* is git-ignored.
  const file = path.join(dir, FULL ? 'idle-cluster-latest.md' : 'quick.idle-cluster.md');
  fs.writeFileSync(file, md);
  console.log(md);
  log(`done in ${(res.durationSec / 60).toFixed(1)} min; wrote ${path.relative(root, file)}`);
  console.log(JSON.stringify({ bench: 'idle-cluster', report: file }));
  if (failed) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
