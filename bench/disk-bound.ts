// Disk use under sustained overwrites: one node (real LMDB files) takes OVERWRITES puts spread over
// 1,000 keys; the data dir's size is sampled as it goes. With snapshots and compaction it must level off.
// Prints one JSON line per sample and a summary line; not part of `npm run bench` by default (it is long).
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { startNodeCore } from '../src/node/node-core.ts';
import { tempDir } from '../testkit/temp.ts';
import { until } from '../testkit/wait.ts';
import { clusterConfigs } from '../testkit/node-configs.ts';

const OVERWRITES = Number(process.env.OVERWRITES ?? 1_000_000);
const CONCURRENCY = 256;

function du(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? du(p) : fs.statSync(p).blocks * 512;
  }
  return total;
}

const dir = tempDir('disk');
const [cfg] = await clusterConfigs(1, dir, { logLevel: 'silent' });
const node = await startNodeCore(cfg, pino({ level: 'silent' }));
await until('leader', () => node.group.node.status().role === 'leader');
const value = Buffer.alloc(100, 120);
let done = 0;
const started = Date.now();
const samples: number[] = [];
const sampler = setInterval(() => {
  const bytes = du(cfg.dataDir);
  samples.push(bytes);
  console.log(JSON.stringify({ bench: 'disk-bound', writes: done, bytes, logEntries: node.log.lastIndex() - node.log.firstIndex() + 1 }));
}, 2000);
await Promise.all(
  Array.from({ length: CONCURRENCY }, async (_, w) => {
    for (let i = w; i < OVERWRITES; i += CONCURRENCY) {
      await node.kv.put(Buffer.from(`key-${i % 1000}`), value);
      done++;
    }
  }),
);
clearInterval(sampler);
const final = du(cfg.dataDir);
const secs = (Date.now() - started) / 1000;
console.log(JSON.stringify({ bench: 'disk-bound', summary: true, overwrites: OVERWRITES, seconds: secs, writesPerSec: OVERWRITES / secs, maxBytes: Math.max(...samples, final), finalBytes: final, secondHalfMax: Math.max(...samples.slice(samples.length / 2), final) }));
await node.close();
fs.rmSync(dir, { recursive: true, force: true });
