// The `concord` command line. With no command it is a server (seed 000's quick start passes server flags
// straight to the binary); otherwise a subcommand: server, dev, or one of seed 003's client commands.
// Actions report their exit code through process.exitCode; errors are thrown and printed once, by main().

import fs from 'node:fs';
import { Command } from 'commander';
import { CLIENT_KEYS, registerClientCommands, clientOptions } from './client-commands.ts';
import { registerLeaseCommands } from './lease-commands.ts';
import { registerBackupCommands } from './backup-commands.ts';
import type { RawDevOptions } from './dev-command.ts';
import { UsageError, CliError } from './errors.ts';
import { mergeAliases, serverOptions, type RawServerOptions } from './server-flags.ts';

const VERSION = '0.1.0';
/** In the contract (DESIGN §3) but not built yet: listed in help as such, and say so when run. */
const RESERVED: Record<string, { what: string; instead?: string }> = {
  bench: { what: 'measure throughput and latency against a cluster' },
  // Seed 004's GUI client: Concord's is the web dashboard every node will serve.
  gui: {
    what: 'open the web dashboard',
    instead: 'the dashboard will be served by every node at http://<node HTTP address>/ui (e.g. http://127.0.0.1:8080/ui); until then use concord get/put/delete/list or the HTTP API',
  },
};

async function serve(raw: RawServerOptions, seedFile?: string): Promise<void> {
  // Loaded on demand: client commands never pay for the server's modules.
  const { runServer } = await import('./server-command.ts');
  const flags = mergeAliases(raw);
  if (seedFile !== undefined && flags.config !== undefined) throw new UsageError(`give one config file: ${seedFile} or --config ${flags.config}`);
  process.exitCode = await runServer(flags, process.env, seedFile);
}

/** Seed 002 starts a node as `kava.conf`: one argument naming a file (KavaDB's format) is that file. */
function seedConfigArg(args: string[]): string | undefined {
  if (args.length !== 1) return undefined;
  const [arg] = args;
  return arg.endsWith('.conf') || fs.existsSync(arg) ? arg : undefined;
}

function rejectClientOptions(opts: Record<string, unknown>): void {
  const given = Object.keys(opts).find((k) => CLIENT_KEYS.has(k) && opts[k] !== undefined);
  if (given) throw new UsageError(`--${given} is a client option; put it after a client command, e.g. concord get KEY --${given} …`);
}

export function buildProgram(): Command {
  const program = new Command('concord')
    .description('Concord: a distributed key-value store (Raft + LMDB).\nWith no command, starts a server: `concord [server flags]` is `concord server [server flags]`.')
    .usage('[server flags]\n       concord FILE.conf [server flags]   (a KavaDB config file, seed 002)\n       concord <command> [options]')
    .version(VERSION)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      // commander puts "(Did you mean …?)" on a second line; usage errors stay one line.
      outputError: (text, write) => write(text.replace(/\n\(Did you mean/g, ' (did you mean')),
    });
  for (const o of serverOptions()) program.addOption(o.hideHelp());
  for (const o of clientOptions()) program.addOption(o.hideHelp());
  program.addHelpText(
    'after',
    `
Server flags: see \`concord server --help\`. Client commands take --server (one node or a comma-separated list,
tried in turn when one fails; default $CONCORD_SERVER or http://127.0.0.1:8080, else seed 003's
http://127.0.0.1:8081), --protocol http|grpc (grpc: host:port, default 127.0.0.1:50051), --format json|table|text,
--timeout 30 (seconds; 5s, 500ms; retries included).
Exit codes: 0 ok; 1 the request failed (refused precondition, bad input, server error); 2 bad usage;
3 key not found; 4 the cluster could not be reached or could not serve in time (no node answered, no quorum).`,
  );
  program.action(async (opts: RawServerOptions & Record<string, unknown>, cmd: Command) => {
    const seedFile = seedConfigArg(cmd.args);
    if (cmd.args.length > 0 && seedFile === undefined) throw new UsageError(`unknown command '${cmd.args[0]}' (see concord --help)`);
    rejectClientOptions(opts);
    await serve(opts, seedFile);
  });

  const server = program
    .command('server')
    .description('run a node (the default with no command); a data dir that holds state is resumed and bootstrap flags ignored');
  for (const o of serverOptions()) server.addOption(o);
  server.addHelpText(
    'after',
    `
Precedence: flags > CONCORD_* environment (CONCORD_HTTP_ADDR, CONCORD_DATA_DIR, CONCORD_PEERS, …; LOG_LEVEL too)
> --config file (or CONCORD_CONFIG) > defaults.

Examples:
  concord server                                        one node, HTTP 127.0.0.1:8080, data in ./data/n1
  concord kava.conf                                     a node from a KavaDB config file (seed 002; see src/cli/README.md)
  concord --name node1 --http-addr 127.0.0.1:3001 -g 127.0.0.1:4001          (seed 000)
  concord server --node-id node1 --bind-address 127.0.0.1:7001 --http-port 8081 --bootstrap   (seed 003)
  concord server --node-id n1 --raft-addr 127.0.0.1:7001 --http-addr 127.0.0.1:8001 --data-dir data/n1 \\
      --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003       (one of three static members)`,
  );
  server.action(async (opts: RawServerOptions) => {
    // `concord --data-dir d server --http-port 1` works too: flags before the command, then after it.
    const globals = program.opts<RawServerOptions & Record<string, unknown>>();
    rejectClientOptions(globals);
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    await serve({ ...globals, ...given });
  });

  program
    .command('dev')
    .description('run a local N-node cluster (what `npm start` runs); prints "nK http://… grpc host:port text host:port" per node; Ctrl-C stops it')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--base-http-port <port>', 'n1\'s HTTP port; nK gets base+K-1', '8001')
    .option('--base-raft-port <port>', 'n1\'s Raft port; nK gets base+K-1', '7001')
    .option('--base-grpc-port <port>', 'n1\'s gRPC port; nK gets base+K-1', '50051')
    .option('--base-text-port <port>', 'n1\'s text-protocol port (seed 002\'s PUT/READ/…, `nc host port`); nK gets base+K-1', '3001')
    .option('--data-dir <dir>', 'parent of the nodes\' data dirs (nK in <dir>/nK); reused on restart', './data')
    .option('--host <host>', 'address every node listens on', '127.0.0.1')
    .option('--log-level <level>', 'the nodes\' log level (default: theirs, or LOG_LEVEL)')
    .option('--shards <n>', 'split the key space into this many shards (passed to every node as --shards; default: the server\'s, 1); fixed when the cluster is founded, so a restart over the same --data-dir must give the same count')
    .option('--replicas <n>', 'with --shards: members holding each shard (passed to every node as --replicas; default: the server\'s, 3); with fewer nodes than this, every node holds every shard')
    .action(async (opts: RawDevOptions) => {
      const { runDevCommand } = await import('./dev-command.ts');
      process.exitCode = await runDevCommand(opts);
    });

  registerClientCommands(program);
  registerLeaseCommands(program);
  registerBackupCommands(program);

  for (const [name, { what, instead }] of Object.entries(RESERVED)) {
    program
      .command(name)
      .description(`${what} (not yet available)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new CliError(`concord ${name} is not yet available${instead ? `: ${instead}` : ''}`);
      });
  }
  // Only the root takes stray words (to name them as an unknown command); set last because subcommands
  // inherit their parent's settings when created, and `concord get k extra` must stay an error.
  program.allowExcessArguments();
  return program;
}
