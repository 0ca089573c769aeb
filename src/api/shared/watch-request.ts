// A watch as every front end takes it: a key or a prefix (or neither: every key), a start (a revision, or
// the cursor of an earlier stream of the same watch, or none: from now) and how often a quiet stream gets
// a progress notification. The same checks and defaults for HTTP and gRPC.

import type { WatchRequest } from '../../kv/watch-hub.ts';
import { ConcordError } from '../../util/errors.ts';
import { checkKey, listBound } from './input-checks.ts';
import type { ApiLimits } from './limits.ts';

/** Progress notifications: every 5 s by default; bounded so that a stream is never idle long enough for a proxy or the node's own idle timeout (60 s) to cut it. */
export const PROGRESS_MS = { default: 5_000, min: 100, max: 30_000 } as const;

/** A cursor is one position per covered shard: this bounds it (65,536 shards of 15 digits and a separator). */
export const MAX_CURSOR_LENGTH = 65_536 * 17;

export interface WatchInput {
  key?: Uint8Array;
  prefix?: Uint8Array;
  /** 0 or absent: from now. */
  fromRevision?: number;
  cursor?: string;
  progressMs?: number;
}

export function watchRequest(input: WatchInput, limits: ApiLimits): WatchRequest {
  if (input.key !== undefined && input.prefix !== undefined && input.prefix.byteLength > 0) throw new ConcordError('bad-request', 'give a key or a prefix, not both');
  const from = input.fromRevision;
  if (from !== undefined && from !== 0 && input.cursor !== undefined) throw new ConcordError('bad-request', 'give from_revision or a cursor (Last-Event-ID), not both');
  if (from !== undefined && (!Number.isSafeInteger(from) || from < 0)) throw new ConcordError('bad-request', `from_revision must be a whole number of at least 1, got ${from}`);
  if (input.cursor !== undefined && input.cursor.length > MAX_CURSOR_LENGTH) throw new ConcordError('too-large', `the cursor is ${input.cursor.length} characters; the limit is ${MAX_CURSOR_LENGTH}`);
  const progressMs = input.progressMs ?? PROGRESS_MS.default;
  if (!Number.isInteger(progressMs) || progressMs < PROGRESS_MS.min || progressMs > PROGRESS_MS.max) {
    throw new ConcordError('bad-request', `progress_ms must be a whole number from ${PROGRESS_MS.min} to ${PROGRESS_MS.max}, got ${progressMs}`);
  }
  const req: WatchRequest = { filter: {}, progressMs };
  if (input.key !== undefined) req.filter.key = checkKey(input.key, limits);
  const prefix = listBound(input.prefix, 'prefix', limits);
  if (prefix) req.filter.prefix = prefix;
  if (from) req.fromRevision = from;
  if (input.cursor !== undefined && input.cursor !== '') req.cursor = input.cursor;
  return req;
}
