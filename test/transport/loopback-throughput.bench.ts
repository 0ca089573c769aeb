// Messages per second through two PeerTransports on 127.0.0.1, in one process (so the figure
// includes both encoding and decoding on one core). Payloads are Raft App envelopes with one
// entry. The producer keeps a bounded window of unacknowledged messages so the queue never
// overflows and the figure is of delivered messages, not of drops.
//
//   node --import tsx test/transport/loopback-throughput.bench.ts [--seconds 5] [--bytes 100] [--window 20000] [--per-turn 2000] [--envelope-size]
//
// --envelope-size replaces the generic size estimate (a walk of the whole payload) with the
// shape-aware one a host that knows its payloads would pass as `sizeOf`.

import { parseArgs } from 'node:util';
import { PeerTransport } from '../../src/transport/index.ts';
import { appEnvelope, type Envelope } from './helpers.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    bytes: { type: 'string', default: '100' },
    window: { type: 'string', default: '20000' },
    'per-turn': { type: 'string', default: '2000' },
    'envelope-size': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const dataBytes = Number(values.bytes);
const windowSize = Number(values.window);
const perTurn = Number(values['per-turn']);

const envelopeSize = (env: Envelope): number => {
  let size = 64 + env.group.length;
  for (const e of env.msg.entries ?? []) size += 24 + e.data.byteLength;
  return size + (env.msg.snapshot?.data.byteLength ?? 0);
};
const make = (nodeId: string) =>
  new PeerTransport<Envelope>({
    nodeId,
    clusterId: 'bench',
    listen: { host: '127.0.0.1', port: 0 },
    sizeOf: values['envelope-size'] ? envelopeSize : undefined,
  });
const a = make('a');
const b = make('b');
await a.start();
const bAddr = await b.start();
a.setPeer('b', `${bAddr.host}:${bAddr.port}`);

let received = 0;
let receivedBytes = 0;
b.onMessage((_from, env) => {
  received++;
  receivedBytes += env.msg.entries?.[0].data.byteLength ?? 0;
});

// Pre-built payloads: the benchmark measures the transport, not object construction.
const payloads = Array.from({ length: 1024 }, (_, i) => appEnvelope(i, 'a', 'b', dataBytes));
let sent = 0;
let running = true;
const pump = () => {
  if (!running) return;
  let budget = perTurn;
  while (budget-- > 0 && sent - received < windowSize) a.send('b', payloads[sent++ & 1023]);
  setImmediate(pump);
};
pump();

const warmupMs = 1000;
await new Promise((resolve) => setTimeout(resolve, warmupMs));
const startCount = received;
const startBytes = receivedBytes;
const startCpu = process.cpuUsage();
const t0 = performance.now();
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(startCpu);
running = false;

const n = received - startCount;
const stats = a.stats().peers.b;
console.log(
  JSON.stringify({
    messagesPerSecond: Math.round(n / elapsed),
    payloadMiBPerSecond: Number(((receivedBytes - startBytes) / elapsed / 1048576).toFixed(1)),
    cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (elapsed * 1000)) * 100),
    messagesPerFrame: Math.round(stats.sentMessages / stats.sentFrames),
    dropped: stats.dropped,
    dataBytes,
    sizeOf: values['envelope-size'] ? 'envelope' : 'estimateSize',
    seconds: Number(elapsed.toFixed(2)),
  }),
);
await Promise.all([a.close(), b.close()]);
