// Lifeguard's local health awareness. A member that misses acks it should have received, is asked to
// refute suspicions of itself, or gets no nacks from relays that should have answered, is probably the
// slow one: it stretches its own probe interval and timeout instead of accusing healthy peers.

export class HealthAwareness {
  private current = 0;

  /** @param maxMultiplier the score stays within 0..maxMultiplier−1; 1 disables awareness */
  constructor(private readonly maxMultiplier: number) {}

  get score(): number {
    return this.current;
  }

  apply(delta: number): void {
    this.current = Math.min(this.maxMultiplier - 1, Math.max(0, this.current + delta));
  }

  /** A duration stretched by (score + 1): a healthy member waits the configured time. */
  scale(ms: number): number {
    return ms * (this.current + 1);
  }
}
