// The data of a Raft group's snapshots: where it goes (inline in LMDB or a file), its checksum, and
// loading it back verified. Corrupt data is never handed out: reading it throws CorruptSnapshotError.

import type { Snapshot } from '../raft/types.ts';
import { cloneConf } from '../raft/storage.ts';
import path from 'node:path';
import { crc32, crc32OfFile } from './checksum.ts';
import { CorruptSnapshotError } from './errors.ts';
import type { StorageLogger } from './logger.ts';
import type { StoredSnapshot } from './raft-log-state.ts';
import { readSnapshotFile, snapshotFileName, writeFileDurably } from './snapshot-files.ts';

export interface PlacedData {
  where: { inline?: Uint8Array; file?: string; dataCrc: number; dataSize: number };
  /** Writes the file (durably); absent for inline data. */
  write?: () => Promise<void>;
}

export class SnapshotData {
  /** Data we already hold in memory for file-backed snapshots, so reading them back is rarely needed. */
  private readonly known = new Map<string, WeakRef<Uint8Array>>();

  constructor(
    private readonly group: string,
    private readonly dir: string,
    private readonly inlineMax: number,
    private readonly logger: StorageLogger,
    /** Told when data is found corrupt after open, so every state holding that snapshot can be flagged. */
    private readonly onCorrupt: (stored: StoredSnapshot) => void,
  ) {}

  /**
   * Where the data goes, and its checksum. The CRC is computed here, synchronously, from the caller's
   * bytes, unless the caller computed it from them (`crc`): either way, what is checked later is
   * exactly what the state machine or the leader produced. Data given as pieces (to concatenate) is
   * written piece by piece, and read back from its file when wanted.
   */
  place(index: number, data: Uint8Array | readonly Uint8Array[], crc?: number): PlacedData {
    const pieces = data instanceof Uint8Array ? undefined : data;
    const size = pieces ? pieces.reduce((n, p) => n + p.byteLength, 0) : (data as Uint8Array).byteLength;
    if (crc === undefined) crc = pieces ? pieces.reduce((c, p) => crc32(p, c), 0) : crc32(data as Uint8Array);
    const sum = { dataCrc: crc, dataSize: size };
    if (size <= this.inlineMax) return { where: { inline: pieces ? Buffer.concat(pieces) : (data as Uint8Array), ...sum } };
    const file = snapshotFileName(index);
    if (!pieces) this.known.set(file, new WeakRef(data as Uint8Array));
    return { where: { file, ...sum }, write: () => writeFileDurably(this.dir, file, data) };
  }

  /** The file is gone (replaced snapshot): drop what we cached of it. */
  forget(file: string): void {
    this.known.delete(file);
  }

  materialize(stored: StoredSnapshot): Snapshot {
    const meta = { index: stored.meta.index, term: stored.meta.term, confState: cloneConf(stored.meta.confState) };
    if (!stored.file && stored.corrupt === undefined) return { meta, data: stored.inline ?? new Uint8Array(0) };
    const snap = { meta } as Snapshot;
    // A file is loaded on first use: raft/ often wants only the meta, and the data may be hundreds of MB.
    Object.defineProperty(snap, 'data', { enumerable: true, get: () => this.load(stored) });
    return snap;
  }

  private load(stored: StoredSnapshot): Uint8Array {
    const corrupt = () => new CorruptSnapshotError(this.group, stored.meta.index, stored.corrupt!);
    if (stored.corrupt !== undefined) throw corrupt();
    const file = stored.file!;
    const cached = this.known.get(file)?.deref();
    if (cached) return cached;
    let data: Uint8Array | undefined;
    try {
      data = readSnapshotFile(this.dir, file);
      // Checked at open, but the file may have rotted since, or have been written since by this process.
      stored.corrupt = snapshotDataProblem(stored, { crc: crc32(data), size: data.byteLength });
    } catch (err) {
      stored.corrupt = `unreadable: ${(err as Error).message}`;
    }
    if (stored.corrupt !== undefined || !data) {
      this.logger.error({ group: this.group, snapshotIndex: stored.meta.index, file, problem: stored.corrupt }, corrupt().message);
      this.onCorrupt(stored);
      throw corrupt();
    }
    this.known.set(file, new WeakRef(data));
    return data;
  }
}

/**
 * Read all of a stored snapshot's data (a file in 1 MiB pieces) and flag it `corrupt` if it fails its
 * checksum, with one error line: a corrupt snapshot must be known before raft/ would hand it out.
 */
export function verifyStoredSnapshot(group: string, dir: string, snap: StoredSnapshot, logger: StorageLogger): void {
  let actual: { crc: number; size: number };
  try {
    actual = snap.file ? crc32OfFile(path.join(dir, snap.file)) : { crc: crc32(snap.inline ?? new Uint8Array(0)), size: snap.inline?.byteLength ?? 0 };
  } catch (err) {
    snap.corrupt = `unreadable: ${(err as Error).message}`;
    actual = { crc: 0, size: 0 };
  }
  snap.corrupt ??= snapshotDataProblem(snap, actual);
  if (snap.corrupt === undefined) return;
  logger.error(
    { group, snapshotIndex: snap.meta.index, file: snap.file, problem: snap.corrupt },
    `snapshot data of raft group ${group} at index ${snap.meta.index} is corrupt (${snap.corrupt}); it will not be used ` +
      `until replaced by a new snapshot from the state machine or from a peer`,
  );
}

/** Why snapshot data does not match its record, or undefined if it does. */
export function snapshotDataProblem(s: StoredSnapshot, actual: { crc: number; size: number }): string | undefined {
  const size = s.dataSize ?? 0;
  const crc = s.dataCrc ?? 0;
  if (actual.size !== size) return `${actual.size} bytes, ${size} expected`;
  if (actual.crc !== crc) return `checksum mismatch (stored ${hex(crc)}, computed ${hex(actual.crc)})`;
  return undefined;
}

const hex = (n: number) => n.toString(16).padStart(8, '0');
