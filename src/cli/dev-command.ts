// `concord dev` as a process: parse its flags, start the cluster, and turn Ctrl-C / SIGTERM into a clean
// stop of every child (SIGTERM, then SIGKILL after a grace period). A second signal kills at once.

import { defaultDevDeps, startDev, type DevCluster, type DevOptions } from './dev.ts';
import { UsageError } from './errors.ts';
import { LOG_LEVELS } from './server-config.ts';

function int(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag}: expected a whole number (got ${JSON.stringify(text)})`);
  return Number(text);
}

/** `concord dev`'s options as commander gives them. */
export interface RawDevOptions {
  nodes: string;
  baseHttpPort: string;
  baseRaftPort: string;
  baseGrpcPort: string;
  baseTextPort: string;
  dataDir: string;
  host: string;
  logLevel?: string;
  shards?: string;
  replicas?: string;
}

export function devOptions(raw: RawDevOptions): DevOptions {
  if (raw.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(raw.logLevel)) {
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(raw.logLevel)})`);
  }
  return {
    nodes: int(raw.nodes, '--nodes'),
    baseHttpPort: int(raw.baseHttpPort, '--base-http-port'),
    baseRaftPort: int(raw.baseRaftPort, '--base-raft-port'),
    baseGrpcPort: int(raw.baseGrpcPort, '--base-grpc-port'),
    baseTextPort: int(raw.baseTextPort, '--base-text-port'),
    dataDir: raw.dataDir,
    host: raw.host,
    logLevel: raw.logLevel,
    ...(raw.shards !== undefined ? { shards: int(raw.shards, '--shards') } : {}),
    ...(raw.replicas !== undefined ? { replicas: int(raw.replicas, '--replicas') } : {}),
  };
}

export async function runDevCommand(raw: RawDevOptions): Promise<number> {
  const opts = devOptions(raw);
  const deps = defaultDevDeps();
  const state: { cluster?: DevCluster; signalled?: NodeJS.Signals } = {};
  const onSignal = (sig: NodeJS.Signals): void => {
    if (state.signalled) {
      deps.err(`${sig} again: killing every node now`);
      for (const n of state.cluster?.nodes ?? []) n.proc.kill('SIGKILL');
      return;
    }
    state.signalled = sig;
    deps.err(`${sig}: stopping ${opts.nodes} node(s)…`);
    void state.cluster?.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    state.cluster = await startDev(opts, deps);
  } catch (e) {
    // Ctrl-C during startup reaches the children too (one process group): their exit is not the failure.
    if (state.signalled) return 0;
    throw e;
  }
  // A signal that arrived while the nodes were starting is honoured now that they can be stopped.
  if (state.signalled) void state.cluster.stop();
  await state.cluster.allExited;
  if (state.signalled) {
    deps.err('all nodes stopped');
    return 0;
  }
  deps.err('every node has exited');
  return 1;
}
