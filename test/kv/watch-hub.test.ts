// The watch hub over real stores (one per shard, written as their state machines would be), read through
// the same history reader the Raft service uses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { KvStore, type HistoryLimits } from '../../src/storage/kv-store.ts';
import { storeChanges } from '../../src/kv/service.ts';
import { WatchHub, type WatchEvent, type WatchSink, type WatchHubOptions, type WatchRequest } from '../../src/kv/watch-hub.ts';
import { shardOf } from '../../src/shard/key-hash.ts';
import { ConcordError } from '../../src/util/errors.ts';
import { bytes, tempDir, text } from '../storage/helpers.ts';
import { until } from '../../testkit/wait.ts';

const FAST: WatchHubOptions = { maxBacklogBytes: 1 << 20, pageBytes: 4096, pollMs: 50, retryMs: 20 };

/** S stores, their applied indexes, and a hub over them; `reads` counts the hub's history reads. */
function cluster(t: import('node:test').TestContext, shards = 1, history?: HistoryLimits, options = FAST) {
  const dir = tempDir(t);
  const stores = Array.from({ length: shards }, (_, i) => new KvStore({ env: path.join(dir, `kv${i}`), group: `g${i}`, ...(history ? { history } : {}) }));
  const counts = { reads: 0 };
  const hub = new WatchHub(
    {
      shardCount: async () => shards,
      shardChanges: (s, from, o) => {
        counts.reads++;
        return storeChanges(stores[s], from, o);
      },
    },
    options,
  );
  t.after(async () => {
    hub.close();
    for (const s of stores) await s.close();
  });
  const shardFor = (key: string) => (shards === 1 ? 0 : shardOf(bytes(key), shards));
  /** Puts `key` in its shard at the shard's next revision; resolves to that revision. */
  const put = async (key: string, value = 'v') => {
    const s = stores[shardFor(key)];
    const rev = s.appliedIndex() + 1;
    await s.applyAt(rev, (tx) => tx.put(bytes(key), bytes(value)));
    return rev;
  };
  return { stores, hub, put, counts, shardFor };
}

/** A sink that records what it gets; `backlogBytes` and `hold` make it a slow client. */
class Recorder implements WatchSink {
  events: WatchEvent[] = [];
  progressed: string[] = [];
  closedWith: ConcordError | undefined;
  backlogBytes = 0;
  private release: (() => void) | undefined;
  private holding: Promise<void> | undefined;
  /** The size of each send(), in events. */
  sends: number[] = [];
  send(events: WatchEvent[]): void {
    this.events.push(...events);
    this.sends.push(events.length);
  }
  progress(cursor: string): void {
    this.progressed.push(cursor);
  }
  close(reason: ConcordError): void {
    this.closedWith = reason;
  }
  backlog(): number {
    return this.backlogBytes;
  }
  drained(): Promise<void> {
    return this.holding ?? Promise.resolve();
  }
  hold(): void {
    this.holding = new Promise((r) => (this.release = r));
  }
  unhold(): void {
    this.holding = undefined;
    this.release?.();
  }
  keys(): string[] {
    return this.events.map((e) => `${e.change.kind} ${text(e.change.key)}@${e.revision}`);
  }
}

const watch = (filter: WatchRequest['filter'], more: Partial<WatchRequest> = {}): WatchRequest => ({ filter, progressMs: 60_000, ...more });

test('a live watch gets every change under its prefix in order, with the revision as cursor; a revision of several changes gives N:k cursors within it', async (t) => {
  const c = cluster(t);
  await c.put('a/0');
  const sink = new Recorder();
  const w = await c.hub.open(watch({ prefix: bytes('a/') }), sink);
  assert.equal(w.cursor, '1');
  await c.put('a/1');
  await c.put('b/1');
  await c.stores[0].applyAt(4, (tx) => (tx.put(bytes('a/2'), bytes('x')), tx.put(bytes('b/2'), bytes('x')), tx.put(bytes('a/3'), bytes('x')), tx.delete(bytes('a/1'))));
  await until('4 events', () => sink.events.length === 4);
  assert.deepStrictEqual(sink.keys(), ['put a/1@2', 'put a/2@4', 'put a/3@4', 'delete a/1@4']);
  assert.deepStrictEqual(sink.events.map((e) => e.cursor), ['2', '4:1', '4:3', '4']);
  assert.equal(text(sink.events[3].change.prev!.value!), 'v');
});

