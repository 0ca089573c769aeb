// Watch on real processes: watchers over HTTP (the client), gRPC (the client) and the CLI, each on another
// node, see every acknowledged write exactly once and in revision order while the node they watch through
// is killed -9 and restarted and the leader is killed; a compacted revision is refused naming the oldest
// kept; a node shutting down ends its streams so it exits. With 4 shards on 2 replicas, a node's watch of
// shards it does not host reads them from their replicas, and a cursor resumes every shard where it stopped.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createClient, type ConcordClient, type WatchEvent, type WatchOptions } from '../../src/client/index.ts';
import { freePort } from '../../testkit/ports.ts';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { until } from '../../testkit/wait.ts';
import { BIN } from '../cli/helpers.ts';

type Change = Extract<WatchEvent, { type: 'put' | 'delete' }>;

/** A client watch running in the background: its change events, whether it has started, how it ended. */
function background(client: ConcordClient, opts: WatchOptions) {
  const ac = new AbortController();
  const w = { changes: [] as Change[], started: false, failure: undefined as unknown };
  const done = (async () => {
    try {
      for await (const e of client.watch({ ...opts, signal: ac.signal })) {
        w.started = true;
        if (e.type !== 'progress') w.changes.push(e);
      }
    } catch (e) {
      w.failure = e;
    }
  })();
  return { ...w, get w() {
    return w;
  }, stop: async () => {
    ac.abort();
    await done;
  } };
}

/** `concord watch PREFIX --format json --progress` as a process; its change lines as they come. */
function cliWatch(prefix: string, servers: string[]) {
  const proc: ChildProcess = spawn(process.execPath, [BIN, 'watch', prefix, '--format', 'json', '--progress', '--server', servers.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const w = { lines: [] as Array<{ type: string; key?: string; revision?: number; shard?: number }>, stderr: '', exit: undefined as number | null | undefined };
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const text = partial + d.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.trim()) w.lines.push(JSON.parse(l) as (typeof w.lines)[number]);
  });
  proc.stderr!.on('data', (d: Buffer) => (w.stderr += d.toString('utf8')));
  const exited = new Promise<void>((r) => proc.once('exit', (code) => ((w.exit = code), r())));
  return { w, stop: async () => {
    proc.kill('SIGINT');
    await exited;
  } };
}

/**
 * Checks one watcher's changes: no (key, revision) twice, revisions rising within each shard, and every
 * acknowledged write there at its revision.
 */
function checkStream(name: string, changes: Array<{ key: string; revision: number; shard: number }>, acked: Map<string, number>): void {
  const seen = new Set<string>();
  const last = new Map<number, number>();
  for (const c of changes) {
    const id = `${c.key}@${c.revision}`;
    assert.ok(!seen.has(id), `${name}: ${id} twice`);
    seen.add(id);
    assert.ok(c.revision >= (last.get(c.shard) ?? 0), `${name}: revision ${c.revision} after ${last.get(c.shard)} in shard ${c.shard}`);
    last.set(c.shard, c.revision);
  }
  for (const [key, rev] of acked) assert.ok(seen.has(`${key}@${rev}`), `${name}: the acknowledged put of ${key} at ${rev} is missing (${changes.length} changes seen)`);
}

const plain = (c: Change) => ({ key: c.kv.key.toString(), revision: c.revision, shard: c.shard });

