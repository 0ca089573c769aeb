import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { appEnvelope, TestCluster, unusedPort, waitFor } from './helpers.ts';

test('a peer restarted on the same port gets the messages sent after it came back', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a' });
  const b1 = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', b1.addr);
  a.t.send('b', appEnvelope(1));
  await waitFor(() => b1.received.length === 1, 'first incarnation receives');

  await b1.t.close();
  await waitFor(() => !a.t.stats().peers.b.connected, 'a notices the peer is gone');
  a.t.send('b', appEnvelope(2)); // queued (or lost with the dead connection): Raft would retransmit
  await waitFor(() => a.t.stats().peers.b.disconnects >= 2, 'a keeps redialing the dead peer');

  const port = Number(b1.addr.split(':')[1]);
  const b2 = await cluster.start({ nodeId: 'b', listen: { host: '127.0.0.1', port } });
  assert.equal(b2.addr, b1.addr);
  await waitFor(() => a.t.stats().peers.b.connected, 'a reconnects on its own, with backoff');
  a.t.send('b', appEnvelope(3));
  await waitFor(() => b2.received.some((r) => r.env.msg.index === 3), 'second incarnation receives later messages');
  // Message 2 was queued while b was down and goes out first on the new connection.
  assert.deepEqual(b2.received.map((r) => r.env.msg.index), [2, 3]);
});

test('setPeer with a new address moves the link to it', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a' });
  const old = await cluster.start({ nodeId: 'b' });
  const moved = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', old.addr);
  a.t.send('b', appEnvelope(1));
  await waitFor(() => old.received.length === 1, 'old address receives');

  a.t.setPeer('b', moved.addr);
  a.t.send('b', appEnvelope(2));
  await waitFor(() => moved.received.length === 1, 'new address receives');
  assert.equal(old.received.length, 1);
  assert.equal(a.t.stats().peers.b.address, moved.addr);
});

test('while a peer is down its queue stays within the message bound, dropping the oldest', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a', maxQueueMessages: 100 });
  a.t.setPeer('b', `127.0.0.1:${await unusedPort()}`);

  for (let i = 0; i < 10_000; i++) assert.equal(a.t.send('b', appEnvelope(i)), true);
  let stats = a.t.stats().peers.b;
  assert.equal(stats.queuedMessages, 100);
  assert.equal(stats.dropped, 9_900);
  assert.equal(stats.connected, false);

  await waitFor(() => a.t.stats().peers.b.dials >= 3, 'redials keep failing');
  stats = a.t.stats().peers.b;
  assert.equal(stats.queuedMessages, 100);
  assert.ok(stats.disconnects >= 2);
});

test('the byte bound holds too, and the newest messages are the ones kept', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const port = await unusedPort();
  const a = await cluster.start({ nodeId: 'a', maxQueueBytes: 10_000 });
  a.t.setPeer('b', `127.0.0.1:${port}`);
  for (let i = 0; i < 1000; i++) a.t.send('b', appEnvelope(i));
  const stats = a.t.stats().peers.b;
  assert.ok(stats.queuedBytes <= 10_000, `queued ${stats.queuedBytes} bytes`);
  assert.equal(stats.queuedMessages + stats.dropped, 1000);

  // Bring b up on that port: what it receives first must be the tail of what was sent.
  const b = await cluster.start({ nodeId: 'b', listen: { host: '127.0.0.1', port } });
  await waitFor(() => b.received.length === stats.queuedMessages, 'the queued tail is delivered after b comes up');
  const indexes = b.received.map((r) => r.env.msg.index);
  assert.deepEqual(indexes, Array.from({ length: indexes.length }, (_, i) => 1000 - indexes.length + i));
});

test('memory does not grow while a dead peer is flooded', async (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a', maxQueueMessages: 1000, maxQueueBytes: 1024 * 1024 });
  a.t.setPeer('b', `127.0.0.1:${await unusedPort()}`);

  const used = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  for (let i = 0; i < 100_000; i++) a.t.send('b', appEnvelope(i, 'a', 'b', 1024)); // ~100 MiB offered
  const grown = used() - before;
  const stats = a.t.stats().peers.b;
  assert.ok(stats.queuedBytes <= 1024 * 1024);
  assert.ok(grown < 16 * 1024 * 1024, `memory grew by ${(grown / 1048576).toFixed(1)} MiB`);
});
