// ShardedKvService over in-memory shards: routing by shardOf, per-shard revisions and CAS, the merged
// listing (equal to one store's listing of the same data, and gap-free when a shard's page ends early),
// the one-shard batch rule, the joining node's 503, leader and staleness aggregation, and backup.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readSections } from '../../src/kv/backup-sections.ts';
import { ShardedKvService, type ShardKvService } from '../../src/kv/sharded-service.ts';
import type { BackupImage, KvRecord, ListOptions } from '../../src/kv/types.ts';
import { shardOf } from '../../src/shard/key-hash.ts';
import { ConcordError } from '../../src/util/errors.ts';
import { MemoryKv } from '../api/memory-kv.ts';

const b = (s: string) => Buffer.from(s);
const text = (r: { key: Uint8Array }) => Buffer.from(r.key).toString();

function sharded(count: number, make: () => MemoryKv = () => new MemoryKv()): { svc: ShardedKvService; shards: MemoryKv[] } {
  const shards = Array.from({ length: count }, make);
  return { svc: new ShardedKvService(() => shards), shards };
}

/** `n` keys `${stem}0`, `${stem}1`, … that fall in shard `shard` of `count`. */
function keysIn(shard: number, count: number, n: number, stem = 'k'): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < n; i++) if (shardOf(b(`${stem}${i}`), count) === shard) keys.push(`${stem}${i}`);
  return keys;
}

const failsWith = (code: string, status: number, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ConcordError, String(e));
  assert.equal(e.code, code);
  assert.equal(e.status, status);
  if (message) assert.match(e.message, message);
  return true;
};

/** What a listing says, without revisions (they are per shard, so they differ from one store's). */
const shape = (page: { items: KvRecord[]; more: boolean }) => ({
  items: page.items.map((r) => [Buffer.from(r.key).toString('hex'), Buffer.from(r.value).toString('hex')]),
  more: page.more,
});

