// Helpers for tests that run real nodes: free ports, temp data dirs, polling for a condition.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DEFAULTS, type NodeConfig } from '../../src/cluster/config.ts';

/**
 * A port no server holds, for a test server to listen on. Taken from below Linux's ephemeral range
 * (32768–60999): a port from bind(0) is one the kernel may give next to an outgoing connection's local
 * end, or to another bind(0) once it is closed, before the server meant to have it binds it. Within one
 * process no port is handed out twice.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = FIRST_TEST_PORT + Math.floor(Math.random() * TEST_PORTS);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
}

/** A port with `n - 1` free ports after it, for commands that number their ports from a base. */
export function freeRange(n: number): Promise<number> {
  return freeWithOffsets(Array.from({ length: n - 1 }, (_, i) => i + 1));
}

/** A free port p with p + each offset free too (all below the ephemeral range), for ports derived by offset. */
export async function freeWithOffsets(offsets: number[]): Promise<number> {
  const span = Math.max(0, ...offsets);
  for (;;) {
    const base = FIRST_TEST_PORT + Math.floor(Math.random() * (TEST_PORTS - span));
    const ports = [base, ...offsets.map((o) => base + o)];
    if (ports.some((p) => handedOut.has(p))) continue;
    for (const p of ports) handedOut.add(p);
    if ((await Promise.all(ports.map(canListen))).every(Boolean)) return base;
  }
}

const FIRST_TEST_PORT = 20_000;
const TEST_PORTS = 12_000;
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `concord-${prefix}-`));
}

/** Configs for an n-node static cluster on 127.0.0.1 with free ports, under `dir`. */
export async function clusterConfigs(n: number, dir: string, over: Partial<NodeConfig> = {}): Promise<NodeConfig[]> {
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const raftPorts = await Promise.all(ids.map(() => freePort()));
  const httpPorts = await Promise.all(ids.map(() => freePort()));
  const peers = Object.fromEntries(ids.map((id, i) => [id, `127.0.0.1:${raftPorts[i]}`]));
  return ids.map((id, i) => ({
    ...DEFAULTS,
    nodeId: id,
    dataDir: path.join(dir, id),
    raftAddr: { host: '127.0.0.1', port: raftPorts[i] },
    httpAddr: { host: '127.0.0.1', port: httpPorts[i] },
    peers,
    join: [],
    tickMs: 50,
    logLevel: 'silent',
    ...over,
  }));
}

/** Polls `fn` until it returns something truthy; `what` (or what it returns, read on failure) names the wait. */
export async function until<T>(what: string | (() => string), fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
