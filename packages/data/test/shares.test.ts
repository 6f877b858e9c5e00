import fc from 'fast-check';
import { expect, test } from 'vitest';
import { evenUnlessSlower, medianOf, splitWithFloor } from '../src/index.js';

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

test('near-equal workers keep equal shards (one gradient node each); clearly different ones are split by speed', () => {
  const counts = (speeds: number[], m = 8) => evenUnlessSlower(m, speeds, speeds.map(() => 0)).map((s) => s.count);
  expect(counts([1.3, 1])).toEqual([4, 4]); // by speed 5:3 would be 4 % faster on paper, at twice the bytes
  expect(counts([1, 1.1, 0.95])).toEqual([3, 2, 3]);
  expect(counts([2, 1])).toEqual([5, 3]); // 25 % faster than 4:4: worth it
  expect(counts([5, 1])).toEqual([7, 1]);
  expect(counts([1, 1e-6])).toEqual([8, 0]);
  // Whichever it picks, the shards tile the range and honour the floor, and it is never more than 15 % slower than by speed.
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.tuple(fc.double({ min: 0.001, max: 1e6, noNaN: true }), fc.boolean()), { minLength: 1, maxLength: 8 }), (count, ws) => {
      const speeds = ws.map(([w]) => w);
      const floor = ws.map(([, f]) => (f ? 1 : 0));
      const shards = evenUnlessSlower(count, speeds, floor);
      expect(shards.reduce((n, s) => n + s.count, 0)).toBe(count);
      if (count >= ws.length) floor.forEach((f, i) => f && expect(shards[i]!.count).toBeGreaterThanOrEqual(1));
      const time = (sh: typeof shards) => Math.max(...sh.map((x, i) => (x.count === 0 ? 0 : x.count / speeds[i]!)));
      expect(time(shards)).toBeLessThanOrEqual(1.15 * time(splitWithFloor(count, speeds, floor)) * (1 + 1e-12));
    }),
  );
});

test('medianOf: the middle value, the mean of the middle two for an even count; no values is an error', () => {
  expect(medianOf([3, 1, 2])).toBe(2);
  expect(medianOf([4, 1, 3, 2])).toBe(2.5);
  expect(medianOf([7])).toBe(7);
  expect(() => medianOf([])).toThrow(/no values/);
});
