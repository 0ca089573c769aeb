// One table of operations over the three front ends — HTTP v1 and gRPC through the Node client (src/client),
// seed 002's text protocol over a plain TCP connection — against three real `concord server` processes,
// from every node, then again after kill -9 of the leader. Each write goes through one protocol; every
// read after it, through every protocol on every live node, must give the same answer. Keys and values
// include spaces, newlines and bytes that are not UTF-8. A client given every node's address keeps
// answering through the leader's death.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { createClient, type ConcordClient } from '../../src/client/index.ts';
import { encodeWord, splitWords } from '../../src/api/text/tokens.ts';
import { freePort } from '../../testkit/ports.ts';
import { until } from '../../testkit/wait.ts';
import { BIN, ProcCluster, type ProcNode } from '../../testkit/processes.ts';

const run = promisify(execFile);

/** What an answer says, whichever protocol gave it: the text protocol has no revisions, so none are compared here. */
type Answer = { outcome: 'ok' } | { outcome: 'not-found' } | { outcome: 'value'; value: string } | { outcome: 'items'; items: string[] } | { outcome: 'error'; code: string };

type Op =
  | { op: 'get'; key: Buffer }
  | { op: 'put'; key: Buffer; value: Buffer }
  | { op: 'delete'; key: Buffer }
  | { op: 'batch'; pairs: Array<[Buffer, Buffer]> }
  | { op: 'range'; start: Buffer; end: Buffer };

interface Front {
  name: string;
  run(o: Op): Promise<Answer>;
  close(): void;
}

const hex = (b: Buffer) => b.toString('hex');

/** HTTP or gRPC, through the client with this one node as its only endpoint (so the answer is that node's). */
function clientFront(name: string, client: ConcordClient): Front {
  const run = async (o: Op): Promise<Answer> => {
    try {
      switch (o.op) {
        case 'get': {
          const kv = await client.get(o.key);
          return kv ? { outcome: 'value', value: hex(kv.value) } : { outcome: 'not-found' };
        }
        case 'put':
          await client.put(o.key, o.value);
          return { outcome: 'ok' };
        case 'delete':
          return (await client.delete(o.key)).deleted ? { outcome: 'ok' } : { outcome: 'not-found' };
        case 'batch':
          await client.batch(o.pairs.map(([key, value]) => ({ op: 'put', key, value })));
          return { outcome: 'ok' };
        case 'range': {
          // RANGE's end is inclusive; the listing's is exclusive: end followed by 0x00 is the next key.
          const items: string[] = [];
          for await (const i of client.listAll({ start: o.start, end: Buffer.concat([o.end, Buffer.of(0)]) })) items.push(`${hex(i.key)}=${hex(i.value)}`);
          return { outcome: 'items', items };
        }
      }
    } catch (e) {
      return { outcome: 'error', code: (e as { code?: string }).code ?? String(e) };
    }
  };
  return { name, run, close: () => client.close() };
}

/** Seed 002's protocol on one connection: a command line out, its answer line(s) back. */
async function textFront(port: number): Promise<Front> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffered = Buffer.alloc(0);
  const waiting: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    waiting.splice(0).forEach((w) => w());
  });
  const line = async (): Promise<Buffer> => {
    for (;;) {
      const nl = buffered.indexOf(10);
      if (nl >= 0) {
        const l = buffered.subarray(0, nl);
        buffered = buffered.subarray(nl + 1);
        return l;
      }
      await new Promise<void>((r) => waiting.push(r));
    }
  };
  const word = (b: Buffer) => encodeWord(b);
  const send = async (words: string[]): Promise<Buffer> => {
    socket.write(`${words.join(' ')}\n`);
    return line();
  };
  const run = async (o: Op): Promise<Answer> => {
    let first: Buffer;
    if (o.op === 'get') first = await send(['READ', word(o.key)]);
    else if (o.op === 'put') first = await send(['PUT', word(o.key), word(o.value)]);
    else if (o.op === 'delete') first = await send(['DELETE', word(o.key)]);
    else if (o.op === 'batch') first = await send(['BATCHPUT', ...o.pairs.flatMap(([k, v]) => [word(k), word(v)])]);
    else {
      const items: string[] = [];
      for (let l = await send(['RANGE', word(o.start), word(o.end)]); l.toString('latin1') !== 'END'; l = await line()) {
        if (l.toString('latin1').startsWith('ERR ')) return { outcome: 'error', code: /^ERR ([a-z-]+)/.exec(l.toString('latin1'))![1] };
        const [k, v] = splitWords(l);
        items.push(`${hex(k)}=${hex(v)}`);
      }
      return { outcome: 'items', items };
    }
    const text = first.toString('latin1');
    if (text === 'OK') return { outcome: 'ok' };
    if (text === 'NOT_FOUND') return { outcome: 'not-found' };
    if (text.startsWith('ERR ')) return { outcome: 'error', code: /^ERR ([a-z-]+)/.exec(text)![1] };
    return { outcome: 'value', value: hex(splitWords(first)[0]) };
  };
  return { name: 'text', run, close: () => socket.destroy() };
}

