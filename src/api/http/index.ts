// The HTTP front end: a thin fastify adapter from HTTP API v1 and the seed-compatible routes to
// KvService and ClusterService. Nothing here decides semantics; it decodes, validates, calls, encodes.

import Fastify, { type FastifyInstance } from 'fastify';
import type { HttpApiDeps } from './deps.ts';
import { installErrorHandlers, sendError } from './errors.ts';
import { methodNotAllowedRoutes, recordRoutes } from './method-not-allowed.ts';
import { openApiRoute, registerOpenApi } from './openapi.ts';
import { clusterRoutes } from './routes-cluster.ts';
import { opsRoutes } from './routes-ops.ts';
import { backupRoutes } from './routes-backup.ts';
import { faultRoutes } from './routes-faults.ts';
import { seed000And001Routes } from './routes-seed-000-001.ts';
import { seed003Routes } from './routes-seed-003.ts';
import { v1KeyRoutes } from './routes-v1-key.ts';
import { v1LeaseRoutes } from './routes-v1-leases.ts';
import { v1ListBatchRoutes } from './routes-v1-list-batch.ts';
import { v1TxnRoutes } from './routes-v1-txn.ts';
import { v1WatchRoutes } from './routes-v1-watch.ts';
import { serverOptions, serverWithFastRoutes } from './server-options.ts';
import { fastGet } from './fast-get.ts';
import { fastPut } from './fast-put.ts';

export type { HttpApiDeps } from './deps.ts';
export { DEFAULT_TIMEOUTS, type HttpTimeouts } from './limits.ts';

export function buildHttpApi(deps: HttpApiDeps): FastifyInstance {
  const state = { closing: false };
  const closing = () => state.closing;
  const logError = (err: unknown, msg: string) => (deps.logger ? deps.logger.error({ err }, msg) : undefined);
  const fast = { kv: deps.kv, limits: deps.limits, closing, logError };
  const fastRoutes = { get: fastGet(fast), put: fastPut(fast), observe: deps.observeRequest };
  const app = Fastify({ ...serverOptions(deps), serverFactory: serverWithFastRoutes(fastRoutes, closing) }) as unknown as FastifyInstance;
  installErrorHandlers(app);
  // JSON routes take JSON only: text/plain (a fastify default) would reach them as a string.
  app.removeContentTypeParser('text/plain');
  refuseWhileClosing(app, state);
  const observe = deps.observeRequest;
  if (observe) {
    app.addHook('onResponse', async (request, reply) => {
      observe(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  const routes = recordRoutes(app);
  registerOpenApi(app);
  // Each group is a plugin so that the raw-body parser of /v1/kv/{key} stays inside its own.
  void app.register(async (i) => v1KeyRoutes(i, deps));
  void app.register(async (i) => v1ListBatchRoutes(i, deps));
  void app.register(async (i) => v1TxnRoutes(i, deps));
  void app.register(async (i) => v1WatchRoutes(i, deps));
  void app.register(async (i) => v1LeaseRoutes(i, deps));
  void app.register(async (i) => clusterRoutes(i, deps));
  void app.register(async (i) => opsRoutes(i, deps));
  void app.register(async (i) => backupRoutes(i, deps));
  void app.register(async (i) => faultRoutes(i, deps));
  void app.register(async (i) => seed000And001Routes(i, deps));
  void app.register(async (i) => seed003Routes(i, deps));
  void app.register(openApiRoute);
  void app.register(methodNotAllowedRoutes(routes)); // last: it needs every route above
  return app;
}

/**
 * During close(), requests arriving on connections that are still open get a 503 in the
 * contract's error shape (fastify's return503OnClosing would use its own) and the connection is
 * told to close, so clients retry on another node.
 */
function refuseWhileClosing(app: FastifyInstance, state: { closing: boolean }): void {
  app.addHook('preClose', (done) => {
    state.closing = true;
    done();
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!state.closing) return;
    void reply.header('connection', 'close').header('retry-after', '1');
    return sendError(reply, 503, 'this node is shutting down', 'unavailable');
  });
}
