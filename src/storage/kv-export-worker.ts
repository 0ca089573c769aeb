// Reading a KV state machine's records for a snapshot image in a worker thread. The records are
// copied out of LMDB there, not on the event loop: reading a 64 MiB value copies it into fresh
// memory, which blocks the thread long enough to delay Raft's heartbeats. The worker opens the same
// environment (lmdb-js shares it between the threads of a process), reads a group's applied index, its
// leases and every record in one read transaction, so the image is consistent, and posts them in batches; a large
// value's buffer is transferred, not copied. It is plain JavaScript given as source: it must run the
// same under tsx and from the esbuild bundle, where no .ts file is at hand to load.
//
// One worker serves every group of an environment (kv-env.ts owns it), one export at a time: a worker
// is a V8 isolate of its own (several MiB resident), and a node of S shards must not run S of them.

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface WorkerExportOptions {
  /** The environment's directory and its maxDbs (as openKvEnv opened it). */
  path: string;
  maxDbs: number;
  /** Values from this size on have their buffer transferred, not copied. */
  largeBytes: number;
  /**
   * A batch ends at the record that takes it to this many bytes (keys, values and 6 for each record's
   * msgpack headers): exportImage's rule, so both make the same frames.
   */
  batchBytes: number;
}

export interface WorkerExport {
  appliedIndex: number;
  /** The group's leases as [id, ttlMs, expiresAt, ...] (kv-snapshot.ts, flatLeases). */
  leases: number[];
  /** Records as [lmdbKey, lmdbValue, ...], in key order. Iterate to the end. */
  batches: AsyncIterable<Uint8Array[]>;
}


const SOURCE = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { open } = require(w.lmdb);
const root = open({ path: w.path, noSync: true, maxDbs: w.maxDbs });
const meta = root.openDB('kv-meta', {});
parentPort.on('message', (req) => {
  root.resetReadTxn();
  const txn = root.useReadTransaction();
  let error;
  try {
    const m = meta.get(req.group, { transaction: txn }) || { generation: 0, appliedIndex: 0 };
    const leases = [];
    for (const { key, value } of root.openDB(req.leaseDbPrefix + m.generation, {}).getRange({ transaction: txn })) leases.push(key, value[0], value[1]);
    parentPort.postMessage({ appliedIndex: m.appliedIndex, leases });
    const db = root.openDB(req.dbPrefix + m.generation, { keyEncoding: 'binary', encoding: 'binary' });
    let batch = [];
    let transfer = [];
    let bytes = 0;
    const send = () => {
      if (batch.length > 0) parentPort.postMessage({ batch }, transfer);
      batch = [];
      transfer = [];
      bytes = 0;
    };
    for (const { key, value } of db.getRange({ transaction: txn })) {
      batch.push(key, value);
      if (value.byteLength >= w.largeBytes && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) transfer.push(value.buffer);
      bytes += key.byteLength + value.byteLength + 6;
      if (bytes >= w.batchBytes) send();
    }
    send();
  } catch (err) {
    error = String(err && err.stack || err);
  } finally {
    txn.done();
  }
  // Only once the read transaction is done: the parent may end this thread (or close the environment)
  // as soon as it reads this, and ending it inside txn.done() aborted the process.
  parentPort.postMessage(error === undefined ? { end: true } : { error });
});
`;

type Posted = { appliedIndex: number; leases: number[] } | { batch: Uint8Array[] } | { end: true } | { error: string };

/**
 * A worker thread that exports a group's records on request, one export at a time. Started at the
 * first export (unref'd: it never keeps the process alive); close() ends it.
 */
export class ExportWorker {
  private worker: Worker | undefined;
  private readonly queue: Posted[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private closed = false;
  /** The export running, if any: the next waits for it to be read to the end. */
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly o: WorkerExportOptions) {}

  /**
   * Resolves once the worker has read `group`'s applied index (the image's), with its records to come.
   * `dbPrefix`, `leaseDbPrefix`: the group's record and lease databases are named these prefixes and the
   * generation (kv-store.ts).
   */
  async export(group: string, dbPrefix: string, leaseDbPrefix: string): Promise<WorkerExport> {
    const before = this.running;
    let done!: () => void;
    this.running = new Promise<void>((r) => (done = r));
    await before;
    try {
      const worker = this.start();
      worker.postMessage({ group, dbPrefix, leaseDbPrefix });
      const first = await this.next();
      if (!('appliedIndex' in first)) throw new Error('KV export worker: no applied index first');
      return { appliedIndex: first.appliedIndex, leases: first.leases, batches: this.batches(done) };
    } catch (err) {
      done();
      throw err;
    }
  }

  close(): Promise<void> {
    this.closed = true;
    return this.stop();
  }

  /** Ends the worker (a later export starts another, unless closed) and forgets what it posted. */
  private stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.queue.length = 0;
    this.failure = this.closed ? new Error('KV export worker closed') : undefined;
    return w ? w.terminate().then(() => undefined) : Promise.resolve();
  }

  private start(): Worker {
    if (this.closed) throw new Error('KV export worker closed');
    if (this.failure) void this.stop(); // a worker that failed is replaced
    if (this.worker) return this.worker;
    const lmdb = createRequire(import.meta.url).resolve('lmdb');
    const worker = new Worker(SOURCE, { eval: true, workerData: { ...this.o, lmdb } });
    worker.unref();
    worker.on('message', (m: Posted) => {
      if (worker !== this.worker) return;
      this.queue.push(m);
      this.notify();
    });
    worker.on('error', (err) => {
      if (worker !== this.worker) return;
      this.failure ??= err;
      this.notify();
    });
    worker.on('exit', (code) => {
      if (worker !== this.worker) return;
      this.failure ??= new Error(`KV export worker exited (code ${code})`);
      this.notify();
    });
    this.worker = worker;
    return worker;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async next(): Promise<Posted> {
    while (this.queue.length === 0) {
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.wake = r));
    }
    const m = this.queue.shift()!;
    if ('error' in m) throw new Error(`KV export worker: ${m.error}`);
    return m;
  }

  private async *batches(done: () => void): AsyncGenerator<Uint8Array[]> {
    let ended = false;
    try {
      for (;;) {
        const m = await this.next();
        if ('end' in m) {
          ended = true;
          return;
        }
        if ('batch' in m) yield m.batch;
      }
    } finally {
      // Left before the end (or failed): what the worker still posts would be taken for the next export's.
      if (!ended) await this.stop();
      done();
    }
  }
}
