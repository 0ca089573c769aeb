import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { appEnvelope, TestCluster, waitFor } from './helpers.ts';

test('a peer that stops reading only fills its own bounded queue; others are unaffected', async (t) => {
  // A "peer" that accepts and then never reads: the kernel buffers fill, then the socket pushes back.
  const stalled = new Set<net.Socket>();
  const slowServer = net.createServer((socket) => {
    socket.pause();
    stalled.add(socket);
  });
  await new Promise<void>((resolve) => slowServer.listen(0, '127.0.0.1', resolve));
  const cluster = new TestCluster();
  t.after(async () => {
    await cluster.closeAll();
    for (const socket of stalled) socket.destroy();
    await new Promise<void>((resolve) => slowServer.close(() => resolve()));
  });

  const maxQueueBytes = 1024 * 1024;
  const maxBatchBytes = 256 * 1024;
  const a = await cluster.start({ nodeId: 'a', maxQueueBytes, maxBatchBytes });
  const b = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('slow', `127.0.0.1:${(slowServer.address() as net.AddressInfo).port}`);
  a.t.setPeer('b', b.addr);

  a.t.send('slow', appEnvelope(0, 'a', 'slow'));
  await waitFor(() => a.t.stats().peers.slow.connected, 'connected to the stalled peer');
  let turns = 0;
  let maxSocketBuffered = 0;
  const big = appEnvelope(0, 'a', 'slow', 64 * 1024);
  while (a.t.stats().peers.slow.dropped === 0) {
    assert.ok(++turns < 2000, 'the stalled peer never pushed back');
    for (let i = 0; i < 4; i++) a.t.send('slow', big);
    a.t.send('b', appEnvelope(turns));
    await new Promise((resolve) => setImmediate(resolve));
    const slow = a.t.stats().peers.slow;
    assert.ok(slow.queuedBytes <= maxQueueBytes, `queued ${slow.queuedBytes} bytes`);
    maxSocketBuffered = Math.max(maxSocketBuffered, slow.socketBufferedBytes);
  }
  // Several MiB went into kernel buffers before the socket pushed back and the queue overflowed.
  assert.ok(a.t.stats().peers.slow.sentBytes > 2 * maxQueueBytes, `only ${a.t.stats().peers.slow.sentBytes} bytes sent`);
  // The writer stops at the socket's high-water mark, so at most about one frame waits in Node.
  assert.ok(maxSocketBuffered <= 2 * maxBatchBytes, `socket buffered up to ${maxSocketBuffered} bytes`);
  assert.equal(a.t.stats().peers.slow.connected, true);
  assert.equal(a.t.connected('slow'), true, 'connected() says what stats() does');
  assert.equal(a.t.connected('nobody'), false);
  await waitFor(() => b.received.length === turns, 'every message to the healthy peer arrives');
});
