// Watch: every watcher on a node shares one feed per shard. A feed pulls its shard's applied changes from
// the shard's history (KvService.changes: this node's replica, or a replica elsewhere over the peer link)
// in pages, waiting at the history's end for the next revision, and hands each page to the watchers at its
// position. A watcher that starts behind the feed (from a revision, or resuming from a cursor) reads the
// history on its own, at the pace its client takes events, until it reaches the feed and joins it.
//
// Guarantees, per shard (revisions are per shard): events in revision order and, within a revision, in the
// order the history keeps its changes; none skipped and none repeated from the position the watch started
// or resumed at, as long as the history holds it — otherwise the watch ends with `compacted`. A watcher
// whose client does not take events as fast as the feed brings them is ended (`unavailable`) rather than
// sent a page that would leave more than `maxBacklogBytes` waiting for its connection: the feed is shared
// and waits for no one; its cursor resumes it. A quiet watcher gets a progress notification with its cursor every `progressMs`.

import { ConcordError } from '../util/errors.ts';
import type { Change, ChangeFeedOptions, ChangePage } from './types.ts';
import { coveredShards, formatCursor, matches, parseCursor, type Position, type WatchFilter } from './watch-cursor.ts';

export type { WatchFilter } from './watch-cursor.ts';

export interface WatchEvent {
  /** Shared by every watcher that gets it: a front end may encode it once (e.g. in a WeakMap). */
  change: Change;
  revision: number;
  shard: number;
  /** The watch's cursor after this event: resuming from it continues with the next one. */
  cursor: string;
}

/** Where a watcher's events go (a front end's stream). */
export interface WatchSink {
  send(events: WatchEvent[]): void;
  progress(cursor: string): void;
  /** The watch ended on the server's side: its reason. The front end ends the stream. */
  close(reason: ConcordError): void;
  /** Bytes handed to send()/progress() that the connection has not taken yet. */
  backlog(): number;
  /** Resolves once the backlog is below `bytes` (or the stream is gone). */
  drained(bytes: number): Promise<void>;
}

/** The shards' histories, wherever they are served (ShardedKvService). */
export interface ChangeFeeds {
  shardCount(): Promise<number>;
  shardChanges(shard: number, from: number, opts: ChangeFeedOptions): Promise<ChangePage>;
}

export interface WatchHubOptions {
  /** A watcher with more than this waiting for its connection is ended (resumable). */
  maxBacklogBytes: number;
  /** Bytes per page read from a history. */
  pageBytes: number;
  /** How long a read at a history's end waits for the next revision. */
  pollMs: number;
  /** Pause before reading again after a failed read (no quorum, shard moving, node shutting down). */
  retryMs: number;
}

export const DEFAULT_WATCH_HUB_OPTIONS: WatchHubOptions = { maxBacklogBytes: 8 << 20, pageBytes: 1 << 20, pollMs: 1000, retryMs: 250 };

export interface WatchRequest {
  filter: WatchFilter;
  /** Start at this revision (a watch of one shard only). */
  fromRevision?: number;
  /** Resume where a cursor of the same watch left off. */
  cursor?: string;
  /** Send a progress notification after this long without an event. */
  progressMs: number;
}

export interface Watch {
  /** The cursor the watch starts at. */
  readonly cursor: string;
  readonly shards: readonly number[];
  /** Stop it (the client went away); its sink hears nothing more. */
  cancel(): void;
}

/** What an event costs a connection beyond its key and values, for the backlog bound (its JSON or message framing). */
const EVENT_OVERHEAD_BYTES = 128;

/** How often watchers are looked at for a progress notification (the finest progressMs that means anything). */
const PROGRESS_TICK_MS = 100;

