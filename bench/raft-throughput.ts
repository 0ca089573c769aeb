// In-process Raft over a zero-latency in-memory network, driven as the node's host loop drives it (persist
// each Ready, report it persisted, send, apply, advance): committed 100-byte proposals per second for one
// 3-node group and for 64 groups on each of 3 nodes, next to the same entries pushed through a plain array
// (the cost floor of touching them). Prints one JSON line per measurement so bench/run.ts can tabulate it.

import { fileURLToPath } from 'node:url';
import { RawNode } from '../src/raft/node.ts';
import { MemoryStorage } from '../src/raft/storage.ts';
import { bootstrapState } from '../src/raft/bootstrap.ts';
import { seededRng } from '../src/util/prng.ts';
import type { Entry, Message } from '../src/raft/types.ts';

const PAYLOAD = new Uint8Array(100).fill(7);
const IDS = ['n1', 'n2', 'n3'];

interface Replica {
  node: RawNode;
  storage: MemoryStorage;
  applied: number;
}

/** One Raft group of three replicas on an in-memory network. */
function group(seed: number) {
  const replicas = new Map<string, Replica>();
  for (const [i, id] of IDS.entries()) {
    const storage = new MemoryStorage();
    storage.save(bootstrapState(IDS));
    replicas.set(id, { node: new RawNode({ id, storage, rng: seededRng(seed * 10 + i + 1), maxSizePerMsg: 4 << 20 }), storage, applied: 0 });
  }
  /** One round of the host loop on every replica; messages are delivered after it. Returns how many went out. */
  const round = (): number => {
    const out: Message[] = [];
    for (const r of replicas.values()) {
      if (!r.node.hasReady()) continue;
      const rd = r.node.ready();
      r.storage.save(rd); // synchronous: durable at once
      r.node.persisted(rd);
      for (const m of rd.messages) out.push(m);
      r.applied += rd.committedEntries.length;
      r.node.advance();
    }
    for (const m of out) replicas.get(m.to)!.node.step(m);
    return out.length;
  };
  /** Keeps memory flat: compacts what every replica has applied, as a host would. */
  const compact = () => {
    for (const r of replicas.values()) {
      const idx = r.node.status().applied - 1000;
      if (idx > r.storage.firstIndex()) r.storage.compact(idx);
    }
  };
  const leader = replicas.get('n1')!;
  round(); // apply the bootstrap membership
  leader.node.campaign();
  for (let i = 0; i < 20; i++) round();
  if (leader.node.status().role !== 'leader') throw new Error('n1 did not become leader');
  return { leader, round, compact };
}

/**
 * Committed proposals per second, counted on the leaders: `batch` proposals to each group per host round,
 * over `groups` groups (each node hosts one replica of every group).
 */
export function raftThroughput(batch: number, groups: number, durationMs: number): number {
  const all = Array.from({ length: groups }, (_, g) => group(g + 1));
  const applied0 = all.reduce((s, g) => s + g.leader.applied, 0);
  const start = performance.now();
  let sinceCompact = 0;
  while (performance.now() - start < durationMs) {
    for (const g of all) {
      for (let i = 0; i < batch; i++) g.leader.node.propose(PAYLOAD);
      g.round();
      g.round();
    }
    sinceCompact += batch;
    if (sinceCompact > 100_000 / groups) {
      for (const g of all) g.compact();
      sinceCompact = 0;
    }
  }
  for (const g of all) while (g.round() > 0);
  const secs = (performance.now() - start) / 1000;
  return (all.reduce((s, g) => s + g.leader.applied, 0) - applied0) / secs;
}

export function arrayBaseline(durationMs: number): number {
  const start = performance.now();
  let log: Entry[] = [];
  let applied = 0;
  let sum = 0;
  let index = 0;
  while (performance.now() - start < durationMs) {
    for (let i = 0; i < 1000; i++) log.push({ term: 1, index: ++index, type: 0, data: PAYLOAD });
    for (let i = applied; i < log.length; i++) sum += log[i].data.byteLength;
    applied = log.length;
    if (log.length > 100_000) {
      log = [];
      applied = 0;
    }
  }
  if (sum < 0) console.log(sum);
  return index / ((performance.now() - start) / 1000);
}

export interface ThroughputResult {
  bench: 'raft-throughput';
  name: string;
  opsPerSec: number;
  ratioToBaseline: number;
}

export function measure(durationMs: number): ThroughputResult[] {
  const baseline = arrayBaseline(durationMs);
  const results = [
    { name: 'array baseline (push + apply 100 B entries)', opsPerSec: baseline },
    ...[1, 64, 1024].map((b) => ({ name: `1 group of 3 replicas, ${b} proposals per host round`, opsPerSec: raftThroughput(b, 1, durationMs) })),
    ...[1, 16].map((b) => ({ name: `64 groups on 3 nodes, ${b} proposals per group per host round`, opsPerSec: raftThroughput(b, 64, durationMs) })),
  ];
  return results.map((r) => ({ bench: 'raft-throughput', ...r, ratioToBaseline: r.opsPerSec / baseline }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const r of measure(Number(process.env.BENCH_MS ?? 3000))) console.log(JSON.stringify(r));
}
