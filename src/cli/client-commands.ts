// Seed 003's client: put, get, delete, list, cluster-status, cluster-add, cluster-remove, health over HTTP API v1. Exit 0 on success;
// otherwise a CliError (one line, exit 1) — or UsageError (exit 2) for a bad command line.

import type { Command } from 'commander';
import { Option } from 'commander';
import { CliError, UsageError } from './errors.ts';
import { call, normalizeServer, parseJson, parseTimeout, requestFailed, serverMessage, type ClientOptions, type Reply } from './http-client.ts';
import { CELL_CHARS, cell, escapedBytes, jsonValue, parseFormat, printJson, printTable, write, type Format } from './output.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
/** Seed 003's client default, tried when nothing listens on Concord's: a seed 003 node serves HTTP on 8081. */
export const SEED_003_SERVER = 'http://127.0.0.1:8081';
/** Above the server's default request timeout (5 s), so its 503/504 explanation arrives before we give up. */
export const DEFAULT_TIMEOUT_MS = 10_000;
const CLIENT_KEYS = new Set(['server', 'format', 'timeout', 'protocol']);

export function clientOptions(): Option[] {
  return [
    new Option('--server <url>', `node to talk to (default: $CONCORD_SERVER, else ${DEFAULT_SERVER}, else seed 003's ${SEED_003_SERVER})`),
    new Option('--format <format>', 'output: json, table or text'),
    new Option('--timeout <duration>', `give up after this long: 30 (seconds), 5s, 500ms (default: ${DEFAULT_TIMEOUT_MS / 1000})`),
    new Option('--protocol <protocol>', 'http (grpc: not yet available)'),
  ];
}

interface Ctx extends ClientOptions {
  format: Format;
}

function context(cmd: Command, defaultFormat: Format): Ctx {
  const stray = Object.entries(cmd.parent?.opts() ?? {}).find(([k, v]) => v !== undefined && !CLIENT_KEYS.has(k));
  if (stray) throw new UsageError(`--${stray[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is a server flag; it does not apply to concord ${cmd.name()}`);
  const o = cmd.optsWithGlobals<{ server?: string; format?: string; timeout?: string; protocol?: string }>();
  if (o.protocol !== undefined && o.protocol !== 'http') {
    if (o.protocol === 'grpc') throw new CliError('--protocol grpc is not yet available in the CLI; use http');
    throw new UsageError(`--protocol: expected http or grpc (got ${JSON.stringify(o.protocol)})`);
  }
  const envServer = process.env.CONCORD_SERVER || undefined;
  const given = o.server ?? envServer;
  return {
    server: given === undefined ? DEFAULT_SERVER : normalizeServer(given, o.server ? '--server' : 'CONCORD_SERVER'),
    ...(given === undefined ? { fallbacks: [SEED_003_SERVER] } : {}),
    timeoutMs: o.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseTimeout(o.timeout, '--timeout'),
    format: parseFormat(o.format, defaultFormat),
  };
}

function keyPath(key: string): string {
  if (key === '') throw new UsageError('KEY must not be empty');
  // URLs collapse "." and ".." path segments (even percent-encoded), so such a key would address another route.
  if (key === '.' || key === '..') throw new UsageError(`the key ${JSON.stringify(key)} cannot be sent in a URL path`);
  return `/v1/kv/${encodeURIComponent(key)}`;
}

function revisionOf(reply: Reply): number | undefined {
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(reply.headers.get('etag') ?? '');
  return m ? Number(m[1]) : undefined;
}

function wholeNumber(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`${flag}: expected a whole number >= ${min} (got ${JSON.stringify(text)})`);
  return Number(text);
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function ok(reply: Reply, key?: string): void {
  if (reply.status === 404 && key !== undefined) throw new CliError(`key not found: ${key}`);
  if (reply.status < 200 || reply.status > 299) throw requestFailed(reply);
}

