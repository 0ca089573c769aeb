// The `bulky` option: payloads it picks take a second connection per peer, so a small payload sent
// after a huge one does not wait for the huge one to arrive. A relay between the two transports
// holds back every connection that has carried more than HOLD_AFTER bytes, which stands in for a
// 64 MiB entry still on its way over a slow link: deterministic, and on real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { MessageType } from '../../src/raft/types.ts';
import { appEnvelope, TestCluster, waitFor, type Envelope } from './helpers.ts';

const HOLD_AFTER = 256 * 1024;

/** Forwards connections to `target`; while holding, each stops forwarding once it has passed HOLD_AFTER bytes. */
async function holdingRelay(target: string) {
  const [host, port] = target.split(':');
  let holding = true;
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port: Number(port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => (client.destroy(), upstream.destroy()));
    }
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    let forwarded = 0;
    client.on('data', (chunk: Buffer) => {
      if (holding && forwarded + chunk.length > HOLD_AFTER) {
        client.pause();
        held.push(() => {
          upstream.write(chunk);
          client.resume();
        });
        return;
      }
      forwarded += chunk.length;
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    addr: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    heldConnections: () => held.length,
    release(): void {
      holding = false;
      for (const go of held.splice(0)) go();
    },
    async close(): Promise<void> {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const heartbeat = (n: number): Envelope => ({ group: 'g1', msg: { type: MessageType.Heartbeat, from: 'a', to: 'b', term: 3, commit: n } });
const isApp = (env: Envelope) => env.msg.type === MessageType.App;

for (const bulk of [true, false]) {
  test(bulk ? 'with bulky: a heartbeat sent after a 4 MiB append arrives while the append is held back' : 'without bulky: one connection, so the heartbeat waits behind the append (FIFO)', async (t) => {
    const cluster = new TestCluster();
    const b = await cluster.start({ nodeId: 'b' });
    const relay = await holdingRelay(b.addr);
    t.after(async () => {
      await cluster.closeAll();
      await relay.close();
    });
    const a = await cluster.start({ nodeId: 'a', bulky: bulk ? isApp : undefined });
    a.t.setPeer('b', relay.addr);

    // Open the connection(s) with small payloads first, so the order below is not a race between dials.
    a.t.send('b', appEnvelope(1));
    a.t.send('b', heartbeat(1));
    await waitFor(() => b.received.length === 2, 'both warm-up payloads');

    a.t.send('b', appEnvelope(2, 'a', 'b', 4 * 1024 * 1024));
    await new Promise((resolve) => setImmediate(resolve)); // the append leaves in a frame of its own turn
    a.t.send('b', heartbeat(2));
    await waitFor(() => relay.heldConnections() === 1, 'the relay to hold back the append');
    if (bulk) {
      await waitFor(() => b.received.length === 3, 'the heartbeat, past the held append');
      assert.equal(b.received[2].env.msg.type, MessageType.Heartbeat);
      assert.equal(b.t.stats().inbound.connections, 2, 'two connections from a: control and bulk');
    } else {
      // The heartbeat is behind the append on the only connection: nothing more arrives while it is held.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(b.received.length, 2);
      assert.equal(b.t.stats().inbound.connections, 1);
    }
    relay.release();
    await waitFor(() => b.received.length === 4, 'the append, once released');
    assert.equal(b.received.find((r) => r.env.msg.index === 2)?.env.msg.entries?.[0].data.byteLength, 4 * 1024 * 1024);
    const peer = a.t.stats().peers.b;
    assert.equal(peer.sentMessages, 4, 'the peer stats add up both links');
    assert.equal(peer.connected, true);
  });
}
