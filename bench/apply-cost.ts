// npx tsx bench/apply-cost.ts [CHECKOUT…]: what applying a put costs the state machine, in µs — through
// KvStore.applyAllSync, the Raft host's path, in batches of 8 entries, 100-byte values on 10,000 keys, after
// a warm-up past the history's default window, so its compaction runs. One process, no cluster: a measure of
// the store alone (history, read cache, LMDB). Given other checkouts (e.g. a clone of an earlier commit with
// node_modules linked), measures each in turn, twice, for a same-minute comparison.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BATCH = 8;
const WARMUP_BATCHES = 15_000;
const BATCHES = 25_000;

if (process.env.APPLY_COST_CHILD) {
  const { KvStore } = (await import(path.join(process.env.APPLY_COST_CHILD, 'src/storage/kv-store.ts'))) as typeof import('../src/storage/kv-store.ts');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apply-cost-'));
  const store = new KvStore({ env: path.join(dir, 'kv'), group: 'g1' });
  const value = new Uint8Array(100).fill(7);
  let index = 0;
  const batch = () =>
    Array.from({ length: BATCH }, () => {
      const key = Buffer.from(`key-${Math.floor(Math.random() * 10_000)}`);
      return { index: ++index, fn: (tx: import('../src/storage/kv-store.ts').KvTx) => tx.put(key, value) };
    });
  for (let i = 0; i < WARMUP_BATCHES; i++) store.applyAllSync(batch());
  const t0 = performance.now();
  for (let i = 0; i < BATCHES; i++) store.applyAllSync(batch());
  console.log(((performance.now() - t0) * 1000) / (BATCHES * BATCH));
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
} else {
  const here = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
  const checkouts = process.argv.length > 2 ? process.argv.slice(2) : [here];
  for (let round = 1; round <= 2; round++) {
    for (const c of checkouts) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, APPLY_COST_CHILD: path.resolve(c) }, encoding: 'utf8' });
      console.log(`round ${round}  ${c}: ${Number(r.stdout.trim()).toFixed(2)} µs per applied put${r.status !== 0 ? ` (failed: ${r.stderr.slice(-300)})` : ''}`);
    }
  }
}
