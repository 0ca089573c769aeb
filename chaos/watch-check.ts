// Checks the watchers' streams of a chaos run (watchers.ts) against its history: every stream covers the
// whole run (each started before the first write and saw the closing sentinels, one per shard), so each must
// hold every acknowledged write exactly once, at the revision its client was told, with its value; nothing
// that was not written; revisions rising within each shard; and within each shard all streams must be the
// same sequence of changes — a write whose outcome its client never learned is in every stream or in none.
// (Across shards the order is each stream's own: revisions are per shard.)

import type { Operation } from './history.ts';
import type { WatchedChange } from './watchers.ts';

export interface WatchedStream {
  name: string;
  changes: WatchedChange[];
  failure?: string;
}

/** At most this many problems are listed (the first ones say enough). */
const MAX_PROBLEMS = 20;

/** Problems found, in words; none if every stream is right. `sentinels`: the keys of the closing writes, not part of the history. */
export function checkWatches(streams: readonly WatchedStream[], ops: readonly Operation[], sentinels: readonly string[]): string[] {
  const problems: string[] = [];
  const note = (p: string) => problems.length < MAX_PROBLEMS && problems.push(p);
  const written = new Set(ops.filter((op) => op.kind === 'put' || op.kind === 'cas').map((op) => `${op.key}=${op.value}`));
  const acked = ops.filter((op) => op.outcome === 'ok' && op.revision !== undefined && op.kind !== 'get');
  for (const s of streams) {
    if (s.failure) note(`${s.name}: the watch failed: ${s.failure}`);
    for (const k of sentinels) if (!s.changes.some((c) => c.key === k)) note(`${s.name}: never saw the closing write to ${k} (${s.changes.length} changes seen)`);
    const seen = new Map<string, WatchedChange>();
    const last = new Map<number, number>();
    for (const c of s.changes) {
      const id = `${c.key}@${c.revision}`;
      if (seen.has(id)) note(`${s.name}: the change to ${c.key} at revision ${c.revision} came twice`);
      seen.set(id, c);
      if (c.revision < (last.get(c.shard) ?? 0)) note(`${s.name}: revision ${c.revision} came after ${last.get(c.shard)} in shard ${c.shard}`);
      last.set(c.shard, c.revision);
      if (c.kind === 'put' && !sentinels.includes(c.key) && !written.has(`${c.key}=${c.value}`)) note(`${s.name}: a put of ${JSON.stringify(c.value)} to ${c.key} that no client wrote`);
    }
    for (const op of acked) {
      const c = seen.get(`${op.key}@${op.revision}`);
      const want = op.kind === 'delete' ? 'delete' : 'put';
      if (!c) note(`${s.name}: op ${op.id} (${op.kind} of ${op.key}, acknowledged at revision ${op.revision}) is missing`);
      else if (c.kind !== want || (want === 'put' && c.value !== op.value)) note(`${s.name}: op ${op.id} (${op.kind} ${JSON.stringify(op.value)} of ${op.key} at ${op.revision}) came as ${c.kind} ${JSON.stringify(c.value)}`);
    }
  }
  const shown = (c: WatchedChange) => `${c.kind} ${c.key}${c.kind === 'put' ? `=${c.value}` : ''}@${c.shard}/${c.revision}`;
  const byShard = (s: WatchedStream) => {
    const m = new Map<number, WatchedChange[]>();
    for (const c of s.changes) {
      const list = m.get(c.shard);
      if (list) list.push(c);
      else m.set(c.shard, [c]);
    }
    return m;
  };
  const [first, ...rest] = streams;
  const reference = byShard(first);
  for (const s of rest) {
    const mine = byShard(s);
    for (const shard of new Set([...reference.keys(), ...mine.keys()])) {
      const a = reference.get(shard) ?? [];
      const b = mine.get(shard) ?? [];
      const i = a.findIndex((c, j) => !b[j] || shown(c) !== shown(b[j]));
      const at = i >= 0 ? i : a.length < b.length ? a.length : -1;
      if (at >= 0) note(`${s.name} differs from ${first.name} in shard ${shard} at its change ${at}: ${b[at] ? shown(b[at]) : 'nothing'} against ${a[at] ? shown(a[at]) : 'nothing'}`);
    }
  }
  return problems;
}
