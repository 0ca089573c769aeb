// Flags, environment and config file -> NodeConfig: every spelling the seeds use, precedence, and the
// one-line errors bad input gets. Pure: no process, no node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DEFAULT_GRPC_ADDR, DEFAULTS, MAX_CLUSTER_SHARDS } from '../../src/cluster/config.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { resolveNodeConfig, type Env } from '../../src/cli/server-config.ts';
import { serverFlagsFromArgv } from '../../src/cli/server-flags.ts';

/** What `concord server <line>` would start with. */
const resolve = (line: string, env: Env = {}, file?: string) => resolveNodeConfig(serverFlagsFromArgv(line.split(/\s+/).filter(Boolean)), env, file, 'concord.toml');

function rejects(line: string, pattern: RegExp, env: Env = {}, file?: string): void {
  assert.throws(() => resolve(line, env, file), (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
    assert.equal(e.exitCode, 2);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    assert.match(e.message, pattern);
    return true;
  });
}

describe('defaults', () => {
  it('`concord server` alone is a usable single node with data under ./data/n1', () => {
    assert.deepEqual(resolve(''), { ...DEFAULTS, dataDir: path.join('data', 'n1'), nodeId: 'n1', peers: {}, join: [], grpcAddr: DEFAULT_GRPC_ADDR, grpcOptional: true });
  });
});

describe('the seeds’ command lines', () => {
  it('seed 000: --name, --http-addr, -g (raft on a free port of the gossip host, so three nodes share a machine)', () => {
    const c = resolve('--name node1 --http-addr 127.0.0.1:8081 -g 127.0.0.1:9001');
    assert.equal(c.nodeId, 'node1');
    assert.deepEqual(c.httpAddr, { host: '127.0.0.1', port: 8081 });
    assert.deepEqual(c.gossipAddr, { host: '127.0.0.1', port: 9001 });
    assert.deepEqual(c.raftAddr, { host: '127.0.0.1', port: 0 });
    assert.equal(c.bootstrap, true);
    assert.equal(c.dataDir, path.join('data', 'node1'), 'each node its own data dir by default: ./data/<name>');
  });

  it('seed 000: --gossip-join-addr joins instead of founding a cluster', () => {
    const c = resolve('--name node2 --http-addr 0.0.0.0:3002 -g 0.0.0.0:4002 --gossip-join-addr 0.0.0.0:4001');
    assert.deepEqual(c.join, ['0.0.0.0:4001']);
    assert.equal(c.bootstrap, false);
    assert.deepEqual(c.httpAddr, { host: '0.0.0.0', port: 3002 });
  });

  it('seed 003: the bootstrap node (--node-id, --bind-address, --http-port, --bootstrap)', () => {
    const c = resolve('--node-id node1 --bind-address 127.0.0.1:7001 --http-port 8081 --bootstrap');
    assert.equal(c.nodeId, 'node1');
    assert.deepEqual(c.raftAddr, { host: '127.0.0.1', port: 7001 });
    assert.deepEqual(c.httpAddr, { host: '127.0.0.1', port: 8081 });
    assert.equal(c.bootstrap, true);
    assert.deepEqual(c.peers, {});
  });

  it('seed 003: --node-id 1 with --data-dir', () => {
    const c = resolve('--node-id 1 --bind-address 127.0.0.1:8001 --data-dir ./data1 --bootstrap');
    assert.equal(c.nodeId, '1');
    assert.equal(c.dataDir, './data1');
  });

  it('seed 003: additional nodes given running members’ addresses start empty and wait to be added', () => {
    for (const peers of ['127.0.0.1:7001', '127.0.0.1:7001,127.0.0.1:7002']) {
      const c = resolve(`--node-id node3 --bind-address 127.0.0.1:7003 --http-port 8083 --peers ${peers}`);
      assert.equal(c.nodeId, 'node3');
      assert.equal(c.bootstrap, false);
      assert.deepEqual(c.peers, {});
    }
  });
});

