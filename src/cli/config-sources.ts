// The three sources of server settings — a TOML file, CONCORD_* variables, flags — read into one shape
// ("layers") so precedence is a plain fold (file < env < flags) and every value remembers where it came
// from, for error messages that point at the right place.

import { parse as parseToml } from 'smol-toml';
import { UsageError } from './errors.ts';

/** Server flags after their aliases are merged (--name = --node-id, --bind-address = --raft-addr, …). */
export interface ServerFlags {
  nodeId?: string;
  clusterId?: string;
  dataDir?: string;
  httpAddr?: string;
  httpPort?: string;
  raftAddr?: string;
  grpcAddr?: string;
  grpcPort?: string;
  textAddr?: string;
  gossipAddr?: string;
  join?: string[];
  peers?: string[];
  bootstrap?: boolean;
  maxKeyBytes?: string;
  maxValueBytes?: string;
  maxTxnOps?: string;
  maxKeys?: string;
  maxBytes?: string;
  requestTimeoutMs?: string;
  tickMs?: string;
  electionTicks?: string;
  leaseReads?: boolean;
  staleReadsOnNoQuorum?: boolean;
  faultInjection?: boolean;
  snapshotEntries?: string;
  snapshotBytes?: string;
  snapshotKeepEntries?: string;
  cacheBytes?: string;
  historyRevisions?: string;
  historyBytes?: string;
  raftLogMemoryBytes?: string;
  shards?: string;
  replicas?: string;
  voters?: string;
  deadNodeTimeoutMs?: string;
  logLevel?: string;
  /** Path of the TOML file; read by the caller, not part of a layer. */
  config?: string;
}

export type SettingKey = Exclude<keyof ServerFlags, 'config'>;
export interface Setting<T> {
  value: T;
  /** '--http-addr', 'CONCORD_HTTP_ADDR' or 'concord.toml: http_addr'. */
  from: string;
}
export type Layer = { [K in SettingKey]?: Setting<NonNullable<ServerFlags[K]>> };
export type Env = Record<string, string | undefined>;

type Kind = 'string' | 'bool' | 'list';
const SPEC: Record<SettingKey, { flag: string; kind: Kind }> = {
  nodeId: { flag: '--node-id/--name', kind: 'string' },
  clusterId: { flag: '--cluster-id', kind: 'string' },
  dataDir: { flag: '--data-dir', kind: 'string' },
  httpAddr: { flag: '--http-addr', kind: 'string' },
  httpPort: { flag: '--http-port', kind: 'string' },
  raftAddr: { flag: '--raft-addr/--bind-address', kind: 'string' },
  grpcAddr: { flag: '--grpc-addr', kind: 'string' },
  grpcPort: { flag: '--grpc-port', kind: 'string' },
  textAddr: { flag: '--text-addr', kind: 'string' },
  gossipAddr: { flag: '-g/--gossip-addr', kind: 'string' },
  join: { flag: '--join/--gossip-join-addr', kind: 'list' },
  peers: { flag: '--peers', kind: 'list' },
  bootstrap: { flag: '--bootstrap', kind: 'bool' },
  maxKeyBytes: { flag: '--max-key-bytes', kind: 'string' },
  maxValueBytes: { flag: '--max-value-bytes', kind: 'string' },
  maxTxnOps: { flag: '--max-txn-ops', kind: 'string' },
  maxKeys: { flag: '--max-keys', kind: 'string' },
  maxBytes: { flag: '--max-bytes', kind: 'string' },
  requestTimeoutMs: { flag: '--request-timeout-ms', kind: 'string' },
  tickMs: { flag: '--tick-ms', kind: 'string' },
  electionTicks: { flag: '--election-ticks', kind: 'string' },
  leaseReads: { flag: '--lease-reads', kind: 'bool' },
  staleReadsOnNoQuorum: { flag: '--stale-reads-on-no-quorum', kind: 'bool' },
  faultInjection: { flag: '--fault-injection', kind: 'bool' },
  snapshotEntries: { flag: '--snapshot-entries', kind: 'string' },
  snapshotBytes: { flag: '--snapshot-bytes', kind: 'string' },
  snapshotKeepEntries: { flag: '--snapshot-keep-entries', kind: 'string' },
  cacheBytes: { flag: '--cache-bytes', kind: 'string' },
  historyRevisions: { flag: '--history-revisions', kind: 'string' },
  historyBytes: { flag: '--history-bytes', kind: 'string' },
  raftLogMemoryBytes: { flag: '--raft-log-memory-bytes', kind: 'string' },
  shards: { flag: '--shards', kind: 'string' },
  replicas: { flag: '--replicas', kind: 'string' },
  voters: { flag: '--voters', kind: 'string' },
  deadNodeTimeoutMs: { flag: '--dead-node-timeout-ms', kind: 'string' },
  logLevel: { flag: '--log-level', kind: 'string' },
};
const KEYS = Object.keys(SPEC) as SettingKey[];

