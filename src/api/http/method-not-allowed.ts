// Fastify answers a known path with an unknown method as 404. HTTP says 405 with an Allow header,
// and telling "wrong method" from "no such thing" saves client authors time. So every route is
// recorded as it is added, and once all are in, each path gets the methods it lacks as 405 routes.

import type { FastifyInstance } from 'fastify';
import { sendError } from './errors.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

export type RouteTable = Map<string, Set<string>>;

/** Call before any route is added: records url → methods. */
export function recordRoutes(app: FastifyInstance): RouteTable {
  const table: RouteTable = new Map();
  app.addHook('onRoute', (route) => {
    if (route.config && (route.config as { methodNotAllowed?: boolean }).methodNotAllowed) return;
    let methods = table.get(route.url);
    if (!methods) table.set(route.url, (methods = new Set()));
    for (const m of [route.method].flat()) methods.add(m.toUpperCase());
    if (methods.has('GET')) methods.add('HEAD'); // fastify serves HEAD for every GET
  });
  return table;
}

/** A plugin to register after every other: fills each recorded path's missing methods with 405. */
export function methodNotAllowedRoutes(table: RouteTable) {
  return async (app: FastifyInstance): Promise<void> => {
    for (const [url, methods] of table) {
      const missing = METHODS.filter((m) => !methods.has(m));
      if (missing.length === 0) continue;
      const allow = METHODS.filter((m) => methods.has(m)).join(', ');
      app.route({
        method: missing,
        url,
        config: { methodNotAllowed: true },
        schema: { hide: true },
        // onRequest runs before the body is read or parsed, so a wrong method with an odd
        // content type or a huge body still gets 405, not 415 or 413.
        onRequest: async (request, reply) => {
          void reply.header('allow', allow);
          return sendError(reply, 405, `${request.method} is not allowed here; allowed: ${allow}`);
        },
        handler: async () => undefined,
      });
    }
  };
}