describe('static clusters (--peers)', () => {
  const list = 'n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003';
  const members = { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002', n3: '127.0.0.1:7003' };

  it('named: the same list on every member plus its own id and addresses (as concord dev and the e2e tests run it)', () => {
    const c = resolve(`--node-id n2 --raft-addr 127.0.0.1:7002 --http-addr 127.0.0.1:8002 --data-dir data/n2 --peers ${list}`);
    assert.equal(c.nodeId, 'n2');
    assert.deepEqual(c.peers, members);
    assert.deepEqual(c.raftAddr, { host: '127.0.0.1', port: 7002 });
    assert.equal(c.bootstrap, true);
  });

  it('named: the raft address follows from the id, the id from the raft address', () => {
    assert.deepEqual(resolve(`--node-id n3 --peers ${list}`).raftAddr, { host: '127.0.0.1', port: 7003 });
    assert.equal(resolve(`--raft-addr 127.0.0.1:7002 --peers ${list}`).nodeId, 'n2');
    assert.equal(resolve(`--raft-addr 0.0.0.0:7002 --peers ${list}`).nodeId, 'n2', 'a wildcard listen address matches by port');
  });

  it('named: repeated --peers flags are one list', () => {
    assert.deepEqual(resolve('--node-id n1 --peers n1=127.0.0.1:7001 --peers n2=127.0.0.1:7002,n3=127.0.0.1:7003').peers, members);
  });

  it('plain (seed 003 style) including this node: ids are derived from the addresses, the same on every member', () => {
    const c = resolve('--raft-addr 127.0.0.1:7002 --peers 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003');
    assert.equal(c.nodeId, '127.0.0.1-7002');
    assert.deepEqual(c.peers, { '127.0.0.1-7001': '127.0.0.1:7001', '127.0.0.1-7002': '127.0.0.1:7002', '127.0.0.1-7003': '127.0.0.1:7003' });
    assert.equal(c.bootstrap, true);
    assert.equal(resolve('--node-id 127.0.0.1-7001 --raft-addr 127.0.0.1:7001 --peers 127.0.0.1:7001,127.0.0.1:7002').nodeId, '127.0.0.1-7001');
  });

  it('refuses lists that cannot form one cluster', () => {
    rejects('--node-id n1 --raft-addr 127.0.0.1:7001 --peers 127.0.0.1:7001,127.0.0.1:7002', /plain address list.*127\.0\.0\.1-7001, not n1/);
    rejects(`--node-id n9 --peers ${list}`, /does not name this node \(n9\)/);
    rejects(`--peers ${list}`, /--node-id is required with --peers/);
    rejects(`--node-id n1 --raft-addr 127.0.0.1:9999 --peers ${list}`, /127\.0\.0\.1:9999 is not n1's address/);
    rejects('--node-id n1 --peers n1=127.0.0.1:7001,127.0.0.1:7002', /mixes id=address and plain/);
    rejects('--node-id n1 --peers n1=127.0.0.1:7001,n1=127.0.0.1:7002', /n1 is listed twice/);
    rejects('--node-id n1 --peers n1=127.0.0.1:7001,n2=127.0.0.1:7001', /127\.0\.0\.1:7001 is listed twice/);
    rejects('--node-id n1 --peers n1=127.0.0.1:0', /--peers: port must be a number in 1\.\.65535/);
    rejects('--peers 127.0.0.1:7001', /--node-id is required to join a running cluster/);
    rejects('--node-id n4 --bootstrap --peers 127.0.0.1:7001', /--bootstrap founds a new cluster/);
    rejects('--node-id n4 --bootstrap --join 127.0.0.1:4001', /--bootstrap founds a new cluster.*--join/);
    rejects('--join 127.0.0.1:4001', /--node-id \(or --name\) is required/);
  });
});

describe('every flag spelling', () => {
  it('aliases: --name/--node-id, --bind-address/--raft-addr, --gossip-join-addr/--join, -g/--gossip-addr', () => {
    assert.equal(resolve('--name a').nodeId, 'a');
    assert.equal(resolve('--node-id a').nodeId, 'a');
    assert.equal(resolve('--name a --node-id a').nodeId, 'a');
    assert.deepEqual(resolve('--bind-address 10.0.0.1:7100').raftAddr, { host: '10.0.0.1', port: 7100 });
    assert.deepEqual(resolve('--raft-addr 10.0.0.1:7100').raftAddr, { host: '10.0.0.1', port: 7100 });
    assert.deepEqual(resolve('--name a --join h1:1 --join h2:2,h3:3 --gossip-join-addr h4:4').join, ['h1:1', 'h2:2', 'h3:3', 'h4:4']);
    assert.deepEqual(resolve('-g 127.0.0.1:4001').gossipAddr, resolve('--gossip-addr 127.0.0.1:4001').gossipAddr);
  });

  it('addresses: host:port, :port (all interfaces), a bare port, [v6]:port; --http-port alone', () => {
    assert.deepEqual(resolve('--http-addr :9000').httpAddr, { host: '0.0.0.0', port: 9000 });
    assert.deepEqual(resolve('--http-addr 9000').httpAddr, { host: '127.0.0.1', port: 9000 });
    assert.deepEqual(resolve('--http-addr [::1]:9000').httpAddr, { host: '::1', port: 9000 });
    assert.deepEqual(resolve('--http-port 8082').httpAddr, { host: '127.0.0.1', port: 8082 });
    assert.deepEqual(resolve('--http-addr 0.0.0.0:1 --http-port 1').httpAddr, { host: '0.0.0.0', port: 1 });
  });

  it('gRPC: on by default at 127.0.0.1:50051, optional there (a node that cannot bind it runs without); an address someone gives is required', () => {
    assert.deepEqual(DEFAULT_GRPC_ADDR, { host: '127.0.0.1', port: 50051 });
    const dflt = resolve('--http-port 8082 --raft-addr 127.0.0.1:7002');
    assert.deepEqual([dflt.grpcAddr, dflt.grpcOptional], [{ host: '127.0.0.1', port: 50051 }, true]);
    for (const [line, addr] of [
      ['--grpc-addr 127.0.0.1:50061', { host: '127.0.0.1', port: 50061 }],
      ['--grpc-addr :50061', { host: '0.0.0.0', port: 50061 }],
      ['--grpc-port 50061', { host: '127.0.0.1', port: 50061 }],
      ['--http-addr 0.0.0.0:8080 --grpc-port 50061', { host: '0.0.0.0', port: 50061 }], // --grpc-port is on the HTTP host
      ['--grpc-addr 10.0.0.1:50061 --grpc-port 50061', { host: '10.0.0.1', port: 50061 }],
      ['--grpc-addr 127.0.0.1:50051', { host: '127.0.0.1', port: 50051 }], // the default port, asked for: required
    ] as const) {
      const c = resolve(line);
      assert.deepEqual([c.grpcAddr, c.grpcOptional], [addr, undefined], line);
    }
    assert.deepEqual(resolveNodeConfig({}, { CONCORD_GRPC_ADDR: '127.0.0.1:50071' }).grpcAddr, { host: '127.0.0.1', port: 50071 });
    assert.deepEqual(resolveNodeConfig({}, {}, 'grpc_port = 50072', 'kv.toml').grpcAddr, { host: '127.0.0.1', port: 50072 });
    assert.equal(resolveNodeConfig({}, {}, 'grpc_port = 50072', 'kv.toml').grpcOptional, undefined);
    const off = resolve('--grpc-addr off');
    assert.deepEqual([off.grpcAddr, off.grpcOptional], [undefined, undefined]);
    rejects('--grpc-addr off --grpc-port 50061', /^--grpc-addr is off but --grpc-port gives a port/);
    rejects('--grpc-addr 127.0.0.1:1 --grpc-port 2', /--grpc-addr and --grpc-port disagree/);
    rejects('--grpc-port 70000', /--grpc-port/);
  });

  it('--text-addr turns the text protocol on (off by default)', () => {
    assert.deepEqual(resolve('--text-addr 127.0.0.1:3001').textAddr, { host: '127.0.0.1', port: 3001 });
    assert.deepEqual(resolve('--text-addr :3001').textAddr, { host: '0.0.0.0', port: 3001 });
    assert.equal(resolve('').textAddr, undefined);
  });

  it('tuning: sizes with units, timeouts, ticks, lease reads, log level, cluster id, --no-bootstrap, --config', () => {
    const c = resolve('--max-value-bytes 1MiB --max-key-bytes 512 --request-timeout-ms 2500 --tick-ms 50 --election-ticks 20 --lease-reads --log-level DEBUG --cluster-id prod');
    assert.equal(c.maxValueBytes, 1024 * 1024);
    assert.equal(c.maxKeyBytes, 512);
    assert.equal(c.requestTimeoutMs, 2500);
    assert.equal(c.tickMs, 50);
    assert.equal(c.electionTicks, 20);
    assert.equal(c.leaseReads, true);
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.clusterId, 'prod');
    assert.equal(resolve('--no-bootstrap').bootstrap, false);
    assert.equal(serverFlagsFromArgv(['--config', 'x.toml']).config, 'x.toml');
  });
});

describe('config file and environment', () => {
  const file = `
node_id = "filenode"
http_addr = "0.0.0.0:9000"
data-dir = "/var/lib/concord"
log_level = "warn"
max_value_bytes = 1024
lease_reads = true
bind_address = "127.0.0.1:7001"
[peers]
filenode = "127.0.0.1:7001"
other = "127.0.0.1:7002"
`;

  it('the file sets everything, in snake_case, kebab-case or the seeds’ names', () => {
    const c = resolve('', {}, file);
    assert.equal(c.nodeId, 'filenode');
    assert.deepEqual(c.httpAddr, { host: '0.0.0.0', port: 9000 });
    assert.equal(c.dataDir, '/var/lib/concord');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.maxValueBytes, 1024);
    assert.equal(c.leaseReads, true);
    assert.deepEqual(c.peers, { filenode: '127.0.0.1:7001', other: '127.0.0.1:7002' });
  });

  it('CONCORD_* overrides the file; flags override both', () => {
    const env = { CONCORD_HTTP_ADDR: '127.0.0.1:9100', CONCORD_DATA_DIR: '/env/data', CONCORD_LEASE_READS: 'false' };
    const c = resolve('', env, file);
    assert.deepEqual(c.httpAddr, { host: '127.0.0.1', port: 9100 });
    assert.equal(c.dataDir, '/env/data');
    assert.equal(c.leaseReads, false);
    const f = resolve('--data-dir ./flag --http-port 9200', env, file);
    assert.equal(f.dataDir, './flag');
    assert.deepEqual(f.httpAddr, { host: '127.0.0.1', port: 9200 }, '--http-port replaces only the port');
  });

  it('log level: flag > CONCORD_LOG_LEVEL > LOG_LEVEL > file', () => {
    assert.equal(resolve('', { LOG_LEVEL: 'error' }, file).logLevel, 'error');
    assert.equal(resolve('', { LOG_LEVEL: 'error', CONCORD_LOG_LEVEL: 'trace' }, file).logLevel, 'trace');
    assert.equal(resolve('--log-level silent', { CONCORD_LOG_LEVEL: 'trace' }, file).logLevel, 'silent');
  });

  it('env lists and ids: CONCORD_PEERS, CONCORD_NODE_ID, CONCORD_JOIN; empty variables count as unset', () => {
    const c = resolve('', { CONCORD_PEERS: 'a=127.0.0.1:7001,b=127.0.0.1:7002', CONCORD_NODE_ID: 'b', CONCORD_DATA_DIR: '' });
    assert.equal(c.nodeId, 'b');
    assert.deepEqual(c.raftAddr, { host: '127.0.0.1', port: 7002 });
    assert.equal(c.dataDir, path.join('data', 'b'));
  });

  it('bad files and variables name the key at fault', () => {
    rejects('', /concord\.toml: unknown setting "htp_addr"/, {}, 'htp_addr = "x"');
    rejects('', /concord\.toml: /, {}, 'http_addr = ');
    rejects('', /concord\.toml: lease_reads: expected true or false/, {}, 'lease_reads = "yes"');
    rejects('', /concord\.toml: http_addr: port must be/, {}, 'http_addr = "127.0.0.1:99999"');
    rejects('', /CONCORD_BOOTSTRAP: expected true or false/, { CONCORD_BOOTSTRAP: 'maybe' });
    rejects('', /CONCORD_HTTP_ADDR: port must be/, { CONCORD_HTTP_ADDR: 'localhost:http' });
  });
});