export class WatchHub {
  private readonly feeds = new Map<number, ShardFeed>();
  private readonly watchers = new Set<Watcher>();
  private progressTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly source: ChangeFeeds,
    readonly options: WatchHubOptions = DEFAULT_WATCH_HUB_OPTIONS,
  ) {}

  /** Watchers open now. */
  get size(): number {
    return this.watchers.size;
  }

  /** Shard feeds running now. */
  get feedCount(): number {
    return this.feeds.size;
  }

  /** Watchers ended because they fell behind, since the start. */
  cutOff = 0;

  /**
   * Opens a watch: once every covered shard's start is known (and, for a given one, still in its history:
   * else `compacted`), events go to `sink` until cancel() or close(reason).
   */
  async open(req: WatchRequest, sink: WatchSink): Promise<Watch> {
    if (this.closed) throw new ConcordError('unavailable', 'this node is shutting down', 1);
    const shards = coveredShards(req.filter, await this.source.shardCount());
    let given: Array<Position | undefined> = shards.map(() => undefined);
    if (req.cursor !== undefined) given = parseCursor(req.cursor, shards.length);
    else if (req.fromRevision !== undefined) {
      if (shards.length > 1) {
        throw new ConcordError(
          'bad-request',
          `from_revision names one shard's revision, and this watch covers ${shards.length} shards: watch a key or a prefix with a {tag}, or resume from a cursor (each event's id)`,
        );
      }
      given = [{ rev: req.fromRevision, skip: 0 }];
    }
    const starts = await Promise.all(shards.map((shard, i) => this.startOf(shard, given[i])));
    const positions = starts.map((s) => s.pos);
    const watcher = new Watcher(this, req, sink, shards, positions);
    if (this.closed) throw new ConcordError('unavailable', 'this node is shutting down', 1);
    this.watchers.add(watcher);
    shards.forEach((shard, i) => this.feedOf(shard, starts[i].head).attach(watcher, i));
    this.progressTimer ??= setInterval(() => this.tick(), PROGRESS_TICK_MS).unref();
    return { cursor: formatCursor(positions), shards, cancel: () => watcher.stop() };
  }

  /** Ends every watch (the node is shutting down): each sink is closed with `unavailable`. */
  close(): void {
    this.closed = true;
    for (const w of [...this.watchers]) w.fail(new ConcordError('unavailable', 'this node is shutting down; resume from the cursor on another member', 1));
  }

  /**
   * Where a watcher starts in `shard` (a given start checked against the history: compacted is refused
   * here; none: the feed's position), and where a feed for it would: the end of the history.
   */
  private async startOf(shard: number, given: Position | undefined): Promise<{ pos: Position; head: number }> {
    if (given !== undefined) {
      if (given.rev < 1) throw new ConcordError('bad-request', `revision ${given.rev} is not a revision: revisions start at 1`);
      await this.source.shardChanges(shard, given.rev, { maxBytes: 1, waitMs: 0 });
    }
    const head = this.feeds.get(shard)?.next ?? (await this.source.shardChanges(shard, 0, { maxBytes: 1, waitMs: 0 })).next;
    return { pos: given ?? { rev: head, skip: 0 }, head };
  }

  /** The shard's feed; a new one starts at `head`. */
  private feedOf(shard: number, head: number): ShardFeed {
    let feed = this.feeds.get(shard);
    if (!feed) this.feeds.set(shard, (feed = new ShardFeed(this, shard, head)));
    return feed;
  }

  /** @internal */
  feedStopped(feed: ShardFeed): void {
    if (this.feeds.get(feed.shard) === feed) this.feeds.delete(feed.shard);
  }

  /** @internal */
  watcherGone(w: Watcher): void {
    this.watchers.delete(w);
    for (const shard of w.shards) this.feeds.get(shard)?.detach(w);
    if (this.watchers.size === 0) {
      clearInterval(this.progressTimer);
      this.progressTimer = undefined;
    }
  }

  private tick(): void {
    const now = performance.now();
    for (const w of this.watchers) w.progressDue(now);
  }
}

/** Failures of a read that another try will not mend: the watchers end with them. */
const ENDS_WATCH = new Set(['compacted', 'bad-request', 'not-implemented']);

/** One shard's feed: pulls its history page by page and hands each page to the watchers at its position. */
class ShardFeed {
  /** The next revision to read; every live watcher's position in this shard is at or past it. */
  next: number;
  /** Watchers by their index of this shard, and whether they are still catching up on their own. */
  private readonly attached = new Map<Watcher, { index: number; catchingUp: boolean }>();
  private running = false;

  constructor(
    private readonly hub: WatchHub,
    readonly shard: number,
    head: number,
  ) {
    this.next = head;
  }

  attach(w: Watcher, index: number): void {
    const a = { index, catchingUp: false };
    this.attached.set(w, a);
    if (w.positions[index].rev < this.next) void this.catchUp(w, a);
    if (!this.running) void this.run();
  }

  detach(w: Watcher): void {
    this.attached.delete(w);
  }

  private read(from: number): Promise<ChangePage> {
    const o = this.hub.options;
    return this.hub.source.shardChanges(this.shard, from, { maxBytes: o.pageBytes, waitMs: o.pollMs });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.attached.size > 0) {
        const from = this.next;
        let page: ChangePage;
        try {
          page = await this.read(from);
        } catch (e) {
          if (!this.failed(e, [...this.attached.keys()], true)) await sleep(this.hub.options.retryMs);
          continue;
        }
        for (const [w, a] of [...this.attached]) if (!a.catchingUp && w.positions[a.index].rev >= from) w.deliver(a.index, page);
        this.next = Math.max(from, page.next);
      }
    } finally {
      this.running = false;
      this.hub.feedStopped(this);
    }
  }

  /** A watcher behind the feed reads on its own, no faster than its client takes events, until it is at the feed. */
  private async catchUp(w: Watcher, a: { index: number; catchingUp: boolean }): Promise<void> {
    a.catchingUp = true;
    while (!w.stopped) {
      const pos = w.positions[a.index];
      if (pos.rev >= this.next) {
        a.catchingUp = false;
        return;
      }
      let page: ChangePage;
      try {
        page = await this.read(pos.rev);
      } catch (e) {
        if (!this.failed(e, [w], false)) await sleep(this.hub.options.retryMs);
        continue;
      }
      await w.deliverPaced(a.index, page);
    }
  }

  /**
   * A read failed: a compacted history or a refusal ends the watchers (true); anything else is tried again.
   * The feed reads at the history's end, so a history compacted under it (`live`) is this replica's alone,
   * installed from a snapshot that carried none: its watchers end `unavailable`, to resume on another member.
   */
  private failed(e: unknown, watchers: Watcher[], live: boolean): boolean {
    if (!(e instanceof ConcordError && ENDS_WATCH.has(e.code))) return false;
    const reason =
      live && e.code === 'compacted'
        ? new ConcordError('unavailable', `shard ${this.shard}: this node's copy no longer holds the revisions its watches are at (${e.message}); resume from the cursor on another member`, 0)
        : new ConcordError(e.code, `shard ${this.shard}: ${e.message}`);
    for (const w of watchers) w.fail(reason);
    return true;
  }
}

