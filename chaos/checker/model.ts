// One key's operations compiled for the search: each key is a register (string | null, initially null)
// and every operation becomes a small transition on an integer state id.

import type { Operation } from '../history.ts';

/** State ids: the key is absent; some value nobody ever observes; then one id per observed value. */
export const NULL = 0;
export const OTHER = 1;

/** Transitions. `a`, `b` are state ids. */
export const WRITE = 0; //     put a                                                   state := a
export const READ = 1; //      get returned a                                          legal iff state = a
export const DEL_SOME = 2; //  delete that deleted something                           legal iff state ≠ null; state := null
export const DEL_NONE = 3; //  delete that found nothing                               legal iff state = null
export const DEL_ANY = 4; //   delete whose result we don't know                       state := null
export const CAS = 5; //       cas a → b that took effect                              legal iff state = a; state := b
export const NOT = 6; //       cas against a whose compare failed                      legal iff state ≠ a

export interface KeyProblem {
  key: string;
  /** The source operations that take part, sorted by invocation; index i everywhere below is into this. */
  ops: Operation[];
  kind: Uint8Array;
  a: Int32Array;
  b: Int32Array;
  invoke: Float64Array;
  /** +Infinity for pending ops (outcome unknown): they may take effect any time after invocation, or never. */
  complete: Float64Array;
  pending: Uint8Array;
  /**
   * Pending ops with the same transition are interchangeable (same effect, no deadline), so the search
   * only ever tries the earliest not-yet-linearized one of each class: cls[i] is the class (-1 for
   * completed ops) and rank[i] the op's position within it.
   */
  cls: Int32Array;
  rank: Int32Array;
  classCount: number;
  /** Observed values by state id (index 0, 1 unused). */
  values: string[];
  valueId: Map<string, number>;
}

/** The state after applying op i in `state`, or -1 when op i is illegal there. */
export function step(p: KeyProblem, state: number, i: number): number {
  const a = p.a[i];
  switch (p.kind[i]) {
    case WRITE:
      return a;
    case READ:
      return state === a ? state : -1;
    case DEL_SOME:
      return state !== NULL ? NULL : -1;
    case DEL_NONE:
      return state === NULL ? NULL : -1;
    case DEL_ANY:
      return NULL;
    case CAS:
      return state === a ? p.b[i] : -1;
    case NOT:
      return state !== a ? state : -1;
    default:
      throw new Error(`bad transition ${p.kind[i]}`);
  }
}

/** Throws on an operation the checker cannot interpret (a bug in whatever recorded the history). */
export function validate(op: Operation): void {
  const bad = (why: string): never => {
    throw new Error(`malformed operation ${op.id} (${op.kind} of ${JSON.stringify(op.key)}): ${why}`);
  };
  if (!Number.isFinite(op.invokeMs)) bad('invokeMs is not a number');
  if (op.outcome !== 'unknown') {
    if (op.completeMs === undefined || !Number.isFinite(op.completeMs)) bad(`outcome ${op.outcome} needs completeMs`);
    if (op.completeMs! < op.invokeMs) bad('completeMs is before invokeMs');
  }
  if ((op.kind === 'put' || op.kind === 'cas') && typeof op.value !== 'string') bad('no value');
  if (op.kind === 'cas' && typeof op.expected !== 'string') bad('no expected value');
  if (op.kind === 'get' && op.outcome === 'ok' && op.result === undefined) bad('a successful get needs result');
}

/** Whether the op takes part in the check at all (see the rules in history.ts). */
export function participates(op: Operation): boolean {
  if (op.outcome === 'fail') return op.kind === 'cas' && op.failure !== 'refused';
  if (op.outcome === 'unknown') return op.kind !== 'get';
  return true;
}

/** Compiles one key's participating operations. */
export function compileKey(key: string, source: Operation[]): KeyProblem {
  const ops = [...source].sort((x, y) => x.invokeMs - y.invokeMs || x.id - y.id);
  const n = ops.length;

  // Values somebody observes get their own state id; values only ever written share OTHER, which keeps
  // the state space (and the cache) small without changing any verdict: no test can tell them apart.
  const values: string[] = ['', ''];
  const valueId = new Map<string, number>();
  const observe = (v: string): void => {
    if (!valueId.has(v)) {
      valueId.set(v, values.length);
      values.push(v);
    }
  };
  for (const op of ops) {
    if (op.kind === 'get' && typeof op.result === 'string') observe(op.result);
    if (op.kind === 'cas') observe(op.expected!);
  }
  const id = (v: string): number => valueId.get(v) ?? OTHER;

  const p: KeyProblem = {
    key, ops, values, valueId, classCount: 0,
    kind: new Uint8Array(n), a: new Int32Array(n), b: new Int32Array(n),
    invoke: new Float64Array(n), complete: new Float64Array(n), pending: new Uint8Array(n),
    cls: new Int32Array(n).fill(-1), rank: new Int32Array(n),
  };
  const classes = new Map<string, number>();
  const classSize: number[] = [];
  ops.forEach((op, i) => {
    const pending = op.outcome === 'unknown';
    p.invoke[i] = op.invokeMs;
    p.complete[i] = pending ? Infinity : op.completeMs!;
    p.pending[i] = pending ? 1 : 0;
    switch (op.kind) {
      case 'put':
        p.kind[i] = WRITE;
        p.a[i] = id(op.value!);
        break;
      case 'get':
        p.kind[i] = READ;
        p.a[i] = op.result === null ? NULL : id(op.result!);
        break;
      case 'delete':
        p.kind[i] = pending || op.result === undefined ? DEL_ANY : op.result === null ? DEL_NONE : DEL_SOME;
        break;
      case 'cas':
        p.kind[i] = op.outcome === 'fail' ? NOT : CAS;
        p.a[i] = id(op.expected!);
        p.b[i] = id(op.value!);
        break;
    }
    if (pending) {
      const sig = `${p.kind[i]}:${p.a[i]}:${p.b[i]}`;
      let c = classes.get(sig);
      if (c === undefined) {
        c = classSize.length;
        classes.set(sig, c);
        classSize.push(0);
      }
      p.cls[i] = c;
      p.rank[i] = classSize[c]++;
    }
  });
  p.classCount = classSize.length;
  return p;
}

/** The op indices that can put value id `v` into the register (puts and cas ops that may have applied). */
export function writersOf(p: KeyProblem, v: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < p.ops.length; i++) {
    if ((p.kind[i] === WRITE && p.a[i] === v) || (p.kind[i] === CAS && p.b[i] === v)) out.push(i);
  }
  return out;
}
