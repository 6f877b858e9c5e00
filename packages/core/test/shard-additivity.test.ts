import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { Model, Rng, type ModelSpec } from '@gradmesh/core';
import { randomBatch, randomParams } from './fixtures.js';
import { KERNEL_SETS } from './kernel-sets.js';

// ∇R_B = Σ_j ∇R_{B_j}: the identity every distributed step rests on, for
// every kernel set. The same bound holds for all: the shards' sums differ
// from the whole batch's only in the order of float32 (or double) additions.
const specs: ModelSpec[] = [
  { inputs: 6, layers: [{ units: 9, activation: 'relu' }, { units: 4, activation: 'softmax' }], loss: 'softmax_xent' },
  { inputs: 3, layers: [{ units: 5, activation: 'tanh' }, { units: 5, activation: 'sigmoid' }, { units: 2, activation: 'identity' }], loss: 'mse_mean' },
  { inputs: 4, layers: [{ units: 7, activation: 'leaky_relu' }, { units: 3, activation: 'sigmoid' }], loss: 'sigmoid_bce' },
];

for (const set of KERNEL_SETS) {
  describe(`${set.name}: shard gradient sums add up to the batch gradient sum`, () => {
    const kernels = set.make();
    for (const spec of specs) {
      test(`${spec.layers.map((l) => l.activation).join('→')} / ${spec.loss}`, () => {
        const model = new Model(spec, kernels);
        fc.assert(
          fc.property(
            fc.integer({ min: 1, max: 2 ** 31 - 1 }),
            fc.integer({ min: 1, max: 60 }),
            fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
            (seed, n, cutFractions) => {
              const rng = new Rng(seed);
              const params = randomParams(model, rng);
              const { x, y } = randomBatch(model, n, rng);
              const whole = new Float32Array(model.paramCount);
              const wholeLoss = model.lossAndGrad(params, x, y, n, whole);

              const cuts = [0, ...cutFractions.map((f) => Math.floor(f * n)), n].sort((a, b) => a - b);
              const sum = new Float64Array(model.paramCount);
              const g = new Float32Array(model.paramCount);
              let lossSum = 0;
              for (let s = 0; s + 1 < cuts.length; s++) {
                const [lo, hi] = [cuts[s], cuts[s + 1]]; // empty shards included on purpose
                lossSum += model.lossAndGrad(params, x.subarray(lo * model.inputs), y.subarray(lo * model.outputs), hi - lo, g);
                for (let i = 0; i < g.length; i++) sum[i] += g[i];
              }
              let scale = 0;
              let diff = 0;
              for (let i = 0; i < whole.length; i++) {
                scale = Math.max(scale, Math.abs(whole[i]));
                diff = Math.max(diff, Math.abs(sum[i] - whole[i]));
              }
              expect(diff).toBeLessThanOrEqual(1e-5 * Math.max(scale, 1e-3));
              expect(Math.abs(lossSum - wholeLoss)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(wholeLoss)));
            },
          ),
          { numRuns: 60, seed: 42 },
        );
      });
    }
  });
}

describe('the additivity check can fail', () => {
  test('a wrong reduction (averaging shard means) is detectably different', () => {
    const model = new Model(specs[0]);
    const rng = new Rng(3);
    const params = randomParams(model, rng);
    const { x, y } = randomBatch(model, 10, rng);
    const whole = new Float32Array(model.paramCount);
    model.lossAndGrad(params, x, y, 10, whole);
    const a = new Float32Array(model.paramCount);
    const b = new Float32Array(model.paramCount);
    model.lossAndGrad(params, x, y, 3, a);
    model.lossAndGrad(params, x.subarray(3 * 6), y.subarray(3 * 4), 7, b);
    // mean of per-shard means (3 and 7 samples) vs the true batch mean
    let worst = 0;
    for (let i = 0; i < whole.length; i++) worst = Math.max(worst, Math.abs((a[i] / 3 + b[i] / 7) / 2 - whole[i] / 10));
    expect(worst).toBeGreaterThan(1e-3);
  });
});
