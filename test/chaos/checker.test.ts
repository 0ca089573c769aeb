// The linearizability checker: hand-written histories for each rule; agreement with a brute-force
// search on thousands of small random histories; then randomized histories of a simulated register
// (linearizable by construction) and the same histories with one read made stale.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory, type CheckResult } from '../../chaos/checker.ts';
import type { Operation } from '../../chaos/history.ts';
import { seededRng } from '../../src/util/prng.ts';

/**
 * A small history builder. Times are [invoke, complete]; leaving out `complete` makes the op's outcome
 * unknown (timed out). Ops go to key 'k' unless `key` is given.
 */
class Hist {
  ops: Operation[] = [];
  private add(op: Omit<Operation, 'id'>): Operation {
    const full = { id: this.ops.length + 1, ...op };
    this.ops.push(full);
    return full;
  }
  private times(invokeMs: number, completeMs?: number) {
    return completeMs === undefined ? { invokeMs, outcome: 'unknown' as const } : { invokeMs, completeMs, outcome: 'ok' as const };
  }
  put(client: number, value: string, invokeMs: number, completeMs?: number, key = 'k'): Operation {
    return this.add({ client, key, kind: 'put', value, ...this.times(invokeMs, completeMs) });
  }
  get(client: number, result: string | null, invokeMs: number, completeMs: number, key = 'k'): Operation {
    return this.add({ client, key, kind: 'get', result, ...this.times(invokeMs, completeMs) });
  }
  del(client: number, result: 'deleted' | null, invokeMs: number, completeMs?: number, key = 'k'): Operation {
    return this.add({ client, key, kind: 'delete', result, ...this.times(invokeMs, completeMs) });
  }
  cas(client: number, expected: string, value: string, invokeMs: number, completeMs?: number, key = 'k'): Operation {
    return this.add({ client, key, kind: 'cas', expected, value, ...this.times(invokeMs, completeMs) });
  }
  /** A cas whose compare failed (HTTP 412). */
  casFailed(client: number, expected: string, value: string, invokeMs: number, completeMs: number, key = 'k'): Operation {
    return this.add({ client, key, kind: 'cas', expected, value, invokeMs, completeMs, outcome: 'fail' });
  }
  check(timeoutMs?: number): CheckResult {
    return checkHistory(this.ops, { timeoutMs });
  }
}

function assertLinearizable(r: CheckResult, context = ''): void {
  assert.equal(r.verdict, 'linearizable', `${context}${JSON.stringify(r.keys.filter((k) => k.verdict !== 'ok'), null, 1)}`);
}

/**
 * Asserts exactly one key has a violation (and, if given, that `failedOp` is the op blamed), both with
 * the direct checks for blatant anomalies and by the search alone. Returns the explanation.
 */
function assertViolation(h: Hist, failedOp?: Operation): string {
  let explanation = '';
  for (const searchOnly of [false, true]) {
    const r = checkHistory(h.ops, { searchOnly });
    assert.equal(r.verdict, 'not linearizable', `searchOnly: ${searchOnly}`);
    const bad = r.keys.filter((k) => k.verdict === 'violation');
    assert.equal(bad.length, 1);
    const why = bad[0].explanation ?? '';
    if (failedOp) {
      assert.equal(bad[0].failedOpId, failedOp.id, why);
      assert.match(why, new RegExp(`^op ${failedOp.id}:`));
    }
    if (!searchOnly) explanation = why;
  }
  return explanation;
}

