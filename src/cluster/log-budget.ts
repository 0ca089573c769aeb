// One memory budget for the in-memory Raft logs of every group a node hosts. Each group's own snapshot
// policy (--snapshot-entries, --snapshot-bytes) bounds its log, but a node of S shards would hold S such
// logs; past the budget, the group whose log takes the most memory is snapshotted and compacted now,
// one at a time, until the total is back under it.

import type { Logger } from 'pino';

/** A hosted group as the budget sees it. */
export interface BudgetedLog {
  readonly id: string;
  /** What its in-memory log takes (RaftWalStore.memoryBytes). */
  memoryBytes(): number;
  /** Entries a snapshot now would let go (Snapshotter.compactable); nothing to gain at 0 or below. */
  compactable(): number;
  snapshotNow(): Promise<void>;
}

export interface LogBudgetOptions {
  budgetBytes: number;
  groups: () => Iterable<BudgetedLog>;
  intervalMs: number;
  logger: Logger;
}

export class LogBudget {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  /** Snapshots the budget asked for. */
  snapshots = 0;

  constructor(private readonly o: LogBudgetOptions) {
    this.timer = setInterval(() => this.check(), o.intervalMs);
    this.timer.unref();
  }

  /** Over budget: snapshot the largest log that a snapshot would shrink (unless one is running). */
  check(): void {
    if (this.running) return;
    let total = 0;
    let largest: BudgetedLog | undefined;
    let largestBytes = 0;
    for (const g of this.o.groups()) {
      const bytes = g.memoryBytes();
      total += bytes;
      if (bytes > largestBytes && g.compactable() > 0) {
        largest = g;
        largestBytes = bytes;
      }
    }
    if (total <= this.o.budgetBytes || !largest) return;
    this.snapshots++;
    this.o.logger.debug({ group: largest.id, bytes: largestBytes, total, budget: this.o.budgetBytes }, 'raft logs over their memory budget: snapshotting the largest');
    this.running = largest
      .snapshotNow()
      .catch((err: unknown) => this.o.logger.warn({ err, group: largest.id }, 'snapshot for the log memory budget failed'))
      .finally(() => (this.running = undefined));
  }

  /** Stops checking; resolves once a snapshot it started is done. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
