// The gRPC front end on its own port: KV, Lease and Cluster (gen/concord_pb.ts via service-def.ts), the
// standard grpc.health.v1.Health and server reflection, over one KvService and ClusterService.
//
// grpc-js, grpc-health-check and @grpc/reflection are loaded by startGrpcServer, not imported at the top:
// the CLI is one bundle whose static imports every `concord` command loads, and these cost a few hundred
// milliseconds of start-up that client commands and nodes without gRPC should not pay.

import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ClusterService } from '../../cluster/types.ts';
import type { KvService } from '../../kv/types.ts';
import type { WatchHub } from '../../kv/watch-hub.ts';
import { RANGE_PAGE_BYTES } from '../../storage/kv-store.ts';
import type { ApiLimits } from '../shared/limits.ts';
import { clusterHandlers } from './cluster-handlers.ts';
import { leaseHandlers } from './lease-handlers.ts';
import { connectionOptions, DEFAULT_CONNECTION_LIMITS, type GrpcConnectionLimits } from './connections.ts';
import { Cluster, KV, Lease } from './gen/concord_pb.ts';
import { kvHandlers } from './kv-handlers.ts';
import { addReflection } from './reflection.ts';
import { grpcDefinition } from './service-def.ts';
import { grpcCalls } from './status.ts';

/** Room for a message's framing and fields besides its keys and values (and for a batch's many small keys). */
const MESSAGE_OVERHEAD_BYTES = 4 * 1024 * 1024;
/** How long close() lets calls in flight finish before cutting them. */
const SHUTDOWN_GRACE_MS = 5_000;

export const SERVICE_NAMES = ['concord.v1.KV', 'concord.v1.Lease', 'concord.v1.Cluster'] as const;

export interface GrpcMessageLimits {
  maxReceiveMessageLength: number;
  maxSendMessageLength: number;
}

/**
 * A request carries at most one value's worth of bytes (a put, or a batch's values together) plus keys;
 * an answer at most a listing page (RANGE_PAGE_BYTES of keys and values, or one larger record) or one record.
 */
export function messageLimits(l: ApiLimits): GrpcMessageLimits {
  return {
    maxReceiveMessageLength: l.maxValueBytes + 8 * l.maxKeyBytes + MESSAGE_OVERHEAD_BYTES,
    maxSendMessageLength: Math.max(RANGE_PAGE_BYTES, l.maxValueBytes + l.maxKeyBytes) + MESSAGE_OVERHEAD_BYTES,
  };
}

export interface GrpcServerDeps {
  kv: KvService;
  cluster: ClusterService;
  /** Serves KV.Watch when present (UNIMPLEMENTED without). */
  watch?: WatchHub;
  limits: ApiLimits;
  logger: Logger;
  host: string;
  port: number;
  /** Overrides of DEFAULT_CONNECTION_LIMITS (tests shorten them). */
  connections?: Partial<GrpcConnectionLimits>;
}

export interface GrpcServer {
  /** host:port actually bound. */
  address: string;
  port: number;
  close(): Promise<void>;
}

const formatHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/**
 * grpc-js logs to the console on its own (one global logger). Its lines go to this node's log at debug
 * level instead: what matters (a failed bind, a failed call) is reported here, once, with context.
 */
function routeLibraryLog(grpcJs: typeof grpc, log: Logger): void {
  const write = (...args: unknown[]) => log.debug({ grpcJs: args.map(String).join(' ') }, 'grpc-js');
  grpcJs.setLogger({ error: write, info: write, debug: write });
}

export async function startGrpcServer(deps: GrpcServerDeps): Promise<GrpcServer> {
  const { kv, cluster, limits, logger: log } = deps;
  const [grpcJs, { HealthImplementation, service: healthService }] = await Promise.all([import('@grpc/grpc-js'), import('grpc-health-check')]);
  routeLibraryLog(grpcJs, log);
  const server = new grpcJs.Server({
    ...connectionOptions({ ...DEFAULT_CONNECTION_LIMITS, ...deps.connections }),
    'grpc.max_receive_message_length': messageLimits(limits).maxReceiveMessageLength,
    'grpc.max_send_message_length': messageLimits(limits).maxSendMessageLength,
    // Channelz (per-call bookkeeping for grpc's debugging service) is not served here, so not paid for.
    'grpc.enable_channelz': 0,
  });
  const calls = grpcCalls(grpcJs.Metadata, log);
  server.addService(grpcDefinition(KV), kvHandlers(kv, limits, calls, deps.watch));
  server.addService(grpcDefinition(Lease), leaseHandlers(kv, limits, calls));
  server.addService(grpcDefinition(Cluster), clusterHandlers(cluster, calls));
  // Liveness, as GET /health: SERVING while the process serves; NOT_SERVING once it is closing.
  const health = new HealthImplementation(Object.fromEntries(['', ...SERVICE_NAMES].map((s) => [s, 'SERVING'])));
  health.addToServer(server);
  await addReflection(server, healthService);

  const target = `${formatHost(deps.host)}:${deps.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(target, grpcJs.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(new Error(`gRPC cannot listen on ${target}: ${err.message}`)) : resolve(bound))),
  );
  let closing: Promise<void> | undefined;
  return {
    address: `${formatHost(deps.host)}:${port}`,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of ['', ...SERVICE_NAMES]) health.setStatus(s, 'NOT_SERVING');
        const force = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      })),
  };
}
