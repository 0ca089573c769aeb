// A 64 MiB value through HTTP on a 3-node cluster of real processes, three times (leader, follower,
// leader): how long the put and a read of it take, whether they succeed, and whether the cluster held
// an election meanwhile (its term moved). docs/architecture.md "Large values block the event loop".
// `npm run bench -- large-value`; prints one JSON line per put, and the nodes' late-tick warnings.
import { ProcCluster } from '../testkit/processes.ts';

const MIB = 1024 * 1024;
const bytes = Number(process.env.BENCH_VALUE_MIB ?? 64) * MIB;
process.env.E2E_LOG_LEVEL ??= 'warn'; // the late-tick warnings are what to look at
const term = async (url: string) => Number((await (await fetch(`${url}/metrics`)).text()).match(/^concord_raft_term (\d+)/m)?.[1]);

const cluster = await ProcCluster.create(3);
try {
  const value = Buffer.alloc(bytes, 7);
  // Late ticks from here on: a node's start (loading modules, ~1 s) makes one before any put.
  const outputBefore = cluster.nodes.map((n) => n.output.join('').length);
  for (let round = 0; round < 3; round++) {
    const leader = await cluster.leader();
    const via = round === 1 ? cluster.nodes.find((n) => n !== leader)! : leader;
    const termBefore = await term(leader.url);
    const t0 = performance.now();
    const put = await fetch(`${via.url}/v1/kv/big-${round}`, { method: 'PUT', body: value });
    await put.arrayBuffer();
    const putMs = performance.now() - t0;
    const t1 = performance.now();
    const get = await fetch(`${(await cluster.leader()).url}/v1/kv/big-${round}`);
    const got = (await get.arrayBuffer()).byteLength;
    const getMs = performance.now() - t1;
    const termAfter = await term((await cluster.leader()).url);
    console.log(JSON.stringify({ summary: true, name: `${bytes / MIB} MiB put via ${round === 1 ? 'a follower' : 'the leader'}`, putStatus: put.status, putMs: Math.round(putMs), getStatus: get.status, intact: got === bytes, getMs: Math.round(getMs), termBefore, termAfter, elections: termAfter - termBefore }));
  }
  for (const [i, n] of cluster.nodes.entries()) {
    // ranMs: how long the node's thread ran meanwhile; far below lateMs, the machine did not run the process.
    const late = n.output.join('').slice(outputBefore[i]).split('\n').filter((l) => l.includes('raft tick late')).map((l) => {
      const w = JSON.parse(l) as { lateMs: number; ranMs?: number };
      return { lateMs: w.lateMs, ranMs: w.ranMs };
    });
    console.log(JSON.stringify({ summary: true, name: `${n.id} late ticks (ms)`, late }));
  }
} finally {
  await cluster.stop();
}