describe('checker: reads and writes', () => {
  it('a sequential legal history is linearizable', () => {
    const h = new Hist();
    h.get(1, null, 0, 5);
    h.put(1, 'a', 10, 20);
    h.get(2, 'a', 25, 30);
    h.put(2, 'b', 35, 40);
    h.get(1, 'b', 45, 50);
    const r = h.check();
    assertLinearizable(r);
    assert.equal(r.opsChecked, 5);
  });

  it('concurrent ops linearizable only in an order other than their invocation order are fine', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 100); // invoked first, takes effect last
    h.put(2, 'b', 10, 20);
    h.get(3, 'b', 22, 30);
    h.get(2, 'a', 110, 120);
    assertLinearizable(h.check());
  });

  it('a stale read is a violation, and the explanation names the read and the value it missed', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.put(1, 'b', 20, 30);
    const stale = h.get(2, 'a', 40, 50);
    const why = assertViolation(h, stale);
    assert.match(why, /^op 3: get of "k" by client 2 \[40–50 ms\] returned "a": stale/);
    assert.match(why, /then op 2: put "b" .* So "a" had been replaced by "b", for good: only op 1 ever wrote it/);
    // The search's own explanation, from the longest linearizable prefix:
    const searched = checkHistory(h.ops, { searchOnly: true }).keys[0].explanation ?? '';
    assert.match(searched, /after it the register holds "b" \(written by op 2: put "b"/);
    assert.match(searched, /but the get returned "a"/);
  });

  it('a lost write (acknowledged, then never visible) is a violation', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.put(2, 'b', 15, 25); // acknowledged
    h.get(3, 'a', 20, 30); // concurrent with the put: fine so far
    const lost = h.get(3, 'a', 40, 45);
    h.get(1, 'a', 50, 55);
    assertViolation(h, lost);
  });

  it('a read of a value never written is a violation', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    const phantom = h.get(2, 'ghost', 20, 30);
    const why = assertViolation(h, phantom);
    assert.match(why, /no operation on this key wrote/);
  });

  it('a read of a value whose write began after the read ended is a violation', () => {
    const h = new Hist();
    const early = h.get(2, 'a', 0, 10);
    h.put(1, 'a', 20, 30);
    const why = assertViolation(h, early);
    assert.match(why, /after this op had completed/);
  });

  it('a read may see a concurrent write or not, and both orders of two concurrent reads are allowed', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.put(2, 'b', 20, 100);
    h.get(3, 'b', 30, 40);
    h.get(4, 'a', 25, 60); // overlaps the read of b and began before it, so it may come first
    h.get(3, 'b', 110, 120);
    assertLinearizable(h.check());
  });

  it('ops that touch at the same millisecond count as concurrent', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.get(2, null, 10, 12);
    assertLinearizable(h.check());
  });
});

describe('checker: operations with unknown outcome', () => {
  it('a timed-out put that did apply (a later read sees it) is fine', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.put(2, 'b', 20); // timed out
    h.get(3, 'a', 30, 40);
    h.get(3, 'b', 500, 510);
    h.get(1, 'b', 600, 610);
    assertLinearizable(h.check());
  });

  it('a timed-out put that never applied is fine', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.put(2, 'b', 20);
    for (let t = 30; t < 1000; t += 50) h.get(3, 'a', t, t + 10);
    assertLinearizable(h.check());
  });

  it('a timed-out put, once seen, cannot be unseen', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.put(2, 'b', 20);
    h.get(3, 'b', 30, 40);
    const back = h.get(3, 'a', 50, 60);
    assertViolation(h, back);
  });

  it('a timed-out delete may explain a later absent read, or not have happened', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.del(2, null, 20); // unknown
    h.get(3, 'a', 30, 40);
    h.get(3, null, 50, 60);
    assertLinearizable(h.check());
  });

  it('a timed-out cas applies only if its compare held', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.cas(2, 'zzz', 'c', 20); // unknown, and its compare can never hold
    h.get(3, 'a', 30, 40);
    const impossible = h.get(3, 'c', 50, 60);
    assertViolation(h, impossible);
  });

  it('a timed-out get carries no information', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.ops.push({ id: 99, client: 2, key: 'k', kind: 'get', invokeMs: 20, outcome: 'unknown' });
    const r = h.check();
    assertLinearizable(r);
    assert.equal(r.opsChecked, 1);
  });

  it('hundreds of timed-out writes nobody saw do not blow up the search', () => {
    const h = new Hist();
    h.put(1, 'start', 0, 5);
    for (let i = 0; i < 300; i++) {
      h.put(2 + (i % 5), `lost-${i}`, 10 + i * 10); // never acknowledged, never seen
      h.get(8, 'start', 12 + i * 10, 15 + i * 10);
    }
    h.del(9, 'deleted', 4000, 4010); // still legal: the key holds "start"
    h.get(9, null, 4020, 4030);
    h.del(9, 'deleted', 4040, 4050); // only one of the lost writes can explain this
    h.get(9, null, 4060, 4070);
    assertLinearizable(h.check());
  });
});