describe('HTTP, gRPC and the text protocol on a 3-process cluster: one table, the same answers', () => {
  let c: ProcCluster;
  const ports = new Map<string, { grpc: number; text: number }>();
  const fronts = new Map<string, Front[]>();

  before(async () => {
    for (const id of ['n1', 'n2', 'n3']) ports.set(id, { grpc: await freePort(), text: await freePort() });
    c = await ProcCluster.create(3, (id) => ['--grpc-addr', `127.0.0.1:${ports.get(id)!.grpc}`, '--text-addr', `127.0.0.1:${ports.get(id)!.text}`]);
    for (const n of c.nodes) {
      const p = ports.get(n.id)!;
      fronts.set(n.id, [
        clientFront('http', createClient({ endpoints: [n.url], maxAttempts: 1 })),
        clientFront('grpc', createClient({ endpoints: [`127.0.0.1:${p.grpc}`], protocol: 'grpc', maxAttempts: 1 })),
        await textFront(p.text),
      ]);
    }
  });
  after(async () => {
    for (const list of fronts.values()) for (const f of list) f.close();
    await c?.stop();
  });

  const live = () => c.nodes.filter((n) => n.proc);

  /** Every read, through every protocol on every live node, gives one answer; returns it. */
  async function sameEverywhere(read: Op, what: string): Promise<Answer> {
    const answers: Array<[string, Answer]> = [];
    for (const n of live()) for (const f of fronts.get(n.id)!) answers.push([`${n.id}/${f.name}`, await f.run(read)]);
    for (const [where, a] of answers) assert.deepEqual(a, answers[0][1], `${where} vs ${answers[0][0]}: ${what}`);
    return answers[0][1];
  }

  /** The table, each write through `writer` on `node`. */
  async function table(node: ProcNode, writer: Front, tag: string): Promise<void> {
    const k = (s: string) => Buffer.concat([Buffer.from(`${tag}/${writer.name}/`), Buffer.from(s, 'latin1')]);
    const [spaced, binary, plain] = [k('a key with spaces'), k('\x00\xff\n"\\'), k('plain')];
    const values = { spaced: Buffer.from('a value\nwith "lines"\tand tabs'), binary: Buffer.from([0, 0xff, 0xc3, 0x28, 10, 13, 32]), plain: Buffer.from('NOT_FOUND') };
    const say = (w: Op) => `${writer.name} on ${node.id}: ${w.op}`;
    const write = async (w: Op, expect: Answer['outcome'] = 'ok') => assert.equal((await writer.run(w)).outcome, expect, say(w));

    for (const [key, value] of [[spaced, values.spaced], [binary, values.binary], [plain, values.plain]] as const) {
      await write({ op: 'put', key, value });
      assert.deepEqual(await sameEverywhere({ op: 'get', key }, say({ op: 'put', key, value })), { outcome: 'value', value: hex(value) });
    }
    await write({ op: 'batch', pairs: [[k('b1'), Buffer.from('one')], [k('b2'), Buffer.from('')], [spaced, Buffer.from('over')]] });
    const range = await sameEverywhere({ op: 'range', start: k(''), end: k('\xff') }, say({ op: 'batch', pairs: [] }));
    assert.equal(range.outcome === 'items' && range.items.length, 5, JSON.stringify(range));
    await write({ op: 'delete', key: binary });
    assert.deepEqual(await sameEverywhere({ op: 'get', key: binary }, say({ op: 'delete', key: binary })), { outcome: 'not-found' });
    await write({ op: 'delete', key: binary }, 'not-found');
    assert.deepEqual(await sameEverywhere({ op: 'range', start: k('b'), end: k('b2') }, 'range after delete'), { outcome: 'items', items: [`${hex(k('b1'))}=${hex(Buffer.from('one'))}`, `${hex(k('b2'))}=`] });
  }

  it('from every node, writes through each protocol read back the same through all three', async () => {
    for (const n of c.nodes) for (const writer of fronts.get(n.id)!) await table(n, writer, `t/${n.id}`);
  });

  it('bad input is refused the same way: an empty key is bad-request everywhere, and nothing changes', async () => {
    for (const n of c.nodes) {
      for (const f of fronts.get(n.id)!) {
        assert.deepEqual(await f.run({ op: 'put', key: Buffer.alloc(0), value: Buffer.from('x') }), { outcome: 'error', code: 'bad-request' }, `${n.id}/${f.name}`);
      }
    }
    assert.deepEqual(await sameEverywhere({ op: 'range', start: Buffer.alloc(1), end: Buffer.from('\x01') }, 'empty key'), { outcome: 'items', items: [] });
  });

  it('a client given every node keeps answering across kill -9 of the leader; the table holds on the survivors', async () => {
    const all = createClient({ endpoints: c.nodes.map((n) => n.url), timeoutMs: 15_000 });
    const allGrpc = createClient({ endpoints: c.nodes.map((n) => `127.0.0.1:${ports.get(n.id)!.grpc}`), protocol: 'grpc', timeoutMs: 15_000 });
    try {
      const rev = await all.put('failover/key', 'before');
      const old = await c.leader();
      const reads = (async () => {
        const seen: string[] = [];
        for (let i = 0; i < 40; i++) {
          for (const cl of [all, allGrpc]) seen.push(String((await cl.get('failover/key'))?.value));
          await new Promise((r) => setTimeout(r, 50));
        }
        return seen;
      })();
      await new Promise((r) => setTimeout(r, 300));
      await c.kill9(old);
      assert.deepEqual(new Set(await reads), new Set(['before']), 'every read answered, with the value written before the kill');
      // A compare-and-swap is retried on another node if its node fails: it cannot apply twice.
      const cas = await allGrpc.put('failover/key', 'after', { ifMatch: rev });
      assert.ok(cas > rev);
      assert.equal(String((await all.get('failover/key'))?.value), 'after');
    } finally {
      all.close();
      allGrpc.close();
    }
    const leader = await until('a new leader', () => c.leader().catch(() => undefined), 15_000);
    const survivor = live().find((n) => n !== leader)!;
    for (const writer of fronts.get(survivor.id)!) await table(survivor, writer, 'after/follower');
    for (const writer of fronts.get(leader.id)!) await table(leader, writer, 'after/leader');
  });

  it('the CLI over gRPC with a list of servers, the dead node first: put, get, list, delete; exit 3 not found, 4 unreachable', async () => {
    const dead = c.nodes.find((n) => !n.proc)!;
    const servers = [dead, ...live()].map((n) => `127.0.0.1:${ports.get(n.id)!.grpc}`).join(',');
    const cli = (...args: string[]) => run(process.execPath, [BIN, ...args, '--protocol', 'grpc', '--server', servers]);
    assert.match((await cli('put', 'cli/grpc', 'over grpc')).stdout, /^OK \(revision \d+\)\n$/);
    assert.equal((await cli('get', 'cli/grpc')).stdout, 'over grpc');
    assert.deepEqual(JSON.parse((await cli('list', '--prefix', 'cli/', '--format', 'json')).stdout).items.map((i: { key: string }) => i.key), ['cli/grpc']);
    assert.match((await cli('cluster-status')).stdout, new RegExp(`leader ${(await c.leader()).id}`));
    assert.match((await cli('delete', 'cli/grpc')).stdout, /^deleted cli\/grpc \(revision \d+\)\n$/);
    const exit = (p: Promise<unknown>) => p.then(() => 0, (e: { code?: number; stderr?: string }) => [e.code, e.stderr]);
    assert.deepEqual(await exit(cli('get', 'cli/grpc')), [3, 'error: key not found: cli/grpc\n']);
    const nobody = `127.0.0.1:${ports.get(dead.id)!.grpc}`;
    const r = await exit(run(process.execPath, [BIN, 'get', 'k', '--protocol', 'grpc', '--server', nobody]));
    assert.equal((r as [number, string])[0], 4);
    assert.match((r as [number, string])[1], new RegExp(`^error: cannot reach ${nobody} \\(connection refused\\)\\n$`));
  });

  it('membership through the client over gRPC and HTTP: remove the dead member, add a learner, remove it', async () => {
    const dead = c.nodes.find((n) => !n.proc)!;
    const overGrpc = createClient({ endpoints: live().map((n) => `127.0.0.1:${ports.get(n.id)!.grpc}`), protocol: 'grpc' });
    const overHttp = createClient({ endpoints: live().map((n) => n.url) });
    try {
      const removed = await overGrpc.removeNode(dead.id);
      assert.deepEqual(removed.nodes.map((n) => n.id).sort(), live().map((n) => n.id).sort());
      const learnerAddr = `127.0.0.1:${await freePort()}`;
      const added = await overHttp.addNode('learner1', learnerAddr, { learner: true });
      assert.deepEqual(added.nodes.filter((n) => n.id === 'learner1').map((n) => [n.raftAddr, n.voter]), [[learnerAddr, false]]);
      const seen = await overGrpc.status();
      assert.ok(seen.nodes.some((n) => n.id === 'learner1'), 'the learner is in the status over gRPC too');
      assert.ok(!(await overGrpc.removeNode('learner1')).nodes.some((n) => n.id === 'learner1'));
      const again = await overGrpc.removeNode('learner1').catch((e: { code?: string }) => e.code);
      assert.equal(again, 'not-found', 'removing a member twice is refused, not repeated');
    } finally {
      overGrpc.close();
      overHttp.close();
    }
  });
});
