import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodePacket, decodePacketDetailed, encodePacket, messageBytes, packetOverheadBytes, PACKET_HEADER_BYTES, splitPacket,
} from '../../src/membership/codec.ts';
import type { MemberState, Message, Packet } from '../../src/membership/types.ts';

const CLUSTER = 'concord-test';
const from = { id: 'n1', address: '127.0.0.1:7946' };

const everyKind: Message[] = [
  { type: 'ping', seq: 1, target: 'n2' },
  { type: 'ack', seq: 2 },
  { type: 'nack', seq: 3 },
  { type: 'ping-req', seq: 4, target: 'n3', targetAddress: '127.0.0.1:7003', wantNack: true },
  { type: 'alive', id: 'n2', address: '127.0.0.1:7002', incarnation: 7, meta: { raft: '127.0.0.1:9002', http: 'http://127.0.0.1:8002' } },
  { type: 'suspect', id: 'n3', incarnation: 2, from: 'n1' },
  { type: 'dead', id: 'n4', incarnation: 0, from: 'n4' },
  {
    type: 'push-pull', reply: true, join: false,
    members: [
      { id: 'n1', address: '127.0.0.1:7946', incarnation: 3, state: 'alive', meta: {} },
      { id: 'n5', address: '[::1]:7005', incarnation: 9, state: 'left', meta: { grpc: ':9090' } },
    ],
  },
];

const arbId = fc.string({ minLength: 1, maxLength: 20 });
const arbCount = fc.nat({ max: 2 ** 40 });
const arbMeta = fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }).filter((k) => k !== '__proto__'), fc.string({ maxLength: 30 }), { maxKeys: 4 });
const arbState = fc.constantFrom<MemberState>('alive', 'suspect', 'dead', 'left');
const arbMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), seq: arbCount, target: arbId }),
  fc.record({ type: fc.constant('ack' as const), seq: arbCount }),
  fc.record({ type: fc.constant('nack' as const), seq: arbCount }),
  fc.record({ type: fc.constant('ping-req' as const), seq: arbCount, target: arbId, targetAddress: arbId, wantNack: fc.boolean() }),
  fc.record({ type: fc.constant('alive' as const), id: arbId, address: arbId, incarnation: arbCount, meta: arbMeta }),
  fc.record({ type: fc.constant('suspect' as const), id: arbId, incarnation: arbCount, from: arbId }),
  fc.record({ type: fc.constant('dead' as const), id: arbId, incarnation: arbCount, from: arbId }),
  fc.record({
    type: fc.constant('push-pull' as const), reply: fc.boolean(), join: fc.boolean(),
    members: fc.array(fc.record({ id: arbId, address: arbId, incarnation: arbCount, state: arbState, meta: arbMeta }), { maxLength: 5 }),
  }),
);
const arbPacket: fc.Arbitrary<Packet> = fc.record({
  from: fc.record({ id: arbId, address: arbId }),
  messages: fc.array(arbMessage, { maxLength: 20 }),
});

