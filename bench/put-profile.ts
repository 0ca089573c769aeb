// npx tsx bench/put-profile.ts: where a put's CPU goes on each node, Concord --shards S for each S in
// PROFILE_SHARDS (default 1,6), under the load bench/shard-puts.ts puts on a cluster (one wrk per node, 64
// connections in all, random keys of 10,000, 100-byte values). Per S: 3 processes started with
// `--perf-basic-prof --interpreted-frames-native-stack` and a counting preload (below), wait until every
// shard has a leader and leadership has spread, PROFILE_WARMUP s of load (JIT), then two measured windows of
// PROFILE_SECONDS s each:
//   counts:  the preload's counters at the window's start and end (SIGUSR2): the Ready loop's wakeups
//            (setImmediate of RaftGroup.wakeLoop, by the callback's name), the transport's flush turns
//            (flushDirty), WAL writes (fs.writev calls: only the WAL uses it), their bytes and the SAVE records
//            in them (one per Ready that wrote) with their entries, frames written on peer sockets (write()
//            on sockets from net.connect: only the peer links dial); and
//            `perf stat --per-thread` over the window ±0.5 s for syscalls and two uprobes in lmdb-js's
//            LMDB (mdb_txn_commit; mdb_env_write_meta = a write transaction that changed something);
//   profile: `perf record -F 999 -g -e cpu-clock` of the three processes (all threads); each sample is
//            given to a category (categorize() below; JIT frames named through the bundle's source map), and
//            each node's shares are scaled to its CPU in the window from /proc, over the window's puts.
// The report: every category, the same grouped (as bench/README.md shows it), kernel time by system call,
// and the counts per put (perf stat's figures less one second of the idle rate measured just before).
// Nothing in src/ is changed: the counters wrap public node APIs from a preload (NODE_OPTIONS --import).
// Snapshots are pushed out of the window (--snapshot-entries 10000000; bench/README.md: a log that is not
// compacted over 30 s did not change the CPU per put).
//
// Runs from the tree it is in (bin/concord.js builds a bundle of src/); run it from a clean clone when
// src/ is being edited. Writes PROFILE_DIR (default a new temp dir): per S perf data, counters and run.json, and report.md; prints
// markdown. `npx tsx bench/put-profile.ts --analyze DIR` re-analyses a saved run. Needs perf and root (uprobes).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { concordCluster } from './concord-cluster.ts';
import { PUT_SCRIPT, spreadPut, waitSpread, type SpreadResult } from './shard-puts.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const num = (name: string, dflt: number) => (process.env[name] ? Number(process.env[name]) : dflt);
const SHARDS = (process.env.PROFILE_SHARDS || '1,6').split(',').map(Number);
const WARMUP = num('PROFILE_WARMUP', 15);
const SECONDS = num('PROFILE_SECONDS', 10);
const CONNS = 64;
const LMDB_NATIVE = (() => {
  try {
    return fs.realpathSync(path.join(root, 'node_modules/@lmdb/lmdb-linux-x64', `node.abi${process.versions.modules}.glibc.node`));
  } catch {
    return undefined;
  }
})();
const PROBES = ['mdb_txn_commit', 'mdb_env_write_meta'];
const SYSCALLS = ['writev', 'write', 'pwrite64', 'pwritev', 'fdatasync', 'fsync', 'sendmsg', 'sendto', 'read', 'readv', 'recvfrom', 'epoll_wait', 'epoll_pwait', 'futex', 'io_uring_enter'];

