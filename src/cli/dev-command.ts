// `concord dev` as a process: parse its flags, start the cluster, and turn Ctrl-C / SIGTERM into a clean
// stop of every child (SIGTERM, then SIGKILL after a grace period). A second signal kills at once.

import { defaultDevDeps, startDev, type DevOptions } from './dev.ts';
import { UsageError } from './errors.ts';
import { LOG_LEVELS } from './server-config.ts';

function int(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag}: expected a whole number (got ${JSON.stringify(text)})`);
  return Number(text);
}

export function devOptions(raw: { nodes: string; baseHttpPort: string; baseRaftPort: string; dataDir: string; host: string; logLevel?: string }): DevOptions {
  if (raw.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(raw.logLevel)) {
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(raw.logLevel)})`);
  }
  return {
    nodes: int(raw.nodes, '--nodes'),
    baseHttpPort: int(raw.baseHttpPort, '--base-http-port'),
    baseRaftPort: int(raw.baseRaftPort, '--base-raft-port'),
    dataDir: raw.dataDir,
    host: raw.host,
    logLevel: raw.logLevel,
  };
}

export async function runDevCommand(raw: Parameters<typeof devOptions>[0]): Promise<number> {
  const opts = devOptions(raw);
  const deps = defaultDevDeps();
  let signalled: NodeJS.Signals | undefined;
  let cluster: Awaited<ReturnType<typeof startDev>> | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      deps.err(`${sig} again: killing every node now`);
      for (const n of cluster?.nodes ?? []) n.proc.kill('SIGKILL');
      return;
    }
    signalled = sig;
    if (cluster) {
      deps.err(`${sig}: stopping ${opts.nodes} node(s)…`);
      void cluster.stop();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  cluster = await startDev(opts, deps);
  // A signal that arrived while the nodes were starting is honoured now that they can be stopped.
  if (signalled) void cluster.stop();
  await cluster.allExited;
  if (signalled) {
    deps.err('all nodes stopped');
    return 0;
  }
  deps.err('every node has exited');
  return 1;
}
