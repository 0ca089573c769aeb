// fast-check arbitraries for the placement tests (the counting they share with bench/ is
// testkit/placement-stats.ts).
import fc from 'fast-check';

/** fast-check: `count` distinct member ids, short arbitrary strings (any code points). */
export const memberIds = (count: number): fc.Arbitrary<string[]> =>
  fc.uniqueArray(fc.string({ minLength: 1, maxLength: 10, unit: 'grapheme' }), { minLength: count, maxLength: count });
