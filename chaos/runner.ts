// One chaos run: a real cluster of `concord` processes, concurrent clients recording a history, a
// nemesis doing faults, then heal everything, read every key from every node, and check the history
// for linearizability (which also catches any acknowledged write that was lost). Writes the history
// (JSON) and a timeline page (HTML) for a person to look at, and returns the verdict.

import fs from 'node:fs';
import path from 'node:path';
import { ProcCluster } from '../testkit/processes.ts';
import { seededRng } from '../src/util/prng.ts';
import { checkHistory, type CheckResult } from './checker.ts';
import type { History, Operation } from './history.ts';
import { renderTimeline } from './timeline.ts';
import { chaosServerFlags, DEFAULT_FAULTS, Nemesis, type FaultKind } from './nemesis.ts';
import { Workload } from './workload.ts';
import { ChaosWatcher } from './watchers.ts';
import { checkWatches } from './watch-check.ts';
import { shardOf } from '../src/shard/key-hash.ts';
import { until } from '../testkit/wait.ts';

export interface ChaosOptions {
  nodes: number;
  /** The cluster's --shards (1: the single group). */
  shards: number;
  seconds: number;
  clients: number;
  keys: number;
  seed: number;
  faults: FaultKind[];
  /** Deliberately weakened: reads are serializable but checked as if linearizable (the checker must object). */
  weak: boolean;
  /** Share of writes (0..1) with a value of just over 1 MiB (applied behind the Ready loop). Default 0. */
  largeValues?: number;
  /** Where history.json and timeline.html go. */
  out: string;
  log: (line: string) => void;
}

export const CHAOS_DEFAULTS: Omit<ChaosOptions, 'out' | 'log'> = { nodes: 3, shards: 1, seconds: 60, clients: 10, keys: 5, seed: 1, faults: DEFAULT_FAULTS, weak: false };

export interface ChaosReport {
  verdict: CheckResult['verdict'];
  line: string;
  check: CheckResult;
  history: History;
  historyFile: string;
  timelineFile: string;
  /** Final reads that got no answer even after retries (a node that never recovered). */
  unansweredFinalReads: number;
  /** What the watchers' streams got wrong (watch-check.ts); empty when they are right. */
  watchProblems: string[];
}

/** Watchers of the run's keys, each first trying another member. */
const WATCHERS = 3;
/** The keys the runs write start with this; the watchers watch it. */
const KEY_PREFIX = 'chaos-';

