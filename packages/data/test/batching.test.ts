import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batchIndices,
  DatasetError,
  epochPermutation,
  splitShards,
  splitShardsAligned,
  stepsPerEpoch,
  type Shard,
} from '../src/index.js';

function isPermutation(p: Uint32Array, n: number): boolean {
  if (p.length !== n) return false;
  const seen = new Uint8Array(n);
  for (const v of p) {
    if (v >= n || seen[v]) return false;
    seen[v] = 1;
  }
  return true;
}

/** Shards tile [0, count) in order with no gaps or overlaps. */
function expectTiling(shards: Shard[], count: number): void {
  let next = 0;
  for (const s of shards) {
    expect(s.count).toBeGreaterThanOrEqual(0);
    expect(s.start).toBe(next);
    next += s.count;
  }
  expect(next).toBe(count);
}

const weightsArb = fc
  .array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 50 })), {
    minLength: 1,
    maxLength: 12,
  })
  .filter((w) => w.reduce((a, b) => a + b, 0) > 0);

describe('epochPermutation', () => {
  it('is a permutation of 0..n-1 and the same for the same (n, seed, epoch)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer(), fc.nat(1000), (n, seed, epoch) => {
        const p = epochPermutation(n, seed, epoch);
        expect(isPermutation(p, n)).toBe(true);
        expect(epochPermutation(n, seed, epoch)).toEqual(p);
      }),
    );
  });

  it('differs between epochs and between seeds', () => {
    const a = epochPermutation(1000, 1, 0);
    expect(a).not.toEqual(epochPermutation(1000, 1, 1));
    expect(a).not.toEqual(epochPermutation(1000, 2, 0));
  });

  it('is pinned: a change to the shuffle changes every run, so it must be deliberate', () => {
    expect(Array.from(epochPermutation(10, 42, 3))).toEqual([9, 4, 0, 5, 7, 1, 8, 3, 2, 6]);
  });

  it('rejects a non-integer epoch or seed', () => {
    expect(() => epochPermutation(10, 0, 1.5)).toThrow(DatasetError);
    expect(() => epochPermutation(10, 0.5, 1)).toThrow(/seed/);
  });
});

describe('stepsPerEpoch', () => {
  it('counts the last partial batch', () => {
    expect(stepsPerEpoch(10, 5)).toBe(2);
    expect(stepsPerEpoch(11, 5)).toBe(3);
    expect(stepsPerEpoch(4, 32)).toBe(1); // xor with a big batch still trains
    expect(stepsPerEpoch(7996, 64)).toBe(125);
  });

  it('rejects n = 0 and batch = 0', () => {
    expect(() => stepsPerEpoch(0, 5)).toThrow(/n must be an integer >= 1/);
    expect(() => stepsPerEpoch(5, 0)).toThrow(/batch must be an integer >= 1/);
  });
});

describe('batchIndices', () => {
  it('covers every sample exactly once per epoch, in permutation order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 600 }), fc.integer(), fc.nat(5), (n, batch, seed, epoch) => {
        const steps = stepsPerEpoch(n, batch);
        const all: number[] = [];
        for (let k = 0; k < steps; k++) {
          const b = batchIndices(n, batch, seed, epoch * steps + k);
          expect(b.epoch).toBe(epoch);
          expect(b.stepInEpoch).toBe(k);
          expect(b.indices.length).toBe(k < steps - 1 ? batch : n - (steps - 1) * batch);
          all.push(...b.indices);
        }
        expect(Uint32Array.from(all)).toEqual(epochPermutation(n, seed, epoch));
      }),
    );
  });

  it('returns a copy the caller may modify', () => {
    const a = batchIndices(100, 10, 7, 3);
    a.indices.fill(0);
    expect(batchIndices(100, 10, 7, 3).indices).not.toEqual(a.indices);
  });

  it('gives the same answer whatever was asked before (the cache is invisible)', () => {
    const direct = batchIndices(50, 8, 3, 9);
    batchIndices(50, 8, 4, 9);
    batchIndices(51, 8, 3, 9);
    expect(batchIndices(50, 8, 3, 9)).toEqual(direct);
  });
});

describe('splitShards', () => {
  it('tiles the batch with sizes within one sample of the weighted share', () => {
    fc.assert(
      fc.property(fc.nat(100000), weightsArb, (count, weights) => {
        const shards = splitShards(count, weights);
        expect(shards.length).toBe(weights.length);
        expectTiling(shards, count);
        const total = weights.reduce((a, b) => a + b, 0);
        shards.forEach((s, i) => {
          const ideal = (count * weights[i]) / total;
          expect(Math.abs(s.count - ideal)).toBeLessThan(1 + 1e-9);
          if (weights[i] === 0) expect(s.count).toBe(0);
        });
      }),
    );
  });

  it('splits evenly for equal weights and follows worker speed', () => {
    expect(splitShards(10, [1, 1])).toEqual([{ start: 0, count: 5 }, { start: 5, count: 5 }]);
    expect(splitShards(100, [3, 1]).map((s) => s.count)).toEqual([75, 25]);
    expect(splitShards(10, [1, 1, 1]).map((s) => s.count).sort()).toEqual([3, 3, 4]);
    expect(splitShards(5, [0, 2, 0]).map((s) => s.count)).toEqual([0, 5, 0]);
    expect(splitShards(0, [1, 2])).toEqual([{ start: 0, count: 0 }, { start: 0, count: 0 }]);
  });

  it('rejects empty, negative, non-finite and all-zero weights', () => {
    expect(() => splitShards(10, [])).toThrow(/must not be empty/);
    expect(() => splitShards(10, [1, -1])).toThrow(/weights\[1\]/);
    expect(() => splitShards(10, [1, Number.NaN])).toThrow(/weights\[1\]/);
    expect(() => splitShards(10, [Infinity])).toThrow(/weights\[0\]/);
    expect(() => splitShards(10, [0, 0])).toThrow(/positive finite sum/);
    expect(() => splitShards(-1, [1])).toThrow(/count/);
  });
});

describe('splitShardsAligned', () => {
  it('cuts only at micro-batch boundaries, within one unit of the weighted share', () => {
    fc.assert(
      fc.property(fc.nat(20000), fc.integer({ min: 1, max: 300 }), weightsArb, (count, unit, weights) => {
        const shards = splitShardsAligned(count, unit, weights);
        expectTiling(shards, count);
        const total = weights.reduce((a, b) => a + b, 0);
        shards.forEach((s, i) => {
          const end = s.start + s.count;
          expect(s.start % unit === 0 || s.start === count).toBe(true);
          expect(end % unit === 0 || end === count).toBe(true);
          const ideal = (count * weights[i]) / total;
          expect(Math.abs(s.count - ideal)).toBeLessThan(unit + 1e-9);
          if (weights[i] === 0) expect(s.count).toBe(0);
        });
      }),
    );
  });

  it('equals splitShards when unit is 1', () => {
    fc.assert(
      fc.property(fc.nat(5000), weightsArb, (count, weights) => {
        expect(splitShardsAligned(count, 1, weights)).toEqual(splitShards(count, weights));
      }),
    );
  });

  it('gives the short last micro-batch to the shard at the end', () => {
    // 70 samples in micro-batches of 32: boundaries 0, 32, 64, 70.
    expect(splitShardsAligned(70, 32, [1, 1])).toEqual([{ start: 0, count: 32 }, { start: 32, count: 38 }]);
    expect(splitShardsAligned(70, 32, [1, 0, 1])).toEqual([
      { start: 0, count: 32 },
      { start: 32, count: 0 },
      { start: 32, count: 38 },
    ]);
  });
});
