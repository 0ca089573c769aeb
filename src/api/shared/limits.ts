// Input limits every front end applies alike, so that a request means the same over HTTP, gRPC and the
// text protocol: a key or value one of them accepts, the others accept too.

/** The store's key and value size limits (the node's --max-key-bytes, --max-value-bytes). */
export interface ApiLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
}

/** Most operations in one batch (POST /v1/batch, KV.Batch, BATCHPUT): one log entry must stay bounded. */
export const MAX_BATCH_OPS = 10_000;
/** Most items in one listing page, and the default page. */
export const MAX_LIST_LIMIT = 10_000;
export const DEFAULT_LIST_LIMIT = 1_000;
