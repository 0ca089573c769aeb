// The simulated network: every message gets a random delay (so messages reorder), may be dropped or
// duplicated, and is lost if a partition separates its ends when it would be delivered.

import type { Message, NodeId } from '../../src/raft/types.ts';
import type { Rng } from '../../src/util/prng.ts';

export interface NetworkProfile {
  dropRate: number;
  dupRate: number;
  /** Share of messages that may overtake earlier ones on the same link (links are otherwise FIFO, like TCP). */
  reorderRate: number;
  minDelay: number;
  maxDelay: number;
}

interface InFlight {
  at: number;
  seq: number;
  msg: Message;
}

export class SimNetwork {
  private queue: InFlight[] = [];
  private seq = 0;
  /** Directed links that are cut: `${from}>${to}`. */
  private cut = new Set<string>();
  /** Latest delivery time scheduled per link, for FIFO delivery. */
  private lastAt = new Map<string, number>();
  profile: NetworkProfile;

  constructor(private readonly rng: Rng, profile: NetworkProfile) {
    this.profile = { ...profile };
  }

  send(now: number, msg: Message): void {
    if (this.rng.next() < this.profile.dropRate) return;
    const copies = this.rng.next() < this.profile.dupRate ? 2 : 1;
    const link = `${msg.from}>${msg.to}`;
    for (let i = 0; i < copies; i++) {
      let at = now + this.rng.int(this.profile.minDelay, this.profile.maxDelay + 1);
      if (this.rng.next() >= this.profile.reorderRate) at = Math.max(at, this.lastAt.get(link) ?? 0);
      this.lastAt.set(link, Math.max(at, this.lastAt.get(link) ?? 0));
      this.queue.push({ at, seq: this.seq++, msg });
    }
  }

  /** Messages due at `now`, FIFO per link except where reordered, minus those crossing a cut link. */
  due(now: number): Message[] {
    const ready: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.queue) (f.at <= now ? ready : rest).push(f);
    this.queue = rest;
    ready.sort((a, b) => a.at - b.at || a.seq - b.seq);
    return ready.map((f) => f.msg).filter((m) => !this.cut.has(`${m.from}>${m.to}`));
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  /** Split into groups that cannot talk to each other. */
  partition(groups: NodeId[][]): void {
    for (const a of groups) for (const b of groups) {
      if (a === b) continue;
      for (const x of a) for (const y of b) this.cutLink(x, y);
    }
  }

  healAll(): void {
    this.cut.clear();
  }

  describeCuts(): string {
    return [...this.cut].sort().join(' ');
  }

  get inFlight(): number {
    return this.queue.length;
  }
}
