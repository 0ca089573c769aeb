// Hostile and malformed input against a real node process, on its HTTP, gRPC and text ports: the right 4xx
// (or gRPC status, or ERR line), the node stays up with bounded memory, and the data is unchanged.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { freePort } from '../../testkit/ports.ts';
import { ProcCluster } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';
import { frame, rawCall } from '../api/grpc-raw.ts';

/** Sends `input` to a TCP port, half-closes, and resolves with everything until the other side closes. */
function tcpSession(port: number, input: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.end(input));
    s.on('data', (d: Buffer) => out.push(d));
    s.on('error', () => undefined); // a reset after the answer: what came before counts
    s.on('close', () => resolve(Buffer.concat(out).toString('latin1')));
  });
}

describe('bad input to a real node', () => {
  let c: ProcCluster;
  let url: string;
  let before_: string;
  let grpcAddr: string;
  let textPort: number;
  let rssAtStart: number;
  const dump = async () => (await fetch(`${url}/v1/kv?encoding=base64&limit=10000`)).text();
  const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${c.nodes[0].proc!.pid}/status`, 'utf8'))![1]) / 1024;

  before(async () => {
    const [grpcPort, text] = [await freePort(), await freePort()];
    grpcAddr = `127.0.0.1:${grpcPort}`;
    textPort = text;
    c = await ProcCluster.create(1, ['--max-value-bytes', '65536', '--grpc-addr', grpcAddr, '--text-addr', `127.0.0.1:${text}`]);
    url = (await c.leader()).url;
    rssAtStart = rssMiB();
    assert.equal((await fetch(`${url}/v1/kv/existing`, { method: 'PUT', body: 'original' })).status, 200);
    before_ = await dump();
  });

  after(async () => c?.stop());

  const status = async (path: string, init?: RequestInit) => (await fetch(`${url}${path}`, init)).status;
  const json = { 'content-type': 'application/json' };

  it('malformed JSON → 400', async () => {
    assert.equal(await status('/v1/batch', { method: 'POST', headers: json, body: '{"ops": [' }), 400);
    assert.equal(await status('/add', { method: 'POST', headers: json, body: '{key:' }), 400);
    assert.equal(await status('/put', { method: 'PUT', headers: json, body: '[]' }), 400);
  });

  it('missing or empty key → 400', async () => {
    assert.equal(await status('/query'), 400);
    assert.equal(await status('/get?key='), 400);
    assert.equal(await status('/add', { method: 'POST', headers: json, body: '{"value":"x"}' }), 400);
    assert.equal(await status('/v1/kv/', { method: 'PUT', body: 'x' }), 400);
  });

  it('oversized key or value → 413', async () => {
    assert.equal(await status(`/v1/kv/${'k'.repeat(8193)}`, { method: 'PUT', body: 'x' }), 413);
    assert.equal(await status('/v1/kv/big', { method: 'PUT', body: Buffer.alloc(65537) }), 413);
  });

  it('bad percent-encoding → 400; wrong method → 405; unknown route → 404', async () => {
    assert.equal(await status('/v1/kv/%ZZ'), 400);
    assert.equal(await status('/v1/kv/existing', { method: 'PATCH', body: 'x' }), 405);
    assert.equal(await status('/no/such/route'), 404);
    const r = await fetch(`${url}/no/such/route`);
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.ok(body.error.code && body.error.message, 'errors are JSON {"error":{"code","message"}}');
  });

  it('a huge header block is refused and the node stays up', async () => {
    const huge = await new Promise<string>((resolve) => {
      const s = net.connect(Number(new URL(url).port), '127.0.0.1', () => {
        s.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200_000)}\r\n\r\n`);
      });
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
    });
    assert.match(huge, /^HTTP\/1\.1 431/);
    assert.equal(await status('/health'), 200);
  });

  it('a slow trickling client does not hold up others and is cut off', async () => {
    const s = net.connect(Number(new URL(url).port), '127.0.0.1');
    let closed = false;
    s.on('close', () => (closed = true));
    s.on('error', () => (closed = true));
    const trickle = setInterval(() => s.write('a'), 200);
    s.write('GET /health HTTP/1.1\r\nX-Slow: ');
    try {
      for (let i = 0; i < 5; i++) assert.equal(await status('/health'), 200, 'others are served meanwhile');
      await until('the trickling client to be cut off', () => closed, 20_000);
    } finally {
      clearInterval(trickle);
      s.destroy();
    }
  });

  it('binary keys round-trip', async () => {
    assert.equal(await status('/v1/kv/%00%FF%2F', { method: 'PUT', body: Buffer.from([1, 2, 3]) }), 200);
    const r = await fetch(`${url}/v1/kv/%00%FF%2F`);
    assert.deepEqual([...new Uint8Array(await r.arrayBuffer())], [1, 2, 3]);
    assert.equal(await status('/v1/kv/%00%FF%2F', { method: 'DELETE' }), 200);
  });

  it('gRPC: undecodable messages, lying lengths, a compression bomb, a wrong content type, plain junk: a clear status each, nothing written', async () => {
    for (const junk of [Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from('not protobuf at all')]) {
      const a = await rawCall(grpcAddr, '/concord.v1.KV/Put', (req) => req.end(frame(junk)));
      assert.equal(a.grpcStatus, grpc.status.INVALID_ARGUMENT, junk.toString('hex'));
    }
    const huge = await rawCall(grpcAddr, '/concord.v1.KV/Put', (req) => req.end(frame(Buffer.alloc(100), { declared: 0xffff_fff0 })));
    assert.equal(huge.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
    const short = await rawCall(grpcAddr, '/concord.v1.KV/Put', (req) => req.end(frame(Buffer.alloc(10), { declared: 50 << 20 })));
    assert.ok(short.grpcStatus !== undefined && short.grpcStatus !== grpc.status.OK, `a message cut short: ${JSON.stringify(short)}`);
    const bomb = Buffer.concat(Array.from({ length: 160 }, () => zlib.gzipSync(Buffer.alloc(1 << 20))));
    const unzipped = await rawCall(grpcAddr, '/concord.v1.KV/Put', (req) => req.end(frame(bomb, { compressed: true })), { 'grpc-encoding': 'gzip' });
    assert.equal(unzipped.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
    const json = await rawCall(grpcAddr, '/concord.v1.KV/Get', (req) => req.end('{"key":"existing"}'), { 'content-type': 'application/json' });
    assert.notEqual(json.httpStatus, 200);
    await tcpSession(Number(grpcAddr.split(':')[1]), Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.alloc(64 * 1024, 0xab)]));
    assert.equal(await status('/health'), 200);
  });

  it('text protocol: a 10 MiB line is ERR too-large and the connection closed, junk gets ERR lines, a cut-off line is answered', async () => {
    const long = await tcpSession(textPort, Buffer.concat([Buffer.from('PUT big '), Buffer.alloc(10 << 20, 0x61), Buffer.from('\nREAD existing\n')]));
    assert.match(long, /^ERR too-large: [^\n]*\n$/);
    const junk = await tcpSession(textPort, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)));
    const lines = junk.split('\n').slice(0, -1);
    assert.ok(lines.length > 1, junk);
    for (const line of lines) assert.match(line, /^ERR /);
    assert.equal(await tcpSession(textPort, 'READ existing'), 'original\n');
  });

  it('after all of that the node is up, its memory bounded and the data unchanged', async () => {
    assert.equal(await status('/health'), 200);
    assert.equal(await dump(), before_);
    assert.ok(rssMiB() - rssAtStart < 256, `RSS grew from ${rssAtStart.toFixed(0)} to ${rssMiB().toFixed(0)} MiB`);
  });

  it('serves metrics, readiness and the OpenAPI document', async () => {
    const m = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['concord_raft_term', 'concord_raft_commit_index', 'concord_raft_applied_index', 'concord_raft_role', 'concord_raft_fsync_duration_seconds', 'concord_raft_proposals_total', 'concord_http_request_duration_seconds', 'concord_peer_queue_messages']) {
      assert.ok(m.includes(name), `metric ${name} missing`);
    }
    assert.equal(await status('/ready'), 200);
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/v1/kv/{key}']);
  });
});
