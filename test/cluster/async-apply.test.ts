// RaftGroup applies a batch holding a large value behind the Ready loop (raft-group.ts, apply()), and
// the batches committed while it runs behind it, in order. These tests act out what can go wrong there
// on one real node (real WAL, real LMDB): a failing apply, reads and writes right behind large ones.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import type { StateMachine } from '../../src/cluster/raft-group.ts';
import type { KvStateMachine } from '../../src/kv/state-machine.ts';
import { EntryType } from '../../src/raft/types.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

const MiB = 1 << 20;

async function oneNode(prefix: string): Promise<{ node: NodeCore; sm: KvStateMachine; dir: string }> {
  const dir = tempDir(prefix);
  const [config] = await clusterConfigs(1, dir, { peers: {}, bootstrap: true, requestTimeoutMs: 5_000 });
  const node = await startNodeCore(config, pino({ level: 'silent' }));
  await until('the node to lead', () => node.group.node.status().role === 'leader');
  const sm = (node.group as unknown as { o: { stateMachine: KvStateMachine } }).o.stateMachine;
  return { node, sm, dir };
}

const big = (fill: number, bytes = 2 * MiB): Buffer => Buffer.alloc(bytes, fill);

it('a batch applied behind the Ready loop that fails stops the applies chained behind it: none is applied past it', async () => {
  const { node, sm, dir } = await oneNode('async-apply-fail');
  try {
    // The batch with the large value fails once the next batch is chained behind it: not through the
    // store (which would refuse everything after its own failure), as a decoding error or a failed
    // allocation while copying the value would.
    const original = sm.apply.bind(sm) as StateMachine['apply'];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let failing = false;
    sm.apply = async (entries) => {
      if (entries.some((e) => e.type === EntryType.Normal && e.data.byteLength >= MiB)) {
        failing = true;
        await gate;
        throw new Error('injected apply failure');
      }
      return original(entries);
    };
    const bigPut = node.kv.put(Buffer.from('big'), big(1)).catch((e: Error) => e);
    await until('the large batch to be applying', () => failing);
    const before = sm.appliedIndex();
    const smallPut = node.kv.put(Buffer.from('after'), Buffer.from('small')).catch((e: Error) => e);
    const behind = () => node.group.appliesBehind;
    await until('the next batch to be chained behind it', () => behind() >= 2);
    release();
    await until('the chain to settle', () => behind() === 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(node.kv.getSerializable(Buffer.from('after')), undefined, 'the batch after the failed one was not applied');
    assert.equal(sm.appliedIndex(), before, 'the state machine stays at the failed batch');
    // The node reports that it cannot go on (a concord process then exits 1 with this message).
    const failure = await Promise.race([node.failed, new Promise((r) => setTimeout(() => r(undefined), 1000))]);
    assert.match(String((failure as Error | undefined)?.message), /^the Raft group g0 stopped: injected apply failure$/);
    await node.close();
    assert.ok((await bigPut) instanceof Error);
    assert.ok((await smallPut) instanceof Error);
  } finally {
    await node.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Holds the apply of every batch holding a large entry until release() (then applies it as usual). */
function holdLargeApplies(sm: KvStateMachine): { held: () => number; release: () => void } {
  const original = sm.apply.bind(sm) as StateMachine['apply'];
  let held = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  sm.apply = async (entries) => {
    if (entries.some((e) => e.data.byteLength >= MiB)) {
      held++;
      await gate;
    }
    return original(entries);
  };
  return { held: () => held, release };
}

const pending = async <T>(p: Promise<T>, ms = 300): Promise<boolean> => {
  const marker = Symbol('pending');
  return (await Promise.race([p, new Promise((r) => setTimeout(() => r(marker), ms))])) === marker;
};

for (const leaseReads of [false, true]) {
  it(`reads wait for the state machine, not Raft, while a large batch applies behind the Ready loop; writes behind it apply in order, each answered once applied (${leaseReads ? 'lease reads' : 'ReadIndex'})`, async () => {
    const dir = tempDir('async-apply-reads');
    const [config] = await clusterConfigs(1, dir, { peers: {}, bootstrap: true, requestTimeoutMs: 10_000, leaseReads });
    const node = await startNodeCore(config, pino({ level: 'silent' }));
    let hold: ReturnType<typeof holdLargeApplies> | undefined;
    try {
      await until('the node to lead', () => node.group.node.status().role === 'leader');
      const sm = (node.group as unknown as { o: { stateMachine: KvStateMachine } }).o.stateMachine;
      const k = (s: string) => Buffer.from(s);
      await node.kv.put(k('x'), Buffer.from('x0'));
      hold = holdLargeApplies(sm);
      const bigPut = node.kv.put(k('big'), big(7));
      await until('the large batch to be held', () => hold!.held() === 1);
      // Behind it: a small put (a batch of its own, applied behind the large one), another large one,
      // and a small put again.
      const puts = [node.kv.put(k('x'), Buffer.from('x1')), node.kv.put(k('big'), big(8)), node.kv.put(k('x'), Buffer.from('x2'))];
      await until('Raft to count them all applied', () => node.group.node.status().applied >= sm.appliedIndex() + 4);
      const read = node.kv.get(k('x'));
      const listing = node.kv.list({ prefix: k('') });
      assert.ok(await pending(read), 'a linearizable read waits for the state machine');
      assert.ok(await pending(listing, 10), 'so does a linearizable listing');
      assert.ok(await pending(bigPut, 10), 'the large put is not answered before it is applied');
      assert.equal(Buffer.from(node.kv.getSerializable(k('x'))!.value).toString(), 'x0', 'a serializable read sees the state machine as it is');
      assert.equal(node.kv.getSerializable(k('big')), undefined);
      hold!.release();
      // (A large put is proposed once its command is built, a few turns later than a small one: the
      // proposals' order is not the calls' order, so each key is checked against its own writes.)
      const [big1, x1, big2, x2] = [(await bigPut).revision, ...(await Promise.all(puts)).map((p) => p.revision)];
      assert.ok(x1 < x2 && big1 < big2);
      assert.equal(Buffer.from((await read)!.value).toString(), 'x2', 'the read sees every write committed before it');
      assert.deepEqual((await listing).items.map((r) => [Buffer.from(r.key).toString(), r.modRevision, r.version]), [['big', big2, 2], ['x', x2, 3]], 'each applied once, in log order');
      const b = (await node.kv.get(k('big')))!;
      assert.deepEqual([b.value.byteLength, b.value[0], b.value[2 * MiB - 1]], [2 * MiB, 8, 8]);
    } finally {
      hold?.release();
      await node.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

it('close() waits for the applies behind the Ready loop: after a restart everything answered is there, exactly once', async () => {
  const dir = tempDir('async-apply-close');
  const [config] = await clusterConfigs(1, dir, { peers: {}, bootstrap: true, requestTimeoutMs: 10_000 });
  let node = await startNodeCore(config, pino({ level: 'silent' }));
  let hold: ReturnType<typeof holdLargeApplies> | undefined;
  try {
    await until('the node to lead', () => node.group.node.status().role === 'leader');
    const sm = (node.group as unknown as { o: { stateMachine: KvStateMachine } }).o.stateMachine;
    hold = holdLargeApplies(sm);
    const bigPut = node.kv.put(Buffer.from('big'), big(3));
    const smallPut = node.kv.put(Buffer.from('small'), Buffer.from('s'));
    await until('the large batch to be held', () => hold!.held() === 1);
    await until('Raft to count both applied', () => node.group.node.status().applied >= sm.appliedIndex() + 2);
    const closing = node.close();
    assert.ok(await pending(closing), 'close() waits for the held apply');
    hold.release();
    await closing;
    const [b, s] = await Promise.all([bigPut, smallPut]);
    node = await startNodeCore(config, pino({ level: 'silent' }));
    await until('the node to lead again', () => node.group.node.status().role === 'leader');
    const rb = (await node.kv.get(Buffer.from('big')))!;
    const rs = (await node.kv.get(Buffer.from('small')))!;
    assert.deepEqual([rb.modRevision, rb.version, rb.value.byteLength, rs.modRevision, rs.version], [b.revision, 1, 2 * MiB, s.revision, 1]);
  } finally {
    hold?.release();
    await node.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('on a follower whose large apply is behind, a linearizable read of a write acknowledged by the leader waits for it; then reads there see it', async () => {
  const dir = tempDir('async-apply-follower');
  const nodes: NodeCore[] = [];
  let hold: ReturnType<typeof holdLargeApplies> | undefined;
  try {
    for (const c of await clusterConfigs(3, dir, { requestTimeoutMs: 10_000 })) nodes.push(await startNodeCore(c, pino({ level: 'silent' })));
    await until('every node to know the leader', () => nodes.every((n) => n.group.node.status().leader !== ''));
    const leader = nodes.find((n) => n.group.node.status().role === 'leader')!;
    const follower = nodes.find((n) => n !== leader)!;
    const fsm = (follower.group as unknown as { o: { stateMachine: KvStateMachine } }).o.stateMachine;
    await leader.kv.put(Buffer.from('x'), Buffer.from('x0'));
    await until('the follower to apply x0', () => follower.kv.getSerializable(Buffer.from('x')) !== undefined);
    hold = holdLargeApplies(fsm);
    const { revision } = await leader.kv.put(Buffer.from('big'), big(5));
    await leader.kv.put(Buffer.from('x'), Buffer.from('x1'));
    await until('the follower to hold the large batch', () => hold!.held() === 1);
    const read = follower.kv.get(Buffer.from('x'));
    const readBig = follower.kv.get(Buffer.from('big'));
    assert.ok(await pending(read), 'the read waits for the follower’s state machine');
    assert.equal(Buffer.from(follower.kv.getSerializable(Buffer.from('x'))!.value).toString(), 'x0', 'a serializable read there is behind');
    hold.release();
    assert.equal(Buffer.from((await read)!.value).toString(), 'x1');
    assert.deepEqual([(await readBig)!.modRevision, (await readBig)!.value.byteLength], [revision, 2 * MiB]);
  } finally {
    hold?.release();
    for (const n of nodes) await n.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('a snapshot taken while applies run behind the Ready loop is at the state machine’s index, and the log is not compacted past what it holds', async () => {
  const dir = tempDir('async-apply-snapshot');
  const [config] = await clusterConfigs(1, dir, { peers: {}, bootstrap: true, requestTimeoutMs: 10_000, snapshotEntries: 6, snapshotKeepEntries: 1 });
  let node = await startNodeCore(config, pino({ level: 'silent' }));
  let hold: ReturnType<typeof holdLargeApplies> | undefined;
  try {
    await until('the node to lead', () => node.group.node.status().role === 'leader');
    const sm = (node.group as unknown as { o: { stateMachine: KvStateMachine } }).o.stateMachine;
    const store = sm.store;
    hold = holdLargeApplies(sm);
    const bigPut = node.kv.put(Buffer.from('big'), big(9));
    await until('the large batch to be held', () => hold!.held() === 1);
    const smAt = sm.appliedIndex();
    const puts: Array<Promise<{ revision: number }>> = [];
    for (let i = 0; i < 20; i++) {
      puts.push(node.kv.put(Buffer.from(`k${i}`), Buffer.from(`v${i}`)));
      await new Promise((r) => setTimeout(r, 5)); // batches of their own, mostly
    }
    await until('Raft to count them applied', () => node.group.node.status().applied >= smAt + 21);
    await until('a snapshot to be taken meanwhile', () => node.snapshotter.snapshots > 0);
    await node.snapshotter.idle();
    const storage = (node.group as unknown as { o: { storage: { snapshotIndex(): number } } }).o.storage;
    assert.ok(storage.snapshotIndex() <= sm.appliedIndex(), `snapshot at ${storage.snapshotIndex()}, state machine at ${sm.appliedIndex()}`);
    assert.ok(node.log.firstIndex() <= store.durableAppliedIndex() + 1, `log from ${node.log.firstIndex()}, state machine durable at ${store.durableAppliedIndex()}`);
    assert.equal(sm.appliedIndex(), smAt, 'still held');
    hold.release();
    await bigPut;
    const revisions = (await Promise.all(puts)).map((p) => p.revision);
    await node.close();
    node = await startNodeCore(config, pino({ level: 'silent' }));
    await until('the node to lead again', () => node.group.node.status().role === 'leader');
    for (let i = 0; i < 20; i++) assert.equal((await node.kv.get(Buffer.from(`k${i}`)))?.modRevision, revisions[i]);
    assert.equal((await node.kv.get(Buffer.from('big')))?.value[0], 9);
  } finally {
    hold?.release();
    await node.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
