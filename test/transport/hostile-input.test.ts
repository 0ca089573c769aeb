// Whatever arrives on the peer port, the node stays up: a bad connection is closed and counted,
// and traffic between well-behaved peers carries on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Unpackr } from 'msgpackr';
import { appEnvelope, frameOf, helloFrame, rawConnect, rawFrame, TestCluster, waitFor } from './helpers.ts';

async function healthyPair(cluster: TestCluster, bOpts: Parameters<TestCluster['start']>[0] = { nodeId: 'b' }) {
  const a = await cluster.start({ nodeId: 'a' });
  const b = await cluster.start(bOpts);
  a.t.setPeer('b', b.addr);
  let seq = 0;
  /** Proves the a→b link still works: a fresh message gets through. */
  const stillWorks = async () => {
    const index = 1000 + ++seq;
    a.t.send('b', appEnvelope(index));
    await waitFor(() => b.received.some((r) => r.env.msg.index === index), 'a healthy peer still gets through');
  };
  await stillWorks(); // the healthy connection exists before the attack, and must survive it
  return { a, b, stillWorks };
}

test('undecodable bytes in the first frame close that connection only', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { b, stillWorks } = await healthyPair(cluster);

  const raw = await rawConnect(b.addr);
  raw.socket.write(rawFrame([0xdd, 0, 0, 0, 5])); // an array of 5 with no elements
  await raw.closed;
  assert.equal(b.t.stats().inbound.malformedFrames, 1);
  await stillWorks();
});

test('a malformed or non-batch frame after a valid handshake closes that connection', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { b, stillWorks } = await healthyPair(cluster);

  const truncated = await rawConnect(b.addr);
  // The stream ends mid-frame: the partial batch must never be delivered.
  truncated.socket.end(Buffer.concat([helloFrame('mallory', 'b'), frameOf([appEnvelope(1)]).subarray(0, 30)]));
  await truncated.closed;

  const notBatch = await rawConnect(b.addr);
  notBatch.socket.write(Buffer.concat([helloFrame('mallory', 'b'), frameOf({ not: 'an array' })]));
  await notBatch.closed;

  const garbage = await rawConnect(b.addr);
  garbage.socket.write(Buffer.concat([helloFrame('mallory', 'b'), rawFrame([0x93, 0x01, 0xdd, 0xff])])); // truncated array32
  await garbage.closed;

  const inbound = b.t.stats().inbound;
  assert.equal(inbound.malformedFrames, 2, 'the non-batch and the undecodable frame');
  assert.ok(b.received.every((r) => r.from === 'a'), 'nothing from the broken connections was delivered');
  await stillWorks();
});

test('an oversized length prefix is refused before any body is buffered', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { b, stillWorks } = await healthyPair(cluster, { nodeId: 'b', maxFrameBytes: 1024 * 1024 });

  const huge = await rawConnect(b.addr);
  huge.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  await huge.closed;

  // Someone pointing a browser or curl at the peer port: "GET " reads as a ~1.2 GB length.
  const http = await rawConnect(b.addr);
  http.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await http.closed;

  // Just over the limit, after a valid handshake.
  const over = await rawConnect(b.addr);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1024 * 1024 + 1, 0);
  over.socket.write(Buffer.concat([helloFrame('mallory', 'b'), header]));
  await over.closed;

  assert.equal(b.t.stats().inbound.oversizedFrames, 3);
  await stillWorks();
});

test('a dialer from another cluster is rejected, told why, and never delivered', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { b, stillWorks } = await healthyPair(cluster);

  const stranger = await cluster.start({ nodeId: 'c', clusterId: 'other-cluster' });
  stranger.t.setPeer('b', b.addr);
  stranger.t.send('b', appEnvelope(1, 'c', 'b'));
  await waitFor(() => stranger.t.stats().peers.b.rejectedByPeer >= 1, 'the stranger hears it was rejected');
  assert.ok(b.t.stats().inbound.rejectedHandshakes >= 1);
  assert.ok(b.received.every((r) => r.from === 'a'));

  // By hand: the reply frame states the reason before the connection closes.
  const raw = await rawConnect(b.addr);
  raw.socket.write(Buffer.concat([helloFrame('c', 'b', 'other-cluster'), frameOf([appEnvelope(2, 'c', 'b')])]));
  await raw.closed;
  const reply = new Unpackr({ mapsAsObjects: true }).unpack(raw.received().subarray(4)) as { ok: boolean; reason: string };
  assert.equal(reply.ok, false);
  assert.match(reply.reason, /cluster id mismatch/);
  assert.ok(b.received.every((r) => r.from === 'a'));
  await stillWorks();
});

test('a handshake meant for another node, from an old version, or never sent is rejected', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const { b, stillWorks } = await healthyPair(cluster, { nodeId: 'b', handshakeTimeoutMs: 100 });

  const misaddressed = await rawConnect(b.addr);
  misaddressed.socket.write(helloFrame('a', 'z'));
  await misaddressed.closed;

  const oldVersion = await rawConnect(b.addr);
  oldVersion.socket.write(frameOf({ concord: 0, cluster: 'test-cluster', from: 'a', to: 'b' }));
  await oldVersion.closed;

  const batchFirst = await rawConnect(b.addr);
  batchFirst.socket.write(frameOf([appEnvelope(1)]));
  await batchFirst.closed;

  const silent = await rawConnect(b.addr);
  await silent.closed; // closed by the handshake timeout

  assert.equal(b.t.stats().inbound.rejectedHandshakes, 4);
  await stillWorks();
  assert.equal(b.t.stats().inbound.connections, 1, 'only the healthy connection remains');
});

test('a handshake and batch delivered one byte at a time are read correctly', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const b = await cluster.start({ nodeId: 'b' });
  const raw = await rawConnect(b.addr);
  raw.socket.setNoDelay(true);
  const bytes = Buffer.concat([helloFrame('a', 'b'), frameOf([appEnvelope(5), appEnvelope(6)])]);
  for (const byte of bytes) {
    raw.socket.write(Buffer.from([byte]));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await waitFor(() => b.received.length === 2, 'both messages arrive');
  assert.deepEqual(b.received.map((r) => [r.from, r.env.msg.index]), [['a', 5], ['a', 6]]);
  raw.socket.destroy();
  await raw.closed;
});
