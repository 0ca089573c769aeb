// Helpers for tests that run real nodes: free ports, temp data dirs, polling for a condition.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DEFAULTS, type NodeConfig } from '../../src/cluster/config.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
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

export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
