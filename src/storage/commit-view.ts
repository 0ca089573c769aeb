// A read transaction pinned per environment, moved forward only when the main thread learns of a
// commit. LmdbRaftStorage caches its log bounds in memory; lmdb-js's implicit read transaction may
// start seeing a commit (made on its writer thread) before the commit's promise resolves, and a
// cache that still says "entry 9 exists" while the read sees it truncated would look like
// corruption. Reading through this view instead keeps cache and data in lockstep: both advance
// together, inside lmdb-js's 'aftercommit' event, before any other JavaScript runs.

import type { RootDatabase, Transaction } from 'lmdb';

/** A store whose cached state advances with the view. */
export interface ViewSubscriber {
  /** Whether this store ran write callbacks in a transaction with id in (afterId, upToId]. */
  hasWritesIn(afterId: number, upToId: number): boolean;
  /** Every transaction with id <= txnId is now visible through the view. */
  advanceTo(txnId: number): void;
}

const views = new WeakMap<RootDatabase, CommitView>();

export class CommitView {
  private txn: Transaction;
  private readonly subscribers = new Set<ViewSubscriber>();
  private readonly onCommit = () => this.refresh();

  static of(root: RootDatabase): CommitView {
    let view = views.get(root);
    if (!view) {
      view = new CommitView(root);
      views.set(root, view);
    }
    return view;
  }

  private constructor(private readonly root: RootDatabase) {
    this.txn = this.pin().txn;
    // One listener per environment, however many groups share it.
    this.root.on('aftercommit', this.onCommit);
  }

  /** The read options every read of a subscriber must use. */
  get readOptions(): { transaction: Transaction } {
    return { transaction: this.txn };
  }

  subscribe(s: ViewSubscriber): void {
    this.subscribers.add(s);
  }

  unsubscribe(s: ViewSubscriber): void {
    this.subscribers.delete(s);
  }

  /** Once no store uses the view, drop it: its pinned transaction would hold back page reuse. */
  release(): void {
    if (this.subscribers.size > 0 || views.get(this.root) !== this) return;
    views.delete(this.root);
    (this.root as unknown as { removeListener(event: string, fn: () => void): void }).removeListener('aftercommit', this.onCommit);
    this.txn.done();
  }

  /** Move the view to the newest commit and tell every subscriber what it can now see. */
  refresh(): void {
    // The writer thread may commit while we renew, so the new view's transaction id is only known
    // to lie in [before, after]. That is harmless unless one of our stores wrote in that interval;
    // then retry — at most the few transactions whose callbacks already ran can still land.
    for (let attempt = 0; ; attempt++) {
      const { txn, before, after } = this.pin();
      const ambiguous = before !== after && [...this.subscribers].some((s) => s.hasWritesIn(before, after));
      if (ambiguous && attempt < 20) {
        txn.done();
        continue;
      }
      this.txn.done();
      this.txn = txn;
      for (const s of this.subscribers) s.advanceTo(after);
      return;
    }
  }

  private pin(): { txn: Transaction; before: number; after: number } {
    const before = this.lastTxnId();
    this.root.resetReadTxn();
    const txn = this.root.useReadTransaction();
    return { txn, before, after: this.lastTxnId() };
  }

  private lastTxnId(): number {
    // The environment's info alone: getStats() also walks database and free-list stats (~8 µs against ~2).
    return (this.root as unknown as { env: { info(): { lastTxnId: number } } }).env.info().lastTxnId;
  }
}