describe('bad flag values get one clear line', () => {
  it('addresses, numbers, names', () => {
    rejects('--http-addr 127.0.0.1:70000', /^--http-addr: port must be a number in 0\.\.65535/);
    rejects('--http-addr http://127.0.0.1:8080', /--http-addr: expected host:port without a scheme/);
    rejects('--http-addr ::1:80', /IPv6 addresses in brackets/);
    rejects('--http-port abc', /--http-port: port must be/);
    rejects('--http-addr 127.0.0.1:1 --http-port 2', /--http-addr and --http-port disagree/);
    rejects('--name a --node-id b', /--node-id and --name are the same setting/);
    rejects('--node-id a/b', /node id must be 1-64 characters/);
    rejects('--join nohost', /--join.*expected host:port/);
    rejects('--request-timeout-ms -5', /--request-timeout-ms: expected a whole number/);
    rejects('--request-timeout-ms 0', /--request-timeout-ms: expected a whole number >= 1/);
    rejects('--max-value-bytes 12XB', /--max-value-bytes: expected a size/);
    rejects('--log-level loud', /--log-level: expected one of fatal, error/);
  });

  it('unknown flags and missing values are usage errors too', () => {
    assert.throws(() => serverFlagsFromArgv(['--htp-addr', 'x']), (e: unknown) => e instanceof UsageError && /unknown option '--htp-addr'/.test(e.message));
    assert.throws(() => serverFlagsFromArgv(['--http-addr']), (e: unknown) => e instanceof UsageError && /argument missing/.test(e.message));
  });
});

