// Gossip packet encoding. A datagram from the network is untrusted: decoding never throws, and a
// packet that is truncated, from another cluster, corrupted in flight or shaped wrongly is rejected
// with a reason the host counts.
//
// Layout: 'C' 'G' | version (1) | crc32(clusterId) (4, BE) | crc32 of everything after this field (4, BE)
//         | msgpack body [senderId, senderAddress, [message, …]]
// Messages are positional arrays [typeCode, …fields] — gossip is size-bound, field names would
// cost a third of every packet. The body is a plain msgpack array, so the encoded size of a packet is
// exactly the fixed overhead plus the sum of its messages' sizes: the state machine fills datagrams
// to the byte without encoding them twice.

import * as zlib from 'node:zlib';
import { Packr } from 'msgpackr';
import type { MemberSnapshot, MemberState, Message, Meta, Packet } from './types.ts';

const MAGIC_0 = 0x43; // 'C'
const MAGIC_1 = 0x47; // 'G'
export const PROTOCOL_VERSION = 1;
export const PACKET_HEADER_BYTES = 11;

// Limits on what a peer may make us allocate or store.
const MAX_ID_CHARS = 256;
const MAX_ADDRESS_CHARS = 300;
const MAX_META_KEYS = 64;
const MAX_META_VALUE_CHARS = 2048;
const MAX_MESSAGES = 4096;
const MAX_SNAPSHOT_MEMBERS = 100_000;

export type DecodeFailure = 'truncated' | 'bad-magic' | 'version' | 'corrupt' | 'foreign' | 'malformed';
export type DecodeResult = { ok: true; packet: Packet } | { ok: false; reason: DecodeFailure };

// Plain msgpack: no msgpackr record extension (it is stateful and only msgpackr speaks it).
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

const TYPE_CODES = { ping: 1, ack: 2, nack: 3, 'ping-req': 4, alive: 5, suspect: 6, dead: 7, 'push-pull': 8 } as const;
const STATE_CODES: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
const STATES_BY_CODE: MemberState[] = ['alive', 'suspect', 'dead', 'left'];

// node:zlib has crc32 from Node 20.15 / 22.2; older Node 20 releases get the table version.
const crc32: (data: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (d) => zlib.crc32(d) : tableCrc32;

let crcTable: Uint32Array | undefined;
function tableCrc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const clusterTags = new Map<string, number>();
function clusterTag(clusterId: string): number {
  let tag = clusterTags.get(clusterId);
  if (tag === undefined) {
    tag = crc32(Buffer.from(clusterId, 'utf8'));
    clusterTags.set(clusterId, tag);
  }
  return tag;
}

function snapshotToWire(m: MemberSnapshot): unknown[] {
  return [m.id, m.address, m.incarnation, STATE_CODES[m.state], m.meta];
}

function messageToWire(m: Message): unknown[] {
  const code = TYPE_CODES[m.type];
  switch (m.type) {
    case 'ping': return [code, m.seq, m.target];
    case 'ack': case 'nack': return [code, m.seq];
    case 'ping-req': return [code, m.seq, m.target, m.targetAddress, m.wantNack ? 1 : 0];
    case 'alive': return [code, m.id, m.address, m.incarnation, m.meta];
    case 'suspect': case 'dead': return [code, m.id, m.incarnation, m.from];
    case 'push-pull': return [code, m.reply ? 1 : 0, m.join ? 1 : 0, m.members.map(snapshotToWire)];
  }
}

/** Encoded size of one message inside a packet. */
export function messageBytes(m: Message): number {
  return packr.pack(messageToWire(m)).length;
}

export function metaBytes(meta: Meta): number {
  return packr.pack(meta).length;
}

/** Encoded size of a packet from this sender holding no messages (header included). */
export function packetOverheadBytes(from: Packet['from']): number {
  // +2: a message array longer than 15 needs a 3-byte header instead of 1.
  return PACKET_HEADER_BYTES + packr.pack([from.id, from.address, []]).length + 2;
}

export function encodePacket(packet: Packet, clusterId: string): Buffer {
  const body = packr.pack([packet.from.id, packet.from.address, packet.messages.map(messageToWire)]);
  const out = Buffer.allocUnsafe(PACKET_HEADER_BYTES + body.length);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = PROTOCOL_VERSION;
  out.writeUInt32BE(clusterTag(clusterId), 3);
  body.copy(out, PACKET_HEADER_BYTES);
  out.writeUInt32BE(checksum(out), 7);
  return out;
}

/** The checksum covers the version and cluster tag too, so a flipped header bit reads as corruption. */
function checksum(bytes: Uint8Array): number {
  const versionAndTag = bytes.subarray(2, 7);
  const body = bytes.subarray(PACKET_HEADER_BYTES);
  return crc32(Buffer.concat([versionAndTag, body]));
}

export function decodePacketDetailed(bytes: Uint8Array, clusterId: string): DecodeResult {
  try {
    if (bytes.length < PACKET_HEADER_BYTES + 1) return { ok: false, reason: 'truncated' };
    if (bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1) return { ok: false, reason: 'bad-magic' };
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    if (buf.readUInt32BE(7) !== checksum(buf)) return { ok: false, reason: 'corrupt' };
    if (buf[2] !== PROTOCOL_VERSION) return { ok: false, reason: 'version' };
    if (buf.readUInt32BE(3) !== clusterTag(clusterId)) return { ok: false, reason: 'foreign' };
    const packet = packetFromWire(packr.unpack(buf.subarray(PACKET_HEADER_BYTES)));
    return packet ? { ok: true, packet } : { ok: false, reason: 'malformed' };
  } catch {
    return { ok: false, reason: 'malformed' };
  }
}

/** The packet, or undefined for anything malformed, foreign or corrupted. Never throws. */
export function decodePacket(bytes: Uint8Array, clusterId: string): Packet | undefined {
  const r = decodePacketDetailed(bytes, clusterId);
  return r.ok ? r.packet : undefined;
}

/**
 * Split a compound packet into packets that each encode within maxBytes. A single message too large
 * for any datagram is left alone in a packet of its own; the host drops and counts it.
 */
export function splitPacket(packet: Packet, maxBytes: number): Packet[] {
  const overhead = packetOverheadBytes(packet.from);
  const out: Packet[] = [];
  let current: Message[] = [];
  let used = overhead;
  for (const m of packet.messages) {
    const size = messageBytes(m);
    if (current.length > 0 && used + size > maxBytes) {
      out.push({ from: packet.from, messages: current });
      current = [];
      used = overhead;
    }
    current.push(m);
    used += size;
  }
  if (current.length > 0) out.push({ from: packet.from, messages: current });
  return out;
}

// ---- validation of untrusted input ----

const isString = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isFlag = (v: unknown): v is 0 | 1 => v === 0 || v === 1;

function metaFromWire(v: unknown): Meta | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return undefined;
  const entries = Object.entries(v);
  if (entries.length > MAX_META_KEYS) return undefined;
  const meta: Meta = {};
  for (const [k, val] of entries) {
    if (k.length === 0 || k.length > MAX_ID_CHARS || k === '__proto__') return undefined;
    if (typeof val !== 'string' || val.length > MAX_META_VALUE_CHARS) return undefined;
    meta[k] = val;
  }
  return meta;
}

