import fc from 'fast-check';
import { expect, test } from 'vitest';
import { splitWithFloor } from '../src/coordinator/coordinator.js';

test('an unmeasured worker gets at least one micro-batch when there are enough; shards still tile the range', () => {
  expect(splitWithFloor(8, [1e6, 1e3], [0, 1]).map((s) => s.count)).toEqual([7, 1]);
  expect(splitWithFloor(8, [1e6, 1e3], [0, 0]).map((s) => s.count)).toEqual([8, 0]);
  expect(splitWithFloor(1, [1e6, 1e3], [0, 1]).map((s) => s.count)).toEqual([1, 0]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.tuple(fc.double({ min: 0.001, max: 1e6, noNaN: true }), fc.boolean()), { minLength: 1, maxLength: 8 }), (count, ws) => {
      const shards = splitWithFloor(count, ws.map(([w]) => w), ws.map(([, f]) => (f ? 1 : 0)));
      let at = 0;
      for (const s of shards) {
        expect(s.start).toBe(at);
        at += s.count;
      }
      expect(at).toBe(count);
      if (count >= ws.length) ws.forEach(([, f], i) => f && expect(shards[i]!.count).toBeGreaterThanOrEqual(1));
    }),
  );
});
