// The clock that expiries are measured by: the stamps carried by timed entries in the Raft log (a put with
// a TTL, and the clock entries the leader proposes when an expiry falls due). Every replica decides by the
// entry's own stamp, so they all delete the same keys at the same index. A node stamps what it proposes
// with its estimate of the log's time: the newest stamp it has applied plus the time its monotonic clock has
// run since — so a leader change neither sets the clock back nor forward by the difference between two
// machines' wall clocks. A node that has applied no timed entry since it started uses its wall clock.

export class LogClock {
  private stamp: number | undefined;
  private at = 0;

  /** A timed entry with this stamp was applied here. */
  observe(stamp: number): void {
    if (this.stamp !== undefined && stamp <= this.stamp) return;
    this.stamp = stamp;
    this.at = performance.now();
  }

  /** This node's estimate of the log's time now, in ms. */
  now(): number {
    return this.stamp === undefined ? Date.now() : this.stamp + (performance.now() - this.at);
  }
}
