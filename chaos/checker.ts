// Linearizability checker for chaos-run histories. Each key is an independent register (string | null,
// initially null), so the history is split by key and each key is checked on its own with the
// Wing–Gong / Lowe search (checker/search.ts). The rules for each kind and outcome are in history.ts;
// in short: failed ops did not happen (except a cas whose compare failed, which is a read that the key
// did not hold `expected`), unknown writes may have happened at any time after invocation or never,
// and unknown reads are dropped.
//
// Before searching, direct checks catch the blatant anomalies with a precise explanation: a read of a
// value nobody wrote, of a value written only after the read completed, and a stale read (the value's
// writer completed before another acknowledged write began, which completed before the read began).
// Otherwise a violation is explained from the longest linearizable prefix the search found.

import type { Operation } from './history.ts';
import { compileKey, participates, validate } from './checker/model.ts';
import { search } from './checker/search.ts';
import { explain, precheck, staleRead } from './checker/explain.ts';

export interface KeyResult {
  key: string;
  verdict: 'ok' | 'violation' | 'unknown';
  /** Operations on this key that took part in the check. */
  ops: number;
  /** For a violation: the operation that could not be placed and why; for unknown: why not decided. */
  explanation?: string;
  /** For a violation: the id of the operation that could not be placed. */
  failedOpId?: number;
  /** For a violation: the ids of the longest linearizable prefix found, in linearization order. */
  prefix?: number[];
  /** The search's work (iterations of its loop; 0 when a direct check decided), and how long the key took. */
  steps: number;
  elapsedMs: number;
}

export interface CheckResult {
  verdict: 'linearizable' | 'not linearizable' | 'unknown';
  keys: KeyResult[];
  opsChecked: number;
}

export interface CheckOptions {
  /** Search budget per key; a key that exceeds it is reported 'unknown'. Default 30 s. */
  timeoutMs?: number;
  /**
   * Skip the direct checks for blatant anomalies (reads of values never written, of values written
   * only later, stale reads) so that the search has to find them — for testing the search.
   */
  searchOnly?: boolean;
}

export function checkHistory(ops: Operation[], opts: CheckOptions = {}): CheckResult {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    validate(op);
    if (!participates(op)) continue;
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const keys = [...byKey.keys()].sort().map((key) => checkKey(key, byKey.get(key)!, timeoutMs, opts.searchOnly));
  const verdict = keys.some((k) => k.verdict === 'violation')
    ? 'not linearizable'
    : keys.some((k) => k.verdict === 'unknown') ? 'unknown' : 'linearizable';
  return { verdict, keys, opsChecked: keys.reduce((s, k) => s + k.ops, 0) };
}

export function checkKey(key: string, ops: Operation[], timeoutMs: number, searchOnly = false): KeyResult {
  const started = performance.now();
  const p = compileKey(key, ops);
  const elapsed = (): number => Math.round((performance.now() - started) * 10) / 10;
  const pre = searchOnly ? undefined : precheck(p) ?? staleRead(p);
  if (pre) {
    return { key, verdict: 'violation', ops: p.ops.length, explanation: pre.text, failedOpId: pre.failedOpId, steps: 0, elapsedMs: elapsed() };
  }
  const out = search(p, { deadline: started + timeoutMs });
  const base = { key, ops: p.ops.length, steps: out.steps };
  if (out.verdict === 'ok') return { ...base, verdict: 'ok', elapsedMs: elapsed() };
  if (out.verdict === 'gave up') {
    const limit = out.reason === 'memory' ? 'ran out of memory for its cache' : `ran out of time (${timeoutMs} ms)`;
    return {
      ...base, verdict: 'unknown', elapsedMs: elapsed(),
      explanation: `the search gave up: it ${limit} after ${out.steps} steps, with a longest linearizable prefix of ${out.best.length} of ${p.ops.length} ops; neither linearizable nor a violation was established.`,
    };
  }
  const why = explain(p, out.best);
  return {
    ...base, verdict: 'violation', elapsedMs: elapsed(),
    explanation: why.text, failedOpId: why.failedOpId, prefix: out.best.map((i) => p.ops[i].id),
  };
}
