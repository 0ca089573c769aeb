// The measurements behind docs/sharding.md: balance of the plain ring rule and of the planner, movement
// on joins and leaves, the choice of V, and the key hash's speed. Prints markdown tables.
//   npx tsx bench/shard-placement.ts [--trials 200] [--seed 1]
// Member ids are random (seeded), so every row is a distribution over clusters, not one lucky ring.
import { parseArgs } from 'node:util';
import { shardOf, xxh32 } from '../src/shard/key-hash.ts';
import { diffAssignments } from '../src/shard/moves.ts';
import { planPlacement, ringRule, type Assignment } from '../src/shard/placement.ts';
import { seededRng, type Rng } from '../src/util/prng.ts';
import { copies, leaderCounts, maxDeviation, randomMembers, replicaCounts, totalReplicas } from '../testkit/placement-stats.ts';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '200' }, seed: { type: 'string', default: '1' } } });
const TRIALS = Number(values.trials);
const SEED = Number(values.seed);
const R = 3;
const SIZES = [3, 4, 5, 6, 7, 8, 9];
const SHARDS = [16, 64, 256];

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const header = (cells: string[]): string => `${row(cells)}\n${row(cells.map(() => '---'))}`;

/** Runs `f` on TRIALS random clusters of `n` members (the same clusters for every caller with the same n). */
function overClusters<T>(n: number, f: (members: string[], rng: Rng) => T): T[] {
  const rng = seededRng(SEED * 1000 + n);
  return Array.from({ length: TRIALS }, () => f(randomMembers(rng, n + 1), rng));
}

/** Replica-count deviation of an assignment: the largest |count − mean| / mean. */
function deviation(a: Assignment, members: string[]): number {
  return maxDeviation(replicaCounts(a, members), totalReplicas(a.length, R, members.length) / members.length);
}

function ringBalance(vnodes: number): void {
  console.log(`\n### Plain ring rule, V = ${vnodes}: largest replica-count deviation from the mean (mean over clusters / worst), and share of clusters within 10%\n`);
  console.log(header(['N', ...SHARDS.map((s) => `S = ${s}`)]));
  for (const n of SIZES) {
    const cells = SHARDS.map((shards) => {
      const devs = overClusters(n, (all) => deviation(ringRule(all.slice(0, n), shards, R, vnodes), all.slice(0, n)));
      return `${pct(mean(devs))} / ${pct(Math.max(...devs))}, ${pct(devs.filter((d) => d <= 0.1).length / devs.length)} ok`;
    });
    console.log(row([n, ...cells]));
  }
}

function plannerBalance(): void {
  console.log('\n### Planner: worst replica-count deviation from the mean, and worst leader count against S/N, over all clusters\n');
  console.log(header(['N', ...SHARDS.map((s) => `S = ${s}: replicas (mean T/N)`), ...SHARDS.map((s) => `S = ${s}: leaders (S/N)`)]));
  for (const n of SIZES) {
    const reps: string[] = [];
    const leads: string[] = [];
    for (const shards of SHARDS) {
      const worst = overClusters(n, (all) => {
        const members = all.slice(0, n);
        const a = planPlacement({ members, shards });
        const lc = [...leaderCounts(a, members).values()];
        return { dev: deviation(a, members), lo: Math.min(...lc), hi: Math.max(...lc) };
      });
      reps.push(`${pct(Math.max(...worst.map((w) => w.dev)))} (${(totalReplicas(shards, R, n) / n).toFixed(2)})`);
      leads.push(`${Math.min(...worst.map((w) => w.lo))}..${Math.max(...worst.map((w) => w.hi))} (${(shards / n).toFixed(2)})`);
    }
    console.log(row([n, ...reps, ...leads]));
  }
}

/** Preferred leaders that differ between two assignments. */
const leaderChanges = (a: Assignment, b: Assignment): number => a.filter((held, s) => held[0] !== b[s][0]).length;

function joins(): void {
  console.log('\n### Join of member N+1 (planned from the current assignment): replicas copied against S·R/(N+1), and preferred leaders changed against the newcomer\'s ⌊S/(N+1)⌋..⌈S/(N+1)⌉\n');
  console.log(header(['N → N+1', ...SHARDS.map((s) => `S = ${s}: copied mean / max (S·R/(N+1)), worst ratio`), ...SHARDS.map((s) => `S = ${s}: leaders changed mean / max (S/(N+1))`)]));
  for (const n of SIZES) {
    const moved: string[] = [];
    const leaders: string[] = [];
    for (const shards of SHARDS) {
      const fair = totalReplicas(shards, R, n + 1) / (n + 1);
      const runs = overClusters(n, (all) => {
        const before = planPlacement({ members: all.slice(0, n), shards });
        const after = planPlacement({ members: all, shards, current: before });
        return { copied: copies(before, after), leaders: leaderChanges(before, after) };
      });
      const copied = runs.map((r) => r.copied);
      const changed = runs.map((r) => r.leaders);
      moved.push(`${mean(copied).toFixed(1)} / ${Math.max(...copied)} (${fair.toFixed(1)}), ${(Math.max(...copied) / fair).toFixed(3)}×`);
      leaders.push(`${mean(changed).toFixed(1)} / ${Math.max(...changed)} (${(shards / (n + 1)).toFixed(1)})`);
    }
    console.log(row([`${n} → ${n + 1}`, ...moved, ...leaders]));
  }
}

