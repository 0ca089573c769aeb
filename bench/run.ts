// npm run bench [-- NAME…]: runs the benchmarks in bench/ and prints a table each. Figures are ratios
// against a reference measured in the same run, because this machine is shared and noisy.
// Default: raft-throughput (seconds) and compare (Concord vs etcd vs the node:http ceiling over HTTP, and
// Concord's gRPC vs etcd's; ~22 min; writes bench/results/latest.md). Others run only when named: `npm run bench -- cluster-http disk-bound`,
// `npm run bench -- shard-puts` (puts spread over every node, Concord --shards S vs etcd; bench/results/shard-puts-latest.md);
// `npm run bench -- idle-cluster` (CPU and RSS of idle nodes at --shards S, groups quiet and not; bench/results/idle-cluster-latest.md);
// `npm run bench -- move-latency` (puts while a fourth node takes its share of the shards' replicas; bench/results/move-latency-latest.md);
// `npm run bench -- memory-soak` (RSS of each node under a 15-minute 50/50 put/get load, etcd vs --shards S; bench/results/memory-soak-latest.md);
// `npm run bench -- watch-fanout` (1,000 and 10,000 watchers on one node under puts, etcd vs Concord; bench/results/watch-fanout-latest.md);
// `npm run bench -- compare` runs the comparison alone.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const DEFAULT = ['raft-throughput.ts', 'compare.ts'];
const OPT_IN = ['cluster-http.ts', 'disk-bound.ts', 'large-value.ts', 'shard-puts.ts', 'idle-cluster.ts', 'memory-soak.ts', 'move-latency.ts', 'watch-fanout.ts'];
const only = process.argv.slice(2);
const benches = only.length === 0 ? DEFAULT : [...DEFAULT, ...OPT_IN].filter((b) => only.some((o) => b.includes(o)));
if (benches.length === 0) {
  console.error(`no benchmark matches ${only.join(' ')}; there are: ${[...DEFAULT, ...OPT_IN].map((b) => b.replace(/\.ts$/, '')).join(', ')}`);
  process.exit(2);
}

const fmt = (v: unknown) => (typeof v === 'number' ? v.toFixed(2) : '');
for (const b of benches) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, b)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, number | string | boolean>);
  console.log(`\n## ${b}`);
  const measured = rows.filter((row) => typeof row.opsPerSec === 'number' && typeof row.ratioToBaseline === 'number');
  if (measured.length > 0) {
    console.log('| measurement | ops/s | p50 ms | p99 ms | errors | ratio to baseline |\n| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const row of measured) {
      console.log(`| ${row.name} | ${Math.round(row.opsPerSec as number).toLocaleString('en')} | ${fmt(row.p50ms)} | ${fmt(row.p99ms)} | ${row.errors ?? ''} | ${(row.ratioToBaseline as number).toFixed(3)} |`);
    }
  }
  // A benchmark that writes a report of its own (compare) names the file; show it.
  for (const row of rows.filter((x) => typeof x.report === 'string')) {
    console.log(fs.readFileSync(row.report as string, 'utf8'));
    console.log(`(${row.report})`);
  }
  for (const row of rows.filter((x) => x.summary)) console.log(JSON.stringify(row));
  if (r.status !== 0) process.exitCode = 1;
}
