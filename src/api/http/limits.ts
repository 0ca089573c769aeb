// Sizes and timeouts of the HTTP front end, derived from the store's key and value limits so that
// every legal request fits and anything bigger or slower is cut off before it costs the node much.

import type { ApiLimits } from '../shared/limits.ts';

export interface HttpTimeouts {
  /** Whole request (headers and body) must arrive within this; protects against trickled bodies. */
  requestTimeoutMs: number;
  /** Headers must arrive within this; protects against slowloris. */
  headersTimeoutMs: number;
  /** A socket idle this long is closed. */
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** How often Node checks the two request timeouts; they are only as precise as this. */
  checkIntervalMs: number;
}

/** Generous enough for a 64 MiB value over a modest link, short enough that trickling does not pay. */
export const DEFAULT_TIMEOUTS: HttpTimeouts = {
  requestTimeoutMs: 60_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 10_000,
  checkIntervalMs: 1_000,
};

const HEADER_ROOM = 16 * 1024; // Node's default header budget, kept for the headers themselves
const JSON_SLACK = 1024 * 1024; // room for JSON punctuation and many small keys in one batch

export interface DerivedLimits {
  /** Raw PUT bodies are the value itself, so the limit is exact. */
  rawBodyLimit: number;
  /** JSON bodies carry a value as base64 (4/3) or an escaped string, plus keys and punctuation. */
  jsonBodyLimit: number;
  /** The request line holds a key percent-encoded (3 bytes per byte) on top of ordinary headers. */
  maxHeaderSize: number;
  /** Never hit in practice: a parameter cannot be longer than the request line that carries it. */
  maxParamLength: number;
}

export function deriveLimits(l: ApiLimits): DerivedLimits {
  const maxHeaderSize = HEADER_ROOM + 3 * l.maxKeyBytes;
  return {
    rawBodyLimit: l.maxValueBytes,
    jsonBodyLimit: Math.ceil(l.maxValueBytes / 3) * 4 + 6 * l.maxKeyBytes + JSON_SLACK,
    maxHeaderSize,
    // The router sees the path after rewriteUrl turned each '%' into '%25' (see server-options.ts).
    maxParamLength: maxHeaderSize * 2,
  };
}
