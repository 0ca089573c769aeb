// Shared fixtures for the transport tests: Raft-shaped envelopes, transports that are closed after
// each test, condition waits, and raw sockets for speaking (broken) protocol by hand.

import net from 'node:net';
import { pack } from 'msgpackr';
import { MessageType, type Message, type NodeId } from '../../src/raft/types.ts';
import { PeerTransport } from '../../src/transport/index.ts';
import type { PeerTransportOptions } from '../../src/transport/index.ts';

export const CLUSTER = 'test-cluster';

export interface Envelope {
  group: string;
  msg: Message;
}

/** A Raft App message carrying one entry of `dataBytes` bytes, tagged with `seq` in its index. */
export function appEnvelope(seq: number, from: NodeId = 'a', to: NodeId = 'b', dataBytes = 100): Envelope {
  const data = Buffer.alloc(dataBytes, seq & 0xff);
  return {
    group: 'g1',
    msg: { type: MessageType.App, from, to, term: 3, index: seq, logTerm: 3, commit: seq, entries: [{ term: 3, index: seq + 1, type: 0, data }] },
  };
}

export type TestOptions = Partial<PeerTransportOptions<Envelope>> & { nodeId: NodeId };

/** Creates transports and closes every one of them when the test ends. */
export class TestCluster {
  readonly transports: PeerTransport<Envelope>[] = [];

  async start(opts: TestOptions): Promise<{ t: PeerTransport<Envelope>; addr: string; received: Array<{ from: NodeId; env: Envelope }> }> {
    const t = new PeerTransport<Envelope>({
      clusterId: CLUSTER,
      listen: { host: '127.0.0.1', port: 0 },
      backoff: { minMs: 5, maxMs: 50 },
      ...opts,
    });
    this.transports.push(t);
    const { host, port } = await t.start();
    const received: Array<{ from: NodeId; env: Envelope }> = [];
    t.onMessage((from, env) => received.push({ from, env }));
    return { t, addr: `${host}:${port}`, received };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.transports.map((t) => t.close()));
  }
}

/** Polls `cond` until it holds; fails with `what` after timeoutMs. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A port nothing listens on: bind one, then release it. */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function frameOf(value: unknown): Buffer {
  const body = pack(value);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

export function rawFrame(body: Buffer | number[]): Buffer {
  const bytes = Buffer.from(body);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([header, bytes]);
}

export function helloFrame(from: NodeId, to: NodeId, cluster = CLUSTER): Buffer {
  return frameOf({ concord: 1, cluster, from, to });
}

/** A hand-driven client connection; `closed` resolves when the server hangs up. */
export async function rawConnect(addr: string): Promise<{ socket: net.Socket; closed: Promise<void>; received: () => Buffer }> {
  const [host, port] = addr.split(':');
  const socket = net.connect({ host, port: Number(port) });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {}); // a reset from the server is one of the expected outcomes
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed, received: () => Buffer.concat(chunks) };
}
