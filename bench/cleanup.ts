// Cleanup that also runs on Ctrl-C, SIGTERM and on exit: every registered function (synchronous: kill
// processes, remove temp dirs) runs once, last registered first, and then any child process of this one
// still alive is killed by its pid (a cluster that failed half-way through starting leaves some).
import fs from 'node:fs';

const cleanups = new Set<() => void>();
let installed = false;

/** Registers fn; the returned function unregisters it (call it once the thing is cleaned up normally). */
export function onCleanup(fn: () => void): () => void {
  install();
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export function runCleanups(): void {
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn);
    try {
      fn();
    } catch (e) {
      console.error('cleanup failed:', e);
    }
  }
  killChildren();
}

/** SIGKILL every live process whose parent is this process. */
function killChildren(): void {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) process.kill(Number(e), 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\n${sig}: stopping every process the benchmark started and removing its temp dirs`);
      runCleanups();
      process.exit(130);
    });
  }
  process.once('exit', runCleanups);
}