describe('codec', () => {
  it('round-trips every message kind', () => {
    const packet: Packet = { from, messages: everyKind };
    assert.deepEqual(decodePacket(encodePacket(packet, CLUSTER), CLUSTER), packet);
  });

  it('round-trips arbitrary packets, and the encoded size is exactly overhead + the sum of message sizes', () => {
    fc.assert(fc.property(arbPacket, (packet) => {
      const bytes = encodePacket(packet, CLUSTER);
      // fast-check builds null-prototype records; compare as plain data.
      assert.deepEqual(decodePacket(bytes, CLUSTER), JSON.parse(JSON.stringify(packet)));
      const predicted = packetOverheadBytes(packet.from) + packet.messages.reduce((n, m) => n + messageBytes(m), 0);
      // The overhead reserves 2 bytes for a long message array's header.
      const slack = packet.messages.length > 15 ? 0 : 2;
      assert.equal(bytes.length, predicted - slack);
    }), { numRuns: 300 });
  });

  it('rejects a packet from another cluster as foreign', () => {
    const bytes = encodePacket({ from, messages: [{ type: 'ack', seq: 1 }] }, 'other-cluster');
    assert.deepEqual(decodePacketDetailed(bytes, CLUSTER), { ok: false, reason: 'foreign' });
    assert.equal(decodePacket(bytes, CLUSTER), undefined);
  });

  it('rejects any single flipped bit after the magic as corrupt', () => {
    const bytes = encodePacket({ from, messages: everyKind }, CLUSTER);
    for (let i = 2; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Buffer.from(bytes);
        copy[i] ^= 1 << bit;
        const r = decodePacketDetailed(copy, CLUSTER);
        assert.equal(r.ok, false, `byte ${i} bit ${bit}`);
        assert.equal(r.ok === false && r.reason, 'corrupt', `byte ${i} bit ${bit}`);
      }
    }
  });

  it('rejects truncated packets, wrong magic and unknown versions', () => {
    const bytes = encodePacket({ from, messages: [{ type: 'ping', seq: 5, target: 'n2' }] }, CLUSTER);
    assert.deepEqual(decodePacketDetailed(bytes.subarray(0, PACKET_HEADER_BYTES), CLUSTER), { ok: false, reason: 'truncated' });
    for (let cut = PACKET_HEADER_BYTES + 1; cut < bytes.length; cut++) {
      assert.equal(decodePacket(bytes.subarray(0, cut), CLUSTER), undefined);
    }
    const wrongMagic = Buffer.from(bytes);
    wrongMagic[0] = 0x7b;
    assert.deepEqual(decodePacketDetailed(wrongMagic, CLUSTER), { ok: false, reason: 'bad-magic' });
  });

  it('rejects well-checksummed bodies of the wrong shape as malformed', () => {
    // Sign a body that is valid msgpack but not a packet, so only the shape check can catch it.
    const bodies: unknown[] = [
      [0xc0], // nil
      [0x93, 0xa1, 0x61, 0xa1, 0x62, 0x91, 0x92, 0x63, 0x01], // ['a', 'b', [[99, 1]]]: unknown message type
      [0x93, 0xa1, 0x61, 0xa1, 0x62, 0x91, 0x92, 0x02, 0xff], // ['a', 'b', [[2, -1]]]: negative seq
    ];
    for (const body of bodies) {
      const forged = signed(Buffer.from(body as number[]));
      assert.deepEqual(decodePacketDetailed(forged, CLUSTER), { ok: false, reason: 'malformed' });
    }
  });

  it('never throws on random bytes, with or without a valid header and checksum', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (body, withHeader) => {
      const bytes = withHeader ? signed(Buffer.from(body)) : Buffer.from(body);
      const r = decodePacketDetailed(bytes, CLUSTER);
      assert.equal(typeof r.ok, 'boolean');
    }), { numRuns: 2000 });
  });

  it('splits a compound packet into datagrams within the size limit, keeping every message in order', () => {
    const many: Message[] = Array.from({ length: 60 }, (_, i) => ({
      type: 'alive', id: `node-${i}`, address: `10.0.0.${i}:7946`, incarnation: i, meta: { raft: `10.0.0.${i}:9000` },
    }));
    const parts = splitPacket({ from, messages: many }, 1400);
    assert.ok(parts.length > 1);
    for (const p of parts) assert.ok(encodePacket(p, CLUSTER).length <= 1400);
    assert.deepEqual(parts.flatMap((p) => p.messages), many);
  });
});

/** A packet with a valid header and checksum around an arbitrary `body`, as a forger would build it. */
function signed(body: Buffer): Buffer {
  const head = Buffer.from(encodePacket({ from, messages: [] }, CLUSTER).subarray(0, PACKET_HEADER_BYTES));
  // crc32 over version + cluster tag + body, as the codec defines it (computed independently here).
  head.writeUInt32BE(crc32(Buffer.concat([head.subarray(2, 7), body])), 7);
  return Buffer.concat([head, body]);
}

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
