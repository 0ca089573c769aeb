// The client's one error type. `code` is the server's error catalogue code (the same on every protocol) or
// one of the client's own: `unreachable` (no endpoint answered) and `deadline` (the caller's time ran out).

/**
 * The server's error catalogue (src/util/errors.ts), as HTTP and gRPC both report it. The catalogue's
 * `not-implemented` is the client's `unimplemented`: HTTP answers it 501 and gRPC UNIMPLEMENTED, both of
 * which the transports read as `unimplemented`, as they must a gRPC UNIMPLEMENTED without a catalogue
 * code (Txn, Watch). Listing `not-implemented` here would give one failure two codes by transport.
 */
export type ServerErrorCode = 'bad-request' | 'not-found' | 'method-not-allowed' | 'precondition-failed' | 'compacted' | 'too-large' | 'unavailable' | 'timeout' | 'internal' | 'unimplemented';

export type ClientErrorCode = ServerErrorCode | 'unreachable' | 'deadline';

const SERVER_CODES: Record<ServerErrorCode, true> = {
  'bad-request': true,
  'not-found': true,
  'method-not-allowed': true,
  'precondition-failed': true,
  compacted: true,
  'too-large': true,
  unavailable: true,
  timeout: true,
  internal: true,
  unimplemented: true,
};

/** Whether a code an answer carries (HTTP's error body, gRPC's concord-error-code) is one of the catalogue's. */
export function isServerErrorCode(code: unknown): code is ServerErrorCode {
  return typeof code === 'string' && Object.hasOwn(SERVER_CODES, code);
}

export class ConcordClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly details: {
      /** The endpoint that answered (or failed), when one did. */
      endpoint?: string;
      /** HTTP status or gRPC status code of the answer, when there was one. */
      status?: number;
      /** The server's hint: try again after this long. */
      retryAfterMs?: number;
      /**
       * True when the request certainly did not reach a server (no connection could be made), so even a
       * write may be sent again. False when it may have: a write then may or may not have been applied.
       */
      notSent?: boolean;
      /** For a call that ran out of time or attempts: the failure of its last attempt. */
      last?: ConcordClientError;
    } = {},
  ) {
    super(message);
    this.name = 'ConcordClientError';
  }

  get endpoint(): string | undefined {
    return this.details.endpoint;
  }
}

/** Failures worth another endpoint or another try: the cluster (or this endpoint) may answer later. */
export function isTransient(e: ConcordClientError): boolean {
  return e.code === 'unavailable' || e.code === 'unreachable' || e.code === 'timeout';
}

const SOCKET_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connect timed out',
  EPIPE: 'connection closed by the server',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
};

/** A socket error code in words a person can act on ("connection refused"), or the code itself. */
export function socketReason(code: string): string {
  return SOCKET_REASONS[code] ?? code;
}
