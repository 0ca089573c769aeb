// Runs wrk (installing Debian's package if missing) and parses its throughput and latency percentiles.
// Scripts in bench/wrk/ end with a done() that prints one `WRK_JSON {…}` line (exact percentiles in µs,
// p99.9 included, and the error counts); without it the text summary of --latency is parsed instead.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDebianTool } from './debian.ts';

export const WRK_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wrk');

export interface WrkResult {
  rps: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  /** NaN when the script has no done() reporting it. */
  p999ms: number;
  maxms: number;
  requests: number;
  /** Non-2xx/3xx answers plus socket errors (connect, read, write, timeout). */
  errors: number;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** Set when the output gave no request rate or count: its last lines, for the report (the run is then one error). */
  unreadable?: string;
}

export interface WrkOptions {
  script?: string;
  connections: number;
  seconds: number;
  threads?: number;
  env?: Record<string, string>;
}

export function ensureWrk(): void {
  ensureDebianTool('wrk', ['wrk']);
}

export function wrkVersion(): string {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  return /wrk (\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown';
}

function ms(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function args(url: string, opts: WrkOptions): string[] {
  const a = [`-t${opts.threads ?? 2}`, `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', '--timeout', '10s'];
  if (opts.script) a.push('-s', path.join(WRK_DIR, opts.script));
  a.push(url);
  return a;
}

export function parseWrk(out: string): WrkResult {
  const r = parseWrkOutput(out);
  if (Number.isFinite(r.rps) && Number.isFinite(r.requests)) return r;
  return { ...r, errors: r.errors + 1, unreadable: out.slice(-800) };
}

function parseWrkOutput(out: string): WrkResult {
  const json = /^WRK_JSON (\{.*\})$/m.exec(out)?.[1];
  if (json) {
    const j = JSON.parse(json) as Record<string, number>;
    const socketErrors = { connect: j.connect_errors, read: j.read_errors, write: j.write_errors, timeout: j.timeouts };
    const sock = socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout;
    return {
      rps: j.requests / (j.duration_us / 1e6),
      p50ms: j.p50_us / 1000,
      p90ms: j.p90_us / 1000,
      p99ms: j.p99_us / 1000,
      p999ms: j.p999_us / 1000,
      maxms: j.max_us / 1000,
      requests: j.requests,
      errors: j.status_errors + sock,
      non2xx: j.status_errors,
      socketErrors,
    };
  }
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const pct = (p: string) => ms(new RegExp(`\\s${p}%\\s+(\\S+)`).exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const s = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = { connect: Number(s?.[1] ?? 0), read: Number(s?.[2] ?? 0), write: Number(s?.[3] ?? 0), timeout: Number(s?.[4] ?? 0) };
  const sock = socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  return { rps, p50ms: pct('50'), p90ms: pct('90'), p99ms: pct('99'), p999ms: NaN, maxms: NaN, requests, errors: non2xx + sock, non2xx, socketErrors };
}

/** Blocking run (the event loop stops meanwhile). */
export function wrk(url: string, opts: WrkOptions): WrkResult {
  return parseWrk(execFileSync('wrk', args(url, opts), { encoding: 'utf8', env: { ...process.env, ...opts.env } }));
}

/** Non-blocking run; killed if it overruns its duration by a minute. */
export function wrkAsync(url: string, opts: WrkOptions): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', args(url, opts), { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (err += String(d)));
    const timer = setTimeout(() => p.kill('SIGKILL'), (opts.seconds + 60) * 1000);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`wrk ${url} exited with ${signal ?? code}: ${err.trim()} ${out.slice(-500)}`));
      else resolve(parseWrk(out));
    });
  });
}
