// Reads when the majority is gone: three real processes, two killed with SIGKILL. On the survivor the
// seed read routes stay linearizable by default (503), answer ?consistency=serializable from local
// data, and with --stale-reads-on-no-quorum answer plain reads from local data marked
// X-Concord-Stale, each within a liveness bound well under the request timeout; without the flag,
// plain reads are a 503 with no such header.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../../testkit/wait.ts';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';

const FLAG = '--stale-reads-on-no-quorum';
/** Above the liveness bound, so a fallback that waited for the request timeout would fail the bound. */
const TIMEOUT = ['--request-timeout-ms', '3000'];
/** A fair bound for one read: the fallback waits at most an election timeout (1 s here). */
const LIVENESS_MS = 2000;

const SEED_READS = ['/query?key=k', '/get?key=k', '/get/key=k', '/api/v1/kv/k'];
const withQuery = (path: string, q: string) => `${path}${path.includes('?') ? '&' : '?'}${q}`;

let c: ProcCluster;
let survivor: ProcNode;

before(async () => {
  c = await ProcCluster.create(3, (id) => (id === 'n1' ? [...TIMEOUT, FLAG] : TIMEOUT));
  survivor = c.nodes[0];
  await c.leader();
  const put = await fetch(`${survivor.url}/put`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'k', value: 'v1' }) });
  assert.equal(put.status, 200);
  await until('n1 to have applied the write', async () => (await fetch(`${survivor.url}/v1/kv/k?consistency=serializable`)).status === 200);
});
after(async () => c?.stop());

interface Answer {
  status: number;
  value: string | undefined;
  stale: string | null;
  lastContact: string | null;
  ms: number;
}

/** One read on the survivor: status, the value (seed 003's base64 decoded), the stale headers, how long it took. */
async function read(path: string): Promise<Answer> {
  const t0 = Date.now();
  const r = await fetch(`${survivor.url}${path}`, { signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  const ms = Date.now() - t0;
  let value: string | undefined;
  if (r.status === 200) {
    value = path.startsWith('/v1/') ? text : (JSON.parse(text) as { value: string }).value;
    if (path.startsWith('/api/v1/')) value = Buffer.from(value, 'base64').toString();
  }
  return { status: r.status, value, stale: r.headers.get('x-concord-stale'), lastContact: r.headers.get('x-concord-last-contact'), ms };
}

it('with the flag, the survivor answers plain seed reads from local data, marked stale, each in bounded time; explicit linearizable reads and v1 stay strict', async () => {
  await Promise.all([c.kill9(c.nodes[1]), c.kill9(c.nodes[2])]);
  // From the kill on, through the time the survivor still believes in a leader and after it knows none.
  const answers: Array<[string, Answer]> = [];
  const start = Date.now();
  for (let i = 0; Date.now() - start < 3500; i++) {
    const path = SEED_READS[i % SEED_READS.length];
    answers.push([path, await read(path)]);
  }
  for (const [path, a] of answers) {
    assert.equal(a.status, 200, `${path} answered ${a.status}`);
    assert.equal(a.value, 'v1', path);
    assert.equal(a.stale, 'true', `${path} is marked stale`);
    assert.match(a.lastContact ?? '', /^\d+$/, `${path}: milliseconds since the last contact with a leader`);
    assert.ok(a.ms < LIVENESS_MS, `${path} took ${a.ms} ms`);
  }
  assert.ok(answers.length >= 4, `${answers.length} reads`);

  const strict = await Promise.all(['/v1/kv/k', ...SEED_READS.map((p) => withQuery(p, 'consistency=linearizable'))].map(read));
  for (const a of strict) {
    assert.equal(a.status, 503);
    assert.equal(a.stale, null);
  }
  for (const path of [...SEED_READS.map((p) => withQuery(p, 'consistency=serializable')), '/v1/kv/k?consistency=serializable']) {
    const a = await read(path);
    assert.deepEqual([a.status, a.value, a.stale], [200, 'v1', 'true'], path);
  }
});

it('without the flag, plain seed reads are a 503 with no stale header; ?consistency=serializable answers', async () => {
  await c.kill9(survivor);
  survivor.args = survivor.args.filter((a) => a !== FLAG);
  c.start(survivor);
  await c.waitHealthy(survivor);
  const plain = await Promise.all(SEED_READS.map(read));
  for (const a of plain) {
    assert.equal(a.status, 503);
    assert.equal(a.stale, null);
  }
  for (const path of SEED_READS.map((p) => withQuery(p, 'consistency=serializable'))) {
    const a = await read(path);
    assert.deepEqual([a.status, a.value], [200, 'v1'], path);
  }
});
