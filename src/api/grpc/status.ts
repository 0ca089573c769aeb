// The one mapping from the error catalogue (src/util/errors.ts) to gRPC status codes, and the wrapper every
// unary handler runs in: a call whose deadline has passed is not started, a malformed request is
// INVALID_ARGUMENT, a failure is answered with its mapped status, and unexpected errors are logged and
// answered INTERNAL without their details.
//
// Only grpc-js's types are imported here: the package itself is loaded when a server starts (server.ts),
// so `concord` commands that serve no gRPC do not pay for loading it.

import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ConcordError, type ErrorCode } from '../../util/errors.ts';
import { MalformedRequest } from './service-def.ts';

/** The gRPC status codes used here, as the gRPC protocol numbers them (grpc-js's `status` enum has the same values). */
export const Code = {
  INVALID_ARGUMENT: 3 as grpc.status,
  DEADLINE_EXCEEDED: 4 as grpc.status,
  NOT_FOUND: 5 as grpc.status,
  OUT_OF_RANGE: 11 as grpc.status,
  RESOURCE_EXHAUSTED: 8 as grpc.status,
  FAILED_PRECONDITION: 9 as grpc.status,
  UNIMPLEMENTED: 12 as grpc.status,
  INTERNAL: 13 as grpc.status,
  UNAVAILABLE: 14 as grpc.status,
} as const;

export const GRPC_STATUS: Record<ErrorCode, grpc.status> = {
  'bad-request': Code.INVALID_ARGUMENT,
  'not-found': Code.NOT_FOUND,
  // HTTP's 405 has no gRPC counterpart (a method either exists or does not); kept so the table is total.
  'method-not-allowed': Code.UNIMPLEMENTED,
  'precondition-failed': Code.FAILED_PRECONDITION,
  compacted: Code.OUT_OF_RANGE,
  'too-large': Code.RESOURCE_EXHAUSTED,
  unavailable: Code.UNAVAILABLE,
  timeout: Code.DEADLINE_EXCEEDED,
  internal: Code.INTERNAL,
  'not-implemented': Code.UNIMPLEMENTED,
};

/** Trailing metadata of an UNAVAILABLE answer: seconds after which a retry may succeed (HTTP's Retry-After). */
export const RETRY_AFTER_KEY = 'retry-after';
/** The same hint in gRPC's own retry-pushback form (milliseconds), which gRPC clients with a retry policy honour. */
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';
/** Trailing metadata carrying the catalogue's code, so a client can tell e.g. `timeout` from its own deadline. */
export const ERROR_CODE_KEY = 'concord-error-code';

/** A feature the contract names that is not built yet: answered UNIMPLEMENTED with its message. */
export class NotBuilt extends Error {
  constructor(what: string) {
    super(`${what} is not implemented yet`);
  }
}

/** A unary handler for an RPC whose feature is not built yet: UNIMPLEMENTED with a message, at once. */
export function unimplemented<Req, Res>(what: string): grpc.handleUnaryCall<Req, Res> {
  return (_call, callback) => callback({ code: Code.UNIMPLEMENTED, details: new NotBuilt(what).message });
}

/** The same for a server-streaming RPC: the stream ends at once with UNIMPLEMENTED. */
export function unimplementedStream<Req, Res>(what: string): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => call.emit('error', { code: Code.UNIMPLEMENTED, details: new NotBuilt(what).message });
}

/** True if the client's deadline for `call` has already passed (grpc-js cuts the call with DEADLINE_EXCEEDED). */
function pastDeadline(call: { getDeadline(): grpc.Deadline }): boolean {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) && ms <= Date.now();
}

export interface Calls {
  /** A unary handler from an async function; see the file comment for what the wrapper adds. */
  unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res>;
  /** The status a failure is answered with. */
  toServiceError(e: unknown): Partial<grpc.StatusObject>;
}

/** The wrapper, given grpc-js's Metadata class (once the package is loaded) and the log for unexpected errors. */
export function grpcCalls(Metadata: typeof grpc.Metadata, log: Logger): Calls {
  const toServiceError = (e: unknown): Partial<grpc.StatusObject> => {
    if (e instanceof NotBuilt) return { code: Code.UNIMPLEMENTED, details: e.message };
    if (!(e instanceof ConcordError)) {
      log.error({ err: e }, 'gRPC call failed unexpectedly');
      return toServiceError(new ConcordError('internal', 'internal error'));
    }
    const metadata = new Metadata();
    metadata.set(ERROR_CODE_KEY, e.code);
    if (e.retryAfterSeconds !== undefined) {
      metadata.set(RETRY_AFTER_KEY, String(e.retryAfterSeconds));
      metadata.set(RETRY_PUSHBACK_KEY, String(e.retryAfterSeconds * 1000));
    }
    return { code: GRPC_STATUS[e.code], details: e.message, metadata };
  };
  return {
    toServiceError,
    unary: (fn) => (call, callback) => {
      if (call.request instanceof MalformedRequest) {
        callback({ code: Code.INVALID_ARGUMENT, details: `malformed request: ${call.request.reason}` });
        return;
      }
      if (pastDeadline(call) || call.cancelled) {
        callback({ code: Code.DEADLINE_EXCEEDED, details: 'the deadline passed before the call started' });
        return;
      }
      fn(call.request, call).then(
        (res) => callback(null, res),
        (e: unknown) => callback(toServiceError(e)),
      );
    },
  };
}
