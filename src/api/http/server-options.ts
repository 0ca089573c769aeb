// Fastify and Node server options: the part of the front end that keeps a hostile or broken client
// from hurting the node (oversized headers, trickled requests, huge bodies) and lets any byte be a key.

import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LogController, type FastifyBaseLogger, type FastifyHttpOptions } from 'fastify';
import type { HttpApiDeps } from './deps.ts';
import { clientErrorHandler, frameworkError } from './errors.ts';
import { DEFAULT_TIMEOUTS, deriveLimits, type HttpTimeouts } from './limits.ts';
import { nodeFront, type FastRoutes } from './fast-front.ts';
import { installFastLane } from './fast-lane.ts';

/**
 * The router percent-decodes paths as UTF-8 and rejects anything else (so /v1/kv/%FF would be a
 * 400 before reaching us) and loses the difference between "/" and "%2F". Escaping every '%' in
 * the path before routing makes the router hand parameters over exactly as the client encoded
 * them; keyFromPath then decodes them to bytes. The query string is left as it was.
 */
export function escapePercentsInPath(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (!path.includes('%')) return url;
  return path.replaceAll('%', '%25') + (q < 0 ? '' : url.slice(q));
}

export function serverOptions(deps: HttpApiDeps): FastifyHttpOptions<Server> {
  const limits = deriveLimits(deps.limits);
  const t: HttpTimeouts = { ...DEFAULT_TIMEOUTS, ...deps.timeouts };
  const headersTimeout = Math.min(t.headersTimeoutMs, t.requestTimeoutMs); // Node requires headers ≤ request
  return {
    ...(deps.logger ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: false }),
    // Two log lines per request would dominate a busy node's log; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.jsonBodyLimit,
    routerOptions: { maxParamLength: limits.maxParamLength },
    rewriteUrl: (req) => escapePercentsInPath(req.url ?? '/'),
    http: {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout,
      requestTimeout: t.requestTimeoutMs,
      connectionsCheckingInterval: t.checkIntervalMs,
    },
    requestTimeout: t.requestTimeoutMs,
    connectionTimeout: t.idleTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    // Fastify's own 503-on-close answers in its own JSON shape; ours (index.ts) uses the contract's.
    return503OnClosing: false,
    clientErrorHandler,
    frameworkErrors: (err, _request, reply) => frameworkError(err, reply),
    // Strict validation: a number is not a string, unknown properties are refused where the schema
    // says so (the default would silently strip them), nothing is coerced.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  };
}

/**
 * fastify's serverFactory: the HTTP/1 server fastify would create (same options and timeouts), with
 * the fast lane in front of node:http (fast-lane.ts) and the fast routes offered each request
 * node:http parses (fast-front.ts); what neither takes goes to fastify.
 */
export function serverWithFastRoutes(routes: FastRoutes, closing: () => boolean) {
  const front = nodeFront(routes);
  return (handler: (req: IncomingMessage, res: ServerResponse) => void, options: FastifyHttpOptions<Server>): Server => {
    const server = http.createServer(options.http ?? {}, (req, res) => {
      if (!front(req, res)) handler(req, res);
    });
    if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
    if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
    if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
    installFastLane(server, { routes, closing, maxHeaderSize: options.http?.maxHeaderSize ?? http.maxHeaderSize });
    return server;
  };
}
