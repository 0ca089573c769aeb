// concord lease grant|keep-alive|revoke|ttl|list: etcdctl's lease commands, through the Node client. A key is
// attached with `concord put KEY VALUE --lease ID`. Exit 3 when the lease does not exist.

import type { Command } from 'commander';
import { ConcordClientError, createClient, type ConcordClient } from '../client/index.ts';
import { clientOptions, cliError, context, keyArg, wholeNumber, withClient, type Ctx } from './client-commands.ts';
import { CliError, EXIT, UsageError } from './errors.ts';
import { cell, escapedBytes, printJson, printTable, write } from './output.ts';

const gone = (id: number) => new CliError(`lease ${id} does not exist (it expired, was revoked, or was never granted)`, EXIT.notFound);

function leaseArg(text: string): number {
  const id = wholeNumber(text, 'ID', 1)!;
  if (!Number.isSafeInteger(id)) throw new UsageError(`ID: a lease id is at most ${Number.MAX_SAFE_INTEGER}`);
  return id;
}

/** withClient, with `fn`'s not-found taken as the lease's: exit 3 naming it. */
function onLease<T>(ctx: Ctx, id: number, fn: (c: ConcordClient) => Promise<T>): Promise<T> {
  return withClient(ctx, (c) =>
    fn(c).catch((e: unknown) => {
      throw e instanceof ConcordClientError && e.code === 'not-found' ? gone(id) : e;
    }),
  );
}

async function grant(ttl: string, opts: { id?: string; key?: string }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const ttlSeconds = wholeNumber(ttl, 'TTL', 1)!;
  const id = opts.id === undefined ? undefined : leaseArg(opts.id);
  if (opts.key !== undefined) keyArg(opts.key);
  const g = await withClient(ctx, (c) => c.grantLease(ttlSeconds, { ...(id !== undefined ? { id } : {}), ...(opts.key !== undefined ? { key: opts.key } : {}) }));
  if (ctx.format === 'json') printJson({ id: g.id, ttl: g.ttlSeconds });
  else write(`${g.id}\n`);
}

async function keepAlive(idText: string, opts: { once?: boolean }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const id = leaseArg(idText);
  const first = await onLease(ctx, id, (c) => c.keepAliveLease(id));
  const say = (ttl: number) => (ctx.format === 'json' ? printJson({ id, ttl }) : write(`lease ${id} kept alive: ${ttl} s\n`));
  say(first.ttlSeconds);
  if (opts.once) return;
  const c = createClient({ endpoints: ctx.endpoints[0], protocol: ctx.protocol, timeoutMs: ctx.timeoutMs });
  const keeper = c.keepLeaseAlive(id);
  const stop = () => keeper.stop();
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    await keeper.done;
  } catch (e) {
    if (e instanceof ConcordClientError && e.code === 'not-found') throw gone(id);
    if (e instanceof ConcordClientError) throw cliError(e, ctx);
    throw e;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    c.close();
  }
}

async function revoke(idText: string, _opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const id = leaseArg(idText);
  const r = await onLease(ctx, id, (c) => c.revokeLease(id));
  if (ctx.format === 'json') printJson({ id, ...r });
  else write(`lease ${id} revoked: ${r.deleted} key${r.deleted === 1 ? '' : 's'} deleted at revision ${r.revision}\n`);
}

async function ttl(idText: string, opts: { keys?: boolean }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const id = leaseArg(idText);
  const info = await withClient(ctx, (c) => c.leaseTimeToLive(id, { keys: opts.keys === true }));
  if (!info) throw gone(id);
  if (ctx.format === 'json') {
    printJson({ id, ttl: info.ttlSeconds, granted_ttl: info.grantedTtlSeconds, ...(info.keys ? { keys: info.keys.map((k) => escapedBytes(k)) } : {}) });
    return;
  }
  write(`lease ${id}: ${info.ttlSeconds} s left of ${info.grantedTtlSeconds}\n`);
  for (const k of info.keys ?? []) write(`${cell(escapedBytes(k), Infinity)}\n`);
}

async function list(_opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'table');
  const all = await withClient(ctx, (c) => c.leases());
  if (ctx.format === 'json') return printJson(all.map((l) => ({ id: l.id, ttl: l.ttlSeconds, granted_ttl: l.grantedTtlSeconds })));
  if (ctx.format === 'text') return write(all.map((l) => `${l.id}\n`).join(''));
  printTable(['id', 'ttl left (s)', 'granted ttl (s)'], all.map((l) => [l.id, l.ttlSeconds, l.grantedTtlSeconds]));
}

export function registerLeaseCommands(program: Command): void {
  const lease = program.command('lease').description('leases (etcd\'s): grant one, attach keys with put --lease, keep it alive; its expiry or revoke deletes its keys');
  const withOptions = (cmd: Command): Command => {
    for (const o of clientOptions()) cmd.addOption(o);
    return cmd;
  };
  withOptions(lease.command('grant').description('grant a lease of TTL seconds; prints its id').argument('<ttl>'))
    .option('--id <id>', 'the lease id to use (default: the server picks one)')
    .option('--key <key>', 'put the lease in the shard of this key (or {tag}), so the key can be attached to it')
    .action(grant);
  withOptions(lease.command('keep-alive').description('renew the lease every third of its TTL until interrupted; exit 3 once it no longer exists').argument('<id>'))
    .option('--once', 'renew it once and exit')
    .action(keepAlive);
  withOptions(lease.command('revoke').description('revoke the lease: its keys are deleted, at one revision').argument('<id>')).action(revoke);
  withOptions(lease.command('ttl').description('time left on the lease').argument('<id>'))
    .option('--keys', 'also list the keys attached')
    .action(ttl);
  withOptions(lease.command('list').description('every lease with its time left; default --format table (text: one id a line)')).action(list);
}
