// How long the calling thread has run on a CPU, to tell an event loop that was busy from a process
// the kernel did not schedule (both make timers late). Linux only: /proc/thread-self/stat.

import fs from 'node:fs';

/** USER_HZ, the unit of /proc's CPU times: 100 on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;
let unavailable = false;

/** Milliseconds of CPU (user and system) this thread has used, at a 10 ms granularity; undefined where unknown. */
export function threadCpuMs(): number | undefined {
  if (unavailable) return undefined;
  try {
    const stat = fs.readFileSync('/proc/thread-self/stat', 'latin1');
    // After the command name (in parentheses, which may hold anything): state, then fields 4.. of proc(5).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND; // utime, stime
  } catch {
    unavailable = true;
    return undefined;
  }
}