describe('checker: cas and delete', () => {
  it('a chain of successful cas ops is fine', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.cas(2, 'a', 'b', 20, 30);
    h.cas(1, 'b', 'c', 40, 50);
    h.get(3, 'c', 60, 70);
    assertLinearizable(h.check());
  });

  it('a cas that succeeded although its expected value was no longer current is a violation', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.put(1, 'b', 20, 30);
    const bad = h.cas(2, 'a', 'c', 40, 50);
    const why = assertViolation(h, bad);
    assert.match(why, /^op 3: cas "a" → "c" .* ok: stale. "a" was written by op 1/);
  });

  it('a cas whose compare failed did not happen', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.casFailed(2, 'x', 'never', 20, 30);
    h.get(3, 'a', 40, 50);
    assertLinearizable(h.check());
  });

  it('a cas whose compare failed although the value was current the whole time is a violation', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    const bad = h.casFailed(2, 'a', 'b', 20, 30);
    h.get(3, 'a', 40, 50);
    assertViolation(h, bad);
  });

  it('a cas refused before it could apply carries no information', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.ops.push({ id: 50, client: 2, key: 'k', kind: 'cas', expected: 'a', value: 'b', invokeMs: 20, completeMs: 30, outcome: 'fail', failure: 'refused' });
    h.ops.push({ id: 51, client: 2, key: 'k', kind: 'put', value: 'z', invokeMs: 40, completeMs: 45, outcome: 'fail' });
    h.get(3, 'a', 50, 60);
    assertLinearizable(h.check());
  });

  it('delete: deletes what is there, then finds nothing', () => {
    const h = new Hist();
    h.del(1, null, 0, 5);
    h.put(1, 'a', 10, 20);
    h.del(2, 'deleted', 30, 40);
    h.get(3, null, 50, 60);
    h.del(3, null, 70, 80);
    assertLinearizable(h.check());
  });

  it('delete: finding nothing while the key holds a value is a violation', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    const bad = h.del(2, null, 20, 30);
    const why = assertViolation(h, bad);
    assert.match(why, /found nothing to delete/);
  });

  it('delete: deleting something from an absent key is a violation', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.del(1, 'deleted', 20, 30);
    const bad = h.del(2, 'deleted', 40, 50);
    assertViolation(h, bad);
  });

  it('delete: the old value coming back after a delete is a violation', () => {
    const h = new Hist();
    h.put(1, 'a', 0, 10);
    h.del(1, 'deleted', 20, 30);
    const bad = h.get(2, 'a', 40, 50);
    assertViolation(h, bad);
  });
});

describe('checker: keys are independent registers', () => {
  it('a violation on one key is reported for that key only', () => {
    const h = new Hist();
    h.put(1, 'x1', 0, 10, 'x');
    h.put(1, 'x2', 20, 30, 'x');
    h.get(2, 'x1', 40, 50, 'x'); // stale
    h.put(3, 'y1', 0, 10, 'y');
    h.get(4, 'y1', 40, 50, 'y');
    h.get(4, null, 0, 5, 'z');
    const r = h.check();
    assert.equal(r.verdict, 'not linearizable');
    assert.deepEqual(r.keys.map((k) => [k.key, k.verdict]), [['x', 'violation'], ['y', 'ok'], ['z', 'ok']]);
  });

  it('the same value on two keys does not confuse them', () => {
    const h = new Hist();
    h.put(1, 'v', 0, 10, 'x');
    const bad = h.get(2, 'v', 20, 30, 'y');
    const r = h.check();
    assert.deepEqual(r.keys.map((k) => [k.key, k.verdict]), [['x', 'ok'], ['y', 'violation']]);
    assert.equal(r.keys[1].failedOpId, bad.id);
  });
});

