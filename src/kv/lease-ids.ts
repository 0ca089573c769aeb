// Lease ids and the shard each lease lives in. An id is 1 to 2^53 - 1 (a number JSON carries exactly) and
// its shard is the id modulo the cluster's shard count, so any node routes a lease call without asking
// anyone; an id the service picks is random in the shard it was asked for. And the one way every caller gets
// a service's lease calls (leaseMethod).

import { randomInt } from 'node:crypto';
import { isLeaseId } from '../storage/kv-record.ts';
import { ConcordError } from '../util/errors.ts';
import type { KvService } from './types.ts';

/** The longest TTL of a lease, as of a key (HTTP's ?ttl=). */
export const MAX_LEASE_TTL_SECONDS = 9_999_999_999;

/** Random multipliers of the shard count stay below this: ids of up to 2^40 × 257 shards < 2^53. */
const ID_SPAN = 2 ** 40;

export function checkLeaseId(id: number): void {
  if (!isLeaseId(id)) throw new ConcordError('bad-request', `lease id ${id} is not an integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
}

export function checkLeaseTtl(ttlSeconds: number): void {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_LEASE_TTL_SECONDS) {
    throw new ConcordError('bad-request', `lease TTL ${ttlSeconds} is not a whole number of seconds from 1 to ${MAX_LEASE_TTL_SECONDS}`);
  }
}

/** The shard lease `id` lives in, of `shardCount`. */
export function leaseShard(id: number, shardCount: number): number {
  return id % shardCount;
}

/** A random id of a lease in `shard` of `shardCount`. */
export function randomLeaseId(shardCount: number, shard: number): number {
  return randomInt(1, ID_SPAN) * shardCount + shard;
}

/** A batch or transaction (`what`) that names `leases`, one of which does not exist: nothing was written. */
export function leasesNotFound(what: string, leases: Iterable<number>): ConcordError {
  return new ConcordError('not-found', `${what} attaches keys to leases ${[...new Set(leases)].join(', ')}, and one does not exist (it expired, was revoked, or was never granted); nothing was written`);
}

export function leaseNotFound(id: number): ConcordError {
  return new ConcordError('not-found', `lease ${id} does not exist (it expired, was revoked, or was never granted)`);
}

export type LeaseMethod = 'grantLease' | 'keepAliveLease' | 'revokeLease' | 'leaseTimeToLive' | 'leases';

/** `svc`'s lease call `m`, bound; not-implemented (501) where the service keeps no leases. */
export function leaseMethod<M extends LeaseMethod>(svc: KvService, m: M): NonNullable<KvService[M]> {
  const f = svc[m];
  if (!f) throw new ConcordError('not-implemented', 'leases are not available on this node');
  return f.bind(svc) as NonNullable<KvService[M]>;
}
