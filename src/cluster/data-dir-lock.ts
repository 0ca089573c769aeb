// One process per data dir. Two nodes writing one WAL and one LMDB corrupt both, so a node takes the
// dir's lock before it opens anything in it, and a second process is refused with the holder's name.
//
// The lock is a file (`LOCK`) naming its holder: pid, the process's start time and the host. Node has
// no flock(), so a lock left by a killed process is recognised as stale instead of being released by
// the kernel: its pid is gone, or the pid now belongs to a process that started at another time (a
// reused pid). A lock from another host (a data dir on a network file system) is never judged stale.
//
// Taking the lock is atomic: the file is written in full under a private name and then hard-linked to
// `LOCK`, which fails if `LOCK` exists, so nobody ever reads a half-written lock. A stale lock is moved
// aside with rename (atomic, one winner) and checked again after the move: if the file moved is not
// the stale one that was judged (another process replaced it in between), it is linked back.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const LOCK_FILE = 'LOCK';

interface Holder {
  pid: number;
  /** The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for the holder. */
  started: string;
  host: string;
  /** What the holder said it is, for the refusal message. */
  what: string;
}

/** Thrown when another live process holds the data dir. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: Holder,
  ) {
    const where = holder.host === os.hostname() ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`;
    super(
      `${dataDir} is in use by ${holder.what} (${where}); one process per data dir. ` +
        'Give each node its own --data-dir (a node started without one uses ./data/<node id>), or stop the other process first',
    );
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Remove the lock if it is still ours. Idempotent. */
  release(): void;
}

/** Fields 3 on of /proc/PID/stat (Linux), from the state; undefined where there is none. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count from its closing paren.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function processStart(pid: number): string {
  return statFields(pid)?.[19] ?? ''; // field 22, starttime
}

/**
 * Whether `pid` runs. A process killed but not yet reaped by its parent (a zombie: `kill -9` then a restart
 * at once, under a supervisor slow to wait for it) still answers signal 0, but holds nothing.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  const state = statFields(pid)?.[0];
  return state !== 'Z' && state !== 'X';
}

function readHolder(file: string): { text: string; holder?: Holder } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const h = JSON.parse(text) as Holder;
    if (Number.isSafeInteger(h.pid) && typeof h.started === 'string' && typeof h.host === 'string') return { text, holder: h };
  } catch {
    // unreadable: judged below as a lock nobody holds
  }
  return { text };
}

/** Whether the process named in a lock file still runs; a lock it cannot read is held by nobody. */
function held(h: Holder | undefined): boolean {
  if (!h) return false;
  if (h.host !== os.hostname()) return true;
  if (!alive(h.pid)) return false;
  const now = processStart(h.pid);
  return now === '' || h.started === '' || now === h.started;
}

/**
 * Take the lock of `dataDir` (created if missing) for this process, or throw DataDirLockedError naming
 * the live holder. `what` describes this process in the refusal another process would get.
 */
export function lockDataDir(dataDir: string, what: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const mine: Holder = { pid: process.pid, started: processStart(process.pid), host: os.hostname(), what };
  const text = JSON.stringify(mine) + '\n';
  const tmp = path.join(dataDir, `${LOCK_FILE}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(tmp, text);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const found = readHolder(file);
      if (!found) continue; // released between our link and our read
      if (held(found.holder) || attempt >= 5) throw new DataDirLockedError(dataDir, found.holder ?? { ...mine, what: 'another process' });
      takeStale(file, found.text);
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      if (readHolder(file)?.text === text) fs.rmSync(file, { force: true });
    },
  };
}

/** Move a stale lock out of the way; put it back if what moved was not the lock judged stale. */
function takeStale(file: string, staleText: string): void {
  const aside = `${file}.stale.${process.pid}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = readHolder(aside);
  if (moved && moved.text !== staleText) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // a third process took the lock meanwhile; it holds it now
    }
  }
  fs.rmSync(aside, { force: true });
}
