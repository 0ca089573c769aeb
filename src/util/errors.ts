// The error catalogue: each code with the HTTP status it maps to, so every adapter reports the same thing the
// same way. Every layer may throw these (raft-group, cluster-service, kv, the front ends), so it is a leaf:
// it imports nothing of ours.

export type ErrorCode =
  | 'bad-request'
  | 'not-found'
  | 'method-not-allowed'
  | 'precondition-failed'
  | 'compacted'
  | 'too-large'
  | 'unavailable'
  | 'timeout'
  | 'internal'
  | 'not-implemented';

const STATUS: Record<ErrorCode, number> = {
  'bad-request': 400,
  'not-found': 404,
  'method-not-allowed': 405,
  'precondition-failed': 412,
  // A watch from a revision the history no longer holds (the message names the oldest it does).
  compacted: 410,
  'too-large': 413,
  unavailable: 503,
  timeout: 504,
  internal: 500,
  'not-implemented': 501,
};

export class ConcordError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** For 'unavailable': seconds after which a retry may succeed. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ConcordError';
    this.status = STATUS[code];
  }
}
