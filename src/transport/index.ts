// The transport's public surface; everything else in this directory is an implementation detail.

export { PeerTransport, type MessageHandler } from './peer-transport.ts';
export { FaultRules, ALL_PEERS, type PeerPattern, type OutboundVerdict } from './faults.ts';
export { estimateSize } from './size-estimate.ts';
export { DEFAULT_MAX_FRAME_BYTES } from './frame-codec.ts';
export { parseHostPort, formatHostPort, type HostPort } from './address.ts';
export type { BackoffOptions, InboundStats, PeerIdentity, PeerStats, PeerTransportOptions, TransportStats } from './types.ts';
