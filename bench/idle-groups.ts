// CPU that idle Raft groups cost the consensus core alone: G groups of 3 replicas each, all in this process
// over an in-memory network (no encoding, no sockets, no storage writes), ticked every 100 ms as the node
// ticks them, with nothing proposed. Reports % of one core per simulated node (a third of the total), a
// lower bound of what hosting G idle replicas costs a real node. Prints one JSON line per G.
//   npx tsx bench/idle-groups.ts     (BENCH_MS: how long each G is measured, default 5000)

import { fileURLToPath } from 'node:url';
import { RawNode } from '../src/raft/node.ts';
import { MemoryStorage } from '../src/raft/storage.ts';
import { bootstrapState } from '../src/raft/bootstrap.ts';
import { seededRng } from '../src/util/prng.ts';
import type { Message } from '../src/raft/types.ts';

const IDS = ['n1', 'n2', 'n3'];
const TICK_MS = 100;

function group(seed: number): { tick(): void; settle(): number } {
  const replicas = new Map<string, { node: RawNode; storage: MemoryStorage }>();
  for (const [i, id] of IDS.entries()) {
    const storage = new MemoryStorage();
    storage.save(bootstrapState(IDS));
    replicas.set(id, { node: new RawNode({ id, storage, rng: seededRng(seed * 10 + i + 1), electionTick: 10, heartbeatTick: 1, preVote: true, checkQuorum: true }), storage });
  }
  const round = (): number => {
    const out: Message[] = [];
    for (const r of replicas.values()) {
      if (!r.node.hasReady()) continue;
      const rd = r.node.ready();
      r.storage.save(rd);
      r.node.persisted(rd);
      out.push(...rd.messages);
      r.node.advance();
    }
    for (const m of out) replicas.get(m.to)!.node.step(m);
    return out.length;
  };
  /** Runs host rounds until no message is left; returns how many went out. */
  const settle = (): number => {
    let sent = 0;
    for (let n = round(); n > 0; n = round()) sent += n;
    return sent;
  };
  round();
  replicas.get('n1')!.node.campaign();
  settle();
  return { tick: () => replicas.forEach((r) => r.node.tick()), settle };
}

export async function idleCost(groups: number, durationMs: number): Promise<{ groups: number; cpuPctPerNode: number; messagesPerSec: number }> {
  const all = Array.from({ length: groups }, (_, g) => group(g + 1));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let messages = 0;
  while (performance.now() - t0 < durationMs) {
    for (const g of all) {
      g.tick();
      messages += g.settle();
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  const cpu = process.cpuUsage(cpu0);
  const secs = (performance.now() - t0) / 1000;
  return { groups, cpuPctPerNode: ((cpu.user + cpu.system) / 1000 / (secs * 1000)) * 100 / IDS.length, messagesPerSec: messages / secs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ms = Number(process.env.BENCH_MS ?? 5000);
  for (const g of [1, 64, 256]) console.log(JSON.stringify({ bench: 'idle-groups', ...(await idleCost(g, ms)) }));
}
