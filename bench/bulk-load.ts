// Loading many keys fast: key-<from> … key-<to-1> per request (Concord POST /v1/batch, etcd POST /v3/kv/txn),
// a few requests in flight. Puts are idempotent, so a failed request (e.g. a 504 "not committed in time")
// is retried, up to 5 times, and every failure is recorded for the report.
import { etcdPost } from './etcd.ts';

export interface LoadStats {
  keys: number;
  seconds: number;
  requests: number;
  slowestMs: number;
  /** One line per failed attempt (retried). */
  failures: string[];
}

export type Send = (from: number, to: number) => Promise<void>;

export async function bulkLoad(count: number, perRequest: number, concurrency: number, send: Send): Promise<LoadStats> {
  const stats: LoadStats = { keys: count, seconds: 0, requests: 0, slowestMs: 0, failures: [] };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + perRequest);
      for (let attempt = 1; ; attempt++) {
        const t = performance.now();
        try {
          stats.requests++;
          await send(from, next);
          stats.slowestMs = Math.max(stats.slowestMs, performance.now() - t);
          break;
        } catch (e) {
          const at = ((performance.now() - t0) / 1000).toFixed(1);
          stats.failures.push(`keys ${from}…${next - 1} (attempt ${attempt}, ${at} s into the load, after ${(performance.now() - t).toFixed(0)} ms): ${(e as Error).message.slice(0, 200)}`);
          if (attempt >= 5) throw e;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  }));
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}

export function concordBatch(url: string, value: Buffer): Send {
  const v = value.toString('utf8');
  return async (from, to) => {
    const ops = [];
    for (let i = from; i < to; i++) ops.push({ op: 'put', key: `key-${i}`, value: v });
    const r = await fetch(`${url}/v1/batch`, { method: 'POST', body: JSON.stringify({ ops }), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(120_000) });
    const text = await r.text();
    if (!r.ok) throw new Error(`Concord POST /v1/batch: ${r.status} ${text.slice(0, 200)}`);
  };
}

/** etcd's --max-txn-ops must allow `to - from` puts in one transaction. */
export function etcdTxn(url: string, value: Buffer): Send {
  const v = value.toString('base64');
  return async (from, to) => {
    const success = [];
    for (let i = from; i < to; i++) success.push({ request_put: { key: Buffer.from(`key-${i}`).toString('base64'), value: v } });
    await etcdPost(url, '/v3/kv/txn', { success }, 120_000);
  };
}
