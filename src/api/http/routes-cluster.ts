// GET /v1/cluster, POST /v1/cluster/nodes, DELETE /v1/cluster/nodes/{id}. Seed 003's cluster routes
// reuse the helpers here, so both spellings validate and answer alike.

import type { FastifyInstance } from 'fastify';
import { ConcordError } from '../../util/errors.ts';
import { addNode, isNodeId, NODE_ID_PATTERN } from '../shared/membership.ts';
import { percentDecode, utf8Text } from './bytes.ts';
import type { HttpApiDeps } from './deps.ts';
import { clusterStatusSchema, errorResponses, nodeIdSchema, raftAddressSchema } from './schemas.ts';

/** A node id from a path segment; the router has left it percent-encoded (see server-options.ts). */
export function nodeIdFromPath(raw: string): string {
  const id = utf8Text(percentDecode(raw, 'node id'), 'node id');
  if (!isNodeId(id)) throw new ConcordError('bad-request', `node id must match ${NODE_ID_PATTERN}`);
  return id;
}

export const clusterResponses = { 200: clusterStatusSchema, ...errorResponses } as const;
export const nodeIdParamsSchema = { type: 'object', properties: { id: { type: 'string' } } } as const;

export async function clusterRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  const { cluster } = deps;

  app.get(
    '/v1/cluster',
    { schema: { summary: 'Nodes (addresses, gossip state, Raft role, term, indexes), leader, shards', tags: ['cluster'], response: clusterResponses } },
    () => cluster.status(),
  );

  app.post<{ Body: { id: string; address: string; learner?: boolean } }>(
    '/v1/cluster/nodes',
    {
      schema: {
        summary: 'Add a member',
        tags: ['cluster'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'address'],
          properties: { id: nodeIdSchema, address: raftAddressSchema, learner: { type: 'boolean' } },
        },
        response: clusterResponses,
      },
    },
    (request) => addNode(cluster, request.body.id, request.body.address, request.body.learner),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/cluster/nodes/:id',
    { schema: { summary: 'Remove a member', tags: ['cluster'], params: nodeIdParamsSchema, response: clusterResponses } },
    (request) => cluster.removeNode(nodeIdFromPath(request.params.id)),
  );
}