describe('elastic membership settings', () => {
  it('--voters and --dead-node-timeout-ms, from flags, env or file, with defaults', () => {
    assert.equal(resolve('').voters, DEFAULTS.voters);
    assert.equal(resolve('').deadNodeTimeoutMs, DEFAULTS.deadNodeTimeoutMs);
    const c = resolve('--voters 5 --dead-node-timeout-ms 4000');
    assert.equal(c.voters, 5);
    assert.equal(c.deadNodeTimeoutMs, 4000);
    assert.equal(resolve('', { CONCORD_VOTERS: '2' }).voters, 2);
    assert.equal(resolve('--voters 4', { CONCORD_VOTERS: '2' }).voters, 4);
    assert.equal(resolve('', {}, 'dead_node_timeout_ms = "9000"').deadNodeTimeoutMs, 9000);
    rejects('--voters 0', /voters/);
    const s = resolve('--snapshot-entries 500 --snapshot-keep-entries 20');
    assert.deepEqual([s.snapshotEntries, s.snapshotKeepEntries], [500, 20]);
    assert.equal(resolve('').snapshotEntries, DEFAULTS.snapshotEntries);
    assert.equal(resolve('--snapshot-bytes 8MiB').snapshotBytes, 8 * 1024 * 1024);
    assert.equal(resolve('', { CONCORD_SNAPSHOT_BYTES: '4096' }).snapshotBytes, 4096);
    assert.equal(resolve('').snapshotBytes, DEFAULTS.snapshotBytes);
    rejects('--snapshot-bytes lots', /snapshot-bytes/);
    assert.equal(resolve('--raft-log-memory-bytes 8MiB').raftLogMemoryBytes, 8 * 1024 * 1024);
    assert.equal(resolve('', {}, 'raft_log_memory_bytes = "1MiB"').raftLogMemoryBytes, 1024 * 1024);
    assert.equal(resolve('').raftLogMemoryBytes, DEFAULTS.raftLogMemoryBytes);
    rejects('--raft-log-memory-bytes 0', /raft-log-memory-bytes/);
    assert.equal(resolve('').faultInjection, false, 'the fault route is off unless asked for');
    assert.equal(resolve('--fault-injection').faultInjection, true);
  });
});

