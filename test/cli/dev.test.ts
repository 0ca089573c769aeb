// `concord dev`'s orchestration, with a stand-in node process so it runs in a second and needs no storage:
// one line per node once /health answers, logs prefixed with the node id, the same --peers for all, busy
// ports and crashing nodes reported, and a stop that escalates to SIGKILL.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { devOptions } from '../../src/cli/dev-command.ts';
import { startDev, type DevCluster, type DevDeps, type DevOptions } from '../../src/cli/dev.ts';
import { CliError, UsageError } from '../../src/cli/errors.ts';
import { formatLogLine } from '../../src/cli/dev-logs.ts';
import { freeRange } from '../../testkit/ports.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/fake-node.mjs');
const dirs: string[] = [];
const started: DevCluster[] = [];
after(async () => {
  // A failed assertion must not leave children holding ports (or the test process open).
  await Promise.all(started.map((c) => c.stop()));
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

async function start(opts: DevOptions, deps: DevDeps): Promise<DevCluster> {
  const c = await startDev(opts, deps);
  started.push(c);
  return c;
}

function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

async function setup(nodes: number, mode?: string): Promise<{ opts: DevOptions; deps: DevDeps; out: string[]; err: string[] }> {
  const base = await freeRange(4 * nodes); // http ports, then raft, gRPC and text ports
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'concord-dev-'));
  dirs.push(dataDir);
  if (mode) process.env.FAKE_NODE_MODE = mode;
  else delete process.env.FAKE_NODE_MODE;
  const out: string[] = [];
  const err: string[] = [];
  const deps: DevDeps = { command: [process.execPath, FAKE], out: (l) => out.push(l), err: (l) => err.push(l), healthTimeoutMs: 10_000, stopTimeoutMs: 300 };
  return { opts: { nodes, baseHttpPort: base, baseRaftPort: base + nodes, baseGrpcPort: base + 2 * nodes, baseTextPort: base + 3 * nodes, dataDir, host: '127.0.0.1' }, deps, out, err };
}

