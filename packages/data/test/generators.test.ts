import { describe, expect, it } from 'vitest';
import { crc32 } from '@gradmesh/core';
import { argmaxRow, type Dataset, sine, spirals, synthetic, validateDataset, xor } from '../src/index.js';

function classCounts(ds: Dataset, split: 'train' | 'test'): number[] {
  const counts = new Array<number>(ds.outputs).fill(0);
  for (let i = 0; i < ds[split].n; i++) counts[argmaxRow(ds[split].y, ds.outputs, i)]++;
  return counts;
}

describe('xor', () => {
  it('holds the four points with XOR labels, train equal to test', () => {
    const ds = xor();
    validateDataset(ds);
    expect(Array.from(ds.train.x)).toEqual([0, 0, 0, 1, 1, 0, 1, 1]);
    for (let i = 0; i < 4; i++) expect(argmaxRow(ds.train.y, 2, i)).toBe(ds.train.x[2 * i] ^ ds.train.x[2 * i + 1]);
    expect(ds.test).toEqual(ds.train);
    expect(ds.test.x).not.toBe(ds.train.x);
  });
});

describe('spirals', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expect(spirals({ seed: 5 })).toEqual(spirals({ seed: 5 }));
    expect(spirals({ seed: 5 }).train.x).not.toEqual(spirals({ seed: 6 }).train.x);
  });

  it('has cs231n shape: 100 points per arm, radius linspace(0,1), separate test points', () => {
    const ds = spirals();
    validateDataset(ds);
    expect(ds.train.n).toBe(300);
    expect(ds.test.n).toBe(300);
    expect(classCounts(ds, 'train')).toEqual([100, 100, 100]);
    // Train radius of point i of each arm is i/99: the first point is the origin, the last on the unit circle.
    expect(Math.hypot(ds.train.x[0], ds.train.x[1])).toBe(0);
    const last = 99 * 2;
    expect(Math.hypot(ds.train.x[last], ds.train.x[last + 1])).toBeCloseTo(1, 6);
    expect(ds.test.x).not.toEqual(ds.train.x);
  });

  it('follows the angle formula t = 4j + 4r + noise, exactly when noise is 0', () => {
    const ds = spirals({ n: 11, classes: 4, noise: 0 });
    for (let j = 0; j < 4; j++) {
      for (let i = 0; i < 11; i++) {
        const row = j * 11 + i;
        const r = i / 10;
        const t = 4 * j + 4 * r;
        expect(ds.train.x[2 * row]).toBeCloseTo(r * Math.sin(t), 6);
        expect(ds.train.x[2 * row + 1]).toBeCloseTo(r * Math.cos(t), 6);
      }
    }
  });

  it('is pinned: generated data must not change silently between versions', () => {
    const ds = spirals({ seed: 1 });
    expect(crcOf(ds.train.x)).toBe(PINNED.spiralsTrain);
    expect(crcOf(ds.test.x)).toBe(PINNED.spiralsTest);
  });
});

describe('sine', () => {
  it('is regression with y = sin(x) for x in [−π, π], deterministic', () => {
    const ds = sine({ n: 500, seed: 3 });
    validateDataset(ds);
    expect(ds.task).toBe('regression');
    expect(ds.test.n).toBe(100);
    for (let i = 0; i < ds.train.n; i++) {
      expect(Math.abs(ds.train.x[i])).toBeLessThanOrEqual(Math.fround(Math.PI));
      expect(ds.train.y[i]).toBeCloseTo(Math.sin(ds.train.x[i]), 6);
    }
    expect(sine({ n: 500, seed: 3 })).toEqual(ds);
    expect(crcOf(ds.train.y)).toBe(PINNED.sineTrainY);
  });
});

describe('synthetic', () => {
  it('is deterministic, MNIST-shaped on request, and uses every class', () => {
    const ds = synthetic(784, 10, 2000, 1);
    validateDataset(ds);
    expect(ds.name).toBe('synthetic:784x10:2000');
    expect([ds.train.n, ds.test.n]).toEqual([2000, 400]);
    // Compare checksums: deep equality over 1.9M floats is slow in expect().
    const again = synthetic(784, 10, 2000, 1);
    expect([crcOf(again.train.x), crcOf(again.train.y), crcOf(again.test.x)]).toEqual([
      crcOf(ds.train.x),
      crcOf(ds.train.y),
      crcOf(ds.test.x),
    ]);
    for (const c of classCounts(ds, 'train')) expect(c).toBeGreaterThan(50);
    expect(crcOf(ds.train.x)).toBe(PINNED.syntheticTrainX);
    expect(crcOf(ds.train.y)).toBe(PINNED.syntheticTrainY);
  });

  it('is learnable: a linear model (multiclass perceptron) fits the labels', () => {
    // Separable, but points near the teacher's boundaries have tiny margins, so
    // the perceptron converges slowly: ask for 98% rather than 100%.
    const ds = synthetic(8, 3, 600, 2);
    const w = new Float64Array(8 * 3);
    let errors = 1;
    for (let epoch = 0; epoch < 200 && errors > 0; epoch++) {
      errors = 0;
      for (let i = 0; i < ds.train.n; i++) {
        const scores = [0, 0, 0];
        for (let c = 0; c < 3; c++) for (let k = 0; k < 8; k++) scores[c] += ds.train.x[i * 8 + k] * w[k * 3 + c];
        const pred = scores.indexOf(Math.max(...scores));
        const truth = argmaxRow(ds.train.y, 3, i);
        if (pred !== truth) {
          errors++;
          for (let k = 0; k < 8; k++) {
            w[k * 3 + truth] += ds.train.x[i * 8 + k];
            w[k * 3 + pred] -= ds.train.x[i * 8 + k];
          }
        }
      }
    }
    expect(errors / ds.train.n).toBeLessThan(0.02);
  });

  it('refuses absurd sizes before allocating', () => {
    expect(() => synthetic(784, 10, 6_000_000)).toThrow(/too large/);
    expect(() => synthetic(0, 10, 10)).toThrow(/inputs/);
    expect(() => synthetic(4, 1, 10)).toThrow(/classes/);
  });
});

function crcOf(a: Float32Array): number {
  return crc32(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}
// CRC-32 of generated arrays: any change to the PRNG, the math or the formulas shows up here.
const PINNED = {
  spiralsTrain: 2351617547,
  spiralsTest: 210837956,
  sineTrainY: 1926194750,
  syntheticTrainX: 3505004155,
  syntheticTrainY: 1061208093,
};
