// The Wing–Gong linearizability search with Lowe's memoization, as in Porcupine and Knossos.
//
// The call and return events of one key's operations, sorted by time, form a doubly linked list. The
// search walks it from the front: at a call it tries to linearize that operation now (legal in the
// current state, and the resulting configuration — set of linearized ops + state — not already seen),
// and if so removes the op's call and return from the list and starts over from the front; at a
// return it has reached an operation that completed without being linearized, so it backtracks: undo
// the most recent choice and try the next call after it. The cache of configurations already explored
// is what makes this practical: every configuration is expanded at most once.
//
// Pending operations (outcome unknown) have no return event, so they never force a backtrack and may
// stay un-linearized; the history is linearizable once every completed operation has been placed.

import { Bits, CacheFull, ConfigCache } from './cache.ts';
import { DEL_NONE, NOT, READ, step, type KeyProblem } from './model.ts';

export interface SearchOutcome {
  verdict: 'ok' | 'violation' | 'gave up';
  /** Why it gave up. */
  reason?: 'time' | 'memory';
  /** The longest linearizable prefix found (op indices, in linearization order). */
  best: number[];
  /** Iterations of the search loop (moves tried, reads forced, backtracks): a measure of its work. */
  steps: number;
}

const HEAD = 0;

export interface SearchLimits {
  /** performance.now() after which the search gives up. */
  deadline: number;
  /** Budget for the cache, in 32-bit words (default 2^28: 1 GiB). */
  maxCacheWords?: number;
}

