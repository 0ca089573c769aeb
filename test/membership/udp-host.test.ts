// GossipNode on real sockets (127.0.0.1, ports picked by the OS). Every test closes every node it
// started, and the last one checks that closing really released the UDP and TCP ports.

import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { encodePacket } from '../../src/membership/codec.ts';
import { defaultConfig, localTestConfig, type SwimConfig } from '../../src/membership/config.ts';
import { GossipNode, splitHostPort } from '../../src/membership/udp-host.ts';
import type { MemberState } from '../../src/membership/types.ts';

const started: GossipNode[] = [];
after(async () => {
  await Promise.all(started.map((n) => n.close()));
});

async function startNodes(count: number, config: SwimConfig): Promise<GossipNode[]> {
  const nodes: GossipNode[] = [];
  for (let i = 1; i <= count; i++) {
    const node = new GossipNode({ id: `n${i}`, meta: { http: `http://127.0.0.1:${8000 + i}` }, config, seed: i });
    started.push(node);
    await node.start();
    nodes.push(node);
  }
  // Each joins through the one before it: any live member is a good enough seed.
  for (let i = 1; i < count; i++) await nodes[i].join([nodes[i - 1].address]);
  await waitUntil(() => nodes.every((n) => n.members().filter((m) => m.state === 'alive').length === count), 5000);
  return nodes;
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - start;
}

const stateOf = (observer: GossipNode, id: string): MemberState | undefined => observer.members().find((m) => m.id === id)?.state;

/** Close `victim` without a word (as kill -9 would) and time how long until every other node calls it dead. */
async function timeDetection(nodes: GossipNode[], victim: GossipNode): Promise<number[]> {
  const others = nodes.filter((n) => n !== victim);
  const seenAt = new Map<string, number>();
  const start = performance.now();
  for (const n of others) n.on('dead', (m) => m.id === victim.id && seenAt.set(n.id, performance.now() - start));
  await victim.close();
  await waitUntil(() => seenAt.size === others.length, 15_000);
  return [...seenAt.values()];
}

