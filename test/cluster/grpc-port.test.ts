// A node's gRPC port (src/api/grpc/README.md, "the port rule"): an address someone asked for must be bound
// or the start fails; the built-in default (grpcOptional) that another process already holds leaves the
// node running without gRPC, with a warning. A node serving gRPC answers over it what HTTP answers.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { pino, type Logger } from 'pino';
import { KV } from '../../src/api/grpc/gen/concord_pb.ts';
import { startNode, type RunningNode } from '../../src/node/start-node.ts';
import { GrpcTestClient } from '../api/grpc-client.ts';
import { freePort } from '../../testkit/ports.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const dir = tempDir('grpc-port');
const open = new Set<RunningNode>();
after(async () => {
  for (const n of open) await n.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A port held by another listener for the length of `fn`. */
async function withPortTaken<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  try {
    return await fn((holder.address() as net.AddressInfo).port);
  } finally {
    holder.close();
  }
}

/** Log lines at warn level and above, as JSON objects. */
function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

it('the default address already held elsewhere: the node starts without gRPC and says so', async () => {
  await withPortTaken(async (port) => {
    const [config] = await clusterConfigs(1, `${dir}/optional`, { grpcAddr: { host: '127.0.0.1', port }, grpcOptional: true });
    const { logger, lines } = capture();
    const node = await startNode(config, logger);
    open.add(node);
    assert.equal(node.grpcAddress, undefined);
    assert.ok((await fetch(`${node.httpUrl}/health`)).ok);
    assert.ok(lines.some((l) => l.level === 40 && /gRPC is off on this node/.test(String(l.msg))), JSON.stringify(lines));
    await node.close();
    open.delete(node);
  });
});

it('an address someone asked for that cannot be bound fails the start, and releases the data dir', async () => {
  await withPortTaken(async (port) => {
    const [config] = await clusterConfigs(1, `${dir}/required`, { grpcAddr: { host: '127.0.0.1', port } });
    await assert.rejects(startNode(config, pino({ level: 'silent' })), /gRPC cannot listen on 127\.0\.0\.1:\d+/);
    const again = await startNode({ ...config, grpcAddr: { host: '127.0.0.1', port: await freePort() } }, pino({ level: 'silent' }));
    open.add(again);
    assert.ok(again.grpcAddress);
    await again.close();
    open.delete(again);
  });
});

it('a node serving gRPC: a write over gRPC reads back over HTTP and the other way round', async () => {
  const [config] = await clusterConfigs(1, `${dir}/serving`, { grpcAddr: { host: '127.0.0.1', port: 0 } });
  const node = await startNode(config, pino({ level: 'silent' }));
  open.add(node);
  const c = new GrpcTestClient(node.grpcAddress!);
  try {
    const put = await until('a leader to take the write', () => c.call(KV, 'put', { key: Buffer.from('g'), value: Buffer.from('via gRPC') }).catch(() => undefined));
    const res = await fetch(`${node.httpUrl}/v1/kv/g`);
    assert.equal(await res.text(), 'via gRPC');
    assert.equal(res.headers.get('etag'), `"${put.revision}"`);
    await fetch(`${node.httpUrl}/v1/kv/h`, { method: 'PUT', body: 'via HTTP' });
    assert.equal(Buffer.from((await c.call(KV, 'get', { key: Buffer.from('h') })).kv!.value).toString(), 'via HTTP');
  } finally {
    c.close();
    await node.close();
    open.delete(node);
  }
});
