// Where a Raft group applies committed entries: before advance(), as the Ready loop normally does, or
// behind the loop for batches holding a large entry.
//
// A batch holding an entry of LARGE_APPLY_BYTES or more, and every batch after it while it runs, is
// applied behind the Ready loop instead of before advance(): its apply takes many event-loop turns (the
// state machine copies and writes large values a slice at a time), and while the loop waits no Ready goes
// out, so neither do heartbeats, and followers elect a new leader. The core counts such entries applied at
// advance() (etcd's "applying" index); what depends on the state machine having applied them waits for it:
// reads (served by its applied index), proposals (settled by its results), a snapshot to restore, and
// membership changes, which take effect in the core at advance(): a batch holding one is applied before
// advance(), after everything before it. Beyond MAX_APPLIES_BEHIND batches behind, the loop waits.

import { EntryType, type Entry } from '../raft/types.ts';

/** An entry this large has its batch applied behind the Ready loop. */
const LARGE_APPLY_BYTES = 1 << 20;

/** Batches applied behind the Ready loop at once; it waits beyond this. */
const MAX_APPLIES_BEHIND = 64;

export interface ApplyQueueHost {
  /** Applies a batch to the state machine, in order. */
  applyNow(entries: Entry[]): Promise<void>;
  /** The group's failure, if it has failed: nothing more is applied after one. */
  failure(): Error | undefined;
  /** Reports a failed apply: the group stops. */
  fail(err: Error): void;
  /** A batch applied behind the loop has finished (reads waiting for its index may be served). */
  appliedBehind(): void;
}

export class ApplyQueue {
  /** Applies running behind the Ready loop, chained in order; and how many there are. */
  private applying: Promise<void> = Promise.resolve();
  private running = 0;

  constructor(private readonly host: ApplyQueueHost) {}

  /** Resolves when the Ready loop may go on: at once if the batch runs behind it, else once it is applied. */
  async apply(entries: Entry[]): Promise<void> {
    if (this.running === 0 && !entries.some((e) => e.data.byteLength >= LARGE_APPLY_BYTES)) return this.host.applyNow(entries);
    this.running++;
    const done = this.applying
      .then(() => {
        // After a failed apply (or any failure of the group) nothing more is applied: the state machine
        // records only its last applied index, so applying the next batch would skip the failed one's
        // entries for good (they are replayed from the log after a restart only if nothing passed them).
        const failure = this.host.failure();
        if (failure) throw failure;
        return this.host.applyNow(entries);
      })
      .finally(() => {
        this.running--;
        this.host.appliedBehind();
      });
    this.applying = done.catch((err: Error) => this.host.fail(err));
    if (this.running > MAX_APPLIES_BEHIND || entries.some((e) => e.type === EntryType.ConfChange)) {
      await this.applying;
      // A membership change takes effect in the core at advance(): not if its batch was not applied.
      const failure = this.host.failure();
      if (failure) throw failure;
    }
  }

  /** Batches handed over and not yet applied behind the Ready loop. */
  get behind(): number {
    return this.running;
  }

  /** Settles once every batch handed over so far has been applied (or has failed). */
  idle(): Promise<void> {
    return this.applying;
  }
}
