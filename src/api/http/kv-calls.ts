// Service calls every front end route makes the same way: an absent key is a 404 whichever URL asked.

import { ConcordError } from '../../kv/errors.ts';
import type { Consistency, KvRecord, KvService } from '../../kv/types.ts';

export async function getOr404(kv: KvService, key: Uint8Array, consistency?: Consistency): Promise<KvRecord> {
  const record = await kv.get(key, consistency ? { consistency } : undefined);
  if (!record) throw new ConcordError('not-found', 'key not found');
  return record;
}

export async function deleteOr404(kv: KvService, key: Uint8Array, ifMatch?: number): Promise<{ deleted: number; revision: number }> {
  const r = await kv.delete(key, ifMatch !== undefined ? { ifMatch } : undefined);
  if (r.deleted === 0) throw new ConcordError('not-found', 'key not found');
  return { deleted: r.deleted, revision: r.revision };
}
