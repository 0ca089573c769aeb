// The gRPC port against clients that do not play by the rules, spoken as raw HTTP/2 so nothing smooths
// the bytes over: a deadline already past, undecodable messages, declared lengths far past the limit or
// never delivered, a compression bomb, wrong content types, non-HTTP/2 junk. Each gets a clear status
// (or a closed connection), the service is never called, memory stays bounded and the server keeps
// serving. Plus the largest legal value, 64 MiB, round-tripping through a real client.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { GetRequestSchema, KV } from '../../src/api/grpc/gen/concord_pb.ts';
import { messageLimits, startGrpcServer, type GrpcServer } from '../../src/api/grpc/server.ts';
import { GrpcTestClient } from './grpc-client.ts';
import { frame, rawCall } from './grpc-raw.ts';
import { MemoryCluster, MemoryKv } from './memory-kv.ts';

const MiB = 1024 * 1024;
const LIMITS = { maxKeyBytes: 8192, maxValueBytes: 64 * MiB };

const getRequest = (key: string): Buffer => Buffer.from(toBinary(GetRequestSchema, create(GetRequestSchema, { key: Buffer.from(key) })));

describe('gRPC API: hostile input and large values', () => {
  const kv = new MemoryKv();
  let server: GrpcServer;
  let c: GrpcTestClient;
  before(async () => {
    server = await startGrpcServer({ kv, cluster: new MemoryCluster(), limits: LIMITS, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
    c = new GrpcTestClient(server.address);
    await c.call(KV, 'put', { key: Buffer.from('k'), value: Buffer.from('v') });
  });
  after(async () => {
    c.close();
    await server.close();
  });

  /** The server still answers a well-formed call. */
  const stillServes = async () => assert.equal(Buffer.from((await c.call(KV, 'get', { key: Buffer.from('k') })).kv!.value).toString(), 'v');

  it('a call whose deadline passed before its request arrived is DEADLINE_EXCEEDED and never reaches the service', async () => {
    const calls = kv.calls.length;
    const a = await rawCall(server.address, '/concord.v1.KV/Get', (req) => setTimeout(() => req.end(frame(getRequest('k'))), 100), { 'grpc-timeout': '20m' });
    assert.equal(a.grpcStatus, grpc.status.DEADLINE_EXCEEDED);
    const b = await rawCall(server.address, '/concord.v1.KV/Get', (req) => req.end(frame(getRequest('k'))), { 'grpc-timeout': '1n' });
    assert.equal(b.grpcStatus, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(kv.calls.length, calls);
    await stillServes();
  });

  it('a well-framed message that is not a valid protobuf is INVALID_ARGUMENT; the service is not called', async () => {
    const calls = kv.calls.length;
    for (const junk of [Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0x0a, 0x50, 0x01]), Buffer.from('not protobuf at all, just text')]) {
      const a = await rawCall(server.address, '/concord.v1.KV/Put', (req) => req.end(frame(junk)));
      assert.equal(a.grpcStatus, grpc.status.INVALID_ARGUMENT, junk.toString('hex'));
      assert.match(a.message ?? '', /malformed request/);
    }
    assert.equal(kv.calls.length, calls);
    await stillServes();
  });

  it('a declared length past the limit is RESOURCE_EXHAUSTED at once, nothing allocated for it', async () => {
    const rss = process.memoryUsage().rss;
    const a = await rawCall(server.address, '/concord.v1.KV/Put', (req) => req.end(frame(Buffer.alloc(100), { declared: 0xffff_fff0 })));
    assert.equal(a.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
    const justOver = messageLimits(LIMITS).maxReceiveMessageLength + 1;
    const b = await rawCall(server.address, '/concord.v1.KV/Put', (req) => req.end(frame(Buffer.alloc(10), { declared: justOver })));
    assert.equal(b.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
    assert.ok(process.memoryUsage().rss - rss < 64 * MiB, `rss grew ${(process.memoryUsage().rss - rss) / MiB} MiB`);
    await stillServes();
  });

  it('a declared length never delivered (the stream ends short) fails the call without reaching the service', async () => {
    const calls = kv.calls.length;
    const a = await rawCall(server.address, '/concord.v1.KV/Put', (req) => req.end(frame(Buffer.alloc(10), { declared: 50 * MiB })));
    assert.notEqual(a.grpcStatus, grpc.status.OK);
    assert.notEqual(a.grpcStatus, undefined);
    assert.equal(kv.calls.length, calls);
    await stillServes();
  });

  it('a compression bomb (160 MiB of zeros in ~160 KiB of gzip) is cut at the message limit', async () => {
    const member = zlib.gzipSync(Buffer.alloc(MiB));
    const bomb = Buffer.concat(Array.from({ length: 160 }, () => member));
    const rss = process.memoryUsage().rss;
    const a = await rawCall(server.address, '/concord.v1.KV/Put', (req) => req.end(frame(bomb, { compressed: true })), { 'grpc-encoding': 'gzip' });
    assert.equal(a.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
    assert.ok(process.memoryUsage().rss - rss < 200 * MiB, `rss grew ${(process.memoryUsage().rss - rss) / MiB} MiB`);
    await stillServes();
  });

  it('wrong content type, unknown method, non-HTTP/2 junk: refused, and the server keeps serving', async () => {
    const ct = await rawCall(server.address, '/concord.v1.KV/Get', (req) => req.end('{"key":"k"}'), { 'content-type': 'application/json' });
    assert.notEqual(ct.httpStatus, 200);
    const unknown = await rawCall(server.address, '/concord.v1.KV/Nope', (req) => req.end(frame(Buffer.alloc(0))));
    assert.equal(unknown.grpcStatus, grpc.status.UNIMPLEMENTED);
    const [host, port] = [server.address.slice(0, server.address.lastIndexOf(':')), Number(server.address.slice(server.address.lastIndexOf(':') + 1))];
    await new Promise<void>((resolve) => {
      const s = net.connect(port, host, () => s.write(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.alloc(64 * 1024, 0xab)])));
      s.on('data', () => undefined);
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await stillServes();
  });

  it('a 64 MiB value round-trips (Put, Get, List); one byte more is RESOURCE_EXHAUSTED from the size check', async () => {
    const value = Buffer.alloc(64 * MiB, 0x5a);
    value.write('start', 0);
    value.write('end', value.length - 3);
    const put = await c.call(KV, 'put', { key: Buffer.from('big'), value });
    const got = await c.call(KV, 'get', { key: Buffer.from('big') });
    assert.equal(got.kv!.modRevision, put.revision);
    assert.ok(Buffer.from(got.kv!.value).equals(value));
    const listed = await c.call(KV, 'list', { prefix: Buffer.from('big') });
    assert.equal(listed.items[0].value.byteLength, value.length);
    const over = await new Promise<grpc.ServiceError>((resolve) =>
      c.call(KV, 'put', { key: Buffer.from('big'), value: Buffer.alloc(64 * MiB + 1) }).then(() => assert.fail('accepted'), resolve),
    );
    assert.equal(over.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(over.details, /value is 67108865 bytes; the limit is 67108864/);
  });
});
