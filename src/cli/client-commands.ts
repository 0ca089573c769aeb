// Seed 003's client: put, get, delete, list, txn, cluster-status, cluster-add, cluster-remove, health, through
// the Node client (src/client) over HTTP or gRPC. Exit 0 on success; otherwise a CliError with the
// exit code errors.ts names (3 not found, 4 cluster unreachable) — or UsageError (2) for a bad command line.

import type { Command } from 'commander';
import { Option } from 'commander';
import { createClient, ConcordClientError, type ConcordClient, type ListItem } from '../client/index.ts';
import { parseEndpoint } from '../client/endpoints.ts';
import { isTransient } from '../client/errors.ts';
import { CliError, EXIT, UsageError } from './errors.ts';
import { parseTimeout } from './http-client.ts';
import { CELL_CHARS, cell, escapedBytes, jsonValue, parseFormat, printJson, printTable, write, type Format } from './output.ts';
import { formatTxnText, parseTxnText, txnJson } from './txn-text.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
/** Seed 003's client default, tried when nothing listens on Concord's: a seed 003 node serves HTTP on 8081. */
export const SEED_003_SERVER = 'http://127.0.0.1:8081';
/** Seed 004's client port, where `concord server` serves gRPC by default. */
export const DEFAULT_GRPC_SERVER = '127.0.0.1:50051';
/** Above the server's default request timeout (5 s), so its 503/504 explanation arrives before we give up. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** The options every client command takes (clientOptions), as commander names them. */
export const CLIENT_KEYS = new Set(['server', 'format', 'timeout', 'protocol']);

export function clientOptions(): Option[] {
  return [
    new Option(
      '--server <list>',
      `node(s) to talk to, comma-separated; the next is tried when one fails (default: $CONCORD_SERVER, else ${DEFAULT_SERVER}, else seed 003's ${SEED_003_SERVER}; with --protocol grpc ${DEFAULT_GRPC_SERVER})`,
    ),
    new Option('--format <format>', 'output: json, table or text'),
    new Option('--timeout <duration>', `give up after this long, retries included: 30 (seconds), 5s, 500ms (default: ${DEFAULT_TIMEOUT_MS / 1000})`),
    new Option('--protocol <protocol>', 'http (default) or grpc'),
  ];
}

export interface Ctx {
  format: Format;
  timeoutMs: number;
  /** The clients to try in turn: the given servers, or the default then seed 003's when nothing listens there. */
  endpoints: string[][];
  protocol: 'http' | 'grpc';
}

