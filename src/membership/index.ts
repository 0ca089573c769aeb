// membership/: SWIM gossip with the Lifeguard refinements — discovery, failure detection and node
// metadata. Swim is the pure state machine; GossipNode runs it on a UDP socket and a TCP server.

export {
  DEFAULT_CONFIG, defaultConfig, localTestConfig, retransmitLimit, suspicionTimeoutMs, validateConfig, type SwimConfig,
} from './config.ts';
export { decodePacket, decodePacketDetailed, encodePacket, type DecodeFailure, type DecodeResult } from './codec.ts';
export { Swim, type SwimOptions, type SwimStats } from './swim.ts';
export {
  GossipNode, joinHostPort, splitHostPort,
  type DropReason, type GossipLogger, type GossipNodeEvents, type GossipNodeOptions, type GossipNodeStats,
} from './udp-host.ts';
export type {
  Channel, MemberEvent, MemberEventType, MemberSnapshot, MemberState, MemberView, Message, Meta, OutboundPacket, Packet,
} from './types.ts';
