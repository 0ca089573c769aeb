// npm run bench -- memory-soak: resident memory of each node under a long 50/50 put/get load on 100,000 small
// keys, etcd 3.4 against Concord at `--shards S` (BENCH_SHARDS, default 1,64), 3 processes each, one system at
// a time. The question is whether memory levels off, and where: per node, not per group (docs/sharding.md).
//
// Load: every key written once first, then one wrk per node (64 connections in all), the compare.ts scripts
// with a put share of one half, keys key-0 … key-99999 uniformly, 100-byte values. RSS (and its anonymous part) of every process from /proc every
// BENCH_SAMPLE_SECONDS (30) over BENCH_SOAK_SECONDS (900); BENCH_ETCD=0 runs Concord alone. Writes results/memory-soak-latest.md.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { concordCluster, concordVersion, srcChanged } from './concord-cluster.ts';
import { ensureEtcd, EtcdCluster, etcdVersion } from './etcd.ts';
import { rss } from './procstat.ts';
import { ensureWrk, wrkAsync, type WrkResult } from './wrk.ts';
import { bulkLoad, concordBatch, etcdTxn, type Send } from './bulk-load.ts';
import { progress } from './progress.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);
const SOAK = num('BENCH_SOAK_SECONDS', 900);
const EVERY = num('BENCH_SAMPLE_SECONDS', 30);
const CONNS = 64;
const KEYS = 100_000;
const SHARDS = (process.env.BENCH_SHARDS || '1,64').split(',').map(Number);
/** BENCH_ETCD=0 leaves etcd out (a look at Concord alone; the report then has no ratio). */
const WITH_ETCD = process.env.BENCH_ETCD !== '0';

const { log } = progress('memory-soak', 5);

interface System {
  name: string;
  urls: string[];
  pids: () => number[];
  script: string;
  env: Record<string, string>;
  /** Writes keys [from, to) (one key a request: a batch may not span shards). */
  preload: Send;
  stop: () => Promise<void>;
}

interface Sample {
  at: number;
  rss: number[];
  anon: number[];
}

interface Soak {
  name: string;
  samples: Sample[];
  opsPerSec: number;
  errors: number;
}

const load = { KEYS: String(KEYS), OP: 'mix', PUT_SHARE: '0.5' };
const VALUE = Buffer.alloc(100, 'v');

async function etcd(): Promise<System> {
  const c = await EtcdCluster.create(3);
  const urls = c.members.map((m) => m.clientUrl);
  return { name: 'etcd', urls, pids: () => c.pids(), script: 'etcd.lua', env: { ...load, SERIALIZABLE: '0' }, preload: etcdTxn(urls[0], VALUE), stop: () => c.stop() };
}

async function concord(shards: number): Promise<System> {
  const { cluster, stop } = await concordCluster(3, ['--shards', String(shards)]);
  const pids = () => cluster.nodes.map((n) => n.proc!.pid!);
  const urls = cluster.nodes.map((n) => n.url);
  return { name: `Concord --shards ${shards}`, urls, pids, script: 'concord.lua', env: load, preload: concordBatch(urls[0], VALUE), stop };
}

function sample(sys: System, at: number): Sample {
  const r = sys.pids().map((pid) => rss(pid));
  return { at, rss: r.map((x) => x.rssMiB), anon: r.map((x) => x.anonMiB) };
}