/** One watch: its filter, its position in each shard it covers, and its sink. */
class Watcher {
  stopped = false;
  private lastSent = performance.now();

  constructor(
    private readonly hub: WatchHub,
    private readonly req: WatchRequest,
    readonly sink: WatchSink,
    readonly shards: readonly number[],
    readonly positions: Position[],
  ) {}

  cursor(): string {
    return formatCursor(this.positions);
  }

  /**
   * The page's changes this watch has not had and its filter takes, each with its position after it (positions
   * are not moved here), their size, and the position after the page.
   */
  private collect(index: number, page: ChangePage): { events: Array<{ event: WatchEvent; pos: Position }>; bytes: number; end: Position } {
    const shard = this.shards[index];
    const before = this.positions[index];
    const events: Array<{ event: WatchEvent; pos: Position }> = [];
    let bytes = 0;
    let pos = before;
    for (const r of page.revisions) {
      if (r.revision < pos.rev) continue;
      const n = r.changes.length;
      for (let j = r.revision === pos.rev ? pos.skip : 0; j < n; j++) {
        const change = r.changes[j];
        if (!matches(this.req.filter, change.key)) continue;
        pos = j + 1 < n ? { rev: r.revision, skip: j + 1 } : { rev: r.revision + 1, skip: 0 };
        this.positions[index] = pos; // for the event's cursor; put back below
        events.push({ event: { change, revision: r.revision, shard, cursor: this.cursor() }, pos });
        bytes += eventBytes(change);
      }
    }
    this.positions[index] = before;
    return { events, bytes, end: page.next > pos.rev ? { rev: page.next, skip: 0 } : pos };
  }

  /**
   * A page of the feed's, sent whole — unless it would take the watch's backlog past the bound: then the watch
   * ends (`unavailable`, resumable from before the page; the feed waits for no one, and a client resuming
   * it reads at its own pace).
   */
  deliver(index: number, page: ChangePage): void {
    if (this.stopped) return;
    const { events, bytes, end } = this.collect(index, page);
    if (events.length > 0 && this.sink.backlog() + bytes > this.hub.options.maxBacklogBytes) {
      this.hub.cutOff++;
      this.fail(new ConcordError('unavailable', `this watch fell more than ${this.hub.options.maxBacklogBytes} bytes behind its feed and was ended: resume from cursor ${this.cursor()}`, 0));
      return;
    }
    if (events.length > 0) {
      this.sink.send(events.map((e) => e.event));
      this.lastSent = performance.now();
    }
    this.positions[index] = end;
  }

  /**
   * A page read while catching up, sent in slices of at most a quarter of the backlog bound, each once the
   * connection has taken what came before down to half of it: paced by the client, never buffered whole.
   */
  async deliverPaced(index: number, page: ChangePage): Promise<void> {
    const { events, end } = this.collect(index, page);
    const sliceBytes = this.hub.options.maxBacklogBytes / 4;
    for (let i = 0; i < events.length && !this.stopped; ) {
      const slice: WatchEvent[] = [];
      let bytes = 0;
      for (; i < events.length && (slice.length === 0 || bytes <= sliceBytes); i++) {
        bytes += eventBytes(events[i].event.change);
        slice.push(events[i].event);
      }
      this.sink.send(slice);
      this.positions[index] = events[i - 1].pos;
      this.lastSent = performance.now();
      await this.sink.drained(this.hub.options.maxBacklogBytes / 2);
    }
    if (!this.stopped) this.positions[index] = end;
  }

  progressDue(now: number): void {
    if (this.stopped || now - this.lastSent < this.req.progressMs) return;
    this.lastSent = now;
    this.sink.progress(this.cursor());
  }

  fail(reason: ConcordError): void {
    if (this.stopped) return;
    this.stop();
    this.sink.close(reason);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.hub.watcherGone(this);
  }
}

/** What a change's event costs its connection, about. */
function eventBytes(c: Change): number {
  return EVENT_OVERHEAD_BYTES + c.key.byteLength + (c.value?.byteLength ?? 0) + (c.prev?.value?.byteLength ?? 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