describe('GossipNode on 127.0.0.1', () => {
  it('three nodes with the default config: one closed is dead on the other two within the 5 s bound', async (t) => {
    const nodes = await startNodes(3, defaultConfig());
    await new Promise((r) => setTimeout(r, 1000));
    const times = await timeDetection(nodes, nodes[1]);
    t.diagnostic(`dead on both survivors after ${times.map((x) => x.toFixed(0)).join(' and ')} ms`);
    assert.ok(Math.max(...times) < 5000);
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('five nodes with the default config: one closed is dead on all four others in under 5 s, nobody else', async (t) => {
    const nodes = await startNodes(5, defaultConfig());
    const deaths: string[] = [];
    for (const n of nodes) n.on('dead', (m) => deaths.push(m.id));
    await new Promise((r) => setTimeout(r, 2000));
    const times = await timeDetection(nodes, nodes[2]);
    t.diagnostic(`dead on all four after ${Math.max(...times).toFixed(0)} ms (first ${Math.min(...times).toFixed(0)} ms)`);
    assert.ok(Math.max(...times) < 5000);
    assert.deepEqual(deaths.filter((id) => id !== 'n3'), []);
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('spreads meta updates, leaves gracefully (left, not dead) and drops hostile datagrams with a count', async () => {
    const config = localTestConfig();
    const [a, b, c] = await startNodes(3, config);
    assert.deepEqual(a.members().find((m) => m.id === 'n2')?.meta, { http: 'http://127.0.0.1:8002' });

    b.updateMeta({ http: 'http://127.0.0.1:9999', raft: '127.0.0.1:7002' });
    await waitUntil(() => a.members().find((m) => m.id === 'n2')?.meta.raft === '127.0.0.1:7002', 2000);

    const target = splitHostPort(a.address);
    const good = encodePacket({ from: { id: 'n9', address: '127.0.0.1:1' }, messages: [{ type: 'dead', id: 'n1', incarnation: 5, from: 'n9' }] }, config.clusterId);
    const corrupted = Buffer.from(good);
    corrupted[corrupted.length - 2] ^= 0x01;
    const foreign = encodePacket({ from: { id: 'n9', address: '127.0.0.1:1' }, messages: [{ type: 'ack', seq: 1 }] }, 'someone-else');
    const raw = dgram.createSocket('udp4');
    for (const bytes of [corrupted, foreign, Buffer.from('not a packet at all'), Buffer.alloc(0)]) {
      await new Promise<void>((resolve) => raw.send(bytes, target.port, target.host, () => resolve()));
    }
    await new Promise<void>((resolve) => raw.close(() => resolve()));
    await waitUntil(() => {
      const d = a.stats().dropped;
      return d.corrupt === 1 && d.foreign === 1 && d['bad-magic'] + d.truncated === 2;
    }, 2000);
    assert.equal(a.stats().swim.refutations, 0, 'the forged death never reached the state machine');

    const events: string[] = [];
    a.on('member', (e) => e.member.id === 'n3' && events.push(e.type));
    assert.equal(await c.leave(), true, 'the leave was gossiped');
    await c.close();
    await waitUntil(() => stateOf(a, 'n3') === 'left' && stateOf(b, 'n3') === 'left', 2000);
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(events, ['leave']);
    assert.equal(stateOf(a, 'n3'), 'left');
    await Promise.all([a.close(), b.close()]);
  });

  it('a push-pull frame of 16 MiB arriving in 4 KiB pieces costs linear time; a longer one is refused; gossip goes on', async (t) => {
    const [a, b] = await startNodes(2, localTestConfig());
    const { host, port } = splitHostPort(a.address);
    const writePieces = async (socket: net.Socket, bytes: Buffer, piece: number) => {
      for (let at = 0; at < bytes.length; at += piece) {
        if (!socket.write(bytes.subarray(at, at + piece))) await new Promise((r) => socket.once('drain', r));
        await new Promise((r) => setImmediate(r)); // let the node read each piece on its own
      }
    };
    const frame = Buffer.alloc(4 + 16 * 1024 * 1024 - 8, 0x07);
    frame.writeUInt32BE(frame.length - 4, 0);
    const socket = net.connect(port, host);
    await new Promise((r) => socket.once('connect', r));
    const started = performance.now();
    await writePieces(socket, frame, 4096);
    await waitUntil(() => a.stats().dropped['bad-magic'] === 1, 20_000);
    const ms = performance.now() - started;
    t.diagnostic(`16 MiB in 4 KiB pieces received and dropped in ${ms.toFixed(0)} ms`);
    // Copying everything buffered at every piece took ~27 s here; one copy per byte takes ~1 s.
    assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);
    const oversized = Buffer.alloc(4);
    oversized.writeUInt32BE(16 * 1024 * 1024 + 1, 0);
    socket.write(oversized);
    await waitUntil(() => a.stats().dropped['frame-too-large'] === 1 && socket.destroyed, 2000);

    b.updateMeta({ after: 'yes' });
    await waitUntil(() => a.members().find((m) => m.id === 'n2')?.meta.after === 'yes', 2000);
    await Promise.all([a.close(), b.close()]);
  });

  it('join rejects when no seed answers', async () => {
    const node = new GossipNode({ id: 'lonely', config: localTestConfig() });
    started.push(node);
    await node.start();
    const closedPort = await freePort();
    await assert.rejects(node.join([`127.0.0.1:${closedPort}`], 1500), /no seed answered/);
    await node.close();
  });

  it('close() releases both the UDP socket and the TCP listener', async () => {
    const node = new GossipNode({ id: 'n1', config: localTestConfig() });
    await node.start();
    const { port } = splitHostPort(node.address);
    await node.close();
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => udp.once('error', reject).bind(port, '127.0.0.1', () => resolve()));
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
