// Service calls every front end makes the same way, so that an absent key is one answer (not-found)
// whichever protocol or route asked.

import { ConcordError } from '../../util/errors.ts';
import type { KvService } from '../../kv/types.ts';

/** The one not-found error for an absent key. */
export const keyNotFound = (): ConcordError => new ConcordError('not-found', 'key not found');

/** Deletes `key`; a key that was not there is not-found rather than a delete of nothing. */
export async function deleteOrNotFound(kv: KvService, key: Uint8Array, ifMatch?: number): Promise<{ deleted: number; revision: number }> {
  const r = await kv.delete(key, ifMatch !== undefined ? { ifMatch } : undefined);
  if (r.deleted === 0) throw keyNotFound();
  return { deleted: r.deleted, revision: r.revision };
}