test('from a revision: the history from there, then live, with nothing missed or repeated while it catches up', async (t) => {
  const c = cluster(t);
  for (let i = 1; i <= 50; i++) await c.put(`k${i}`);
  const sink = new Recorder();
  await c.hub.open(watch({}, { fromRevision: 10 }), sink);
  const writing = (async () => {
    for (let i = 51; i <= 80; i++) await c.put(`k${i}`);
  })();
  await writing;
  await until('71 events', () => sink.events.length >= 71);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepStrictEqual(
    sink.events.map((e) => e.revision),
    Array.from({ length: 71 }, (_, i) => i + 10),
  );
});

test('a cursor in the middle of a revision resumes with the rest of it', async (t) => {
  const c = cluster(t);
  await c.stores[0].applyAt(1, (tx) => ['x', 'y', 'z'].forEach((k) => tx.put(bytes(k), bytes('1'))));
  const sink = new Recorder();
  await c.hub.open(watch({}, { cursor: '1:1' }), sink);
  await until('2 events', () => sink.events.length === 2);
  assert.deepStrictEqual(sink.keys(), ['put y@1', 'put z@1']);
});

test('a revision the history no longer holds is refused with compacted, naming the oldest it holds', async (t) => {
  const c = cluster(t, 1, { maxRevisions: 10, maxBytes: 1 << 30 });
  for (let i = 1; i <= 30; i++) await c.put(`k${i}`);
  const floor = c.stores[0].historyFloor();
  assert.ok(floor > 5, `floor ${floor}`);
  await assert.rejects(c.hub.open(watch({}, { fromRevision: 5 }), new Recorder()), (e: ConcordError) => e.code === 'compacted' && e.message.includes(`oldest revision this history holds is ${floor}`));
  await assert.rejects(c.hub.open(watch({}, { cursor: 'x' }), new Recorder()), (e: ConcordError) => e.code === 'bad-request');
});

test('history compacted while a watcher catches up ends it with compacted', async (t) => {
  const c = cluster(t, 1, { maxRevisions: 20, maxBytes: 1 << 30 }, { ...FAST, pageBytes: 1 });
  for (let i = 1; i <= 20; i++) await c.put(`k${i}`);
  const sink = new Recorder();
  sink.hold(); // the client takes nothing: the catch-up waits after its first page
  await c.hub.open(watch({}, { fromRevision: 1 }), sink);
  await until('the first page', () => sink.events.length === 1);
  for (let i = 21; i <= 60; i++) await c.put(`k${i}`);
  sink.unhold();
  await until('the end', () => sink.closedWith !== undefined);
  assert.equal(sink.closedWith!.code, 'compacted');
  assert.deepStrictEqual(
    sink.events.map((e) => e.revision),
    sink.events.map((_, i) => i + 1),
  );
});

test('a live watcher whose connection falls behind is ended, before the page that would pass its bound, with a resumable error; the others go on', async (t) => {
  const c = cluster(t);
  const slow = new Recorder();
  const fine = new Recorder();
  await c.hub.open(watch({}), slow);
  await c.hub.open(watch({}), fine);
  await c.put('a');
  await until('the first event', () => slow.events.length === 1 && fine.events.length === 1);
  slow.backlogBytes = 2 << 20;
  await c.put('b');
  await until('the cut', () => slow.closedWith !== undefined);
  assert.equal(slow.closedWith!.code, 'unavailable');
  assert.match(slow.closedWith!.message, /resume from cursor 1/, 'the cursor before the page it was not sent');
  await c.put('c');
  await until('the rest', () => fine.events.length === 3);
  assert.equal(slow.events.length, 1);
  assert.equal(c.hub.size, 1);
  assert.equal(c.hub.cutOff, 1);
  assert.equal(c.hub.feedCount, 1);
});

