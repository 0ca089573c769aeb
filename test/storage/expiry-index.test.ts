// The expiry index against a plain reference, as a property: whatever the adds (keys written again with
// other expiries, in any order) and the sweeps, takeDue gives exactly the keys whose newest expiry is due,
// once each; and the heap stays bounded by the live keys while a key is renewed over and over.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExpiryIndex } from '../../src/storage/expiry-index.ts';

const key = (i: number) => new TextEncoder().encode(`k${i}`);

it('takeDue(t) yields each key whose newest expiry is at or before t, once, soonest first', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.record({ add: fc.nat(20), at: fc.nat(1000) }), fc.record({ due: fc.nat(1000) })), { maxLength: 200 }), (steps) => {
      const index = new ExpiryIndex();
      const newest = new Map<number, number>();
      for (const s of steps) {
        if ('add' in s) {
          index.add(key(s.add), s.at);
          newest.set(s.add, s.at);
          continue;
        }
        const want = [...newest].filter(([, at]) => at <= s.due).sort((a, b) => a[1] - b[1]);
        const got = index.takeDue(s.due).map((k) => Number(new TextDecoder().decode(k).slice(1)));
        assert.deepEqual([...got].sort((a, b) => a - b), want.map(([k]) => k).sort((a, b) => a - b));
        for (const [k] of want) newest.delete(k);
        assert.equal(index.size, newest.size);
        assert.equal(index.next() === undefined, newest.size === 0);
      }
    }),
  );
});

it('a key renewed 100,000 times holds one live entry, and the heap stays near the live count', () => {
  const index = new ExpiryIndex();
  for (let i = 0; i < 100_000; i++) index.add(key(i % 3), 1_000_000 + i);
  assert.equal(index.size, 3);
  assert.ok((index as unknown as { heap: unknown[] }).heap.length < 2 * 3 + 1024 + 1);
  assert.deepEqual(index.takeDue(2_000_000).length, 3);
});
