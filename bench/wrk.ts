// Runs wrk (installing Debian's package if missing) and parses its throughput and latency percentiles.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WRK_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wrk');

export interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

export function ensureWrk(): void {
  if (spawnSync('wrk', ['--version']).error === undefined) return;
  console.error('installing wrk (Debian package)…');
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: 'inherit' });
}

function ms(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export function wrk(url: string, opts: { script?: string; connections: number; seconds: number; env?: Record<string, string> }): WrkResult {
  const args = ['-t2', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', '--timeout', '10s'];
  if (opts.script) args.push('-s', path.join(WRK_DIR, opts.script));
  args.push(url);
  const out = execFileSync('wrk', args, { encoding: 'utf8', env: { ...process.env, ...opts.env } });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = /\s50%\s+(\S+)/.exec(out)?.[1] ?? '';
  const p99 = /\s99%\s+(\S+)/.exec(out)?.[1] ?? '';
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)/.exec(out);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50ms: ms(p50), p99ms: ms(p99), errors };
}