describe('--stale-reads-on-no-quorum', () => {
  it('off by default; on by flag, CONCORD_STALE_READS_ON_NO_QUORUM or stale_reads_on_no_quorum, flags over env over file', () => {
    assert.equal(resolve('').staleReadsOnNoQuorum, false);
    assert.equal(DEFAULTS.staleReadsOnNoQuorum, false);
    assert.equal(resolve('--stale-reads-on-no-quorum').staleReadsOnNoQuorum, true);
    assert.equal(resolve('', { CONCORD_STALE_READS_ON_NO_QUORUM: 'true' }).staleReadsOnNoQuorum, true);
    assert.equal(resolve('', {}, 'stale_reads_on_no_quorum = true').staleReadsOnNoQuorum, true);
    assert.equal(resolve('', {}, 'stale-reads-on-no-quorum = true').staleReadsOnNoQuorum, true);
    assert.equal(resolve('', { CONCORD_STALE_READS_ON_NO_QUORUM: 'off' }, 'stale_reads_on_no_quorum = true').staleReadsOnNoQuorum, false);
    assert.equal(resolve('--stale-reads-on-no-quorum', { CONCORD_STALE_READS_ON_NO_QUORUM: '0' }).staleReadsOnNoQuorum, true);
    rejects('', /CONCORD_STALE_READS_ON_NO_QUORUM: expected true or false/, { CONCORD_STALE_READS_ON_NO_QUORUM: 'sometimes' });
    rejects('', /concord\.toml: stale_reads_on_no_quorum: expected true or false/, {}, 'stale_reads_on_no_quorum = "yes"');
    rejects('--stale-reads-on-no-quorum=yes', /stale-reads-on-no-quorum/);
  });
});

