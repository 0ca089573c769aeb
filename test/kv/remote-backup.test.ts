// A shard's image fetched from a replica: every byte in order, a batch of about 1 MiB per answer; a reader
// that stops early closes the replica's image; an idle image is dropped; at most four open at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BackupCursors, remoteImage, type BackupOp } from '../../src/kv/remote-backup.ts';
import type { BackupImage, BackupSource } from '../../src/kv/types.ts';
import { ConcordError } from '../../src/util/errors.ts';

/** A source whose image is `n` chunks of `size` bytes, chunk i filled with i % 256; counts cancels. */
function source(n: number, size: number) {
  const state = { cancelled: 0, opened: 0 };
  const svc: BackupSource = {
    async backup(): Promise<BackupImage> {
      state.opened++;
      async function* chunks() {
        for (let i = 0; i < n; i++) yield new Uint8Array(size).fill(i % 256);
      }
      return { appliedIndex: 42, chunks: chunks(), cancel: () => state.cancelled++ };
    },
  };
  return { svc, state };
}

/** Asker and replica in one process; every answer passes through structuredClone, as bytes over the wire. */
function wire(cursors: BackupCursors, svc: Partial<BackupSource>) {
  const calls: string[] = [];
  const run = async (op: BackupOp) => {
    calls.push(op.t);
    return structuredClone(await cursors.run(svc, op));
  };
  return { calls, image: () => remoteImage(run, (_node, op) => run(op)) };
}

describe('remote backup images', () => {
  it('arrive whole and in order, about 1 MiB per answer, and leave nothing open', async () => {
    const { svc, state } = source(40, 100_000);
    const cursors = new BackupCursors('r1');
    const { calls, image } = wire(cursors, svc);
    const img = await image();
    assert.equal(img.appliedIndex, 42);
    let i = 0;
    for await (const c of img.chunks) {
      assert.equal(c.byteLength, 100_000);
      assert.equal(c[0], i++ % 256);
    }
    assert.equal(i, 40);
    assert.equal(calls.filter((t) => t === 'backupNext').length, 4, '11 chunks of 100 kB per answer');
    assert.equal(state.cancelled, 0);
    await assert.rejects(cursors.run(svc, { t: 'backupNext', cursor: 1 }), /no longer open/);
  });

  it('a reader that stops early, or cancels, closes the image on the replica', async () => {
    const { svc, state } = source(40, 100_000);
    const cursors = new BackupCursors('r1');
    const { image } = wire(cursors, svc);
    for await (const _ of (await image()).chunks) break;
    await new Promise((r) => setImmediate(r));
    assert.equal(state.cancelled, 1);
    (await image()).cancel();
    await new Promise((r) => setImmediate(r));
    assert.equal(state.cancelled, 2);
  });

  it('an image not pulled for the idle time is dropped; no more than four open at once', async () => {
    const { svc, state } = source(40, 100_000);
    const idle = new BackupCursors('r1', 20);
    const { image } = wire(idle, svc);
    const img = await image();
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(state.cancelled, 1);
    await assert.rejects(img.chunks[Symbol.asyncIterator]().next(), (e: unknown) => e instanceof ConcordError && e.code === 'unavailable');

    const many = new BackupCursors('r1');
    for (let k = 0; k < 4; k++) await many.run(svc, { t: 'backupOpen' });
    await assert.rejects(many.run(svc, { t: 'backupOpen' }), /already sends 4 images/);
    many.closeAll();
    assert.equal(state.cancelled, 5);
    await many.run(svc, { t: 'backupOpen' });
    many.closeAll();
  });
});
