// The image of a shard hosted elsewhere, for a backup taken on a node that does not host every shard. Both
// sides are here. The replica opens the shard's image (its own backup(), after a ReadIndex barrier, so it
// holds every write acknowledged before the request) under a cursor; the asking node pulls it a batch at a
// time (BATCH_BYTES of chunks per answer: the pace is the reader's, so a slow download holds no more than
// that in flight) and closes the cursor if it stops early. A cursor idle for IDLE_MS is dropped, so an
// asker that went away does not hold a read transaction open on the replica for long; it is generous
// because a backup opens every shard's image before it streams the first (the body's headers name every
// image's index), so the last ones wait while the others are downloaded.

import { ConcordError } from '../util/errors.ts';
import type { BackupImage, BackupSource } from './types.ts';

/** Chunks sent in one answer, at least one whatever its size. */
const BATCH_BYTES = 1 << 20;
/** A cursor not pulled for this long is dropped (its image cancelled). */
const IDLE_MS = 10 * 60_000;
/** Images open at once on one node for other nodes' backups. */
const MAX_OPEN = 4;

export type BackupOp = { t: 'backupOpen' } | { t: 'backupNext'; cursor: number } | { t: 'backupClose'; cursor: number };

export interface BackupBatch {
  chunks: Uint8Array[];
  done: boolean;
}

/** The replica's side: images opened for other nodes, by cursor. */
export class BackupCursors {
  private nextId = 1;
  constructor(
    private readonly self: string,
    private readonly idleMs = IDLE_MS,
  ) {}

  private readonly open = new Map<number, { image: BackupImage; it: AsyncIterator<Uint8Array>; timer: NodeJS.Timeout }>();

  /** Runs `op`; `svc` (the shard's service here) is needed to open an image only. */
  async run(svc: Partial<BackupSource> | undefined, op: BackupOp): Promise<unknown> {
    switch (op.t) {
      case 'backupOpen':
        if (!svc) throw new ConcordError('unavailable', 'this node does not serve the shard', 1);
        return this.start(svc);
      case 'backupNext':
        return this.next(op.cursor);
      case 'backupClose':
        this.close(op.cursor);
        return null;
    }
  }

  private async start(svc: Partial<BackupSource>): Promise<{ cursor: number; appliedIndex: number; node: string }> {
    if (!svc.backup) throw new ConcordError('not-implemented', "this replica's store cannot take a backup");
    if (this.open.size >= MAX_OPEN) throw new ConcordError('unavailable', `this replica already sends ${MAX_OPEN} images for backups; retry shortly`, 5);
    const image = await svc.backup();
    const cursor = this.nextId++;
    this.open.set(cursor, { image, it: image.chunks[Symbol.asyncIterator](), timer: this.idleTimer(cursor) });
    return { cursor, appliedIndex: image.appliedIndex, node: this.self };
  }

  private async next(cursor: number): Promise<BackupBatch> {
    const c = this.open.get(cursor);
    if (!c) throw new ConcordError('unavailable', 'the backup image is no longer open on the replica (idle too long, or the replica restarted); take the backup again', 1);
    clearTimeout(c.timer);
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    try {
      while (bytes < BATCH_BYTES) {
        const r = await c.it.next();
        if (r.done) {
          this.open.delete(cursor);
          return { chunks, done: true };
        }
        chunks.push(r.value);
        bytes += r.value.byteLength;
      }
    } catch (e) {
      this.close(cursor);
      throw e;
    }
    c.timer = this.idleTimer(cursor);
    return { chunks, done: false };
  }

  close(cursor: number): void {
    const c = this.open.get(cursor);
    if (!c) return;
    clearTimeout(c.timer);
    this.open.delete(cursor);
    c.image.cancel();
  }

  closeAll(): void {
    for (const id of [...this.open.keys()]) this.close(id);
  }

  private idleTimer(cursor: number): NodeJS.Timeout {
    const t = setTimeout(() => this.close(cursor), this.idleMs);
    t.unref();
    return t;
  }
}

/**
 * The asking side: the image of a shard through `call` (any replica; the answer names the one that opened it)
 * and then `callOn` that replica for its batches.
 */
export async function remoteImage(
  call: (op: BackupOp) => Promise<unknown>,
  callOn: (node: string, op: BackupOp) => Promise<unknown>,
): Promise<BackupImage> {
  const { cursor, appliedIndex, node } = (await call({ t: 'backupOpen' })) as { cursor: number; appliedIndex: number; node: string };
  let finished = false;
  const close = () => {
    if (finished) return;
    finished = true;
    callOn(node, { t: 'backupClose', cursor }).catch(() => undefined);
  };
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      while (!finished) {
        const batch = (await callOn(node, { t: 'backupNext', cursor })) as BackupBatch;
        if (batch.done) finished = true;
        for (const c of batch.chunks) yield c;
      }
    } finally {
      close();
    }
  }
  return { appliedIndex, chunks: chunks(), cancel: close };
}