/** The seeds' spellings, accepted in the file as they are on the command line. */
const FILE_ALIASES: Record<string, SettingKey> = { name: 'nodeId', bind_address: 'raftAddr', gossip_join_addr: 'join' };

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const envName = (k: SettingKey): string => `CONCORD_${snake(k).toUpperCase()}`;
export const fileKey = (k: SettingKey): string => snake(k);

function put(layer: Layer, key: SettingKey, value: string | boolean | string[], from: string): void {
  (layer as Record<string, Setting<unknown>>)[key] = { value, from };
}

export function layerFromFlags(flags: ServerFlags): Layer {
  const layer: Layer = {};
  for (const k of KEYS) {
    const v = flags[k];
    if (v !== undefined) put(layer, k, v, SPEC[k].flag);
  }
  return layer;
}

function parseBool(text: string, from: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  throw new UsageError(`${from}: expected true or false (got ${JSON.stringify(text)})`);
}

/** CONCORD_<SETTING> for every setting; LOG_LEVEL too (below CONCORD_LOG_LEVEL). Empty means unset. */
export function layerFromEnv(env: Env): Layer {
  const layer: Layer = {};
  for (const k of KEYS) {
    const name = envName(k);
    let text = env[name];
    let from = name;
    if ((text === undefined || text === '') && k === 'logLevel') [text, from] = [env.LOG_LEVEL, 'LOG_LEVEL'];
    if (text === undefined || text === '') continue;
    const kind = SPEC[k].kind;
    put(layer, k, kind === 'bool' ? parseBool(text, from) : kind === 'list' ? [text] : text, from);
  }
  return layer;
}

function fileValue(key: SettingKey, raw: unknown, from: string): string | boolean | string[] {
  const kind = SPEC[key].kind;
  if (kind === 'bool') {
    if (typeof raw !== 'boolean') throw new UsageError(`${from}: expected true or false`);
    return raw;
  }
  if (kind === 'list') {
    if (typeof raw === 'string') return [raw];
    if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return raw as string[];
    // peers = { n1 = "127.0.0.1:7001", n2 = "127.0.0.1:7002" }: the natural TOML spelling of id=address pairs.
    if (key === 'peers' && raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
      return Object.entries(raw).map(([id, addr]) => {
        if (typeof addr !== 'string') throw new UsageError(`${from}.${id}: expected an address string`);
        return `${id}=${addr}`;
      });
    }
    throw new UsageError(`${from}: expected a string or an array of strings${key === 'peers' ? ' or a table of id = "address"' : ''}`);
  }
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'bigint') return String(raw);
  throw new UsageError(`${from}: expected a string or a number`);
}

/** Keys are the flag names in snake_case (kebab-case works too); unknown keys are errors, so typos surface. */
export function layerFromToml(text: string, fileName: string): Layer {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (e) {
    throw new UsageError(`${fileName}: ${String((e as Error).message).split('\n')[0]}`);
  }
  return layerFromDoc(doc, fileName);
}

/** Every key a config file may set (snake_case), the seeds' spellings included. */
export const FILE_KEYS: ReadonlySet<string> = new Set([...KEYS.map(fileKey), ...Object.keys(FILE_ALIASES)]);

/** A config file's settings, already parsed into key -> value (TOML, or a seed's own format mapped onto it). */
export function layerFromDoc(doc: Record<string, unknown>, fileName: string): Layer {
  const byFileKey = new Map<string, SettingKey>(KEYS.map((k) => [fileKey(k), k]));
  const layer: Layer = {};
  for (const [rawKey, raw] of Object.entries(doc)) {
    const norm = rawKey.replace(/-/g, '_');
    const key = byFileKey.get(norm) ?? FILE_ALIASES[norm];
    const from = `${fileName}: ${rawKey}`;
    if (!key) throw new UsageError(`${fileName}: unknown setting ${JSON.stringify(rawKey)} (known: ${[...byFileKey.keys()].join(', ')})`);
    if (layer[key]) throw new UsageError(`${from}: ${layer[key].from.split(': ')[1]} is set already`);
    put(layer, key, fileValue(key, raw, from), from);
  }
  return layer;
}