function leaves(): void {
  console.log("\n### Leave of one of N+1 members: replicas copied beyond the leaver's own (share of clusters with any, worst, the leaver's mean count), and preferred leaders changed against the leaver's S/(N+1)\n");
  console.log(header(['N+1 → N', ...SHARDS.map((s) => `S = ${s}: extra copies (clusters, worst, of)`), ...SHARDS.map((s) => `S = ${s}: leaders changed mean / max (S/(N+1))`)]));
  for (const n of SIZES) {
    const extra: string[] = [];
    const leaders: string[] = [];
    for (const shards of SHARDS) {
      const runs = overClusters(n, (all, rng) => {
        const before = planPlacement({ members: all, shards });
        const leaver = all[rng.int(0, all.length)];
        const after = planPlacement({ members: all.filter((m) => m !== leaver), shards, current: before });
        const held = replicaCounts(before, all).get(leaver)!;
        return { extra: copies(before, after) - held, held, leaders: leaderChanges(before, after) };
      });
      const changed = runs.map((r) => r.leaders);
      extra.push(`${pct(runs.filter((r) => r.extra > 0).length / runs.length)}, ${Math.max(...runs.map((r) => r.extra))}, ${mean(runs.map((r) => r.held)).toFixed(1)}`);
      leaders.push(`${mean(changed).toFixed(1)} / ${Math.max(...changed)} (${(shards / (n + 1)).toFixed(1)})`);
    }
    console.log(row([`${n + 1} → ${n}`, ...extra, ...leaders]));
  }
}

/**
 * V's effect where it still has one: how far the planner must correct the ring for a new cluster,
 * how many replicas two from-scratch plans for N and N+1 members differ by (the ring's own
 * stability), how many survivors take a leaver's replicas (recovery parallelism), and the cost.
 */
function chooseV(shards: number): void {
  console.log(`\n### Choosing V (S = ${shards}, R = 3, N = 3..9 pooled): what V still changes once the planner balances\n`);
  console.log(header(['V', 'ring within 10%', 'replicas the planner moves off the ring', 'from-scratch join: copied / S·R/(N+1)', "survivors taking a leaver's replicas", 'plan time, N = 9']));
  for (const vnodes of [1, 4, 16, 64, 256, 1024]) {
    const runs = SIZES.flatMap((n) =>
      overClusters(n, (all, rng) => {
        const members = all.slice(0, n);
        const ring = ringRule(members, shards, R, vnodes);
        const plan = planPlacement({ members, shards, vnodes });
        const fresh = planPlacement({ members: all, shards, vnodes });
        const leaver = members[rng.int(0, n)];
        const left = planPlacement({ members: members.filter((m) => m !== leaver), shards, vnodes, current: plan });
        const takers = new Set(diffAssignments(plan, left).flatMap((m) => (m.add === null ? [] : [m.add])));
        return {
          ok: deviation(ring, members) <= 0.1 ? 1 : 0,
          corrected: copies(ring, plan) / totalReplicas(shards, R, n),
          fresh: copies(plan, fresh) / (totalReplicas(shards, R, n + 1) / (n + 1)),
          spread: n > R ? takers.size / (n - 1) : 1,
        };
      }),
    );
    const started = performance.now();
    const members = randomMembers(seededRng(SEED), 9);
    for (let i = 0; i < 20; i++) planPlacement({ members, shards, vnodes });
    const ms = (performance.now() - started) / 20;
    console.log(row([vnodes, pct(mean(runs.map((r) => r.ok))), pct(mean(runs.map((r) => r.corrected))), `${mean(runs.map((r) => r.fresh)).toFixed(2)}×`, pct(mean(runs.map((r) => r.spread))), `${ms.toFixed(1)} ms`]));
  }
}

function hashSpeed(): void {
  const keys = Array.from({ length: 4096 }, (_, i) => new TextEncoder().encode(`key:${String(i).padStart(12, '0')}`));
  const rate = (f: (k: Uint8Array) => number): number => {
    let sink = 0;
    for (let i = 0; i < 200_000; i++) sink ^= f(keys[i & 4095]);
    const rounds = 3_000_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) sink ^= f(keys[i & 4095]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (sink === 0.5) console.log(sink);
    return rounds / seconds;
  };
  console.log('\n### Key hash speed (16-byte keys, one thread)\n');
  console.log(header(['function', 'keys/s']));
  console.log(row(['xxh32', `${(rate((k) => xxh32(k)) / 1e6).toFixed(1)} M`]));
  console.log(row(['shardOf(key, 256) (tag scan + xxh32 + multiply-shift)', `${(rate((k) => shardOf(k, 256)) / 1e6).toFixed(1)} M`]));
}

console.log(`Trials per cell: ${TRIALS}, seed ${SEED}, R = ${R}.`);
hashSpeed();
ringBalance(64);
ringBalance(1024);
plannerBalance();
joins();
leaves();
chooseV(64);
chooseV(256);
