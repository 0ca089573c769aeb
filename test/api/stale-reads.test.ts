// ?consistency= on the seeds' read routes, and the stale marking: X-Concord-Stale / X-Concord-Last-Contact
// on answers served from local state while the node knows no leader, and the seed routes' fallback to
// such answers when the node allows it (staleSeedReads). The service is in memory; MemoryKv.noLeader
// makes linearizable reads fail with 503 as a node without a quorum does.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorOf, jsonInit, startApi, type TestApi } from './helpers.ts';

/** Every seed read of key `k` (the listing too), with a query string appended. */
const SEED_READS = (q: string) => [`/query?key=k${q ? `&${q}` : ''}`, `/get?key=k${q ? `&${q}` : ''}`, `/get/key=k${q ? `?${q}` : ''}`, `/api/v1/kv/k${q ? `?${q}` : ''}`, `/api/v1/kv${q ? `?${q}` : ''}`];

/** The value of `k` in a seed read's answer: text from seeds 000 and 001, base64 from seed 003. */
async function seedValue(path: string, r: Response): Promise<string> {
  const body = (await r.json()) as { value?: string; items?: Array<{ key: string; value: string }> };
  const value = body.items ? body.items.find((i) => i.key === 'k')?.value : body.value;
  return path.startsWith('/api/v1/') ? Buffer.from(value ?? '', 'base64').toString() : (value ?? '');
}

async function withData(api: TestApi): Promise<void> {
  assert.equal((await fetch(`${api.url}/put`, jsonInit('PUT', { key: 'k', value: 'v1' }))).status, 200);
}

describe('?consistency= on the seed read routes', () => {
  let api: TestApi;
  before(async () => {
    api = await startApi();
    await withData(api);
  });
  after(async () => api.close());

  it('reaches the service as v1 passes it: absent (linearizable), linearizable, serializable', async () => {
    for (const [q, expected] of [['', undefined], ['consistency=linearizable', 'linearizable'], ['consistency=serializable', 'serializable']] as const) {
      for (const path of SEED_READS(q)) {
        api.kv.lastConsistency = 'unset' as never;
        const r = await fetch(`${api.url}${path}`);
        assert.equal(r.status, 200, path);
        assert.equal(await seedValue(path, r), 'v1', path);
        assert.equal(api.kv.lastConsistency, expected, path);
        assert.equal(r.headers.get('x-concord-stale'), null, `${path}: a node with a leader marks nothing`);
      }
    }
  });

  it('anything else is a 400 that never reaches the service', async () => {
    for (const q of ['consistency=stale', 'consistency=', 'consistency=SERIALIZABLE']) {
      for (const path of SEED_READS(q)) {
        const before = api.kv.calls.length;
        const e = await errorOf(await fetch(`${api.url}${path}`));
        assert.equal(e.status, 400, path);
        assert.equal(api.kv.calls.length, before, `${path} reached the service`);
      }
    }
  });
});

describe('a node that knows no leader, without the fallback', () => {
  let api: TestApi;
  before(async () => {
    api = await startApi();
    await withData(api);
  });
  beforeEach(() => (api.kv.noLeader = { lastContactMs: 1234 }));
  after(async () => api.close());

  it('seed reads stay linearizable: 503 with Retry-After, no stale header', async () => {
    for (const path of [...SEED_READS(''), ...SEED_READS('consistency=linearizable')]) {
      const r = await fetch(`${api.url}${path}`);
      assert.equal(r.status, 503, path);
      assert.ok(r.headers.get('retry-after'), path);
      assert.equal(r.headers.get('x-concord-stale'), null, path);
    }
  });

  it('serializable reads answer, marked stale with the last contact, on the seed routes and on v1 (fast lane or not)', async () => {
    for (const path of [...SEED_READS('consistency=serializable'), '/v1/kv/k?consistency=serializable']) {
      const r = await fetch(`${api.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('x-concord-stale'), 'true', path);
      assert.equal(r.headers.get('x-concord-last-contact'), '1234', path);
    }
    const v1 = await fetch(`${api.url}/v1/kv/k?consistency=serializable`);
    assert.equal(await v1.text(), 'v1');
    assert.equal(v1.headers.get('etag'), '"1"');
  });

  it('a 404 served from local state is marked too; without a last contact only X-Concord-Stale is sent', async () => {
    api.kv.noLeader = {};
    for (const path of ['/query?key=absent&consistency=serializable', '/v1/kv/absent?consistency=serializable']) {
      const r = await fetch(`${api.url}${path}`);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers.get('x-concord-stale'), 'true', path);
      assert.equal(r.headers.get('x-concord-last-contact'), null, path);
    }
  });

  it('v1 stays strict: a plain GET /v1/kv/{key} is a 503', async () => {
    const r = await fetch(`${api.url}/v1/kv/k`);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('x-concord-stale'), null);
  });
});

describe('with staleSeedReads (--stale-reads-on-no-quorum)', () => {
  let api: TestApi;
  before(async () => {
    api = await startApi({ staleSeedReads: true });
    await withData(api);
  });
  beforeEach(() => (api.kv.noLeader = undefined));
  after(async () => api.close());

  it('while a leader is known, seed reads are linearizable and unmarked', async () => {
    for (const path of SEED_READS('')) {
      const r = await fetch(`${api.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(api.kv.lastConsistency, 'linearizable', path);
      assert.equal(r.headers.get('x-concord-stale'), null, path);
    }
  });

  it('without a leader, seed reads that name no consistency answer from local state, marked stale', async () => {
    api.kv.noLeader = { lastContactMs: 42 };
    for (const path of SEED_READS('')) {
      const r = await fetch(`${api.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(await seedValue(path, r), 'v1', path);
      assert.equal(r.headers.get('x-concord-stale'), 'true', path);
      assert.equal(r.headers.get('x-concord-last-contact'), '42', path);
    }
    const absent = await fetch(`${api.url}/get?key=absent`);
    assert.equal(absent.status, 404);
    assert.equal(absent.headers.get('x-concord-stale'), 'true');
  });

  it('an explicit ?consistency=linearizable stays strict, and v1 is untouched', async () => {
    api.kv.noLeader = { lastContactMs: 42 };
    for (const path of [...SEED_READS('consistency=linearizable'), '/v1/kv/k', '/v1/kv/k?consistency=linearizable']) {
      const r = await fetch(`${api.url}${path}`);
      assert.equal(r.status, 503, path);
      assert.equal(r.headers.get('x-concord-stale'), null, path);
    }
  });
});
