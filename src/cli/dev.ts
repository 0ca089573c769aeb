// `concord dev --nodes N`: a local static cluster as N child `concord server` processes with the same
// --peers, each log line prefixed with its node id, one "nK http://… grpc host:port text host:port" line per
// node once it answers /health. Data lives under <data-dir>/nK, so running it again over the same directory resumes the cluster.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MAX_CLUSTER_SHARDS, MAX_REPLICAS } from '../cluster/config.ts';
import { formatLogLine } from './dev-logs.ts';
import { CliError, UsageError } from './errors.ts';
import { EXIT_WITH_STDIN_ENV } from './server-command.ts';

export interface DevOptions {
  nodes: number;
  baseHttpPort: number;
  baseRaftPort: number;
  /** n1's gRPC port (nK: base+K-1), so no two nodes reach for the same default one. */
  baseGrpcPort: number;
  /** n1's text-protocol port (nK: base+K-1); seed 002's nodes listened on 3001, 3002, … */
  baseTextPort: number;
  dataDir: string;
  host: string;
  logLevel?: string;
  /** Passed to every node as --shards when given; otherwise the nodes use their default (1). */
  shards?: number;
  /** Passed to every node as --replicas when given. */
  replicas?: number;
}

export interface DevDeps {
  /** How to run `concord`: the server arguments are appended. */
  command: string[];
  /** Node lines and the hint. */
  out: (line: string) => void;
  /** Children's logs and dev's own notes. */
  err: (line: string) => void;
  healthTimeoutMs: number;
  /** After SIGTERM, how long a child gets before SIGKILL. */
  stopTimeoutMs: number;
}

export interface DevNode {
  id: string;
  url: string;
  args: string[];
  proc: ChildProcess;
  /** Resolves with how it ended: 'code 0', 'signal SIGKILL'. */
  exited: Promise<string>;
}

export interface DevCluster {
  nodes: DevNode[];
  /** SIGTERM every child, SIGKILL those still running after stopTimeoutMs; resolves when all are gone. */
  stop(): Promise<void>;
  /** Resolves when every child has exited, for whatever reason. */
  allExited: Promise<void>;
}

/** bin/concord.js, found above this module: it is in src/cli/ when run from the sources, in dist/ when bundled. */
function concordBin(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const bin = path.join(dir, 'bin', 'concord.js');
    if (fs.existsSync(bin)) return bin;
    if (path.dirname(dir) === dir) throw new Error(`bin/concord.js not found above ${fileURLToPath(import.meta.url)}`);
  }
}

export function defaultDevDeps(): DevDeps {
  return {
    command: [process.execPath, concordBin()],
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    healthTimeoutMs: 30_000,
    stopTimeoutMs: 10_000,
  };
}

// The cluster's layout is recorded next to its data: restarting with another --nodes over the same data would
// leave the old members waiting for votes from nodes that no longer run, or found a second cluster; another
// --shards would be ignored by nodes that hold state (the count is fixed when the cluster is founded).
const markerFile = (opts: DevOptions) => path.join(opts.dataDir, 'concord-dev.json');

function checkMarker(opts: DevOptions): void {
  if (!fs.existsSync(markerFile(opts))) return;
  const was = JSON.parse(fs.readFileSync(markerFile(opts), 'utf8')) as { nodes?: number; shards?: number };
  // No shards field: recorded before --shards existed, or without it; either way the cluster has one.
  const layout = [['nodes', 'node', was.nodes, opts.nodes], ['shards', 'shard', was.shards ?? 1, opts.shards ?? 1]] as const;
  for (const [flag, noun, before, now] of layout) {
    if (before !== now) {
      throw new UsageError(`${opts.dataDir} holds a ${before}-${noun} dev cluster; run with --${flag} ${before}, or remove ${opts.dataDir} to start afresh`);
    }
  }
}

function writeMarker(opts: DevOptions): void {
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const marker = opts.shards === undefined ? { nodes: opts.nodes } : { nodes: opts.nodes, shards: opts.shards };
  fs.writeFileSync(markerFile(opts), `${JSON.stringify(marker)}\n`);
}