describe('watch on a 3-process cluster of one shard', () => {
  let c: ProcCluster;
  const grpc = new Map<string, number>();
  before(async () => {
    for (const id of ['n1', 'n2', 'n3']) grpc.set(id, await freePort());
    c = await ProcCluster.create(3, (id) => ['--grpc-addr', `127.0.0.1:${grpc.get(id)}`, '--history-revisions', '100']);
    await c.leader();
  });
  after(async () => c?.stop());

  const node = (id: string): ProcNode => c.nodes.find((n) => n.id === id)!;
  const grpcOf = (id: string) => `grpc://127.0.0.1:${grpc.get(id)}`;

  it('watchers over HTTP, gRPC and the CLI get every acknowledged write once and in order, through kill -9 of their node and of the leader', async () => {
    const httpClient = createClient({ endpoints: ['n2', 'n3', 'n1'].map((id) => node(id).url), backoffMs: 20 });
    const grpcClient = createClient({ endpoints: ['n3', 'n1', 'n2'].map(grpcOf), backoffMs: 20 });
    const writer = createClient({ endpoints: c.nodes.map((n) => n.url), timeoutMs: 15_000 });
    const overHttp = background(httpClient, { prefix: 'app/' });
    const overGrpc = background(grpcClient, { prefix: 'app/' });
    const cli = cliWatch('app/', ['n1', 'n2', 'n3'].map((id) => node(id).url));
    try {
      await until('every watch to start', () => overHttp.w.started && overGrpc.w.started && cli.w.lines.some((l) => l.type === 'progress'), 15_000);
      const acked = new Map<string, number>();
      const write = async (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          try {
            acked.set(`app/k${i}`, await writer.put(`app/k${i}`, `v${i}`));
          } catch {
            // Unknown outcome (its leader was killed): it may or may not appear.
          }
        }
      };
      await write(0, 40);
      await c.kill9(node('n2'));
      await write(40, 80);
      await c.restart([node('n2')]);
      await write(80, 100);
      const leader = await c.leader();
      await c.kill9(leader);
      await write(100, 130);
      await c.restart([leader]);
      acked.set('app/end', await writer.put('app/end', 'x'));
      const ended = (keys: string[]) => keys.includes('app/end');
      await until('every watcher to see app/end', () => ended(overHttp.w.changes.map((e) => e.kv.key.toString())) && ended(overGrpc.w.changes.map((e) => e.kv.key.toString())) && ended(cli.w.lines.map((l) => l.key ?? '')), 30_000);
      checkStream('HTTP', overHttp.w.changes.map(plain), acked);
      checkStream('gRPC', overGrpc.w.changes.map(plain), acked);
      checkStream('CLI', cli.w.lines.filter((l) => l.type !== 'progress').map((l) => ({ key: l.key!, revision: l.revision!, shard: l.shard! })), acked);
      assert.ok(acked.size >= 100, `${acked.size} writes acknowledged`);
      assert.equal(overHttp.w.failure, undefined);
      assert.equal(overGrpc.w.failure, undefined);
    } finally {
      await Promise.all([overHttp.stop(), overGrpc.stop(), cli.stop()]);
      for (const x of [httpClient, grpcClient, writer]) x.close();
    }
    assert.equal(cli.w.exit, 0, cli.w.stderr);
  });

  it('from_revision replays the history; a revision compacted away is refused (410) naming the oldest kept', async () => {
    const url = c.nodes[0].url;
    // Past the window of 100 revisions and its slack (an eighth of it) whatever the first test got applied.
    const writer = createClient({ endpoints: c.nodes.map((n) => n.url) });
    for (let i = 0; i < 150; i++) await writer.put(`pad/${i}`, 'x');
    await writer.put('app/end', 'again');
    writer.close();
    const refused = await fetch(`${url}/v1/watch?from_revision=1`);
    assert.equal(refused.status, 410);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'compacted');
    const oldest = Number(/the oldest revision this history holds is (\d+)/.exec(body.error.message)?.[1]);
    assert.ok(oldest > 1, body.error.message);
    const client = createClient({ endpoints: [url] });
    const replay = background(client, { prefix: 'app/', fromRevision: oldest });
    try {
      await until('the replay to reach app/end', () => replay.w.changes.some((e) => e.kv.key.toString() === 'app/end'), 15_000);
      assert.ok(replay.w.changes.every((e) => e.revision >= oldest));
    } finally {
      await replay.stop();
      client.close();
    }
  });

  it('SIGTERM with a stream open: the stream ends with a resumable error event and the process exits', async () => {
    const n = node('n3');
    const res = await fetch(`${n.url}/v1/watch?prefix=app/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const reading = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        text += decoder.decode(value);
      }
    })();
    await until('the first progress event', () => text.includes('event: progress'));
    const metrics = await (await fetch(`${n.url}/metrics`)).text();
    assert.match(metrics, /^concord_watch_streams [1-9]/m);
    assert.match(metrics, /^concord_watch_feeds 1$/m);
    const exited = new Promise<number | null>((r) => n.proc!.once('exit', (code) => r(code)));
    const started = Date.now();
    n.proc!.kill('SIGTERM');
    await reading;
    assert.match(text, /event: error\ndata: \{"error":\{"code":"unavailable","message":"this node is shutting down[^"]*"\}\}/);
    assert.equal(await exited, 0);
    assert.ok(Date.now() - started < 10_000, `exited after ${Date.now() - started} ms`);
    await c.restart([n]);
  });
});

describe('watch on a 3-process cluster of 4 shards on 2 replicas', () => {
  let c: ProcCluster;
  before(async () => {
    c = await ProcCluster.create(3, ['--shards', '4', '--replicas', '2']);
    await c.leader();
  });
  after(async () => c?.stop());

  it('a prefix watch on one node covers every shard, hosted there or not; its cursor resumes each shard exactly where it stopped', async () => {
    const writer = createClient({ endpoints: c.nodes.map((n) => n.url), timeoutMs: 15_000 });
    const watcher = createClient({ endpoints: [c.nodes[0].url] });
    const first = background(watcher, { prefix: 'p/' });
    const acked = new Map<string, number>();
    try {
      await until('the watch to start', () => first.w.started, 15_000);
      for (let i = 0; i < 60; i++) acked.set(`p/${i}`, await writer.put(`p/${i}`, 'v'));
      await until('the first 60', () => first.w.changes.length >= 60, 15_000);
      await first.stop();
      const cursor = first.w.changes.at(-1)!.cursor;
      assert.equal(cursor.split('.').length, 4);
      assert.deepEqual(new Set(first.w.changes.map((e) => e.shard)), new Set([0, 1, 2, 3]));
      for (let i = 60; i < 120; i++) acked.set(`p/${i}`, await writer.put(`p/${i}`, 'v'));
      const resumed = background(watcher, { prefix: 'p/', cursor });
      try {
        await until('the other 60', () => resumed.w.changes.length >= 60, 15_000);
        await new Promise((r) => setTimeout(r, 300));
        checkStream('the two streams', [...first.w.changes, ...resumed.w.changes].map(plain), acked);
        assert.equal(first.w.changes.length + resumed.w.changes.length, 120);
      } finally {
        await resumed.stop();
      }
      const refused = await fetch(`${c.nodes[1].url}/v1/watch?prefix=p/&from_revision=1`);
      assert.equal(refused.status, 400);
      assert.match(((await refused.json()) as { error: { message: string } }).error.message, /covers 4 shards/);
    } finally {
      await first.stop();
      writer.close();
      watcher.close();
    }
  });
});