describe('checker: limits and input', () => {
  /** n puts all overlapping, then two reads that disagree about which came last: every order must be tried. */
  function hardHistory(n: number): Hist {
    const h = new Hist();
    for (let i = 0; i < n; i++) h.put(i + 1, `v${i}`, 0, 1000);
    h.get(100, 'v0', 2000, 2010);
    h.get(100, 'v1', 3000, 3010);
    return h;
  }

  it('a small version of the hard history is decided: violation', () => {
    assertViolation(hardHistory(8));
  });

  it('a search that runs out of time reports unknown, not linearizable', () => {
    const r = hardHistory(26).check(30);
    assert.equal(r.verdict, 'unknown');
    assert.equal(r.keys[0].verdict, 'unknown');
    assert.match(r.keys[0].explanation ?? '', /gave up/);
  });

  it('a malformed op is an error, not a verdict', () => {
    const h = new Hist();
    h.ops.push({ id: 1, client: 1, key: 'k', kind: 'put', value: 'a', invokeMs: 0, outcome: 'ok' });
    assert.throws(() => h.check(), /needs completeMs/);
  });
});

// ---- agreement with a brute-force search on small random histories

/** Every order of every subset, straight from the rules in history.ts: the reference the checker must match. */
function bruteForce(all: Operation[]): boolean {
  const ops = all.filter((o) => (o.outcome === 'fail' ? o.kind === 'cas' && o.failure !== 'refused' : !(o.outcome === 'unknown' && o.kind === 'get')));
  const apply = (s: string | null, o: Operation): string | null | undefined => {
    switch (o.kind) {
      case 'put':
        return o.value!;
      case 'get':
        return o.result === s ? s : undefined;
      case 'delete':
        if (o.outcome === 'unknown' || o.result === undefined) return null;
        return (o.result === null) === (s === null) ? null : undefined;
      case 'cas':
        if (o.outcome === 'fail') return s !== o.expected ? s : undefined;
        return s === o.expected ? o.value! : undefined;
    }
  };
  const placed = new Set<Operation>();
  const search = (s: string | null): boolean => {
    if (ops.every((o) => o.outcome === 'unknown' || placed.has(o))) return true;
    for (const x of ops) {
      if (placed.has(x)) continue;
      if (ops.some((y) => !placed.has(y) && y.completeMs !== undefined && y.completeMs < x.invokeMs)) continue;
      const next = apply(s, x);
      if (next === undefined) continue;
      placed.add(x);
      if (search(next)) return true;
      placed.delete(x);
    }
    return false;
  };
  return search(null);
}

/** A small random history on one key, linearizable or not (results are drawn at random). */
function smallRandomHistory(rng: ReturnType<typeof seededRng>, n: number): Operation[] {
  const ops: Operation[] = [];
  const written: string[] = [];
  const pick = (): string => (written.length && rng.next() < 0.9 ? written[rng.int(0, written.length)] : 'never');
  for (let id = 1; id <= n; id++) {
    const invokeMs = rng.int(0, 20);
    const completeMs = invokeMs + rng.int(0, 8);
    const r = rng.next();
    const kind = r < 0.35 ? 'put' : r < 0.65 ? 'get' : r < 0.85 ? 'cas' : 'delete';
    const op: Operation = { id, client: id, key: 'k', kind, invokeMs, completeMs, outcome: 'ok' };
    if (kind === 'put' || kind === 'cas') op.value = `v${id}`;
    if (kind === 'cas') op.expected = pick();
    if (kind === 'get') op.result = rng.next() < 0.2 ? null : pick();
    if (kind === 'delete') op.result = [null, 'deleted', undefined][rng.int(0, 3)];
    const u = rng.next();
    if (u < 0.2) {
      op.outcome = 'unknown';
      delete op.completeMs;
      delete op.result;
    } else if (u < 0.3) {
      op.outcome = 'fail';
      if (kind === 'cas' && rng.next() < 0.3) op.failure = 'refused';
    }
    if (op.value) written.push(op.value);
    ops.push(op);
  }
  return ops;
}

/**
 * A small history of a real register (each op takes effect inside its interval; unknown ops took
 * effect or not), then often one mutation: a read's result, an op's times, a delete's result or a cas's
 * outcome. These sit close to the boundary, where the checker's shortcuts would go wrong if anywhere.
 */
