// npm run bench: runs every benchmark in bench/ and prints a table. Figures are ratios against a
// reference measured in the same run, because this machine is shared and noisy.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = ['raft-throughput.ts', 'cluster-http.ts'].filter((b) => only.length === 0 || only.some((o) => b.includes(o)));

for (const b of benches) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, b)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  console.log(`\n## ${b}`);
  console.log('| measurement | ops/s | p50 ms | p99 ms | errors | ratio to baseline |\n| --- | ---: | ---: | ---: | ---: | ---: |');
  const fmt = (v: unknown) => (typeof v === 'number' ? v.toFixed(2) : '');
  for (const row of rows) {
    console.log(`| ${row.name} | ${Math.round(row.opsPerSec).toLocaleString('en')} | ${fmt(row.p50ms)} | ${fmt(row.p99ms)} | ${row.errors ?? ''} | ${row.ratioToBaseline.toFixed(3)} |`);
  }
  if (r.status !== 0) process.exitCode = 1;
}
