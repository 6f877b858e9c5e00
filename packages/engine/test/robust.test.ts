import { describe, expect, test } from 'vitest';
import { robustAggregate } from '../src/robust.js';

describe('robust aggregation', () => {
  const honest = [new Float32Array([1, 2, 3]), new Float32Array([1.2, 2.2, 2.8]), new Float32Array([0.8, 1.8, 3.2])];
  const attacker = new Float32Array([-1000, -2000, -3000]);

  test('median ignores one arbitrary vector among four', () => {
    const r = robustAggregate([...honest, attacker], 'median');
    expect(Array.from(r).map((x) => Math.round(x * 10) / 10)).toEqual([0.9, 1.9, 2.9]);
  });

  test('trimmed mean cuts the extremes per coordinate', () => {
    const r = robustAggregate([...honest, attacker], 'trimmed-mean', 0.25);
    // per coordinate: sorted [-1000, 0.8, 1, 1.2] → mean of the middle two
    expect(r[0]).toBeCloseTo(0.9, 5);
    expect(r[2]).toBeCloseTo(2.9, 5);
  });

  test('without an attacker both stay close to the plain mean', () => {
    for (const kind of ['median', 'trimmed-mean'] as const) {
      const r = robustAggregate(honest, kind);
      expect(r[0]).toBeCloseTo(1, 1);
      expect(r[1]).toBeCloseTo(2, 1);
    }
  });

  test('refuses mismatched lengths and empty input', () => {
    expect(() => robustAggregate([], 'median')).toThrow(/no gradients/);
    expect(() => robustAggregate([new Float32Array(2), new Float32Array(3)], 'median')).toThrow(/length/);
  });
});

describe('outlier-filtered mean', () => {
  test('drops a ×−1000 vote and weights the rest by samples; keeps everything without an outlier', async () => {
    const { filteredMean } = await import('../src/robust.js');
    const honest = [
      { v: new Float32Array([1, 2, 3]), n: 8 },
      { v: new Float32Array([1.2, 2.2, 2.8]), n: 8 },
      { v: new Float32Array([0.8, 1.8, 3.2]), n: 16 },
    ];
    const attacker = { v: new Float32Array([-1000, -2000, -3000]), n: 8 };
    for (const center of ['median', 'trimmed-mean'] as const) {
      const clean = filteredMean(honest, center);
      expect(clean.kept).toBe(3);
      expect(clean.mean[0]).toBeCloseTo((8 * 1 + 8 * 1.2 + 16 * 0.8) / 32, 5);
      const attacked = filteredMean([...honest, attacker], center);
      expect(attacked.kept).toBe(3);
      expect(attacked.mean[0]).toBeCloseTo(clean.mean[0]!, 5);
    }
  });
});
