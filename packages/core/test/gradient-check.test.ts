import { afterAll, describe, expect, test } from 'vitest';
import { ACTIVATIONS, ACTIVATION_OPS, Model, Rng, gradCheck, referenceLoss, type Activation, type LossName, type ModelSpec } from '@gradmesh/core';
import { randomBatch, randomParams } from './fixtures.js';
import { KERNEL_SETS } from './kernel-sets.js';

// Backprop (float32, matrix form, kernels) against float64 central differences
// of an independent per-sample float64 forward pass (gradcheck.referenceLoss),
// for every kernel set. Relative error is |a−n| / max(|a|, |n|, 1e-3·max|n|):
// the floor keeps a component that cancels to ~0 from dividing float32 noise
// by ~0. Bounds per kernel set: kernel-sets.ts.
const BOUND = 1e-4; // the JS kernels' (the failure tests below use them)

const heads: [Activation, LossName][] = [
  ...ACTIVATIONS.map((a) => [a, 'mse_sum'] as [Activation, LossName]),
  ...ACTIVATIONS.map((a) => [a, 'mse_mean'] as [Activation, LossName]),
  ['softmax', 'softmax_xent'],
  ['sigmoid', 'sigmoid_bce'],
];

// inputs, hidden widths (0, 1 or 2 hidden layers of the activation under test), outputs, batch
const shapes: [number, number[], number, number][] = [
  [3, [5], 4, 6],
  [2, [4, 3], 2, 5],
  [5, [], 3, 4],
  [4, [6], 1, 7],
];

for (const set of KERNEL_SETS) {
  describe(`${set.name}: backprop matches finite differences for every activation × loss`, () => {
    const kernels = set.make();
    let worst = { err: 0, what: '' };
    let worstLoss = 0;
    afterAll(() => {
      console.log(
        `gradient check, ${set.name}: worst relative error ${worst.err.toExponential(3)} (${worst.what}), bound ${set.gradRelError}; ` +
          `worst loss error ${worstLoss.toExponential(3)}, bound ${set.lossRelError}`,
      );
    });
    for (const hidden of ACTIVATIONS) {
      for (const [outAct, loss] of heads) {
        test(`hidden ${hidden}, output ${outAct} + ${loss}`, () => {
          let checked = 0;
          for (const [inputs, widths, outputs, n] of shapes) {
            if (loss === 'softmax_xent' && outputs < 2) continue;
            for (const seed of [1, 2]) {
              const spec: ModelSpec = {
                inputs,
                layers: [...widths.map((units) => ({ units, activation: hidden })), { units: outputs, activation: outAct }],
                loss,
                leakySlope: 0.1,
              };
              const model = new Model(spec, kernels);
              const rng = new Rng(seed * 1000 + outputs);
              const params = randomParams(model, rng);
              const { x, y } = randomBatch(model, n, rng, seed === 2);
              const r = gradCheck(model, params, x, y, n);
              if (r.maxRelError > worst.err) worst = { err: r.maxRelError, what: `${hidden} → ${outAct}/${loss}, ${JSON.stringify(widths)}, seed ${seed}` };
              expect(r.maxRelError, `${JSON.stringify(widths)} seed ${seed}`).toBeLessThan(set.gradRelError);
              // and the loss itself agrees with the float64 oracle
              const g = new Float32Array(model.paramCount);
              const loss32 = model.lossAndGrad(params, x, y, n, g);
              const loss64 = referenceLoss(spec, Float64Array.from(params), x, y, n);
              const lossErr = Math.abs(loss32 - loss64) / Math.max(1, Math.abs(loss64));
              worstLoss = Math.max(worstLoss, lossErr);
              expect(lossErr).toBeLessThan(set.lossRelError);
              checked++;
            }
          }
          expect(checked).toBeGreaterThan(0);
        });
      }
    }
  });
}

describe('the check can fail', () => {
  test('a gradient off in one component by 1% is reported', () => {
    class Broken extends Model {
      override lossAndGrad(params: Float32Array, x: Float32Array, y: Float32Array, n: number, grad: Float32Array): number {
        const loss = super.lossAndGrad(params, x, y, n, grad);
        grad[3] *= 1.01;
        return loss;
      }
    }
    const spec: ModelSpec = { inputs: 3, layers: [{ units: 4, activation: 'tanh' }, { units: 2, activation: 'softmax' }], loss: 'softmax_xent' };
    const model = new Broken(spec);
    const rng = new Rng(5);
    const params = randomParams(model, rng);
    const { x, y } = randomBatch(model, 5, rng);
    const r = gradCheck(model, params, x, y, 5);
    expect(r.maxRelError).toBeGreaterThan(5e-3);
    expect(r.worstIndex).toBe(3);
  });

  test('a hidden softmax backward that ignores the Jacobian cross terms is caught', () => {
    // Treating softmax as elementwise (dz = a(1−a)·d) is the classic bug; swap
    // it in for a moment and the check must flag it.
    const spec: ModelSpec = { inputs: 3, layers: [{ units: 4, activation: 'softmax' }, { units: 2, activation: 'identity' }], loss: 'mse_sum' };
    const model = new Model(spec);
    const rng = new Rng(6);
    const params = randomParams(model, rng);
    const { x, y } = randomBatch(model, 5, rng);
    expect(gradCheck(model, params, x, y, 5).maxRelError).toBeLessThan(BOUND);
    const ops = ACTIVATION_OPS.softmax;
    const full = ops.backward;
    ops.backward = (a, d, rows, cols) => {
      for (let i = 0; i < rows * cols; i++) d[i] *= a[i] * (1 - a[i]);
    };
    try {
      expect(gradCheck(model, params, x, y, 5).maxRelError).toBeGreaterThan(1e-2);
    } finally {
      ops.backward = full;
    }
  });
});
