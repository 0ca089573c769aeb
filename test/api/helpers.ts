// A real HTTP API on 127.0.0.1 (port 0) over the in-memory services, plus small request helpers.

import http from 'node:http';
import net from 'node:net';
import { execFile } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import { buildHttpApi, type HttpApiDeps } from '../../src/api/http/index.ts';
import type { HttpTimeouts } from '../../src/api/http/limits.ts';
import { fastGet, type FastRouteOptions } from '../../src/api/http/fast-get.ts';
import { fastPut } from '../../src/api/http/fast-put.ts';
import { nodeFront } from '../../src/api/http/fast-front.ts';
import { MemoryCluster, MemoryKv } from './memory-kv.ts';
import type { FaultRules } from '../../src/transport/faults.ts';

export const LIMITS = { maxKeyBytes: 8192, maxValueBytes: 64 * 1024 };

export interface TestApi {
  app: FastifyInstance;
  kv: MemoryKv;
  cluster: MemoryCluster;
  url: string;
  port: number;
  metricsText: string;
  close(): Promise<void>;
}

export async function startApi(
  opts: { timeouts?: Partial<HttpTimeouts>; metrics?: boolean; faults?: FaultRules; observeRequest?: HttpApiDeps['observeRequest']; staleSeedReads?: boolean } = {},
): Promise<TestApi> {
  const kv = new MemoryKv();
  const cluster = new MemoryCluster();
  const metricsText = '# HELP concord_up 1 when up\n# TYPE concord_up gauge\nconcord_up 1\n';
  const app = buildHttpApi({
    kv,
    cluster,
    limits: LIMITS,
    logger: false,
    nodeId: 'n1',
    metrics: opts.metrics === false ? undefined : async () => metricsText,
    timeouts: opts.timeouts,
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.observeRequest ? { observeRequest: opts.observeRequest } : {}),
    ...(opts.staleSeedReads ? { staleSeedReads: true } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { app, kv, cluster, port, url: `http://127.0.0.1:${port}`, metricsText, close: () => app.close() };
}

/** A plain node:http server (port 0) offering each request to the fast routes; what they leave is answered 599. */
export async function fastRoutesOnly(o: FastRouteOptions): Promise<http.Server> {
  const front = nodeFront({ get: fastGet(o), put: fastPut(o) });
  const srv = http.createServer((req, res) => {
    if (!front(req, res)) res.writeHead(599).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}

export function jsonInit(method: string, body: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

/** The status and error code of an error response, checking its shape on the way. */
export async function errorOf(r: Response): Promise<{ status: number; code: string; message: string }> {
  const body = await r.json();
  if (typeof body?.error?.code !== 'string' || typeof body?.error?.message !== 'string') {
    throw new Error(`not an error body: ${JSON.stringify(body)}`);
  }
  return { status: r.status, code: body.error.code, message: body.error.message };
}

export interface RawExchange {
  /** Everything the server sent. */
  response: string;
  /** Milliseconds from connect until the server closed the connection. */
  closedAfterMs: number;
}

/** Sends raw bytes and waits for the server to close the connection (or for `waitMs`). */
export function rawRequest(port: number, payload: string | Buffer, waitMs = 5000): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => undefined); // a reset after the server's answer is fine: we read what came
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ response: Buffer.concat(chunks).toString('latin1'), closedAfterMs: Date.now() - t0 });
    });
    s.on('connect', () => s.write(payload));
    s.on('timeout', () => reject(new Error('timeout')));
  });
}

/** The body of a raw HTTP/1.1 response (no chunked encoding expected). */
export function bodyOf(raw: string): string {
  return raw.slice(raw.indexOf('\r\n\r\n') + 4);
}

/** Runs curl with the given arguments; resolves with stdout. */
export function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', ...args], (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

export function hasCurl(): Promise<boolean> {
  return new Promise((resolve) => execFile('curl', ['--version'], (err) => resolve(!err)));
}