function portFree(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

const portRanges = (opts: DevOptions) =>
  [['http', opts.baseHttpPort], ['raft', opts.baseRaftPort], ['grpc', opts.baseGrpcPort], ['text', opts.baseTextPort]] as const;

async function checkPorts(opts: DevOptions): Promise<void> {
  for (let k = 1; k <= opts.nodes; k++) {
    for (const [kind, base] of portRanges(opts)) {
      const port = base + k - 1;
      const e = await portFree(opts.host, port);
      if (e?.code === 'EADDRINUSE') {
        throw new CliError(`port ${port} on ${opts.host} (n${k} ${kind}) is already in use — is another concord running? Pick other ports with --base-${kind}-port`);
      }
      if (e) throw new CliError(`cannot listen on ${opts.host}:${port} (n${k} ${kind}): ${e.code ?? e.message}`);
    }
  }
}

export function validateDevOptions(opts: DevOptions): void {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 99) throw new UsageError(`--nodes: expected 1..99 (got ${opts.nodes})`);
  const { shards } = opts;
  if (shards !== undefined && (!Number.isInteger(shards) || shards < 1 || shards > MAX_CLUSTER_SHARDS)) {
    throw new UsageError(`--shards: expected 1..${MAX_CLUSTER_SHARDS} (got ${shards})`);
  }
  const { replicas } = opts;
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS)) {
    throw new UsageError(`--replicas: expected 1..${MAX_REPLICAS} (got ${replicas})`);
  }
  const ranges = portRanges(opts);
  for (const [kind, base] of ranges) {
    if (!Number.isInteger(base) || base < 1 || base + opts.nodes - 1 > 65535) throw new UsageError(`--base-${kind}-port: ${base}..${base + opts.nodes - 1} is not a port range`);
  }
  for (const [i, [kindA, a]] of ranges.entries()) {
    for (const [kindB, b] of ranges.slice(i + 1)) {
      if (a < b + opts.nodes && b < a + opts.nodes) throw new UsageError(`--base-${kindA}-port and --base-${kindB}-port ranges overlap`);
    }
  }
}

function spawnNode(id: string, args: string[], url: string, deps: DevDeps): DevNode {
  const proc = spawn(deps.command[0], [...deps.command.slice(1), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, [EXIT_WITH_STDIN_ENV]: '1' },
  });
  for (const stream of [proc.stdout, proc.stderr]) {
    if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => deps.err(`${id} | ${formatLogLine(l)}`));
  }
  proc.stdin?.on('error', () => undefined); // EPIPE once the child is gone is expected
  const exited = new Promise<string>((resolve) => {
    proc.once('error', (e) => resolve(`spawn error ${e.message}`));
    proc.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `code ${code}`));
  });
  return { id, url, args, proc, exited };
}

async function waitHealthy(node: DevNode, timeoutMs: number): Promise<void> {
  let gone = false;
  void node.exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!gone) {
    try {
      if ((await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new CliError(`${node.id} did not answer ${node.url}/health within ${timeoutMs} ms (its log is above)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CliError(`${node.id} exited (${await node.exited}) before it was up (its log is above)`);
}

async function stopAll(nodes: DevNode[], deps: DevDeps): Promise<void> {
  const running = (n: DevNode) => n.proc.exitCode === null && n.proc.signalCode === null;
  for (const n of nodes) if (running(n)) n.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const n of nodes) {
      if (!running(n)) continue;
      deps.err(`${n.id} did not stop within ${deps.stopTimeoutMs} ms; killing it`);
      n.proc.kill('SIGKILL');
    }
  }, deps.stopTimeoutMs);
  await Promise.all(nodes.map((n) => n.exited));
  clearTimeout(timer);
}

/** Starts the cluster and resolves once every node answers /health; on failure stops what it started. */
export async function startDev(opts: DevOptions, deps: DevDeps = defaultDevDeps()): Promise<DevCluster> {
  validateDevOptions(opts);
  checkMarker(opts);
  await checkPorts(opts);
  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
  const peers = ids.map((id, i) => `${id}=${opts.host}:${opts.baseRaftPort + i}`).join(',');
  const nodes = ids.map((id, i) => {
    const http = `${opts.host}:${opts.baseHttpPort + i}`;
    const args = ['server', '--node-id', id, '--http-addr', http, '--raft-addr', `${opts.host}:${opts.baseRaftPort + i}`, '--grpc-addr', `${opts.host}:${opts.baseGrpcPort + i}`,
      '--text-addr', `${opts.host}:${opts.baseTextPort + i}`, '--data-dir', path.join(opts.dataDir, id), '--peers', peers,
      ...(opts.shards !== undefined ? ['--shards', String(opts.shards)] : []), ...(opts.replicas !== undefined ? ['--replicas', String(opts.replicas)] : []), ...(opts.logLevel ? ['--log-level', opts.logLevel] : [])];
    return spawnNode(id, args, `http://${http}`, deps);
  });
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= stopAll(nodes, deps));
  for (const n of nodes) {
    void n.exited.then((how) => {
      if (!stopping) deps.err(`${n.id} exited (${how})`);
    });
  }
  try {
    for (const n of nodes) {
      await waitHealthy(n, deps.healthTimeoutMs);
      const flag = (name: string) => n.args[n.args.indexOf(name) + 1];
      deps.out(`${n.id} ${n.url} grpc ${flag('--grpc-addr')} text ${flag('--text-addr')}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  writeMarker(opts);
  deps.out(`${opts.nodes} node${opts.nodes > 1 ? 's' : ''} up. Try: npx concord put hello world --server ${nodes[0].url}   (Ctrl-C stops the cluster)`);
  return { nodes, stop, allExited: Promise.all(nodes.map((n) => n.exited)).then(() => undefined) };
}
