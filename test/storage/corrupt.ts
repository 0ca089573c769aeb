// Damage stored data the way bit rot or tampering would, behind the stores' backs: through a raw
// lmdb handle (values rewritten without their checksums updated), or in the files themselves. The
// store must be closed first.

import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { pino, type Logger } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A real pino logger whose lines are kept for the test to inspect. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

export const WARN = 40;
export const ERROR = 50;

/** Run `fn` on the raw raft-log and raft-meta databases of the environment at `envPath`. */
export async function withRawRaftEnv(
  envPath: string,
  fn: (dbs: { log: ReturnType<typeof openLog>; meta: ReturnType<typeof openMeta> }) => void,
): Promise<void> {
  const root = open({ path: envPath, maxDbs: 4 });
  try {
    fn({ log: openLog(root), meta: openMeta(root) });
  } finally {
    await root.close();
  }
}

const openLog = (root: ReturnType<typeof open>) => root.openDB<Buffer, [string, number]>('raft-log', { encoding: 'binary' });
const openMeta = (root: ReturnType<typeof open>) => root.openDB<Record<string, unknown>, [string, string]>('raft-meta', {});

/** Flip one bit of entry `index`'s stored value (bit counted from the value's first byte). */
export async function flipEntryBit(envPath: string, group: string, index: number, bit: number): Promise<void> {
  await withRawRaftEnv(envPath, ({ log }) => {
    const value = Buffer.from(log.getBinary([group, index])!);
    value[bit >> 3] ^= 1 << (bit & 7);
    log.putSync([group, index], value);
  });
}

/** Replace entry `index`'s stored value with other bytes. */
export async function overwriteEntry(envPath: string, group: string, index: number, bytes: Uint8Array): Promise<void> {
  await withRawRaftEnv(envPath, ({ log }) => log.putSync([group, index], Buffer.from(bytes)));
}

/** Flip one bit in every place where `marker` occurs in `file`; returns how many places. */
export function flipBitInFile(file: string, marker: Buffer, offsetInMarker = 0): number {
  const bytes = fs.readFileSync(file);
  let found = 0;
  for (let at = bytes.indexOf(marker); at >= 0; at = bytes.indexOf(marker, at + 1)) {
    bytes[at + offsetInMarker] ^= 0x10;
    found++;
  }
  fs.writeFileSync(file, bytes);
  return found;
}

/** Flip one bit of the only file in a group's snapshot directory. */
export function flipSnapshotFileBit(snapshotDir: string, group: string, byte: number): string {
  const dir = path.join(snapshotDir, group);
  const [name] = fs.readdirSync(dir);
  const file = path.join(dir, name);
  const bytes = fs.readFileSync(file);
  bytes[byte] ^= 0x01;
  fs.writeFileSync(file, bytes);
  return file;
}
