// The CLI's HTTP calls: one fetch per command, bounded by --timeout, with every way a call can fail turned
// into one line a person can act on (which server, why) instead of undici's "fetch failed".

import { CliError, UsageError } from './errors.ts';

export interface ClientOptions {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8080. */
  server: string;
  /**
   * Tried in turn when `server` refuses the connection (nothing listens there, so nothing was sent): the
   * default server's alternatives. The first that answers becomes `server`.
   */
  fallbacks?: string[];
  timeoutMs: number;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
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

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connect timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
};

interface CodedError {
  code?: string;
  message?: string;
  errors?: CodedError[];
}

export function networkError(e: unknown, opts: ClientOptions): CliError {
  const err = e as Error & { cause?: CodedError };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return new CliError(`timed out after ${opts.timeoutMs} ms`);
  // undici wraps the socket error in `cause`; with several addresses (localhost = ::1 and 127.0.0.1) it is an AggregateError.
  const cause = err?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  const reason = (code && REASONS[code]) ?? code ?? cause?.message ?? err?.message ?? String(e);
  return new CliError(`cannot reach ${opts.server} (${reason})`);
}

const refused = (e: unknown): boolean => {
  const cause = (e as { cause?: { code?: string; errors?: Array<{ code?: string }> } })?.cause;
  return (cause?.code ?? cause?.errors?.[0]?.code) === 'ECONNREFUSED';
};

export async function call(opts: ClientOptions, method: string, path: string, init: { body?: Uint8Array<ArrayBuffer>; headers?: Record<string, string> } = {}): Promise<Reply> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  for (;;) {
    try {
      const res = await fetch(`${opts.server}${path}`, { method, body: init.body, headers: init.headers, signal });
      const body = Buffer.from(await res.arrayBuffer()); // still under the same deadline
      return { status: res.status, headers: res.headers, body };
    } catch (e) {
      const next = opts.fallbacks?.[0];
      if (next === undefined || !refused(e)) throw networkError(e, opts);
      opts.server = next;
      opts.fallbacks = opts.fallbacks!.slice(1);
    }
  }
}

/** The server's own words for a failed request: `{"error":{"code","message"}}`, else the text, else the status. */
export function serverMessage(reply: Reply): string {
  const text = reply.body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } | string; message?: string };
    if (typeof parsed.error === 'string') return parsed.error;
    if (parsed.error?.message) return parsed.error.message;
    if (parsed.message) return parsed.message;
  } catch {
    /* not JSON */
  }
  return text.split('\n')[0].slice(0, 200) || `HTTP ${reply.status}`;
}

export function requestFailed(reply: Reply): CliError {
  const what = reply.status === 412 ? 'precondition failed: ' : reply.status === 503 ? 'unavailable: ' : reply.status === 504 ? 'timed out on the server: ' : '';
  return new CliError(`${what}${serverMessage(reply)} (HTTP ${reply.status})`);
}

export function parseJson<T>(reply: Reply): T {
  try {
    return JSON.parse(reply.body.toString('utf8')) as T;
  } catch {
    throw new CliError(`the server sent a reply that is not JSON (HTTP ${reply.status})`);
  }
}
