// Lifeguard's suspicion timer: a suspicion starts at a long timeout and shrinks toward a floor as
// other members independently report the same suspect. One accuser alone may be the unhealthy party
// (slow, overloaded, partitioned); several agreeing accusers almost certainly are not.
// Pure: the owner asks `firesAt` and compares with its clock.

export class Suspicion {
  /** Who has reported this suspicion; the first accuser is counted as the origin, not a confirmation. */
  private readonly accusers = new Set<string>();
  private confirmations = 0;
  private deadline: number;

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
