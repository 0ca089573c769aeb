import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkWatches, type WatchedStream } from '../../chaos/watch-check.ts';
import type { Operation } from '../../chaos/history.ts';
import type { WatchedChange } from '../../chaos/watchers.ts';

const END = 'chaos-watch-end-0';
const ops: Operation[] = [
  { id: 1, client: 0, key: 'chaos-0', kind: 'put', value: 'c0-1', invokeMs: 0, completeMs: 1, outcome: 'ok', revision: 5 },
  { id: 2, client: 1, key: 'chaos-1', kind: 'put', value: 'c1-1', invokeMs: 0, outcome: 'unknown' },
  { id: 3, client: 0, key: 'chaos-0', kind: 'delete', invokeMs: 2, completeMs: 3, outcome: 'ok', result: 'deleted', revision: 7 },
  { id: 4, client: 0, key: 'chaos-0', kind: 'delete', invokeMs: 4, completeMs: 5, outcome: 'ok', result: null },
];
const good: WatchedChange[] = [
  { key: 'chaos-0', kind: 'put', value: 'c0-1', revision: 5, shard: 0 },
  { key: 'chaos-1', kind: 'put', value: 'c1-1', revision: 6, shard: 0 },
  { key: 'chaos-0', kind: 'delete', revision: 7, shard: 0 },
  { key: END, kind: 'put', value: 'end', revision: 9, shard: 0 },
];
const stream = (name: string, changes: WatchedChange[]): WatchedStream => ({ name, changes });

test('streams that hold every acknowledged write once, in order, and agree, pass', () => {
  assert.deepStrictEqual(checkWatches([stream('a', good), stream('b', good)], ops, [END]), []);
  // A write of unknown outcome may be absent, if it is absent from every stream.
  const without = good.filter((c) => c.key !== 'chaos-1');
  assert.deepStrictEqual(checkWatches([stream('a', without), stream('b', without)], ops, [END]), []);
});

test('each kind of wrong stream is named', () => {
  const cases: Array<[string, WatchedChange[], RegExp]> = [
    ['a missing acknowledged write', good.filter((c) => c.revision !== 5), /op 1 .*acknowledged at revision 5\) is missing/],
    ['a change twice', [good[0], ...good], /came twice/],
    ['revisions going back', [good[1], good[0], ...good.slice(2)], /revision 5 came after 6 in shard 0/],
    ['a value nobody wrote', [...good.slice(0, 3), { key: 'chaos-1', kind: 'put', value: 'zz', revision: 8, shard: 0 }, good[3]], /a put of "zz" to chaos-1 that no client wrote/],
    ['the wrong value at an acknowledged revision', [{ ...good[0], value: 'c1-1' }, ...good.slice(1)], /op 1 .* came as put "c1-1"/],
    ['no closing write', good.slice(0, 3), /never saw the closing write/],
  ];
  for (const [what, changes, expected] of cases) {
    const problems = checkWatches([stream('a', good), stream('b', changes)], ops, [END]);
    assert.ok(problems.some((p) => expected.test(p)), `${what}: ${JSON.stringify(problems)}`);
  }
});

test('streams that disagree on a write of unknown outcome are told apart, shard by shard', () => {
  const without = good.filter((c) => c.key !== 'chaos-1');
  const problems = checkWatches([stream('a', good), stream('b', without)], ops, [END]);
  assert.match(problems.join('\n'), /b differs from a in shard 0 at its change 1/);
  // Across shards each stream has its own order: no disagreement.
  const other = { key: 'chaos-9', kind: 'put' as const, value: 'c0-1', revision: 3, shard: 1 };
  const twoShards = [...ops, { ...ops[0], id: 5, key: 'chaos-9', revision: 3 }];
  assert.deepStrictEqual(checkWatches([stream('a', [other, ...good]), stream('b', [...good, other])], twoShards, [END]), []);
});
