// concord backup --out FILE: stream GET /v1/backup to a file (with progress on a terminal) and write its
// SHA-256 beside it. concord restore FILE --data-dir DIR: check the file and build a new node's data dir.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Command } from 'commander';
import { CliError, UsageError } from './errors.ts';
import { networkError, normalizeServer, parseTimeout, requestFailed } from './http-client.ts';
import { write } from './output.ts';
import { DEFAULT_SERVER } from './client-commands.ts';
import { DEFAULTS, MAX_REPLICAS } from '../cluster/config.ts';

const MiB = 1024 * 1024;

async function backup(opts: { out?: string; server?: string; timeout?: string }): Promise<void> {
  if (!opts.out) throw new UsageError('--out FILE is required');
  const server = opts.server
    ? normalizeServer(opts.server, '--server')
    : normalizeServer(process.env.CONCORD_SERVER || DEFAULT_SERVER, process.env.CONCORD_SERVER ? 'CONCORD_SERVER' : 'default');
  // A backup streams the whole data set: the deadline is for the whole transfer, so it is generous.
  const ctx = { server, timeoutMs: opts.timeout ? parseTimeout(opts.timeout, '--timeout') : 10 * 60_000 };
  let res: Response;
  try {
    res = await fetch(`${server}/v1/backup`, { signal: AbortSignal.timeout(ctx.timeoutMs) });
  } catch (e) {
    throw networkError(e, ctx);
  }
  if (!res.ok || !res.body) {
    throw requestFailed(res.status, Buffer.from(await res.arrayBuffer()));
  }
  // One shard: the index of its image; several: each shard's (its body is their images as sections).
  const perShard = res.headers.get('x-concord-applied-indexes');
  const at: { shards: number[] } | { appliedIndex: number } = perShard ? { shards: perShard.split(',').map(Number) } : { appliedIndex: Number(res.headers.get('x-concord-applied-index')) };
  const { backupHeaderLine } = await import('../node/backup-file.ts');
  const tmp = `${opts.out}.partial`;
  const out = fs.openSync(tmp, 'w');
  const hash = createHash('sha256');
  const header = Buffer.from(backupHeaderLine(at));
  fs.writeSync(out, header);
  hash.update(header);
  let bytes = 0;
  const tty = process.stderr.isTTY;
  for await (const chunk of res.body) {
    fs.writeSync(out, chunk);
    hash.update(chunk);
    bytes += chunk.byteLength;
    if (tty) process.stderr.write(`\rbackup: ${(bytes / MiB).toFixed(1)} MiB`);
  }
  fs.fsyncSync(out);
  fs.closeSync(out);
  fs.renameSync(tmp, opts.out);
  const digest = hash.digest('hex');
  fs.writeFileSync(`${opts.out}.sha256`, `${digest}  ${opts.out}\n`);
  if (tty) process.stderr.write('\n');
  const what = 'shards' in at ? `${at.shards.length} shards at indexes ${at.shards.join(', ')}` : `index ${at.appliedIndex}`;
  write(`backup of ${what}: ${bytes} bytes to ${opts.out}, sha256 ${digest}\n`);
}

async function restore(file: string, opts: { dataDir?: string; nodeId?: string; replicas?: string }): Promise<void> {
  if (!opts.dataDir) throw new UsageError('--data-dir DIR is required');
  const replicas = opts.replicas === undefined ? DEFAULTS.replicas : Number(opts.replicas);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) throw new UsageError(`--replicas: expected a whole number in 1..${MAX_REPLICAS} (got ${JSON.stringify(opts.replicas)})`);
  if (!fs.existsSync(file)) throw new CliError(`no such file: ${file}`);
  const sidecar = `${file}.sha256`;
  if (fs.existsSync(sidecar)) {
    const want = fs.readFileSync(sidecar, 'utf8').split(/\s+/)[0];
    const got = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    if (want !== got) throw new CliError(`${file} does not match ${sidecar} (sha256 ${got}, expected ${want})`);
  }
  const nodeId = opts.nodeId ?? 'n1';
  const { restoreBackup } = await import('../node/backup-file.ts');
  try {
    const { appliedIndex, shards } = await restoreBackup(file, opts.dataDir, nodeId, replicas);
    const what = shards.length > 1 ? `${shards.length} shards at indexes ${shards.join(', ')}` : `index ${appliedIndex}`;
    write(`restored ${what} into ${opts.dataDir}; start it with: concord server --node-id ${nodeId} --data-dir ${opts.dataDir}\n`);
  } catch (e) {
    throw new CliError(`restore failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('write a consistent online backup (every acknowledged write) to a file, with its sha256 beside it')
    .option('--out <file>', 'where to write the backup')
    .option('--server <url>', 'node to back up from (env CONCORD_SERVER)')
    .option('--timeout <duration>', 'give up after this long: 600 (seconds), 10m (default: 10 minutes)')
    .action(backup);
  program
    .command('restore')
    .description('create the data dir of a new single-node cluster from a backup (its sha256 is checked when present)')
    .argument('<file>')
    .option('--data-dir <dir>', 'a new, empty data dir')
    .option('--node-id <id>', 'the new node’s id (default n1)')
    .option('--replicas <n>', `with several shards: members holding each shard once nodes are added, fixed from then on (default ${DEFAULTS.replicas})`)
    .action(restore);
}
