// Time from `npm start` (node bin/concord.js dev --nodes 3, in a temp data dir on free ports) to a cluster
// that acknowledges a write and answers a linearizable read of it; the same for a fresh 3-member etcd.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.ts';
import { EtcdCluster } from './etcd.ts';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface StartupTime {
  /** Until dev printed "3 nodes up" (every node answers /health). */
  nodesUpMs: number;
  /** Until a PUT was acknowledged and a linearizable GET returned it. */
  writeReadMs: number;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A base port such that base … base+n-1 and base+100 … base+100+n-1 are all free. */
async function freeRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = Array.from({ length: n }, (_, i) => [base + i, base + 100 + i]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free port range found');
}

async function ok(p: Promise<Response>, want?: string): Promise<boolean> {
  try {
    const r = await p;
    const body = await r.text();
    return r.ok && (want === undefined || body === want);
  } catch {
    return false;
  }
}

/** One `npm start -- --data-dir … --base-http-port … --base-raft-port … --base-grpc-port … --base-text-port …`, timed, then stopped (SIGTERM to its process group). */
export async function timeNpmStart(): Promise<StartupTime> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'concord-bench-start-'));
  const base = await freeRange(3);
  const url = `http://127.0.0.1:${base}`;
  const started = performance.now();
  const npm = spawn('npm', ['start', '--silent', '--', '--data-dir', dir, '--base-http-port', String(base), '--base-raft-port', String(base + 100), '--base-grpc-port', String(base + 200), '--base-text-port', String(base + 300), '--log-level', 'warn'], {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      if (npm.pid !== undefined) process.kill(-npm.pid, sig);
    } catch {
      /* already gone */
    }
  };
  const unregister = onCleanup(() => {
    killGroup('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  let nodesUpMs = NaN;
  npm.stdout.on('data', (d) => {
    out += String(d);
    if (Number.isNaN(nodesUpMs) && /nodes? up/.test(out)) nodesUpMs = performance.now() - started;
  });
  npm.stderr.on('data', (d) => (out += String(d)));
  try {
    const deadline = Date.now() + 60_000;
    const value = `v-${Date.now()}`;
    let wrote = false;
    for (;;) {
      if (npm.exitCode !== null) throw new Error(`npm start exited early: ${out.slice(-1000)}`);
      if (Date.now() > deadline) throw new Error(`npm start: no write+read within 60 s: ${out.slice(-1000)}`);
      const signal = AbortSignal.timeout(2000);
      if (!wrote) wrote = await ok(fetch(`${url}/v1/kv/startup-probe`, { method: 'PUT', body: value, signal }));
      if (wrote && (await ok(fetch(`${url}/v1/kv/startup-probe`, { signal }), value))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    return { nodesUpMs, writeReadMs: performance.now() - started };
  } finally {
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    // dev's children may outlive npm by a moment; they are in its process group.
    await new Promise((r) => setTimeout(r, 300));
    killGroup('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    unregister();
  }
}

/** A fresh 3-member etcd from spawn to an acknowledged put and a linearizable range through the gateway. */
export async function timeEtcdStart(): Promise<number> {
  const started = performance.now();
  const c = await EtcdCluster.create(3);
  const ms = performance.now() - started;
  await c.stop();
  return ms;
}
