// Every failure leaves the node as {"error":{"code","message"}} with the right status: the service's
// ConcordErrors, fastify's own (bad JSON, unknown media type, body too large, unknown route) and
// Node's (header overflow, request timeout), which never reach a route.

import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { ConcordError } from '../../util/errors.ts';

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad-request',
  404: 'not-found',
  405: 'method-not-allowed',
  408: 'request-timeout',
  410: 'compacted',
  412: 'precondition-failed',
  413: 'too-large',
  414: 'uri-too-long',
  415: 'unsupported-media-type',
  431: 'headers-too-large',
  500: 'internal',
  501: 'not-implemented',
  503: 'unavailable',
  504: 'timeout',
};

export function codeForStatus(status: number): string {
  return CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal' : 'bad-request');
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

export function sendError(reply: FastifyReply, status: number, message: string, code = codeForStatus(status)): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(code, message));
}

/** Retry-After in whole seconds, at least 1. */
export const retryAfter = (seconds: number): string => String(Math.max(1, Math.ceil(seconds)));

/** Turns whatever was thrown into status, code and a message that is safe to show a client. */
function describe(err: unknown): { status: number; code: string; message: string; retryAfter?: number; unexpected: boolean } {
  if (err instanceof ConcordError) {
    return { status: err.status, code: err.code, message: err.message, retryAfter: err.retryAfterSeconds, unexpected: false };
  }
  const fe = err as Partial<FastifyError> & { status?: number };
  if (fe.validation) {
    return { status: 400, code: 'bad-request', message: fe.message ?? 'invalid request', unexpected: false };
  }
  const status = fe.statusCode ?? fe.status;
  // Fastify's 4xx errors describe the request (bad JSON, unknown media type, too large): safe to echo.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, code: codeForStatus(status), message: fe.message ?? STATUS_CODES[status] ?? 'bad request', unexpected: false };
  }
  return { status: 500, code: 'internal', message: 'internal error', unexpected: true };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const d = describe(err);
    if (d.unexpected) request.log.error({ err }, 'request failed');
    else if (d.status >= 500) request.log.warn({ code: d.code, msg: d.message }, 'request not served');
    if (d.retryAfter !== undefined) reply.header('retry-after', retryAfter(d.retryAfter));
    return sendError(reply, d.status, d.message, d.code);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, `no route ${request.method} ${shorten(request.originalUrl)}`),
  );
}

/** Fastify's bad-URL and too-long-parameter answers, which bypass the error handler. */
export function frameworkError(err: FastifyError, reply: FastifyReply): void {
  const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 400;
  void sendError(reply, status, err.message);
}

interface HttpParseError extends Error {
  code?: string;
}

/**
 * Errors Node's HTTP parser raises before any request exists: oversized headers, timeouts while
 * headers or body trickle in, malformed requests. Answer once if nothing was sent, then hang up.
 */
export function clientErrorHandler(err: HttpParseError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message =
    status === 431 ? 'request headers are too large' : status === 408 ? 'request took too long to arrive' : 'malformed HTTP request';
  // A response already under way on this socket (Node's own check) must not get a second one mixed in.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify(errorBody(codeForStatus(status), message));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

function shorten(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
