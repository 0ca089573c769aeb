import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '../../src/raft/types.ts';
import { estimateSize } from '../../src/transport/index.ts';
import { appEnvelope, TestCluster, waitFor, type Envelope } from './helpers.ts';

test('a batch of envelopes round-trips with byte arrays intact, in both directions', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a' });
  const b = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', b.addr);
  b.t.setPeer('a', a.addr);

  const sent: Envelope[] = [
    appEnvelope(1),
    // A leader's no-op entry has empty data: it must stay an empty byte array, not become null.
    { group: 'g2', msg: { type: MessageType.App, from: 'a', to: 'b', term: 4, index: 0, logTerm: 0, commit: 0, entries: [{ term: 4, index: 1, type: 0, data: new Uint8Array(0) }] } },
    {
      group: 'g1',
      msg: {
        type: MessageType.Snap, from: 'a', to: 'b', term: 5,
        snapshot: { meta: { index: 9, term: 5, confState: { voters: ['a', 'b'], learners: [] } }, data: Uint8Array.from([0, 1, 2, 255]) },
      },
    },
    { group: 'g1', msg: { type: MessageType.Heartbeat, from: 'a', to: 'b', term: 5, commit: 7, readSeq: 2, leaseTick: 40 } },
  ];
  for (const env of sent) assert.equal(a.t.send('b', env), true);
  await waitFor(() => b.received.length === sent.length, 'b receives the batch');

  assert.deepEqual(b.received.map((r) => r.from), ['a', 'a', 'a', 'a']);
  for (let i = 0; i < sent.length; i++) {
    const got = b.received[i].env;
    // Compare with byte arrays normalised to Buffer: msgpackr decodes binary as Buffer (a Uint8Array).
    assert.deepEqual(got, normaliseBytes(sent[i]));
  }
  const entryData = b.received[0].env.msg.entries?.[0].data;
  assert.ok(entryData instanceof Uint8Array);
  assert.equal(entryData.byteLength, 100);
  const noop = b.received[1].env.msg.entries?.[0].data;
  assert.ok(noop instanceof Uint8Array && noop.byteLength === 0);
  assert.ok(b.received[2].env.msg.snapshot?.data instanceof Uint8Array);

  b.t.send('a', appEnvelope(42, 'b', 'a'));
  await waitFor(() => a.received.length === 1, 'a receives the reply');
  assert.equal(a.received[0].from, 'b');
  assert.equal(a.received[0].env.msg.index, 42);
});

test('many sends in one tick leave as one frame, in order', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a' });
  const b = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', b.addr);

  a.t.send('b', appEnvelope(0)); // establishes the connection first, so the next batch meets an open socket
  await waitFor(() => b.received.length === 1, 'warm-up message');
  const framesBefore = a.t.stats().peers.b.sentFrames;
  const inboundFramesBefore = b.t.stats().inbound.frames;

  const n = 1000;
  for (let i = 1; i <= n; i++) a.t.send('b', appEnvelope(i));
  assert.equal(a.t.stats().peers.b.queuedMessages, n, 'nothing is written synchronously inside send()');
  await waitFor(() => b.received.length === n + 1, 'all messages arrive');

  const stats = a.t.stats().peers.b;
  assert.equal(stats.sentFrames - framesBefore, 1, '1000 small messages sent in one tick share one frame');
  assert.equal(stats.sentMessages, n + 1);
  assert.equal(stats.queuedMessages, 0);
  assert.equal(stats.queuedBytes, 0);
  assert.equal(stats.connected, true);
  assert.equal(b.t.stats().inbound.frames - inboundFramesBefore, 1);
  assert.deepEqual(b.received.map((r) => r.env.msg.index), Array.from({ length: n + 1 }, (_, i) => i));
});

test('maxBatchBytes splits a big burst into several frames', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a', maxBatchBytes: 10_000 });
  const b = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', b.addr);
  a.t.send('b', appEnvelope(0));
  await waitFor(() => b.received.length === 1, 'warm-up message');

  for (let i = 1; i <= 500; i++) a.t.send('b', appEnvelope(i));
  await waitFor(() => b.received.length === 501, 'all messages arrive');
  const perFrame = Math.floor(10_000 / estimateSize(appEnvelope(1)));
  assert.equal(a.t.stats().peers.b.sentFrames - 1, Math.ceil(500 / perFrame));
});

test('a 64 MiB value fits in one frame with the default limits', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a' });
  const b = await cluster.start({ nodeId: 'b' });
  a.t.setPeer('b', b.addr);
  const big = appEnvelope(7, 'a', 'b', 64 * 1024 * 1024);
  assert.equal(a.t.send('b', big), true);
  a.t.send('b', appEnvelope(8));
  await waitFor(() => b.received.length === 2, 'the big value and the one after it arrive', 20_000);
  const data = b.received[0].env.msg.entries?.[0].data;
  assert.equal(data?.byteLength, 64 * 1024 * 1024);
  assert.equal(data?.[12345], 7);
  assert.equal(b.t.stats().inbound.malformedFrames + b.t.stats().inbound.oversizedFrames, 0);
});

test('unknown peers, throwing handlers and removed peers never throw out of send()', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const a = await cluster.start({ nodeId: 'a' });
  const b = await cluster.start({ nodeId: 'b' });

  assert.equal(a.t.send('nobody', appEnvelope(1)), false);
  assert.equal(a.t.stats().droppedUnknownPeer, 1);

  let calls = 0;
  b.t.onMessage(() => {
    calls++;
    if (calls === 1) throw new Error('handler bug');
  });
  a.t.setPeer('b', b.addr);
  a.t.send('b', appEnvelope(1));
  a.t.send('b', appEnvelope(2));
  await waitFor(() => calls === 2, 'the message after a throwing handler call is still delivered');
  assert.equal(b.t.stats().inbound.handlerErrors, 1);

  a.t.removePeer('b');
  assert.equal(a.t.send('b', appEnvelope(3)), false);
  assert.equal(a.t.stats().peers.b, undefined);
});

test('validate filters payloads that are not what the host expects', async (t) => {
  const cluster = new TestCluster();
  t.after(() => cluster.closeAll());
  const isEnvelope = (v: unknown): v is Envelope => typeof v === 'object' && v !== null && typeof (v as Envelope).group === 'string';
  const a = await cluster.start({ nodeId: 'a' });
  const b = await cluster.start({ nodeId: 'b', validate: isEnvelope });
  a.t.setPeer('b', b.addr);
  a.t.send('b', { nonsense: true } as unknown as Envelope);
  a.t.send('b', appEnvelope(1));
  await waitFor(() => b.received.length === 1, 'the valid envelope arrives');
  assert.equal(b.t.stats().inbound.invalidPayloads, 1);
  assert.equal(b.received[0].env.msg.index, 1);
});

function normaliseBytes(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(normaliseBytes);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normaliseBytes(v)]));
  }
  return value;
}
