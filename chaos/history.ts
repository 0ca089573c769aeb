// The history a chaos run records: every client operation with its invocation and completion times and
// outcome, plus the faults injected meanwhile. The checker (checker.ts) decides whether the operations
// are linearizable; the timeline (timeline.ts) draws them.

export type OpKind = 'put' | 'get' | 'delete' | 'cas';

export interface Operation {
  /** Unique in the history. */
  id: number;
  /** The client (process/thread) that issued it; a client has one op in flight at a time. */
  client: number;
  /** Which server it was sent to (for display only). */
  node?: string;
  key: string;
  kind: OpKind;
  /** put: the value written; cas: the new value written if the compare holds. */
  value?: string;
  /**
   * cas: the value the key must currently hold. Values are unique per history, so the server's
   * compare-by-revision is equivalent to compare-by-value.
   */
  expected?: string;
  /** When the client sent it (ms since run start, monotonic). */
  invokeMs: number;
  /** When the answer arrived; absent when the outcome is 'unknown'. */
  completeMs?: number;
  /**
   * ok: the server confirmed it took effect (get: the value read is in `result`; delete: `result` says
   *     whether something was deleted).
   * fail: it definitely did NOT take effect (a cas whose compare failed — 412; or a request refused
   *     before it could apply — set `failure: 'refused'` then).
   * unknown: timed out / connection lost: it may have taken effect at any point after invokeMs, or never.
   */
  outcome: 'ok' | 'fail' | 'unknown';
  /**
   * Why an op with outcome 'fail' failed. 'precondition' (the default for a cas): the compare did not
   * hold, so the key held something other than `expected` at some instant during the op — the checker
   * uses that as a read. 'refused' (the default for every other kind): rejected before it could apply
   * (no leader, overloaded, bad request): it carries no information and the checker drops it.
   */
  failure?: 'precondition' | 'refused';
  /**
   * get: the value read (null = key absent). delete: 'deleted' or null (nothing to delete); a delete
   * without `result` is taken as "deleted or not, we don't know which".
   */
  result?: string | null;
  /** A write that took effect ('ok', and a delete that deleted): the revision the server answered with. */
  revision?: number;
}

export interface FaultEvent {
  startMs: number;
  /** Absent when the fault was still active at the end of the run. */
  endMs?: number;
  kind: string;
  description: string;
}

export interface History {
  operations: Operation[];
  faults: FaultEvent[];
  /** Wall-clock start of the run (ISO 8601). */
  startedAt: string;
  nodes: string[];
}

/** "get of k1 by client 3 [1200–1234 ms] returned "c2-7"" — for explanations and tooltips. */
export function describeOp(op: Operation): string {
  const q = (v: string | null | undefined): string => (v === null || v === undefined ? 'nothing' : JSON.stringify(v));
  const span = `[${fmtMs(op.invokeMs)}–${op.completeMs === undefined ? '?' : fmtMs(op.completeMs)} ms]`;
  const who = `of ${JSON.stringify(op.key)} by client ${op.client}${op.node ? ` via ${op.node}` : ''} ${span}`;
  let what: string;
  switch (op.kind) {
    case 'put':
      what = `put ${q(op.value)}`;
      break;
    case 'get':
      what = 'get';
      break;
    case 'delete':
      what = 'delete';
      break;
    case 'cas':
      what = `cas ${q(op.expected)} → ${q(op.value)}`;
      break;
  }
  let outcome: string;
  if (op.outcome === 'unknown') outcome = 'outcome unknown';
  else if (op.outcome === 'fail') outcome = op.kind === 'cas' && op.failure !== 'refused' ? 'compare failed' : 'refused';
  else if (op.kind === 'get') outcome = `returned ${q(op.result)}`;
  else if (op.kind === 'delete') outcome = op.result === undefined ? 'ok' : op.result === null ? 'found nothing to delete' : 'deleted';
  else outcome = 'ok';
  return `op ${op.id}: ${what} ${who} ${outcome}`;
}

function fmtMs(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}
