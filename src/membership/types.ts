// The vocabulary of the gossip layer: what a member is, the messages members exchange, and what the
// state machine hands to its host. Everything here is plain data so packets can be encoded, logged
// and replayed by the simulator.

/** Opaque per-member metadata (the node puts its raft/http/grpc/text addresses here). Kept small. */
export type Meta = Record<string, string>;

/** A member's state as one observer sees it. `left` is a graceful exit and never becomes `dead`. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface MemberView {
  id: string;
  /** Gossip address, `host:port`. */
  address: string;
  meta: Meta;
  state: MemberState;
  incarnation: number;
}

export type MemberEventType = 'join' | 'update' | 'suspect' | 'alive' | 'dead' | 'leave';

/**
 * join: first seen, or back from dead/left. update: meta or address changed. suspect: alive → suspect.
 * alive: suspect → alive (the member refuted). dead: declared failed. leave: left gracefully.
 */
export interface MemberEvent {
  type: MemberEventType;
  member: MemberView;
}

/** One member's entry in a push-pull state exchange. */
export interface MemberSnapshot {
  id: string;
  address: string;
  incarnation: number;
  state: MemberState;
  meta: Meta;
}

export type Message =
  /** Direct probe. `target` is the id the sender believes lives at this address. */
  | { type: 'ping'; seq: number; target: string }
  | { type: 'ack'; seq: number }
  /** Lifeguard: a relay saying "I asked, the target did not answer" — proof the prober is not the slow one. */
  | { type: 'nack'; seq: number }
  | { type: 'ping-req'; seq: number; target: string; targetAddress: string; wantNack: boolean }
  | { type: 'alive'; id: string; address: string; incarnation: number; meta: Meta }
  | { type: 'suspect'; id: string; incarnation: number; from: string }
  /** `from === id` means the member announced its own departure: it is `left`, not `dead`. */
  | { type: 'dead'; id: string; incarnation: number; from: string }
  | { type: 'push-pull'; reply: boolean; join: boolean; members: MemberSnapshot[] };

export type MessageType = Message['type'];

/** What goes over the wire: the sender (so replies reach its advertised address) and a compound of messages. */
export interface Packet {
  from: { id: string; address: string };
  messages: Message[];
}

export type Channel = 'udp' | 'tcp';

export interface OutboundPacket {
  to: string;
  packet: Packet;
  /** udp: one datagram (size-bounded). tcp: one reliable one-shot message (push-pull state). */
  channel: Channel;
}

/** The messages that change what members know about each other (and are disseminated by gossip). */
export type MemberNews = Extract<Message, { type: 'alive' | 'suspect' | 'dead' }>;