export function search(p: KeyProblem, limits: SearchLimits): SearchOutcome {
  const n = p.ops.length;

  // ---- the event list: node 0 is the head; op i has call node callNode[i], return node retNode[i] (-1 if pending)
  const events: { node: number; time: number; call: boolean; op: number }[] = [];
  const callNode = new Int32Array(n);
  const retNode = new Int32Array(n).fill(-1);
  let nodes = 1;
  for (let i = 0; i < n; i++) {
    callNode[i] = nodes++;
    events.push({ node: callNode[i], time: p.invoke[i], call: true, op: i });
    if (!p.pending[i]) {
      retNode[i] = nodes++;
      events.push({ node: retNode[i], time: p.complete[i], call: false, op: i });
    }
  }
  // At equal times calls go first: ops that touch at an instant count as concurrent (the lenient reading,
  // which is right for millisecond timestamps).
  events.sort((x, y) => x.time - y.time || (x.call === y.call ? x.op - y.op : x.call ? -1 : 1));
  const next = new Int32Array(nodes).fill(-1);
  const prev = new Int32Array(nodes).fill(-1);
  const nodeOp = new Int32Array(nodes).fill(-1);
  const isCall = new Uint8Array(nodes);
  let last = HEAD;
  for (const e of events) {
    next[last] = e.node;
    prev[e.node] = last;
    nodeOp[e.node] = e.op;
    isCall[e.node] = e.call ? 1 : 0;
    last = e.node;
  }

  const lift = (i: number): void => {
    const c = callNode[i];
    next[prev[c]] = next[c];
    if (next[c] !== -1) prev[next[c]] = prev[c];
    const r = retNode[i];
    if (r !== -1) {
      next[prev[r]] = next[r];
      if (next[r] !== -1) prev[next[r]] = prev[r];
    }
  };
  const unlift = (i: number): void => {
    const r = retNode[i];
    if (r !== -1) {
      next[prev[r]] = r;
      if (next[r] !== -1) prev[next[r]] = r;
    }
    const c = callNode[i];
    next[prev[c]] = c;
    if (next[c] !== -1) prev[next[c]] = c;
  };

  // ---- the set of linearized ops, as two bitsets (completed ops, pending ops) so that pending ops left
  // unplaced do not pin the "interesting part" of the completed set to the start of the history.
  const ord = new Int32Array(n);
  let nc = 0;
  let np = 0;
  for (let i = 0; i < n; i++) ord[i] = p.pending[i] ? np++ : nc++;
  const done = new Bits(nc, 0x2545f491);
  const pend = new Bits(np, 0x6a09e667);
  const setBit = (i: number): void => (p.pending[i] ? pend : done).set(ord[i]);
  const clearBit = (i: number): void => (p.pending[i] ? pend : done).clear(ord[i]);
  // Every configuration in the cache has either failed, or is on the current path (then its set is a
  // strict subset of the current one, so it never matches a configuration being tried).
  const cache = new ConfigCache(limits.maxCacheWords ?? 2 ** 28);

  // ---- the search
  //
  // Three reductions keep the configurations few without losing any linearization:
  //
  // Reads first. An available op that does not change the state (a get, a failed cas, a delete that
  // found nothing) and is legal now can be placed now: in any completion it can be moved to the front.
  // So when there is one, it is the only move tried from that configuration.
  //
  // Pending ops "just in time". A pending op p placed in state s0 must be followed at once by an op
  // that would be illegal in s0 (the guard). Any linearization can be brought into that form: if the op
  // q after p is legal without p, then either q overwrites or reads-and-replaces the state regardless
  // (a put, a delete, a cas) and p can be dropped, or q only reads and can be moved in front of p.
  // Without this, every pending op could sit at every point of the rest of the history.
  //
  // Pending ops last. From each configuration the completed ops are tried before the pending ones, so
  // configurations that spend fewer pending ops are explored first, and their failure covers (see
  // ConfigCache.covered) the same configuration reached later having spent more.
  const used = new Int32Array(p.classCount); // pending ops of each class linearized so far
  const stackOp: number[] = [];
  const stackState: number[] = [];
  const stackGuard: number[] = [];
  const stackForced: boolean[] = [];
  const stackEntry: number[] = [];
  const best: number[] = [];
  let lowSinceBest = 0; // stack entries below this height are unchanged since `best` was copied
  let state = 0;
  let guard = -1; // when >= 0: the next op placed must be illegal in this state
  let remaining = 0;
  for (let i = 0; i < n; i++) if (!p.pending[i]) remaining++;
  let steps = 0;
  let entry = next[HEAD];
  let pendingPass = false; // scanning for completed ops (false) or pending ones (true)
  let fresh = true; // a configuration just entered: look for a forced read first

  /** Tries to enter the configuration reached by placing op i; false if it needs no search. */
  const place = (i: number, s: number, g: number, forced: boolean): boolean => {
    setBit(i);
    if (cache.covered(done, pend, s, -1) || (g >= 0 && cache.covered(done, pend, s, g))) {
      clearBit(i);
      return false;
    }
    stackEntry.push(cache.add(done, pend, s, g));
    stackOp.push(i);
    stackState.push(state);
    stackGuard.push(guard);
    stackForced.push(forced);
    state = s;
    guard = g;
    lift(i);
    const c = p.cls[i];
    if (c >= 0) used[c]++;
    else remaining--;
    if (stackOp.length > best.length) {
      best.length = stackOp.length;
      for (let k = lowSinceBest; k < stackOp.length; k++) best[k] = stackOp[k];
      lowSinceBest = stackOp.length;
    }
    entry = next[HEAD];
    pendingPass = false;
    fresh = true;
    return true;
  };
  /** Whether some available op other than pending op i is illegal now but legal after i (state s). */
  const needed = (i: number, s: number): boolean => {
    for (let e = next[HEAD]; e !== -1 && isCall[e]; e = next[e]) {
      const j = nodeOp[e];
      if (j === i) continue;
      const c = p.cls[j];
      if (c >= 0 && p.rank[j] !== used[c] + (c === p.cls[i] ? 1 : 0)) continue;
      if (step(p, state, j) < 0 && step(p, s, j) >= 0) return true;
    }
    return false;
  };
  const readOnly = (i: number): boolean => {
    const k = p.kind[i];
    return k === READ || k === NOT || k === DEL_NONE;
  };

  try {
    while (remaining > 0) {
      if ((++steps & 0x1fff) === 0 && performance.now() > limits.deadline) {
        return { verdict: 'gave up', reason: 'time', best, steps };
      }
      if (fresh) {
        fresh = false;
        let f = -1;
        for (let e = next[HEAD]; e !== -1 && isCall[e]; e = next[e]) {
          const i = nodeOp[e];
          if (readOnly(i) && step(p, state, i) >= 0 && (guard < 0 || step(p, guard, i) < 0)) {
            f = i;
            break;
          }
        }
        // Its only move: if that was explored already, this configuration fails.
        if (f >= 0 && !place(f, state, -1, true)) entry = -1;
        continue;
      }
      if (entry !== -1 && isCall[entry]) {
        const i = nodeOp[entry];
        entry = next[entry];
        const c = p.cls[i];
        if ((c >= 0) !== pendingPass) continue;
        if (c >= 0 && p.rank[i] !== used[c]) continue; // try only the earliest of interchangeable pending ops
        const s = step(p, state, i);
        if (s < 0 || (guard >= 0 && step(p, guard, i) >= 0)) continue;
        if (c >= 0 && !needed(i, s)) continue;
        place(i, s, c >= 0 ? state : -1, false);
      } else if (!pendingPass && entry !== -1) {
        pendingPass = true;
        entry = next[HEAD];
      } else {
        // A return event, or no more moves: an op completed without being placed. Backtrack.
        if (stackOp.length === 0) return { verdict: 'violation', best, steps };
        cache.finish(stackEntry.pop()!);
        const i = stackOp.pop()!;
        state = stackState.pop()!;
        guard = stackGuard.pop()!;
        const forced = stackForced.pop()!;
        if (stackOp.length < lowSinceBest) lowSinceBest = stackOp.length;
        clearBit(i);
        unlift(i);
        const c = p.cls[i];
        if (c >= 0) used[c]--;
        else remaining++;
        pendingPass = c >= 0;
        entry = forced ? -1 : next[callNode[i]];
      }
    }
  } catch (e) {
    if (e instanceof CacheFull) return { verdict: 'gave up', reason: 'memory', best, steps };
    throw e;
  }
  return { verdict: 'ok', best, steps };
}
