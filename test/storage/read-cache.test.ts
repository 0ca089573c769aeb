import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrequencySketch, ReadCache } from '../../src/storage/read-cache.ts';

test('the cache never holds more bytes than its capacity, and counts hits and misses', () => {
  const c = new ReadCache<number>(10_000);
  for (let i = 0; i < 5_000; i++) {
    const k = `k${i % 700}`;
    if (c.get(k) === undefined) c.set(k, i, 10 + (i % 90));
    assert.ok(c.stats().bytes <= 10_000, `${c.stats().bytes} bytes after ${i} operations`);
  }
  const s = c.stats();
  assert.equal(s.hits + s.misses, 5_000);
  assert.ok(s.hits > 0 && s.misses > 0);
});

test('keys read often survive a scan of keys read once (frequency admission), where plain LRU would lose them', () => {
  const c = new ReadCache<string>(100 * 100); // room for about 100 entries of 100 bytes
  const hot = Array.from({ length: 50 }, (_, i) => `hot${i}`);
  for (let round = 0; round < 20; round++) for (const k of hot) if (c.get(k) === undefined) c.set(k, k, 100);
  for (let i = 0; i < 5_000; i++) if (c.get(`scan${i}`) === undefined) c.set(`scan${i}`, 'x', 100);
  const kept = hot.filter((k) => c.has(k)).length;
  assert.ok(kept >= 45, `${kept} of 50 hot keys kept through a scan of 5,000`);
});

test('replace updates a cached value in place; it does not insert; delete and clear remove', () => {
  const c = new ReadCache<string>(10_000);
  c.set('a', 'one', 10);
  assert.equal(c.replace('a', 'two', 12), true);
  assert.equal(c.get('a'), 'two');
  assert.equal(c.replace('b', 'never', 10), false);
  assert.equal(c.has('b'), false);
  c.delete('a');
  assert.equal(c.get('a'), undefined);
  c.set('x', 'x', 5);
  c.clear();
  assert.deepEqual([c.has('x'), c.stats().bytes, c.stats().entries], [false, 0, 0]);
});

test('an entry larger than the admission window is not cached, and growing in place keeps the bound', () => {
  const c = new ReadCache<string>(1_000);
  c.set('big', 'b', 500); // the window is 1% of 1,000 bytes
  assert.equal(c.has('big'), false);
  for (let i = 0; i < 60; i++) {
    c.set(`k${i}`, 'v', 10);
    c.get(`k${i}`);
  }
  c.replace('k59', 'grown', 900);
  assert.ok(c.stats().bytes <= 1_000, `${c.stats().bytes}`);
});

test('the frequency sketch counts up to 15 and halves its counts as it ages', () => {
  const s = new FrequencySketch(16);
  for (let i = 0; i < 40; i++) s.increment('a');
  assert.equal(s.frequency('a'), 15);
  assert.equal(s.frequency('never'), 0);
  for (let i = 0; i < 200; i++) s.increment(`other${i}`); // past the sample size: a reset
  assert.ok(s.frequency('a') < 15, `aged to ${s.frequency('a')}`);
});