function snapshotFromWire(v: unknown): MemberSnapshot | undefined {
  if (!Array.isArray(v) || v.length !== 5) return undefined;
  const [id, address, incarnation, stateCode, rawMeta] = v;
  if (!isString(id, MAX_ID_CHARS) || !isString(address, MAX_ADDRESS_CHARS) || !isCount(incarnation)) return undefined;
  const state = typeof stateCode === 'number' ? STATES_BY_CODE[stateCode] : undefined;
  const meta = metaFromWire(rawMeta);
  if (!state || !meta) return undefined;
  return { id, address, incarnation, state, meta };
}

function messageFromWire(v: unknown): Message | undefined {
  if (!Array.isArray(v) || v.length < 2) return undefined;
  const [code, a, b, c, d] = v;
  switch (code) {
    case TYPE_CODES.ping:
      return v.length === 3 && isCount(a) && isString(b, MAX_ID_CHARS) ? { type: 'ping', seq: a, target: b } : undefined;
    case TYPE_CODES.ack:
      return v.length === 2 && isCount(a) ? { type: 'ack', seq: a } : undefined;
    case TYPE_CODES.nack:
      return v.length === 2 && isCount(a) ? { type: 'nack', seq: a } : undefined;
    case TYPE_CODES['ping-req']:
      return v.length === 5 && isCount(a) && isString(b, MAX_ID_CHARS) && isString(c, MAX_ADDRESS_CHARS) && isFlag(d)
        ? { type: 'ping-req', seq: a, target: b, targetAddress: c, wantNack: d === 1 }
        : undefined;
    case TYPE_CODES.alive: {
      if (v.length !== 5 || !isString(a, MAX_ID_CHARS) || !isString(b, MAX_ADDRESS_CHARS) || !isCount(c)) return undefined;
      const meta = metaFromWire(d);
      return meta ? { type: 'alive', id: a, address: b, incarnation: c, meta } : undefined;
    }
    case TYPE_CODES.suspect:
    case TYPE_CODES.dead: {
      if (v.length !== 4 || !isString(a, MAX_ID_CHARS) || !isCount(b) || !isString(c, MAX_ID_CHARS)) return undefined;
      return { type: code === TYPE_CODES.suspect ? 'suspect' : 'dead', id: a, incarnation: b, from: c };
    }
    case TYPE_CODES['push-pull']: {
      if (v.length !== 4 || !isFlag(a) || !isFlag(b) || !Array.isArray(c) || c.length > MAX_SNAPSHOT_MEMBERS) return undefined;
      const members: MemberSnapshot[] = [];
      for (const raw of c) {
        const s = snapshotFromWire(raw);
        if (!s) return undefined;
        members.push(s);
      }
      return { type: 'push-pull', reply: a === 1, join: b === 1, members };
    }
    default:
      return undefined;
  }
}

function packetFromWire(v: unknown): Packet | undefined {
  if (!Array.isArray(v) || v.length !== 3) return undefined;
  const [id, address, rawMessages] = v;
  if (!isString(id, MAX_ID_CHARS) || !isString(address, MAX_ADDRESS_CHARS)) return undefined;
  if (!Array.isArray(rawMessages) || rawMessages.length > MAX_MESSAGES) return undefined;
  const messages: Message[] = [];
  for (const raw of rawMessages) {
    const m = messageFromWire(raw);
    if (!m) return undefined;
    messages.push(m);
  }
  return { from: { id, address }, messages };
}
