// Turning a failed search into words: which operation could not be placed, and why.

import { describeOp } from '../history.ts';
import {
  CAS, DEL_ANY, DEL_NONE, DEL_SOME, NOT, NULL, OTHER, READ, WRITE, step, writersOf, type KeyProblem,
} from './model.ts';

export interface Explanation {
  text: string;
  /** The id (Operation.id) of the operation that could not be placed. */
  failedOpId: number;
}

/**
 * Cheap checks that catch the blatant cases with a precise explanation before the search runs: a read
 * (or a successful cas) of a value no operation could have written, or of a value whose only writers
 * were invoked after the reader had already completed.
 */
export function precheck(p: KeyProblem): Explanation | undefined {
  for (let i = 0; i < p.ops.length; i++) {
    const k = p.kind[i];
    if (p.pending[i] || (k !== READ && k !== CAS) || p.a[i] === NULL) continue;
    const v = p.a[i];
    const sees = k === READ ? `returned ${JSON.stringify(p.values[v])}` : `found ${JSON.stringify(p.values[v])}`;
    const writers = writersOf(p, v);
    if (writers.length === 0) {
      return { failedOpId: p.ops[i].id, text: `${describeOp(p.ops[i])}: it ${sees}, which no operation on this key wrote (nor tried to write, except possibly requests that definitely failed).` };
    }
    if (writers.every((w) => p.invoke[w] > p.complete[i])) {
      const w = writers[0];
      return {
        failedOpId: p.ops[i].id,
        text: `${describeOp(p.ops[i])}: it ${sees}, but that value was written only by ${describeOp(p.ops[w])}, which was invoked at ${p.invoke[w]} ms, after this op had completed at ${p.complete[i]} ms.`,
      };
    }
  }
  return undefined;
}

/**
 * A stale read, found directly: a read (or successful cas) of v, whose only writer w had completed
 * before some other acknowledged write x began, and x had completed before the read began. w < x < read
 * in every linearization, and nothing else writes v, so the read cannot see v.
 */
export function staleRead(p: KeyProblem): Explanation | undefined {
  const n = p.ops.length;
  const changers: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = p.kind[i];
    if (!p.pending[i] && (k === WRITE || k === CAS || k === DEL_SOME || k === DEL_ANY)) changers.push(i);
  }
  changers.sort((x, y) => p.invoke[x] - p.invoke[y]);
  // suffixMin[j]: among changers[j..], the one that completes first.
  const suffixMin = new Int32Array(changers.length + 1).fill(-1);
  for (let j = changers.length - 1; j >= 0; j--) {
    const later = suffixMin[j + 1];
    suffixMin[j] = later !== -1 && p.complete[later] < p.complete[changers[j]] ? later : changers[j];
  }
  // Values with exactly one op (completed or pending) that may write them, and that op.
  const writer = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const v = p.kind[i] === WRITE ? p.a[i] : p.kind[i] === CAS ? p.b[i] : NULL;
    if (v !== NULL && v !== OTHER) writer.set(v, writer.has(v) ? -1 : i);
  }
  for (let r = 0; r < n; r++) {
    if (p.pending[r] || (p.kind[r] !== READ && p.kind[r] !== CAS) || p.a[r] === NULL) continue;
    const w = writer.get(p.a[r]) ?? -1;
    if (w === -1 || p.pending[w]) continue;
    // the first changer invoked after w completed
    let lo = 0;
    let hi = changers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p.invoke[changers[mid]] > p.complete[w]) hi = mid;
      else lo = mid + 1;
    }
    const x = suffixMin[lo];
    if (x === -1 || x === r || p.complete[x] >= p.invoke[r]) continue;
    const v = JSON.stringify(p.values[p.a[r]]);
    const how = p.kind[x] === WRITE || p.kind[x] === CAS ? `replaced by ${JSON.stringify(p.ops[x].value)}` : 'deleted';
    return {
      failedOpId: p.ops[r].id,
      text: `${describeOp(p.ops[r])}: stale. ${v} was written by ${describeOp(p.ops[w])}, which completed at ${p.complete[w]} ms; ` +
        `then ${describeOp(p.ops[x])} — it began at ${p.invoke[x]} ms and completed at ${p.complete[x]} ms, before this op began ` +
        `at ${p.invoke[r]} ms. So ${v} had been ${how}, for good: only op ${p.ops[w].id} ever wrote it.`,
    };
  }
  return undefined;
}

/** Explains a violation from the longest linearizable prefix the search found. */
export function explain(p: KeyProblem, best: number[]): Explanation {
  // Replay the prefix, remembering who put the register in its current state.
  let state = NULL;
  let writer = -1;
  const placed = new Uint8Array(p.ops.length);
  for (const i of best) {
    state = step(p, state, i);
    placed[i] = 1;
    const k = p.kind[i];
    if (k === WRITE || k === CAS || k === DEL_SOME || k === DEL_ANY) writer = i;
  }
  // The op that blocked it: the unplaced completed op with the earliest completion.
  let b = -1;
  for (let i = 0; i < p.ops.length; i++) {
    if (placed[i] || p.pending[i]) continue;
    if (b === -1 || p.complete[i] < p.complete[b]) b = i;
  }
  if (b === -1) return { failedOpId: -1, text: 'no linearization found (internal inconsistency: every op was placed).' };

  const prefix = `The longest linearizable prefix found places ${best.length} of ${p.ops.length} ops` +
    (best.length ? ` (ending with ${best.slice(-3).map((i) => `op ${p.ops[i].id}`).join(', ')})` : '') +
    `; after it the register holds ${describeState(p, state, writer)}`;
  const v = (id: number): string => (id === NULL ? 'nothing' : JSON.stringify(p.values[id]));
  let why: string;
  if (step(p, state, b) < 0) {
    let observed: string;
    switch (p.kind[b]) {
      case READ:
        observed = `the get returned ${v(p.a[b])}`;
        break;
      case DEL_SOME:
        observed = 'the delete found something to delete';
        break;
      case DEL_NONE:
        observed = 'the delete found nothing to delete';
        break;
      case CAS:
        observed = `the cas found ${v(p.a[b])} (its compare succeeded)`;
        break;
      case NOT:
        observed = `the cas's compare against ${v(p.a[b])} failed`;
        break;
      default:
        observed = 'it cannot apply there';
    }
    why = `it cannot be linearized. ${prefix}, but ${observed}.`;
  } else {
    const overlapping: number[] = [];
    for (let i = 0; i < p.ops.length; i++) {
      if (!placed[i] && i !== b && p.invoke[i] <= p.complete[b]) overlapping.push(i);
    }
    why = `it cannot be linearized: it must take effect by ${p.complete[b]} ms, but no order of it and the ${overlapping.length} unplaced ops overlapping it` +
      ` (${overlapping.slice(0, 5).map((i) => `op ${p.ops[i].id}`).join(', ')}${overlapping.length > 5 ? ', …' : ''}) is consistent` +
      ` with what they observed. ${prefix}.`;
  }
  return { failedOpId: p.ops[b].id, text: `${describeOp(p.ops[b])}: ${why}` };
}

function describeState(p: KeyProblem, state: number, writer: number): string {
  if (writer === -1) return 'nothing (the key was never written)';
  const w = p.ops[writer];
  if (state === NULL) return `nothing (deleted by ${describeOp(w)})`;
  return `${JSON.stringify(w.value)} (written by ${describeOp(w)})`;
}
