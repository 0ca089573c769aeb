// RaftGroup applies a batch holding a large value behind the Ready loop (raft-group.ts, apply()), and
// the batches committed while it runs behind it, in order. These tests act out what can go wrong there
// on one real node (real WAL, real LMDB): a failing apply, reads and writes right behind large ones.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/cluster/node-core.ts';
import type { StateMachine } from '../../src/cluster/raft-group.ts';
import type { KvStateMachine } from '../../src/kv/state-machine.ts';
import { EntryType } from '../../src/raft/types.ts';
import { clusterConfigs, tempDir, until } from './helpers.ts';

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
    // A failed group's Ready loop ends with the error, which nothing awaits before close() (in a
    // concord process it is an unhandled rejection, which ends the process): observed here.
    void (node.group as unknown as { loopDone: Promise<void> }).loopDone.catch(() => undefined);
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
    const behind = () => (node.group as unknown as { appliesBehind: number }).appliesBehind;
    await until('the next batch to be chained behind it', () => behind() >= 2);
    release();
    await until('the chain to settle', () => behind() === 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(node.kv.getSerializable(Buffer.from('after')), undefined, 'the batch after the failed one was not applied');
    assert.equal(sm.appliedIndex(), before, 'the state machine stays at the failed batch');
    await node.close();
    assert.ok((await bigPut) instanceof Error);
    assert.ok((await smallPut) instanceof Error);
  } finally {
    await node.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
