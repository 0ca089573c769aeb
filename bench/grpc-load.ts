// h2load (Debian's nghttp2-client, installed if missing) as the gRPC load generator of the comparison: a
// unary gRPC call is an HTTP/2 POST to /package.Service/Method with content-type application/grpc and a
// body of one length-prefixed message, and h2load sends the same body file on every request, over -c
// connections with -m streams each, from -t threads. Percentiles are exact, from h2load's per-request log.
//
// h2load counts an HTTP 200 as a success, and a gRPC error is an HTTP 200 too (its status is in the
// trailers, which h2load does not read). What it does count is the DATA bytes received: an error is
// answered without a message, a success with one, so `fullAnswers` says how many requests got an answer
// at least as long as a reference answer (the caller's probe call, made just before the run).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureDebianTool } from './debian.ts';
import type { WrkResult } from './wrk.ts';

export interface H2loadOptions {
  /** host:port, served as HTTP/2 without TLS (h2c, prior knowledge). */
  addr: string;
  /** /package.Service/Method */
  path: string;
  /** The whole request body, framed (grpcFrame). */
  body: Uint8Array;
  connections: number;
  seconds: number;
  /** Streams in flight per connection (1: one call at a time on each, as wrk's one request per connection). */
  streams?: number;
  threads?: number;
}

export interface H2loadResult extends WrkResult {
  /** Requests h2load saw end with a 2xx status. */
  succeeded: number;
  /** DATA frame payload received, gRPC's 5-byte prefixes included. */
  dataBytes: number;
}

export function ensureH2load(): void {
  ensureDebianTool('h2load', ['nghttp2-client']);
}

export function h2loadVersion(): string {
  const r = spawnSync('h2load', ['--version'], { encoding: 'utf8' });
  return /nghttp2\/(\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown';
}

/** gRPC's length-prefixed message: a compressed flag (0: not compressed), the length (4 bytes, big-endian), the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** How many answers of at least `answerBytes` (a message of that length, framed) the received DATA holds at most. */
export function fullAnswers(r: Pick<H2loadResult, 'dataBytes'>, answerBytes: number): number {
  return Math.floor(r.dataBytes / (answerBytes + 5));
}

/** Nearest-rank percentile of sorted values. */
function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/**
 * Percentiles in ms of the requests in an h2load --log-file (tab-separated: start µs since the epoch,
 * status, µs until the end of the response); failed streams (status -1) are left out.
 */
export function logPercentiles(log: string): { p50ms: number; p90ms: number; p99ms: number; p999ms: number; maxms: number; count: number } {
  const lines = log.split('\n');
  const us = new Float64Array(lines.length);
  let n = 0;
  for (const line of lines) {
    const f = line.split('\t');
    if (f.length < 3 || f[1] === '-1') continue;
    us[n++] = Number(f[2]);
  }
  const sorted = us.subarray(0, n).sort();
  return { p50ms: pct(sorted, 0.5) / 1000, p90ms: pct(sorted, 0.9) / 1000, p99ms: pct(sorted, 0.99) / 1000, p999ms: pct(sorted, 0.999) / 1000, maxms: n ? sorted[n - 1] / 1000 : NaN, count: n };
}

/** h2load's summary lines: requests, status codes, traffic, and the duration it ran. */
export function parseH2load(out: string): Omit<H2loadResult, 'p50ms' | 'p90ms' | 'p99ms' | 'p999ms' | 'maxms'> {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const finished = /finished in ([\d.]+)(us|ms|s),/.exec(out);
  const seconds = finished ? Number(finished[1]) / (finished[2] === 'us' ? 1e6 : finished[2] === 'ms' ? 1e3 : 1) : NaN;
  const done = num(/requests: \d+ total, \d+ started, (\d+) done/);
  const succeeded = num(/(\d+) succeeded/);
  const failed = num(/(\d+) failed/);
  const errored = num(/(\d+) errored/);
  const timeout = num(/(\d+) timeout/);
  const ok2xx = num(/status codes: (\d+) 2xx/);
  const non2xx = num(/2xx, (\d+) 3xx/) + num(/3xx, (\d+) 4xx/) + num(/4xx, (\d+) 5xx/);
  return {
    rps: succeeded / seconds,
    requests: done,
    succeeded: ok2xx,
    errors: failed + non2xx,
    non2xx,
    socketErrors: { connect: 0, read: errored, write: 0, timeout },
    dataBytes: num(/headers \(space savings [\d.]+%\), [\d.]+\w*B \((\d+)\) data/),
  };
}

/** One h2load run (asynchronous; killed if it overruns its duration by a minute). */
export function h2loadAsync(o: H2loadOptions): Promise<H2loadResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'concord-bench-h2load-'));
  const bodyFile = path.join(dir, 'body');
  const logFile = path.join(dir, 'log');
  fs.writeFileSync(bodyFile, o.body);
  const threads = Math.min(o.threads ?? 2, o.connections);
  const args = [`-c${o.connections}`, `-m${o.streams ?? 1}`, `-t${threads}`, `-D${o.seconds}`,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', bodyFile, `--log-file=${logFile}`, `http://${o.addr}${o.path}`];
  return new Promise<H2loadResult>((resolve, reject) => {
    const p = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    const timer = setTimeout(() => p.kill('SIGKILL'), (o.seconds + 60) * 1000);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`h2load ${o.addr}${o.path} exited with ${signal ?? code}: ${out.slice(-800)}`));
      const summary = parseH2load(out);
      if (!Number.isFinite(summary.rps)) return reject(new Error(`h2load ${o.addr}${o.path}: no summary in its output: ${out.slice(-800)}`));
      const { count: _count, ...lat } = logPercentiles(fs.readFileSync(logFile, 'utf8'));
      resolve({ ...summary, ...lat });
    });
  }).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}
