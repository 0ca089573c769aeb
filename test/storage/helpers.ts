// Shared by the storage tests: a fresh directory per test, removed afterwards, and byte helpers.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { Entry } from '../../src/raft/types.ts';

export function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'concord-storage-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

export function entry(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: 0, data: bytes(data) };
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

/** Counts event-loop turns (one setImmediate each) from now until the returned stop(), which gives the count. */
export function countTurns(): () => number {
  let turns = 0;
  let ticking = true;
  const tick = () => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  return () => {
    ticking = false;
    return turns;
  };
}
