// Exporting a KV state machine as an image and importing one (format: kv-snapshot-format.ts).

import type { Database, RootDatabase, Transaction } from 'lmdb';
import { checkKey, encodeRecord, isHashedKey, isStoredRecord, storedKey } from './kv-record.ts';
import { FORMAT, FORMAT_VERSION, FrameEncoder, fromTuple, LARGE_FIELD_BYTES, READABLE_VERSIONS, readFrames } from './kv-snapshot-format.ts';
import type { KvMeta } from './kv-store.ts';
import { leasesOfFrame, type LeaseDb } from './lease-table.ts';
import { crc32, crc32InSlices } from './checksum.ts';
import { copyInSlices } from '../util/sliced-work.ts';

type DataDb = Database<Buffer, Buffer>;

/** An image being exported: iterate it to the end, or cancel() it, to release its read transaction. */
export interface KvSnapshotExport extends AsyncIterable<Uint8Array> {
  /** The applied index the image reflects: the index to give Raft's createSnapshot. */
  readonly appliedIndex: number;
  cancel(): void;
}

/** Pin a read transaction now, so the image is the state at the moment of the call. */
const YIELD_EVERY_RECORDS = 500;

export function exportImage(
  root: RootDatabase,
  meta: Database<KvMeta, string>,
  group: string,
  dbsFor: (generation: number) => { data: DataDb; leases: LeaseDb },
  chunkBytes: number,
): KvSnapshotExport {
  root.resetReadTxn();
  const txn: Transaction = root.useReadTransaction();
  let released = false;
  const release = () => {
    if (!released) txn.done();
    released = true;
  };
  let state: KvMeta;
  try {
    state = meta.get(group, { transaction: txn }) ?? { generation: 0, appliedIndex: 0 };
  } catch (err) {
    release();
    throw err;
  }
  const { data: db, leases } = dbsFor(state.generation);
  async function* frames(): AsyncGenerator<Uint8Array> {
    try {
      if (released) throw new Error('KV snapshot export was cancelled');
      const encoder = new FrameEncoder();
      const flat = flatLeases(leases.getRange({ transaction: txn }));
      yield encoder.encode({ format: FORMAT, version: imageVersion(flat), appliedIndex: state.appliedIndex });
      if (flat.length > 0) yield encoder.encode({ leases: flat });
      let batch: Uint8Array[] = [];
      let bytes = 0;
      let count = 0;
      for (const { key, value } of db.getRange({ transaction: txn })) {
        batch.push(key, value);
        bytes += key.byteLength + value.byteLength + 6; // and about the msgpack header of each
        count++;
        if (bytes >= chunkBytes) {
          yield encoder.encode({ stored: batch });
          batch = [];
          bytes = 0;
        }
        // Let the event loop run every few hundred records (~5 ms of work): an export in one go stalled the
        // node's heartbeats and requests (10,000 keys: ~150 ms per node; 500,000: seconds, and 504s while
        // every node still snapshotted at about the same index).
        if (count % YIELD_EVERY_RECORDS === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      if (batch.length > 0) yield encoder.encode({ stored: batch });
      yield encoder.encode({ end: true, count });
    } finally {
      release();
    }
  }
  return { appliedIndex: state.appliedIndex, cancel: release, [Symbol.asyncIterator]: frames };
}

/**
 * The version an image is written in: 4 with leases, else 3, which a node of the version before leases reads
 * too (a cluster upgraded one node at a time keeps installing snapshots until leases are used).
 */
function imageVersion(leases: readonly number[]): number {
  return leases.length > 0 ? FORMAT_VERSION : 3;
}

/** Leases as a snapshot's leases frame holds them: [id, ttlMs, expiresAt, ...]. */
export function flatLeases(entries: Iterable<{ key: number; value: [number, number] }>): number[] {
  const flat: number[] = [];
  for (const { key, value } of entries) flat.push(key, value[0], value[1]);
  return flat;
}

/**
 * An image of the leases `leases` (flatLeases) and the records in `batches` ([lmdbKey, lmdbValue, ...] in key order) at `appliedIndex`, as
 * the buffers to concatenate, and the CRC-32 of the whole image. Large values are neither copied
 * into their frames nor checksummed in one step (FrameEncoder.encodeParts), so a 64 MiB value costs
 * the event loop no long step; nor are the pieces joined: a snapshot's data is written to its file
 * piece by piece.
 */
export async function imageOf(appliedIndex: number, leases: number[], batches: AsyncIterable<Uint8Array[]>): Promise<{ parts: Uint8Array[]; crc: number }> {
  const encoder = new FrameEncoder();
  const parts: Uint8Array[] = [encoder.encode({ format: FORMAT, version: imageVersion(leases), appliedIndex })];
  if (leases.length > 0) parts.push(encoder.encode({ leases }));
  let count = 0;
  for await (const batch of batches) {
    count += batch.length / 2;
    const large = batch.some((b) => b.byteLength >= LARGE_FIELD_BYTES);
    if (large) parts.push(...(await encoder.encodeParts({ stored: batch })));
    else parts.push(encoder.encode({ stored: batch }));
  }
  parts.push(encoder.encode({ end: true, count }));
  let crc = 0;
  for (const p of parts) crc = p.byteLength >= LARGE_FIELD_BYTES ? await crc32InSlices(p, crc) : crc32(p, crc);
  return { parts, crc };
}

/** The parts as one buffer, copied a slice per event-loop turn. */
export async function joined(parts: readonly Uint8Array[]): Promise<Uint8Array> {
  let total = 0;
  for (const p of parts) total += p.byteLength;
  const data = Buffer.allocUnsafe(total);
  let at = 0;
  for (const p of parts) {
    if (p.byteLength >= LARGE_FIELD_BYTES) await copyInSlices(p, data, at);
    else data.set(p, at);
    at += p.byteLength;
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export interface ImportArgs {
  meta: Database<KvMeta, string>;
  group: string;
  /** The group's meta now (restored as it is if the import fails). */
  current: KvMeta;
  generation: number;
  open: (generation: number) => DataDb;
  openLeases: (generation: number) => LeaseDb;
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  index: number;
}

/**
 * Fill `generation` from the image and make it current in one meta write. The `importing` marker is
 * committed before any data, so a crash mid-import lets the next open drop the partial generation.
 * Any failure, a frame failing its checksum included, drops the new generation: the old state stays.
 */
export async function importImage(a: ImportArgs): Promise<{ db: DataDb }> {
  const current = a.current;
  await a.meta.put(a.group, { ...current, importing: a.generation });
  const db = a.open(a.generation);
  const leaseDb = a.openLeases(a.generation);
  try {
    await db.clearAsync();
    await leaseDb.clearAsync();
    let version = 0; // the image's, once its header frame is read
    let ended = false;
    let count = 0;
    let frames = 0;
    for await (const frame of readFrames(a.chunks)) {
      if (ended) throw new Error('KV snapshot has data after its end frame');
      frames++;
      if (version === 0) {
        if (!('format' in frame) || frame.format !== FORMAT || !READABLE_VERSIONS.includes(frame.version)) {
          throw new Error('not a Concord KV snapshot (or an unsupported version)');
        }
        if (frame.appliedIndex !== a.index) {
          throw new Error(`KV snapshot was taken at index ${frame.appliedIndex}, not ${a.index}`);
        }
        version = frame.version;
      } else if ('leases' in frame) {
        if (version < 4 || frames !== 2) throw new Error('malformed KV snapshot frame');
        let last: Promise<boolean> | undefined;
        for (const [id, lease] of leasesOfFrame(frame.leases)) last = leaseDb.put(id, [lease.ttlMs, lease.expiresAt]);
        await last;
      } else if ('stored' in frame) {
        const stored = frame.stored;
        if (version < 3 || stored.length % 2 !== 0) throw new Error('malformed KV snapshot frame');
        let last: Promise<boolean> | undefined;
        for (let i = 0; i < stored.length; i += 2) {
          const key = stored[i];
          const value = stored[i + 1];
          if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array) || !isStoredRecord(key, value)) {
            throw new Error('malformed record in KV snapshot');
          }
          last = db.put(asBuffer(key), asBuffer(value));
          count++;
        }
        await last; // one commit per frame, as below
      } else if ('records' in frame && version < 3) {
        let last: Promise<boolean> | undefined;
        for (const t of frame.records) {
          const r = fromTuple(t);
          checkKey(r.key);
          const sk = storedKey(r.key);
          last = db.put(sk, encodeRecord(r, isHashedKey(sk)));
          count++;
        }
        // One commit per frame keeps memory bounded by the frame size, not the image size.
        await last;
      } else if ('end' in frame) {
        if (frame.count !== count) throw new Error(`KV snapshot is truncated: ${count} of ${frame.count} records`);
        ended = true;
      } else {
        throw new Error('malformed KV snapshot frame');
      }
    }
    if (version === 0 || !ended) throw new Error('KV snapshot is truncated');
    await a.meta.put(a.group, { generation: a.generation, appliedIndex: a.index, dropping: current.generation });
    return { db };
  } catch (err) {
    await db.drop();
    await leaseDb.drop();
    await a.meta.put(a.group, current);
    throw err;
  }
}
