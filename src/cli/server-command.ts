// `concord server`: resolve the settings, start the node, and stop it cleanly on SIGTERM/SIGINT. The node
// module is imported only here, lazily, so client commands start without loading storage or Raft.

import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULTS, type NodeConfig } from '../cluster/config.ts';
import type { RunningNode } from '../node/start-node.ts';
import type { Env, ServerFlags } from './config-sources.ts';
import { CliError, UsageError } from './errors.ts';
import { formatHostPort } from './addresses.ts';
import { defaultDataDir, resolveNodeConfig } from './server-config.ts';

/** Set by `concord dev` on its children: a node whose parent went away (even by SIGKILL) shuts down too. */
export const EXIT_WITH_STDIN_ENV = 'CONCORD_EXIT_WITH_STDIN';

/** Longer than any graceful close should take; past it the process exits anyway rather than hang a deploy. */
const CLOSE_DEADLINE_MS = 15_000;

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

async function readConfigFile(path: string, from: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${from}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? describe(e)})`);
  }
}

/**
 * Nodes started without --data-dir once all kept their state in ./data itself; now each has ./data/<id>.
 * A node that would start empty beside such state is refused, so it is moved or named, never forgotten.
 */
function refuseStateAtOldDefault(config: NodeConfig): void {
  if (config.dataDir !== defaultDataDir(config.nodeId) || !fs.existsSync(path.join(DEFAULTS.dataDir, 'wal'))) return;
  throw new UsageError(
    `${DEFAULTS.dataDir} holds a node's state in its top level, where nodes kept it before each got ${DEFAULTS.dataDir}/<node id> by default; ` +
      `start this node with --data-dir ${DEFAULTS.dataDir} to use it, or move its contents to ${config.dataDir}`,
  );
}

/** The same command line, but joining instead of founding: no --peers or --bootstrap, and --no-bootstrap. */
export function joinCommand(argv: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--peers') i++;
    else if (a.startsWith('--peers=') || a === '--bootstrap' || a === '--no-bootstrap') continue;
    else out.push(/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  }
  return [...out, '--no-bootstrap'].join(' ');
}

/**
 * Runs a node until a signal stops it; resolves with the exit code. `kavaFile` is seed 002's positional
 * config file (KavaDB's format), in place of a --config file.
 */
export async function runServer(flags: ServerFlags, env: Env = process.env, kavaFile?: string): Promise<number> {
  const configPath = kavaFile ?? flags.config ?? (env.CONCORD_CONFIG || undefined);
  const text = configPath === undefined ? undefined : await readConfigFile(configPath, kavaFile ? 'config file' : flags.config ? '--config' : 'CONCORD_CONFIG');
  const config = resolveNodeConfig(flags, env, text, configPath, kavaFile ? 'kava' : 'toml');
  refuseStateAtOldDefault(config);
  if (kavaFile) {
    const t = config.textAddr;
    process.stderr.write(
      `concord: ${kavaFile}: node ${config.nodeId}${t ? `, text protocol ${formatHostPort(t)} (nc ${t.host} ${t.port})` : ''}, HTTP http://${formatHostPort(config.httpAddr)}, ` +
        `raft ${formatHostPort(config.raftAddr)}${config.gossipAddr ? `, gossip ${formatHostPort(config.gossipAddr)}` : ''}, data in ${config.dataDir}\n`,
    );
  }

  let running: RunningNode;
  try {
    const { startNode } = await import('../node/start-node.ts');
    running = await startNode(config);
  } catch (e) {
    throw new CliError(`cannot start node ${config.nodeId}: ${describe(e)}`);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    let failedExit = false;
    const stop = (why: string): void => {
      // Repeated signals (a terminal's Ctrl-C reaches `concord dev` and its children alike) do not cut a close short.
      if (stopping) return;
      stopping = true;
      process.stderr.write(`concord: ${why}, stopping node ${config.nodeId}\n`);
      const deadline = setTimeout(() => {
        process.stderr.write(`error: node ${config.nodeId} did not stop within ${CLOSE_DEADLINE_MS} ms\n`);
        resolve(1);
      }, CLOSE_DEADLINE_MS);
      running.close().then(
        () => resolve(failedExit ? 1 : 0),
        (e: unknown) => {
          process.stderr.write(`error: closing node ${config.nodeId}: ${describe(e)}\n`);
          resolve(1);
        },
      ).finally(() => clearTimeout(deadline));
    };
    void running.failed.then((e) => {
      process.stderr.write(`error: ${e.message}${e.name === 'ForeignClusterError' ? `; that is: concord ${joinCommand(process.argv.slice(2))}` : ''}\n`);
      failedExit = true;
      stop('cannot go on');
    });
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    if (env[EXIT_WITH_STDIN_ENV] === '1') {
      process.stdin.on('end', () => stop('parent went away'));
      process.stdin.on('error', () => stop('parent went away'));
      process.stdin.resume();
    }
  });
}