/** Client id of the checker's final reads, after the workload's clients. */
const FINAL_READER = 1000;

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  // Separate generators: the fault schedule (kinds, victims, durations) depends on the seed alone, not on
  // how many operations the clients happened to issue in between.
  const nemesisRng = seededRng(o.seed);
  const clientRng = seededRng(o.seed ^ 0x5bd1e995);
  const startedAt = new Date().toISOString();
  o.log(`chaos: seed ${o.seed}, ${o.nodes} nodes, ${o.shards} shard${o.shards > 1 ? 's' : ''}, ${o.seconds} s, ${o.clients} clients, ${o.keys} keys, faults ${o.faults.join(',')}${o.largeValues ? `, ${o.largeValues * 100}% of writes over 1 MiB` : ''}${o.weak ? ' (WEAKENED: serializable reads)' : ''}`);
  const cluster = await ProcCluster.create(o.nodes, [...chaosServerFlags(), '--shards', String(o.shards)]);
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const nemesis = new Nemesis({ cluster, rng: nemesisRng, faults: o.faults, now, log: o.log, holdMs: [2000, 5000], gapMs: [1000, 3000] });
  let watchers: ChaosWatcher[] = [];
  try {
    const keys = Array.from({ length: o.keys }, (_, i) => `${KEY_PREFIX}${i}`);
    watchers = Array.from({ length: Math.min(WATCHERS, o.nodes) }, (_, w) => new ChaosWatcher(`watcher ${w + 1}`, () => rotate(nemesis.liveMembers().map((n) => n.url), w), KEY_PREFIX));
    for (const w of watchers) w.start();
    await until('every watcher to start', () => watchers.every((w) => w.started || w.failure), 30_000);
    const workload = new Workload({
      clients: o.clients,
      keys,
      nodes: () => nemesis.liveMembers(),
      rng: clientRng,
      timeoutMs: 5000,
      readConsistency: o.weak ? 'serializable' : 'linearizable',
      largeValues: o.largeValues,
      now,
    });
    workload.start();
    await nemesis.run(o.seconds * 1000);
    o.log('chaos: healing every fault');
    await nemesis.healAll();
    await workload.stop();
    await cluster.leader(30_000);
    // Every key from every member, linearizably: a lost acknowledged write shows up here as a read the
    // checker cannot place.
    const members = nemesis.liveMembers();
    let unanswered = 0;
    for (const [i, node] of members.entries()) {
      for (const key of keys) if ((await finalReadWithRetry(workload, FINAL_READER + i, key, node)).outcome !== 'ok') unanswered++;
    }
    const watchProblems = await closeWatches(watchers, members, o.shards, workload.operations);
    const operations = workload.operations;
    const history: History = { operations, faults: nemesis.events, startedAt, nodes: cluster.nodes.map((n) => n.id) };
    const check = checkHistory(operations);
    fs.mkdirSync(o.out, { recursive: true });
    const historyFile = path.join(o.out, 'history.json');
    const timelineFile = path.join(o.out, 'timeline.html');
    fs.writeFileSync(historyFile, JSON.stringify(history));
    fs.writeFileSync(timelineFile, renderTimeline(history, check));
    const count = (outcome: Operation['outcome']) => operations.filter((op) => op.outcome === outcome).length;
    const line =
      `chaos: ${check.verdict.toUpperCase()} — seed ${o.seed}, ${o.nodes} nodes, ${o.seconds} s, ${operations.length} ops ` +
      `(ok ${count('ok')}, fail ${count('fail')}, unknown ${count('unknown')}), ${nemesis.events.length} faults, ` +
      `final reads on ${members.length} nodes${unanswered > 0 ? ` (${unanswered} UNANSWERED)` : ''}; ` +
      `${watchers.length} watch streams (${watchers.map((w) => w.changes.length).join('/')} changes, ${watchers.reduce((n, w) => n + w.restarts, 0)} restarts) ${watchProblems.length === 0 ? 'complete and identical' : `WRONG (${watchProblems.length} problems)`}; timeline ${timelineFile}`;
    o.log(line);
    for (const k of check.keys) if (k.verdict !== 'ok') o.log(`  ${k.key}: ${k.verdict}${k.explanation ? ` — ${k.explanation}` : ''}`);
    for (const p of watchProblems) o.log(`  watch: ${p}`);
    return { verdict: check.verdict, line, check, history, historyFile, timelineFile, unansweredFinalReads: unanswered, watchProblems };
  } finally {
    await Promise.all(watchers.map((w) => w.stop()));
    await cluster.stop();
  }
}

/** The list rotated to start at its `by`-th element. */
function rotate<T>(list: T[], by: number): T[] {
  if (list.length === 0) return list;
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/**
 * Writes one closing key per shard, waits (up to a minute) for every watcher to see them all, stops the
 * watchers and checks their streams against the history.
 */
async function closeWatches(watchers: ChaosWatcher[], members: Array<{ url: string }>, shards: number, ops: Parameters<typeof checkWatches>[1]): Promise<string[]> {
  const sentinels: string[] = [];
  const covered = new Set<number>();
  for (let i = 0; covered.size < shards; i++) {
    const key = `${KEY_PREFIX}watch-end-${i}`;
    const s = shards === 1 ? 0 : shardOf(Buffer.from(key), shards);
    if (covered.has(s)) continue;
    covered.add(s);
    sentinels.push(key);
  }
  for (const key of sentinels) {
    await until(`the closing write to ${key}`, async () => {
      for (const m of members) {
        const res = await fetch(`${m.url}/v1/kv/${key}`, { method: 'PUT', body: 'end', signal: AbortSignal.timeout(5000) }).catch(() => undefined);
        if (res?.ok) return true;
      }
      return false;
    }, 60_000);
  }
  const sawAll = () => watchers.every((w) => w.failure || sentinels.every((k) => w.changes.some((c) => c.key === k)));
  await until('every watcher to see the closing writes', sawAll, 60_000).catch(() => undefined);
  await Promise.all(watchers.map((w) => w.stop()));
  return checkWatches(watchers, ops, sentinels);
}

/** A final read that hits a node still catching up can time out; retried until answered (each try is in the history). */
async function finalReadWithRetry(workload: Workload, client: number, key: string, node: { id: string; url: string }): Promise<Operation> {
  for (let attempt = 0; ; attempt++) {
    const op = await workload.finalRead(client, key, node);
    if (op.outcome === 'ok' || attempt >= 10) return op;
  }
}
