// Lease service handlers: the same KvService lease calls as /v1/leases (routes-v1-leases.ts). TimeToLive
// answers ttl_seconds -1 for a lease that does not exist, as the proto says; the other calls NOT_FOUND.

import type * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { create } from '@bufbuild/protobuf';
import { ConcordError } from '../../util/errors.ts';
import type { KvService } from '../../kv/types.ts';
import { leaseMethod } from '../../kv/lease-ids.ts';
import { checkKey } from '../shared/input-checks.ts';
import type { ApiLimits } from '../shared/limits.ts';
import {
  LeaseGrantResponseSchema,
  LeaseKeepAliveResponseSchema,
  LeaseLeasesResponseSchema,
  LeaseRevokeResponseSchema,
  LeaseTimeToLiveResponseSchema,
  type Lease,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
} from './gen/concord_pb.ts';
import { leaseId, ttlSeconds } from './kv-handlers.ts';
import { MalformedRequest, type GrpcHandlers, type MethodsOf } from './service-def.ts';
import type { Calls } from './status.ts';

export function leaseHandlers(kv: KvService, limits: ApiLimits, calls: Calls): GrpcHandlers<MethodsOf<typeof Lease>> {
  const { unary } = calls;
  const keepAlive = async (req: LeaseKeepAliveRequest): Promise<LeaseKeepAliveResponse> => {
    const g = await leaseMethod(kv, 'keepAliveLease')(leaseId(req.id, 'id'));
    return create(LeaseKeepAliveResponseSchema, { id: BigInt(g.id), ttlSeconds: BigInt(g.ttlSeconds) });
  };
  return {
    grant: unary(async (req) => {
      const key = req.key.byteLength > 0 ? checkKey(req.key, limits, 'key') : undefined;
      const g = await leaseMethod(kv, 'grantLease')(ttlSeconds(req.ttlSeconds, 'ttl_seconds'), { ...(req.id !== 0n ? { id: leaseId(req.id, 'id') } : {}), ...(key ? { key } : {}) });
      return create(LeaseGrantResponseSchema, { id: BigInt(g.id), ttlSeconds: BigInt(g.ttlSeconds) });
    }),
    keepAlive: unary(keepAlive),
    keepAliveStream: (call: grpc.ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>) => {
      // One request at a time, read only once the answer before it is written: a client that sends without
      // reading fills its own window, not this node's memory. Leaving the loop on an error must not destroy
      // the call: the error is its status.
      void (async () => {
        for await (const req of call.iterator({ destroyOnReturn: false }) as AsyncIterable<LeaseKeepAliveRequest | MalformedRequest>) {
          if (req instanceof MalformedRequest) throw new ConcordError('bad-request', `malformed request: ${req.reason}`);
          const answer = await keepAlive(req);
          // Cancelled meanwhile (grpc-js destroys the call): a write would be dropped and 'drain' never come.
          if (call.cancelled || call.destroyed) return;
          if (!call.write(answer)) await Promise.race([once(call, 'drain'), once(call, 'close')]);
        }
        if (!call.cancelled && !call.destroyed) call.end();
      })().catch((e: unknown) => {
        if (!call.cancelled) call.emit('error', calls.toServiceError(e));
      });
    },
    revoke: unary(async (req) => {
      const r = await leaseMethod(kv, 'revokeLease')(leaseId(req.id, 'id'));
      return create(LeaseRevokeResponseSchema, { revision: BigInt(r.revision), deleted: BigInt(r.deleted) });
    }),
    leases: unary(async () => {
      const all = await leaseMethod(kv, 'leases')();
      return create(LeaseLeasesResponseSchema, {
        leases: all.map((l) => create(LeaseTimeToLiveResponseSchema, { id: BigInt(l.id), ttlSeconds: BigInt(l.ttlSeconds), grantedTtlSeconds: BigInt(l.grantedTtlSeconds) })),
      });
    }),
    timeToLive: unary(async (req) => {
      const id = leaseId(req.id, 'id');
      try {
        const info = await leaseMethod(kv, 'leaseTimeToLive')(id, { keys: req.keys });
        return create(LeaseTimeToLiveResponseSchema, { id: req.id, ttlSeconds: BigInt(info.ttlSeconds), grantedTtlSeconds: BigInt(info.grantedTtlSeconds), keys: info.keys ?? [] });
      } catch (e) {
        if (e instanceof ConcordError && e.code === 'not-found') return create(LeaseTimeToLiveResponseSchema, { id: req.id, ttlSeconds: -1n });
        throw e;
      }
    }),
  };
}
