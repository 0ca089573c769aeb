// The part of the transport that status and metrics read.
export interface PeerStatsSource {
  stats(): { peers: Record<string, { connected: boolean; queuedMessages: number }> };
}
