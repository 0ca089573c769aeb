// npm run bench [-- NAME…]: runs the benchmarks in bench/ and prints a table each. Figures are ratios
// against a reference measured in the same run, because this machine is shared and noisy.
// Long ones run only when named: `npm run bench -- disk-bound`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const DEFAULT = ['raft-throughput.ts', 'cluster-http.ts'];
const OPT_IN = ['disk-bound.ts'];
const only = process.argv.slice(2);
const benches = only.length === 0 ? DEFAULT : [...DEFAULT, ...OPT_IN].filter((b) => only.some((o) => b.includes(o)));

const fmt = (v: unknown) => (typeof v === 'number' ? v.toFixed(2) : '');
for (const b of benches) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, b)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, number | string | boolean>);
  console.log(`\n## ${b}`);
  const measured = rows.filter((row) => typeof row.opsPerSec === 'number' && typeof row.ratioToBaseline === 'number');
  if (measured.length > 0) {
    console.log('| measurement | ops/s | p50 ms | p99 ms | errors | ratio to baseline |\n| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const row of measured) {
      console.log(`| ${row.name} | ${Math.round(row.opsPerSec as number).toLocaleString('en')} | ${fmt(row.p50ms)} | ${fmt(row.p99ms)} | ${row.errors ?? ''} | ${(row.ratioToBaseline as number).toFixed(3)} |`);
    }
  }
  for (const row of rows.filter((x) => x.summary)) console.log(JSON.stringify(row));
  if (r.status !== 0) process.exitCode = 1;
}