function nearlyLinearizableHistory(rng: ReturnType<typeof seededRng>, n: number): Operation[] {
  const planned: { op: Operation; at: number; applies: boolean }[] = [];
  for (let id = 1; id <= n; id++) {
    const invokeMs = rng.int(0, 30);
    const completeMs = invokeMs + rng.int(0, 12);
    const r = rng.next();
    const kind = r < 0.35 ? 'put' : r < 0.6 ? 'get' : r < 0.8 ? 'cas' : 'delete';
    const op: Operation = { id, client: id, key: 'k', kind, invokeMs, completeMs, outcome: 'ok' };
    if (kind === 'put' || kind === 'cas') op.value = `v${id}`;
    let applies = true;
    if (rng.next() < 0.3) {
      op.outcome = 'unknown';
      delete op.completeMs;
      applies = rng.next() < 0.5;
    }
    planned.push({ op, at: invokeMs + rng.next() * (completeMs - invokeMs), applies });
  }
  let state: string | null = null;
  const written: string[] = [];
  for (const { op, applies } of [...planned].sort((x, y) => x.at - y.at)) {
    if (op.kind === 'cas') op.expected = state !== null && rng.next() < 0.6 ? state : written.length ? written[rng.int(0, written.length)] : 'x';
    if (!applies) continue;
    if (op.kind === 'put') written.push((state = op.value!));
    else if (op.kind === 'get') op.result = op.outcome === 'ok' ? state : undefined;
    else if (op.kind === 'delete') {
      if (op.outcome === 'ok') op.result = state === null ? null : 'deleted';
      state = null;
    } else if (state === op.expected) written.push((state = op.value!));
    else if (op.outcome === 'ok') op.outcome = 'fail';
  }
  const ops = planned.map((p) => p.op);
  const o = ops[rng.int(0, ops.length)];
  switch (rng.int(0, 6)) {
    case 0:
      if (o.kind === 'get' && o.outcome === 'ok') o.result = written.length && rng.next() < 0.8 ? written[rng.int(0, written.length)] : null;
      break;
    case 1:
      if (o.outcome !== 'unknown') {
        const d = rng.int(-6, 7);
        o.invokeMs = Math.max(0, o.invokeMs + d);
        o.completeMs = Math.max(o.invokeMs, o.completeMs! + d);
      }
      break;
    case 2:
      if (o.kind === 'delete' && o.outcome === 'ok') o.result = o.result === null ? 'deleted' : null;
      break;
    case 3:
      if (o.kind === 'cas' && o.outcome !== 'unknown') o.outcome = o.outcome === 'ok' ? 'fail' : 'ok';
      break;
  }
  return ops;
}

describe('checker: agrees with a brute-force search', () => {
  it('on 3,000 small histories of a real register, many with one mutation (up to 11 ops, 30% unknown)', () => {
    const rng = seededRng(777);
    const tally = { linearizable: 0, 'not linearizable': 0 };
    for (let k = 0; k < 3000; k++) {
      const ops = nearlyLinearizableHistory(rng, 3 + (k % 9));
      const expected = bruteForce(ops) ? 'linearizable' : 'not linearizable';
      assert.equal(checkHistory(ops).verdict, expected, `history #${k}: ${JSON.stringify(ops)}`);
      assert.equal(checkHistory(ops, { searchOnly: true }).verdict, expected, `history #${k} (search only): ${JSON.stringify(ops)}`);
      tally[expected]++;
    }
    assert.ok(tally['not linearizable'] > 100, JSON.stringify(tally));
  });

  it('on 4,000 small random histories (up to 8 ops, mostly not linearizable)', () => {
    const rng = seededRng(20240601);
    const tally = { linearizable: 0, 'not linearizable': 0 };
    for (let k = 0; k < 4000; k++) {
      const ops = smallRandomHistory(rng, 3 + (k % 6));
      const expected = bruteForce(ops) ? 'linearizable' : 'not linearizable';
      assert.equal(checkHistory(ops).verdict, expected, `history #${k}: ${JSON.stringify(ops)}`);
      assert.equal(checkHistory(ops, { searchOnly: true }).verdict, expected, `history #${k} (search only): ${JSON.stringify(ops)}`);
      tally[expected]++;
    }
    assert.ok(tally.linearizable > 500 && tally['not linearizable'] > 500, JSON.stringify(tally));
  });
});

