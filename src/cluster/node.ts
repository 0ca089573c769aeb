// A Concord node: the core (storage, Raft, services) plus its front ends (HTTP, and the text protocol when asked).

import { pino, type Logger } from 'pino';
import { buildHttpApi } from '../api/http/index.ts';
import { startTextServer, type TextServer } from '../api/text/server.ts';
import type { NodeConfig, RunningNode } from './config.ts';
import { startNodeCore } from './node-core.ts';

export async function startNode(config: NodeConfig, logger: Logger = pino({ level: config.logLevel })): Promise<RunningNode> {
  const log = logger.child({ node: config.nodeId });
  const { kv, cluster, metrics, raftAddress, faults, leave, failed, close: closeCore } = await startNodeCore(config, log);
  const http = buildHttpApi({
    kv,
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
  await http.listen({ host: config.httpAddr.host, port: config.httpAddr.port });
  const addr = http.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.httpAddr.port;
  const httpUrl = `http://${config.httpAddr.host}:${port}`;
  let text: TextServer | undefined;
  if (config.textAddr) {
    try {
      text = await startTextServer({ kv, host: config.textAddr.host, port: config.textAddr.port, logger: log.child({ part: 'text' }) });
    } catch (e) {
      await http.close();
      await closeCore();
      throw e;
    }
  }
  log.info({ http: httpUrl, raft: raftAddress, ...(text ? { text: text.address } : {}) }, 'node started');

  let closing: Promise<void> | undefined;
  return {
    config,
    httpUrl,
    raftAddress,
    ...(text ? { textAddress: text.address } : {}),
    failed,
    close: () =>
      (closing ??= (async () => {
        log.info('shutting down');
        await Promise.all([http.close(), text?.close()]); // stop accepting; HTTP lets in-flight requests finish
        await leave(); // with gossip: hand off leadership, leave Raft, announce the departure
        await closeCore();
        log.info('stopped');
      })()),
  };
}
