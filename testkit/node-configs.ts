// Node configs for clusters run inside one process (startNode, startNodeCore), on 127.0.0.1 with free ports.
import path from 'node:path';
import { DEFAULTS, type NodeConfig } from '../src/cluster/config.ts';
import { freePort } from './ports.ts';

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
