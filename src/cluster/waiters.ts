// Requests waiting on a Raft group, by id — proposals until their entry is applied, linearizable reads
// until their read index is — each a promise that settles once: with its result, with an error, or with
// the error `timedOut` makes when its time is up.

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** When the request was last handed to the core (performance.now()). */
  sentAt: number;
}

export class Waiters {
  private readonly waiting = new Map<number, Waiter>();

  constructor(private readonly timedOut: (timeoutMs: number) => Error) {}

  get size(): number {
    return this.waiting.size;
  }

  has(id: number): boolean {
    return this.waiting.has(id);
  }

  wait(id: number, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(this.timedOut(timeoutMs));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer, sentAt: performance.now() });
    });
  }

  /** The request `id` was (again) handed to the core now. */
  sent(id: number): void {
    const w = this.waiting.get(id);
    if (w) w.sentAt = performance.now();
  }

  /** The requests last handed to the core before `before` (a performance.now() time). */
  sentBefore(before: number): number[] {
    const ids: number[] = [];
    for (const [id, w] of this.waiting) if (w.sentAt < before) ids.push(id);
    return ids;
  }

  settle(id: number, value: unknown, err?: Error): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve(value);
  }

  settleAll(err: Error): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, undefined, err);
  }
}
