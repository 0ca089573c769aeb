// The server's flags as commander options. Every seed spelling is its own option (commander has no option
// aliases); mergeAliases folds them into ServerFlags and refuses two spellings that disagree.

import { Command, CommanderError, Option } from 'commander';
import { DEFAULTS, MAX_CLUSTER_SHARDS, MAX_REPLICAS } from '../cluster/config.ts';
import type { ServerFlags } from './config-sources.ts';
import { UsageError } from './errors.ts';
import { LOG_LEVELS } from './server-config.ts';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
const d = DEFAULTS;

export function serverOptions(): Option[] {
  return [
    new Option('--node-id <id>', 'this node\'s id (default: n1; with a plain --peers address list: derived from --raft-addr, e.g. 127.0.0.1-7001)'),
    new Option('--name <id>', 'same as --node-id (seed 000)'),
    new Option('--data-dir <dir>', `where this node keeps its state, locked while it runs; reused on restart (default: ${d.dataDir}/<node id>)`),
    new Option('--http-addr <host:port>', `HTTP API address (default: ${d.httpAddr.host}:${d.httpAddr.port}; :port = all interfaces)`),
    new Option('--http-port <port>', 'HTTP API port, on the --http-addr host (seed 003)'),
    new Option('--raft-addr <host:port>', `peer (Raft) traffic address (default: this node's --peers entry, else ${d.raftAddr.host}:${d.raftAddr.port}; with -g and no --peers: a free port)`),
    new Option('--bind-address <host:port>', 'same as --raft-addr (seed 003)'),
    new Option('--peers <list>', 'founding members, the same list on every member: n1=host:port,n2=host:port (or plain host:port,… with ids derived from the addresses; a plain list without this node = join a running cluster). Repeatable'),
    new Option('--bootstrap', 'found a new cluster if the data dir is empty (default, unless joining via --join or a --peers list without this node)'),
    new Option('--no-bootstrap', 'never found a cluster: start empty and wait to be added (POST /v1/cluster/nodes)'),
    new Option('-g, --gossip-addr <host:port>', 'gossip (membership) address'),
    new Option('--join <host:port>', 'gossip address of a running member to join through; repeatable or a comma list'),
    new Option('--gossip-join-addr <host:port>', 'same as --join (seed 000)'),
    new Option('--grpc-addr <host:port>', 'gRPC API (KV, Cluster, Lease, grpc.health.v1, reflection) on this address; a start fails if it cannot be bound; off = no gRPC (default: 127.0.0.1:50051 if free; when another node on this machine holds it, this node runs without gRPC and logs a warning)'),
    new Option('--grpc-port <port>', 'gRPC port, on the --http-addr host'),
    new Option('--text-addr <host:port>', 'seed 002\'s text protocol (PUT/READ/DELETE/BATCHPUT/RANGE, one command a line; nc host port) on this address (default: off)'),
    new Option('--cluster-id <id>', `cluster identity checked on every peer connection (default: ${d.clusterId})`),
    new Option('--config <file>', 'TOML file of these settings in snake_case (http_addr = "…"); env CONCORD_* overrides it, flags override both'),
    new Option('--max-key-bytes <size>', `largest key (default: ${d.maxKeyBytes}; units KiB MiB GiB)`),
    new Option('--max-value-bytes <size>', `largest value (default: ${d.maxValueBytes / 1024 ** 2}MiB)`),
    new Option('--max-keys <n>', 'cache mode: past this many keys the least recently written are evicted, each shard keeping at most n/S (default: 0, no limit)'),
    new Option('--max-bytes <size>', 'cache mode: past this many bytes of keys and values (not counting the store\'s own overhead) the least recently written keys are evicted, each shard keeping at most size/S (default: 0, no limit; units KiB MiB GiB)'),
    new Option('--max-txn-ops <n>', `most compares in one transaction, and most operations in each of its branches, as etcd's --max-txn-ops (default: ${d.maxTxnOps})`),
    new Option('--request-timeout-ms <ms>', `a request not done by then fails with 503/504 (default: ${d.requestTimeoutMs})`),
    new Option('--tick-ms <ms>', `Raft tick (default: ${d.tickMs})`),
    new Option('--election-ticks <n>', `election timeout in ticks, randomized up to 2x (default: ${d.electionTicks})`),
    new Option('--lease-reads', 'serve linearizable reads from the leader lease instead of ReadIndex (faster; trusts bounded clock drift)'),
    new Option(
      '--stale-reads-on-no-quorum',
      'seed read routes (/query, /get, /api/v1/kv) given no ?consistency= answer from this node\'s own data, with header X-Concord-Stale: true, when the cluster has no quorum (at once without a leader, else after an election timeout) instead of 503; /v1 stays strict (default: off)',
    ),
    new Option('--snapshot-entries <n>', `keep the Raft log under about this many entries: each node snapshots and compacts once per this many minus --snapshot-keep-entries applied entries, staggered between nodes (default: ${d.snapshotEntries})`),
    new Option('--snapshot-bytes <size>', `...or past this many bytes of applied entries since the last snapshot (default: ${d.snapshotBytes / 1024 ** 2}MiB)`),
    new Option('--raft-log-memory-bytes <size>', `the in-memory Raft logs of all this node's groups together; past it, the largest is snapshotted and compacted (default: ${d.raftLogMemoryBytes / 1024 ** 2}MiB)`),
    new Option('--history-revisions <n>', `watch history: each shard keeps the changes of at least its last n revisions (at least 100; default: ${d.historyRevisions}), within --history-bytes`),
    new Option('--history-bytes <size>', `watch history: the node's histories together keep at most about this much (each shard 1/S of it; at least 1MiB; default: ${d.historyBytes / 1024 ** 2}MiB)`),
    new Option('--cache-bytes <size>', `read cache of records in front of LMDB, frequency-aware (W-TinyLFU); 0 turns it off (default: ${d.cacheBytes / 1024 ** 2}MiB)`),
    new Option('--snapshot-keep-entries <n>', `entries kept behind a snapshot for lagging followers (default: ${d.snapshotKeepEntries})`),
    new Option(
      '--shards <n>',
      `split the key space into this many shards (Raft groups), fixed when the cluster is founded: a node that already holds state, or joins a running cluster, takes the cluster's count and ignores this (default: ${d.shards}; at most ${MAX_CLUSTER_SHARDS})`,
    ),
    new Option(
      '--replicas <n>',
      `with --shards above 1: members holding each shard, placed by consistent hashing (virtual nodes) and rebalanced as members join and leave; fixed when the cluster is founded like --shards (default: ${d.replicas}; 1..${MAX_REPLICAS}; a cluster of fewer members puts every shard on every member). A shard keeps serving with a majority of its replicas up: R = 3 survives one failed member, R = 2 none`,
    ),
    new Option('--voters <n>', `with gossip: promote members to Raft voters while there are fewer than this (default: ${d.voters})`),
    new Option('--dead-node-timeout-ms <ms>', `with gossip: remove a member from Raft after it has been dead this long (default: ${d.deadNodeTimeoutMs})`),
    new Option('--fault-injection', 'serve POST /v1/debug/faults to cut, drop or delay peer traffic (tests and chaos runs only; never in production)'),
    new Option('--log-level <level>', `${LOG_LEVELS.join('|')} (default: ${d.logLevel}; env LOG_LEVEL)`),
  ].map((o) => {
    if (['--peers', '--join', '--gossip-join-addr'].includes(o.long ?? '')) o.argParser(collect);
    return o;
  });
}