test('a watcher catching up gets a large page in slices of a quarter of its backlog bound, not buffered whole', async (t) => {
  const c = cluster(t, 1, undefined, { ...FAST, maxBacklogBytes: 2_000, pageBytes: 1 << 20 });
  for (let i = 1; i <= 50; i++) await c.put(`k${i}`, 'x'.repeat(100));
  const sink = new Recorder();
  await c.hub.open(watch({}, { fromRevision: 1 }), sink);
  await until('all 50', () => sink.events.length === 50);
  assert.ok(sink.sends.length >= 10, `${sink.sends.length} sends`);
  assert.ok(Math.max(...sink.sends) <= 3, `at most ${Math.max(...sink.sends)} events (~230 bytes each) in one send`);
  assert.deepStrictEqual(sink.events.map((e) => e.revision), Array.from({ length: 50 }, (_, i) => i + 1));
});

test('a snapshot installed under a live feed ends its watchers unavailable (resume elsewhere), not compacted', async (t) => {
  const c = cluster(t);
  await c.put('a');
  const sink = new Recorder();
  await c.hub.open(watch({}), sink);
  const other = new KvStore({ env: path.join(tempDir(t), 'other'), group: 'g0' });
  t.after(() => other.close());
  for (let i = 1; i <= 30; i++) await other.applyAt(i, (tx) => tx.put(bytes(`o${i}`), bytes('v')));
  const image = await other.exportSnapshotBytes();
  await c.stores[0].importSnapshot([image.data], 30);
  await c.stores[0].applyAt(31, (tx) => tx.put(bytes('after'), bytes('v')));
  await until('the end', () => sink.closedWith !== undefined);
  assert.equal(sink.closedWith!.code, 'unavailable');
  assert.match(sink.closedWith!.message, /resume from the cursor on another member/);
});

test('with several shards: a prefix watch covers them all, from_revision is refused, and a cursor resumes every shard exactly where it stopped', async (t) => {
  const c = cluster(t, 4);
  await assert.rejects(c.hub.open(watch({ prefix: bytes('p/') }, { fromRevision: 1 }), new Recorder()), /covers 4 shards/);
  const first = new Recorder();
  const w = await c.hub.open(watch({ prefix: bytes('p/') }), first);
  assert.deepStrictEqual(w.shards, [0, 1, 2, 3]);
  assert.equal(w.cursor.split('.').length, 4);
  for (let i = 0; i < 40; i++) await c.put(`p/${i}`);
  await until('20 events', () => first.events.length >= 20);
  w.cancel();
  const cut = first.events.length;
  const resumed = new Recorder();
  await c.hub.open(watch({ prefix: bytes('p/') }, { cursor: first.events.at(-1)!.cursor }), resumed);
  for (let i = 40; i < 60; i++) await c.put(`p/${i}`);
  await until('the rest', () => cut + resumed.events.length >= 60);
  await new Promise((r) => setTimeout(r, 100));
  const all = [...first.events, ...resumed.events].map((e) => text(e.change.key)).sort();
  assert.deepStrictEqual(all, Array.from({ length: 60 }, (_, i) => `p/${i}`).sort());
  // A key's watch, and a prefix fixing a hash tag, cover one shard: from_revision works for them.
  const tagged = await c.hub.open(watch({ prefix: bytes('{t}/') }, { fromRevision: 1 }), new Recorder());
  assert.deepStrictEqual(tagged.shards, [c.shardFor('{t}/x')]);
});

test('a quiet watcher gets progress notifications carrying its cursor, which moves with revisions it does not watch', async (t) => {
  const c = cluster(t);
  const sink = new Recorder();
  await c.hub.open(watch({ key: bytes('mine') }, { progressMs: 150 }), sink);
  await c.put('other');
  await c.put('other');
  await until('a progress notification at revision 2', () => sink.progressed.includes('2'));
  assert.equal(sink.events.length, 0);
});

test('watchers of a shard share one feed: a hundred cost no more history reads than one', async (t) => {
  const c = cluster(t);
  const sinks = Array.from({ length: 100 }, () => new Recorder());
  for (const s of sinks) await c.hub.open(watch({}), s);
  const before = c.counts.reads;
  for (let i = 0; i < 20; i++) await c.put(`k${i}`);
  await until('every event everywhere', () => sinks.every((s) => s.events.length === 20));
  assert.ok(c.counts.reads - before <= 25, `${c.counts.reads - before} reads for 20 revisions`);
});
