// In-process 3-node Raft over a zero-latency in-memory network: committed 100-byte proposals per
// second, next to the same entries pushed through a plain array (the cost floor of touching them).
// Prints one JSON line per measurement so bench/run.ts can tabulate it.

import { RawNode } from '../src/raft/node.ts';
import { MemoryStorage } from '../src/raft/storage.ts';
import { bootstrapState } from '../src/raft/bootstrap.ts';
import { seededRng } from '../src/util/prng.ts';
import type { Entry, Message } from '../src/raft/types.ts';

const PAYLOAD = new Uint8Array(100).fill(7);
const DURATION_MS = Number(process.env.BENCH_MS ?? 3000);

function cluster(ids: string[]) {
  const nodes = new Map<string, { node: RawNode; storage: MemoryStorage; applied: number }>();
  for (const id of ids) {
    const storage = new MemoryStorage();
    storage.save(bootstrapState(ids));
    nodes.set(id, { node: new RawNode({ id, storage, rng: seededRng(ids.indexOf(id) + 1), maxSizePerMsg: 4 << 20 }), storage, applied: 0 });
  }
  /** One round of the host loop on every node: persist, send (deliver), apply, advance. */
  const round = () => {
    const out: Message[] = [];
    for (const n of nodes.values()) {
      if (!n.node.hasReady()) continue;
      const rd = n.node.ready();
      n.storage.save(rd);
      for (const m of rd.messages) out.push(m);
      n.applied += rd.committedEntries.length;
      n.node.advance();
    }
    for (const m of out) nodes.get(m.to)!.node.step(m);
    return out.length;
  };
  return { nodes, round };
}

function raftThroughput(batch: number): number {
  const { nodes, round } = cluster(['n1', 'n2', 'n3']);
  const leader = nodes.get('n1')!;
  round(); // apply the bootstrap membership
  leader.node.campaign();
  for (let i = 0; i < 20; i++) round();
  let compactAt = 0;
  const start = performance.now();
  const applied0 = leader.applied;
  let proposed = 0;
  while (performance.now() - start < DURATION_MS) {
    for (let i = 0; i < batch; i++) leader.node.propose(PAYLOAD);
    proposed += batch;
    round();
    round();
    // Keep memory flat: compact what every node has applied, as a host would.
    if (proposed - compactAt > 100_000) {
      for (const n of nodes.values()) {
        const idx = n.node.status().applied - 1000;
        if (idx > n.storage.firstIndex()) n.storage.compact(idx);
      }
      compactAt = proposed;
    }
  }
  while (round() > 0);
  const secs = (performance.now() - start) / 1000;
  return (leader.applied - applied0) / secs;
}

function arrayBaseline(): number {
  const start = performance.now();
  let log: Entry[] = [];
  let applied = 0, sum = 0, index = 0;
  while (performance.now() - start < DURATION_MS) {
    for (let i = 0; i < 1000; i++) log.push({ term: 1, index: ++index, type: 0, data: PAYLOAD });
    for (let i = applied; i < log.length; i++) sum += log[i].data.byteLength;
    applied = log.length;
    if (log.length > 100_000) { log = []; applied = 0; }
  }
  if (sum < 0) console.log(sum);
  return index / ((performance.now() - start) / 1000);
}

const baseline = arrayBaseline();
const results = [
  { name: 'array baseline (push + apply 100 B entries)', opsPerSec: baseline },
  ...[1, 64, 1024].map((b) => ({ name: `3-node raft, ${b} proposals per host round`, opsPerSec: raftThroughput(b) })),
];
for (const r of results) {
  console.log(JSON.stringify({ bench: 'raft-throughput', ...r, ratioToBaseline: r.opsPerSec / baseline }));
}
