// GET /v1/backup: a consistent online backup of the whole key space, streamed. The body is the state
// machine's snapshot image (self-checking frames with chained CRCs); the index it reflects is in the
// X-Concord-Applied-Index header. With several shards the body is every shard's image in shard order,
// as sections (kv/backup-sections.ts), of type application/vnd.concord.sharded-backup, and the headers
// are X-Concord-Shards and X-Concord-Applied-Indexes (one per shard, comma-separated). `concord backup`
// writes it to a file and `concord restore` reads it.

import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { sendError } from './errors.ts';
import type { HttpApiDeps } from './deps.ts';

export async function backupRoutes(app: FastifyInstance, deps: HttpApiDeps): Promise<void> {
  app.get('/v1/backup', { schema: { summary: 'Stream a consistent backup (every acknowledged write included)', tags: ['ops'] } }, async (request, reply) => {
    if (!deps.backup) return sendError(reply, 404, 'backups are not enabled on this node');
    const image = await deps.backup.backup();
    const body = Readable.from(image.chunks, { objectMode: false });
    // A client that goes away must not keep the read transaction (and its pages) pinned.
    request.raw.on('close', () => {
      if (!body.readableEnded) image.cancel();
    });
    if (image.shards) {
      return reply
        .header('content-type', 'application/vnd.concord.sharded-backup')
        .header('x-concord-shards', String(image.shards.length))
        .header('x-concord-applied-indexes', image.shards.join(','))
        .send(body);
    }
    return reply
      .header('content-type', 'application/octet-stream')
      .header('x-concord-applied-index', String(image.appliedIndex))
      .send(body);
  });
}