async function put(key: string, value: string | undefined, opts: { ttl?: string; ifMatch?: string; createOnly?: boolean }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  let body: Uint8Array<ArrayBuffer>;
  if (value !== undefined) body = new Uint8Array(Buffer.from(value, 'utf8'));
  else if (process.stdin.isTTY) throw new UsageError('missing VALUE (give it as an argument or pipe it on stdin)');
  else body = new Uint8Array(await readStdin());
  const headers: Record<string, string> = {};
  const ifMatch = wholeNumber(opts.ifMatch, '--if-match', 0);
  if (ifMatch !== undefined) headers['if-match'] = `"${ifMatch}"`;
  if (opts.createOnly) headers['if-none-match'] = '*';
  const ttl = wholeNumber(opts.ttl, '--ttl', 1);
  const reply = await call(ctx, 'PUT', `${keyPath(key)}${ttl ? `?ttl=${ttl}` : ''}`, { body, headers });
  ok(reply);
  const { revision } = parseJson<{ revision: number }>(reply);
  if (ctx.format === 'json') printJson({ key, revision });
  else if (ctx.format === 'table') printTable(['key', 'revision'], [[key, revision]]);
  else write(`OK (revision ${revision})\n`);
}

async function get(key: string, opts: { consistency?: string }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  if (opts.consistency && !['linearizable', 'serializable'].includes(opts.consistency)) {
    throw new UsageError(`--consistency: expected linearizable or serializable (got ${JSON.stringify(opts.consistency)})`);
  }
  const reply = await call(ctx, 'GET', `${keyPath(key)}${opts.consistency ? `?consistency=${opts.consistency}` : ''}`);
  ok(reply, key);
  const revision = revisionOf(reply);
  if (ctx.format === 'json') printJson({ key, ...jsonValue(reply.body), revision });
  else if (ctx.format === 'table') printTable(['key', 'value', 'revision'], [[key, cell(reply.body.toString('utf8')), revision ?? '']]);
  // Exactly the stored bytes, so `concord get k > file` round-trips; a terminal gets a newline to keep the prompt tidy.
  else write(process.stdout.isTTY ? Buffer.concat([reply.body, Buffer.from('\n')]) : reply.body);
}

async function del(key: string, opts: { ifMatch?: string }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const ifMatch = wholeNumber(opts.ifMatch, '--if-match', 0);
  const reply = await call(ctx, 'DELETE', keyPath(key), { headers: ifMatch === undefined ? {} : { 'if-match': `"${ifMatch}"` } });
  ok(reply, key);
  const res = parseJson<{ deleted?: number; revision?: number }>(reply);
  if (ctx.format === 'json') printJson({ key, ...res });
  else if (ctx.format === 'table') printTable(['key', 'deleted', 'revision'], [[key, res.deleted ?? 1, res.revision ?? '']]);
  else write(`deleted ${key} (revision ${res.revision})\n`);
}

interface ListItem {
  key: string;
  value?: string;
  revision?: number;
  keyEncoding?: string;
  valueEncoding?: string;
}

interface ListReply {
  items: ListItem[];
  more?: boolean;
}

/** A listed key or value for a table: as text, or escaped (escapedBytes) when the server gave it in base64 because it is not UTF-8. */
function listCell(text: string, encoding: string | undefined): string {
  return cell(encoding === 'base64' ? escapedBytes(Buffer.from(text, 'base64'), CELL_CHARS) : text, CELL_CHARS);
}

async function list(opts: { prefix?: string; limit?: string }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'table');
  const q = new URLSearchParams();
  if (opts.prefix !== undefined) q.set('prefix', opts.prefix);
  const limit = wholeNumber(opts.limit, '--limit', 1);
  if (limit !== undefined) q.set('limit', String(limit));
  const reply = await call(ctx, 'GET', `/v1/kv${q.size ? `?${q}` : ''}`);
  ok(reply);
  const res = parseJson<ListReply>(reply);
  if (ctx.format === 'json') return printJson(res);
  if (res.items.length === 0) write('(no keys)\n');
  else printTable(['key', 'value', 'revision'], res.items.map((i) => [listCell(i.key, i.keyEncoding), listCell(i.value ?? '', i.valueEncoding), i.revision ?? '']));
  if (res.more) write('(more keys: raise --limit or narrow --prefix)\n');
}

interface ClusterReply {
  clusterId?: string;
  leader?: string | null;
  term?: number;
  nodes?: Array<{ id: string; role?: string; raftAddr?: string; httpAddr?: string; term?: number; commitIndex?: number; appliedIndex?: number; voter?: boolean; reachable?: boolean }>;
}

