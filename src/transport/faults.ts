// The fault-injection seam: runtime-changeable rules that make the network misbehave on purpose,
// for end-to-end tests and the chaos tester. Rules are evaluated by the transport:
//  - cut: everything to AND from the peer is dropped (as seen by this node: to partition two nodes
//    fully, cutting on one side is enough; cutting on both is harmless).
//  - drop / delay: applied to outbound sends only, so each side of a link is configured by the
//    node that sends on it. Delayed messages may be reordered.
// A rule for a specific peer takes precedence over the '*' rule of the same kind. All random
// choices come from the injected `random`, so a seeded generator makes a run reproducible.

import type { NodeId } from '../raft/types.ts';

/** A peer id, or '*' for every peer. */
export type PeerPattern = NodeId | '*';

export const ALL_PEERS = '*';

/** What to do with one outbound message: drop it, send it now (0), or send it after this many ms. */
export type OutboundVerdict = 'drop' | number;

interface DelayRule {
  minMs: number;
  maxMs: number;
}

export class FaultRules {
  private readonly cuts = new Set<PeerPattern>();
  private readonly drops = new Map<PeerPattern, number>();
  private readonly delays = new Map<PeerPattern, DelayRule>();
  // Lets the hot path skip all lookups while no rule is set (the normal, production case).
  private anyRule = false;

  constructor(private readonly random: () => number) {}

  /** Drops all traffic to and from `peer` ('*' = every peer) until healed. */
  cut(peer: PeerPattern): void {
    this.cuts.add(peer);
    this.refresh();
  }

  /** Undoes cut(peer); with no argument, undoes every cut (including '*'). */
  heal(peer?: PeerPattern): void {
    if (peer === undefined) this.cuts.clear();
    else this.cuts.delete(peer);
    this.refresh();
  }

  /** Drops each outbound message to `peer` with `probability` (0 removes the rule, 1 drops all). */
  drop(peer: PeerPattern, probability: number): void {
    if (!(probability >= 0 && probability <= 1)) throw new RangeError(`drop probability must be in [0, 1], got ${probability}`);
    if (probability === 0) this.drops.delete(peer);
    else this.drops.set(peer, probability);
    this.refresh();
  }

  /** Delays each outbound message to `peer` by a uniform random time in [minMs, maxMs]; maxMs 0 removes the rule. */
  delay(peer: PeerPattern, minMs: number, maxMs: number): void {
    if (!(minMs >= 0 && maxMs >= minMs)) throw new RangeError(`delay needs 0 <= minMs <= maxMs, got ${minMs}..${maxMs}`);
    if (maxMs === 0) this.delays.delete(peer);
    else this.delays.set(peer, { minMs, maxMs });
    this.refresh();
  }

  /** Removes every rule. */
  clear(): void {
    this.cuts.clear();
    this.drops.clear();
    this.delays.clear();
    this.refresh();
  }

  isCut(peer: NodeId): boolean {
    return this.anyRule && (this.cuts.has(peer) || this.cuts.has(ALL_PEERS));
  }

  /** Decides the fate of one outbound message to `peer`. */
  outbound(peer: NodeId): OutboundVerdict {
    if (!this.anyRule) return 0;
    if (this.cuts.has(peer) || this.cuts.has(ALL_PEERS)) return 'drop';
    const p = this.drops.get(peer) ?? this.drops.get(ALL_PEERS);
    if (p !== undefined && this.random() < p) return 'drop';
    const d = this.delays.get(peer) ?? this.delays.get(ALL_PEERS);
    if (d === undefined) return 0;
    return d.minMs + this.random() * (d.maxMs - d.minMs);
  }

  private refresh(): void {
    this.anyRule = this.cuts.size > 0 || this.drops.size > 0 || this.delays.size > 0;
  }
}
