// GET /health, /ready, /metrics: what load balancers, orchestrators and Prometheus poll. Seed 003's
// /api/v1/health and /api/v1/metrics answer through the same handlers.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './errors.ts';
import type { HttpApiDeps } from './deps.ts';
import { errorResponses, healthSchema, metricsResponse } from './schemas.ts';

export function healthHandler(deps: HttpApiDeps) {
  return () => {
    deps.cluster.health();
    return { status: 'ok', nodeId: deps.nodeId };
  };
}

export function metricsHandler(deps: HttpApiDeps) {
  return async (_request: FastifyRequest, reply: FastifyReply) => {
    if (!deps.metrics) return sendError(reply, 404, 'metrics are not enabled on this node');
    const text = await deps.metrics();
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  };
}

export const healthRouteSchema = { summary: 'Liveness: the process answers', tags: ['ops'], response: { 200: healthSchema, ...errorResponses } };
export const metricsRouteSchema = { summary: 'Prometheus metrics', tags: ['ops'], response: metricsResponse };

export async function opsRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  app.get('/health', { schema: healthRouteSchema }, healthHandler(deps));

  app.get(
    '/ready',
    {
      schema: {
        summary: 'Readiness: a leader is known and this node has caught up (503 otherwise)',
        tags: ['ops'],
        response: { 200: healthSchema, ...errorResponses },
      },
    },
    async (_request, reply) => {
      const r = deps.cluster.ready();
      if (r.ready) return { status: 'ready', nodeId: deps.nodeId };
      void reply.header('retry-after', '1');
      return sendError(reply, 503, r.reason ?? 'not ready', 'unavailable');
    },
  );

  app.get('/metrics', { schema: metricsRouteSchema }, metricsHandler(deps));
}