describe('ShardedKvService', () => {
  it("puts each key in its own shard only, the one shardOf names", async () => {
    const { svc, shards } = sharded(8);
    const keys = [...Array.from({ length: 200 }, (_, i) => `key-${i}`), '{user1}.name', '{user1}.mail', 'ü-ключ'];
    for (const k of keys) await svc.put(b(k), b(`v-${k}`));
    for (const k of keys) {
      const home = shardOf(b(k), 8);
      shards.forEach((s, i) => assert.equal(s.getSerializable(b(k))?.value.toString(), i === home ? `v-${k}` : undefined, `${k} in shard ${i}`));
    }
    shards.forEach((s, i) => {
      for (const c of s.calls.filter((c) => c.method === 'put')) assert.equal(shardOf(c.key!, 8), i);
    });
    assert.ok(shards.every((s) => s.revision > 0), '200 keys reach all 8 shards');
  });

  it('routes get, getSerializable, getOrStale, delete and compare-and-swap to the key’s shard, with its revisions', async () => {
    const { svc, shards } = sharded(5);
    const [other] = keysIn(1, 5, 1, 'other');
    await svc.put(b(other), b('x'));
    const [key] = keysIn(3, 5, 1);
    const home = shards[3];
    for (const s of shards) s.calls.length = 0;

    const { revision } = await svc.put(b(key), b('v1'));
    assert.equal(revision, 1, "the revision is the shard's own: its first write");
    assert.equal((await svc.get(b(key)))?.value.toString(), 'v1');
    assert.equal(svc.getSerializable(b(key))?.modRevision, 1);
    assert.equal((await svc.getOrStale(b(key))).record?.value.toString(), 'v1');
    await assert.rejects(svc.put(b(key), b('v2'), { ifMatch: 7 }), failsWith('precondition-failed', 412));
    assert.deepEqual(await svc.put(b(key), b('v2'), { ifMatch: 1 }), { revision: 2 });
    await assert.rejects(svc.put(b(key), b('v3'), { ifNoneMatch: true }), failsWith('precondition-failed', 412));
    await assert.rejects(svc.delete(b(key), { ifMatch: 1 }), failsWith('precondition-failed', 412));
    assert.deepEqual(await svc.delete(b(key), { ifMatch: 2 }), { deleted: 1, revision: 3 });
    assert.equal(await svc.get(b(key), { consistency: 'serializable' }), undefined);
    assert.equal(home.lastConsistency, 'serializable', 'the options reach the shard');

    assert.ok(home.calls.length >= 9);
    assert.ok(home.calls.every((c) => Buffer.from(c.key!).toString() === key));
    shards.forEach((s, i) => i !== 3 && assert.deepEqual(s.calls, [], `shard ${i} untouched`));
    assert.equal(shards[1].getSerializable(b(other))?.modRevision, 1, "another shard's revisions are its own");
  });

  it("sends an empty key to shard 0, whose own check answers it", async () => {
    const { svc, shards } = sharded(4);
    const refusing = shards[0];
    refusing.failWith = new ConcordError('bad-request', 'key must not be empty');
    await assert.rejects(svc.get(new Uint8Array(0)), failsWith('bad-request', 400, /must not be empty/));
    await assert.rejects(svc.put(new Uint8Array(0), b('v')), failsWith('bad-request', 400, /must not be empty/));
    assert.throws(() => svc.getSerializable(new Uint8Array(0)), failsWith('bad-request', 400));
    assert.deepEqual(refusing.calls.map((c) => c.method), ['get', 'put', 'get']);
    assert.ok(shards.slice(1).every((s) => s.calls.length === 0));
  });

  describe('listing', () => {
    // Few distinct bytes, so keys share prefixes and tags and bounds fall between them.
    const byte = fc.constantFrom(0x00, 0x61, 0x62, 0x63, 0x7b, 0x7d, 0xe4, 0xff);
    const key = fc.array(byte, { minLength: 1, maxLength: 4 }).map((a) => Uint8Array.from(a));
    const bound = fc.option(fc.array(byte, { minLength: 1, maxLength: 2 }).map((a) => Uint8Array.from(a)), { nil: undefined });
    const options = fc.record({
      prefix: bound,
      start: bound,
      end: bound,
      limit: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
      keysOnly: fc.boolean(),
    });
    const data = fc.array(fc.tuple(key, fc.uint8Array({ maxLength: 3 })), { maxLength: 60, size: 'max' });
    const shardCount = fc.constantFrom(1, 3, 8);

    async function load(entries: Array<[Uint8Array, Uint8Array]>, count: number) {
      const single = new MemoryKv();
      const { svc, shards } = sharded(count);
      for (const [k, v] of entries) {
        await single.put(k, v);
        await svc.put(k, v);
      }
      return { single, svc, shards };
    }

    const defined = (o: ListOptions): ListOptions => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

    it('equals one store’s listing of the same data, for any prefix, bounds, limit and keysOnly, over 1, 3 and 8 shards', async () => {
      await fc.assert(
        fc.asyncProperty(data, options, shardCount, async (entries, o, count) => {
          const { single, svc } = await load(entries, count);
          const opts = defined(o);
          assert.deepEqual(shape(await svc.list(opts)), shape(await single.list(opts)));
          assert.deepEqual(shape(await svc.listOrStale(opts)), shape(await single.listOrStale(opts)));
        }),
        { numRuns: 300 },
      );
    });

    it('paging on from the last key + \\0 visits every key once, even when shards end their pages early', async () => {
      /** A shard whose pages stop after two items whatever the limit, as the store's byte bound stops them. */
      class ShortPages extends MemoryKv {
        override async list(opts: ListOptions) {
          return super.list({ ...opts, limit: Math.min(opts.limit ?? 1000, 2) });
        }
      }
      await fc.assert(
        fc.asyncProperty(data, fc.integer({ min: 1, max: 7 }), shardCount, fc.boolean(), async (entries, limit, count, short) => {
          const single = new MemoryKv();
          const { svc } = sharded(count, () => (short ? new ShortPages() : new MemoryKv()));
          for (const [k, v] of entries) {
            await single.put(k, v);
            await svc.put(k, v);
          }
          const seen: string[] = [];
          let start: Uint8Array | undefined;
          for (let pages = 0; ; pages++) {
            assert.ok(pages <= entries.length + 1, 'paging ends');
            const page = await svc.list({ limit, ...(start ? { start } : {}) });
            assert.ok(page.items.length <= limit);
            seen.push(...page.items.map((r) => Buffer.from(r.key).toString('hex')));
            if (!page.more) break;
            start = Buffer.concat([page.items.at(-1)!.key, Buffer.from([0])]);
          }
          const all = (await single.list({})).items.map((r) => Buffer.from(r.key).toString('hex'));
          assert.deepEqual(seen, all);
        }),
        { numRuns: 200 },
      );
    });

    it('says more exactly when keys follow the page', async () => {
      const { svc, shards } = sharded(3);
      const keys = Array.from({ length: 10 }, (_, i) => `m${i}`);
      for (const k of keys) await svc.put(b(k), b('v'));
      assert.ok(shards.filter((s) => s.revision > 0).length >= 2, 'the keys span shards');
      assert.deepEqual((await svc.list({ limit: 10 })).items.map(text), keys);
      assert.equal((await svc.list({ limit: 10 })).more, false);
      assert.equal((await svc.list({})).more, false);
      const nine = await svc.list({ limit: 9 });
      assert.deepEqual([nine.items.map(text), nine.more], [keys.slice(0, 9), true]);
      const tail = await svc.list({ limit: 3, start: b('m7') });
      assert.deepEqual([tail.items.map(text), tail.more], [['m7', 'm8', 'm9'], false]);
      const prefixed = await svc.list({ prefix: b('m'), end: b('m4'), limit: 4, keysOnly: true });
      assert.deepEqual([prefixed.items.map(text), prefixed.more], [['m0', 'm1', 'm2', 'm3'], false]);
      assert.ok(prefixed.items.every((r) => r.value.byteLength === 0));
      assert.ok(shards.every((s) => s.calls.filter((c) => c.method === 'list').length === 6), 'every shard is asked every time');
    });

    it('with one shard is that shard’s listing as it stands', async () => {
      const { svc, shards } = sharded(1);
      await svc.put(b('a'), b('1'));
      const page = await shards[0].list({ limit: 5 });
      assert.deepEqual(await svc.list({ limit: 5 }), page);
    });
  });

  describe('batch', () => {
    it('within one shard is that shard’s batch: atomic, at one revision', async () => {
      const { svc, shards } = sharded(8);
      const keys = ['{user1}.name', '{user1}.mail', '{user1}.age', 'x{user1}y'];
      const home = shardOf(b('user1'), 8);
      assert.ok(keys.every((k) => shardOf(b(k), 8) === home));
      await svc.put(b('{user1}.age'), b('40'));
      const { revision } = await svc.batch([
        { op: 'put', key: b(keys[0]), value: b('Ann') },
        { op: 'put', key: b(keys[1]), value: b('ann@example.com') },
        { op: 'delete', key: b(keys[2]) },
        { op: 'put', key: b(keys[3]), value: b('y') },
      ]);
      assert.equal(revision, 2);
      assert.deepEqual(shards[home].calls.filter((c) => c.method === 'batch').length, 1);
      for (const k of [keys[0], keys[1], keys[3]]) assert.equal((await svc.get(b(k)))?.modRevision, 2);
      assert.equal(await svc.get(b(keys[2])), undefined);
      shards.forEach((s, i) => i !== home && assert.equal(s.revision, 0));
    });

    it('across shards is refused with 400, naming the shards and where the keys go, and changes nothing', async () => {
      const { svc, shards } = sharded(8);
      const [a1, a2, a3] = keysIn(2, 8, 3);
      const [c1] = keysIn(5, 8, 1);
      await svc.put(b(a1), b('old'));
      const before = shards.map((s) => s.dump());
      await assert.rejects(
        svc.batch([
          { op: 'put', key: b(a1), value: b('new') },
          { op: 'put', key: b(c1), value: b('new') },
          { op: 'delete', key: b(a2) },
          { op: 'put', key: b(a3), value: b('new') },
        ]),
        failsWith('bad-request', 400, new RegExp(`shards 2, 5 of 8: shard 2 gets "${a1}", "${a2}" \\(\\+1 more\\); shard 5 gets "${c1}"\\. .*common \\{tag\\}.*only the part in braces is hashed`)),
      );
      assert.deepEqual(shards.map((s) => s.dump()), before);
      assert.ok(shards.every((s) => !s.calls.some((c) => c.method === 'batch')));
    });

    it('across many shards, the message stays short: a few shards and keys, shortened', async () => {
      const { svc } = sharded(64);
      const long = (i: number) => `${'very-long-key-'.repeat(10)}${i}`;
      const ops = Array.from({ length: 500 }, (_, i) => ({ op: 'put' as const, key: b(long(i)), value: b('v') }));
      await assert.rejects(svc.batch(ops), (e) => {
        assert.ok(e instanceof ConcordError && e.code === 'bad-request');
        assert.ok(e.message.length < 800, e.message);
        assert.match(e.message, /, … \(\d+ shards\) of 64: /);
        assert.match(e.message, /shard 0 gets "very-long-key-….{8}", "very-long-key-….{8}" \(\+\d+ more\);/);
        assert.match(e.message, /more shards get the rest/);
        assert.ok(!e.message.includes(long(0)));
        return true;
      });
      const binary = sharded(8);
      const short = Buffer.from([0xff, 0x00]);
      const counting = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
      const [plain] = keysIn(shardOf(short, 8) === 0 ? 1 : 0, 8, 1);
      const ops2 = [short, counting, b(plain)].map((key) => ({ op: 'put' as const, key, value: b('v') }));
      await assert.rejects(binary.svc.batch(ops2), (e) => {
        assert.ok(e instanceof ConcordError && e.code === 'bad-request');
        assert.match(e.message, /[ ,]0xff00[,;.]/);
        assert.match(e.message, /[ ,]0x000102030405060708090a0b0c0d…2021222324252627[,;.]/);
        return true;
      });
    });

    it('with one shard goes to shard 0 whatever its keys', async () => {
      const { svc, shards } = sharded(1);
      assert.deepEqual(await svc.batch([{ op: 'put', key: b('a'), value: b('1') }, { op: 'put', key: b('zzz'), value: b('2') }]), { revision: 1 });
      assert.equal(shards[0].calls.filter((c) => c.method === 'batch').length, 1);
    });

    it('lets empty keys go along to the shard of the others, whose check answers them', async () => {
      const { svc, shards } = sharded(8);
      const [k] = keysIn(6, 8, 1);
      shards[6].failWith = new ConcordError('bad-request', 'key must not be empty');
      await assert.rejects(svc.batch([{ op: 'put', key: b(k), value: b('v') }, { op: 'delete', key: new Uint8Array(0) }]), failsWith('bad-request', 400, /must not be empty/));
      assert.equal(shards[6].calls.length, 1);
    });
  });

  it('answers 503 with a retry hint on every call while the shards are unknown (a joining node)', async () => {
    const svc = new ShardedKvService(() => undefined);
    const joining = failsWith('unavailable', 503, /^this node has not learned the cluster's shards yet \(it is joining\); retry, or send the request to another member$/);
    const k = b('k');
    const calls: Array<() => Promise<unknown>> = [
      () => svc.get(k),
      () => svc.put(k, b('v')),
      () => svc.delete(k),
      () => svc.getOrStale(k),
      () => svc.list({}),
      () => svc.listOrStale({}),
      () => svc.batch([{ op: 'put', key: k, value: b('v') }]),
      () => svc.backup(),
    ];
    for (const call of calls) await assert.rejects(call(), (e) => joining(e) && (e as ConcordError).retryAfterSeconds === 1);
    assert.throws(() => svc.getSerializable(k), joining);
    assert.deepEqual(svc.leaderless(), {});
  });

  it('a call on a joining node waits for the shards up to waitMs: answered once they are learnt, 503 when they are not', async () => {
    let known: MemoryKv[] | undefined;
    let learn: () => void = () => {};
    const learnt = new Promise<void>((r) => (learn = r));
    const svc = new ShardedKvService(() => known, learnt, 5000);
    const put = svc.put(b('k'), b('v'));
    setTimeout(() => {
      known = [new MemoryKv(), new MemoryKv()];
      learn();
    }, 50);
    assert.equal((await put).revision, 1);
    const never = new ShardedKvService(() => undefined, new Promise(() => undefined), 100);
    const t0 = Date.now();
    await assert.rejects(never.get(b('k')), failsWith('unavailable', 503));
    assert.ok(Date.now() - t0 >= 90, 'it waited');
  });

  it("leaderless is the first leaderless shard's answer, and listOrStale reports the stalest shard", async () => {
    const { svc, shards } = sharded(6);
    for (let i = 0; i < 30; i++) await svc.put(b(`s${i}`), b('v'));
    assert.equal(svc.leaderless(), undefined);
    assert.equal((await svc.listOrStale({})).stale, undefined);
    assert.ok(!('stale' in (await svc.listOrStale({}))));

    shards[4].noLeader = { lastContactMs: 900 };
    shards[2].noLeader = { lastContactMs: 50 };
    assert.deepEqual(svc.leaderless(), { lastContactMs: 50 });
    await assert.rejects(svc.list({}), failsWith('unavailable', 503), 'a linearizable listing needs every shard');
    const page = await svc.listOrStale({ limit: 100 });
    assert.deepEqual(page.stale, { lastContactMs: 900 });
    assert.equal(page.items.length, 30);
    assert.equal(shards[2].lastConsistency, 'serializable');

    shards[5].noLeader = {};
    assert.deepEqual((await svc.listOrStale({})).stale, {}, 'one shard that never heard a leader makes it unknown');
    assert.deepEqual(svc.leaderless(), { lastContactMs: 50 });
  });

  it('backup: the shard’s own with one shard; with more, every shard’s image in order as sections', async () => {
    const image = (index: number, ...pieces: string[]): BackupImage => ({ appliedIndex: index, chunks: (async function* () {
      for (const p of pieces) yield Buffer.from(p);
    })(), cancel: () => {} });
    const withBackup = (img: () => BackupImage) => Object.assign(new MemoryKv(), { backup: async () => img() }) as ShardKvService;
    const single = image(7);
    assert.equal(await new ShardedKvService(() => [withBackup(() => single)]).backup(), single);
    await assert.rejects(new ShardedKvService(() => [new MemoryKv()]).backup(), failsWith('not-implemented', 501));
    const three = await new ShardedKvService(() => [withBackup(() => image(3, 'a', 'b')), withBackup(() => image(9)), withBackup(() => image(5, 'c'))]).backup();
    assert.deepEqual(three.shards, [3, 9, 5]);
    const body: Uint8Array[] = [];
    for await (const c of three.chunks) body.push(c);
    assert.deepEqual(readSections(Buffer.concat(body), 3).map((s) => s.map((p) => Buffer.from(p).toString())), [['a', 'b'], [], ['c']]);
  });
  it("asks a shard's replicas elsewhere for history its own replica no longer holds, and says compacted when they do not hold it either", async () => {
    const page = { revisions: [], next: 11 };
    const local = Object.assign(new MemoryKv(), { changes: async () => Promise.reject(new ConcordError('compacted', 'revision 3 is compacted: the oldest revision this history holds is 40')) });
    const asked: number[] = [];
    const elsewhere = Object.assign(new MemoryKv(), { changes: async (from: number) => (asked.push(from), page) });
    const svc = new ShardedKvService(() => [local, local], Promise.resolve(), 0, () => elsewhere);
    assert.deepStrictEqual(await svc.shardChanges(1, 3, { maxBytes: 100, waitMs: 0 }), page);
    assert.deepStrictEqual(asked, [3]);
    const alone = new ShardedKvService(() => [local, local]);
    await assert.rejects(alone.shardChanges(1, 3, { maxBytes: 100, waitMs: 0 }), failsWith('compacted', 410, /oldest revision this history holds is 40/));
  });
});
