// What `concord backup` needs to stream GET /v1/backup with fetch (the other client commands go through
// src/client): the server URL, the --timeout duration, and a failed call as one line a person can act on.

import { socketReason } from '../client/errors.ts';
import { CliError, EXIT, UsageError } from './errors.ts';

export interface ServerTarget {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8080. */
  server: string;
  timeoutMs: number;
}

/** Accepts `http://host:port`, `https://…` or a bare `host:port` (taken as http). */
export function normalizeServer(text: string, from: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${from}: not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${from}: expected an http:// or https:// URL (got ${JSON.stringify(text)})`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

const TIME_UNITS: Record<string, number> = { '': 1000, ms: 1, s: 1000, m: 60_000 };

/** A duration as a person writes it: 30 (seconds), 500ms, 5s, 2m. */
export function parseTimeout(text: string, from: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(text);
  const ms = m ? Number(m[1]) * TIME_UNITS[m[2] ?? ''] : NaN;
  if (!(ms >= 1 && ms <= 2 ** 31 - 1)) throw new UsageError(`${from}: expected a duration such as 30 (seconds), 5s or 500ms (got ${JSON.stringify(text)})`);
  return Math.round(ms);
}

interface CodedError {
  code?: string;
  message?: string;
  errors?: CodedError[];
}

/** fetch's failure (undici's "fetch failed" with the socket error in `cause`) as "cannot reach …" or "timed out". */
export function networkError(e: unknown, opts: ServerTarget): CliError {
  const err = e as Error & { cause?: CodedError };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return new CliError(`timed out after ${opts.timeoutMs} ms`, EXIT.unreachable);
  // With several addresses (localhost = ::1 and 127.0.0.1) the cause is an AggregateError.
  const cause = err?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  const reason = code ? socketReason(code) : (cause?.message ?? err?.message ?? String(e));
  return new CliError(`cannot reach ${opts.server} (${reason})`, EXIT.unreachable);
}

/** A failed answer: the server's `{"error":{"message"}}` (else its text) and the status. */
export function requestFailed(status: number, body: Buffer): CliError {
  const text = body.toString('utf8').trim();
  let message = text.split('\n')[0].slice(0, 200) || `HTTP ${status}`;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } };
    if (parsed.error?.message) message = parsed.error.message;
  } catch {
    /* not JSON */
  }
  const what = status === 503 ? 'unavailable: ' : status === 504 ? 'timed out on the server: ' : '';
  return new CliError(`${what}${message} (HTTP ${status})`, status === 503 || status === 504 ? EXIT.unreachable : EXIT.failed);
}
