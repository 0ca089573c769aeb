// POST /v1/debug/faults: make this node's peer network misbehave on purpose (the chaos tester and
// end-to-end tests partition real processes with it). Served only when the node was started with
// --fault-injection; otherwise the route answers 404 like any unknown one, so production nodes never
// expose it. Rules act on Raft peer traffic as seen by this node (transport/faults.ts):
//   {"action":"cut","peer":"n2"}         drop everything to and from n2 ("*" = every peer)
//   {"action":"heal","peer":"n2"}        undo a cut (without peer: every cut)
//   {"action":"drop","peer":"*","probability":0.3}
//   {"action":"delay","peer":"n2","min_ms":10,"max_ms":50}
//   {"action":"clear"}                   remove every rule

import type { FastifyInstance } from 'fastify';
import { sendError } from './errors.ts';
import type { HttpApiDeps } from './deps.ts';

interface FaultRequest {
  action: 'cut' | 'heal' | 'drop' | 'delay' | 'clear';
  peer?: string;
  probability?: number;
  min_ms?: number;
  max_ms?: number;
}

const schema = {
  summary: 'Inject peer-network faults (only with --fault-injection)',
  tags: ['ops'],
  body: {
    type: 'object',
    required: ['action'],
    additionalProperties: false,
    properties: {
      action: { type: 'string', enum: ['cut', 'heal', 'drop', 'delay', 'clear'] },
      peer: { type: 'string', minLength: 1, maxLength: 256 },
      probability: { type: 'number', minimum: 0, maximum: 1 },
      min_ms: { type: 'number', minimum: 0, maximum: 600_000 },
      max_ms: { type: 'number', minimum: 0, maximum: 600_000 },
    },
  },
} as const;

export async function faultRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const faults = deps.faults;
  if (!faults) return;
  app.post<{ Body: FaultRequest }>('/v1/debug/faults', { schema }, async (request, reply) => {
    const { action, peer, probability, min_ms: minMs = 0, max_ms: maxMs } = request.body;
    if ((action === 'cut' || action === 'drop' || action === 'delay') && peer === undefined) {
      return sendError(reply, 400, `"${action}" needs a "peer" (a node id, or "*" for every peer)`);
    }
    if (action === 'drop' && probability === undefined) return sendError(reply, 400, '"drop" needs a "probability" in [0, 1]');
    if (action === 'delay' && (maxMs === undefined || maxMs < minMs)) return sendError(reply, 400, '"delay" needs "max_ms" >= "min_ms"');
    switch (action) {
      case 'cut':
        faults.cut(peer!);
        break;
      case 'heal':
        faults.heal(peer);
        break;
      case 'drop':
        faults.drop(peer!, probability!);
        break;
      case 'delay':
        faults.delay(peer!, minMs, maxMs!);
        break;
      case 'clear':
        faults.clear();
        break;
    }
    return { ok: true };
  });
}