describe('--replicas', () => {
  it('3 by default; from the flag, CONCORD_REPLICAS or replicas in the file; 1..7, naming the source when refused', () => {
    assert.equal(DEFAULTS.replicas, 3);
    assert.equal(resolve('').replicas, 3);
    assert.equal(resolve('--replicas 5').replicas, 5);
    assert.equal(resolve('', { CONCORD_REPLICAS: '2' }).replicas, 2);
    assert.equal(resolve('', {}, 'replicas = 4').replicas, 4);
    rejects('--replicas 0', /^--replicas: expected a whole number in 1\.\.7 \(got "0"\)/);
    rejects('--replicas 8', /^--replicas: expected a whole number in 1\.\.7 \(got "8"\)/);
    rejects('', /^CONCORD_REPLICAS: expected a whole number in 1\.\.7/, { CONCORD_REPLICAS: 'three' });
  });
});

describe('--shards', () => {
  it('1 by default; from the flag, CONCORD_SHARDS or shards in the file, flags over env over file', () => {
    assert.equal(DEFAULTS.shards, 1);
    assert.equal(resolve('').shards, 1);
    assert.equal(resolve('--shards 8').shards, 8);
    assert.equal(resolve('', { CONCORD_SHARDS: '4' }).shards, 4);
    assert.equal(resolve('', {}, 'shards = 8').shards, 8);
    assert.equal(resolve('', {}, 'shards = "16"').shards, 16);
    assert.equal(resolve('', { CONCORD_SHARDS: '4' }, 'shards = 8').shards, 4);
    assert.equal(resolve('--shards 2', { CONCORD_SHARDS: '4' }, 'shards = 8').shards, 2);
    assert.equal(resolve(`--shards ${MAX_CLUSTER_SHARDS}`).shards, MAX_CLUSTER_SHARDS);
  });

  it('refuses 0, more than MAX_CLUSTER_SHARDS and non-numbers, naming the flag, variable or file key', () => {
    assert.equal(MAX_CLUSTER_SHARDS, 256);
    rejects('--shards 0', /^--shards: expected a whole number in 1\.\.256 \(got "0"\)/);
    rejects('--shards 257', /^--shards: expected a whole number in 1\.\.256 \(got "257"\)/);
    rejects('--shards x', /^--shards: expected a whole number in 1\.\.256 \(got "x"\)/);
    rejects('--shards 1.5', /^--shards: expected a whole number/);
    rejects('', /^CONCORD_SHARDS: expected a whole number in 1\.\.256 \(got "257"\)/, { CONCORD_SHARDS: '257' });
    rejects('', /^CONCORD_SHARDS: expected a whole number in 1\.\.256 \(got "x"\)/, { CONCORD_SHARDS: 'x' });
    rejects('', /^concord\.toml: shards: expected a whole number in 1\.\.256 \(got "0"\)/, {}, 'shards = 0');
    rejects('', /^concord\.toml: shards: expected a whole number in 1\.\.256 \(got "257"\)/, {}, 'shards = 257');
    rejects('', /^concord\.toml: shards: expected a whole number in 1\.\.256 \(got "x"\)/, {}, 'shards = "x"');
    rejects('', /^concord\.toml: shards: expected a whole number/, {}, 'shards = 2.5');
    rejects('', /^concord\.toml: shards: expected a string or a number/, {}, 'shards = true');
  });
});
