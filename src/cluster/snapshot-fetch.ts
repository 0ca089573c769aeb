// Asking peers for a snapshot, for a node that cannot start Raft until it has one (its own is corrupt
// and its state machine is behind it, see snapshot-repair.ts). It asks every peer it knows, again every
// interval, and also any peer that contacts it meanwhile (a leader keeps sending heartbeats to a member
// that has gone quiet, so even a node that knows no address is found). The first snapshot that
// reaches far enough wins; the peer streams it with the usual chunked, checksummed transfer.

import type { Logger } from 'pino';
import type { NodeId, Snapshot } from '../raft/types.ts';

export class SnapshotFetch {
  /** Resolves with the first snapshot offered at or past the wanted index. */
  readonly received: Promise<Snapshot>;
  private resolve!: (s: Snapshot) => void;
  private readonly askedAt = new Map<NodeId, number>();
  private readonly timer: NodeJS.Timeout;
  private rounds = 0;

  constructor(
    private readonly index: number,
    private readonly request: (to: NodeId) => void,
    private readonly knownPeers: () => NodeId[],
    private readonly log: Logger,
    private readonly intervalMs = 1000,
  ) {
    this.received = new Promise((resolve) => (this.resolve = resolve));
    this.timer = setInterval(() => this.askAll(), intervalMs);
    this.askAll();
  }

  /** Ask `peer` for the snapshot, unless it was asked within the interval. */
  ask(peer: NodeId): void {
    const now = performance.now();
    if (now - (this.askedAt.get(peer) ?? -Infinity) < this.intervalMs) return;
    this.askedAt.set(peer, now);
    this.request(peer);
  }

  /** A complete, checksummed snapshot arrived from a peer. */
  offer(snapshot: Snapshot): void {
    if (snapshot.meta.index < this.index) return;
    clearInterval(this.timer);
    this.resolve(snapshot);
  }

  private askAll(): void {
    const peers = this.knownPeers();
    if (this.rounds++ % 10 === 0) {
      this.log.warn({ index: this.index, peers }, 'waiting for a peer to send a snapshot at or past this index (Raft starts once it is installed)');
    }
    for (const p of peers) this.ask(p);
  }
}