async function soak(sys: System): Promise<Soak> {
  const loaded = await bulkLoad(KEYS, 1, 64, sys.preload);
  log(`${sys.name}: ${KEYS} keys written in ${loaded.seconds.toFixed(1)} s (${loaded.failures.length} retries)`);
  const samples = [sample(sys, 0)];
  const start = Date.now();
  const per = sys.urls.map((_, i) => Math.floor(CONNS / sys.urls.length) + (i < CONNS % sys.urls.length ? 1 : 0));
  const runs = sys.urls.map((u, i) => wrkAsync(u, { script: sys.script, connections: per[i], seconds: SOAK, env: sys.env }));
  const timer = setInterval(() => {
    const s = sample(sys, Math.round((Date.now() - start) / 1000));
    samples.push(s);
    log(`${sys.name} t=${s.at}s RSS ${s.rss.map((v) => v.toFixed(0)).join(' / ')} MiB`);
  }, EVERY * 1000);
  let results: WrkResult[];
  try {
    results = await Promise.all(runs);
  } finally {
    clearInterval(timer);
  }
  samples.push(sample(sys, Math.round((Date.now() - start) / 1000)));
  return { name: sys.name, samples, opsPerSec: results.reduce((a, r) => a + r.rps, 0), errors: results.reduce((a, r) => a + r.errors, 0) };
}

const max = (xs: number[]) => Math.max(...xs);
const f0 = (v: number) => v.toFixed(0);

function report(soaks: Soak[]): string {
  const etcdRun = soaks.find((s) => s.name === 'etcd');
  const last = (s: Soak) => s.samples[s.samples.length - 1];
  const lines = [
    `# Memory under a 50/50 put/get soak: Concord vs etcd — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    '## Method',
    '',
    `- **Versions:** Concord ${concordVersion()}${srcChanged() ? ' (src/ changed since)' : ''}; etcd ${etcdVersion()}. 3 processes each on 127.0.0.1, default settings, one system at a time.`,
    `- **Load:** every key written once, then one wrk per node, ${CONNS} connections in all, half puts and half (linearizable) gets of a key picked uniformly of ${KEYS.toLocaleString('en')}, 100-byte values (about ${((KEYS * 110) / 2 ** 20).toFixed(0)} MiB of data), for ${SOAK} s. The first sample is taken after the keys are written.`,
    `- **Memory:** VmRSS (and RssAnon) of each process from /proc every ${EVERY} s; the tables show the largest node's.`,
    `- **Reproduce:** \`npm run bench -- memory-soak\` (BENCH_SOAK_SECONDS, BENCH_SHARDS).`,
    '',
    '## Summary',
    '',
    '| system | ops/s | errors | RSS at the end, largest node (MiB) | anon | vs etcd | peak RSS |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...soaks.map((s) => {
      const end = max(last(s).rss);
      const vs = etcdRun && s !== etcdRun ? `${(end / max(last(etcdRun).rss)).toFixed(2)}×` : '—';
      return `| ${s.name} | ${f0(s.opsPerSec)} | ${s.errors} | ${f0(end)} | ${f0(max(last(s).anon))} | ${vs} | ${f0(max(s.samples.map((x) => max(x.rss))))} |`;
    }),
    '',
    '## RSS over time, largest node (MiB)',
    '',
    `| s | ${soaks.map((s) => s.name).join(' | ')} |`,
    `| ---: | ${soaks.map(() => '---:').join(' | ')} |`,
  ];
  const rows = Math.max(...soaks.map((s) => s.samples.length));
  for (let i = 0; i < rows; i++) {
    const at = soaks.find((s) => s.samples[i])!.samples[i].at;
    lines.push(`| ${at} | ${soaks.map((s) => (s.samples[i] ? f0(max(s.samples[i].rss)) : '')).join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  if (WITH_ETCD) ensureEtcd();
  ensureWrk();
  const soaks: Soak[] = [];
  for (const make of [...(WITH_ETCD ? [etcd] : []), ...SHARDS.map((s) => () => concord(s))]) {
    const sys = await make();
    log(`${sys.name} up`);
    try {
      soaks.push(await soak(sys));
    } finally {
      await sys.stop();
    }
  }
  const file = path.join(here, 'results', SOAK >= 900 ? 'memory-soak-latest.md' : 'quick.memory-soak.md');
  fs.writeFileSync(file, report(soaks));
  console.log(JSON.stringify({ report: file }));
}

await main();