/** Commander's raw option values (its camelCase of each spelling). */
export interface RawServerOptions extends Omit<ServerFlags, 'join'> {
  name?: string;
  bindAddress?: string;
  join?: string[];
  gossipJoinAddr?: string[];
}

function one(a: string | undefined, b: string | undefined, names: string): string | undefined {
  if (a !== undefined && b !== undefined && a !== b) throw new UsageError(`${names} are the same setting but were given different values (${a} vs ${b})`);
  return a ?? b;
}

export function mergeAliases(raw: RawServerOptions): ServerFlags {
  const { name, bindAddress, gossipJoinAddr, ...rest } = raw;
  const flags: ServerFlags = { ...rest };
  const nodeId = one(raw.nodeId, name, '--node-id and --name');
  const raftAddr = one(raw.raftAddr, bindAddress, '--raft-addr and --bind-address');
  const join = [...(raw.join ?? []), ...(gossipJoinAddr ?? [])];
  if (nodeId !== undefined) flags.nodeId = nodeId;
  if (raftAddr !== undefined) flags.raftAddr = raftAddr;
  if (join.length > 0) flags.join = join;
  else delete flags.join;
  return flags;
}

/** Parses server arguments alone (no action): what `concord server …` would start with. For tests and tools. */
export function serverFlagsFromArgv(argv: string[]): ServerFlags {
  const cmd = new Command('server').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  for (const o of serverOptions()) cmd.addOption(o);
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw new UsageError(e.message.replace(/^error: /, ''));
    throw e;
  }
  return mergeAliases(cmd.opts<RawServerOptions>());
}
