// The members this node knows and the peer links it keeps to them. Addresses come from --peers and from the
// metadata group's membership entries (each carries the member's Raft address); a link is opened when a
// member is added and dropped only once the member is in no group this node hosts and has been silent for a
// while — a data shard may still count a member the metadata group has removed, and its last messages (the
// commit that tells it of its removal included) must still go out; and a member removed while cut off asks
// whether it is still one, and needs the answer.

import { decodeConfChange } from '../raft/conf-change.ts';
import { EntryType, type Entry } from '../raft/types.ts';
import type { PeerTransport } from '../transport/index.ts';
import type { PeerEnvelope } from '../cluster/peer-envelope.ts';
import type { RaftGroup } from '../cluster/raft-group.ts';

export class PeerBook {
  /** Member id -> Raft address, as the metadata group's membership gives them (and --peers before it). */
  readonly addresses: Map<string, string>;
  private pruner: NodeJS.Timeout | undefined;
  /** When each peer was last heard from (ms, monotonic). */
  private readonly lastHeard = new Map<string, number>();

  constructor(
    private readonly self: string,
    initial: Record<string, string>,
  ) {
    this.addresses = new Map(Object.entries(initial));
  }

  /** Learns the addresses the membership entries of `log` give (a replay at start), then opens a link to every member. */
  load(log: { firstIndex(): number; lastIndex(): number; entries(lo: number, hi: number, maxBytes: number): Entry[] }, peers: PeerTransport<PeerEnvelope>): void {
    const first = log.firstIndex(), last = log.lastIndex();
    for (let lo = first; lo <= last; ) {
      const batch = log.entries(lo, last + 1, 16 << 20);
      for (const e of batch) if (e.type === EntryType.ConfChange) this.apply(e, undefined);
      lo += batch.length;
    }
    for (const [id, addr] of this.addresses) if (id !== this.self) peers.setPeer(id, addr);
  }

  /** A membership entry of the metadata group, applied: a member added (or moved) gets a link at once. */
  apply(e: Entry, peers: PeerTransport<PeerEnvelope> | undefined): void {
    const cc = decodeConfChange(e.data);
    if (cc.type === 'remove') this.addresses.delete(cc.node);
    else if (cc.context) {
      this.addresses.set(cc.node, cc.context);
      if (cc.node !== this.self) peers?.setPeer(cc.node, cc.context);
    }
  }

  /** A message came from `id`. */
  heard(id: string): void {
    this.lastHeard.set(id, performance.now());
  }

  /** Every `everyMs`, drops the links to members that no group in `groups()` has any more and that have not been heard from for `quietMs`. */
  prune(peers: PeerTransport<PeerEnvelope>, groups: () => Iterable<RaftGroup>, everyMs: number, quietMs: number): void {
    this.pruner = setInterval(() => {
      const members = new Set(this.addresses.keys());
      for (const g of groups()) {
        const c = g.node.confState();
        for (const id of [...c.voters, ...c.learners]) members.add(id);
      }
      const now = performance.now();
      for (const id of peers.peerIds()) {
        if (members.has(id) || now - (this.lastHeard.get(id) ?? -Infinity) < quietMs) continue;
        peers.removePeer(id);
        this.lastHeard.delete(id);
      }
    }, everyMs);
    this.pruner.unref();
  }

  close(): void {
    clearInterval(this.pruner);
  }
}
