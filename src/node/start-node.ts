// A Concord node: the core (storage, Raft, services) plus its front ends (HTTP; gRPC and the text protocol when configured).
// src/node is the composition root: the one module that wires the layers together, so it may import any of
// them (api, kv, cluster, raft, storage, transport, membership) and none of them imports it.

import net from 'node:net';
import { pino, type Logger } from 'pino';
import { startGrpcServer, type GrpcServer } from '../api/grpc/server.ts';
import { buildHttpApi } from '../api/http/index.ts';
import { WatchHub } from '../kv/watch-hub.ts';
import { startTextServer, type TextServer } from '../api/text/server.ts';
import type { ClusterService } from '../cluster/types.ts';
import type { KvService } from '../kv/types.ts';
import type { NodeConfig } from '../cluster/config.ts';
import { startNodeCore } from './node-core.ts';

export interface RunningNode {
  readonly config: NodeConfig;
  /** The bound HTTP URL (the port is real even if 0 was asked). */
  readonly httpUrl: string;
  readonly raftAddress: string;
  /** The text protocol's bound host:port, when it is on. */
  readonly textAddress?: string;
  /** The gRPC API's bound host:port, when it is on. */
  readonly grpcAddress?: string;
  /** Settles only if the node cannot go on: its state belongs to another cluster than its members', or its Raft group failed. */
  readonly failed: Promise<Error>;
  /** Graceful: stop accepting, finish in-flight requests, flush, close storage. */
  close(): Promise<void>;
}

export async function startNode(config: NodeConfig, logger: Logger = pino({ level: config.logLevel })): Promise<RunningNode> {
  const log = logger.child({ node: config.nodeId });
  const { kv, cluster, metrics, raftAddress, faults, refuseLeadership, leave, failed, close: closeCore } = await startNodeCore(config, log);
  const watch = new WatchHub(kv);
  metrics.watchWatches(watch);
  const http = buildHttpApi({
    kv,
    watch,
    cluster,
    limits: config,
    logger: log.child({ part: 'http' }),
    metrics: () => metrics.render(),
    nodeId: config.nodeId,
    backup: kv,
    staleSeedReads: config.staleReadsOnNoQuorum,
    ...(config.faultInjection ? { faults } : {}),
    observeRequest: (method, route, status, seconds) => metrics.requestSeconds.observe(method, route, status, seconds),
  });
  // HTTP listens last: once /health answers, every front end of this node is listening.
  let text: TextServer | undefined;
  let grpc: GrpcServer | undefined;
  try {
    grpc = await startGrpc(config, kv, cluster, watch, log);
    if (config.textAddr) text = await startTextServer({ kv, host: config.textAddr.host, port: config.textAddr.port, logger: log.child({ part: 'text' }) });
    await http.listen({ host: config.httpAddr.host, port: config.httpAddr.port });
  } catch (e) {
    watch.close();
    await Promise.all([http.close(), grpc?.close(), text?.close()]);
    await closeCore();
    throw e;
  }
  const addr = http.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.httpAddr.port;
  const httpUrl = `http://${config.httpAddr.host}:${port}`;
  log.info({ http: httpUrl, raft: raftAddress, ...(grpc ? { grpc: grpc.address } : {}), ...(text ? { text: text.address } : {}) }, 'node started');

  let closing: Promise<void> | undefined;
  return {
    config,
    httpUrl,
    raftAddress,
    ...(text ? { textAddress: text.address } : {}),
    ...(grpc ? { grpcAddress: grpc.address } : {}),
    failed,
    close: () =>
      (closing ??= (async () => {
        log.info('shutting down');
        refuseLeadership();
        watch.close(); // streams end with a resumable error, so the front ends have no call left that never ends
        await Promise.all([http.close(), grpc?.close(), text?.close()]); // stop accepting; HTTP and gRPC let calls in flight finish
        await leave(); // with gossip: hand off leadership, leave Raft, announce the departure
        await closeCore();
        log.info('stopped');
      })()),
  };
}

/** Whether host:port can be listened on now (a probe, closed at once). */
function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * The gRPC server, if configured. Failing to bind an address someone asked for fails the start; failing to
 * bind the built-in default (config.grpcOptional: another node on this machine has it) is a warning. The
 * default is probed first, so the nodes that will not get it do not load the gRPC packages for nothing.
 */
async function startGrpc(config: NodeConfig, kv: KvService, cluster: ClusterService, watch: WatchHub, log: Logger): Promise<GrpcServer | undefined> {
  const addr = config.grpcAddr;
  if (!addr) return undefined;
  const skip = (why: string): undefined => {
    log.warn({ err: why }, `gRPC is off on this node: its default address ${addr.host}:${addr.port} cannot be bound (another node on this machine has it?); give --grpc-addr to serve gRPC here`);
    return undefined;
  };
  if (config.grpcOptional && !(await canListen(addr.host, addr.port))) return skip('in use');
  try {
    return await startGrpcServer({ kv, cluster, watch, limits: config, host: addr.host, port: addr.port, logger: log.child({ part: 'grpc' }) });
  } catch (e) {
    if (!config.grpcOptional) throw e;
    return skip(e instanceof Error ? e.message : String(e));
  }
}