// ---- randomized histories of a simulated register

interface GenOptions { ops: number; keys: number; clients: number; unknownRate: number; refusedRate: number }

/**
 * A history of a real (simulated) register: each op takes effect at a random instant between its
 * invocation and completion, so the history is linearizable by construction. Some ops time out
 * (outcome unknown) and took effect or not; some are refused.
 */
function simulate(seed: number, o: GenOptions): Operation[] {
  const rng = seededRng(seed);
  const free = Array.from({ length: o.clients }, () => rng.int(0, 10));
  const seq = new Array<number>(o.clients).fill(0);
  const planned: { op: Operation; effectAt: number; applies: boolean }[] = [];
  for (let id = 1; id <= o.ops; id++) {
    let client = 0;
    for (let c = 1; c < o.clients; c++) if (free[c] < free[client]) client = c;
    const invokeMs = free[client];
    const duration = 1 + rng.int(0, 30);
    const r = rng.next();
    const kind = r < 0.35 ? 'put' : r < 0.75 ? 'get' : r < 0.87 ? 'cas' : 'delete';
    const op: Operation = { id, client, node: `n${1 + rng.int(0, 3)}`, key: `k${rng.int(0, o.keys)}`, kind, invokeMs, completeMs: invokeMs + duration, outcome: 'ok' };
    if (kind === 'put' || kind === 'cas') op.value = `c${client}-${++seq[client]}`;
    let applies = true;
    const u = rng.next();
    if (u < o.unknownRate) {
      op.outcome = 'unknown';
      delete op.completeMs;
      applies = rng.next() < 0.5;
      free[client] = invokeMs + 500; // the client's timeout
    } else if (u < o.unknownRate + o.refusedRate) {
      op.outcome = 'fail';
      op.failure = 'refused';
      applies = false;
      free[client] = invokeMs + duration + rng.int(0, 5);
    } else {
      free[client] = invokeMs + duration + rng.int(0, 5);
    }
    planned.push({ op, effectAt: invokeMs + rng.next() * duration, applies });
  }
  const register = new Map<string, string | null>();
  const written = new Map<string, string[]>();
  for (const { op, effectAt: _, applies } of [...planned].sort((x, y) => x.effectAt - y.effectAt)) {
    const cur = register.get(op.key) ?? null;
    const hist = written.get(op.key) ?? [];
    written.set(op.key, hist);
    if (op.kind === 'cas') {
      op.expected = cur !== null && rng.next() < 0.6 ? cur : hist.length ? hist[rng.int(0, hist.length)] : 'nothing-yet';
    }
    if (!applies) continue;
    switch (op.kind) {
      case 'put':
        register.set(op.key, op.value!);
        hist.push(op.value!);
        break;
      case 'get':
        if (op.outcome === 'ok') op.result = cur;
        break;
      case 'delete':
        if (op.outcome === 'ok') op.result = cur === null ? null : 'deleted';
        register.set(op.key, null);
        break;
      case 'cas':
        if (cur === op.expected) {
          register.set(op.key, op.value!);
          hist.push(op.value!);
        } else if (op.outcome === 'ok') {
          op.outcome = 'fail';
          op.failure = 'precondition';
        }
        break;
    }
  }
  return planned.map((p) => p.op);
}

/** Makes one read stale in a way no linearization can explain; returns the mutated read. */
function makeStale(ops: Operation[], rng: ReturnType<typeof seededRng>): Operation | undefined {
  const puts = ops.filter((o) => o.kind === 'put' && o.outcome === 'ok');
  const reads = ops.filter((o) => o.kind === 'get' && o.outcome === 'ok');
  const candidates: [Operation, string][] = [];
  for (const r of reads) {
    // w1 then w2, both acknowledged puts, w1 completed before w2 began and w2 before r began: r cannot
    // return w1's value. Take the latest such w2 and w1 so the search, not just a precheck, has to see it.
    const before = (t: number) => puts.filter((w) => w.key === r.key && w.completeMs! < t).at(-1);
    const w2 = before(r.invokeMs);
    const w1 = w2 && before(w2.invokeMs);
    if (w1) candidates.push([r, w1.value!]);
  }
  if (candidates.length === 0) return undefined;
  const [read, value] = candidates[rng.int(0, candidates.length)];
  read.result = value;
  return read;
}