export function context(cmd: Command, defaultFormat: Format): Ctx {
  const stray = Object.entries(cmd.parent?.opts() ?? {}).find(([k, v]) => v !== undefined && !CLIENT_KEYS.has(k));
  if (stray) throw new UsageError(`--${stray[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is a server flag; it does not apply to concord ${cmd.name()}`);
  const o = cmd.optsWithGlobals<{ server?: string; format?: string; timeout?: string; protocol?: string }>();
  if (o.protocol !== undefined && o.protocol !== 'http' && o.protocol !== 'grpc') throw new UsageError(`--protocol: expected http or grpc (got ${JSON.stringify(o.protocol)})`);
  const protocol = o.protocol ?? 'http';
  const given = o.server ?? (process.env.CONCORD_SERVER || undefined);
  const from = o.server !== undefined ? '--server' : 'CONCORD_SERVER';
  let endpoints: string[][];
  if (given !== undefined) {
    const list = given.split(',').map((s) => s.trim());
    if (list.some((s) => s === '')) throw new UsageError(`${from}: expected a comma-separated list of servers (got ${JSON.stringify(given)})`);
    endpoints = [list];
  } else endpoints = protocol === 'grpc' ? [[DEFAULT_GRPC_SERVER]] : [[DEFAULT_SERVER], [SEED_003_SERVER]];
  const ctx = { format: parseFormat(o.format, defaultFormat), timeoutMs: o.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseTimeout(o.timeout, '--timeout'), endpoints, protocol } as const;
  // The addresses are checked now: a bad one is a usage error, not a failed call.
  for (const text of endpoints.flat()) {
    try {
      parseEndpoint(text, protocol);
    } catch (e) {
      throw new UsageError(`${from}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return ctx;
}

const GRPC_NAMES: Record<number, string> = { 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION', 11: 'OUT_OF_RANGE', 12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE' };

/** A client failure as one line and its exit code. */
export function cliError(e: ConcordClientError, ctx: Ctx): CliError {
  if (e.code === 'deadline') return new CliError(`timed out after ${ctx.timeoutMs} ms`, EXIT.unreachable);
  if (e.code === 'unreachable') return new CliError((e.details.last ?? e).message, EXIT.unreachable);
  const status = e.details.status;
  const where = status === undefined ? '' : ctx.protocol === 'grpc' ? ` (gRPC ${GRPC_NAMES[status] ?? status})` : ` (HTTP ${status})`;
  const what = e.code === 'precondition-failed' ? 'precondition failed: ' : e.code === 'unavailable' ? 'unavailable: ' : e.code === 'timeout' ? 'timed out on the server: ' : '';
  return new CliError(`${what}${e.message}${where}`, isTransient(e) ? EXIT.unreachable : EXIT.failed);
}

/** Runs `fn` with a client; with no server named, falls back to seed 003's port when nothing listens on the default. */
export async function withClient<T>(ctx: Ctx, fn: (c: ConcordClient) => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    const c = createClient({ endpoints: ctx.endpoints[i], protocol: ctx.protocol, timeoutMs: ctx.timeoutMs, maxAttempts: 2 * ctx.endpoints[i].length });
    try {
      return await fn(c);
    } catch (e) {
      if (!(e instanceof ConcordClientError)) throw e;
      const refused = e.code === 'unreachable' && e.details.notSent === true;
      if (!refused || i + 1 >= ctx.endpoints.length) throw cliError(e, ctx);
    } finally {
      c.close();
    }
  }
}

export function keyArg(key: string): string {
  if (key === '') throw new UsageError('KEY must not be empty');
  return key;
}

export function wholeNumber(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`${flag}: expected a whole number >= ${min} (got ${JSON.stringify(text)})`);
  return Number(text);
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const notFound = (key: string) => new CliError(`key not found: ${key}`, EXIT.notFound);

async function put(key: string, value: string | undefined, opts: { ttl?: string; lease?: string; ifMatch?: string; createOnly?: boolean }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  keyArg(key);
  let body: Buffer;
  if (value !== undefined) body = Buffer.from(value, 'utf8');
  else if (process.stdin.isTTY) throw new UsageError('missing VALUE (give it as an argument or pipe it on stdin)');
  else body = await readStdin();
  const ifMatch = wholeNumber(opts.ifMatch, '--if-match', 0);
  const ttlSeconds = wholeNumber(opts.ttl, '--ttl', 1);
  const lease = wholeNumber(opts.lease, '--lease', 1);
  if (ttlSeconds !== undefined && lease !== undefined) throw new UsageError('give --ttl or --lease, not both (a lease has a TTL of its own)');
  const revision = await withClient(ctx, (c) =>
    c.put(key, body, { ...(ifMatch !== undefined ? { ifMatch } : {}), ...(opts.createOnly ? { createOnly: true } : {}), ...(ttlSeconds ? { ttlSeconds } : {}), ...(lease ? { lease } : {}) }),
  );
  if (ctx.format === 'json') printJson({ key, revision });
  else if (ctx.format === 'table') printTable(['key', 'revision'], [[key, revision]]);
  else write(`OK (revision ${revision})\n`);
}

async function get(key: string, opts: { consistency?: string }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  keyArg(key);
  const consistency = opts.consistency;
  if (consistency !== undefined && consistency !== 'linearizable' && consistency !== 'serializable') {
    throw new UsageError(`--consistency: expected linearizable or serializable (got ${JSON.stringify(consistency)})`);
  }
  const kv = await withClient(ctx, (c) => c.get(key, consistency ? { consistency } : {}));
  if (!kv) throw notFound(key);
  if (ctx.format === 'json') printJson({ key, ...jsonValue(kv.value), revision: kv.modRevision, ...(kv.lease !== undefined ? { lease: kv.lease } : {}) });
  else if (ctx.format === 'table') printTable(['key', 'value', 'revision'], [[key, cell(kv.value.toString('utf8')), kv.modRevision]]);
  // Exactly the stored bytes, so `concord get k > file` round-trips; a terminal gets a newline to keep the prompt tidy.
  else write(process.stdout.isTTY ? Buffer.concat([kv.value, Buffer.from('\n')]) : kv.value);
}

async function del(key: string, opts: { ifMatch?: string }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  keyArg(key);
  const ifMatch = wholeNumber(opts.ifMatch, '--if-match', 0);
  const res = await withClient(ctx, (c) => c.delete(key, ifMatch !== undefined ? { ifMatch } : {}));
  if (res.deleted === 0) throw notFound(key);
  if (ctx.format === 'json') printJson({ key, ...res });
  else if (ctx.format === 'table') printTable(['key', 'deleted', 'revision'], [[key, res.deleted, res.revision ?? '']]);
  else write(`deleted ${key} (revision ${res.revision})\n`);
}

/** A listed item as JSON: key and value as text, or base64 marked by keyEncoding / valueEncoding (as the HTTP listing gives them). */
function listedJson(i: ListItem, keysOnly: boolean): Record<string, unknown> {
  const k = jsonValue(i.key);
  const v = jsonValue(i.value);
  return {
    key: k.value,
    ...(keysOnly ? {} : { value: v.value }),
    revision: i.modRevision,
    ...(k.encoding ? { keyEncoding: k.encoding } : {}),
    ...(v.encoding && !keysOnly ? { valueEncoding: v.encoding } : {}),
  };
}

/** A listed key or value for a table: text, or escaped (escapedBytes) when it is not UTF-8. */
function listCell(bytes: Buffer): string {
  const j = jsonValue(bytes);
  return cell(j.encoding ? escapedBytes(bytes, CELL_CHARS) : j.value, CELL_CHARS);
}

async function list(opts: { prefix?: string; limit?: string }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'table');
  const limit = wholeNumber(opts.limit, '--limit', 1);
  const page = await withClient(ctx, (c) => c.list({ ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}), ...(limit !== undefined ? { limit } : {}) }));
  if (ctx.format === 'json') return printJson({ items: page.items.map((i) => listedJson(i, false)), more: page.more });
  if (page.items.length === 0) write('(no keys)\n');
  else printTable(['key', 'value', 'revision'], page.items.map((i) => [listCell(i.key), listCell(i.value), i.modRevision]));
  if (page.more) write('(more keys: raise --limit or narrow --prefix)\n');
}

interface WatchFlags {
  key?: string;
  fromRevision?: string;
  cursor?: string;
  prevKv?: boolean;
  progress?: boolean;
  count?: string;
}

/** A stream's JSON: one object per line, as it comes. */
const jsonLine = (value: unknown) => write(`${JSON.stringify(value)}\n`);

/** Bytes on one line: escaped where they are not printable text. */
const oneLine = (b: Uint8Array) => cell(escapedBytes(b), Infinity);

async function watch(prefix: string | undefined, opts: WatchFlags, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  if (cmd.optsWithGlobals<{ timeout?: string }>().timeout !== undefined) {
    throw new UsageError('--timeout does not apply to concord watch: it runs until interrupted or --count changes, resuming on the next --server when one fails');
  }
  if (opts.key !== undefined && prefix !== undefined) throw new UsageError('give a PREFIX or --key, not both');
  if (opts.key !== undefined) keyArg(opts.key);
  if (opts.cursor !== undefined && opts.fromRevision !== undefined) throw new UsageError('give --from-revision or --cursor, not both');
  const fromRevision = wholeNumber(opts.fromRevision, '--from-revision', 1);
  const count = wholeNumber(opts.count, '--count', 1);
  const stop = new AbortController();
  const interrupted = () => stop.abort();
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  const c = createClient({ endpoints: ctx.endpoints[0], protocol: ctx.protocol, timeoutMs: ctx.timeoutMs });
  let changes = 0;
  try {
    const events = c.watch({
      ...(opts.key !== undefined ? { key: opts.key } : prefix !== undefined ? { prefix } : {}),
      ...(fromRevision !== undefined ? { fromRevision } : {}),
      ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
      prevKv: opts.prevKv === true,
      signal: stop.signal,
    });
    for await (const e of events) {
      if (e.type === 'progress') {
        if (!opts.progress) continue;
        if (ctx.format === 'json') jsonLine({ type: 'progress', cursor: e.cursor });
        else write(`PROGRESS ${e.cursor}\n`);
        continue;
      }
      if (ctx.format === 'json') {
        const k = jsonValue(e.kv.key);
        const v = jsonValue(e.kv.value);
        const prev = e.prev && jsonValue(e.prev.value);
        jsonLine({
          type: e.type,
          key: k.value,
          ...(k.encoding ? { keyEncoding: k.encoding } : {}),
          ...(e.type === 'put' ? { value: v.value, ...(v.encoding ? { valueEncoding: v.encoding } : {}) } : {}),
          revision: e.revision,
          shard: e.shard,
          cursor: e.cursor,
          ...(prev ? { prev: { value: prev.value, ...(prev.encoding ? { valueEncoding: prev.encoding } : {}), revision: e.prev!.modRevision } } : {}),
        });
      } else {
        const value = e.type === 'put' ? ` ${e.valueOmittedBytes !== undefined ? `(${e.valueOmittedBytes} bytes)` : oneLine(e.kv.value)}` : '';
        const prev = e.prev ? ` (was ${e.prevValueOmittedBytes !== undefined ? `${e.prevValueOmittedBytes} bytes` : oneLine(e.prev.value)})` : '';
        write(`${e.type.toUpperCase()} ${oneLine(e.kv.key)}${value}${prev}  revision ${e.revision}\n`);
      }
      if (count !== undefined && ++changes >= count) stop.abort();
    }
  } catch (e) {
    if (e instanceof ConcordClientError) throw cliError(e, ctx);
    throw e;
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    c.close();
  }
}

async function txn(_opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  if (process.stdin.isTTY) throw new UsageError('concord txn reads the transaction from stdin: compares, a blank line, the success requests, a blank line, the failure requests (etcdctl\'s form)');
  const req = parseTxnText((await readStdin()).toString('utf8'));
  const r = await withClient(ctx, (c) => c.txn(req));
  if (ctx.format === 'json') printJson(txnJson(r));
  else write(formatTxnText(r));
}

async function clusterStatus(_opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'table');
  const st = await withClient(ctx, (c) => c.status());
  if (ctx.format === 'json') return printJson(st);
  write(`cluster ${st.clusterId || '?'}  leader ${st.leader ?? '(none)'}  term ${st.term}\n`);
  printTable(
    ['id', 'role', 'raft', 'http', 'commit', 'applied', 'voter', 'reachable'],
    st.nodes.map((n) => [n.id, n.role, n.raftAddr, n.httpAddr ?? '', n.commitIndex, n.appliedIndex, n.voter, n.reachable]),
  );
  if (st.shards.length > 1) {
    write('\n');
    if (st.shardMap) write(`shard map epoch ${st.shardMap.epoch}, ${st.shardMap.replicas} replicas per shard\n`);
    const r = st.rebalance;
    if (r) write(`rebalance: ${r.settled} settled, ${r.running} moving, ${r.planned} planned${r.unknown ? `, ${r.unknown} not seen (no replica answered)` : ''}\n`);
    printTable(
      ['shard', 'replicas', 'leader', 'voters', 'learners', 'keys', 'bytes', 'move', 'seen from'],
      st.shards.map((s) => [s.id, (s.replicas ?? []).join(','), s.leader ?? '(none)', s.voters.join(','), s.learners.join(','), s.keys ?? '', s.bytes ?? '', s.move ?? '', s.hosted === false ? (s.seenFrom ?? '(none)') : st.self]),
    );
  }
}

async function clusterAdd(id: string, raftAddr: string, opts: { learner?: boolean }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const st = await withClient(ctx, (c) => c.addNode(id, raftAddr, { learner: opts.learner === true }));
  if (ctx.format === 'json') return printJson(st);
  write(`added ${id} (${raftAddr}) as a ${opts.learner ? 'learner' : 'voter'}\n`);
}

async function clusterRemove(id: string, _opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const st = await withClient(ctx, (c) => c.removeNode(id));
  if (ctx.format === 'json') return printJson(st);
  write(`removed ${id}\n`);
}

async function health(_opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const body = await withClient(ctx, (c) => c.health());
  if (ctx.format === 'json') printJson(body);
  else if (ctx.format === 'table') printTable(['field', 'value'], Object.entries(body).map(([k, v]) => [k, JSON.stringify(v)]));
  else write('ok\n');
}

export function registerClientCommands(program: Command): void {
  const withOptions = (cmd: Command): Command => {
    for (const o of clientOptions()) cmd.addOption(o);
    return cmd;
  };
  withOptions(program.command('put').description('store VALUE under KEY (VALUE from stdin if omitted); prints the new revision').argument('<key>').argument('[value]'))
    .option('--ttl <seconds>', 'delete the key after this many seconds')
    .option('--lease <id>', 'attach the key to this lease (concord lease grant): its expiry or revoke deletes the key')
    .option('--if-match <revision>', 'compare-and-swap: write only if the key is at this revision')
    .option('--create-only', 'write only if the key does not exist')
    .action(put);
  withOptions(program.command('get').description('print the value of KEY: its exact bytes (newline added on a terminal); default --format text; exit 3 if absent').argument('<key>'))
    .option('--consistency <level>', 'linearizable (default) or serializable (any replica, maybe stale)')
    .action(get);
  withOptions(program.command('delete').description('delete KEY; exit 3 if it does not exist').argument('<key>'))
    .option('--if-match <revision>', 'delete only if the key is at this revision')
    .action(del);
  withOptions(program.command('list').description('list keys in order with values and revisions; default --format table'))
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--limit <n>', 'at most this many keys')
    .action(list);
  withOptions(
    program
      .command('watch')
      .description(
        'print changes to keys under PREFIX (every key if none) as they happen, one line each (--format json: one object per line), until interrupted; resumes on another --server from where it was when a node fails',
      )
      .argument('[prefix]'),
  )
    .option('--key <key>', 'watch this key only')
    .option('--from-revision <n>', 'start at this revision, replaying the history from there (a key, or a cluster of one shard)')
    .option('--cursor <cursor>', "resume from an event's cursor (--format json prints it)")
    .option('--prev-kv', 'show the value each change replaced')
    .option('--progress', 'print progress notifications too (their cursor resumes the watch)')
    .option('--count <n>', 'exit after this many changes')
    .action(watch);
  withOptions(
    program
      .command('txn')
      .description('a transaction read from stdin as etcdctl writes it: compares (mod("k") > "0"), a blank line, success requests (put/get/del), a blank line, failure requests; prints SUCCESS or FAILURE and each answer'),
  ).action(txn);
  withOptions(program.command('cluster-status').description('members, their roles and progress, the leader; default --format table')).action(clusterStatus);
  withOptions(program.command('cluster-add').description('add a member by its Raft address (a voter unless --learner); refused if it would risk the quorum').argument('<id>').argument('<raft-addr>'))
    .option('--learner', 'add as a learner: receives the log, does not vote')
    .action(clusterAdd);
  withOptions(program.command('cluster-remove').description('remove a member (the leader hands over leadership first)').argument('<id>')).action(clusterRemove);
  withOptions(program.command('health').description('exit 0 if the node answers (/health over HTTP, Cluster.Status over gRPC)')).action(health);
}
