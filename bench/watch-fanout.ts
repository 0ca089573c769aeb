// npm run bench -- watch-fanout (= npx tsx bench/watch-fanout.ts): how many watchers one node serves and how
// fast it delivers to them, Concord against etcd in the same run.
//
// For each system (a 3-member cluster, started fresh: Concord's `concord server`, etcd from Debian's
// etcd-server) and each N in BENCH_WATCHERS: N watchers of the prefix `w/` on one follower, opened by two
// client processes (bench/watch-fanout-worker.ts; Concord's GET /v1/watch server-sent events, etcd's
// POST /v3/watch through its gateway); then a writer puts to the leader at a fixed rate for BENCH_SECONDS,
// RATE = BENCH_EVENTS_PER_SEC / N puts a second, so both systems are asked for the same deliveries. Each
// value is the writer's clock at the put; the workers record how long after it each event arrived.
// Reported: events delivered per second (against N × RATE asked), delivery latency p50 / p99, the
// watched node's RSS before the watchers and with them (bytes per watcher), and watchers cut off.
// The machine runs server and clients alike (2 cores here): the figures are of the pair, as the ratios are.
//
// Writes bench/results/watch-fanout-latest.md (a shortened run, BENCH_SECONDS < 20: results/quick.watch-fanout.md),
// then one JSON line naming it for bench/run.ts. Env: BENCH_WATCHERS (1000,10000), BENCH_SECONDS (20),
// BENCH_EVENTS_PER_SEC (20000), BENCH_SYSTEMS (etcd,concord).
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { concordCluster, concordVersion, srcChanged } from './concord-cluster.ts';
import { ensureEtcd, etcdPost, etcdVersion, EtcdCluster } from './etcd.ts';
import { rss } from './procstat.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);
const WATCHERS = (process.env.BENCH_WATCHERS || '1000,10000').split(',').map(Number);
const SECONDS = num('BENCH_SECONDS', 20);
const EVENTS_PER_SEC = num('BENCH_EVENTS_PER_SEC', 20_000);
const SYSTEMS = (process.env.BENCH_SYSTEMS || 'etcd,concord').split(',') as Array<'etcd' | 'concord'>;
const WORKERS = 2;
const PREFIX = 'w/';

interface Row {
  system: string;
  watchers: number;
  putsPerSec: number;
  asked: number;
  delivered: number;
  p50: number;
  p99: number;
  rssBefore: number;
  rssWith: number;
  cut: number;
  openSeconds: number;
}

const log = (s: string) => console.error(`watch-fanout: ${s}`);

/** A system under test: where watchers go, how to put, the watched process. */
interface Target {
  watchUrl: string;
  pid: number;
  put(key: string, value: string): Promise<void>;
  stop(): Promise<void>;
}

async function concordTarget(): Promise<Target> {
  const { cluster, stop } = await concordCluster(3);
  const leader = await cluster.leader();
  const watched = cluster.nodes.find((n) => n !== leader)!;
  return {
    watchUrl: watched.url,
    pid: watched.proc!.pid!,
    put: async (key, value) => {
      const r = await fetch(`${leader.url}/v1/kv/${key}`, { method: 'PUT', body: value });
      await r.arrayBuffer();
      if (!r.ok) throw new Error(`put: ${r.status}`);
    },
    stop,
  };
}

async function etcdTarget(): Promise<Target> {
  ensureEtcd();
  const c = await EtcdCluster.create(3);
  const leader = await c.leader();
  const watched = await c.follower();
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    watchUrl: watched.clientUrl,
    pid: watched.proc!.pid!,
    put: async (key, value) => {
      await etcdPost(leader.clientUrl, '/v3/kv/put', { key: b64(key), value: b64(value) });
    },
    stop: () => c.stop(),
  };
}

