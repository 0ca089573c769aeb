// Reads through KvService as the routes make them, and the headers that mark an answer served from
// this node's own state while it could not reach a quorum (so possibly stale by any amount):
//   X-Concord-Stale: true
//   X-Concord-Last-Contact: <ms since this node last heard from a leader; 0 on a leader; absent if never>
// A serializable read is marked when the node knows no leader. With `fallback` (the seed routes on a
// node run with --stale-reads-on-no-quorum), a read that names no consistency is linearizable while
// the group has a quorum and otherwise answers from local state, marked (KvService.getOrStale); an
// explicit ?consistency=linearizable stays strict everywhere.

import type { FastifyReply } from 'fastify';
import type { Consistency, KvRecord, KvService, ListOptions, StaleRead } from '../../kv/types.ts';
import { keyNotFound } from '../shared/kv-calls.ts';

export const STALE_HEADER = 'x-concord-stale';
export const LAST_CONTACT_HEADER = 'x-concord-last-contact';

export function markStale(reply: FastifyReply, stale: StaleRead | undefined): void {
  if (!stale) return;
  void reply.header(STALE_HEADER, 'true');
  if (stale.lastContactMs !== undefined) void reply.header(LAST_CONTACT_HEADER, String(stale.lastContactMs));
}

/** A key's record, or a 404; the answer (404 included) is marked when it may be stale. */
export async function getMarked(kv: KvService, key: Uint8Array, consistency: Consistency | undefined, reply: FastifyReply, fallback: boolean): Promise<KvRecord> {
  let record: KvRecord | undefined;
  if (consistency === undefined && fallback) {
    const r = await kv.getOrStale(key);
    record = r.record;
    markStale(reply, r.stale);
  } else {
    record = await kv.get(key, consistency ? { consistency } : undefined);
    if (consistency === 'serializable') markStale(reply, kv.leaderless());
  }
  if (!record) throw keyNotFound();
  return record;
}

/** A listing, marked like getMarked. */
export async function listMarked(kv: KvService, opts: ListOptions, reply: FastifyReply, fallback: boolean): Promise<{ items: KvRecord[]; more: boolean }> {
  if (opts.consistency === undefined && fallback) {
    const { stale, ...r } = await kv.listOrStale(opts);
    markStale(reply, stale);
    return r;
  }
  const r = await kv.list(opts);
  if (opts.consistency === 'serializable') markStale(reply, kv.leaderless());
  return r;
}
