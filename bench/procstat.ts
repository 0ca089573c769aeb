// What /proc says about a process: resident memory and CPU time used (Linux only).
import fs from 'node:fs';

export interface Rss {
  /** VmRSS: everything resident, including file pages mapped in (LMDB's and bbolt's data files). */
  rssMiB: number;
  /** RssAnon: the process's own heap and stacks. */
  anonMiB: number;
  /** RssFile: resident pages of mapped files. */
  fileMiB: number;
}

export function rss(pid: number): Rss {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / 1024, anonMiB: kb('RssAnon') / 1024, fileMiB: kb('RssFile') / 1024 };
}

/** User + system CPU seconds a process has used so far (assumes the usual 100 clock ticks a second). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state(0) ppid(1) … utime(11) stime(12).
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
