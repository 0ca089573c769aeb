// Lifeguard's suspicion timer: a suspicion starts at a long timeout and shrinks toward a floor as
// other members independently report the same suspect. One accuser alone may be the unhealthy party
// (slow, overloaded, partitioned); several agreeing accusers almost certainly are not.
// Pure: the owner asks `firesAt` and compares with its clock.

import { suspicionTimeoutMs, type SwimConfig } from './config.ts';

/**
 * The timer for a fresh suspicion in a cluster of `clusterSize` live members. With Lifeguard it expects
 * suspicionMult − 2 confirmations (none if the cluster is too small to give them: neither we nor the
 * suspect can confirm); classic SWIM waits the floor, whoever agrees.
 */
export function newSuspicion(c: SwimConfig, lifeguard: boolean, clusterSize: number, from: string, now: number): Suspicion {
  const min = suspicionTimeoutMs(c, clusterSize);
  if (!lifeguard) return new Suspicion(from, now, 0, min, min);
  const wanted = c.suspicionMult - 2;
  const expected = clusterSize - 2 < wanted ? 0 : wanted;
  return new Suspicion(from, now, expected, min, c.suspicionMaxTimeoutMult * min);
}

/**
 * How many extra maximum periods an unhealthy, unconfirmed accuser waits before condemning anyone alone
 * (with the defaults: 12 s + 3 × 12 s). A real death is confirmed by others long before; this only
 * bounds how long an isolated member keeps a member suspect in its own view.
 */
export const MAX_LONE_EXTENSIONS = 3;

export class Suspicion {
  /** Who has reported this suspicion; the first accuser is counted as the origin, not a confirmation. */
  private readonly accusers = new Set<string>();
  private confirmations = 0;
  private deadline: number;
  private extensions = 0;

  /**
   * @param expected confirmations that drive the timeout to `minMs` (0: use `minMs` from the start)
   */
  constructor(
    from: string,
    readonly startedAt: number,
    readonly expected: number,
    readonly minMs: number,
    readonly maxMs: number,
  ) {
    this.accusers.add(from);
    this.deadline = startedAt + (expected < 1 ? minMs : maxMs);
  }

  get firesAt(): number {
    return this.deadline;
  }

  get confirmationCount(): number {
    return this.confirmations;
  }

  /** Do not fire before `time` (used when this member itself stalled and has unread news). */
  postpone(time: number): void {
    this.deadline = Math.max(this.deadline, time);
  }

  /**
   * Give a suspicion nobody confirmed another full period, up to MAX_LONE_EXTENSIONS times. Used by an
   * accuser that knows it is unhealthy: its lone evidence is the weakest there is.
   */
  extend(now: number): boolean {
    if (this.extensions >= MAX_LONE_EXTENSIONS) return false;
    this.extensions++;
    this.deadline = now + this.maxMs;
    return true;
  }

  /** Count an independent accuser. Returns true if this was news worth re-gossiping. */
  confirm(from: string): boolean {
    if (this.confirmations >= this.expected || this.accusers.has(from)) return false;
    this.accusers.add(from);
    this.confirmations++;
    this.deadline = this.startedAt + suspicionTimeoutAfter(this.confirmations, this.expected, this.minMs, this.maxMs);
    return true;
  }
}

/**
 * Total suspicion timeout after `n` of `k` expected confirmations: it falls logarithmically from max
 * to min, so the first confirmations matter most (memberlist's remainingSuspicionTime).
 */
export function suspicionTimeoutAfter(n: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs;
  const fraction = Math.log(n + 1) / Math.log(k + 1);
  const raw = Math.floor(maxMs - fraction * (maxMs - minMs));
  return Math.max(minMs, raw);
}
