// Size checks on keys, values, batches and listing bounds, the same for every front end. An empty key is
// malformed (bad-request); anything over a limit is too-large, a distinct code so that clients can tell the
// two apart.

import { ConcordError } from '../../util/errors.ts';
import type { BatchOp } from '../../kv/types.ts';
import type { ApiLimits } from './limits.ts';

export function checkKey(key: Uint8Array, limits: ApiLimits, what = 'key'): Uint8Array {
  if (key.byteLength === 0) throw new ConcordError('bad-request', `${what} must not be empty`);
  if (key.byteLength > limits.maxKeyBytes) {
    throw new ConcordError('too-large', `${what} is ${key.byteLength} bytes; the limit is ${limits.maxKeyBytes}`);
  }
  return key;
}

export function checkValue(value: Uint8Array, limits: ApiLimits, what = 'value'): Uint8Array {
  if (value.byteLength > limits.maxValueBytes) {
    throw new ConcordError('too-large', `${what} is ${value.byteLength} bytes; the limit is ${limits.maxValueBytes}`);
  }
  return value;
}

/** A batch is one log entry, so its values together get the budget of one value. */
export function checkBatchValues(ops: readonly BatchOp[], limits: ApiLimits): void {
  let valueBytes = 0;
  for (const o of ops) if (o.op === 'put') valueBytes += o.value.byteLength;
  if (valueBytes > limits.maxValueBytes) {
    throw new ConcordError('too-large', `the batch carries ${valueBytes} value bytes; the limit is ${limits.maxValueBytes}`);
  }
}

/**
 * A listing's `prefix`, `start` or `end`: empty means unbounded (undefined). No key is longer than the key
 * limit, so a longer bound is a mistake, reported like a long key.
 */
export function listBound<B extends Uint8Array>(bytes: B | undefined, name: string, limits: ApiLimits): B | undefined {
  if (bytes === undefined || bytes.byteLength === 0) return undefined;
  if (bytes.byteLength > limits.maxKeyBytes) {
    throw new ConcordError('too-large', `${name} is ${bytes.byteLength} bytes; the key limit is ${limits.maxKeyBytes}`);
  }
  return bytes;
}