async function clusterStatus(_opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'table');
  const reply = await call(ctx, 'GET', '/v1/cluster');
  ok(reply);
  const st = parseJson<ClusterReply>(reply);
  if (ctx.format === 'json') return printJson(st);
  write(`cluster ${st.clusterId ?? '?'}  leader ${st.leader ?? '(none)'}  term ${st.term ?? '?'}\n`);
  printTable(
    ['id', 'role', 'raft', 'http', 'commit', 'applied', 'voter', 'reachable'],
    (st.nodes ?? []).map((n) => [n.id, n.role ?? '', n.raftAddr ?? '', n.httpAddr ?? '', n.commitIndex ?? '', n.appliedIndex ?? '', n.voter ?? '', n.reachable ?? '']),
  );
}

async function clusterAdd(id: string, raftAddr: string, opts: { learner?: boolean }, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const body = new TextEncoder().encode(JSON.stringify({ id, address: raftAddr, ...(opts.learner ? { learner: true } : {}) }));
  const reply = await call(ctx, 'POST', '/v1/cluster/nodes', { headers: { 'content-type': 'application/json' }, body });
  ok(reply);
  if (ctx.format === 'json') return printJson(parseJson(reply));
  write(`added ${id} (${raftAddr}) as a ${opts.learner ? 'learner' : 'voter'}\n`);
}

async function clusterRemove(id: string, _opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const reply = await call(ctx, 'DELETE', `/v1/cluster/nodes/${encodeURIComponent(id)}`);
  ok(reply);
  if (ctx.format === 'json') return printJson(parseJson(reply));
  write(`removed ${id}\n`);
}

async function health(_opts: unknown, cmd: Command): Promise<void> {
  const ctx = context(cmd, 'text');
  const reply = await call(ctx, 'GET', '/health');
  if (reply.status < 200 || reply.status > 299) throw new CliError(`unhealthy: ${serverMessage(reply)} (HTTP ${reply.status})`);
  let body: unknown;
  try {
    body = JSON.parse(reply.body.toString('utf8'));
  } catch {
    body = { status: reply.body.toString('utf8').trim() || 'ok' };
  }
  if (ctx.format === 'json') printJson(body);
  else if (ctx.format === 'table' && body !== null && typeof body === 'object') printTable(['field', 'value'], Object.entries(body).map(([k, v]) => [k, JSON.stringify(v)]));
  else write('ok\n');
}

export function registerClientCommands(program: Command): void {
  const withClient = (cmd: Command): Command => {
    for (const o of clientOptions()) cmd.addOption(o);
    return cmd;
  };
  withClient(program.command('put').description('store VALUE under KEY (VALUE from stdin if omitted); prints the new revision').argument('<key>').argument('[value]'))
    .option('--ttl <seconds>', 'delete the key after this many seconds')
    .option('--if-match <revision>', 'compare-and-swap: write only if the key is at this revision')
    .option('--create-only', 'write only if the key does not exist')
    .action(put);
  withClient(program.command('get').description('print the value of KEY: its exact bytes (newline added on a terminal); default --format text').argument('<key>'))
    .option('--consistency <level>', 'linearizable (default) or serializable (any replica, maybe stale)')
    .action(get);
  withClient(program.command('delete').description('delete KEY; exit 1 if it does not exist').argument('<key>'))
    .option('--if-match <revision>', 'delete only if the key is at this revision')
    .action(del);
  withClient(program.command('list').description('list keys in order with values and revisions; default --format table'))
    .option('--prefix <prefix>', 'only keys starting with this')
    .option('--limit <n>', 'at most this many keys')
    .action(list);
  withClient(program.command('cluster-status').description('members, their roles and progress, the leader; default --format table')).action(clusterStatus);
  withClient(program.command('cluster-add').description('add a member by its Raft address (a voter unless --learner); refused if it would risk the quorum').argument('<id>').argument('<raft-addr>'))
    .option('--learner', 'add as a learner: receives the log, does not vote')
    .action(clusterAdd);
  withClient(program.command('cluster-remove').description('remove a member (the leader hands over leadership first)').argument('<id>')).action(clusterRemove);
  withClient(program.command('health').description('exit 0 if the node answers /health')).action(health);
}
