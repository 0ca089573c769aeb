// The clock that expiries are measured by: the stamps carried by timed entries in the Raft log (a put with
// a TTL, and the clock entries the leader proposes when an expiry falls due). Every replica decides by the
// entry's own stamp, so they all agree. A node stamps what it proposes with its estimate of the log's time:
// the newest stamp it has applied, plus the time its monotonic clock has run since — so a leader change
// moves the clock neither back nor forward by the difference between two machines' wall clocks. The
// estimate is persisted with the applied index (as the estimate and this node's wall time then): a restarted
// node continues from it by its own wall clock's elapsed time, never another machine's. Only a node that
// has never applied a timed entry (a new replica) starts from its wall clock.

export class LogClock {
  private base: number | undefined;
  private baseMono = 0;

  /** Continues from a persisted estimate `stamp`, taken when this node's wall clock read `wall`. */
  restore(stamp: number, wall: number): void {
    this.advanceTo(stamp + Math.max(0, Date.now() - wall));
  }

  /** A timed entry with this stamp was applied here (an older one than the estimate changes nothing). */
  observe(stamp: number): void {
    this.advanceTo(stamp);
  }

  /** This node's estimate of the log's time now, in ms. */
  now(): number {
    return this.base === undefined ? Date.now() : this.base + (performance.now() - this.baseMono);
  }

  /** What to persist: the estimate now and this node's wall time; undefined while it has none of its own. */
  persisted(): [number, number] | undefined {
    return this.base === undefined ? undefined : [this.now(), Date.now()];
  }

  private advanceTo(t: number): void {
    if (this.base !== undefined && t <= this.now()) return;
    this.base = t;
    this.baseMono = performance.now();
  }
}