function message<T>(child: ChildProcess, test: (m: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    const on = (m: T) => {
      if (!test(m)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
  });
}

async function measure(system: 'etcd' | 'concord', n: number): Promise<Row> {
  const target = system === 'etcd' ? await etcdTarget() : await concordTarget();
  const workers: ChildProcess[] = [];
  try {
    const rssBefore = rss(target.pid).rssMiB;
    const t0 = performance.now();
    for (let i = 0; i < WORKERS; i++) workers.push(fork(path.join(here, 'watch-fanout-worker.ts'), [system, target.watchUrl, String(n / WORKERS), PREFIX], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
    await Promise.all(workers.map((w) => message<{ opened?: number }>(w, (m) => m.opened !== undefined, 120_000, `${n / WORKERS} watchers to open`)));
    const openSeconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    const rssWith = rss(target.pid).rssMiB;
    const rate = EVENTS_PER_SEC / n;
    log(`${system}: ${n} watchers open in ${openSeconds.toFixed(1)} s (RSS ${rssBefore.toFixed(0)} → ${rssWith.toFixed(0)} MiB); ${rate} puts/s for ${SECONDS} s`);
    for (const w of workers) w.send('record');
    const start = performance.now();
    let puts = 0;
    while (performance.now() - start < SECONDS * 1000) {
      const due = start + (puts * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await target.put(`${PREFIX}${puts % 100}`, String(performance.timeOrigin + performance.now()));
      puts++;
    }
    await new Promise((r) => setTimeout(r, 2000)); // the last events' way to the watchers
    const seconds = (performance.now() - start) / 1000;
    const reports = await Promise.all(workers.map((w) => {
      const got = message<{ events: number; cut: number; histogram: Array<[number, number]> }>(w, (m) => m.events !== undefined, 60_000, 'a report');
      w.send('report');
      return got;
    }));
    const merged = new Map<number, number>();
    for (const r of reports) for (const [b, c] of r.histogram) merged.set(b, (merged.get(b) ?? 0) + c);
    const delivered = reports.reduce((s, r) => s + r.events, 0);
    return {
      system,
      watchers: n,
      putsPerSec: puts / (seconds - 2),
      asked: puts * n,
      delivered,
      p50: quantile(merged, delivered, 0.5),
      p99: quantile(merged, delivered, 0.99),
      rssBefore,
      rssWith,
      cut: reports.reduce((s, r) => s + r.cut, 0),
      openSeconds,
    };
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    await target.stop();
  }
}

/** The q-quantile (ms) of a histogram of 0.1 ms buckets. */
function quantile(h: Map<number, number>, total: number, q: number): number {
  let seen = 0;
  for (const b of [...h.keys()].sort((x, y) => x - y)) {
    seen += h.get(b)!;
    if (seen >= q * total) return b / 10;
  }
  return NaN;
}

const rows: Row[] = [];
for (const n of WATCHERS) for (const system of SYSTEMS) rows.push(await measure(system, n));

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const lines = [
  `# Watch fan-out — ${new Date().toISOString().slice(0, 16)}`,
  '',
  `Concord ${concordVersion()}${srcChanged() ? ' + uncommitted changes in src/' : ''}, etcd ${SYSTEMS.includes('etcd') ? etcdVersion() : '(not run)'}; ${SECONDS} s of puts per cell at ${EVENTS_PER_SEC.toLocaleString('en')} events/s asked (puts/s × watchers); watchers on one follower of 3, opened by ${WORKERS} client processes on the same machine.`,
  '',
  '| system | watchers | puts/s | events asked | delivered | delivered/s | p50 ms | p99 ms | RSS before MiB | RSS with watchers MiB | KiB per watcher | cut off | open s |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.system} | ${r.watchers.toLocaleString('en')} | ${f(r.putsPerSec)} | ${r.asked.toLocaleString('en')} | ${r.delivered.toLocaleString('en')} | ${Math.round(r.delivered / SECONDS).toLocaleString('en')} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.rssBefore)} | ${f(r.rssWith)} | ${f(((r.rssWith - r.rssBefore) * 1024) / r.watchers)} | ${r.cut} | ${f(r.openSeconds)} |`),
  '',
  ...WATCHERS.flatMap((n) => {
    const [e, c] = [rows.find((r) => r.system === 'etcd' && r.watchers === n), rows.find((r) => r.system === 'concord' && r.watchers === n)];
    return e && c ? [`${n.toLocaleString('en')} watchers: Concord delivered ${f(c.delivered / Math.max(1, e.delivered), 2)}× etcd's events, p99 ${f(c.p99 / e.p99, 2)}× etcd's, memory per watcher ${f((c.rssWith - c.rssBefore) / Math.max(0.001, e.rssWith - e.rssBefore), 2)}× etcd's.`] : [];
  }),
  '',
];
const report = lines.join('\n');
const file = path.join(here, 'results', SECONDS >= 20 ? 'watch-fanout-latest.md' : 'quick.watch-fanout.md');
fs.writeFileSync(file, report);
console.error(report);
console.log(JSON.stringify({ report: file }));
