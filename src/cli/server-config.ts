// Flags + environment + config file -> NodeConfig, with no I/O so every rule is unit-testable.
// Precedence, lowest first: DEFAULTS < TOML file < CONCORD_* (and LOG_LEVEL) < flags.

import path from 'node:path';
import { DEFAULT_GRPC_ADDR, DEFAULTS, MAX_CLUSTER_SHARDS, MAX_REPLICAS, type HostPort, type NodeConfig } from '../cluster/config.ts';
import { parseListenAddr, parsePort } from './addresses.ts';
import { FILE_KEYS, layerFromDoc, layerFromEnv, layerFromFlags, layerFromToml, type Env, type Layer, type ServerFlags, type Setting, type SettingKey } from './config-sources.ts';
import { UsageError } from './errors.ts';
import { parseKavaConfig } from './kava-config.ts';
import { resolveMembership } from './membership.ts';

/** A --config file is TOML; seed 002's positional file is KavaDB's key=value format (kava-config.ts). */
export type ConfigFormat = 'toml' | 'kava';

export type { Env, ServerFlags } from './config-sources.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

function parseCount(s: Setting<string>, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(s.value);
  if (!/^\d+$/.test(s.value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    throw new UsageError(`${s.from}: expected a whole number ${range} (got ${JSON.stringify(s.value)})`);
  }
  return n;
}

/** Sizes as bytes or with a binary unit: 1048576, 1024KiB, 64MiB, 1g (k/m/g are powers of 1024). */
function parseBytes(s: Setting<string>, min = 1): number {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(s.value);
  const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
  const n = m && unit ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${s.from}: expected a size such as 1048576, 512KiB or 64MiB (got ${JSON.stringify(s.value)})`);
  return n;
}

type StringKey = 'logLevel' | 'clusterId' | 'dataDir' | 'requestTimeoutMs' | 'tickMs' | 'electionTicks' | 'maxKeyBytes' | 'maxValueBytes' | 'maxTxnOps' | 'maxKeys' | 'maxBytes' | 'shards' | 'replicas' | 'voters' | 'deadNodeTimeoutMs' | 'snapshotEntries' | 'snapshotBytes' | 'snapshotKeepEntries' | 'cacheBytes' | 'historyRevisions' | 'historyBytes' | 'raftLogMemoryBytes';

/** The value from the highest-precedence layer that sets `key`. */
function pick<K extends SettingKey>(layers: Layer[], key: K): Layer[K] {
  let found: Layer[K] = undefined;
  for (const l of layers) if (l[key] !== undefined) found = l[key];
  return found;
}

/**
 * An address that a `--x-addr` sets whole and a `--x-port` sets the port of, applied layer by layer so
 * "file: http_addr = 0.0.0.0:9000" plus "--http-port 8085" listens on 0.0.0.0:8085.
 */
function addrWithPort(layers: Layer[], addrKey: 'httpAddr' | 'grpcAddr', portKey: 'httpPort' | 'grpcPort', base: HostPort | undefined, defaultHost: string): HostPort | undefined {
  let cur = base;
  for (const l of layers) {
    const a = l[addrKey];
    const p = l[portKey];
    if (a) cur = parseListenAddr(a.value, a.from, defaultHost);
    if (p) {
      const port = parsePort(p.value.trim(), p.from, true);
      if (a && cur && cur.port !== port) throw new UsageError(`${a.from} and ${p.from} disagree on the port (${cur.port} vs ${port})`);
      cur = { host: cur?.host ?? defaultHost, port };
    }
  }
  return cur;
}

/** Where a node keeps its state when no --data-dir names it: `./data/<node id>`. */
export const defaultDataDir = (nodeId: string): string => path.join(DEFAULTS.dataDir, nodeId);

/**
 * gRPC: an address given by flag, environment or file (--grpc-addr, or --grpc-port on the HTTP host) must be
 * served; `off` turns gRPC off; otherwise the node tries DEFAULT_GRPC_ADDR and, if another node on this
 * machine already holds it, runs without gRPC (grpcOptional). See src/api/grpc/README.md for why.
 */
function grpcSettings(layers: Layer[], httpHost: string): Pick<NodeConfig, 'grpcAddr' | 'grpcOptional'> {
  const addr = pick(layers, 'grpcAddr');
  if (addr && addr.value.trim().toLowerCase() === 'off') {
    const port = pick(layers, 'grpcPort');
    if (port) throw new UsageError(`${addr.from} is off but ${port.from} gives a port`);
    return {};
  }
  const explicit = addrWithPort(layers, 'grpcAddr', 'grpcPort', undefined, httpHost);
  return explicit ? { grpcAddr: explicit } : { grpcAddr: { ...DEFAULT_GRPC_ADDR }, grpcOptional: true };
}

function optionalAddr(layers: Layer[], key: 'gossipAddr' | 'textAddr'): HostPort | undefined {
  const s = pick(layers, key);
  return s ? parseListenAddr(s.value, s.from, DEFAULTS.httpAddr.host) : undefined;
}

/**
 * Resolves the settings a node starts with. `fileContents` is the text of the --config file (TOML), if any;
 * `fileName` only names it in error messages. Throws UsageError (exit code 2) with one line naming the
 * flag, variable or file key at fault.
 */
export function resolveNodeConfig(flags: ServerFlags, env: Env = {}, fileContents?: string, fileName = 'config file', format: ConfigFormat = 'toml'): NodeConfig {
  const file = fileContents === undefined ? {} : format === 'kava' ? layerFromDoc(parseKavaConfig(fileContents, fileName, FILE_KEYS), fileName) : layerFromToml(fileContents, fileName);
  const layers = [file, layerFromEnv(env), layerFromFlags(flags)];
  const str = (key: StringKey): Setting<string> | undefined => pick(layers, key);
  const count = (key: Exclude<StringKey, 'logLevel' | 'clusterId' | 'dataDir'>, dflt: number, bytes = false, min = 1, max?: number) => {
    const s = str(key);
    if (!s) return dflt;
    return bytes ? parseBytes(s, min) : parseCount(s, min, max);
  };

  const httpAddr = addrWithPort(layers, 'httpAddr', 'httpPort', DEFAULTS.httpAddr, DEFAULTS.httpAddr.host) ?? DEFAULTS.httpAddr;
  const gossipAddr = optionalAddr(layers, 'gossipAddr');
  const raft = pick(layers, 'raftAddr');
  const membership = resolveMembership({
    nodeId: pick(layers, 'nodeId'),
    raftAddr: raft && { value: parseListenAddr(raft.value, raft.from, DEFAULTS.raftAddr.host), from: raft.from },
    peers: pick(layers, 'peers'),
    join: pick(layers, 'join'),
    bootstrap: pick(layers, 'bootstrap'),
    gossipAddr,
  });

  const logLevel = str('logLevel');
  const level = logLevel ? logLevel.value.trim().toLowerCase() : DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`${logLevel?.from}: expected one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(logLevel?.value)})`);
  const clusterId = str('clusterId');
  if (clusterId && !/^\S{1,128}$/.test(clusterId.value)) throw new UsageError(`${clusterId.from}: expected 1-128 characters without spaces`);
  const dataDir = str('dataDir');
  if (dataDir && dataDir.value.trim() === '') throw new UsageError(`${dataDir.from}: must not be empty`);

  const config: NodeConfig = {
    ...DEFAULTS,
    nodeId: membership.nodeId,
    clusterId: clusterId?.value ?? DEFAULTS.clusterId,
    // Each node its own dir by default, so several nodes started from one directory never share one.
    dataDir: dataDir?.value ?? defaultDataDir(membership.nodeId),
    httpAddr,
    raftAddr: membership.raftAddr,
    join: membership.join,
    peers: membership.peers,
    bootstrap: membership.bootstrap,
    maxKeyBytes: count('maxKeyBytes', DEFAULTS.maxKeyBytes, true),
    maxValueBytes: count('maxValueBytes', DEFAULTS.maxValueBytes, true),
    maxTxnOps: count('maxTxnOps', DEFAULTS.maxTxnOps, false, 1),
    maxKeys: count('maxKeys', DEFAULTS.maxKeys, false, 0),
    maxBytes: count('maxBytes', DEFAULTS.maxBytes, true, 0),
    requestTimeoutMs: count('requestTimeoutMs', DEFAULTS.requestTimeoutMs),
    tickMs: count('tickMs', DEFAULTS.tickMs),
    electionTicks: count('electionTicks', DEFAULTS.electionTicks),
    leaseReads: pick(layers, 'leaseReads')?.value ?? DEFAULTS.leaseReads,
    staleReadsOnNoQuorum: pick(layers, 'staleReadsOnNoQuorum')?.value ?? DEFAULTS.staleReadsOnNoQuorum,
    faultInjection: pick(layers, 'faultInjection')?.value ?? DEFAULTS.faultInjection,
    snapshotEntries: count('snapshotEntries', DEFAULTS.snapshotEntries),
    snapshotBytes: count('snapshotBytes', DEFAULTS.snapshotBytes, true),
    snapshotKeepEntries: count('snapshotKeepEntries', DEFAULTS.snapshotKeepEntries),
    cacheBytes: count('cacheBytes', DEFAULTS.cacheBytes, true, 0),
    historyRevisions: count('historyRevisions', DEFAULTS.historyRevisions, false, 100),
    historyBytes: count('historyBytes', DEFAULTS.historyBytes, true, 1 << 20),
    raftLogMemoryBytes: count('raftLogMemoryBytes', DEFAULTS.raftLogMemoryBytes, true),
    shards: count('shards', DEFAULTS.shards, false, 1, MAX_CLUSTER_SHARDS),
    replicas: count('replicas', DEFAULTS.replicas, false, 1, MAX_REPLICAS),
    voters: count('voters', DEFAULTS.voters),
    deadNodeTimeoutMs: count('deadNodeTimeoutMs', DEFAULTS.deadNodeTimeoutMs),
    logLevel: level,
  };
  Object.assign(config, grpcSettings(layers, httpAddr.host));
  const textAddr = optionalAddr(layers, 'textAddr');
  if (textAddr) config.textAddr = textAddr;
  if (gossipAddr) config.gossipAddr = gossipAddr;
  return config;
}