const log = (msg: string) => console.error(`[put-profile] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the preload (plain JavaScript: the servers run without tsx) ---------------------------------------

const PRELOAD = `
import fs from 'node:fs';
import net from 'node:net';
const c = { immediates: {}, walWrites: 0, walBytes: 0, walSaves: 0, walSavesWithEntries: 0, walEntries: 0, peerSockets: 0, peerWrites: 0, peerBytes: 0 };
// WAL records (raft-wal-format.ts): u32 body length | u32 CRC | u8 kind | u16 + group | …; a SAVE (kind 2) is one
// Ready's write: u8 flags (1 hard state: f64 term, f64 commit, u16 + vote; 2 snapshot: u32 + bytes) | f64 first index | u32 count | ….
const records = (b) => {
  let at = 0;
  while (at + 9 <= b.byteLength) {
    const len = b.readUInt32LE(at);
    if (b[at + 8] === 2) {
      c.walSaves++;
      let p = at + 9;
      p += 2 + b.readUInt16LE(p);
      const flags = b[p++];
      if (flags & 1) p += 18 + b.readUInt16LE(p + 16);
      if (flags & 2) p += 4 + b.readUInt32LE(p);
      if (p + 12 <= b.byteLength) {
        const n = b.readUInt32LE(p + 8);
        c.walEntries += n;
        if (n > 0) c.walSavesWithEntries++;
      }
    }
    at += 8 + len;
  }
};
const si = globalThis.setImmediate;
const wrapped = function setImmediate(fn, ...args) {
  const n = (fn && fn.name) || 'anonymous';
  c.immediates[n] = (c.immediates[n] || 0) + 1;
  return si.call(this, fn, ...args);
};
for (const k of Reflect.ownKeys(si)) if (!(k in wrapped)) Object.defineProperty(wrapped, k, Object.getOwnPropertyDescriptor(si, k));
globalThis.setImmediate = wrapped;
const wv = fs.writev;
fs.writev = function writev(fd, bufs, ...rest) {
  c.walWrites++;
  for (const b of bufs) {
    c.walBytes += b.byteLength;
    records(b);
  }
  return wv.call(this, fd, bufs, ...rest);
};
const connect = net.connect;
net.connect = function (...a) {
  const s = connect.apply(this, a);
  c.peerSockets++;
  const w = s.write;
  s.write = function (chunk, ...r) {
    c.peerWrites++;
    c.peerBytes += chunk.length;
    return w.call(this, chunk, ...r);
  };
  return s;
};
process.on('SIGUSR2', () => fs.appendFileSync(process.env.PUT_PROFILE_COUNTERS + '/counters-' + process.pid + '.jsonl', JSON.stringify({ t: Date.now(), ...c }) + '\\n'));
`;

interface Counters {
  t: number;
  immediates: Record<string, number>;
  walWrites: number;
  walBytes: number;
  walSaves?: number;
  walSavesWithEntries?: number;
  walEntries?: number;
  peerSockets: number;
  peerWrites: number;
  peerBytes: number;
}

// ---- /proc ------------------------------------------------------------------------------------------

/** CPU seconds of each thread of `pid`, by tid, with its name. */
function threadCpu(pid: number): Map<number, { comm: string; s: number }> {
  const out = new Map<number, { comm: string; s: number }>();
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(t), { comm, s: (Number(f[11]) + Number(f[12])) / 100 });
    } catch {
      /* exited */
    }
  }
  return out;
}

interface ProcCpu {
  /** CPU seconds in the window: the whole process, its main thread. */
  total: number;
  main: number;
  /** Other threads by name. */
  others: Record<string, number>;
}

function cpuDelta(pid: number, a: Map<number, { comm: string; s: number }>, b: Map<number, { comm: string; s: number }>): ProcCpu {
  const r: ProcCpu = { total: 0, main: 0, others: {} };
  for (const [tid, x] of b) {
    const d = x.s - (a.get(tid)?.s ?? 0);
    r.total += d;
    if (tid === pid) r.main += d;
    else r.others[x.comm] = (r.others[x.comm] ?? 0) + d;
  }
  return r;
}

// ---- one S ------------------------------------------------------------------------------------------

interface NodeInfo {
  id: string;
  pid: number;
  /** Shards (data groups) this node leads, and whether it leads g0. */
  leads: number;
}

interface Window {
  wallS: number;
  load1: number;
  r: SpreadResult;
  cpu: Record<string, ProcCpu>;
}

interface SRun {
  shards: number;
  nodes: NodeInfo[];
  bundle: string;
  counts: Window & { before: Record<string, Counters>; after: Record<string, Counters>; perfStat: Record<string, Record<string, number>>; idlePerfStat: Record<string, Record<string, number>>; idleS: number; perfStatS: number };
  profile: Window;
}

async function runOne(shards: number, dir: string): Promise<SRun> {
  const sdir = path.join(dir, `s${shards}`);
  fs.mkdirSync(sdir, { recursive: true });
  const preload = path.join(dir, 'preload.mjs');
  const nodeOptions = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `--perf-basic-prof --interpreted-frames-native-stack --import ${preload}`;
  process.env.PUT_PROFILE_COUNTERS = sdir;
  log(`S=${shards}: starting 3 nodes`);
  const { cluster, stop } = await concordCluster(3, ['--shards', String(shards), '--snapshot-entries', '10000000']);
  if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = nodeOptions;
  try {
    const { shards: view, ms } = await waitSpread(cluster.nodes, shards);
    const g0 = await fetch(`${cluster.nodes[0].url}/v1/cluster`).then((r) => r.json() as Promise<{ leader?: string; shards: Array<{ id: string; leader: string }> }>);
    const nodes: NodeInfo[] = cluster.nodes.map((n) => ({ id: n.id, pid: n.proc!.pid!, leads: view.filter((s) => s.leader === n.id).length }));
    log(`S=${shards}: spread after ${ms} ms: ${nodes.map((n) => `${n.id} (pid ${n.pid}) leads ${n.leads}`).join(', ')}; g0 leader ${g0.leader ?? '?'}`);
    const urls = cluster.nodes.map((n) => n.url);
    const script = PUT_SCRIPT.concord;
    const pids = nodes.map((n) => n.pid);
    const snap = () => Object.fromEntries(nodes.map((n) => [n.id, threadCpu(n.pid)]));
    const delta = (a: ReturnType<typeof snap>, b: ReturnType<typeof snap>) => Object.fromEntries(nodes.map((n) => [n.id, cpuDelta(n.pid, a[n.id], b[n.id])]));
    const readCounters = async (): Promise<Record<string, Counters>> => {
      for (const p of pids) process.kill(p, 'SIGUSR2');
      await sleep(300);
      return Object.fromEntries(nodes.map((n) => {
        const lines = fs.readFileSync(path.join(sdir, `counters-${n.pid}.jsonl`), 'utf8').trim().split('\n');
        return [n.id, JSON.parse(lines[lines.length - 1]) as Counters];
      }));
    };
    const perfStat = (seconds: number, out: string) => {
      const events = [...SYSCALLS.map((s) => `syscalls:sys_enter_${s}`), ...(LMDB_NATIVE ? PROBES.map((p) => `probe_put_profile:${p}`) : [])];
      return new Promise<void>((resolve, reject) => {
        const p = spawn('perf', ['stat', '--per-thread', '-x', ',', '-o', out, '-e', events.join(','), '-p', pids.join(','), '--', 'sleep', String(seconds)], { stdio: 'ignore' });
        p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`perf stat exited ${code}`))));
      });
    };

    log(`S=${shards}: warm-up ${WARMUP} s`);
    await spreadPut(urls, script, CONNS, WARMUP);

    // Idle syscalls and probes (to take out of the counts window's extra second).
    const idleS = 2;
    await perfStat(idleS, path.join(sdir, 'perf-stat-idle.csv'));

    // Counts window.
    log(`S=${shards}: counts window ${SECONDS} s`);
    const perfStatS = SECONDS + 1;
    const stat = perfStat(perfStatS, path.join(sdir, 'perf-stat.csv'));
    await sleep(500);
    const before = await readCounters();
    let c0 = snap();
    let w0 = performance.now();
    const rc = await spreadPut(urls, script, CONNS, SECONDS);
    let wallS = (performance.now() - w0) / 1000;
    let cpu = delta(c0, snap());
    const after = await readCounters();
    const load1c = os.loadavg()[0];
    await stat;
    const counts = { wallS, load1: load1c, r: rc, cpu, before, after, perfStat: readPerfStat(path.join(sdir, 'perf-stat.csv'), nodes), idlePerfStat: readPerfStat(path.join(sdir, 'perf-stat-idle.csv'), nodes), idleS, perfStatS };
    log(`S=${shards}: ${Math.round(rc.rps)} puts/s, load ${load1c.toFixed(1)}`);

    // Profile window.
    log(`S=${shards}: profile window ${SECONDS} s`);
    const perfData = path.join(sdir, 'perf.data');
    const rec = spawn('perf', ['record', '-F', '999', '-g', '-e', 'cpu-clock', '-o', perfData, '-p', pids.join(','), '--', 'sleep', String(SECONDS + 0.5)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let recErr = '';
    rec.stderr.on('data', (d) => (recErr += String(d)));
    const recDone = new Promise<void>((resolve) => rec.once('exit', () => resolve()));
    await sleep(300);
    c0 = snap();
    w0 = performance.now();
    const rp = await spreadPut(urls, script, CONNS, SECONDS);
    wallS = (performance.now() - w0) / 1000;
    cpu = delta(c0, snap());
    const load1p = os.loadavg()[0];
    await recDone;
    fs.writeFileSync(path.join(sdir, 'perf-record.stderr'), recErr);
    log(`S=${shards}: ${Math.round(rp.rps)} puts/s, load ${load1p.toFixed(1)}`);
    // Keep the JIT maps: perf script needs them after the processes are gone.
    for (const p of pids) fs.copyFileSync(`/tmp/perf-${p}.map`, path.join(sdir, `perf-${p}.map`));
    const bundle = fs.readdirSync(path.join(root, 'dist')).filter((f) => /^concord-[0-9a-f]+\.mjs$/.test(f)).map((f) => path.join(root, 'dist', f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
    const run: SRun = { shards, nodes, bundle, counts, profile: { wallS, load1: load1p, r: rp, cpu } };
    fs.writeFileSync(path.join(sdir, 'run.json'), JSON.stringify(run, null, 1));
    return run;
  } finally {
    await stop();
  }
}

function readPerfStat(file: string, nodes: NodeInfo[]): Record<string, Record<string, number>> {
  // --per-thread -x,: "comm-tid,count,unit,event,..." — summed per process and per main thread / others.
  const out: Record<string, Record<string, number>> = {};
  for (const n of nodes) out[n.id] = {};
  const threads = new Map<number, string>();
  for (const n of nodes) {
    try {
      for (const t of fs.readdirSync(`/proc/${n.pid}/task`)) threads.set(Number(t), n.id);
    } catch {
      /* gone */
    }
  }
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(',');
    if (f.length < 4) continue;
    const m = /-(\d+)$/.exec(f[0]);
    const count = Number(f[1]);
    if (!m || !Number.isFinite(count)) continue;
    const tid = Number(m[1]);
    const node = nodes.find((n) => n.pid === tid)?.id ?? threads.get(tid);
    if (!node) continue;
    const ev = f[3].replace(/^syscalls:sys_enter_/, '').replace(/^probe_put_profile:/, '');
    const key = nodes.some((n) => n.pid === tid) ? `${ev}@main` : `${ev}@other`;
    out[node][key] = (out[node][key] ?? 0) + count;
  }
  return out;
}

// ---- the profile's categories -----------------------------------------------------------------------

interface Frame {
  sym: string;
  dso: string;
}

const GC = /Heap::(CollectGarbage|PerformGarbageCollection|Scavenge|MarkCompact|MinorM)|Scaveng|MarkCompactCollector|MinorMarkCompact|MinorMarkSweep|IncrementalMarking|ConcurrentMarking|Sweeper|ArrayBufferSweeper|GCTracer|MemoryAllocator::Unmapper|ParallelEvacuat|Evacuator|PointersUpdating|MarkingVisitor|MemoryReducer|Heap::FinalizeIncrementalMarking|Heap::StartIncrementalMarking|CppHeap/;
const JIT = /compiler::|Turbofan|TurboFan|Maglev|OptimizingCompileDispatcher|CompileTask|Compiler::|Parser::|BytecodeGenerator|PipelineImpl|baseline::|Deoptimizer|LazyCompile|CodeGenerator|InstructionSelector|RegisterAllocator/;

const C = {
  http: 'HTTP: fast lane, handlers',
  reads: 'socket reads in libuv (HTTP requests and peer frames; no JS frame)',
  kv: 'KV service, shard routing',
  cmd: 'command codec',
  raft: 'Raft core',
  ready: 'Ready loop, waiters, ticker',
  walJs: 'WAL: JS (records, CRC, queue)',
  walPool: 'WAL: pool thread (O_DSYNC write, wake-up)',
  walDone: 'WAL: completion (native fs callback)',
  condSignal: 'pthread_cond_signal from the main thread (pool submits, V8 tasks)',
  lmdb: 'LMDB apply (state machine, kv-store, lmdb-js, LMDB)',
  transport: 'transport: frames, links, socket writes',
  glue: 'node glue (envelopes, delivery to groups)',
  timers: 'timers, setImmediate',
  micro: 'promises, microtasks',
  netUnknown: 'node net/streams (caller unknown)',
  epoll: 'event loop poll (epoll)',
  gcMain: 'GC (main thread)',
  gcHelpers: 'GC (helper threads)',
  jitMain: 'JIT (main thread)',
  jitHelpers: 'JIT (helper threads)',
  irq: 'kernel: interrupts, preemption (no syscall)',
  otherThreads: 'other threads (futex waits, other)',
  other: 'other',
} as const;

const srcCategory: Array<[RegExp, string]> = [
  [/^src\/api\//, C.http],
  [/^src\/kv\/(service|sharded-service)\.ts$/, C.kv],
  [/^src\/shard\//, C.kv],
  [/^src\/kv\/commands\.ts$/, C.cmd],
  [/^src\/raft\//, C.raft],
  [/^src\/cluster\/(raft-group|apply-queue|waiters|ticker)\.ts$/, C.ready],
  [/^src\/util\/thread-cpu\.ts$/, C.ready],
  [/^src\/storage\/(raft-wal|raft-log-state|checksum)/, C.walJs],
  [/^src\/kv\/state-machine\.ts$/, C.lmdb],
  [/^src\/storage\/(kv-|read-cache|lmdb-env)/, C.lmdb],
  [/^src\/transport\//, C.transport],
  [/^src\/(node\/|cluster\/peer-envelope\.ts)/, C.glue],
];

const pkgCategory: Array<[RegExp, string]> = [
  [/node_modules\/(lmdb|ordered-binary)\//, C.lmdb],
  [/node_modules\/(fastify|find-my-way|avvio|light-my-request|@fastify)/, C.http],
];

/** Code that works for whoever called it: the sample goes to a caller further out if there is one. */
const GENERIC = /^node:(internal\/streams|internal\/stream_base_commons|net|events|internal\/timers|timers|internal\/process\/task_queues|internal\/async_hooks|buffer|internal\/buffer|internal\/util|internal\/validators|internal\/errors|internal\/fs|fs|internal\/url|internal\/event_target|internal\/perf)|^node_modules\/msgpackr\/|^src\/util\/(byte-cursor|msgpack)/;

const genericCategory = (src: string): string => {
  if (/^node:internal\/timers|^node:timers/.test(src)) return C.timers;
  if (/^node:internal\/process\/task_queues/.test(src)) return C.micro;
  if (/^node:(net|internal\/stream_base_commons|internal\/streams)/.test(src)) return C.netUnknown;
  return C.other;
};

class Symbolizer {
  private maps = new Map<string, SourceMap>();
  private cache = new Map<string, string>();
  constructor(private readonly bundle: string) {}

  /** The source file (src/…, node_modules/…, node:…) a JIT frame's name points at, or undefined. */
  source(sym: string): string | undefined {
    const hit = this.cache.get(sym);
    if (hit !== undefined) return hit || undefined;
    let out = '';
    const m = /\s(\S+):(\d+):(\d+)$/.exec(sym);
    if (m) {
      const url = m[1];
      if (url.startsWith('node:')) out = url;
      else if (url.endsWith('.mjs') && path.basename(url).startsWith('concord-')) {
        const sm = this.map(url.replace(/^file:\/\//, ''));
        const e = sm?.findEntry(Number(m[2]) - 1, Number(m[3]) - 1) as { originalSource?: string } | undefined;
        const src = e?.originalSource ?? '';
        const i = src.indexOf('/src/');
        out = i >= 0 ? src.slice(i + 1) : src;
      } else {
        const i = url.indexOf('node_modules/');
        out = i >= 0 ? url.slice(i) : url.replace(/^file:\/\//, '');
      }
    }
    this.cache.set(sym, out);
    return out || undefined;
  }

  private map(file: string): SourceMap | undefined {
    if (!this.maps.has(file)) {
      const f = fs.existsSync(`${file}.map`) ? `${file}.map` : `${this.bundle}.map`;
      this.maps.set(file, new SourceMap(JSON.parse(fs.readFileSync(f, 'utf8'))));
    }
    return this.maps.get(file);
  }
}

const isKernel = (f: Frame) => f.dso === '[kernel.kallsyms]' || f.dso.startsWith('[kernel');
const isJit = (f: Frame) => /perf-\d+\.map/.test(f.dso) || /^(JS|Builtin|Stub|BytecodeHandler|Script|Eval|RegExp|Handler):/.test(f.sym);

/**
 * What one sample's CPU went to. Stack is leaf first. A kernel sample inside a system call, or a page
 * fault, goes with the code that made it; one without (an interrupt, a preemption) is a row of its own.
 * Otherwise the innermost frame that names a part decides (builtins, V8's runtime, node's generic streams,
 * events, timers and msgpackr count for whoever called them); GC and JIT anywhere on the stack win.
 */
function categorize(stack: Frame[], mainThread: boolean, sym: Symbolizer): string {
  const syms = stack.map((f) => f.sym);
  if (syms.some((s) => GC.test(s))) return mainThread ? C.gcMain : C.gcHelpers;
  if (syms.some((s) => JIT.test(s))) return mainThread ? C.jitMain : C.jitHelpers;
  if (stack.length > 0 && isKernel(stack[0])) {
    const r = kernelReason(stack);
    if (r === 'preemption, context switch' || r === 'interrupts' || r === 'other kernel') return C.irq;
  }
  if (!mainThread) {
    if (syms.includes('worker')) return C.walPool; // libuv's pool: the WAL's writes are all it runs here
    return C.otherThreads;
  }
  let generic: string | undefined;
  for (const f of stack) {
    if (isKernel(f)) continue;
    if (f.dso.includes('lmdb') && f.dso.endsWith('.node')) return C.lmdb;
    if (isJit(f)) {
      const src = sym.source(f.sym);
      if (!src) continue;
      if (GENERIC.test(src)) {
        generic ??= genericCategory(src);
        continue;
      }
      if (src.startsWith('src/')) {
        for (const [re, c] of srcCategory) if (re.test(src)) return c;
        return `other src (${src})`;
      }
      if (src.startsWith('node_modules/')) {
        for (const [re, c] of pkgCategory) if (re.test(src)) return c;
        return `other package (${src.split('/')[1]})`;
      }
      if (/^node:(_http|internal\/http)/.test(src)) return C.http;
      if (src.startsWith('node:')) return `node other (${src})`;
      continue;
    }
    if (/llhttp/.test(f.sym)) return C.http;
    if (/FSReqCallback|FSReqAfterScope|fs12AfterInteger|uv__fs_done/.test(f.sym)) return C.walDone;
  }
  if (generic) return generic;
  const all = syms.join(' ');
  if (/uv__read|uv__stream_io/.test(all)) return C.reads;
  if (/uv__work_done/.test(all)) return C.walDone;
  if (/^pthread_cond_signal/.test(stack.find((f) => !isKernel(f))?.sym ?? '')) return C.condSignal;
  if (/uv__io_poll|epoll/.test(all)) return C.epoll;
  return C.other;
}

/** The kernel part of a sample, leaf first, and whether it is a system call (not an interrupt or a preemption). */
function kernelPart(stack: Frame[]): { frames: string[]; syscall: string | undefined; preempted: boolean } {
  const frames: string[] = [];
  for (const f of stack) {
    if (!isKernel(f)) break;
    frames.push(f.sym);
  }
  const entry = frames.findIndex((s) => s === 'do_syscall_64' || s.startsWith('entry_SYSCALL_64'));
  // Preempted on the way back to user space (a syscall's exit or an interrupt's): not the syscall's work.
  const exitAt = frames.findIndex((s) => s === 'exit_to_user_mode_loop' || s.startsWith('irqentry_exit'));
  const preempted = exitAt >= 0 && frames.slice(0, exitAt).some((s) => /schedule|finish_task_switch/.test(s));
  let syscall: string | undefined;
  if (entry >= 0 && !preempted) {
    for (let i = entry - 1; i >= 0; i--) {
      const m = /^(?:__x64_sys_|__ia32_sys_|__do_sys_|ksys_|do_|__sys_)(\w+?)(?:\.part\.\d+|\.constprop\.\d+)?$/.exec(frames[i]);
      if (m && !/^syscall_64$/.test(m[1])) {
        syscall = m[1];
        break;
      }
    }
    syscall ??= 'unnamed syscall';
    const what = frames.some((s) => s.startsWith('ext4_')) ? ' (file)' : frames.some((s) => /^(sock_|tcp_|inet_)/.test(s)) ? ' (socket)' : frames.some((s) => s.startsWith('eventfd')) ? ' (eventfd)' : '';
    syscall += what;
  }
  return { frames, syscall, preempted };
}

/** What the kernel was doing in a kernel sample. */
function kernelReason(stack: Frame[]): string {
  const k = kernelPart(stack);
  if (k.syscall) return k.syscall;
  if (k.preempted) return 'preemption, context switch';
  if (k.frames.some((s) => /page_fault/.test(s))) return 'page fault';
  if (k.frames.some((s) => /irq|softirq|apic|interrupt/.test(s))) return 'interrupts';
  return 'other kernel';
}

interface Profile {
  /** samples by category and by where the sample's innermost non-kernel frame is (all nodes) */
  details: Record<string, Record<string, number>>;
  /** samples[node][category] */
  byCat: Record<string, Record<string, { n: number; kernel: number }>>;
  byKernel: Record<string, Record<string, number>>;
  total: Record<string, number>;
  mainTotal: Record<string, number>;
}

/** Keep, for every address, only the newest map entry (V8 reuses code space; perf would mix names). */
function cleanMap(src: string, dst: string): void {
  const lines = fs.readFileSync(src, 'utf8').split('\n').filter(Boolean);
  const kept: string[] = [];
  const pages = new Map<number, Array<[number, number]>>();
  for (let i = lines.length - 1; i >= 0; i--) {
    const [a, s] = lines[i].split(' ', 2);
    const start = parseInt(a, 16);
    const end = start + parseInt(s, 16);
    let clash = false;
    for (let p = Math.floor(start / 4096); p <= Math.floor((end - 1) / 4096) && !clash; p++) {
      for (const [x, y] of pages.get(p) ?? []) if (x < end && start < y) clash = true;
    }
    if (clash) continue;
    kept.push(lines[i]);
    for (let p = Math.floor(start / 4096); p <= Math.floor((end - 1) / 4096); p++) {
      if (!pages.has(p)) pages.set(p, []);
      pages.get(p)!.push([start, end]);
    }
  }
  fs.writeFileSync(dst, `${kept.reverse().join('\n')}\n`);
}

function analyzeProfile(run: SRun, sdir: string): Profile {
  const bundle = run.bundle;
  const sym = new Symbolizer(bundle);
  // perf script reads /tmp/perf-PID.map: put the cleaned copies there for the duration.
  const placed: string[] = [];
  for (const n of run.nodes) {
    const saved = path.join(sdir, `perf-${n.pid}.map`);
    const tmp = `/tmp/perf-${n.pid}.map`;
    if (fs.existsSync(saved)) {
      cleanMap(saved, tmp);
      placed.push(tmp);
    }
  }
  const script = path.join(sdir, 'perf.script');
  if (!fs.existsSync(script)) {
    const out = fs.openSync(script, 'w');
    const r = spawnSync('perf', ['script', '-i', path.join(sdir, 'perf.data'), '-F', 'comm,pid,tid,ip,sym,dso', '--no-demangle'], { stdio: ['ignore', out, 'pipe'], maxBuffer: 1 << 30 });
    fs.closeSync(out);
    if (r.status !== 0) throw new Error(`perf script: ${String(r.stderr).slice(0, 2000)}`);
  }
  for (const p of placed) fs.rmSync(p, { force: true });
  const byPid = new Map(run.nodes.map((n) => [n.pid, n.id]));
  const prof: Profile = { details: {}, byCat: {}, byKernel: {}, total: {}, mainTotal: {} };
  for (const n of run.nodes) {
    prof.byCat[n.id] = {};
    prof.byKernel[n.id] = {};
    prof.total[n.id] = 0;
    prof.mainTotal[n.id] = 0;
  }
  const text = fs.readFileSync(script, 'utf8');
  let cur: { node: string; main: boolean } | undefined;
  let stack: Frame[] = [];
  const finish = () => {
    if (!cur) return;
    const c = categorize(stack, cur.main, sym);
    const kern = stack.length > 0 && isKernel(stack[0]);
    const d = (prof.details[c] ??= {});
    const where = `${kern ? 'kernel ' + kernelReason(stack) + ' under ' : ''}${origin(stack, sym)}`;
    d[where] = (d[where] ?? 0) + 1;
    const cell = (prof.byCat[cur.node][c] ??= { n: 0, kernel: 0 });
    cell.n++;
    if (kern) {
      cell.kernel++;
      const k = `${cur.main ? 'main' : 'other threads'}: ${kernelReason(stack)}`;
      prof.byKernel[cur.node][k] = (prof.byKernel[cur.node][k] ?? 0) + 1;
    }
    prof.total[cur.node]++;
    if (cur.main) prof.mainTotal[cur.node]++;
    cur = undefined;
    stack = [];
  };
  for (const line of text.split('\n')) {
    if (line === '') {
      finish();
      continue;
    }
    if (!line.startsWith('\t') && !line.startsWith(' ')) {
      finish();
      const m = /^\s*(.+?)\s+(\d+)\/(\d+)\s*$/.exec(line) ?? /^(.*?)\s+(\d+)\/(\d+)/.exec(line);
      if (!m) continue;
      const node = byPid.get(Number(m[2]));
      if (node) cur = { node, main: m[2] === m[3] };
      continue;
    }
    if (!cur) continue;
    const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line);
    if (m) stack.push({ sym: m[1].replace(/\+0x[0-9a-f]+$/, ''), dso: m[2] });
  }
  finish();
  const lines: string[] = [];
  for (const [c, d] of Object.entries(prof.details).sort((a, b) => sumOf(b[1]) - sumOf(a[1]))) {
    lines.push(`${c}: ${sumOf(d)}`);
    for (const [w, n] of Object.entries(d).sort((a, b) => b[1] - a[1]).slice(0, 25)) lines.push(`    ${n}  ${w}`);
  }
  fs.writeFileSync(path.join(sdir, 'categories.txt'), `${lines.join('\n')}\n`);
  return prof;
}

/** Where a sample's innermost non-kernel frame is: a source file, a package, V8's builtins, a native library. */
function origin(stack: Frame[], sym: Symbolizer): string {
  const f = stack.find((x) => !isKernel(x));
  if (!f) return 'kernel only';
  if (isJit(f)) {
    const src = sym.source(f.sym);
    if (src) return src.startsWith('node_modules/') ? src.split('/').slice(0, 3).join('/') : src;
    return /^Builtin:|^Stub:|^BytecodeHandler:/.test(f.sym) ? `V8 ${f.sym.split(':')[0]} ${f.sym.split(':')[1]?.split(' ')[0] ?? ''}` : 'JIT code';
  }
  if (f.dso.includes('lmdb')) return `LMDB native ${f.sym.slice(0, 40)}`;
  if (f.dso.includes('libc')) return `libc ${f.sym.slice(0, 30)}`;
  if (/^Builtins_/.test(f.sym)) return `V8 builtin ${f.sym.slice(9, 45)}`;
  return `node/V8 native ${f.sym.replace(/^_ZN?K?\d*/, '').slice(0, 40)}`;
}

const sumOf = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);

// ---- the report -------------------------------------------------------------------------------------

const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');

function report(runs: Array<{ run: SRun; prof: Profile }>): string {
  const L: string[] = [];
  // Per-put CPU by category: each node's share of its samples times its /proc CPU, over the window's puts.
  const cats = new Set<string>();
  for (const { prof } of runs) for (const n of Object.values(prof.byCat)) for (const c of Object.keys(n)) cats.add(c);
  const usPer = (run: SRun, prof: Profile, node: string, samples: number) => (samples / prof.total[node]) * run.profile.cpu[node].total * 1e6 / run.profile.r.requests;
  const rows: Array<{ cat: string; vals: number[]; kern: number[] }> = [];
  for (const cat of cats) {
    const vals: number[] = [];
    const kern: number[] = [];
    for (const { run, prof } of runs) {
      const lead = heavy(run);
      let all = 0;
      let k = 0;
      for (const n of run.nodes) {
        const cell = prof.byCat[n.id][cat];
        if (!cell) continue;
        all += usPer(run, prof, n.id, cell.n);
        k += usPer(run, prof, n.id, cell.kernel);
      }
      const lc = prof.byCat[lead.id][cat];
      vals.push(all, lc ? usPer(run, prof, lead.id, lc.n) : 0);
      kern.push(k);
    }
    rows.push({ cat, vals, kern });
  }
  rows.sort((a, b) => b.vals[b.vals.length - 2] - a.vals[a.vals.length - 2]);
  const head = runs.map(({ run }) => `S=${run.shards}: all 3 nodes (kernel) | S=${run.shards}: ${heavy(run).id}`).join(' | ');
  L.push(`| µs of CPU per put | ${head} |`, `| --- | ${runs.map(() => '---: | ---:').join(' | ')} |`);
  for (const r of rows) {
    L.push(`| ${r.cat} | ${runs.map((_, i) => `${f1(r.vals[2 * i])} (${f1(r.kern[i])}) | ${f1(r.vals[2 * i + 1])}`).join(' | ')} |`);
  }
  L.push('');
  // The same, grouped as bench/README.md shows it.
  const groups: Array<[string, string[]]> = [
    ['HTTP: fast lane, handlers, their socket writes', [C.http]],
    ['socket reads in libuv (HTTP and peer; no JS frame)', [C.reads]],
    ['KV service, shard routing, command codec', [C.kv, C.cmd]],
    ['Raft core', [C.raft]],
    ['Ready loop, setImmediate, promises', [C.ready, C.timers, C.micro]],
    ['WAL: JS (records, CRC, queue), completion, pool submit', [C.walJs, C.walDone, C.condSignal]],
    ['WAL: libuv pool thread (O_DSYNC write: ext4 sync, device flush)', [C.walPool]],
    ['LMDB apply (state machine, kv-store, lmdb-js, LMDB, its pwrites)', [C.lmdb]],
    ['transport: encode, decode, links, socket writes, delivery', [C.transport, C.glue]],
    ['kernel: interrupts, preemption (no syscall)', [C.irq]],
    ['other threads: futex waits (pool, V8 platform)', [C.otherThreads]],
    ['GC (main thread and helpers)', [C.gcMain, C.gcHelpers]],
    ['JIT', [C.jitMain, C.jitHelpers]],
  ];
  const named = new Set(groups.flatMap(([, cs]) => cs));
  groups.push(['epoll, node plumbing, malloc, the rest', [...cats].filter((c) => !named.has(c))]);
  L.push(`| µs of CPU per put (grouped) | ${runs.map(({ run }) => `S=${run.shards}: all 3 nodes | S=${run.shards}: ${heavy(run).id}`).join(' | ')} |`, `| --- | ${runs.map(() => '---: | ---:').join(' | ')} |`);
  for (const [label, cs] of groups) {
    const idx = rows.filter((r) => cs.includes(r.cat));
    L.push(`| ${label} | ${runs.map((_, i) => `${f1(idx.reduce((a, r) => a + r.vals[2 * i], 0))} | ${f1(idx.reduce((a, r) => a + r.vals[2 * i + 1], 0))}`).join(' | ')} |`);
  }
  L.push(`| **total (/proc)** | ${runs.map(({ run }) => {
    const all = run.nodes.reduce((a, n) => a + run.profile.cpu[n.id].total, 0);
    return `**${f1((all * 1e6) / run.profile.r.requests)}** | ${f1((run.profile.cpu[heavy(run).id].total * 1e6) / run.profile.r.requests)}`;
  }).join(' | ')} |`);
  L.push('');
  L.push(...runs.map(({ run, prof }) => `- S=${run.shards} profile window: ${Math.round(run.profile.r.rps)} puts/s, ${run.profile.r.requests} puts, load ${run.profile.load1.toFixed(1)}; per node µs/put (main thread): ${run.nodes.map((n) => `${n.id} leads ${n.leads}: ${f1(run.profile.cpu[n.id].total * 1e6 / run.profile.r.requests)} (${f1(run.profile.cpu[n.id].main * 1e6 / run.profile.r.requests)})`).join(', ')}; samples ${run.nodes.map((n) => prof.total[n.id]).join('/')}`));
  L.push('');
  // Kernel by syscall.
  const kcats = new Set<string>();
  for (const { prof } of runs) for (const n of Object.values(prof.byKernel)) for (const c of Object.keys(n)) kcats.add(c);
  const krows = [...kcats].map((k) => ({ k, v: runs.map(({ run, prof }) => run.nodes.reduce((a, n) => a + usPer(run, prof, n.id, prof.byKernel[n.id][k] ?? 0), 0)) }));
  krows.sort((a, b) => b.v[b.v.length - 1] - a.v[a.v.length - 1]);
  L.push(`| kernel µs per put, all nodes | ${runs.map(({ run }) => `S=${run.shards}`).join(' | ')} |`, `| --- | ${runs.map(() => '---:').join(' | ')} |`);
  for (const r of krows) if (r.v.some((v) => v >= 0.5)) L.push(`| ${r.k} | ${r.v.map(f1).join(' | ')} |`);
  L.push('');
  // Counts.
  L.push(`| per put (counts window), all 3 nodes | ${runs.map(({ run }) => `S=${run.shards}`).join(' | ')} |`, `| --- | ${runs.map(() => '---:').join(' | ')} |`);
  const cnt = (run: SRun, f: (c: Counters) => number) => run.nodes.reduce((a, n) => a + f(run.counts.after[n.id]) - f(run.counts.before[n.id]), 0) / run.counts.r.requests;
  const stat = (run: SRun, key: string) => {
    // perf stat ran SECONDS + 1 s around the load: take out one idle second.
    const v = run.nodes.reduce((a, n) => a + (run.counts.perfStat[n.id][key] ?? 0) - (run.counts.idlePerfStat[n.id][key] ?? 0) / run.counts.idleS * (run.counts.perfStatS - run.counts.wallS), 0);
    return v / run.counts.r.requests;
  };
  const line = (label: string, f: (run: SRun) => number, fmt = f2) => L.push(`| ${label} | ${runs.map(({ run }) => fmt(f(run))).join(' | ')} |`);
  line('puts/s in the window (load)', (r) => r.counts.r.rps, (v) => Math.round(v).toLocaleString('en'));
  line('Ready-loop wakeups (setImmediate of wakeLoop)', (r) => cnt(r, (c) => c.immediates.wakeLoop ?? 0));
  line('transport flush turns (flushDirty)', (r) => cnt(r, (c) => c.immediates.flushDirty ?? 0));
  line('all setImmediate calls', (r) => cnt(r, (c) => Object.values(c.immediates).reduce((a, b) => a + b, 0)));
  line('event-loop turns (epoll_pwait on the main threads)', (r) => stat(r, 'epoll_pwait@main'));
  line('WAL writes (fs.writev calls)', (r) => cnt(r, (c) => c.walWrites));
  line('WAL SAVE records (Readies that wrote)', (r) => cnt(r, (c) => c.walSaves ?? NaN));
  line('… of them with entries', (r) => cnt(r, (c) => c.walSavesWithEntries ?? NaN));
  line('entries written', (r) => cnt(r, (c) => c.walEntries ?? NaN));
  line('WAL bytes', (r) => cnt(r, (c) => c.walBytes), f1);
  line('LMDB write transactions (mdb_env_write_meta)', (r) => stat(r, 'mdb_env_write_meta@main') + stat(r, 'mdb_env_write_meta@other'));
  line('LMDB mdb_txn_commit calls', (r) => stat(r, 'mdb_txn_commit@main') + stat(r, 'mdb_txn_commit@other'));
  line('peer frames sent (socket.write on peer links)', (r) => cnt(r, (c) => c.peerWrites));
  line('peer bytes sent', (r) => cnt(r, (c) => c.peerBytes), f1);
  for (const s of SYSCALLS) {
    for (const where of ['main', 'other']) {
      const v = runs.map(({ run }) => stat(run, `${s}@${where}`));
      if (v.some((x) => x >= 0.005)) L.push(`| syscall ${s} (${where === 'main' ? 'main thread' : 'other threads'}) | ${v.map(f2).join(' | ')} |`);
    }
  }
  L.push('');
  L.push(...runs.map(({ run }) => `- S=${run.shards} counts window: ${Math.round(run.counts.r.rps)} puts/s, load ${run.counts.load1.toFixed(1)}; CPU per put ${f1(run.nodes.reduce((a, n) => a + run.counts.cpu[n.id].total, 0) * 1e6 / run.counts.r.requests)} µs; per node wakeups/put ${run.nodes.map((n) => `${n.id} ${f2(((run.counts.after[n.id].immediates.wakeLoop ?? 0) - (run.counts.before[n.id].immediates.wakeLoop ?? 0)) / run.counts.r.requests)}`).join(', ')}; idle (no load) per s, all nodes: WAL-thread write ${f1(run.nodes.reduce((a, n) => a + (run.counts.idlePerfStat[n.id]['write@other'] ?? 0), 0) / run.counts.idleS)}, LMDB txn ${f1(run.nodes.reduce((a, n) => a + (run.counts.idlePerfStat[n.id]['mdb_env_write_meta@main'] ?? 0), 0) / run.counts.idleS)}, epoll ${f1(run.nodes.reduce((a, n) => a + (run.counts.idlePerfStat[n.id]['epoll_pwait@main'] ?? 0), 0) / run.counts.idleS)}`));
  return `${L.join('\n')}\n`;
}

/** The node with the most CPU in the profile window (the leader at S = 1). */
function heavy(run: SRun): NodeInfo {
  return [...run.nodes].sort((a, b) => run.profile.cpu[b.id].total - run.profile.cpu[a.id].total)[0];
}

// ---- main -------------------------------------------------------------------------------------------

function ensureProbes(): void {
  if (!LMDB_NATIVE) return;
  const have = execFileSync('perf', ['probe', '-l'], { encoding: 'utf8' });
  for (const p of PROBES) {
    if (have.includes(`probe_put_profile:${p}`)) continue;
    execFileSync('perf', ['probe', '-x', LMDB_NATIVE, '-a', `probe_put_profile:${p}=${p}`], { stdio: 'ignore' });
  }
}

function removeProbes(): void {
  if (!LMDB_NATIVE) return;
  spawnSync('perf', ['probe', '-d', 'probe_put_profile:*'], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  const ai = process.argv.indexOf('--analyze');
  if (ai >= 0) {
    const dir = process.argv[ai + 1];
    const runs = fs.readdirSync(dir).filter((d) => /^s\d+$/.test(d)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))).map((d) => {
      const run = JSON.parse(fs.readFileSync(path.join(dir, d, 'run.json'), 'utf8')) as SRun;
      return { run, prof: analyzeProfile(run, path.join(dir, d)) };
    });
    const md = report(runs);
    fs.writeFileSync(path.join(dir, 'report.md'), md);
    console.log(md);
    return;
  }
  const dir = process.env.PROFILE_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'put-profile-'));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'preload.mjs'), PRELOAD);
  log(`writing to ${dir}; load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  ensureProbes();
  const runs: Array<{ run: SRun; prof: Profile }> = [];
  try {
    for (const s of SHARDS) {
      const run = await runOne(s, dir);
      runs.push({ run, prof: analyzeProfile(run, path.join(dir, `s${s}`)) });
    }
  } finally {
    removeProbes();
  }
  const md = report(runs);
  fs.writeFileSync(path.join(dir, 'report.md'), md);
  console.log(md);
}

await main();
