// The chunked snapshot protocol between two streamers wired back to back, with exact control over which
// chunk is lost or damaged.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotStreamer, type SnapshotAck, type SnapshotChunk } from '../../src/cluster/snapshot-stream.ts';
import { MessageType, type Message } from '../../src/raft/types.ts';
import { until } from '../../testkit/wait.ts';

/** Timers are generous unless a test needs one to fire: a loaded CI machine can delay any message by tens of ms. */
function pair(opts: { lose?: (c: SnapshotChunk) => boolean; damage?: (c: SnapshotChunk) => boolean; resendMs?: number; stallMs?: number } = {}) {
  const finished: boolean[] = [];
  const delivered: Message[] = [];
  const sender: SnapshotStreamer = new SnapshotStreamer({
    self: 'leader',
    chunkBytes: 10,
    window: 2,
    stallMs: opts.stallMs ?? 60_000,
    resendMs: opts.resendMs ?? 60_000,
    sendChunk: (_to, c) => {
      if (opts.lose?.(c)) return;
      const bytes = opts.damage?.(c) ? c.bytes.map((b) => b ^ 1) : c.bytes;
      // `receiver` is declared below; this runs later, once it exists.
      setImmediate(() => receiver.onChunk('leader', { ...c, bytes }));
    },
    sendAck: () => {},
    finished: (_to, ok) => finished.push(ok),
    deliver: () => {},
  });
  const receiver = new SnapshotStreamer({
    self: 'follower',
    chunkBytes: 10,
    window: 2,
    stallMs: 50,
    sendChunk: () => {},
    sendAck: (_to, a: SnapshotAck) => setImmediate(() => sender.onAck('follower', a)),
    finished: () => {},
    deliver: (m) => delivered.push(m),
  });
  const data = Buffer.from('0123456789'.repeat(9) + 'tail');
  const snap: Message = { type: MessageType.Snap, from: 'leader', to: 'follower', term: 3, copy: 7, snapshot: { meta: { index: 42, term: 2, confState: { voters: ['leader', 'follower'], learners: [] } }, data } };
  return { sender, receiver, finished, delivered, snap, data };
}

describe('chunked snapshot streaming', () => {
  it('delivers the whole image, in order, verified, within a window of unacknowledged chunks', async () => {
    // Nothing is lost here, so no resend may happen however slow the machine (the resend timer is long).
    const p = pair();
    p.sender.send(p.snap);
    await until('done', () => p.finished.length === 1);
    assert.deepEqual(p.finished, [true]);
    assert.equal(p.delivered.length, 1);
    assert.deepEqual(Buffer.from(p.delivered[0].snapshot!.data), p.data);
    assert.equal(p.delivered[0].snapshot!.meta.index, 42);
    assert.equal(p.delivered[0].term, 3);
    assert.equal(p.delivered[0].copy, 7, "the leader's number for the copy, which the follower's answer echoes");
    assert.equal(p.sender.chunksSent, 10);
  });

  it('a lost chunk is resent from the first unacknowledged one and the transfer completes', async () => {
    let lost = false;
    const p = pair({ lose: (c) => !lost && c.seq === 3 && (lost = true), resendMs: 10 });
    p.sender.send(p.snap);
    await until('done', () => p.finished.length === 1);
    assert.deepEqual(p.finished, [true]);
    assert.deepEqual(Buffer.from(p.delivered[0].snapshot!.data), p.data);
    assert.ok(p.sender.chunksSent > 10, 'some chunks went twice');
  });

  it('a receiver that stops answering stalls the transfer, which is reported failed; a new one then completes', async () => {
    let silent = true;
    const p = pair({ lose: (c) => silent && c.seq >= 3, stallMs: 300 });
    p.sender.send(p.snap);
    await until('the stalled transfer reported', () => p.finished.length === 1);
    assert.deepEqual(p.finished, [false]);
    assert.equal(p.delivered.length, 0, 'nothing partial is delivered');
    silent = false;
    p.sender.send(p.snap); // what Raft does after the failure report: probe, then send the snapshot again
    await until('the second transfer', () => p.finished.length === 2);
    assert.deepEqual(p.finished, [false, true]);
    assert.deepEqual(Buffer.from(p.delivered[0].snapshot!.data), p.data);
  });

  it('an image damaged on the way fails its CRC and is never delivered', async () => {
    const p = pair({ damage: (c) => c.seq === 5 });
    p.sender.send(p.snap);
    await until('acknowledged', () => p.finished.length === 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(p.delivered.length, 0);
  });
});
