// The client's watch over the real HTTP and gRPC front ends, each node's watch hub reading a shared
// in-memory history (a stand-in for the shards' histories): events with cursors; a stream the server ends
// resumed from the last cursor on the next endpoint with nothing repeated or lost; a revision one node's
// history no longer holds asked of the next; a node that goes silent (frozen, its connection open) left
// after three progress periods.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { pino } from 'pino';
import { buildHttpApi } from '../../src/api/http/index.ts';
import { startGrpcServer } from '../../src/api/grpc/server.ts';
import { createClient, ConcordClientError, type WatchEvent } from '../../src/client/index.ts';
import { WatchHub, type ChangeFeeds } from '../../src/kv/watch-hub.ts';
import type { ChangePage, RevisionChanges } from '../../src/kv/types.ts';
import { ConcordError } from '../../src/util/errors.ts';
import { LIMITS } from '../api/helpers.ts';
import { MemoryCluster, MemoryKv } from '../api/memory-kv.ts';

/** One shard's history, shared by the stand-in nodes; each node may hold it only from its own floor. */
class History {
  readonly revisions: RevisionChanges[] = [];
  private waiters: Array<() => void> = [];
  put(key: string): void {
    const revision = this.revisions.length + 1;
    this.revisions.push({ revision, changes: [{ kind: 'put', key: Buffer.from(key), value: Buffer.from(`v${revision}`), valueBytes: 3, createRevision: revision, version: 1 }] });
    for (const w of this.waiters.splice(0)) w();
  }
  feeds(floor: () => number): ChangeFeeds {
    return {
      shardCount: async () => 1,
      shardChanges: async (_shard, from, o): Promise<ChangePage> => {
        const head = this.revisions.length;
        if (from === 0) return { revisions: [], next: head + 1 };
        if (from < floor()) throw new ConcordError('compacted', `revision ${from} is compacted: the oldest revision this history holds is ${floor()}`);
        if (from > head) await new Promise<void>((r) => (this.waiters.push(r), setTimeout(r, o.waitMs)));
        return { revisions: this.revisions.slice(from - 1), next: this.revisions.length + 1 };
      },
    };
  }
}

async function node(history: History, floor: () => number) {
  const hub = new WatchHub(history.feeds(floor), { maxBacklogBytes: 1 << 20, pageBytes: 1 << 20, pollMs: 100, retryMs: 20 });
  const deps = { kv: new MemoryKv(), cluster: new MemoryCluster(), limits: LIMITS, watch: hub };
  const app = buildHttpApi({ ...deps, logger: false, nodeId: 'x' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const grpc = await startGrpcServer({ ...deps, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
  return { hub, http: `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`, grpc: `grpc://${grpc.address}`, close: async () => void (await Promise.all([app.close(), grpc.close()])) };
}

type Node = Awaited<ReturnType<typeof node>>;
const changes = (events: WatchEvent[]) => events.flatMap((e) => (e.type === 'progress' ? [] : [`${e.kv.key}@${e.revision}`]));

for (const protocol of ['http', 'grpc'] as const) {
  describe(`client watch over ${protocol}`, () => {
    const history = new History();
    let floorA = 1;
    let a: Node;
    let b: Node;
    /** Another node with a's floor, its hub open (the first test closes a's). */
    let a2: Node;
    before(async () => {
      [a, b, a2] = await Promise.all([node(history, () => floorA), node(history, () => 1), node(history, () => floorA)]);
    });
    after(async () => {
      await Promise.all([a.close(), b.close(), a2.close()]);
    });

    it('resumes a stream the server ended from its last cursor on the next endpoint, nothing repeated or lost', async () => {
      const client = createClient({ endpoints: [a[protocol], b[protocol]], backoffMs: 10 });
      const events: WatchEvent[] = [];
      const ac = new AbortController();
      const start = history.revisions.length;
      const done = (async () => {
        for await (const e of client.watch({ prefix: 'k', signal: ac.signal })) {
          events.push(e);
          if (changes(events).length === 6) ac.abort();
        }
      })();
      while (!events.some((e) => e.type === 'progress')) await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 3; i++) history.put(`k${i}`);
      while (changes(events).length < 3) await new Promise((r) => setTimeout(r, 5));
      a.hub.close(); // a shutting down: its streams end with a resumable error
      for (let i = 3; i < 6; i++) history.put(`k${i}`);
      await done;
      client.close();
      assert.deepStrictEqual(changes(events), Array.from({ length: 6 }, (_, i) => `k${i}@${start + i + 1}`));
      assert.equal((events.at(-1) as { cursor: string }).cursor, String(start + 6));
    });

    it('a revision one endpoint no longer holds is asked of the next; held by none, the watch fails with compacted', async () => {
      floorA = history.revisions.length + 1;
      const client = createClient({ endpoints: [a2[protocol], b[protocol]] });
      const got: WatchEvent[] = [];
      const ac = new AbortController();
      for await (const e of client.watch({ fromRevision: 1, signal: ac.signal })) {
        got.push(e);
        if (changes(got).length === history.revisions.length) ac.abort();
      }
      assert.equal(changes(got)[0], `k0@1`);
      const lone = createClient({ endpoints: [a2[protocol]] });
      await assert.rejects(lone.watch({ fromRevision: 1 }).next(), (e: ConcordClientError) => e.code === 'compacted' && /oldest revision this history holds is \d+/.test(e.message));
      client.close();
      lone.close();
    });
  });
}

it('a stream that goes silent (its node frozen, the connection open) is left after three progress periods for the next endpoint', async () => {
  const history = new History();
  const live = await node(history, () => 1);
  // Answers a watch with the stream's headers, then nothing: what a SIGSTOPped node's kernel keeps up.
  const frozen = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }));
  await new Promise<void>((r) => frozen.listen(0, '127.0.0.1', r));
  try {
    const client = createClient({ endpoints: [`http://127.0.0.1:${(frozen.address() as net.AddressInfo).port}`, live.http] });
    const started = performance.now();
    const ac = new AbortController();
    const stream = client.watch({ progressMs: 200, signal: ac.signal });
    const first = await stream.next();
    assert.equal((first.value as WatchEvent).type, 'progress');
    const waited = performance.now() - started;
    assert.ok(waited >= 550 && waited < 5000, `left the silent stream after ${waited.toFixed(0)} ms`);
    ac.abort();
    client.close();
  } finally {
    frozen.closeAllConnections();
    await new Promise((r) => frozen.close(r));
    await live.close();
  }
});

it('HTTP: Last-Event-ID (an EventSource reconnecting to its first URL) wins over the URL\'s from_revision and cursor', async () => {
  const history = new History();
  for (let i = 1; i <= 5; i++) history.put(`k${i}`);
  const n = await node(history, () => 1);
  try {
    for (const start of ['from_revision=1', 'cursor=0']) {
      const ac = new AbortController();
      const res = await fetch(`${n.http}/v1/watch?${start}`, { headers: { 'last-event-id': '3' }, signal: ac.signal });
      assert.equal(res.status, 200, start);
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('event: put')) text += new TextDecoder().decode((await reader.read()).value);
      ac.abort();
      assert.match(text, /id: 3\nevent: progress/);
      assert.match(text, /id: 4\nevent: put\ndata: \{"type":"put","key":"k4"/, start);
    }
  } finally {
    await n.close();
  }
});