describe('checker: randomized histories of a simulated register', () => {
  const seeds = [1, 2, 3, 4];
  for (const seed of seeds) {
    it(`seed ${seed}: 2,000 ops over 5 keys from 10 clients are linearizable; one stale read is not`, () => {
      const opts = { ops: 2000, keys: 5, clients: 10, unknownRate: 0.03, refusedRate: 0.02 };
      const ops = simulate(seed, opts);
      const t0 = performance.now();
      const r = checkHistory(ops);
      const ms = performance.now() - t0;
      assertLinearizable(r, `seed ${seed} (replay: simulate(${seed}, ${JSON.stringify(opts)})): `);
      assert.ok(r.opsChecked > 1800, `seed ${seed}: only ${r.opsChecked} ops checked`);
      console.log(`# seed ${seed}: ${r.opsChecked} ops checked in ${ms.toFixed(0)} ms (${r.keys.map((k) => `${k.key}: ${k.steps} steps`).join(', ')})`);

      const rng = seededRng(seed * 7919);
      const stale = makeStale(ops, rng);
      assert.ok(stale, `seed ${seed}: no read to make stale`);
      for (const searchOnly of [false, true]) {
        const t1 = performance.now();
        const bad = checkHistory(ops, { searchOnly });
        assert.equal(bad.verdict, 'not linearizable', `seed ${seed}: stale read op ${stale.id} not caught (searchOnly: ${searchOnly})`);
        assert.deepEqual(bad.keys.filter((k) => k.verdict === 'violation').map((k) => k.key), [stale.key], `seed ${seed}`);
        if (searchOnly) console.log(`# seed ${seed}: the search alone refuted the stale read in ${(performance.now() - t1).toFixed(0)} ms`);
      }

      // And a read of a value whose write began only after the read had completed.
      const fresh = simulate(seed, opts);
      const future = fresh.find((r) => r.kind === 'get' && r.outcome === 'ok' &&
        fresh.some((w) => w.key === r.key && w.kind === 'put' && w.invokeMs > r.completeMs!));
      assert.ok(future, `seed ${seed}: no read to mutate`);
      const later = fresh.find((w) => w.key === future.key && w.kind === 'put' && w.invokeMs > future.completeMs!)!;
      future.result = later.value;
      const bad2 = checkHistory(fresh);
      assert.equal(bad2.verdict, 'not linearizable', `seed ${seed}: future read op ${future.id} not caught`);
      assert.equal(bad2.keys.find((k) => k.verdict === 'violation')?.failedOpId, future.id, `seed ${seed}`);
    });
  }

  it('seed 5: 2,000 ops on ONE key from 10 clients, with many timeouts, are linearizable', () => {
    const opts = { ops: 2000, keys: 1, clients: 10, unknownRate: 0.08, refusedRate: 0.02 };
    const ops = simulate(5, opts);
    const t0 = performance.now();
    const r = checkHistory(ops);
    const ms = performance.now() - t0;
    assertLinearizable(r, `seed 5 (replay: simulate(5, ${JSON.stringify(opts)})): `);
    console.log(`# seed 5, one key: ${r.opsChecked} ops checked in ${ms.toFixed(0)} ms (${r.keys[0].steps} steps)`);
    const stale = makeStale(ops, seededRng(55));
    assert.ok(stale);
    assert.equal(checkHistory(ops).verdict, 'not linearizable', `seed 5: stale read op ${stale.id} not caught`);
    const t1 = performance.now();
    assert.equal(checkHistory(ops, { searchOnly: true }).verdict, 'not linearizable', `seed 5: stale read op ${stale.id} not caught by the search`);
    console.log(`# seed 5, one key: the search alone refuted the stale read in ${(performance.now() - t1).toFixed(0)} ms`);
  });
});