describe('concord dev', () => {
  it('starts N nodes with the same --peers, prints one line per node then a hint, and stops them all', async () => {
    const { opts, deps, out, err } = await setup(3);
    const c = await start(opts, deps);
    const h = opts.baseHttpPort;
    const g = opts.baseGrpcPort;
    const t = opts.baseTextPort;
    assert.deepEqual(out.slice(0, 3), [1, 2, 3].map((k) => `n${k} http://127.0.0.1:${h + k - 1} grpc 127.0.0.1:${g + k - 1} text 127.0.0.1:${t + k - 1}`));
    assert.equal(out.length, 4);
    assert.match(out[3], /Ctrl-C/);
    const r = opts.baseRaftPort;
    const peers = `n1=127.0.0.1:${r},n2=127.0.0.1:${r + 1},n3=127.0.0.1:${r + 2}`;
    for (const [i, n] of c.nodes.entries()) {
      assert.deepEqual(n.args, ['server', '--node-id', n.id, '--http-addr', `127.0.0.1:${h + i}`, '--raft-addr', `127.0.0.1:${r + i}`, '--grpc-addr', `127.0.0.1:${g + i}`, '--text-addr', `127.0.0.1:${t + i}`, '--data-dir', path.join(opts.dataDir, n.id), '--peers', peers]);
    }
    await new Promise((res) => setTimeout(res, 200)); // log lines travel through pipes
    assert.ok(err.some((l) => l.startsWith('n2 | INFO  node started ') && l.includes(`peers=${peers}`)), err.join('\n'));
    await c.stop();
    await c.allExited;
    assert.ok(c.nodes.every((n) => n.proc.exitCode === 0), 'every node exited on SIGTERM');
    // The size is remembered: another --nodes over the same data would not be the same cluster.
    await assert.rejects(startDev({ ...opts, nodes: 2 }, deps), (e: unknown) => e instanceof UsageError && /holds a 3-node dev cluster/.test(e.message));
  });

  it('--shards S is passed to every node and recorded; another --shards over the same data is refused', async () => {
    const { opts, deps } = await setup(2);
    const c = await start({ ...opts, shards: 4 }, deps);
    for (const n of c.nodes) assert.deepEqual(n.args.slice(-2), ['--shards', '4'], n.id);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(opts.dataDir, 'concord-dev.json'), 'utf8')), { nodes: 2, shards: 4 });
    await c.stop();
    await assert.rejects(startDev({ ...opts, shards: 8 }, deps), (e: unknown) => e instanceof UsageError && /holds a 4-shard dev cluster; run with --shards 4/.test(e.message));
    await assert.rejects(startDev(opts, deps), (e: unknown) => e instanceof UsageError && /holds a 4-shard dev cluster/.test(e.message), 'no --shards is 1');
    await assert.rejects(startDev({ ...opts, nodes: 1, shards: 4 }, deps), /holds a 2-node dev cluster/);
    const again = await start({ ...opts, shards: 4 }, deps);
    await again.stop();
  });

  it('--replicas R is passed to every node; out of 1..7 it is refused before anything starts', async () => {
    const { opts, deps } = await setup(2);
    const c = await start({ ...opts, shards: 4, replicas: 2 }, deps);
    for (const n of c.nodes) assert.deepEqual(n.args.slice(-4), ['--shards', '4', '--replicas', '2'], n.id);
    await c.stop();
    for (const bad of [0, 8]) await assert.rejects(startDev({ ...opts, shards: 4, replicas: bad }, deps), (e: unknown) => e instanceof UsageError && /--replicas: expected 1\.\.7/.test(e.message));
  });

  it('without --shards no node gets one and the marker has none; a marker without shards is a 1-shard cluster', async () => {
    const { opts, deps } = await setup(1);
    const c = await start(opts, deps);
    assert.equal(c.nodes[0].args.includes('--shards'), false);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(opts.dataDir, 'concord-dev.json'), 'utf8')), { nodes: 1 });
    await c.stop();
    await assert.rejects(startDev({ ...opts, shards: 2 }, deps), (e: unknown) => e instanceof UsageError && /holds a 1-shard dev cluster; run with --shards 1/.test(e.message));
    const again = await start({ ...opts, shards: 1 }, deps);
    assert.deepEqual(again.nodes[0].args.slice(-2), ['--shards', '1']);
    await again.stop();
  });

  it('a busy port is named before anything starts', async () => {
    const { opts, deps, err } = await setup(2);
    const blocker = await listen(opts.baseRaftPort + 1);
    try {
      await assert.rejects(startDev(opts, deps), (e: unknown) => e instanceof CliError && new RegExp(`port ${opts.baseRaftPort + 1} on 127\\.0\\.0\\.1 \\(n2 raft\\) is already in use`).test(e.message));
      assert.deepEqual(err, []);
    } finally {
      blocker?.close();
    }
  });

  it('a node that dies while starting fails the command and stops the others', async () => {
    const { opts, deps, err } = await setup(3, 'crash-n2');
    await assert.rejects(startDev(opts, deps), (e: unknown) => e instanceof CliError && /n2 exited \(code 3\) before it was up/.test(e.message));
    assert.ok(err.includes('n2 | n2 cannot start'), err.join('\n'));
    assert.equal(fs.existsSync(path.join(opts.dataDir, 'concord-dev.json')), false, 'a failed start records nothing');
  });

  it('a node that ignores SIGTERM is killed after the grace period', async () => {
    const { opts, deps, err } = await setup(1, 'ignore-term');
    const c = await start(opts, deps);
    const t0 = Date.now();
    await c.stop();
    assert.ok(Date.now() - t0 >= 250);
    assert.equal(c.nodes[0].proc.signalCode, 'SIGKILL');
    assert.ok(err.some((l) => /n1 did not stop within 300 ms; killing it/.test(l)));
  });

  it('rejects impossible layouts', async () => {
    const { opts, deps } = await setup(1);
    await assert.rejects(startDev({ ...opts, nodes: 0 }, deps), /--nodes: expected 1\.\.99/);
    await assert.rejects(startDev({ ...opts, nodes: 3, baseHttpPort: 7001, baseRaftPort: 7002 }, deps), /ranges overlap/);
    await assert.rejects(startDev({ ...opts, baseHttpPort: 65535, nodes: 2 }, deps), /--base-http-port: 65535\.\.65536 is not a port range/);
    await assert.rejects(startDev({ ...opts, nodes: 3, baseHttpPort: 7001, baseRaftPort: 7004, baseGrpcPort: 7006 }, deps), /--base-raft-port and --base-grpc-port ranges overlap/);
    await assert.rejects(startDev({ ...opts, nodes: 3, baseHttpPort: 7001, baseRaftPort: 7004, baseGrpcPort: 7007, baseTextPort: 7009 }, deps), /--base-grpc-port and --base-text-port ranges overlap/);
    await assert.rejects(startDev({ ...opts, shards: 0 }, deps), (e: unknown) => e instanceof UsageError && /--shards: expected 1\.\.256 \(got 0\)/.test(e.message));
    await assert.rejects(startDev({ ...opts, shards: 257 }, deps), /--shards: expected 1\.\.256 \(got 257\)/);
  });

  it('--shards on the command line: a whole number, absent unless given', () => {
    const raw = { nodes: '3', baseHttpPort: '8001', baseRaftPort: '7001', baseGrpcPort: '50051', baseTextPort: '3001', dataDir: './data', host: '127.0.0.1' };
    assert.equal(devOptions(raw).shards, undefined);
    assert.equal('shards' in devOptions(raw), false);
    assert.equal(devOptions({ ...raw, shards: '8' }).shards, 8);
    assert.throws(() => devOptions({ ...raw, shards: 'x' }), (e: unknown) => e instanceof UsageError && /--shards: expected a whole number \(got "x"\)/.test(e.message));
  });
});

describe('dev log lines', () => {
  it('pino JSON becomes "LEVEL message key=value"; other text passes through', () => {
    assert.equal(formatLogLine('{"level":40,"time":1,"pid":2,"hostname":"h","node":"n1","part":"raft","term":3,"msg":"lost leader"}'), 'WARN  lost leader part=raft term=3');
    assert.equal(formatLogLine('{"level":50,"msg":"boom","err":{"message":"disk full","stack":"…"}}'), 'ERROR boom err="disk full"');
    assert.equal(formatLogLine('plain text'), 'plain text');
    assert.equal(formatLogLine('{not json'), '{not json');
  });
});
