// Damage stored data the way bit rot or tampering would, behind the stores' backs, in the files
// themselves. The store must be closed first.

import fs from 'node:fs';
import path from 'node:path';
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

/** Flip one bit of the current snapshot's file: the one with the highest index in the group's directory. */
export function flipSnapshotFileBit(snapshotDir: string, group: string, byte: number): string {
  const dir = path.join(snapshotDir, group);
  const name = fs.readdirSync(dir).sort().at(-1)!;
  const file = path.join(dir, name);
  const bytes = fs.readFileSync(file);
  bytes[byte] ^= 0x01;
  fs.writeFileSync(file, bytes);
  return file;
}
